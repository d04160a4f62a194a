//! Appointments and patients as whoever asks may see them, for a door that serves patients,
//! doctors and the desk alike (FHIR): a patient sees their own, a doctor their own agenda and
//! the patients on it, the desk (receptionists and admins) every appointment and patient. Roles
//! are read as stored now. Anything the caller may not see is `NotFound`, never `Forbidden`,
//! so ids of other people's records are not confirmed. Reads of someone else's data are
//! audited, once per patient concerned.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};

use super::FrontDesk;
use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::booking::{Appointment, AppointmentStatus};
use crate::error::{BookingError, BookingResult};
use crate::identity::{Role, User};
use crate::ids::{AppointmentId, DoctorId, UserId};

/// Widest window one search of the agenda or the clinic's appointments may cover.
pub const MAX_SEARCH_DAYS: i64 = 92;
/// The window a search of the agenda or the clinic's appointments covers when none is given:
/// from the start of today (UTC) this many days on.
pub const DEFAULT_SEARCH_DAYS: i64 = 31;

/// Which appointments to list; every field narrows the result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppointmentSearch {
    /// Of this patient.
    pub patient: Option<UserId>,
    /// With this doctor.
    pub doctor: Option<DoctorId>,
    /// Starting at or after.
    pub from: Option<Timestamp>,
    /// Starting before.
    pub to: Option<Timestamp>,
    /// In one of these states (any when empty).
    pub statuses: Vec<AppointmentStatus>,
}

impl AppointmentSearch {
    fn matches(&self, appointment: &Appointment) -> bool {
        self.patient.is_none_or(|p| appointment.patient_id == p)
            && self.doctor.is_none_or(|d| appointment.doctor_id == d)
            && self.from.is_none_or(|from| appointment.start >= from)
            && self.to.is_none_or(|to| appointment.start < to)
            && (self.statuses.is_empty() || self.statuses.contains(&appointment.status))
    }

    /// The window a search through the agenda covers: as asked, or from the start of today
    /// for [`DEFAULT_SEARCH_DAYS`]; at most [`MAX_SEARCH_DAYS`].
    fn window(&self, now: Timestamp) -> BookingResult<(Timestamp, Timestamp)> {
        let day = SignedDuration::from_hours(24);
        let today = now
            .as_second()
            .checked_div(86_400)
            .and_then(|days| Timestamp::from_second(days * 86_400).ok())
            .unwrap_or(now);
        let from = self.from.unwrap_or(today);
        let to = match self.to {
            Some(to) => to,
            None => from
                .checked_add(day * i32::try_from(DEFAULT_SEARCH_DAYS).unwrap_or(31))
                .map_err(|_| BookingError::validation("date is out of range"))?,
        };
        if to.duration_since(from) > day * i32::try_from(MAX_SEARCH_DAYS).unwrap_or(92) {
            return Err(BookingError::validation(format!(
                "a search of the agenda covers at most {MAX_SEARCH_DAYS} days"
            )));
        }
        Ok((from, to))
    }
}

/// Who the caller is for what they may see.
enum Seer {
    Patient,
    Doctor(DoctorId),
    Desk(Role),
}

impl FrontDesk {
    async fn seer(&self, caller: UserId) -> BookingResult<(User, Seer)> {
        let user = self
            .identities
            .user(caller)
            .await?
            .ok_or(BookingError::Unauthorized)?;
        let seer = match (user.role, user.doctor_id) {
            (role, _) if role.works_the_desk() => Seer::Desk(role),
            (Role::Doctor, Some(doctor)) => Seer::Doctor(doctor),
            _ => Seer::Patient,
        };
        Ok((user, seer))
    }

    /// One appointment, if the caller may see it: their own, one on their agenda, or any for
    /// the desk. Someone else's read is audited.
    pub async fn visible_appointment(
        &self,
        actor: &Actor,
        caller: UserId,
        appointment_id: AppointmentId,
    ) -> BookingResult<Appointment> {
        let not_found = || BookingError::NotFound("appointment");
        let appointment = self
            .bookings
            .any_appointment(appointment_id)
            .await?
            .ok_or_else(not_found)?;
        let (_, seer) = self.seer(caller).await?;
        let actor = match seer {
            _ if appointment.patient_id == caller => actor.clone(),
            Seer::Doctor(doctor) if doctor == appointment.doctor_id => actor.clone(),
            Seer::Desk(role) => Actor {
                role: Some(role),
                ..actor.clone()
            },
            _ => return Err(not_found()),
        };
        self.audit
            .record(
                &actor,
                AuditEvent::appointment(AuditAction::AppointmentRead, &appointment),
            )
            .await?;
        Ok(appointment)
    }

    /// The appointments the caller may see that `search` matches, by start: a patient's own
    /// (every one they have), a doctor's agenda, or the clinic's for the desk. The agenda and
    /// the clinic are searched over a window (see [`AppointmentSearch`]) and list the
    /// appointments that are not cancelled, except the desk's search of one patient, which
    /// lists all of theirs.
    pub async fn visible_appointments(
        &self,
        actor: &Actor,
        caller: UserId,
        search: &AppointmentSearch,
    ) -> BookingResult<Vec<Appointment>> {
        let (_, seer) = self.seer(caller).await?;
        let (actor, mut found) = match seer {
            Seer::Patient => {
                let own = self.bookings.appointments_of(caller).await?;
                (actor.clone(), own)
            }
            Seer::Desk(role) if search.patient.is_some() => {
                let patient = search.patient.unwrap_or(caller);
                let actor = Actor {
                    role: Some(role),
                    ..actor.clone()
                };
                (actor, self.bookings.appointments_of(patient).await?)
            }
            Seer::Desk(role) => {
                let (from, to) = search.window(self.clock.now())?;
                let actor = Actor {
                    role: Some(role),
                    ..actor.clone()
                };
                let rows = self.desk.desk_rows(from, to).await?;
                (actor, rows.into_iter().map(|r| r.appointment).collect())
            }
            Seer::Doctor(doctor) => {
                if search.doctor.is_some_and(|d| d != doctor) {
                    return Ok(Vec::new());
                }
                let (from, to) = search.window(self.clock.now())?;
                let rows = self.desk.desk_rows(from, to).await?;
                let own = rows
                    .into_iter()
                    .map(|r| r.appointment)
                    .filter(|a| a.doctor_id == doctor)
                    .collect();
                (actor.clone(), own)
            }
        };
        found.retain(|a| search.matches(a));
        found.sort_by_key(|a| (a.start, a.id));
        // Audited like the JSON API's lists: once per patient shown (the caller's own list
        // once, even when empty).
        let mut patients: BTreeSet<UserId> = found.iter().map(|a| a.patient_id).collect();
        if matches!(seer, Seer::Patient) {
            patients.insert(caller);
        }
        let events: Vec<AuditEvent> = patients
            .into_iter()
            .map(|p| {
                AuditEvent::new(AuditAction::AppointmentList, "patient", Some(p.to_string()))
                    .with_patient(p)
            })
            .collect();
        if !events.is_empty() {
            self.audit.record_all(&actor, events).await?;
        }
        Ok(found)
    }

    /// A patient's account and date of birth, if the caller may see them: their own, a patient
    /// on their agenda (any appointment with them, past or future), or any patient for the
    /// desk. Someone else's read is audited.
    pub async fn visible_patient(
        &self,
        actor: &Actor,
        caller: UserId,
        patient_id: UserId,
    ) -> BookingResult<super::PatientCard> {
        let not_found = || BookingError::NotFound("patient");
        let card = self
            .desk
            .patient_card(patient_id)
            .await?
            .ok_or_else(not_found)?;
        if patient_id == caller {
            return Ok(card);
        }
        let (_, seer) = self.seer(caller).await?;
        let actor = match seer {
            Seer::Desk(role) if card.user.role == Role::Patient => Actor {
                role: Some(role),
                ..actor.clone()
            },
            Seer::Doctor(doctor) => {
                let treats = self
                    .bookings
                    .appointments_of(patient_id)
                    .await?
                    .iter()
                    .any(|a| a.doctor_id == doctor);
                if !treats {
                    return Err(not_found());
                }
                actor.clone()
            }
            _ => return Err(not_found()),
        };
        let event = AuditEvent::new(
            AuditAction::PatientRecordRead,
            "patient",
            Some(patient_id.to_string()),
        )
        .with_patient(patient_id);
        self.audit.record(&actor, event).await?;
        Ok(card)
    }
}
