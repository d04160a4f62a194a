//! Our side of the sync: connections, pending sign-ins and what was synced, kept behind the
//! [`GoogleConnections`] port, with refresh tokens sealed by a [`TokenVault`].

use async_trait::async_trait;
use jiff::Timestamp;

use super::protocol::GoogleEventId;
use crate::booking::AppointmentStatus;
use crate::error::BookingResult;
use crate::ids::{AppointmentId, UserId};

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
