//! A doctor's own side of the clinic: their weekly schedule and time off, their agenda with
//! each patient's contact and history, and how visits went.

use jiff::Timestamp;
use jiff::civil::Date;

use super::{MAX_TIME_OFF_DAYS, MAX_TIME_OFF_REASON_CHARS, Staff, StaffMember, trail};
use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::booking::{Appointment, AppointmentStatus};
use crate::booking_service::MAX_LISTING_DAYS;
use crate::clinic::Doctor;
use crate::contact::text_field;
use crate::error::{BookingError, BookingResult};
use crate::events::DomainEvent;
use crate::identity::{Email, PhoneNumber};
use crate::ids::{AppointmentId, DoctorId, TimeOffId};
use crate::ports::publish_recorded;
use crate::schedule::{TimeOff, WeeklySchedule};
use crate::slots::{day_bounds, last_date};

/// How a visit went, as the doctor records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The visit took place.
    Completed,
    /// The patient did not come.
    NoShow,
}

impl Outcome {
    /// The appointment status it leads to.
    pub fn status(self) -> AppointmentStatus {
        match self {
            Self::Completed => AppointmentStatus::Completed,
            Self::NoShow => AppointmentStatus::NoShow,
        }
    }
}

/// Checks that `outcome` may be recorded for `appointment` at `now`: only a scheduled visit
/// that has started. Recording the same outcome again changes nothing (`Ok(false)`).
pub fn check_outcome(
    appointment: &Appointment,
    outcome: Outcome,
    now: Timestamp,
) -> BookingResult<bool> {
    match appointment.status {
        status if status == outcome.status() => Ok(false),
        AppointmentStatus::Scheduled if appointment.start <= now => Ok(true),
        AppointmentStatus::Scheduled => Err(BookingError::InvalidState(format!(
            "a visit can be marked {} only once it has started",
            outcome.status().as_str()
        ))),
        other => Err(BookingError::InvalidState(format!(
            "a {} appointment cannot be marked {}",
            other.as_str(),
            outcome.status().as_str()
        ))),
    }
}

/// A patient's record with the clinic (all doctors), as the doctor sees it in the agenda.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PatientHistory {
    /// Visits that took place.
    pub completed: u32,
    /// Visits the patient did not come to.
    pub no_shows: u32,
    /// Appointments the patient cancelled inside the late-cancellation window.
    pub late_cancellations: u32,
}

impl PatientHistory {
    /// Whether the patient missed or cancelled late at least once.
    pub fn has_missed(&self) -> bool {
        self.no_shows > 0 || self.late_cancellations > 0
    }
}

/// One appointment of a doctor's agenda with the patient's name and contact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgendaEntry {
    /// The appointment.
    pub appointment: Appointment,
    /// The patient's display name, if given.
    pub patient_name: Option<String>,
    /// The patient's email, if known.
    pub patient_email: Option<Email>,
    /// The patient's phone, if known.
    pub patient_phone: Option<PhoneNumber>,
    /// The patient's completed visits, no-shows and late cancellations with the clinic.
    pub patient_history: PatientHistory,
}

/// A doctor's agenda over some days.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agenda {
    /// Whose agenda.
    pub doctor: Doctor,
    /// First instant covered.
    pub from: Timestamp,
    /// First instant after the covered days.
    pub to: Timestamp,
    /// The appointments starting in `[from, to)`, every status, by start.
    pub entries: Vec<AgendaEntry>,
}

impl Staff {
    /// The weekly schedule of the doctor in scope.
    pub async fn schedule(
        &self,
        member: &StaffMember,
        requested: Option<DoctorId>,
    ) -> BookingResult<Doctor> {
        self.doctor_in_scope(member, requested).await
    }

    /// Replaces the weekly schedule of the doctor in scope; slots follow at once. Booked
    /// appointments keep their time.
    pub async fn set_schedule(
        &self,
        member: &StaffMember,
        actor: &Actor,
        requested: Option<DoctorId>,
        schedule: WeeklySchedule,
    ) -> BookingResult<Doctor> {
        let doctor = self.doctor_in_scope(member, requested).await?;
        let schedule = schedule.validate()?;
        let now = self.clock.now();
        let audit = trail::stamped(
            actor,
            now,
            vec![AuditEvent::doctor(AuditAction::ScheduleUpdate, doctor.id)],
        );
        let recorded = self
            .staff
            .set_schedule(doctor.id, &schedule, now, &audit)
            .await?
            .ok_or(BookingError::NotFound("doctor"))?;
        publish_recorded(self.events.as_ref(), &recorded);
        Ok(Doctor { schedule, ..doctor })
    }

    /// The current and future time off of the doctor in scope.
    pub async fn time_off(
        &self,
        member: &StaffMember,
        requested: Option<DoctorId>,
    ) -> BookingResult<(DoctorId, Vec<TimeOff>)> {
        let doctor = self.doctor_in_scope(member, requested).await?;
        let list = self.staff.time_off_of(doctor.id, self.clock.now()).await?;
        Ok((doctor.id, list))
    }

    /// Adds time off `[start, end)` for the doctor in scope. Appointments already booked in it
    /// stay; no new slots are offered in it.
    pub async fn add_time_off(
        &self,
        member: &StaffMember,
        actor: &Actor,
        requested: Option<DoctorId>,
        start: Timestamp,
        end: Timestamp,
        reason: Option<&str>,
    ) -> BookingResult<TimeOff> {
        let doctor = self.doctor_in_scope(member, requested).await?;
        if end <= start {
            return Err(BookingError::validation("end must be later than start"));
        }
        if end.duration_since(start).as_hours() > 24 * MAX_TIME_OFF_DAYS {
            return Err(BookingError::validation(format!(
                "one period of time off may last at most {MAX_TIME_OFF_DAYS} days"
            )));
        }
        let reason = match reason.map(str::trim).filter(|r| !r.is_empty()) {
            Some(reason) => text_field("reason", reason, MAX_TIME_OFF_REASON_CHARS, false)?,
            None => String::new(),
        };
        let time_off = TimeOff {
            id: TimeOffId::generate(),
            doctor_id: doctor.id,
            start,
            end,
            reason,
        };
        let now = self.clock.now();
        let audit = trail::stamped(
            actor,
            now,
            vec![trail::time_off(AuditAction::TimeOffCreate, &time_off)],
        );
        let recorded = self.staff.insert_time_off(&time_off, now, &audit).await?;
        publish_recorded(self.events.as_ref(), &recorded);
        Ok(time_off)
    }

    /// Removes a period of time off of a doctor `member` may act for.
    pub async fn remove_time_off(
        &self,
        member: &StaffMember,
        actor: &Actor,
        id: TimeOffId,
    ) -> BookingResult<TimeOff> {
        let time_off = self
            .staff
            .time_off_by_id(id)
            .await?
            .filter(|t| member.may_act_for(t.doctor_id))
            .ok_or(BookingError::NotFound("time off"))?;
        let now = self.clock.now();
        let audit = trail::stamped(
            actor,
            now,
            vec![trail::time_off(AuditAction::TimeOffDelete, &time_off)],
        );
        let recorded = self
            .staff
            .delete_time_off(id, now, &audit)
            .await?
            .ok_or(BookingError::NotFound("time off"))?;
        publish_recorded(self.events.as_ref(), &recorded);
        Ok(time_off)
    }

    /// The appointments of the doctor in scope on `days` dates from `first` (in the doctor's
    /// zone), with the patients' names and contacts.
    pub async fn agenda(
        &self,
        member: &StaffMember,
        requested: Option<DoctorId>,
        first: Date,
        days: u16,
    ) -> BookingResult<Agenda> {
        if !(1..=MAX_LISTING_DAYS).contains(&days) {
            return Err(BookingError::validation(format!(
                "days must be between 1 and {MAX_LISTING_DAYS}"
            )));
        }
        let doctor = self.doctor_in_scope(member, requested).await?;
        let tz = doctor.time_zone.tz();
        let out_of_range = || BookingError::validation("from is out of range");
        let (from, _) = day_bounds(tz, first).ok_or_else(out_of_range)?;
        let after = last_date(first, days).ok_or_else(out_of_range)?;
        let (to, _) = day_bounds(tz, after).ok_or_else(out_of_range)?;
        let entries = self.staff.agenda(doctor.id, from, to).await?;
        Ok(Agenda {
            doctor,
            from,
            to,
            entries,
        })
    }

    /// Records how a visit went. Only the appointment's own doctor (or an admin) may, and only
    /// once it has started; recording the same outcome twice changes nothing (and is not
    /// audited again).
    pub async fn record_outcome(
        &self,
        member: &StaffMember,
        actor: &Actor,
        appointment_id: AppointmentId,
        outcome: Outcome,
    ) -> BookingResult<Appointment> {
        let appointment = self
            .bookings
            .appointment(appointment_id)
            .await?
            .filter(|a| member.may_act_for(a.doctor_id))
            .ok_or(BookingError::NotFound("appointment"))?;
        let now = self.clock.now();
        if !check_outcome(&appointment, outcome, now)? {
            return Ok(appointment);
        }
        let updated = Appointment {
            status: outcome.status(),
            updated_at: now,
            ..appointment
        };
        let audit = trail::stamped(actor, now, vec![trail::outcome_recorded(&updated, outcome)]);
        if !self
            .staff
            .record_outcome(appointment_id, outcome.status(), now, &audit)
            .await?
        {
            // Someone changed it meanwhile: judge again against what is stored now.
            let current = self
                .bookings
                .appointment(appointment_id)
                .await?
                .ok_or(BookingError::NotFound("appointment"))?;
            check_outcome(&current, outcome, now)?;
            return Ok(current);
        }
        self.events.publish(DomainEvent::Appointment {
            appointment_id: updated.id,
            doctor_id: updated.doctor_id,
            patient_id: updated.patient_id,
            status: updated.status,
        });
        Ok(updated)
    }
}

#[cfg(test)]
mod tests {
    use crate::booking::Reason;
    use crate::ids::UserId;

    use super::*;

    fn appointment(status: AppointmentStatus, start: Timestamp) -> Appointment {
        Appointment {
            id: AppointmentId::generate(),
            doctor_id: DoctorId::generate(),
            patient_id: UserId::generate(),
            start,
            end: start,
            status,
            reason: Reason::parse("check-up").unwrap(),
            notes: None,
            created_at: start,
            updated_at: start,
            sequence: 0,
            late_cancellation: false,
        }
    }

    #[test]
    fn outcomes_need_a_started_scheduled_visit() {
        let now: Timestamp = "2027-03-01T10:00:00Z".parse().unwrap();
        let earlier: Timestamp = "2027-03-01T09:30:00Z".parse().unwrap();
        let later: Timestamp = "2027-03-01T10:30:00Z".parse().unwrap();
        let started = appointment(AppointmentStatus::Scheduled, earlier);
        assert_eq!(check_outcome(&started, Outcome::Completed, now), Ok(true));
        assert_eq!(check_outcome(&started, Outcome::NoShow, now), Ok(true));
        let upcoming = appointment(AppointmentStatus::Scheduled, later);
        assert!(check_outcome(&upcoming, Outcome::NoShow, now).is_err());
        let done = appointment(AppointmentStatus::Completed, earlier);
        assert_eq!(check_outcome(&done, Outcome::Completed, now), Ok(false));
        assert!(check_outcome(&done, Outcome::NoShow, now).is_err());
        let cancelled = appointment(AppointmentStatus::Cancelled, earlier);
        assert!(check_outcome(&cancelled, Outcome::Completed, now).is_err());
    }
}
