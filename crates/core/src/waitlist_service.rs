//! The waitlist's use cases: joining (offering a matching free slot at once), leaving, and
//! declining an offer. The rules and the model are in [`crate::waitlist`].

use std::sync::Arc;

use jiff::civil::Date;

use crate::audit::{Actor, AuditAction, AuditEntry, AuditEvent};
use crate::booking_service::{BookingService, MAX_LISTING_DAYS};
use crate::clinic::Doctor;
use crate::clock::Clock;
use crate::error::{BookingError, BookingResult};
use crate::events::EventBus;
use crate::ids::{DoctorId, OfferId, UserId, WaitlistEntryId};
use crate::ports::{ClinicRepository, WaitlistRepository, publish_recorded};
use crate::waitlist::{
    NewEntry, WaitPreference, WaitTarget, WaitlistEntry, WaitlistPolicy, accepts, entry_event,
};

/// A request to join the waitlist, before checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JoinRequest {
    /// For what.
    pub target: WaitTarget,
    /// First acceptable date, if any.
    pub from: Option<Date>,
    /// Last acceptable date, if any.
    pub to: Option<Date>,
    /// Days and times that suit.
    pub preference: WaitPreference,
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
    bookings: Option<BookingService>,
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
            bookings: None,
        }
    }

    /// Refuses to queue a patient for times of which one is free now (the patient could book
    /// it), looking the slots up through `bookings`.
    pub fn pointing_to_free_slots(mut self, bookings: BookingService) -> Self {
        self.bookings = Some(bookings);
        self
    }

    /// The policy in force.
    pub fn policy(&self) -> WaitlistPolicy {
        self.policy
    }

    /// Puts the patient on the waitlist, for slots that free up later (offered to them, held,
    /// before anyone else sees them). A time that suits and is free now is never offered: the
    /// request is refused with `FreeNow`, naming it, so the patient books it. Joining again
    /// with the same target and window returns the existing entry with `false`.
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
        let preference = request.preference;
        if let (Some(earliest), Some(latest)) = (preference.earliest, preference.latest)
            && earliest >= latest
        {
            return Err(BookingError::validation(
                "the earliest time must be before the latest",
            ));
        }
        self.refuse_if_free_now(&doctors, &request, today).await?;
        let entry = NewEntry {
            id: WaitlistEntryId::generate(),
            patient_id,
            target: request.target,
            from: request.from,
            to: request.to,
            preference,
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
        // Free slots that suit someone are offered now (to the first waiter in queue order).
        // With `pointing_to_free_slots` none suits the new entry (it was refused above), so
        // this only settles slots that no earlier waiter was offered yet.
        for doctor in &doctors {
            let recorded = self.waitlist.offer_free_slots(doctor.id, now).await?;
            publish_recorded(self.events.as_ref(), &recorded);
        }
        let entry = self
            .waitlist
            .entry(entry.id)
            .await?
            .ok_or(BookingError::NotFound("waitlist entry"))?;
        Ok((entry, true))
    }

    /// `FreeNow` with the soonest free slot of `doctors` that `request` accepts, if any, as far
    /// as the offering would look (the window's end or the farthest booking horizon), a month of
    /// listings at a time.
    async fn refuse_if_free_now(
        &self,
        doctors: &[Doctor],
        request: &JoinRequest,
        today: Date,
    ) -> BookingResult<()> {
        let Some(bookings) = &self.bookings else {
            return Ok(());
        };
        // A day of slack: "today" in the easternmost zone is tomorrow in UTC.
        let first = request
            .from
            .unwrap_or(today)
            .max(today.yesterday().unwrap_or(today));
        // As far as the offering looks: the window's end, or the farthest booking horizon.
        let horizon = doctors
            .iter()
            .map(|d| i64::from(d.schedule.rules.horizon_days) + 2)
            .max()
            .unwrap_or(0);
        let horizon_end = today
            .checked_add(jiff::Span::new().days(horizon))
            .unwrap_or(today);
        let last = request.to.map_or(horizon_end, |to| to.min(horizon_end));
        let days = first
            .until(last)
            .map_or(0, |span| i64::from(span.get_days()) + 1);
        let mut found = None;
        let mut offset = 0;
        while found.is_none() && offset < days {
            let Ok(from) = first.checked_add(jiff::Span::new().days(offset)) else {
                break;
            };
            let chunk = u16::try_from((days - offset).min(i64::from(MAX_LISTING_DAYS)))
                .unwrap_or(MAX_LISTING_DAYS);
            found = bookings
                .first_free_matching(doctors, from, chunk, |doctor, slot| {
                    let tz = doctor.time_zone.tz();
                    accepts(request.from, request.to, tz.to_datetime(slot.start).date())
                        && request.preference.accepts(tz, slot.start, slot.end)
                })
                .await?;
            offset += i64::from(MAX_LISTING_DAYS);
        }
        match found {
            Some((doctor_id, slot)) => Err(BookingError::FreeNow(doctor_id, slot.start)),
            None => Ok(()),
        }
    }

    /// The doctors a target covers; `NotFound` for an unknown doctor or specialty.
    async fn doctors_of(&self, target: WaitTarget) -> BookingResult<Vec<Doctor>> {
        match target {
            WaitTarget::Doctor(id) => {
                let doctor = self
                    .clinic
                    .doctor(id)
                    .await?
                    .ok_or(BookingError::NotFound("doctor"))?;
                Ok(vec![doctor])
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
