//! Google Calendar sync: a patient connects their Google account (OAuth 2.0 authorization code
//! with PKCE), and every appointment of theirs becomes an event in their calendar, updated when
//! it moves and deleted when it is cancelled.
//!
//! The pieces:
//! - [`GoogleCalendarApi`]: Google's OAuth and Calendar protocol (implemented over HTTP in
//!   `medibook-integrations`, with configurable endpoints).
//! - [`GoogleConnections`]: where connections, pending sign-ins and what was synced are kept.
//! - [`TokenVault`]: seals refresh tokens before they are stored (AES-256-GCM in the binary).
//! - [`decide`]: the pure reconciliation rule, one appointment at a time.
//! - [`GoogleCalendarSync`]: the service the pages and the background worker call.
//!
//! Idempotence comes from the event id: it is derived from the appointment id
//! ([`GoogleEventId::for_appointment`]), so inserting an event that already exists (after a
//! reconnect, or a crash between Google's answer and our bookkeeping) answers 409 and becomes an
//! update; a calendar never holds two events for one appointment.
//!
//! Nothing fails silently: a refresh token Google no longer accepts (`invalid_grant`), or a 401
//! to an access token that was just issued, marks the connection revoked with Google's reason,
//! which the profile page shows with a Reconnect button; a transient failure (5xx, 429, network)
//! is kept as the connection's last error, shown too, and retried next round.

mod connections;
mod protocol;
mod reconcile;
mod service;

pub use connections::{
    ConnectionStatus, GoogleConnection, GoogleConnections, PendingConnect, SealedToken, SyncItem,
    SyncedEvent, TokenVault,
};
pub use protocol::{
    AccessGrant, CALENDAR_EVENTS_SCOPE, CalendarError, CalendarEvent, GoogleCalendarApi,
    GoogleEventId, REMINDERS, Reminder,
};
pub use reconcile::{SyncAction, decide, event_for};
pub use service::{
    CONNECT_STATE_LIFETIME, ConnectError, ConnectionView, GoogleCalendarSync, SYNC_LOOKBACK,
    SyncConfig, SyncReport,
};
