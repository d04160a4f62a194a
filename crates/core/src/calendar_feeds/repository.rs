//! What the feeds need from storage: each person's feed state, the owner of a feed found by
//! its token's hash, and the events a feed carries.

use async_trait::async_trait;
use jiff::Timestamp;

use crate::booking::Appointment;
use crate::error::BookingResult;
use crate::identity::Role;
use crate::ids::{AppointmentId, DoctorId, UserId};

use super::tokens::FeedKind;

/// A feed's stored state: its generation and the hash of its live token (`None` once revoked,
/// until the next token of the new generation is handed out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedState {
    /// Raised by every revocation.
    pub generation: u32,
    /// SHA-256 of the live token.
    pub token_hash: Option<String>,
}

/// Whose feed a token opens, with the person's role and doctor profile as stored now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedOwner {
    /// The person.
    pub user_id: UserId,
    /// Which of their feeds.
    pub kind: FeedKind,
    /// Their role now.
    pub role: Role,
    /// Their doctor profile now, if linked.
    pub doctor_id: Option<DoctorId>,
}

/// One appointment of a feed, with the names its event shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedEntry {
    /// The appointment.
    pub appointment: Appointment,
    /// Its doctor's name.
    pub doctor_name: String,
    /// Its doctor's specialty.
    pub specialty: Option<String>,
    /// Its patient's display name, if given.
    pub patient_name: Option<String>,
}

/// What the calendar files and feeds need from storage.
#[async_trait]
pub trait CalendarFeedRepository: Send + Sync + 'static {
    /// The state of `user_id`'s feed of `kind`, if it was ever handed out.
    async fn feed_state(&self, user_id: UserId, kind: FeedKind)
    -> BookingResult<Option<FeedState>>;
    /// Stores `token_hash` as the live token of generation `generation` (creating the feed at
    /// that generation if it has none yet); changes nothing if the feed is at another
    /// generation or already has a live token.
    async fn activate_feed(
        &self,
        user_id: UserId,
        kind: FeedKind,
        generation: u32,
        token_hash: &str,
        now: Timestamp,
    ) -> BookingResult<()>;
    /// Revokes the live token, if any: raises the generation and forgets the hash.
    async fn revoke_feed(
        &self,
        user_id: UserId,
        kind: FeedKind,
        now: Timestamp,
    ) -> BookingResult<()>;
    /// The feed whose live token hashes to `token_hash`, with its owner as stored now.
    async fn feed_owner(&self, token_hash: &str) -> BookingResult<Option<FeedOwner>>;
    /// A patient's appointments starting at or after `since`, by start, at most `limit`, with
    /// their doctors' names and specialties (one query).
    async fn patient_feed(
        &self,
        patient_id: UserId,
        since: Timestamp,
        limit: u32,
    ) -> BookingResult<Vec<FeedEntry>>;
    /// A doctor's appointments starting at or after `since`, by start, at most `limit`, with
    /// their patients' names (one query).
    async fn doctor_feed(
        &self,
        doctor_id: DoctorId,
        since: Timestamp,
        limit: u32,
    ) -> BookingResult<Vec<FeedEntry>>;
    /// One appointment of `patient_id` with its doctor's name and specialty; `None` if there
    /// is no such appointment or it is someone else's.
    async fn patient_appointment(
        &self,
        patient_id: UserId,
        appointment_id: AppointmentId,
    ) -> BookingResult<Option<FeedEntry>>;
}
