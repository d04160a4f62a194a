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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::{SignedDuration, Timestamp};
use rand::RngCore;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::booking::AppointmentStatus;
use crate::clock::Clock;
use crate::error::{BookingError, BookingResult};
use crate::ids::{AppointmentId, UserId};

/// How long a started connection may take to come back from Google's consent screen.
pub const CONNECT_STATE_LIFETIME: SignedDuration = SignedDuration::from_mins(10);

/// Appointments that ended longer ago than this are left alone.
pub const SYNC_LOOKBACK: SignedDuration = SignedDuration::from_hours(24);

/// An access token is renewed this long before Google says it expires.
const ACCESS_TOKEN_MARGIN: SignedDuration = SignedDuration::from_mins(1);

/// The OAuth scope asked for: the events of the person's calendars, nothing else.
pub const CALENDAR_EVENTS_SCOPE: &str = "https://www.googleapis.com/auth/calendar.events";

/// The id of the Google event of one appointment: `mb` and the appointment UUID's 32 hex digits.
/// Google accepts client-chosen ids of 5 to 1024 characters from `a`–`v` and `0`–`9`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GoogleEventId(String);

impl GoogleEventId {
    /// The event id of `appointment`, the same every time.
    pub fn for_appointment(appointment: AppointmentId) -> Self {
        Self(format!("mb{}", appointment.as_uuid().simple()))
    }

    /// The id as sent to Google.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How Google reminds the patient before a visit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reminder {
    /// `popup` or `email`.
    pub method: &'static str,
    /// Minutes before the start.
    pub minutes: u32,
}

/// The reminders of every event: an email the day before and a notification an hour before.
pub const REMINDERS: [Reminder; 2] = [
    Reminder {
        method: "email",
        minutes: 24 * 60,
    },
    Reminder {
        method: "popup",
        minutes: 60,
    },
];

/// One appointment as a Google Calendar event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalendarEvent {
    /// The deterministic event id.
    pub id: GoogleEventId,
    /// The appointment it shows.
    pub appointment_id: AppointmentId,
    /// "Appointment with Dr …".
    pub summary: String,
    /// Names the clinic and the doctor; never the patient's reason for the visit.
    pub description: String,
    /// The clinic.
    pub location: String,
    /// Start of the visit.
    pub start: Timestamp,
    /// End of the visit.
    pub end: Timestamp,
    /// The doctor's IANA time zone, for how Google displays the times.
    pub time_zone: String,
    /// Reminders (Google's defaults are not used).
    pub reminders: Vec<Reminder>,
}

/// What Google's token endpoint granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessGrant {
    /// The bearer token for the Calendar API.
    pub access_token: String,
    /// Its lifetime in seconds.
    pub expires_in_seconds: i64,
    /// A refresh token (given on the first exchange with `access_type=offline`).
    pub refresh_token: Option<String>,
}

/// What a call to Google can end in, besides success.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CalendarError {
    /// Google no longer accepts the grant (`invalid_grant`, or 401 to a fresh access token):
    /// the person must reconnect. Carries Google's reason.
    #[error("{0}")]
    Revoked(String),
    /// The access token was refused (401); a fresh one may work.
    #[error("the access token was refused")]
    Unauthorized,
    /// Inserting an event whose id exists already (409).
    #[error("the event exists already")]
    AlreadyExists,
    /// The event does not exist or was deleted (404, 410).
    #[error("the event does not exist")]
    NotFound,
    /// Google refused the request for good (another 4xx), with its reason.
    #[error("Google refused the request: {0}")]
    Rejected(String),
    /// Google could not be reached or asked us to come back later (5xx, 429, network).
    #[error("Google could not be reached: {0}")]
    Unavailable(String),
}

/// Google's OAuth 2.0 and Calendar v3 protocol.
#[async_trait]
pub trait GoogleCalendarApi: Send + Sync + 'static {
    /// The consent page address for an authorization-code request with PKCE (S256).
    fn authorization_url(&self, state: &str, code_challenge: &str, redirect_uri: &str) -> String;
    /// Exchanges an authorization code (with its PKCE verifier) for tokens.
    async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
    ) -> Result<AccessGrant, CalendarError>;
    /// A fresh access token for a refresh token.
    async fn refresh(&self, refresh_token: &str) -> Result<AccessGrant, CalendarError>;
    /// Inserts an event with its own id.
    async fn insert_event(
        &self,
        access_token: &str,
        calendar_id: &str,
        event: &CalendarEvent,
    ) -> Result<(), CalendarError>;
    /// Replaces an event (and restores it if it was deleted).
    async fn update_event(
        &self,
        access_token: &str,
        calendar_id: &str,
        event: &CalendarEvent,
    ) -> Result<(), CalendarError>;
    /// Deletes an event.
    async fn delete_event(
        &self,
        access_token: &str,
        calendar_id: &str,
        event_id: &GoogleEventId,
    ) -> Result<(), CalendarError>;
    /// Revokes a token at Google (a no-op when no revocation endpoint is configured).
    async fn revoke(&self, token: &str) -> Result<(), CalendarError>;
}

/// A secret sealed for storage: ciphertext (with its tag) and the nonce used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedToken {
    /// Ciphertext and authentication tag.
    pub ciphertext: Vec<u8>,
    /// The random nonce of this encryption.
    pub nonce: Vec<u8>,
}

/// Encrypts refresh tokens before they reach the database.
pub trait TokenVault: Send + Sync + 'static {
    /// Seals `plaintext`, bound to `context` (the owner), with a fresh random nonce.
    fn seal(&self, context: &str, plaintext: &str) -> BookingResult<SealedToken>;
    /// Opens what [`TokenVault::seal`] sealed for the same `context`.
    fn open(&self, context: &str, sealed: &SealedToken) -> BookingResult<String>;
}

/// Whether Google still accepts a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// Synced every round.
    Active,
    /// Google refused the grant; waits for the person to reconnect.
    Revoked,
}

impl ConnectionStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Revoked => "revoked",
        }
    }

    /// Parses the stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "active" => Some(Self::Active),
            "revoked" => Some(Self::Revoked),
            _ => None,
        }
    }
}

/// A person's link to their Google calendar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoogleConnection {
    /// Whose.
    pub person_id: UserId,
    /// The sealed refresh token.
    pub refresh_token: SealedToken,
    /// The calendar events go to (`primary`).
    pub calendar_id: String,
    /// Active or revoked.
    pub status: ConnectionStatus,
    /// Why it was revoked, or the last failure of a sync round (cleared by a good round).
    pub last_error: Option<String>,
    /// When the person connected.
    pub connected_at: Timestamp,
    /// Last change of status or error.
    pub updated_at: Timestamp,
}

/// A started connection waiting for Google's redirect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingConnect {
    /// Who started it.
    pub person_id: UserId,
    /// The PKCE verifier.
    pub code_verifier: String,
    /// When it started.
    pub created_at: Timestamp,
}

/// What was last sent to Google for one appointment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncedEvent {
    /// The appointment's `updated_at` (microseconds) when synced.
    pub version: i64,
    /// Its status then.
    pub status: AppointmentStatus,
    /// Its start then.
    pub start: Timestamp,
    /// Its end then.
    pub end: Timestamp,
}

/// One appointment of a connected person whose state differs from what was synced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncItem {
    /// The patient.
    pub person_id: UserId,
    /// The appointment.
    pub appointment_id: AppointmentId,
    /// The doctor's name.
    pub doctor_name: String,
    /// The doctor's IANA time zone.
    pub doctor_zone: String,
    /// Start of the visit.
    pub start: Timestamp,
    /// End of the visit.
    pub end: Timestamp,
    /// Its status now.
    pub status: AppointmentStatus,
    /// Its `updated_at` now, in microseconds.
    pub version: i64,
    /// What was synced before, if anything.
    pub synced: Option<SyncedEvent>,
}

impl SyncItem {
    /// What Google should hold for this item once synced.
    pub fn as_synced(&self) -> SyncedEvent {
        SyncedEvent {
            version: self.version,
            status: self.status,
            start: self.start,
            end: self.end,
        }
    }
}

/// Storage of connections, pending connects and synced events.
#[async_trait]
pub trait GoogleConnections: Send + Sync + 'static {
    /// Stores a started connect under the hash of its state, and forgets ones started before
    /// `expired_before`.
    async fn save_connect_state(
        &self,
        state_hash: &str,
        pending: &PendingConnect,
        expired_before: Timestamp,
    ) -> BookingResult<()>;
    /// Takes (reads and deletes, atomically) a started connect: a state works once.
    async fn take_connect_state(&self, state_hash: &str) -> BookingResult<Option<PendingConnect>>;
    /// Stores an active connection (replacing an earlier one of the person) and forgets what
    /// was synced to the earlier one, so the next round pushes every appointment again.
    async fn save_connection(
        &self,
        person_id: UserId,
        refresh_token: &SealedToken,
        now: Timestamp,
    ) -> BookingResult<()>;
    /// A person's connection.
    async fn connection(&self, person_id: UserId) -> BookingResult<Option<GoogleConnection>>;
    /// Every active connection.
    async fn active_connections(&self) -> BookingResult<Vec<GoogleConnection>>;
    /// Marks a connection revoked, with the reason.
    async fn mark_revoked(
        &self,
        person_id: UserId,
        reason: &str,
        now: Timestamp,
    ) -> BookingResult<()>;
    /// Sets (or clears) the last error of an active connection.
    async fn note_error(
        &self,
        person_id: UserId,
        error: Option<&str>,
        now: Timestamp,
    ) -> BookingResult<()>;
    /// Forgets a connection and what was synced to it.
    async fn delete_connection(&self, person_id: UserId) -> BookingResult<()>;
    /// Appointments of active connections ending after `since` whose state differs from what
    /// was synced (one query for all connections).
    async fn pending_sync(&self, since: Timestamp) -> BookingResult<Vec<SyncItem>>;
    /// Records what Google now holds for an appointment.
    async fn record_synced(
        &self,
        person_id: UserId,
        appointment_id: AppointmentId,
        event_id: &GoogleEventId,
        synced: SyncedEvent,
        now: Timestamp,
    ) -> BookingResult<()>;
}

/// What to do with one appointment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncAction {
    /// Create its event (an existing one is updated instead).
    Insert,
    /// Replace its event (a missing one is inserted instead).
    Update,
    /// Delete its event (a missing one counts as deleted).
    Delete,
    /// Nothing to send: Google already shows this state.
    Skip,
}

/// The reconciliation rule: compare what the appointment is with what was synced.
pub fn decide(item: &SyncItem) -> SyncAction {
    let cancelled = item.status == AppointmentStatus::Cancelled;
    match item.synced {
        Some(synced) if synced == item.as_synced() => SyncAction::Skip,
        // Not known to be synced (a new connection, or one made again), yet cancelled: an
        // event from an earlier connection may still show it, so delete (missing is fine).
        None if cancelled => SyncAction::Delete,
        None => SyncAction::Insert,
        Some(synced) if cancelled && synced.status == AppointmentStatus::Cancelled => {
            SyncAction::Skip
        }
        Some(_) if cancelled => SyncAction::Delete,
        Some(_) => SyncAction::Update,
    }
}

/// The event for one appointment.
pub fn event_for(item: &SyncItem, clinic_name: &str) -> CalendarEvent {
    let doctor = doctor_title(&item.doctor_name);
    CalendarEvent {
        id: GoogleEventId::for_appointment(item.appointment_id),
        appointment_id: item.appointment_id,
        summary: format!("Appointment with {doctor}"),
        description: format!(
            "Your appointment with {doctor} at {clinic_name}, booked with MediBook. To \
             reschedule or cancel, use MediBook: changes made here are not sent back."
        ),
        location: clinic_name.to_owned(),
        start: item.start,
        end: item.end,
        time_zone: item.doctor_zone.clone(),
        reminders: REMINDERS.to_vec(),
    }
}

/// "Dr …" in front of a doctor's name unless it has it already.
fn doctor_title(name: &str) -> String {
    let name = name.trim();
    if name.starts_with("Dr") {
        name.to_owned()
    } else {
        format!("Dr {name}")
    }
}

/// A connection as the profile shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionView {
    /// Active or revoked.
    pub status: ConnectionStatus,
    /// Why revoked, or the last failed sync (retried).
    pub last_error: Option<String>,
    /// When connected.
    pub connected_at: Timestamp,
}

/// Why finishing a connect did not work.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ConnectError {
    /// The state is unknown, used, expired, or was started by someone else.
    #[error("the connect request expired or was already used")]
    StateInvalid,
    /// Google refused the code, or sent no refresh token.
    #[error("Google refused the connection: {0}")]
    Refused(String),
    /// Google could not be reached.
    #[error("Google could not be reached: {0}")]
    Unavailable(String),
    /// Our own storage failed.
    #[error(transparent)]
    Storage(#[from] BookingError),
}

/// What one sync round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Appointments whose event was inserted, updated or deleted.
    pub sent: u32,
    /// Appointments recorded without a call (nothing to show).
    pub skipped: u32,
    /// Connections found revoked this round.
    pub revoked: u32,
    /// Appointments left for the next round after a failure.
    pub failed: u32,
}

/// Fixed configuration of the sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncConfig {
    /// Where Google sends the person back: `{public_url}/profile/google/callback`.
    pub redirect_uri: String,
    /// Named as the events' location.
    pub clinic_name: String,
}

struct CachedAccess {
    token: String,
    expires_at: Timestamp,
}

struct Inner {
    api: Arc<dyn GoogleCalendarApi>,
    store: Arc<dyn GoogleConnections>,
    vault: Arc<dyn TokenVault>,
    clock: Arc<dyn Clock>,
    config: SyncConfig,
    /// Access tokens by person, kept in memory until shortly before they expire.
    access: Mutex<HashMap<UserId, CachedAccess>>,
    /// Asks the background worker for a round now (after a connect).
    nudge: Option<Arc<dyn Fn() + Send + Sync>>,
}

/// Connecting, disconnecting and syncing Google calendars.
#[derive(Clone)]
pub struct GoogleCalendarSync {
    inner: Arc<Inner>,
}

impl GoogleCalendarSync {
    /// The service over its ports.
    pub fn new(
        api: Arc<dyn GoogleCalendarApi>,
        store: Arc<dyn GoogleConnections>,
        vault: Arc<dyn TokenVault>,
        clock: Arc<dyn Clock>,
        config: SyncConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                api,
                store,
                vault,
                clock,
                config,
                access: Mutex::new(HashMap::new()),
                nudge: None,
            }),
        }
    }

    /// The same service, calling `nudge` after a connect so a worker syncs at once.
    pub fn with_nudge(self, nudge: Arc<dyn Fn() + Send + Sync>) -> Self {
        let inner = match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.nudge = Some(nudge);
                inner
            }
            Err(shared) => Inner {
                api: shared.api.clone(),
                store: shared.store.clone(),
                vault: shared.vault.clone(),
                clock: shared.clock.clone(),
                config: shared.config.clone(),
                access: Mutex::new(HashMap::new()),
                nudge: Some(nudge),
            },
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Starts connecting `person`: stores a single-use state with a PKCE verifier and returns
    /// the address of Google's consent page.
    pub async fn begin_connect(&self, person: UserId) -> BookingResult<String> {
        let now = self.inner.clock.now();
        let state = random_token();
        let code_verifier = random_token();
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()));
        let pending = PendingConnect {
            person_id: person,
            code_verifier,
            created_at: now,
        };
        let expired_before = now.saturating_sub(CONNECT_STATE_LIFETIME).unwrap_or(now);
        self.inner
            .store
            .save_connect_state(&state_hash(&state), &pending, expired_before)
            .await?;
        Ok(self
            .inner
            .api
            .authorization_url(&state, &challenge, &self.inner.config.redirect_uri))
    }

    /// Finishes connecting `person` with the `code` and `state` Google sent back: the state
    /// must be theirs, unused and fresh; the refresh token is sealed and stored.
    pub async fn finish_connect(
        &self,
        person: UserId,
        state: &str,
        code: &str,
    ) -> Result<(), ConnectError> {
        let now = self.inner.clock.now();
        let pending = self
            .inner
            .store
            .take_connect_state(&state_hash(state))
            .await?
            .ok_or(ConnectError::StateInvalid)?;
        let fresh = pending
            .created_at
            .saturating_add(CONNECT_STATE_LIFETIME)
            .is_ok_and(|until| now < until);
        if pending.person_id != person || !fresh || code.is_empty() {
            return Err(ConnectError::StateInvalid);
        }
        let grant = self
            .inner
            .api
            .exchange_code(
                code,
                &pending.code_verifier,
                &self.inner.config.redirect_uri,
            )
            .await
            .map_err(|e| match e {
                CalendarError::Unavailable(reason) => ConnectError::Unavailable(reason),
                other => ConnectError::Refused(other.to_string()),
            })?;
        let Some(refresh_token) = grant.refresh_token.as_deref() else {
            return Err(ConnectError::Refused(
                "Google sent no refresh token".to_owned(),
            ));
        };
        let sealed = self.inner.vault.seal(&person.to_string(), refresh_token)?;
        self.inner
            .store
            .save_connection(person, &sealed, now)
            .await?;
        self.cache_access(person, &grant, now);
        if let Some(nudge) = &self.inner.nudge {
            nudge();
        }
        Ok(())
    }

    /// Forgets `person`'s connection (revoking the token at Google when possible). Events
    /// already in their calendar stay there.
    pub async fn disconnect(&self, person: UserId) -> BookingResult<()> {
        if let Some(connection) = self.inner.store.connection(person).await? {
            if let Ok(token) = self
                .inner
                .vault
                .open(&person.to_string(), &connection.refresh_token)
            {
                // Best effort: the token is forgotten here either way, and the person can
                // also remove MediBook's access in their Google account.
                let _ = self.inner.api.revoke(&token).await;
            }
            self.inner.store.delete_connection(person).await?;
        }
        self.forget_access(person);
        Ok(())
    }

    /// `person`'s connection, if any.
    pub async fn status(&self, person: UserId) -> BookingResult<Option<ConnectionView>> {
        Ok(self
            .inner
            .store
            .connection(person)
            .await?
            .map(|c| ConnectionView {
                status: c.status,
                last_error: c.last_error,
                connected_at: c.connected_at,
            }))
    }

    /// One round: every active connection's changed appointments are sent to Google.
    pub async fn sync_round(&self) -> BookingResult<SyncReport> {
        let now = self.inner.clock.now();
        let since = now.saturating_sub(SYNC_LOOKBACK).unwrap_or(now);
        let connections = self.inner.store.active_connections().await?;
        let mut items: HashMap<UserId, Vec<SyncItem>> = HashMap::new();
        for item in self.inner.store.pending_sync(since).await? {
            items.entry(item.person_id).or_default().push(item);
        }
        let mut report = SyncReport::default();
        for connection in &connections {
            let Some(items) = items.remove(&connection.person_id) else {
                continue;
            };
            self.sync_person(connection, items, &mut report).await?;
        }
        Ok(report)
    }

    async fn sync_person(
        &self,
        connection: &GoogleConnection,
        items: Vec<SyncItem>,
        report: &mut SyncReport,
    ) -> BookingResult<()> {
        let person = connection.person_id;
        let mut token = match self.access_token(connection, false).await {
            Ok(token) => token,
            Err(e) => return self.give_up(connection, e, report).await,
        };
        let mut failures = Vec::new();
        for item in items {
            let action = decide(&item);
            let event = event_for(&item, &self.inner.config.clinic_name);
            let mut result = self.apply(&token, connection, &event, action).await;
            if result == Err(CalendarError::Unauthorized) {
                // The cached token may have expired early or been revoked: one fresh token.
                token = match self.access_token(connection, true).await {
                    Ok(token) => token,
                    Err(e) => return self.give_up(connection, e, report).await,
                };
                result = self
                    .apply(&token, connection, &event, action)
                    .await
                    .map_err(|e| match e {
                        CalendarError::Unauthorized => CalendarError::Revoked(
                            "Google refused a freshly issued access token (401 Unauthorized)"
                                .to_owned(),
                        ),
                        other => other,
                    });
            }
            match result {
                Ok(()) => {
                    let now = self.inner.clock.now();
                    self.inner
                        .store
                        .record_synced(
                            person,
                            item.appointment_id,
                            &event.id,
                            item.as_synced(),
                            now,
                        )
                        .await?;
                    if action == SyncAction::Skip {
                        report.skipped += 1;
                    } else {
                        report.sent += 1;
                    }
                }
                Err(e @ (CalendarError::Revoked(_) | CalendarError::Unavailable(_))) => {
                    return self.give_up(connection, e, report).await;
                }
                Err(e) => {
                    report.failed += 1;
                    failures.push(format!("{}: {e}", event.summary));
                }
            }
        }
        let now = self.inner.clock.now();
        let error = (!failures.is_empty()).then(|| failures.join("; "));
        if error != connection.last_error {
            self.inner
                .store
                .note_error(person, error.as_deref(), now)
                .await?;
        }
        Ok(())
    }

    /// Stops a person's round on `error`: a revoked grant marks the connection revoked; any
    /// other failure is noted and retried next round.
    async fn give_up(
        &self,
        connection: &GoogleConnection,
        error: CalendarError,
        report: &mut SyncReport,
    ) -> BookingResult<()> {
        let now = self.inner.clock.now();
        let person = connection.person_id;
        match error {
            CalendarError::Revoked(reason) => {
                self.forget_access(person);
                self.inner.store.mark_revoked(person, &reason, now).await?;
                report.revoked += 1;
            }
            other => {
                report.failed += 1;
                self.inner
                    .store
                    .note_error(person, Some(&other.to_string()), now)
                    .await?;
            }
        }
        Ok(())
    }

    async fn apply(
        &self,
        token: &str,
        connection: &GoogleConnection,
        event: &CalendarEvent,
        action: SyncAction,
    ) -> Result<(), CalendarError> {
        let api = &self.inner.api;
        let calendar = connection.calendar_id.as_str();
        match action {
            SyncAction::Skip => Ok(()),
            SyncAction::Insert => match api.insert_event(token, calendar, event).await {
                Err(CalendarError::AlreadyExists) => api.update_event(token, calendar, event).await,
                other => other,
            },
            SyncAction::Update => match api.update_event(token, calendar, event).await {
                Err(CalendarError::NotFound) => api.insert_event(token, calendar, event).await,
                other => other,
            },
            SyncAction::Delete => match api.delete_event(token, calendar, &event.id).await {
                Err(CalendarError::NotFound) => Ok(()),
                other => other,
            },
        }
    }

    /// A cached access token, or a fresh one from the refresh token (always fresh if `renew`).
    async fn access_token(
        &self,
        connection: &GoogleConnection,
        renew: bool,
    ) -> Result<String, CalendarError> {
        let person = connection.person_id;
        let now = self.inner.clock.now();
        if !renew && let Some(token) = self.cached_access(person, now) {
            return Ok(token);
        }
        let refresh_token = self
            .inner
            .vault
            .open(&person.to_string(), &connection.refresh_token)
            .map_err(|_| {
                CalendarError::Revoked(
                    "the stored Google token could not be decrypted (was the server secret \
                     changed?)"
                        .to_owned(),
                )
            })?;
        let grant = self.inner.api.refresh(&refresh_token).await?;
        self.cache_access(person, &grant, now);
        Ok(grant.access_token)
    }

    fn cached_access(&self, person: UserId, now: Timestamp) -> Option<String> {
        let cache = self
            .inner
            .access
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache
            .get(&person)
            .filter(|cached| now < cached.expires_at)
            .map(|cached| cached.token.clone())
    }

    fn cache_access(&self, person: UserId, grant: &AccessGrant, now: Timestamp) {
        let lifetime = SignedDuration::from_secs(grant.expires_in_seconds.max(0));
        let expires_at = now
            .saturating_add(lifetime)
            .and_then(|t| t.saturating_sub(ACCESS_TOKEN_MARGIN))
            .unwrap_or(now);
        self.inner
            .access
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(
                person,
                CachedAccess {
                    token: grant.access_token.clone(),
                    expires_at,
                },
            );
    }

    fn forget_access(&self, person: UserId) {
        self.inner
            .access
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&person);
    }
}

/// 256 random bits, base64url without padding (43 characters): PKCE verifiers and states.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a state: its SHA-256, so a database reader cannot finish someone's
/// connect.
fn state_hash(state: &str) -> String {
    Sha256::digest(state.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(status: AppointmentStatus, synced: Option<SyncedEvent>) -> SyncItem {
        SyncItem {
            person_id: UserId::generate(),
            appointment_id: AppointmentId::generate(),
            doctor_name: "Anna Smith".into(),
            doctor_zone: "Europe/Berlin".into(),
            start: "2027-03-02T09:00:00Z".parse().unwrap_or_default(),
            end: "2027-03-02T09:30:00Z".parse().unwrap_or_default(),
            status,
            version: 7,
            synced,
        }
    }

    #[test]
    fn event_ids_are_deterministic_and_in_googles_alphabet() {
        let appointment = AppointmentId::generate();
        let id = GoogleEventId::for_appointment(appointment);
        assert_eq!(id, GoogleEventId::for_appointment(appointment));
        assert_eq!(id.as_str().len(), 34);
        assert!(
            id.as_str()
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='v').contains(&c))
        );
    }

    #[test]
    fn reconciliation_inserts_updates_deletes_and_skips() {
        use AppointmentStatus::{Cancelled, Completed, Scheduled};
        assert_eq!(decide(&item(Scheduled, None)), SyncAction::Insert);
        assert_eq!(decide(&item(Cancelled, None)), SyncAction::Delete);
        let same = item(Scheduled, None);
        let synced = SyncItem {
            synced: Some(same.as_synced()),
            ..same.clone()
        };
        assert_eq!(decide(&synced), SyncAction::Skip);
        let moved = SyncItem {
            start: same
                .start
                .saturating_add(SignedDuration::from_hours(1))
                .unwrap_or_default(),
            ..synced.clone()
        };
        assert_eq!(decide(&moved), SyncAction::Update, "same version, new time");
        let newer = SyncItem {
            version: 8,
            ..synced.clone()
        };
        assert_eq!(decide(&newer), SyncAction::Update);
        let cancelled = SyncItem {
            status: Cancelled,
            version: 9,
            ..synced.clone()
        };
        assert_eq!(decide(&cancelled), SyncAction::Delete);
        let deleted = SyncItem {
            synced: Some(cancelled.as_synced()),
            version: 10,
            ..cancelled.clone()
        };
        assert_eq!(decide(&deleted), SyncAction::Skip);
        let completed = SyncItem {
            status: Completed,
            version: 9,
            ..synced
        };
        assert_eq!(decide(&completed), SyncAction::Update);
    }

    #[test]
    fn events_name_the_doctor_and_clinic_but_not_the_reason() {
        let event = event_for(&item(AppointmentStatus::Scheduled, None), "MediBook clinic");
        assert_eq!(event.summary, "Appointment with Dr Anna Smith");
        assert_eq!(event.location, "MediBook clinic");
        assert!(event.description.contains("Dr Anna Smith"));
        assert_eq!(event.time_zone, "Europe/Berlin");
        assert_eq!(event.reminders, REMINDERS.to_vec());
        let titled = SyncItem {
            doctor_name: "Dr. Jörg Müller".into(),
            ..item(AppointmentStatus::Scheduled, None)
        };
        assert_eq!(
            event_for(&titled, "X").summary,
            "Appointment with Dr. Jörg Müller"
        );
    }

    #[test]
    fn pkce_tokens_are_long_random_and_url_safe() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(state_hash("x").len(), 64);
    }
}
