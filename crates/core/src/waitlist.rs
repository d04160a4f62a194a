//! The waitlist: patients wait for a doctor (or any doctor of a specialty), optionally within a
//! date window, and the first of them in queue order is offered a matching slot the moment one
//! is free.
//!
//! # Rules
//!
//! - An offer is an exclusive hold on the slot for the offer window (10 minutes by default),
//!   made in the same transaction that freed the slot (a cancellation, a reschedule, a released
//!   or lapsed hold) or that made it appear (new hours, time off removed), or when a patient
//!   joins and a matching slot is already free. Nobody can take the slot in between.
//! - Queue order is the order of joining. For each free slot the first waiting entry whose
//!   window contains the slot's date (in the doctor's zone) gets it, unless that entry was
//!   already offered this very slot.
//! - Nobody has two open offers at once (enforced by a unique index); a waiter with an open
//!   offer is skipped until it is settled.
//! - Confirming uses the normal appointment call with the offer's `hold_id` and fulfils the
//!   entry. Declining, or letting the offer lapse, returns the entry to the queue at its place
//!   and passes the slot on to the next waiter. Leaving the waitlist with an open offer declines
//!   it.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::audit::{AuditAction, AuditEvent};
use crate::booking::{Occupancy, SlotStatus};
use crate::clinic::Doctor;
use crate::error::{BookingError, BookingResult};
use crate::ids::{DoctorId, HoldId, OfferId, SpecialtyId, UserId, WaitlistEntryId};
use crate::listing::doctor_listing;
use crate::schedule::TimeOff;
use crate::slots::Slot;

/// Limits and durations of the waitlist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitlistPolicy {
    /// How long an offered slot is held for the waiter.
    pub offer_window: SignedDuration,
    /// How many waitlist entries one patient may have at once.
    pub max_entries_per_patient: u16,
}

impl Default for WaitlistPolicy {
    fn default() -> Self {
        Self {
            offer_window: SignedDuration::from_mins(10),
            max_entries_per_patient: 5,
        }
    }
}

/// What a patient waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitTarget {
    /// One doctor.
    Doctor(DoctorId),
    /// Any doctor of a specialty.
    Specialty(SpecialtyId),
}

/// Where an entry stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    /// In the queue.
    Waiting,
    /// Holding an open offer.
    Offered,
    /// An offer was booked.
    Fulfilled,
    /// The patient left the waitlist.
    Left,
}

impl EntryState {
    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Offered => "offered",
            Self::Fulfilled => "fulfilled",
            Self::Left => "left",
        }
    }

    /// Parses the stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "waiting" => Some(Self::Waiting),
            "offered" => Some(Self::Offered),
            "fulfilled" => Some(Self::Fulfilled),
            "left" => Some(Self::Left),
            _ => None,
        }
    }
}

/// What became of an offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferState {
    /// Waiting for the patient to confirm, until `expires_at`.
    Open,
    /// Booked.
    Accepted,
    /// Given back by the patient.
    Declined,
    /// Not confirmed in time.
    Expired,
}

impl OfferState {
    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::Expired => "expired",
        }
    }

    /// Parses the stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "open" => Some(Self::Open),
            "accepted" => Some(Self::Accepted),
            "declined" => Some(Self::Declined),
            "expired" => Some(Self::Expired),
            _ => None,
        }
    }
}

/// A slot offered to a waiting patient: an exclusive hold until `expires_at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct WaitlistOffer {
    /// Identity.
    pub id: OfferId,
    /// The entry it answers.
    pub entry_id: WaitlistEntryId,
    /// For whom.
    pub patient_id: UserId,
    /// With whom.
    pub doctor_id: DoctorId,
    /// The hold carrying the slot; confirm it like any hold.
    pub hold_id: HoldId,
    /// Start of the visit.
    pub start: Timestamp,
    /// End of the visit.
    pub end: Timestamp,
    /// When the hold lapses and the slot passes on.
    pub expires_at: Timestamp,
    /// What became of it.
    pub state: OfferState,
}

/// A patient's place on the waitlist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WaitlistEntry {
    /// Identity.
    pub id: WaitlistEntryId,
    /// Who waits.
    pub patient_id: UserId,
    /// For what.
    pub target: WaitTarget,
    /// First acceptable date (in the doctor's zone), if any.
    pub from: Option<Date>,
    /// Last acceptable date (in the doctor's zone), if any.
    pub to: Option<Date>,
    /// Days and times that suit.
    pub preference: WaitPreference,
    /// Where it stands.
    pub state: EntryState,
    /// When the patient joined (queue order).
    pub queued_at: Timestamp,
    /// The open offer, if there is one.
    pub offer: Option<WaitlistOffer>,
}

impl WaitlistEntry {
    /// Whether a slot on `date` (in the doctor's zone) is inside the entry's window.
    pub fn accepts(&self, date: Date) -> bool {
        accepts(self.from, self.to, date)
    }
}

/// Whether `date` is inside the optional window `[from, to]`.
pub fn accepts(from: Option<Date>, to: Option<Date>, date: Date) -> bool {
    from.is_none_or(|from| date >= from) && to.is_none_or(|to| date <= to)
}

/// The days of the week as written in requests, Monday first.
pub const WEEKDAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// When a waiter can come: days of the week and a part of the day, in the doctor's zone.
/// The default accepts any day at any time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WaitPreference {
    /// Bit `n` set: the `n`-th day of the week (Monday = 0) suits; no bit set: any day.
    pub weekdays: u8,
    /// The earliest start that suits, if any.
    pub earliest: Option<Time>,
    /// The latest end that suits, if any.
    pub latest: Option<Time>,
}

impl WaitPreference {
    /// Any day, any time.
    pub const ANY: Self = Self {
        weekdays: 0,
        earliest: None,
        latest: None,
    };

    /// The bit set of `days`.
    pub fn days_mask(days: &[Weekday]) -> u8 {
        days.iter()
            .fold(0, |mask, day| mask | (1 << day.to_monday_zero_offset()))
    }

    /// The days that suit, Monday first (every day when none was chosen).
    pub fn days(&self) -> Vec<Weekday> {
        (0..7i8)
            .filter(|bit| self.weekdays == 0 || self.weekdays & (1 << bit) != 0)
            .filter_map(|bit| Weekday::from_monday_zero_offset(bit).ok())
            .collect()
    }

    /// Whether a slot from `start` to `end` suits, in zone `tz`.
    pub fn accepts(&self, tz: &TimeZone, start: Timestamp, end: Timestamp) -> bool {
        let (from, to) = (tz.to_datetime(start), tz.to_datetime(end));
        let day_ok = self.weekdays == 0
            || self.weekdays & (1 << from.weekday().to_monday_zero_offset()) != 0;
        // A slot ending at midnight ends "at 24:00" of its own day.
        let ends = if to.date() > from.date() {
            Time::MAX
        } else {
            to.time()
        };
        day_ok
            && self.earliest.is_none_or(|earliest| from.time() >= earliest)
            && self.latest.is_none_or(|latest| ends <= latest)
    }

    /// The preference from its written form: day names (`monday` … `sunday`, any case) and
    /// times `HH:MM` (empty for none); `Validation` for anything else, or an earliest time
    /// not before the latest.
    pub fn parse(
        days: &[&str],
        earliest: Option<&str>,
        latest: Option<&str>,
    ) -> BookingResult<Self> {
        let mut weekdays = 0u8;
        for day in days {
            let index = WEEKDAY_NAMES
                .iter()
                .position(|name| name.eq_ignore_ascii_case(day.trim()))
                .ok_or_else(|| {
                    BookingError::validation(format!(
                        "“{day}” is not a day of the week (monday … sunday)"
                    ))
                })?;
            weekdays |= 1 << index;
        }
        let time = |field: &str, raw: Option<&str>| -> BookingResult<Option<Time>> {
            match raw.map(str::trim).filter(|t| !t.is_empty()) {
                None => Ok(None),
                Some(text) if text.len() == 5 => text.parse::<Time>().map(Some).map_err(|_| {
                    BookingError::validation(format!("{field} must be a time like 17:30"))
                }),
                Some(_) => Err(BookingError::validation(format!(
                    "{field} must be a time like 17:30"
                ))),
            }
        };
        let preference = Self {
            weekdays,
            earliest: time("earliest", earliest)?,
            latest: time("latest", latest)?,
        };
        if let (Some(earliest), Some(latest)) = (preference.earliest, preference.latest)
            && earliest >= latest
        {
            return Err(BookingError::validation(
                "the earliest time must be before the latest",
            ));
        }
        Ok(preference)
    }

    /// The days that suit by name (empty when any day does).
    pub fn day_names(&self) -> Vec<&'static str> {
        if self.weekdays == 0 {
            return Vec::new();
        }
        (0..7)
            .filter(|bit| self.weekdays & (1 << bit) != 0)
            .map(|bit| WEEKDAY_NAMES[bit])
            .collect()
    }

    /// Whether it narrows nothing.
    pub fn is_any(&self) -> bool {
        self.weekdays & 0x7f == 0 && self.earliest.is_none() && self.latest.is_none()
    }
}

/// A new entry, checked by the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewEntry {
    /// Id for the entry.
    pub id: WaitlistEntryId,
    /// Who waits.
    pub patient_id: UserId,
    /// For what.
    pub target: WaitTarget,
    /// First acceptable date.
    pub from: Option<Date>,
    /// Last acceptable date.
    pub to: Option<Date>,
    /// Days and times that suit.
    pub preference: WaitPreference,
}

/// The free slots of a doctor that may be offered at `now`, in order: on the grid, within the
/// booking notice and horizon, not occupied, on a day below the doctor's daily maximum, and on
/// dates from `first` to `last` (in the doctor's zone). `occupancy` must be the doctor's.
pub fn offerable_slots(
    doctor: &Doctor,
    time_off: &[TimeOff],
    occupancy: &[Occupancy],
    first: Date,
    last: Date,
    now: Timestamp,
) -> Vec<Slot> {
    let today = doctor.time_zone.tz().to_datetime(now).date();
    let first = first.max(today);
    let Ok(span) = first.until(last) else {
        return Vec::new();
    };
    let Ok(days) = u16::try_from(span.get_days().saturating_add(1)) else {
        return Vec::new();
    };
    if days == 0 || last < first {
        return Vec::new();
    }
    let mut sorted = occupancy.to_vec();
    sorted.sort_by_key(|o| o.start);
    doctor_listing(doctor, time_off, &sorted, first, days.min(732), now)
        .into_iter()
        .filter(|view| view.status == SlotStatus::Available)
        .map(|view| Slot {
            start: view.start,
            end: view.end,
        })
        .collect()
}

/// The email or SMS telling a patient about an offer.
pub fn offer_message(
    doctor: &Doctor,
    offer: &WaitlistOffer,
    public_url: Option<&str>,
) -> (String, String) {
    let tz = doctor.time_zone.tz();
    let start = tz.to_datetime(offer.start);
    let until = tz.to_datetime(offer.expires_at);
    let subject = format!("A slot with {} is free for you", doctor.name);
    let body = format!(
        "Good news: a slot you were waiting for is free.\n\n\
         {doctor} on {date} at {time} ({zone}) is held for you until {until_time}.\n\
         Confirm it in MediBook (Appointments, or the waitlist offer) before then; after that it \
         goes to the next patient on the waitlist.\n\n\
         If you no longer need it, decline the offer so someone else can have it.",
        doctor = doctor.name,
        date = start.date().strftime("%A %-d %B %Y"),
        time = start.time().strftime("%H:%M"),
        zone = doctor.time_zone.name(),
        until_time = until.time().strftime("%H:%M"),
    );
    let body = match public_url {
        Some(url) => format!("{body}\n\nSee the offer: {url}/waitlist"),
        None => body,
    };
    (subject, body)
}

/// The audit entry of `action` on a waitlist entry: the patient's, and the doctor's when it
/// waits for one doctor.
pub fn entry_event(
    action: AuditAction,
    id: WaitlistEntryId,
    patient_id: UserId,
    target: WaitTarget,
) -> AuditEvent {
    let event =
        AuditEvent::new(action, "waitlist_entry", Some(id.to_string())).with_patient(patient_id);
    match target {
        WaitTarget::Doctor(id) => event.with_doctor(id),
        WaitTarget::Specialty(_) => event,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn windows_are_inclusive_and_optional() {
        let d = date(2027, 3, 3);
        assert!(accepts(None, None, d));
        assert!(accepts(Some(d), Some(d), d));
        assert!(!accepts(Some(date(2027, 3, 4)), None, d));
        assert!(!accepts(None, Some(date(2027, 3, 2)), d));
    }

    #[test]
    fn states_round_trip_through_their_names() {
        for state in [
            EntryState::Waiting,
            EntryState::Offered,
            EntryState::Fulfilled,
            EntryState::Left,
        ] {
            assert_eq!(EntryState::parse(state.as_str()), Some(state));
        }
        for state in [
            OfferState::Open,
            OfferState::Accepted,
            OfferState::Declined,
            OfferState::Expired,
        ] {
            assert_eq!(OfferState::parse(state.as_str()), Some(state));
        }
    }
}
