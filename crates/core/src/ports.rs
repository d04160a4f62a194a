//! The ports: what the domain needs from storage and delivery, implemented by adapters
//! (`medibook-store`, `medibook-integrations`). Every method that changes data is one atomic
//! transaction in the implementation.

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};

use crate::audit::{Actor, AuditEntry};
use crate::booking::{Agenda, Appointment, Hold, Occupancy, Reason};
use crate::clinic::{Doctor, Specialty, SpecialtySummary};
use crate::contention::ClaimInTheWay;
use crate::error::BookingResult;
use crate::events::{DomainEvent, EventBus, SlotEvent};
use crate::identity::{Identifier, User};
use crate::ids::{AppointmentId, DoctorId, HoldId, OfferId, SpecialtyId, UserId, WaitlistEntryId};
use crate::schedule::TimeOff;
use crate::slots::Slot;
use crate::waitlist::{NewEntry, WaitlistEntry, WaitlistOffer};

/// What one committed change recorded for listeners: slot changes in order, the waitlist
/// offers it made, and the audit entries it wrote (in the same transaction).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Slot changes, in order.
    pub slots: Vec<SlotEvent>,
    /// Offers made to waiting patients.
    pub offers: Vec<WaitlistOffer>,
    /// Audit entries committed with the change.
    pub audit: Vec<AuditEntry>,
    /// Doctors whose profile, schedule or time off it changed.
    pub doctors: Vec<DoctorId>,
}

impl Recorded {
    /// Appends what another step of the same change recorded.
    pub fn extend(&mut self, other: Recorded) {
        self.slots.extend(other.slots);
        self.offers.extend(other.offers);
        self.audit.extend(other.audit);
        self.doctors.extend(other.doctors);
    }

    /// Whether any slot became available.
    pub fn freed_any(&self) -> bool {
        self.slots
            .iter()
            .any(|e| e.status == crate::booking::SlotStatus::Available)
    }
}

/// Publishes on `bus` what one committed change recorded: its slot changes in order, then its offers,
/// then the doctors whose data it changed.
pub fn publish_recorded(bus: &dyn EventBus, recorded: &Recorded) {
    for event in &recorded.slots {
        bus.publish(DomainEvent::Slot(*event));
    }
    for offer in &recorded.offers {
        bus.publish(DomainEvent::WaitlistOffer(*offer));
    }
    for doctor_id in &recorded.doctors {
        bus.publish(DomainEvent::Doctor {
            doctor_id: *doctor_id,
        });
    }
}

/// The clinic's catalogue.
#[async_trait]
pub trait ClinicRepository: Send + Sync + 'static {
    /// All specialties with their doctor counts, by name.
    async fn specialties(&self) -> BookingResult<Vec<SpecialtySummary>>;
    /// One specialty.
    async fn specialty(&self, id: SpecialtyId) -> BookingResult<Option<Specialty>>;
    /// All doctors, by name.
    async fn doctors(&self) -> BookingResult<Vec<Doctor>>;
    /// One doctor.
    async fn doctor(&self, id: DoctorId) -> BookingResult<Option<Doctor>>;
    /// Time off of the given doctors overlapping `[from, to)`.
    async fn time_off(
        &self,
        doctors: &[DoctorId],
        from: Timestamp,
        to: Timestamp,
    ) -> BookingResult<Vec<TimeOff>>;
    /// Adds a specialty.
    async fn add_specialty(&self, specialty: &Specialty) -> BookingResult<()>;
    /// Adds a doctor.
    async fn add_doctor(&self, doctor: &Doctor) -> BookingResult<()>;
    /// Adds time off.
    async fn add_time_off(&self, time_off: &TimeOff) -> BookingResult<()>;
    /// Whether the clinic has no doctors and no specialties yet.
    async fn is_empty(&self) -> BookingResult<bool>;
}

/// Everything needed to claim a slot for a new hold, checked and written atomically.
#[derive(Clone, Debug)]
pub struct HoldClaim {
    /// Id for the new hold.
    pub hold_id: HoldId,
    /// Whose slot.
    pub doctor_id: DoctorId,
    /// Who holds it.
    pub patient_id: UserId,
    /// The visit.
    pub slot: Slot,
    /// The agenda interval it occupies (visit plus buffers).
    pub claim: (Timestamp, Timestamp),
    /// When the hold lapses.
    pub expires_at: Timestamp,
    /// The doctor's daily maximum, if any.
    pub day_limit: Option<DayLimit>,
    /// How many unexpired holds one patient may have at once.
    pub max_holds_per_patient: u16,
    /// Who asks, for the audit entry written with the hold.
    pub actor: Actor,
}

/// A doctor's daily maximum of appointments and holds, for the calendar day of one slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayLimit {
    /// The doctor's calendar day, `[start, end)`.
    pub day: (Timestamp, Timestamp),
    /// At most this many claims may start within it.
    pub max: u16,
}

/// The result of claiming a hold.
#[derive(Clone, Debug)]
pub struct Claimed {
    /// The hold.
    pub hold: Hold,
    /// False when the patient already held exactly this slot and that hold was returned.
    pub created: bool,
    /// What this claim recorded (lapsed holds it freed, offers, the new hold).
    pub events: Recorded,
}

/// A request to turn a hold into an appointment.
#[derive(Clone, Debug)]
pub struct Confirmation {
    /// The hold token.
    pub hold_id: HoldId,
    /// Who confirms; must be the holder.
    pub patient_id: UserId,
    /// Id for the appointment, if one is created.
    pub appointment_id: AppointmentId,
    /// Why the patient comes.
    pub reason: Reason,
    /// How many scheduled, upcoming appointments one patient may have.
    pub max_active_appointments: u16,
    /// The doctor's daily maximum on the hold's day, checked if the lapsed hold must re-claim.
    pub day_limit: Option<DayLimit>,
    /// Who asks, for the audit entry written with the appointment.
    pub actor: Actor,
}

/// A request to move an appointment to the slot of a hold.
#[derive(Clone, Debug)]
pub struct Reschedule {
    /// The appointment to move.
    pub appointment_id: AppointmentId,
    /// A hold on the new slot.
    pub hold_id: HoldId,
    /// Who asks; must own both.
    pub patient_id: UserId,
    /// The doctor's daily maximum on the new slot's day, checked if the lapsed hold must re-claim.
    pub day_limit: Option<DayLimit>,
    /// Who asks, for the audit entry written with the move.
    pub actor: Actor,
}

/// The result of a confirmation or a reschedule.
#[derive(Clone, Debug)]
pub struct Booked {
    /// The appointment as it is now.
    pub appointment: Appointment,
    /// False when the request was a repeat and nothing changed.
    pub changed: bool,
    /// For a reschedule that changed something: the visit's previous interval.
    pub moved_from: Option<Slot>,
    /// What this operation recorded, in order.
    pub events: Recorded,
}

/// Holds and appointments, with the no-double-booking invariant enforced by the database.
///
/// Each command is one transaction: the change, its slot events, outbox messages, waitlist
/// offers and its audit entries (decided by [`crate::booking_audit`], stamped with the
/// command's actor) commit together or not at all.
#[async_trait]
pub trait BookingRepository: Send + Sync + 'static {
    /// A live claim on the doctor's agenda overlapping `claim` that refuses `patient_id` (any
    /// claim but the patient's own hold), if there is one, read in one plain statement without
    /// taking any write lock: a loser of a race for a slot is answered from it without queueing
    /// behind the writers. Claims only go away by release or expiry, so what it finds was in
    /// the way when read.
    async fn claim_in_the_way(
        &self,
        doctor_id: DoctorId,
        claim: (Timestamp, Timestamp),
        patient_id: UserId,
        now: Timestamp,
    ) -> BookingResult<Option<ClaimInTheWay>>;
    /// Claims a slot: frees expired holds overlapping it, checks that nothing occupies it and the
    /// limits allow it, and writes the hold; `SlotTaken` if anything occupies it.
    async fn claim_hold(&self, claim: &HoldClaim, now: Timestamp) -> BookingResult<Claimed>;
    /// Releases the patient's hold; returns what was recorded (no slot change if it was
    /// already released or expired). A freed slot may be offered to the waitlist in the same
    /// step.
    async fn release_hold(
        &self,
        hold_id: HoldId,
        patient_id: UserId,
        actor: &Actor,
        now: Timestamp,
    ) -> BookingResult<Recorded>;
    /// Turns a hold into an appointment (or returns the one it already became).
    async fn confirm_hold(
        &self,
        confirmation: &Confirmation,
        now: Timestamp,
    ) -> BookingResult<Booked>;
    /// Cancels the patient's appointment and frees its time; a cancellation closer to the
    /// start than `late_window` is recorded as late.
    async fn cancel_appointment(
        &self,
        appointment_id: AppointmentId,
        patient_id: UserId,
        late_window: SignedDuration,
        actor: &Actor,
        now: Timestamp,
    ) -> BookingResult<Booked>;
    /// Moves the patient's appointment to the slot of one of their holds, in one transaction.
    async fn reschedule_appointment(
        &self,
        request: &Reschedule,
        now: Timestamp,
    ) -> BookingResult<Booked>;
    /// One hold.
    async fn hold(&self, id: HoldId) -> BookingResult<Option<Hold>>;
    /// One appointment.
    async fn appointment(&self, id: AppointmentId) -> BookingResult<Option<Appointment>>;
    /// A patient's appointments, soonest first.
    async fn appointments_of_patient(&self, patient_id: UserId) -> BookingResult<Vec<Appointment>>;
    /// How many scheduled appointments of the patient start after `now`.
    async fn upcoming_appointments(
        &self,
        patient_id: UserId,
        now: Timestamp,
    ) -> BookingResult<u32> {
        let all = self.appointments_of_patient(patient_id).await?;
        let upcoming = all
            .iter()
            .filter(|a| a.status == crate::booking::AppointmentStatus::Scheduled && a.start > now)
            .count();
        Ok(u32::try_from(upcoming).unwrap_or(u32::MAX))
    }
    /// What occupies the given doctors' time in `[from, to)` at `now` (one query for all).
    async fn occupancy(
        &self,
        doctors: &[DoctorId],
        from: Timestamp,
        to: Timestamp,
        now: Timestamp,
    ) -> BookingResult<Vec<Occupancy>>;
    /// The doctor's claims overlapping `[from, to)`, lapsed or not, with the doctor's latest slot
    /// event sequence number, read in one statement (for [`crate::agenda_cache`]).
    async fn agenda(
        &self,
        doctor_id: DoctorId,
        from: Timestamp,
        to: Timestamp,
    ) -> BookingResult<Agenda>;
    /// Marks holds that lapsed by `now` as expired and frees their slots (offering them to the
    /// waitlist); returns what was recorded.
    async fn expire_holds(&self, now: Timestamp) -> BookingResult<Recorded>;
}

/// The outcome of checking a one-time code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeCheck {
    /// The code matched and is now used up.
    Accepted,
    /// Wrong, expired, used, locked after too many attempts, or never issued.
    Rejected,
}

/// Sign-in codes and user accounts.
#[async_trait]
pub trait IdentityRepository: Send + Sync + 'static {
    /// Stores the keyed hash of a new code for `identifier_key`, replacing earlier ones.
    async fn save_code(
        &self,
        identifier_key: &str,
        code_hash: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> BookingResult<()>;
    /// Checks a code hash against the live code of `identifier_key`, atomically: a match uses
    /// the code up, a mismatch counts an attempt, and a code with `max_attempts` failures is dead.
    async fn check_code(
        &self,
        identifier_key: &str,
        code_hash: &str,
        max_attempts: u16,
        now: Timestamp,
    ) -> BookingResult<CodeCheck>;
    /// The user with this email or phone, created as a patient if new.
    async fn user_for(&self, identifier: &Identifier, now: Timestamp) -> BookingResult<User>;
    /// One user.
    async fn user(&self, id: UserId) -> BookingResult<Option<User>>;
    /// Sets a user's display name.
    async fn rename(&self, id: UserId, name: &str) -> BookingResult<()>;
}

/// Delivers one-time codes (email, SMS, or the development log).
#[async_trait]
pub trait CodeSender: Send + Sync + 'static {
    /// Sends `code` to `to`.
    async fn send_code(&self, to: &Identifier, code: &str) -> BookingResult<()>;
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
