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

use std::sync::Arc;

use async_trait::async_trait;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::audit::{Actor, AuditAction, AuditEntry, AuditEvent};
use crate::booking::{Occupancy, SlotStatus};
use crate::booking_service::doctor_listing;
use crate::clinic::Doctor;
use crate::clock::Clock;
use crate::error::{BookingError, BookingResult};
use crate::events::{EventBus, publish_recorded};
use crate::ids::{DoctorId, HoldId, OfferId, SpecialtyId, UserId, WaitlistEntryId};
use crate::ports::{ClinicRepository, Recorded};
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

/// Storage of the waitlist. Offers themselves are made by the booking repository inside the
/// transactions that free slots; these are the waitlist's own operations.
#[async_trait]
pub trait WaitlistRepository: Send + Sync + 'static {
    /// Adds the entry with its `audit` entries, unless the patient already waits for the same
    /// target and window (that entry is returned with `false`, and nothing is written);
    /// `LimitReached` beyond `max_entries` active entries.
    async fn join(
        &self,
        entry: &NewEntry,
        max_entries: u16,
        now: Timestamp,
        audit: &[AuditEntry],
    ) -> BookingResult<(WaitlistEntry, bool)>;
    /// The patient's active entries (waiting or offered), in queue order, with open offers.
    async fn entries_of(&self, patient_id: UserId) -> BookingResult<Vec<WaitlistEntry>>;
    /// One entry with its open offer.
    async fn entry(&self, id: WaitlistEntryId) -> BookingResult<Option<WaitlistEntry>>;
    /// One offer.
    async fn offer(&self, id: OfferId) -> BookingResult<Option<WaitlistOffer>>;
    /// Takes the patient's entry off the waitlist, declining its open offer (whose slot passes
    /// on), writing `audit` with it. Leaving twice is not an error (and writes nothing).
    async fn leave(
        &self,
        id: WaitlistEntryId,
        patient_id: UserId,
        now: Timestamp,
        audit: &[AuditEntry],
    ) -> BookingResult<Recorded>;
    /// Declines the patient's open offer: its hold is released, the entry waits again and the
    /// slot passes on; `audit` is written with it. Declining twice is not an error (and writes
    /// nothing).
    async fn decline(
        &self,
        id: OfferId,
        patient_id: UserId,
        now: Timestamp,
        audit: &[AuditEntry],
    ) -> BookingResult<Recorded>;
    /// Offers the doctor's free slots to matching waiters, first come first served.
    async fn offer_free_slots(
        &self,
        doctor_id: DoctorId,
        now: Timestamp,
    ) -> BookingResult<Recorded>;
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

/// A request to join the waitlist, before checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JoinRequest {
    /// For what.
    pub target: WaitTarget,
    /// First acceptable date, if any.
    pub from: Option<Date>,
    /// Last acceptable date, if any.
    pub to: Option<Date>,
}

/// Longest date window of one entry.
const MAX_WINDOW_DAYS: i64 = 730;

/// The waitlist use cases.
#[derive(Clone)]
pub struct WaitlistService {
    clinic: Arc<dyn ClinicRepository>,
    waitlist: Arc<dyn WaitlistRepository>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventBus>,
    policy: WaitlistPolicy,
}

impl WaitlistService {
    /// A service over the given ports.
    pub fn new(
        clinic: Arc<dyn ClinicRepository>,
        waitlist: Arc<dyn WaitlistRepository>,
        clock: Arc<dyn Clock>,
        events: Arc<dyn EventBus>,
        policy: WaitlistPolicy,
    ) -> Self {
        Self {
            clinic,
            waitlist,
            clock,
            events,
            policy,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> WaitlistPolicy {
        self.policy
    }

    /// Puts the patient on the waitlist. If a matching slot is free already, it is offered at
    /// once (to the first waiter, who may be someone who joined earlier). Joining again with the
    /// same target and window returns the existing entry with `false`.
    pub async fn join(
        &self,
        patient_id: UserId,
        actor: &Actor,
        request: JoinRequest,
    ) -> BookingResult<(WaitlistEntry, bool)> {
        let now = self.clock.now();
        let doctors = self.doctors_of(request.target).await?;
        let today = jiff::tz::TimeZone::UTC.to_datetime(now).date();
        if let (Some(from), Some(to)) = (request.from, request.to) {
            if from > to {
                return Err(BookingError::validation("from must not be after to"));
            }
            if from
                .until(to)
                .is_ok_and(|span| i64::from(span.get_days()) > MAX_WINDOW_DAYS)
            {
                return Err(BookingError::validation(format!(
                    "the date window may span at most {MAX_WINDOW_DAYS} days"
                )));
            }
        }
        // A day of slack: "today" in the westernmost zone is yesterday in UTC.
        if let Some(to) = request.to
            && today.yesterday().is_ok_and(|yesterday| to < yesterday)
        {
            return Err(BookingError::validation("the date window is in the past"));
        }
        let entry = NewEntry {
            id: WaitlistEntryId::generate(),
            patient_id,
            target: request.target,
            from: request.from,
            to: request.to,
        };
        let audit = [AuditEntry::stamped(
            actor,
            now,
            entry_event(
                AuditAction::WaitlistJoin,
                entry.id,
                entry.patient_id,
                entry.target,
            ),
        )];
        let (entry, created) = self
            .waitlist
            .join(&entry, self.policy.max_entries_per_patient, now, &audit)
            .await?;
        if !created {
            return Ok((entry, false));
        }
        for doctor_id in doctors {
            let recorded = self.waitlist.offer_free_slots(doctor_id, now).await?;
            publish_recorded(self.events.as_ref(), &recorded);
        }
        let entry = self
            .waitlist
            .entry(entry.id)
            .await?
            .ok_or(BookingError::NotFound("waitlist entry"))?;
        Ok((entry, true))
    }

    /// The doctors a target covers; `NotFound` for an unknown doctor or specialty.
    async fn doctors_of(&self, target: WaitTarget) -> BookingResult<Vec<DoctorId>> {
        match target {
            WaitTarget::Doctor(id) => {
                self.clinic
                    .doctor(id)
                    .await?
                    .ok_or(BookingError::NotFound("doctor"))?;
                Ok(vec![id])
            }
            WaitTarget::Specialty(id) => {
                self.clinic
                    .specialty(id)
                    .await?
                    .ok_or(BookingError::NotFound("specialty"))?;
                Ok(self
                    .clinic
                    .doctors()
                    .await?
                    .into_iter()
                    .filter(|d| d.specialty_id == id)
                    .map(|d| d.id)
                    .collect())
            }
        }
    }

    /// The patient's active entries, with their open offers.
    pub async fn entries_of(&self, patient_id: UserId) -> BookingResult<Vec<WaitlistEntry>> {
        self.waitlist.entries_of(patient_id).await
    }

    /// One of the patient's entries (any state); another patient's is `NotFound`.
    pub async fn entry_of(
        &self,
        patient_id: UserId,
        id: WaitlistEntryId,
    ) -> BookingResult<WaitlistEntry> {
        match self.waitlist.entry(id).await? {
            Some(entry) if entry.patient_id == patient_id => Ok(entry),
            _ => Err(BookingError::NotFound("waitlist entry")),
        }
    }

    /// Leaves the waitlist; an open offer of the entry is declined and passes on. Another
    /// patient's entry is `NotFound`.
    pub async fn leave(
        &self,
        patient_id: UserId,
        actor: &Actor,
        id: WaitlistEntryId,
    ) -> BookingResult<()> {
        let entry = self.entry_of(patient_id, id).await?;
        let now = self.clock.now();
        let audit = [AuditEntry::stamped(
            actor,
            now,
            entry_event(
                AuditAction::WaitlistLeave,
                entry.id,
                patient_id,
                entry.target,
            ),
        )];
        let recorded = self.waitlist.leave(id, patient_id, now, &audit).await?;
        publish_recorded(self.events.as_ref(), &recorded);
        Ok(())
    }

    /// Declines an offer; the slot passes to the next waiter and the entry waits again.
    pub async fn decline(
        &self,
        patient_id: UserId,
        actor: &Actor,
        id: OfferId,
    ) -> BookingResult<()> {
        let now = self.clock.now();
        let event = AuditEvent::new(
            AuditAction::WaitlistDecline,
            "waitlist_offer",
            Some(id.to_string()),
        )
        .with_patient(patient_id);
        let audit = [AuditEntry::stamped(actor, now, event)];
        let recorded = self.waitlist.decline(id, patient_id, now, &audit).await?;
        publish_recorded(self.events.as_ref(), &recorded);
        Ok(())
    }

    /// Offers a doctor's free slots to waiters (after the doctor's hours or time off changed).
    pub async fn offer_free_slots(&self, doctor_id: DoctorId) -> BookingResult<()> {
        let recorded = self
            .waitlist
            .offer_free_slots(doctor_id, self.clock.now())
            .await?;
        publish_recorded(self.events.as_ref(), &recorded);
        Ok(())
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
