//! Everything the domain can refuse, as one error type.
//!
//! Each variant has a stable machine [`code`](BookingError::code) that is part of the public API
//! (the web layer maps it into RFC 9457 problem responses); clients branch on the code, people
//! read the message.

use jiff::Timestamp;
use thiserror::Error;

use crate::ids::DoctorId;

/// A refusal or failure of a domain operation.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BookingError {
    /// The named thing does not exist (or is not visible to the caller).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The hold does not exist, was released, or belongs to someone else.
    #[error("hold not found")]
    HoldNotFound,
    /// The hold ran out and its slot has since been taken by someone else.
    #[error("the hold expired and the slot is no longer free")]
    HoldExpired,
    /// Somebody else holds or booked an overlapping time.
    #[error("this time is already held or booked")]
    SlotTaken,
    /// The time is not a bookable slot of the doctor (outside hours, in the past, too soon, too far).
    #[error("this time cannot be booked: {0}")]
    SlotUnavailable(String),
    /// The doctor's day has reached its maximum number of appointments.
    #[error("the doctor's day is fully booked")]
    DayFull,
    /// The patient reached a configured limit (concurrent holds, waitlists).
    #[error("{0}")]
    LimitReached(String),
    /// The patient already has the most upcoming appointments allowed (the number).
    #[error("you can have at most {0} upcoming appointments; cancel one first")]
    AppointmentLimit(u16),
    /// Joining a waitlist for times of which one is free now: book it instead (the doctor and
    /// the slot's start).
    #[error("a time that suits is free now ({1}): book it instead of waiting")]
    FreeNow(DoctorId, Timestamp),
    /// The operation does not apply to the current state (e.g. cancelling a completed visit).
    #[error("{0}")]
    InvalidState(String),
    /// Input that is well-formed but not acceptable.
    #[error("{0}")]
    Validation(String),
    /// The caller is not signed in, or the credential is not valid.
    #[error("authentication required")]
    Unauthorized,
    /// The caller is signed in but may not do this.
    #[error("not allowed")]
    Forbidden,
    /// The one-time code is wrong, expired, used, or was never issued.
    #[error("the code is not valid")]
    OtpInvalid,
    /// Too many requests; try again after the given number of seconds.
    #[error("too many requests; try again in {retry_after_seconds} seconds")]
    RateLimited {
        /// Seconds until the limit resets.
        retry_after_seconds: u64,
    },
    /// The database has no room left for writes (a full disk); reads still work, and writes
    /// work again once space is freed.
    #[error("the database's storage is full")]
    StorageFull,
    /// The database cannot be reached, or did not answer in time.
    #[error("the database is not reachable")]
    DatabaseUnavailable,
    /// A storage or infrastructure failure; the message is for logs, not for clients.
    #[error("storage failure: {0}")]
    Storage(String),
}

impl BookingError {
    /// A patient already has `max` upcoming appointments.
    pub fn appointment_limit(max: u16) -> Self {
        Self::AppointmentLimit(max)
    }

    /// A patient already waits on `max` waitlists.
    pub fn waitlist_limit(max: u16) -> Self {
        Self::LimitReached(format!(
            "you can be on at most {max} waitlists at a time; leave one first"
        ))
    }

    /// A hold that became an appointment cannot be released.
    pub fn hold_became_appointment() -> Self {
        Self::InvalidState("this hold became an appointment; cancel the appointment instead".into())
    }

    /// A hold already used for another appointment cannot be used again.
    pub fn hold_already_used() -> Self {
        Self::InvalidState("this hold was already used for another appointment".into())
    }

    /// An appointment moves only to a slot of its own doctor.
    pub fn reschedule_to_another_doctor() -> Self {
        Self::validation("an appointment can only be moved to another slot of the same doctor")
    }

    /// A waitlist offer that was booked cannot be declined.
    pub fn offer_already_booked() -> Self {
        Self::InvalidState("this offer was booked; cancel the appointment instead".into())
    }

    /// Another specialty has this name.
    pub fn specialty_name_taken() -> Self {
        Self::validation("a specialty with this name already exists")
    }

    /// The doctor profile is linked to another user.
    pub fn doctor_profile_taken() -> Self {
        Self::validation("this doctor profile is already linked to another user")
    }

    /// A patient already holds `max` slots.
    pub fn hold_limit(max: u16) -> Self {
        Self::LimitReached(format!(
            "you can hold at most {max} slots at a time; release or confirm one first"
        ))
    }

    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::HoldNotFound => "hold_not_found",
            Self::HoldExpired => "hold_expired",
            Self::SlotTaken => "slot_taken",
            Self::SlotUnavailable(_) => "slot_unavailable",
            Self::DayFull => "day_full",
            Self::LimitReached(_) => "limit_reached",
            Self::AppointmentLimit(_) => "appointment_limit",
            Self::FreeNow(..) => "slot_free_now",
            Self::InvalidState(_) => "invalid_state",
            Self::Validation(_) => "validation",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::OtpInvalid => "otp_invalid",
            Self::RateLimited { .. } => "rate_limited",
            Self::StorageFull => "storage_full",
            Self::DatabaseUnavailable => "database_unavailable",
            Self::Storage(_) => "internal",
        }
    }

    /// Shorthand for a validation error.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::Validation(message.into())
    }
}

/// Result of a domain operation.
pub type BookingResult<T> = Result<T, BookingError>;
