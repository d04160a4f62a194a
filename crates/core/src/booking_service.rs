//! The booking use cases: list slots, hold, release, confirm, cancel, reschedule, sweep.
//!
//! The service decides *what* may happen (the slot is on the doctor's grid, within notice and
//! horizon, the caller owns the hold); the repository makes it happen atomically and the
//! database guarantees that no two occupying reservations of a doctor overlap. Each command
//! carries its [`Actor`], and the repository writes the command's audit entry in the same
//! transaction as the change. Events are published only after the repository returned, i.e.
//! after commit.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::agenda_cache::AgendaCache;
use crate::audit::{Actor, AuditObserver};
use crate::booking::{Appointment, Hold, Occupancy, Reason, SlotStatus};
use crate::clinic::Doctor;
use crate::clock::Clock;
use crate::contention::{ClaimInTheWay, SlotContention, Turn};
use crate::error::{BookingError, BookingResult};
use crate::events::{DomainEvent, EventBus, EventFollower, publish_recorded};
use crate::ids::{AppointmentId, DoctorId, HoldId, UserId};
use crate::ports::{
    Booked, BookingRepository, Claimed, ClinicRepository, Confirmation, DayLimit, HoldClaim,
    Recorded, Reschedule,
};
use crate::schedule::TimeOff;
use crate::slots::{SlotGrid, day_bounds, last_date};

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

/// Most days one slot listing may cover.
pub const MAX_LISTING_DAYS: u16 = 31;

/// Most days ahead of a doctor's claims kept in the agenda cache (a longer horizon's later weeks
/// are read from the database when listed).
const MAX_KEPT_DAYS: u16 = 92;

/// How far ahead the "next free slot" of a doctor is looked for.
const NEXT_FREE_LOOKAHEAD_DAYS: u16 = 28;

/// A slot with its status, as patients see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SlotView {
    /// Start of the visit.
    pub start: Timestamp,
    /// End of the visit.
    pub end: Timestamp,
    /// Whether it can be held.
    pub status: SlotStatus,
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
        }
    }

    /// The same service listing one doctor's slots from `agendas` (their claims, kept in
    /// memory), which the caller must keep in step with every slot event as for
    /// [`Self::with_contention`]; this service also tells it of its own.
    pub fn with_agenda_cache(mut self, agendas: Arc<AgendaCache>) -> Self {
        self.agendas = Some(agendas);
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

    /// The bookable slots of a doctor on `days` dates from `first` (dates in the doctor's
    /// zone), with their status. Slots before the minimum notice or beyond the horizon are left
    /// out, and so are free slots of a day that reached the doctor's daily maximum.
    pub async fn slots(
        &self,
        doctor_id: DoctorId,
        first: Date,
        days: u16,
    ) -> BookingResult<Vec<SlotView>> {
        if !(1..=MAX_LISTING_DAYS).contains(&days) {
            return Err(BookingError::validation(format!(
                "days must be between 1 and {MAX_LISTING_DAYS}"
            )));
        }
        let doctor = self.doctor(doctor_id).await?;
        let mut listing = self.listings(&[doctor], first, days).await?;
        Ok(listing.pop().map(|(_, slots)| slots).unwrap_or_default())
    }

    /// The next free slot of each doctor within four weeks, with one query per kind of data
    /// for all of them.
    pub async fn next_free_slots(
        &self,
        doctors: &[Doctor],
    ) -> BookingResult<HashMap<DoctorId, SlotView>> {
        let now = self.clock.now();
        let mut next = HashMap::new();
        let Some(first) = doctors
            .iter()
            .map(|d| d.time_zone.tz().to_datetime(now).date())
            .min()
        else {
            return Ok(next);
        };
        for (doctor_id, slots) in self
            .listings(doctors, first, NEXT_FREE_LOOKAHEAD_DAYS)
            .await?
        {
            if let Some(slot) = slots
                .into_iter()
                .find(|s| s.status == SlotStatus::Available)
            {
                next.insert(doctor_id, slot);
            }
        }
        Ok(next)
    }

    /// Slot listings of several doctors over the same dates.
    async fn listings(
        &self,
        doctors: &[Doctor],
        first: Date,
        days: u16,
    ) -> BookingResult<Vec<(DoctorId, Vec<SlotView>)>> {
        let now = self.clock.now();
        let (from, to) = listing_window(first, days)?;
        let ids: Vec<DoctorId> = doctors.iter().map(|d| d.id).collect();
        let time_off = self.clinic.time_off(&ids, from, to).await?;
        let occupancy = match (&self.agendas, doctors) {
            (Some(agendas), [doctor]) => {
                self.cached_occupancy(agendas, doctor, (from, to), now)
                    .await?
            }
            _ => self.bookings.occupancy(&ids, from, to, now).await?,
        };

        let mut listings = Vec::with_capacity(doctors.len());
        for doctor in doctors {
            let own_time_off: Vec<_> = time_off
                .iter()
                .filter(|t| t.doctor_id == doctor.id)
                .cloned()
                .collect();
            let mut own_occupancy: Vec<Occupancy> = occupancy
                .iter()
                .filter(|o| o.doctor_id == doctor.id)
                .copied()
                .collect();
            own_occupancy.sort_by_key(|o| o.start);
            listings.push((
                doctor.id,
                doctor_listing(doctor, &own_time_off, &own_occupancy, first, days, now),
            ));
        }
        Ok(listings)
    }

    /// What occupies one doctor's `[from, to)` at `now`, from the agenda cache when it covers
    /// the window. A miss within the bookable weeks reads and keeps the doctor's claims from
    /// two days ago to two days past the horizon, so that the doctor's other weeks are served
    /// from memory too; a window outside them is read as asked and not kept.
    async fn cached_occupancy(
        &self,
        agendas: &AgendaCache,
        doctor: &Doctor,
        (from, to): (Timestamp, Timestamp),
        now: Timestamp,
    ) -> BookingResult<Vec<Occupancy>> {
        if let Some(hit) = agendas.occupancy(doctor.id, (from, to), now) {
            return Ok(hit);
        }
        let margin = SignedDuration::from_hours(48);
        let kept_days = doctor.schedule.rules.horizon_days.min(MAX_KEPT_DAYS);
        let horizon = SignedDuration::from_hours(24 * i64::from(kept_days));
        let wide = (
            now.saturating_sub(margin).unwrap_or(now),
            now.saturating_add(horizon)
                .and_then(|end| end.saturating_add(margin))
                .unwrap_or(now),
        );
        if from < wide.0 || to > wide.1 {
            return self.bookings.occupancy(&[doctor.id], from, to, now).await;
        }
        let agenda = self.bookings.agenda(doctor.id, wide.0, wide.1).await?;
        let occupancy = agenda.occupancy(doctor.id, (from, to), now);
        agendas.keep(doctor.id, wide, agenda, now);
        Ok(occupancy)
    }

    /// Listings of one doctor under setups that need not be saved (a proposed schedule, an extra
    /// period of time off), one per `(doctor, time_off)` variant, over `days` dates from
    /// `first`. Each variant's `time_off` replaces the stored one; the doctor's occupancy (holds
    /// and appointments) is read once, as [`Self::slots`] reads it, and shared by all variants.
    /// Every variant must be the same doctor.
    pub async fn listings_for(
        &self,
        variants: &[(&Doctor, &[TimeOff])],
        first: Date,
        days: u16,
    ) -> BookingResult<Vec<Vec<SlotView>>> {
        if !(1..=MAX_LISTING_DAYS).contains(&days) {
            return Err(BookingError::validation(format!(
                "days must be between 1 and {MAX_LISTING_DAYS}"
            )));
        }
        let Some((doctor, _)) = variants.first() else {
            return Ok(Vec::new());
        };
        if variants.iter().any(|(other, _)| other.id != doctor.id) {
            return Err(BookingError::validation(
                "listings to compare must be of one doctor",
            ));
        }
        let now = self.clock.now();
        let (from, to) = listing_window(first, days)?;
        let mut occupancy = self.bookings.occupancy(&[doctor.id], from, to, now).await?;
        occupancy.retain(|o| o.doctor_id == doctor.id);
        occupancy.sort_by_key(|o| o.start);
        Ok(variants
            .iter()
            .map(|(variant, time_off)| {
                doctor_listing(variant, time_off, &occupancy, first, days, now)
            })
            .collect())
    }

    /// Holds the slot of `doctor_id` starting at `start` for `patient_id`, asked by `actor`.
    /// Repeating the request while the hold lives returns the same hold (with `created` false).
    pub async fn hold(
        &self,
        actor: &Actor,
        patient_id: UserId,
        doctor_id: DoctorId,
        start: Timestamp,
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
        if let Some(agendas) = &self.agendas {
            for event in &recorded.slots {
                agendas.follow(&DomainEvent::Slot(*event));
            }
        }
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

/// The bookable slots of one doctor on `days` dates from `first` (dates in the doctor's zone)
/// with their status, as seen at `now`: slots before the minimum notice or beyond the horizon are
/// left out, and so are free slots of a day that reached the doctor's daily maximum.
/// `time_off` and `occupancy` must be the doctor's, and `occupancy` sorted by start.
pub fn doctor_listing(
    doctor: &Doctor,
    time_off: &[TimeOff],
    occupancy: &[Occupancy],
    first: Date,
    days: u16,
    now: Timestamp,
) -> Vec<SlotView> {
    let rules = &doctor.schedule.rules;
    let tz = doctor.time_zone.tz();
    let grid = SlotGrid::new(&doctor.schedule, tz, time_off);
    let (earliest, latest) = rules.bookable_window(now);
    let mut views = Vec::new();
    let mut day = first;
    for _ in 0..days {
        let day_slots = grid.for_day(day);
        let full = match (rules.max_per_day, grid.day_bounds(day)) {
            (Some(max), Some((day_start, day_end))) => {
                let taken = occupancy
                    .iter()
                    .filter(|o| o.start >= day_start && o.start < day_end)
                    .count();
                taken >= usize::from(max)
            }
            _ => false,
        };
        for slot in day_slots {
            if slot.start < earliest || slot.start > latest {
                continue;
            }
            let status = status_of(&slot.claim(rules), occupancy);
            if full && status == SlotStatus::Available {
                continue;
            }
            views.push(SlotView {
                start: slot.start,
                end: slot.end,
                status,
            });
        }
        match day.tomorrow() {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    views
}

/// The instants whose occupancy and time off a listing of `days` dates from `first` needs: one
/// window wide enough for every doctor's zone (UTC offsets stay within a day) and for buffers
/// around the first and last slot.
fn listing_window(first: Date, days: u16) -> BookingResult<(Timestamp, Timestamp)> {
    let invalid_window = || BookingError::validation("date is out of range");
    let last = last_date(first, days).ok_or_else(invalid_window)?;
    let from = first
        .yesterday()
        .ok()
        .and_then(utc_midnight)
        .ok_or_else(invalid_window)?;
    let to = last
        .tomorrow()
        .ok()
        .and_then(utc_midnight)
        .ok_or_else(invalid_window)?;
    Ok((from, to))
}

fn utc_midnight(date: Date) -> Option<Timestamp> {
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|zoned| zoned.timestamp())
}

/// The status of a slot whose agenda interval is `claim`, given occupancy sorted by start:
/// booked beats held beats available.
fn status_of(claim: &(Timestamp, Timestamp), occupancy: &[Occupancy]) -> SlotStatus {
    let (start, end) = *claim;
    // A doctor's occupancy never overlaps itself, so sorted by start it is sorted by end too.
    let first_candidate = occupancy.partition_point(|o| o.end <= start);
    let mut status = SlotStatus::Available;
    for o in occupancy[first_candidate..]
        .iter()
        .take_while(|o| o.start < end)
    {
        if o.end > start {
            if o.status == SlotStatus::Booked {
                return SlotStatus::Booked;
            }
            status = SlotStatus::Held;
        }
    }
    status
}
