//! The waitlist's use cases: joining (offering a matching free slot at once), leaving, and
//! declining an offer. The rules and the model are in [`crate::waitlist`].

use std::sync::Arc;

use jiff::civil::Date;

use crate::audit::{Actor, AuditAction, AuditEntry, AuditEvent};
use crate::clock::Clock;
use crate::error::{BookingError, BookingResult};
use crate::events::EventBus;
use crate::ids::{DoctorId, OfferId, UserId, WaitlistEntryId};
use crate::ports::{ClinicRepository, WaitlistRepository, publish_recorded};
use crate::waitlist::{NewEntry, WaitTarget, WaitlistEntry, WaitlistPolicy, entry_event};

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
