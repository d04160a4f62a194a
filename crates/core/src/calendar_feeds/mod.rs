//! Calendar files and private calendar feeds: one appointment as an `.ics` file, and secret,
//! revocable feed URLs that calendar apps (Google, Apple, Outlook) subscribe to without signing
//! in: a patient's appointments, and a doctor's agenda.
//!
//! A feed's token is the HMAC of (kind, person, generation) under a key of its own, derived
//! from the server secret: the same URL comes back every time it is asked for, until revoked.
//! Storage keeps only the SHA-256 of the token, to find the feed of a request; the token itself
//! is never stored, so a copy of the database opens no feed. Revoking raises the generation and
//! forgets the hash, so the old URL stops working at once and the next request derives a new one.

mod repository;
mod service;
mod tokens;

pub use repository::{CalendarFeedRepository, FeedEntry, FeedOwner, FeedState};
pub use service::CalendarFeeds;
pub use tokens::{FeedKind, FeedToken};

use std::collections::BTreeSet;

use crate::booking::Appointment;
use crate::ids::{DoctorId, UserId};

/// How far back a feed reaches: appointments that started within these days stay in it.
pub const FEED_PAST_DAYS: i64 = 30;
/// Most events one feed carries (the soonest first from [`FEED_PAST_DAYS`] ago).
pub const FEED_MAX_EVENTS: u32 = 2000;

/// What calendar files say about the clinic and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalendarSettings {
    /// Where people reach the site (no trailing slash): links in events, feed URLs.
    pub public_url: String,
    /// The clinic's name: the events' location.
    pub clinic_name: String,
}

/// The URLs of one feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedLink {
    /// `https://…/calendar/<token>.ics`.
    pub url: String,
    /// The same with the `webcal://` scheme, which opens the calendar app to subscribe.
    pub webcal_url: String,
}

/// A person's feeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedLinks {
    /// Their appointments.
    pub appointments: FeedLink,
    /// Their doctor profile's agenda, for a person linked to one.
    pub agenda: Option<FeedLink>,
}

/// An opened feed: its calendar text, and whose data it showed (for the audit trail).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedFeed {
    /// Whose feed.
    pub owner: FeedOwner,
    /// The doctor whose agenda it is, for an agenda feed.
    pub doctor_id: Option<DoctorId>,
    /// The patients whose appointments it shows.
    pub patients: BTreeSet<UserId>,
    /// How many events it has.
    pub events: usize,
    /// The `VCALENDAR` text.
    pub calendar: String,
}

/// One appointment's calendar file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppointmentFile {
    /// The appointment.
    pub appointment: Appointment,
    /// The `VCALENDAR` text.
    pub calendar: String,
}
