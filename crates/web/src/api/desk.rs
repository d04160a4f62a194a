//! The front desk (receptionists and admins): find or register the patient on the phone, see
//! their appointments, run the clinic's day and check patients in. Booking for a patient uses
//! the ordinary booking endpoints (`POST /api/v1/holds` with `patient_id`, then
//! `POST /api/v1/appointments`). Nothing here carries clinical text.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use jiff::civil::Date;
use medibook_core::audit::Actor;
use medibook_core::booking::AppointmentStatus;
use medibook_core::desk::{DeskEntry, NewPatient, PatientCard};
use medibook_core::ids::{AppointmentId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::appointments::AppointmentResponse;
use crate::shell::AppState;
use crate::shell::auth::AuthUser;
use crate::shell::client::ClientIp;
use crate::shell::error::{ApiResult, Problem};
use crate::shell::extract::{ApiJson, ApiPath, ApiQuery};

/// A patient search.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PatientQuery {
    /// Part of the name, e-mail or phone number (2 to 100 characters).
    pub q: String,
}

/// A patient as the desk sees them.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientCardResponse {
    /// Identity (use it as `patient_id` when holding a slot for them).
    pub id: Uuid,
    /// Name.
    pub name: Option<String>,
    /// Phone (E.164).
    pub phone: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Date of birth.
    #[schema(value_type = Option<String>, format = Date)]
    pub date_of_birth: Option<Date>,
}

impl From<PatientCard> for PatientCardResponse {
    fn from(card: PatientCard) -> Self {
        Self {
            id: card.user.id.as_uuid(),
            name: card.user.name,
            phone: card.user.phone.map(|p| p.as_str().to_owned()),
            email: card.user.email.map(|e| e.as_str().to_owned()),
            date_of_birth: card.date_of_birth,
        }
    }
}

/// A patient who phoned, to register.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewPatientRequest {
    /// Full name.
    pub name: String,
    /// Phone in international form, like `+49 30 1234567`.
    pub phone: String,
    /// `YYYY-MM-DD`.
    #[schema(example = "1958-11-02")]
    pub date_of_birth: String,
    /// E-mail, if they have one.
    pub email: Option<String>,
}

/// Which day.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DayQuery {
    /// The date (`YYYY-MM-DD`), each doctor's day in their own time zone.
    #[param(value_type = String, format = Date, example = "2027-03-01")]
    pub date: Date,
}

/// One visit of the day.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeskEntryResponse {
    /// The appointment.
    pub id: Uuid,
    /// The doctor.
    pub doctor_id: Uuid,
    /// The doctor's name.
    pub doctor_name: String,
    /// The patient.
    pub patient_id: Uuid,
    /// The patient's name.
    pub patient_name: Option<String>,
    /// The patient's phone.
    pub patient_phone: Option<String>,
    /// Start.
    pub start: Timestamp,
    /// End.
    pub end: Timestamp,
    /// `scheduled`, `completed` or `no_show`.
    #[schema(value_type = String)]
    pub status: AppointmentStatus,
    /// `expected`, `arrived`, `no_show` or `completed`.
    #[schema(example = "expected")]
    pub check_in: String,
    /// When the patient checked in.
    pub arrived_at: Option<Timestamp>,
}

impl From<DeskEntry> for DeskEntryResponse {
    fn from(entry: DeskEntry) -> Self {
        let appointment = entry.row.appointment;
        Self {
            id: appointment.id.as_uuid(),
            doctor_id: appointment.doctor_id.as_uuid(),
            doctor_name: entry.doctor_name,
            patient_id: appointment.patient_id.as_uuid(),
            patient_name: entry.row.patient_name,
            patient_phone: entry.row.patient_phone.map(|p| p.as_str().to_owned()),
            start: appointment.start,
            end: appointment.end,
            status: appointment.status,
            check_in: entry.check_in.as_str().to_owned(),
            arrived_at: entry.row.arrived_at,
        }
    }
}

/// The clinic's day.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeskDayResponse {
    /// The date.
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    /// Every doctor's visits that day (cancelled ones left out), by start.
    pub appointments: Vec<DeskEntryResponse>,
}

fn actor(user: &AuthUser, client: &ClientIp) -> Actor {
    Actor::user(user.id, user.role, client.key())
}

/// Finds patients by name, phone or e-mail (at most 50). The search is audited.
#[utoipa::path(get, path = "/api/v1/desk/patients", tag = "desk", params(PatientQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<PatientCardResponse>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn find_patients(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiQuery(query): ApiQuery<PatientQuery>,
) -> ApiResult<Json<Vec<PatientCardResponse>>> {
    let found = state
        .desk
        .find_patients(&actor(&user, &client), user.id, &query.q)
        .await?;
    Ok(Json(found.into_iter().map(Into::into).collect()))
}

/// Registers a patient who phoned: name, phone and date of birth (e-mail optional). They can
/// sign in later with that phone number.
#[utoipa::path(post, path = "/api/v1/desk/patients", tag = "desk",
    request_body = NewPatientRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, body = PatientCardResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is not acceptable, or the phone or e-mail is already registered (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn register_patient(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiJson(body): ApiJson<NewPatientRequest>,
) -> ApiResult<(StatusCode, Json<PatientCardResponse>)> {
    let patient = NewPatient {
        name: body.name,
        phone: body.phone,
        date_of_birth: body.date_of_birth,
        email: body.email,
    };
    let card = state
        .desk
        .register_patient(&actor(&user, &client), user.id, patient)
        .await?;
    Ok((StatusCode::CREATED, Json(card.into())))
}

/// A patient's appointments, soonest first (to move or cancel one for them).
#[utoipa::path(get, path = "/api/v1/desk/patients/{id}/appointments", tag = "desk",
    params(("id" = Uuid, Path, description = "Patient id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<AppointmentResponse>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn patient_appointments(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<AppointmentResponse>>> {
    let appointments = state
        .desk
        .appointments_of(&actor(&user, &client), user.id, UserId::from_uuid(id))
        .await?;
    Ok(Json(
        crate::api::appointments::responses(&state, appointments).await?,
    ))
}

/// The clinic's day: every doctor's visits on `date` with patient names and check-in status.
/// The read is audited.
#[utoipa::path(get, path = "/api/v1/desk/day", tag = "desk", params(DayQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = DeskDayResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn day(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiQuery(query): ApiQuery<DayQuery>,
) -> ApiResult<Json<DeskDayResponse>> {
    let day = state
        .desk
        .day(&actor(&user, &client), user.id, query.date)
        .await?;
    Ok(Json(DeskDayResponse {
        date: day.date,
        appointments: day.entries.into_iter().map(Into::into).collect(),
    }))
}

/// Checks the patient in. Repeating it changes nothing.
#[utoipa::path(post, path = "/api/v1/desk/appointments/{id}/arrived", tag = "desk",
    params(("id" = Uuid, Path, description = "Appointment id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = DeskEntryResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Cancelled, completed or a no-show (`invalid_state`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn arrived(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<DeskEntryResponse>> {
    let entry = state
        .desk
        .arrived(
            &actor(&user, &client),
            user.id,
            AppointmentId::from_uuid(id),
        )
        .await?;
    Ok(Json(entry.into()))
}
