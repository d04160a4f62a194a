//! The booking use cases: list slots, hold, release, confirm, cancel, reschedule, sweep.
//!
//! The service decides *what* may happen (the slot is on the doctor's grid, within notice and
//! horizon, the caller owns the hold); the repository makes it happen atomically and the
//! database guarantees that no two occupying reservations of a doctor overlap. Each command
//! carries its [`Actor`], and the repository writes the command's audit entry in the same
//! transaction as the change. Events are published only after the repository returned, i.e.
//! after commit.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use crate::agenda_cache::AgendaCache;
use crate::audit::{Actor, AuditObserver};
use crate::booking::{Appointment, Hold, Reason};
use crate::clinic::Doctor;
use crate::clock::Clock;
use crate::contention::{ClaimInTheWay, SlotContention, Turn};
use crate::error::{BookingError, BookingResult};
use crate::events::{DomainEvent, EventBus};
use crate::ids::{AppointmentId, DoctorId, HoldId, UserId};
use crate::ports::{
    Booked, BookingRepository, Claimed, ClinicRepository, Confirmation, DayLimit, HoldClaim,
    Recorded, Reschedule, publish_recorded,
};
use crate::shared_agendas::SharedAgendas;
use crate::slots::{SlotGrid, day_bounds};

mod listing;

pub use crate::listing::{SlotView, doctor_listing};
pub use listing::{MAX_LISTING_DAYS, listing_window};

/// Limits and durations of the booking process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookingPolicy {
    /// How long a hold keeps its slot.
    pub hold_duration: SignedDuration,
    /// How many scheduled, upcoming appointments a patient may have.
    pub max_active_appointments: u16,
    /// How many unexpired holds a patient may have at once.
    pub max_holds_per_patient: u16,
    /// A cancellation this close to the start counts as late (shown to the patient before they
    /// cancel, and to the doctor afterwards).
    pub late_cancellation: SignedDuration,
}

impl Default for BookingPolicy {
    fn default() -> Self {
        Self {
            hold_duration: SignedDuration::from_mins(5),
            max_active_appointments: 5,
            max_holds_per_patient: 3,
            late_cancellation: SignedDuration::from_hours(24),
        }
    }
}

/// What a hold is for: a new appointment counts against the patient's limit of upcoming
/// appointments when it is held (and again, atomically, when it is confirmed); moving an
/// existing one does not add to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldPurpose {
    /// To book a new appointment.
    NewAppointment,
    /// To move this appointment to the held slot.
    Moving(AppointmentId),
}

/// The booking use cases.
#[derive(Clone)]
pub struct BookingService {
    clinic: Arc<dyn ClinicRepository>,
    bookings: Arc<dyn BookingRepository>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventBus>,
    policy: BookingPolicy,
    observer: Option<Arc<dyn AuditObserver>>,
    /// What this instance knows of taken slots; `None` asks the database every time.
    contention: Option<Arc<SlotContention>>,
    /// The doctors' coming claims in memory, for single-doctor listings; `None` reads them
    /// from the database every time.
    agendas: Option<Arc<AgendaCache>>,
    /// The doctors' agendas shared by instances (Redis), for single-doctor listings where
    /// there is no `agendas`; `None` reads them from the database every time.
    shared_agendas: Option<Arc<SharedAgendas>>,
}

impl BookingService {
    /// A service over the given ports.
    pub fn new(
        clinic: Arc<dyn ClinicRepository>,
        bookings: Arc<dyn BookingRepository>,
        clock: Arc<dyn Clock>,
        events: Arc<dyn EventBus>,
        policy: BookingPolicy,
    ) -> Self {
        Self {
            clinic,
            bookings,
            clock,
            events,
            policy,
            observer: None,
            contention: None,
            agendas: None,
            shared_agendas: None,
        }
    }

    /// The same service listing one doctor's slots from `agendas` (their claims, kept in
    /// memory). The caller keeps it in step with every slot event: it must be one of the
    /// followers of the [`crate::events::FollowedBus`] this service publishes on (so it hears
    /// of each change before anyone else does) and be fed the events relayed from elsewhere.
    pub fn with_agenda_cache(mut self, agendas: Arc<AgendaCache>) -> Self {
        self.agendas = Some(agendas);
        self
    }

    /// The same service listing one doctor's slots from the agendas `shared` by all instances
    /// (when it keeps none in memory): the entry stored under the doctor's current slot event
    /// number, read from the database, so listings stay linearizable across instances.
    pub fn with_shared_agendas(mut self, shared: Arc<SharedAgendas>) -> Self {
        self.shared_agendas = Some(shared);
        self
    }

    /// The same service letting requests for one slot take turns in `contention`, so that one
    /// database answer serves the requests that were waiting for it.
    pub fn with_contention(mut self, contention: Arc<SlotContention>) -> Self {
        self.contention = Some(contention);
        self
    }

    /// The same service telling `observer` of the audit entries each command committed.
    pub fn observed_by(mut self, observer: Arc<dyn AuditObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The policy in force.
    pub fn policy(&self) -> BookingPolicy {
        self.policy
    }

    /// The current instant of the service's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    async fn doctor(&self, id: DoctorId) -> BookingResult<Doctor> {
        self.clinic
            .doctor(id)
            .await?
            .ok_or(BookingError::NotFound("doctor"))
    }

    /// Holds the slot of `doctor_id` starting at `start` for `patient_id`, asked by `actor`.
    /// Repeating the request while the hold lives returns the same hold (with `created` false).
    /// A hold for a new appointment is refused (`AppointmentLimit`) when the patient already
    /// has as many upcoming appointments as allowed, so nobody holds a time they cannot book.
    pub async fn hold(
        &self,
        actor: &Actor,
        patient_id: UserId,
        doctor_id: DoctorId,
        start: Timestamp,
        purpose: HoldPurpose,
    ) -> BookingResult<Claimed> {
        let now = self.clock.now();
        let doctor = self.doctor(doctor_id).await?;
        let rules = &doctor.schedule.rules;
        let tz = doctor.time_zone.tz();
        let (earliest, latest) = rules.bookable_window(now);
        if start < now {
            return Err(BookingError::SlotUnavailable(
                "the time is in the past".into(),
            ));
        }
        if start < earliest {
            return Err(BookingError::SlotUnavailable(format!(
                "this doctor needs {} minutes' notice",
                rules.min_notice_minutes
            )));
        }
        if start > latest {
            return Err(BookingError::SlotUnavailable(format!(
                "this doctor takes bookings at most {} days ahead",
                rules.horizon_days
            )));
        }
        let date = tz.to_datetime(start).date();
        let day = day_bounds(tz, date)
            .ok_or_else(|| BookingError::SlotUnavailable("date is out of range".into()))?;
        let margin = SignedDuration::from_hours(24);
        let window_start = day.0.saturating_sub(margin).unwrap_or(day.0);
        let window_end = day.1.saturating_add(margin).unwrap_or(day.1);
        let time_off = self
            .clinic
            .time_off(&[doctor_id], window_start, window_end)
            .await?;
        let slot = SlotGrid::new(&doctor.schedule, tz, &time_off)
            .slot_at(start)
            .ok_or_else(|| {
                BookingError::SlotUnavailable("the time is not one of this doctor's slots".into())
            })?;
        let claim = HoldClaim {
            hold_id: HoldId::generate(),
            doctor_id,
            patient_id,
            slot,
            claim: slot.claim(rules),
            expires_at: now
                .saturating_add(self.policy.hold_duration)
                .map_err(|_| BookingError::Storage("hold expiry overflows".into()))?,
            day_limit: rules.max_per_day.map(|max| DayLimit { day, max }),
            max_holds_per_patient: self.policy.max_holds_per_patient,
            actor: actor.clone(),
        };
        // With a contention fast path, requests for one slot take turns on this instance, and a
        // request answers "taken" from what a database operation that began after it arrived
        // learnt (see `crate::contention`); the database alone decides a win.
        let turn = match self.contention.as_deref() {
            Some(contention) => Some(contention.turn(doctor_id, slot.start).await),
            None => None,
        };
        if turn
            .as_ref()
            .is_some_and(|turn| turn.refused(claim.claim, patient_id))
        {
            return Err(BookingError::SlotTaken);
        }
        let read = turn.as_ref().map(Turn::begin);
        if let Some(in_the_way) = self
            .bookings
            .claim_in_the_way(doctor_id, claim.claim, patient_id, now)
            .await?
        {
            if let (Some(turn), Some(read)) = (&turn, read) {
                turn.learn(read, in_the_way);
            }
            return Err(BookingError::SlotTaken);
        }
        // Asked only of requests that may win the slot: losers of a race stay cheap.
        if purpose == HoldPurpose::NewAppointment {
            let max = self.policy.max_active_appointments;
            if self.bookings.upcoming_appointments(patient_id, now).await? >= u32::from(max) {
                return Err(BookingError::appointment_limit(max));
            }
        }
        let write = turn.as_ref().map(Turn::begin);
        let claimed = self.bookings.claim_hold(&claim, now).await?;
        self.publish_slots(&claimed.events);
        if let (Some(turn), Some(write)) = (&turn, write) {
            let (start, end) = claim.claim;
            let own = ClaimInTheWay {
                start,
                end,
                holder: Some(patient_id),
            };
            turn.learn(write, own);
        }
        Ok(claimed)
    }

    /// The daily maximum that applies on the day of the patient's hold. A lapsed hold whose slot
    /// is still free may be used, but only if the doctor's day has room for it.
    async fn day_limit_of_hold(
        &self,
        patient_id: UserId,
        hold_id: HoldId,
    ) -> BookingResult<Option<DayLimit>> {
        let hold = self.hold_of(patient_id, hold_id).await?;
        let doctor = self.doctor(hold.doctor_id).await?;
        let Some(max) = doctor.schedule.rules.max_per_day else {
            return Ok(None);
        };
        let tz = doctor.time_zone.tz();
        let day = day_bounds(tz, tz.to_datetime(hold.start).date())
            .ok_or_else(|| BookingError::SlotUnavailable("date is out of range".into()))?;
        Ok(Some(DayLimit { day, max }))
    }

    /// One of the patient's holds.
    pub async fn hold_of(&self, patient_id: UserId, hold_id: HoldId) -> BookingResult<Hold> {
        match self.bookings.hold(hold_id).await? {
            Some(hold) if hold.patient_id == patient_id => Ok(hold),
            _ => Err(BookingError::HoldNotFound),
        }
    }

    /// A hold, whoever holds it (for the desk, which checks who may act on it).
    pub async fn any_hold(&self, hold_id: HoldId) -> BookingResult<Option<Hold>> {
        self.bookings.hold(hold_id).await
    }

    /// An appointment, whoever it is for (for the desk, which checks who may act on it).
    pub async fn any_appointment(
        &self,
        appointment_id: AppointmentId,
    ) -> BookingResult<Option<Appointment>> {
        self.bookings.appointment(appointment_id).await
    }

    /// Gives a hold back. Releasing twice is not an error.
    pub async fn release(
        &self,
        actor: &Actor,
        patient_id: UserId,
        hold_id: HoldId,
    ) -> BookingResult<()> {
        let now = self.clock.now();
        let events = self
            .bookings
            .release_hold(hold_id, patient_id, actor, now)
            .await?;
        self.publish_slots(&events);
        Ok(())
    }

    /// Books the held slot. Confirming the same hold again returns the same appointment.
    pub async fn confirm(
        &self,
        actor: &Actor,
        patient_id: UserId,
        hold_id: HoldId,
        reason: Reason,
    ) -> BookingResult<Booked> {
        let day_limit = self.day_limit_of_hold(patient_id, hold_id).await?;
        let now = self.clock.now();
        let confirmation = Confirmation {
            hold_id,
            patient_id,
            appointment_id: AppointmentId::generate(),
            reason,
            max_active_appointments: self.policy.max_active_appointments,
            day_limit,
            actor: actor.clone(),
        };
        let booked = self.bookings.confirm_hold(&confirmation, now).await?;
        self.publish_slots(&booked.events);
        if booked.changed {
            self.publish_appointment(&booked.appointment);
        }
        Ok(booked)
    }

    /// Cancels the patient's appointment; its slot becomes free. Cancelling twice is not an error.
    pub async fn cancel(
        &self,
        actor: &Actor,
        patient_id: UserId,
        appointment_id: AppointmentId,
    ) -> BookingResult<Appointment> {
        let now = self.clock.now();
        let booked = self
            .bookings
            .cancel_appointment(
                appointment_id,
                patient_id,
                self.policy.late_cancellation,
                actor,
                now,
            )
            .await?;
        self.publish_slots(&booked.events);
        if booked.changed {
            self.publish_appointment(&booked.appointment);
        }
        Ok(booked.appointment)
    }

    /// Moves the patient's appointment to the slot of their hold, atomically. Repeating the
    /// request returns the moved appointment and changes nothing.
    pub async fn reschedule(
        &self,
        actor: &Actor,
        patient_id: UserId,
        appointment_id: AppointmentId,
        hold_id: HoldId,
    ) -> BookingResult<Appointment> {
        let day_limit = self.day_limit_of_hold(patient_id, hold_id).await?;
        let request = Reschedule {
            appointment_id,
            hold_id,
            patient_id,
            day_limit,
            actor: actor.clone(),
        };
        let now = self.clock.now();
        let booked = self.bookings.reschedule_appointment(&request, now).await?;
        self.publish_slots(&booked.events);
        if booked.changed {
            self.publish_appointment(&booked.appointment);
        }
        Ok(booked.appointment)
    }

    /// The patient's appointments, soonest first.
    pub async fn appointments_of(&self, patient_id: UserId) -> BookingResult<Vec<Appointment>> {
        self.bookings.appointments_of_patient(patient_id).await
    }

    /// One of the patient's appointments; another patient's is `NotFound`.
    pub async fn appointment_of(
        &self,
        patient_id: UserId,
        appointment_id: AppointmentId,
    ) -> BookingResult<Appointment> {
        match self.bookings.appointment(appointment_id).await? {
            Some(a) if a.patient_id == patient_id => Ok(a),
            _ => Err(BookingError::NotFound("appointment")),
        }
    }

    /// Expires lapsed holds and announces their slots as free again.
    pub async fn sweep_expired_holds(&self) -> BookingResult<usize> {
        let events = self.bookings.expire_holds(self.clock.now()).await?;
        self.publish_slots(&events);
        Ok(events.slots.len())
    }

    /// Publishes what a change recorded, in order, and tells the observer what it audited.
    fn publish_slots(&self, recorded: &Recorded) {
        publish_recorded(self.events.as_ref(), recorded);
        if let Some(observer) = &self.observer
            && !recorded.audit.is_empty()
        {
            observer.committed(&recorded.audit);
        }
    }

    fn publish_appointment(&self, appointment: &Appointment) {
        self.events.publish(DomainEvent::Appointment {
            appointment_id: appointment.id,
            doctor_id: appointment.doctor_id,
            patient_id: appointment.patient_id,
            status: appointment.status,
        });
    }
}
