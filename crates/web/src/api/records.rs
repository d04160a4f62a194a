//! A doctor's view of a visit: the patient's record, their visits with this doctor, and visit
//! notes. Only the appointment's treating doctor gets an answer; for anyone else (another
//! doctor, a receptionist, an admin, a patient) the appointment is not found.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use jiff::civil::Date;
use medibook_core::audit::Actor;
use medibook_core::booking::AppointmentStatus;
use medibook_core::ids::AppointmentId;
use medibook_core::patients::{Sex, Visit, VisitNote, VisitRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::doctor::DoctorAppointmentResponse;
use crate::shell::AppState;
use crate::shell::auth::AuthUser;
use crate::shell::client::ClientIp;
use crate::shell::error::{ApiResult, Problem};
use crate::shell::extract::{ApiJson, ApiPath};

/// A note to add.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NoteRequest {
    /// What happened at the visit (1 to 10,000 characters).
    pub text: String,
}

/// A visit note.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoteResponse {
    /// Identity.
    pub id: Uuid,
    /// The visit.
    pub appointment_id: Uuid,
    /// Who wrote it.
    pub author_id: Uuid,
    /// When.
    pub created_at: Timestamp,
    /// The text.
    pub text: String,
}

impl From<VisitNote> for NoteResponse {
    fn from(note: VisitNote) -> Self {
        Self {
            id: note.id.as_uuid(),
            appointment_id: note.appointment_id.as_uuid(),
            author_id: note.author_id.as_uuid(),
            created_at: note.created_at,
            text: note.text,
        }
    }
}

/// One of the patient's visits with this doctor.
#[derive(Debug, Serialize, ToSchema)]
pub struct VisitResponse {
    /// Identity of the appointment.
    pub id: Uuid,
    /// Start.
    pub start: Timestamp,
    /// `scheduled`, `completed`, `cancelled` or `no_show`.
    #[schema(value_type = String)]
    pub status: AppointmentStatus,
    /// Why the patient came.
    pub reason: String,
    /// The notes, oldest first.
    pub notes: Vec<NoteResponse>,
}

impl From<Visit> for VisitResponse {
    fn from(visit: Visit) -> Self {
        Self {
            id: visit.appointment.id.as_uuid(),
            start: visit.appointment.start,
            status: visit.appointment.status,
            reason: visit.appointment.reason.as_str().to_owned(),
            notes: visit.notes.into_iter().map(NoteResponse::from).collect(),
        }
    }
}

/// The patient of a visit, as their treating doctor sees them.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientRecordResponse {
    /// The patient's id.
    pub id: Uuid,
    /// Name, if given.
    pub name: Option<String>,
    /// Date of birth, if given.
    #[schema(value_type = Option<String>, format = Date)]
    pub date_of_birth: Option<Date>,
    /// `female`, `male`, `other` or `unknown`, if given.
    #[schema(value_type = Option<String>)]
    pub sex: Option<Sex>,
    /// E-mail, if known.
    pub email: Option<String>,
    /// Phone, if known.
    pub phone: Option<String>,
    /// Postal address, if given.
    pub address: Option<String>,
    /// Allergies, conditions, medication, as the patient wrote them.
    pub medical_history: Option<String>,
    /// The visit opened.
    pub appointment: DoctorAppointmentResponse,
    /// The patient's visits with you, this one included, newest first, with notes.
    pub visits: Vec<VisitResponse>,
}

impl From<VisitRecord> for PatientRecordResponse {
    fn from(record: VisitRecord) -> Self {
        let patient = record.patient;
        Self {
            id: patient.user.id.as_uuid(),
            name: patient.user.name,
            date_of_birth: patient.details.date_of_birth,
            sex: patient.details.sex,
            email: patient.user.email.map(|e| e.as_str().to_owned()),
            phone: patient.user.phone.map(|p| p.as_str().to_owned()),
            address: patient.details.address,
            medical_history: patient.medical_history,
            appointment: record.appointment.into(),
            visits: record.visits.into_iter().map(VisitResponse::from).collect(),
        }
    }
}

fn actor(user: &AuthUser, client: &ClientIp) -> Actor {
    Actor::user(user.id, user.role, client.key())
}

/// The patient of one of your appointments: name, date of birth, sex, contact, medical
/// history, and their visits with you with notes. The read is audited.
#[utoipa::path(get, path = "/api/v1/doctor/appointments/{id}/patient", tag = "doctor",
    params(("id" = Uuid, Path, description = "Appointment id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = PatientRecordResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such appointment, or not yours to treat", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn patient(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<PatientRecordResponse>> {
    let record = state
        .records
        .visit(
            &actor(&user, &client),
            user.id,
            AppointmentId::from_uuid(id),
        )
        .await?;
    Ok(Json(record.into()))
}

/// The notes on one of your visits, oldest first. The read is audited.
#[utoipa::path(get, path = "/api/v1/doctor/appointments/{id}/notes", tag = "doctor",
    params(("id" = Uuid, Path, description = "Appointment id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<NoteResponse>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such appointment, or not yours to treat", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn notes(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<NoteResponse>>> {
    let notes = state
        .records
        .notes(
            &actor(&user, &client),
            user.id,
            AppointmentId::from_uuid(id),
        )
        .await?;
    Ok(Json(notes.into_iter().map(NoteResponse::from).collect()))
}

/// Adds a note to one of your visits. Notes are never changed: write a new note to correct
/// one. Stored encrypted; the audit trail records that a note was written, not what it says.
#[utoipa::path(post, path = "/api/v1/doctor/appointments/{id}/notes", tag = "doctor",
    params(("id" = Uuid, Path, description = "Appointment id")),
    request_body = NoteRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, body = NoteResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such appointment, or not yours to treat", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A cancelled appointment (`invalid_state`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty or too long (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_note(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<NoteRequest>,
) -> ApiResult<(StatusCode, Json<NoteResponse>)> {
    let note = state
        .records
        .add_note(
            &actor(&user, &client),
            user.id,
            AppointmentId::from_uuid(id),
            &body.text,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(note.into())))
}
