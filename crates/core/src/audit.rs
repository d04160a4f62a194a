//! The audit trail: who read or changed which appointment, hold, schedule or role, when, and
//! from where (HIPAA §164.312(b): record and examine activity in systems holding health data).
//!
//! Entries are append-only: the database refuses to update or delete them (triggers on both
//! backends), so not even the application can rewrite history. An entry names people and
//! records by id; its free-text `detail` never holds codes, tokens or phone numbers.

use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;
use uuid::Uuid;

use crate::booking::{Appointment, Hold};
use crate::clock::Clock;
use crate::error::{BookingError, BookingResult};
use crate::identity::Role;
use crate::ids::{DoctorId, UserId};

/// What was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// An appointment was booked.
    AppointmentCreate,
    /// An appointment was read.
    AppointmentRead,
    /// A patient listed their appointments.
    AppointmentList,
    /// An appointment was cancelled.
    AppointmentCancel,
    /// An appointment was moved.
    AppointmentReschedule,
    /// A doctor marked a visit completed.
    AppointmentComplete,
    /// A doctor marked a visit as a no-show.
    AppointmentNoShow,
    /// A slot was held.
    HoldCreate,
    /// A hold was read.
    HoldRead,
    /// A hold was released.
    HoldRelease,
    /// A doctor's weekly schedule was read.
    ScheduleRead,
    /// A doctor's weekly schedule was replaced.
    ScheduleUpdate,
    /// A doctor's time off was listed.
    TimeOffList,
    /// Time off was added.
    TimeOffCreate,
    /// Time off was removed.
    TimeOffDelete,
    /// A doctor's agenda (appointments with patient contacts) was read.
    AgendaRead,
    /// A user's role or doctor profile link changed.
    RoleChange,
    /// A doctor profile was created.
    DoctorCreate,
    /// A doctor profile was changed.
    DoctorUpdate,
    /// A specialty was created.
    SpecialtyCreate,
    /// A specialty was renamed.
    SpecialtyUpdate,
    /// An admin searched the user accounts.
    UserSearch,
    /// An admin read the contact-form inbox.
    ContactInboxRead,
    /// The desk answered a contact-form message by e-mail.
    ContactReply,
    /// The desk marked a contact-form message handled (or not).
    ContactHandled,
    /// An admin read the audit trail.
    AuditRead,
    /// An admin read the outbox (message status, masked recipients).
    OutboxRead,
    /// A patient joined a waitlist.
    WaitlistJoin,
    /// A patient listed their waitlist entries.
    WaitlistList,
    /// A patient left a waitlist.
    WaitlistLeave,
    /// A patient declined a waitlist offer.
    WaitlistDecline,
    /// A freed slot was offered to a waiting patient.
    WaitlistOffer,
    /// A patient's record (details, medical history) was read.
    PatientRecordRead,
    /// A patient's record was changed.
    PatientRecordUpdate,
    /// The front desk registered a patient who phoned.
    PatientRegister,
    /// The front desk searched for patients.
    PatientSearch,
    /// A visit note was written.
    VisitNoteCreate,
    /// Visit notes were read.
    VisitNoteRead,
    /// The front desk read the clinic's day.
    DeskDayRead,
    /// The front desk saw the patient arrive.
    AppointmentArrived,
    /// A person downloaded everything held about them.
    PersonalDataExport,
    /// A person erased their account and personal data.
    AccountErase,
    /// The retention job pseudonymised old appointments.
    AppointmentPseudonymise,
}

impl AuditAction {
    /// The stored name, `subject.verb`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AppointmentCreate => "appointment.create",
            Self::AppointmentRead => "appointment.read",
            Self::AppointmentList => "appointment.list",
            Self::AppointmentCancel => "appointment.cancel",
            Self::AppointmentReschedule => "appointment.reschedule",
            Self::AppointmentComplete => "appointment.complete",
            Self::AppointmentNoShow => "appointment.no_show",
            Self::HoldCreate => "hold.create",
            Self::HoldRead => "hold.read",
            Self::HoldRelease => "hold.release",
            Self::ScheduleRead => "schedule.read",
            Self::ScheduleUpdate => "schedule.update",
            Self::TimeOffList => "time_off.list",
            Self::TimeOffCreate => "time_off.create",
            Self::TimeOffDelete => "time_off.delete",
            Self::AgendaRead => "agenda.read",
            Self::RoleChange => "role.change",
            Self::DoctorCreate => "doctor.create",
            Self::DoctorUpdate => "doctor.update",
            Self::SpecialtyCreate => "specialty.create",
            Self::SpecialtyUpdate => "specialty.update",
            Self::UserSearch => "user.search",
            Self::ContactInboxRead => "contact.read",
            Self::ContactReply => "contact.reply",
            Self::ContactHandled => "contact.handled",
            Self::AuditRead => "audit.read",
            Self::OutboxRead => "outbox.read",
            Self::WaitlistJoin => "waitlist.join",
            Self::WaitlistList => "waitlist.list",
            Self::WaitlistLeave => "waitlist.leave",
            Self::WaitlistDecline => "waitlist.decline",
            Self::WaitlistOffer => "waitlist.offer",
            Self::PatientRecordRead => "patient_record.read",
            Self::PatientRecordUpdate => "patient_record.update",
            Self::PatientRegister => "patient.register",
            Self::PatientSearch => "patient.search",
            Self::VisitNoteCreate => "visit_note.create",
            Self::VisitNoteRead => "visit_note.read",
            Self::DeskDayRead => "desk_day.read",
            Self::AppointmentArrived => "appointment.arrived",
            Self::PersonalDataExport => "personal_data.export",
            Self::AccountErase => "account.erase",
            Self::AppointmentPseudonymise => "appointment.pseudonymise",
        }
    }
}

/// Who acted: a signed-in user, or the operator at the command line (no user).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The user, if the action came through the API.
    pub user_id: Option<UserId>,
    /// Their role at the time.
    pub role: Option<Role>,
    /// The client's IP address, if known.
    pub client_ip: Option<String>,
}

impl Actor {
    /// A signed-in user.
    pub fn user(user_id: UserId, role: Role, client_ip: Option<String>) -> Self {
        Self {
            user_id: Some(user_id),
            role: Some(role),
            client_ip,
        }
    }

    /// The operator, acting through the command line.
    pub fn operator() -> Self {
        Self {
            user_id: None,
            role: None,
            client_ip: None,
        }
    }

    /// The system itself, acting on its own account (offers to the waitlist, expiry sweeps).
    /// Stored like the operator: no user, no address.
    pub fn system() -> Self {
        Self::operator()
    }
}

/// What happened to which record, before it is stamped with time and actor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// What was done.
    pub action: AuditAction,
    /// The kind of record: `appointment`, `hold`, `doctor`, `user`, …
    pub subject_type: &'static str,
    /// The record's id, if it has one.
    pub subject_id: Option<String>,
    /// The patient whose data it concerns, if any.
    pub patient_id: Option<UserId>,
    /// The doctor whose data it concerns, if any.
    pub doctor_id: Option<DoctorId>,
    /// A short note (never codes, tokens or phone numbers).
    pub detail: Option<String>,
}

impl AuditEvent {
    /// An event about `subject_type` `subject_id`, concerning nobody in particular yet.
    pub fn new(
        action: AuditAction,
        subject_type: &'static str,
        subject_id: Option<String>,
    ) -> Self {
        Self {
            action,
            subject_type,
            subject_id,
            patient_id: None,
            doctor_id: None,
            detail: None,
        }
    }

    /// An event about an appointment, naming its patient and doctor.
    pub fn appointment(action: AuditAction, appointment: &Appointment) -> Self {
        Self {
            patient_id: Some(appointment.patient_id),
            doctor_id: Some(appointment.doctor_id),
            ..Self::new(action, "appointment", Some(appointment.id.to_string()))
        }
    }

    /// An event about a hold, naming its patient and doctor.
    pub fn hold(action: AuditAction, hold: &Hold) -> Self {
        Self {
            patient_id: Some(hold.patient_id),
            doctor_id: Some(hold.doctor_id),
            ..Self::new(action, "hold", Some(hold.id.to_string()))
        }
    }

    /// An event about a doctor's data (schedule, time off, agenda, profile).
    pub fn doctor(action: AuditAction, doctor_id: DoctorId) -> Self {
        Self {
            doctor_id: Some(doctor_id),
            ..Self::new(action, "doctor", Some(doctor_id.to_string()))
        }
    }

    /// Names the patient concerned.
    pub fn with_patient(self, patient_id: UserId) -> Self {
        Self {
            patient_id: Some(patient_id),
            ..self
        }
    }

    /// Names the doctor concerned.
    pub fn with_doctor(self, doctor_id: DoctorId) -> Self {
        Self {
            doctor_id: Some(doctor_id),
            ..self
        }
    }

    /// Adds a short note.
    pub fn with_detail(self, detail: impl Into<String>) -> Self {
        Self {
            detail: Some(detail.into()),
            ..self
        }
    }
}

/// One stored entry of the trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Identity (UUID v7, so ids sort by time).
    pub id: Uuid,
    /// When it happened.
    pub at: Timestamp,
    /// Who acted (none for the operator at the command line).
    pub actor_user_id: Option<UserId>,
    /// Their role at the time.
    pub actor_role: Option<Role>,
    /// What was done, `subject.verb`.
    pub action: String,
    /// The kind of record.
    pub subject_type: String,
    /// The record's id.
    pub subject_id: Option<String>,
    /// The patient concerned.
    pub patient_id: Option<UserId>,
    /// The doctor concerned.
    pub doctor_id: Option<DoctorId>,
    /// Where the request came from.
    pub client_ip: Option<String>,
    /// A short note.
    pub detail: Option<String>,
}

impl AuditEntry {
    /// `event`, done by `actor` at `at`, as it is stored.
    pub fn stamped(actor: &Actor, at: Timestamp, event: AuditEvent) -> Self {
        Self {
            id: Uuid::now_v7(),
            at,
            actor_user_id: actor.user_id,
            actor_role: actor.role,
            action: event.action.as_str().to_owned(),
            subject_type: event.subject_type.to_owned(),
            subject_id: event.subject_id,
            patient_id: event.patient_id,
            doctor_id: event.doctor_id,
            client_ip: actor.client_ip.clone(),
            detail: event
                .detail
                .map(|d| d.chars().take(MAX_DETAIL_CHARS).collect()),
        }
    }
}

/// Hears of audit entries once they are committed (the metrics count booking outcomes from
/// them, whichever door the booking came through).
pub trait AuditObserver: Send + Sync + 'static {
    /// `entries` were committed.
    fn committed(&self, entries: &[AuditEntry]);
}

/// Which entries to read; all filters are optional and combine with AND.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only entries concerning this patient.
    pub patient_id: Option<UserId>,
    /// Only entries concerning this doctor.
    pub doctor_id: Option<DoctorId>,
    /// Only entries at or after this instant.
    pub from: Option<Timestamp>,
    /// Only entries before this instant.
    pub to: Option<Timestamp>,
    /// At most this many, newest first.
    pub limit: u32,
}

/// Most entries one query returns.
pub const MAX_AUDIT_ENTRIES: u32 = 500;

/// Longest stored detail, in characters.
const MAX_DETAIL_CHARS: usize = 500;

/// Storage of the audit trail: append and read, nothing else.
#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    /// Appends entries, all or none.
    async fn append(&self, entries: &[AuditEntry]) -> BookingResult<()>;
    /// Entries matching `query`, newest first.
    async fn entries(&self, query: &AuditQuery) -> BookingResult<Vec<AuditEntry>>;
}

/// Records and reads the audit trail.
#[derive(Clone)]
pub struct AuditTrail {
    log: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
}

impl AuditTrail {
    /// A trail over `log`.
    pub fn new(log: Arc<dyn AuditLog>, clock: Arc<dyn Clock>) -> Self {
        Self { log, clock }
    }

    /// Appends `event` done by `actor` now. A failure is returned, not swallowed: a read whose
    /// audit entry cannot be written is not answered.
    pub async fn record(&self, actor: &Actor, event: AuditEvent) -> BookingResult<()> {
        self.record_all(actor, vec![event]).await
    }

    /// Appends several events done by `actor` now, all or none.
    pub async fn record_all(&self, actor: &Actor, events: Vec<AuditEvent>) -> BookingResult<()> {
        let at = self.clock.now();
        let entries: Vec<AuditEntry> = events
            .into_iter()
            .map(|event| AuditEntry::stamped(actor, at, event))
            .collect();
        if entries.is_empty() {
            return Ok(());
        }
        self.log.append(&entries).await
    }

    /// Entries matching `query`, newest first, at most [`MAX_AUDIT_ENTRIES`].
    pub async fn search(&self, query: AuditQuery) -> BookingResult<Vec<AuditEntry>> {
        if let (Some(from), Some(to)) = (query.from, query.to)
            && to <= from
        {
            return Err(BookingError::validation("to must be later than from"));
        }
        let limit = match query.limit {
            0 => MAX_AUDIT_ENTRIES,
            n => n.min(MAX_AUDIT_ENTRIES),
        };
        self.log.entries(&AuditQuery { limit, ..query }).await
    }
}
