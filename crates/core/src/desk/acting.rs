//! Booking doors that serve both a patient acting for themselves and the desk acting for a
//! patient. Every request is first tried as the caller's own (no extra read for a patient); a
//! hold or appointment that is not the caller's is then looked up, and if the caller works the
//! desk (their role as stored now, so a new receptionist needs no new token) the same booking
//! service acts in the patient's name, with the receptionist as the audited actor.

use jiff::Timestamp;

use super::FrontDesk;
use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::booking::{Appointment, Hold, Reason};
use crate::booking_service::HoldPurpose;
use crate::error::{BookingError, BookingResult};
use crate::ids::{AppointmentId, DoctorId, HoldId, UserId};
use crate::ports::{Booked, Claimed};

impl FrontDesk {
    /// Holds a slot for `patient_id` (the desk, for a patient) or for the caller.
    pub async fn hold(
        &self,
        actor: &Actor,
        caller: UserId,
        patient_id: Option<UserId>,
        doctor_id: DoctorId,
        start: Timestamp,
        purpose: HoldPurpose,
    ) -> BookingResult<Claimed> {
        match patient_id {
            Some(patient) if patient != caller => {
                let actor = self.as_desk(actor, caller).await?;
                // Only a patient's account: never a staff member's.
                self.desk
                    .patient_card(patient)
                    .await?
                    .filter(|card| card.user.role == crate::identity::Role::Patient)
                    .ok_or(BookingError::NotFound("patient"))?;
                self.bookings
                    .hold(&actor, patient, doctor_id, start, purpose)
                    .await
            }
            _ => {
                self.bookings
                    .hold(actor, caller, doctor_id, start, purpose)
                    .await
            }
        }
    }

    /// The patient whose hold `hold_id` is and the desk member's actor, when it is not the
    /// caller's own and the caller works the desk; `HoldNotFound` otherwise (nothing to retry).
    async fn holder_for_desk(
        &self,
        actor: &Actor,
        caller: UserId,
        hold_id: HoldId,
    ) -> BookingResult<(UserId, Actor)> {
        let hold = self
            .bookings
            .any_hold(hold_id)
            .await?
            .filter(|hold| hold.patient_id != caller)
            .ok_or(BookingError::HoldNotFound)?;
        let actor = self
            .as_desk(actor, caller)
            .await
            .map_err(|_| BookingError::HoldNotFound)?;
        Ok((hold.patient_id, actor))
    }

    /// The patient whose appointment `appointment_id` is, when it is not the caller's own and
    /// the caller works the desk; `NotFound` otherwise.
    async fn attendee_for_desk(
        &self,
        actor: &Actor,
        caller: UserId,
        appointment_id: AppointmentId,
    ) -> BookingResult<(UserId, Actor)> {
        let not_found = || BookingError::NotFound("appointment");
        let appointment = self
            .bookings
            .any_appointment(appointment_id)
            .await?
            .filter(|appointment| appointment.patient_id != caller)
            .ok_or_else(not_found)?;
        let actor = self.as_desk(actor, caller).await.map_err(|_| not_found())?;
        Ok((appointment.patient_id, actor))
    }

    /// A hold as its patient or the desk sees it.
    pub async fn hold_of(
        &self,
        actor: &Actor,
        caller: UserId,
        hold_id: HoldId,
    ) -> BookingResult<Hold> {
        match self.bookings.hold_of(caller, hold_id).await {
            Err(refused @ BookingError::HoldNotFound) => {
                let Ok((patient, _)) = self.holder_for_desk(actor, caller, hold_id).await else {
                    return Err(refused);
                };
                self.bookings.hold_of(patient, hold_id).await
            }
            other => other,
        }
    }

    /// Books the held slot, for the hold's patient.
    pub async fn confirm(
        &self,
        actor: &Actor,
        caller: UserId,
        hold_id: HoldId,
        reason: Reason,
    ) -> BookingResult<Booked> {
        match self
            .bookings
            .confirm(actor, caller, hold_id, reason.clone())
            .await
        {
            Err(refused @ BookingError::HoldNotFound) => {
                let Ok((patient, actor)) = self.holder_for_desk(actor, caller, hold_id).await
                else {
                    return Err(refused);
                };
                self.bookings
                    .confirm(&actor, patient, hold_id, reason)
                    .await
            }
            other => other,
        }
    }

    /// Holds `start` with `doctor_id` and books it at once, for `patient_id` (the desk, for a
    /// patient) or the caller: for doors without a separate hold step (FHIR). The hold is a real
    /// one, so the slot is claimed exactly as a hold is; a hold the confirmation refused is given
    /// back at once (it would lapse in minutes anyway). Repeated while the caller's hold of the
    /// slot is still live, it books that hold.
    pub async fn book_slot(
        &self,
        actor: &Actor,
        caller: UserId,
        patient_id: Option<UserId>,
        doctor_id: DoctorId,
        start: Timestamp,
        reason: Reason,
    ) -> BookingResult<Booked> {
        let purpose = HoldPurpose::NewAppointment;
        let claimed = self
            .hold(actor, caller, patient_id, doctor_id, start, purpose)
            .await?;
        let booked = self.confirm(actor, caller, claimed.hold.id, reason).await;
        if booked.is_err() && claimed.created {
            // Best effort: the hold lapses by itself if this fails too.
            let _ = self.release(actor, caller, claimed.hold.id).await;
        }
        booked
    }

    /// Gives a hold back.
    pub async fn release(
        &self,
        actor: &Actor,
        caller: UserId,
        hold_id: HoldId,
    ) -> BookingResult<()> {
        match self.bookings.release(actor, caller, hold_id).await {
            Err(refused @ BookingError::HoldNotFound) => {
                let Ok((patient, actor)) = self.holder_for_desk(actor, caller, hold_id).await
                else {
                    return Err(refused);
                };
                self.bookings.release(&actor, patient, hold_id).await
            }
            other => other,
        }
    }

    /// Cancels an appointment, for its patient.
    pub async fn cancel(
        &self,
        actor: &Actor,
        caller: UserId,
        appointment_id: AppointmentId,
    ) -> BookingResult<Appointment> {
        match self.bookings.cancel(actor, caller, appointment_id).await {
            Err(refused @ BookingError::NotFound(_)) => {
                let Ok((patient, actor)) =
                    self.attendee_for_desk(actor, caller, appointment_id).await
                else {
                    return Err(refused);
                };
                self.bookings.cancel(&actor, patient, appointment_id).await
            }
            other => other,
        }
    }

    /// Moves an appointment to the slot of a hold of the same patient.
    pub async fn reschedule(
        &self,
        actor: &Actor,
        caller: UserId,
        appointment_id: AppointmentId,
        hold_id: HoldId,
    ) -> BookingResult<Appointment> {
        match self
            .bookings
            .reschedule(actor, caller, appointment_id, hold_id)
            .await
        {
            Err(refused @ (BookingError::NotFound(_) | BookingError::HoldNotFound)) => {
                let Ok((patient, actor)) =
                    self.attendee_for_desk(actor, caller, appointment_id).await
                else {
                    return Err(refused);
                };
                self.bookings
                    .reschedule(&actor, patient, appointment_id, hold_id)
                    .await
            }
            other => other,
        }
    }

    /// An appointment as its patient or the desk sees it.
    pub async fn appointment(
        &self,
        actor: &Actor,
        caller: UserId,
        appointment_id: AppointmentId,
    ) -> BookingResult<Appointment> {
        match self.bookings.appointment_of(caller, appointment_id).await {
            Err(refused @ BookingError::NotFound(_)) => {
                let Ok((patient, _)) = self.attendee_for_desk(actor, caller, appointment_id).await
                else {
                    return Err(refused);
                };
                self.bookings.appointment_of(patient, appointment_id).await
            }
            other => other,
        }
    }

    /// A patient's appointments, soonest first, for the desk (to move or cancel one).
    /// The list is audited.
    pub async fn appointments_of(
        &self,
        actor: &Actor,
        caller: UserId,
        patient_id: UserId,
    ) -> BookingResult<Vec<Appointment>> {
        let actor = &self.as_desk(actor, caller).await?;
        let appointments = self.bookings.appointments_of(patient_id).await?;
        let event = AuditEvent::new(
            AuditAction::AppointmentList,
            "patient",
            Some(patient_id.to_string()),
        )
        .with_patient(patient_id)
        .with_detail(format!("{} appointments", appointments.len()));
        self.audit.record(actor, event).await?;
        Ok(appointments)
    }
}
