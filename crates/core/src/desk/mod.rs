//! The front desk: receptionists (and admins) find or register the patient on the phone, book,
//! move and cancel for them, and run the clinic's day — who is expected, who has arrived.
//!
//! The desk never sees clinical text: its views carry names, contacts and times only. Acting
//! for a patient goes through the same booking service as the patient's own request, so the
//! same rules, notifications and no-double-booking guarantees hold; the audit trail names the
//! receptionist as the actor and the patient as the person concerned.

mod acting;
mod seen;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::Date;

use crate::audit::{Actor, AuditAction, AuditEntry, AuditEvent, AuditTrail};
use crate::booking::{Appointment, AppointmentStatus};
use crate::booking_service::BookingService;
use crate::clinic::Doctor;
use crate::clock::Clock;
use crate::error::{BookingError, BookingResult};
use crate::identity::{Email, PhoneNumber, Role, User};
use crate::ids::{AppointmentId, DoctorId, UserId};
use crate::patients::PatientDetails;
use crate::patients::record::{date_of_birth, patient_name};
use crate::ports::{ClinicRepository, IdentityRepository};
use crate::slots::day_bounds;

pub use seen::{AppointmentSearch, DEFAULT_SEARCH_DAYS, MAX_SEARCH_DAYS};

/// Most patients one search returns.
pub const PATIENT_SEARCH_LIMIT: u32 = 50;
/// Shortest search, in characters (names, phone digits or e-mail).
pub const MIN_PATIENT_QUERY_CHARS: usize = 2;
/// Longest search, in characters.
pub const MAX_PATIENT_QUERY_CHARS: usize = 100;

/// A patient as the desk sees them: who, how to reach them, when born.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatientCard {
    /// The account.
    pub user: User,
    /// Date of birth, to tell namesakes apart.
    pub date_of_birth: Option<Date>,
}

/// A patient who phoned, to register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPatient {
    /// Full name.
    pub name: String,
    /// Phone in international form (required: the desk's way to reach them).
    pub phone: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// E-mail, if they gave one.
    pub email: Option<String>,
}

/// Where a visit of the day stands at the desk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckIn {
    /// Booked, not here yet.
    Expected,
    /// Checked in at the desk.
    Arrived,
    /// Did not come (recorded by the doctor).
    NoShow,
    /// Seen by the doctor.
    Completed,
}

impl CheckIn {
    /// The serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expected => "expected",
            Self::Arrived => "arrived",
            Self::NoShow => "no_show",
            Self::Completed => "completed",
        }
    }

    /// The check-in state of an appointment that is not cancelled.
    pub fn of(appointment: &Appointment, arrived_at: Option<Timestamp>) -> Self {
        match (appointment.status, arrived_at) {
            (AppointmentStatus::Completed, _) => Self::Completed,
            (AppointmentStatus::NoShow, _) => Self::NoShow,
            (_, Some(_)) => Self::Arrived,
            (_, None) => Self::Expected,
        }
    }
}

/// One visit of the day as storage returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeskRow {
    /// The appointment (never cancelled).
    pub appointment: Appointment,
    /// When the patient checked in.
    pub arrived_at: Option<Timestamp>,
    /// The patient's name.
    pub patient_name: Option<String>,
    /// The patient's phone.
    pub patient_phone: Option<PhoneNumber>,
    /// The patient's e-mail.
    pub patient_email: Option<Email>,
}

/// One visit of the day at the desk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeskEntry {
    /// The row.
    pub row: DeskRow,
    /// The doctor's name.
    pub doctor_name: String,
    /// Where the visit stands.
    pub check_in: CheckIn,
}

/// The clinic's day: every doctor's visits on one date (each in the doctor's own time zone),
/// by start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeskDay {
    /// The date.
    pub date: Date,
    /// The visits.
    pub entries: Vec<DeskEntry>,
}

/// What the desk needs from storage.
#[async_trait]
pub trait DeskRepository: Send + Sync + 'static {
    /// Patients (accounts with the patient role) whose name, e-mail or phone contains `query`
    /// (phone compared by digits), by name, at most `limit`.
    async fn find_patients(&self, query: &str, limit: u32) -> BookingResult<Vec<PatientCard>>;
    /// One account as the desk sees it (name, contacts, date of birth); `None` if there is
    /// none.
    async fn patient_card(&self, id: UserId) -> BookingResult<Option<PatientCard>>;
    /// Adds a patient account with its details; a phone or e-mail already in use is a
    /// `Validation` error.
    async fn register_patient(
        &self,
        user: &User,
        details: &PatientDetails,
        audit: &[AuditEntry],
    ) -> BookingResult<()>;
    /// The appointments (not cancelled) of the given doctors starting in `[from, to)`, with
    /// patient names and contacts, by start.
    async fn desk_rows(&self, from: Timestamp, to: Timestamp) -> BookingResult<Vec<DeskRow>>;
    /// One appointment as the desk sees it; `None` if there is none.
    async fn desk_row(&self, id: AppointmentId) -> BookingResult<Option<DeskRow>>;
    /// Records the patient's arrival for a scheduled appointment not yet checked in; `false`
    /// if it was not (any more) in that state.
    async fn mark_arrived(
        &self,
        id: AppointmentId,
        now: Timestamp,
        audit: &[AuditEntry],
    ) -> BookingResult<bool>;
}

/// The front desk's use cases.
#[derive(Clone)]
pub struct FrontDesk {
    desk: Arc<dyn DeskRepository>,
    clinic: Arc<dyn ClinicRepository>,
    identities: Arc<dyn IdentityRepository>,
    bookings: BookingService,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
}

impl FrontDesk {
    /// A service over the given ports and the booking service it books through.
    pub fn new(
        desk: Arc<dyn DeskRepository>,
        clinic: Arc<dyn ClinicRepository>,
        identities: Arc<dyn IdentityRepository>,
        bookings: BookingService,
        audit: AuditTrail,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            desk,
            clinic,
            identities,
            bookings,
            audit,
            clock,
        }
    }

    /// `caller`'s account, if they work the desk now (as stored, not as a token says);
    /// `Forbidden` otherwise.
    pub(super) async fn desk_member(&self, caller: UserId) -> BookingResult<User> {
        self.identities
            .user(caller)
            .await?
            .filter(|user| user.role.works_the_desk())
            .ok_or(BookingError::Forbidden)
    }

    /// `actor` with the role the caller has now, if they work the desk (the token's role may
    /// predate a promotion); `Forbidden` otherwise.
    pub(super) async fn as_desk(&self, actor: &Actor, caller: UserId) -> BookingResult<Actor> {
        let member = self.desk_member(caller).await?;
        Ok(Actor {
            role: Some(member.role),
            ..actor.clone()
        })
    }

    /// Patients matching `query` (name, phone or e-mail). The search is audited.
    pub async fn find_patients(
        &self,
        actor: &Actor,
        caller: UserId,
        query: &str,
    ) -> BookingResult<Vec<PatientCard>> {
        let actor = &self.as_desk(actor, caller).await?;
        let query = query.trim();
        let length = query.chars().count();
        if !(MIN_PATIENT_QUERY_CHARS..=MAX_PATIENT_QUERY_CHARS).contains(&length)
            || query.chars().any(char::is_control)
        {
            return Err(BookingError::validation(format!(
                "q must be {MIN_PATIENT_QUERY_CHARS} to {MAX_PATIENT_QUERY_CHARS} characters"
            )));
        }
        let found = self.desk.find_patients(query, PATIENT_SEARCH_LIMIT).await?;
        self.audit
            .record(
                actor,
                AuditEvent::new(AuditAction::PatientSearch, "user", None)
                    .with_detail(format!("{} found", found.len())),
            )
            .await?;
        Ok(found)
    }

    /// One patient's card (name, contacts, date of birth), for the desk booking for them;
    /// `NotFound` for an unknown account or a staff member's.
    pub async fn patient(&self, caller: UserId, patient_id: UserId) -> BookingResult<PatientCard> {
        self.desk_member(caller).await?;
        self.desk
            .patient_card(patient_id)
            .await?
            .filter(|card| card.user.role == Role::Patient)
            .ok_or(BookingError::NotFound("patient"))
    }

    /// Registers a patient who phoned (name, phone, date of birth; e-mail optional), so the
    /// desk can book for them. They can sign in later with that phone (or e-mail).
    pub async fn register_patient(
        &self,
        actor: &Actor,
        caller: UserId,
        patient: NewPatient,
    ) -> BookingResult<PatientCard> {
        let actor = &self.as_desk(actor, caller).await?;
        let now = self.clock.now();
        let user = User {
            id: UserId::generate(),
            email: patient
                .email
                .as_deref()
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(Email::parse)
                .transpose()?,
            phone: Some(PhoneNumber::parse(&patient.phone)?),
            name: Some(patient_name(&patient.name)?),
            role: Role::Patient,
            doctor_id: None,
            created_at: now,
        };
        let details = PatientDetails {
            date_of_birth: Some(date_of_birth(&patient.date_of_birth, now)?),
            ..PatientDetails::default()
        };
        let event = AuditEvent::new(
            AuditAction::PatientRegister,
            "user",
            Some(user.id.to_string()),
        )
        .with_patient(user.id);
        self.desk
            .register_patient(&user, &details, &[AuditEntry::stamped(actor, now, event)])
            .await?;
        Ok(PatientCard {
            user,
            date_of_birth: details.date_of_birth,
        })
    }

    /// Every doctor's visits on `date` (each doctor's day in their own time zone), with
    /// patient names and where each visit stands. The read is audited, once per patient shown.
    pub async fn day(&self, actor: &Actor, caller: UserId, date: Date) -> BookingResult<DeskDay> {
        let actor = &self.as_desk(actor, caller).await?;
        let doctors: HashMap<DoctorId, Doctor> = self
            .clinic
            .doctors()
            .await?
            .into_iter()
            .map(|doctor| (doctor.id, doctor))
            .collect();
        let out_of_range = || BookingError::validation("date is out of range");
        let mut bounds = HashMap::with_capacity(doctors.len());
        for doctor in doctors.values() {
            bounds.insert(
                doctor.id,
                day_bounds(doctor.time_zone.tz(), date).ok_or_else(out_of_range)?,
            );
        }
        let (Some(from), Some(to)) = (
            bounds.values().map(|b| b.0).min(),
            bounds.values().map(|b| b.1).max(),
        ) else {
            return Ok(DeskDay {
                date,
                entries: Vec::new(),
            });
        };
        let entries: Vec<DeskEntry> = self
            .desk
            .desk_rows(from, to)
            .await?
            .into_iter()
            .filter_map(|row| {
                let doctor = doctors.get(&row.appointment.doctor_id)?;
                let (start, end) = bounds.get(&doctor.id)?;
                let start_at = row.appointment.start;
                (*start <= start_at && start_at < *end).then(|| DeskEntry {
                    check_in: CheckIn::of(&row.appointment, row.arrived_at),
                    doctor_name: doctor.name.clone(),
                    row,
                })
            })
            .collect();
        let mut patients: Vec<UserId> = entries
            .iter()
            .map(|e| e.row.appointment.patient_id)
            .collect();
        patients.sort();
        patients.dedup();
        let read = || AuditEvent::new(AuditAction::DeskDayRead, "desk_day", Some(date.to_string()));
        let events = if patients.is_empty() {
            vec![read()]
        } else {
            patients
                .into_iter()
                .map(|p| read().with_patient(p))
                .collect()
        };
        self.audit.record_all(actor, events).await?;
        Ok(DeskDay { date, entries })
    }

    /// Checks the patient in for a scheduled visit. Repeating it changes nothing.
    pub async fn arrived(
        &self,
        actor: &Actor,
        caller: UserId,
        appointment_id: AppointmentId,
    ) -> BookingResult<DeskEntry> {
        let actor = &self.as_desk(actor, caller).await?;
        let row = self
            .desk
            .desk_row(appointment_id)
            .await?
            .ok_or(BookingError::NotFound("appointment"))?;
        if row.arrived_at.is_none() {
            if row.appointment.status != AppointmentStatus::Scheduled {
                return Err(BookingError::InvalidState(format!(
                    "a {} appointment cannot be checked in",
                    row.appointment.status.as_str()
                )));
            }
            let now = self.clock.now();
            let event = AuditEvent::appointment(AuditAction::AppointmentArrived, &row.appointment);
            self.desk
                .mark_arrived(
                    appointment_id,
                    now,
                    &[AuditEntry::stamped(actor, now, event)],
                )
                .await?;
        }
        let row = self
            .desk
            .desk_row(appointment_id)
            .await?
            .ok_or(BookingError::NotFound("appointment"))?;
        let doctor_name = self
            .clinic
            .doctor(row.appointment.doctor_id)
            .await?
            .map(|d| d.name)
            .unwrap_or_default();
        Ok(DeskEntry {
            check_in: CheckIn::of(&row.appointment, row.arrived_at),
            doctor_name,
            row,
        })
    }
}
