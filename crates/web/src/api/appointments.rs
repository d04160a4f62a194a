//! Appointments: confirm a hold, list, read, cancel, reschedule.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use jiff::{SignedDuration, Timestamp};
use medibook_core::audit::{Actor, AuditAction, AuditEvent};
use medibook_core::booking::{Appointment, AppointmentStatus, Reason};
use medibook_core::ids::{AppointmentId, DoctorId, HoldId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::shell::AppState;
use crate::shell::auth::AuthUser;
use crate::shell::client::ClientIp;
use crate::shell::error::{ApiResult, Problem};
use crate::shell::extract::{ApiJson, ApiPath};

/// Book the held slot.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ConfirmRequest {
    /// The hold token from `POST /api/v1/holds`.
    pub hold_id: Uuid,
    /// Why you are coming (1 to 1,000 characters).
    #[schema(example = "Persistent cough for two weeks")]
    pub reason: String,
}

/// Move an appointment to the slot of a hold.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RescheduleRequest {
    /// A hold on the new slot, same doctor.
    pub hold_id: Uuid,
}

/// An appointment.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppointmentResponse {
    /// Identity.
    pub id: Uuid,
    /// The doctor.
    pub doctor_id: Uuid,
    /// The doctor's name.
    pub doctor_name: String,
    /// The patient.
    pub patient_id: Uuid,
    /// Start of the visit (RFC 3339).
    pub start: Timestamp,
    /// End of the visit (RFC 3339).
    pub end: Timestamp,
    /// `scheduled`, `completed`, `cancelled` or `no_show`.
    #[schema(value_type = String, example = "scheduled")]
    pub status: AppointmentStatus,
    /// Why the patient comes.
    pub reason: String,
    /// When it was booked.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// Until this instant (RFC 3339) cancelling is free; a cancellation after it counts as a
    /// late cancellation (the window is the clinic's `late_cancellation_hours` before the start).
    pub free_cancellation_until: Timestamp,
    /// Whether the patient cancelled it inside the late-cancellation window.
    pub late_cancellation: bool,
}

fn response(
    appointment: Appointment,
    doctor_names: &HashMap<DoctorId, String>,
    late_window: SignedDuration,
) -> AppointmentResponse {
    AppointmentResponse {
        free_cancellation_until: appointment.free_cancellation_until(late_window),
        late_cancellation: appointment.late_cancellation,
        id: appointment.id.as_uuid(),
        doctor_name: doctor_names
            .get(&appointment.doctor_id)
            .cloned()
            .unwrap_or_default(),
        doctor_id: appointment.doctor_id.as_uuid(),
        patient_id: appointment.patient_id.as_uuid(),
        start: appointment.start,
        end: appointment.end,
        status: appointment.status,
        reason: appointment.reason.as_str().to_owned(),
        created_at: appointment.created_at,
        updated_at: appointment.updated_at,
    }
}

/// How long before the start a cancellation counts as late.
fn late_window(state: &AppState) -> SignedDuration {
    state.bookings.policy().late_cancellation
}

async fn doctor_names(state: &AppState) -> ApiResult<HashMap<DoctorId, String>> {
    Ok(state
        .catalogue
        .search(None, None)
        .await?
        .into_iter()
        .map(|d| (d.id, d.name))
        .collect())
}

/// Writes the audit entry for `action` on `appointment` by `user`.
async fn audit(
    state: &AppState,
    user: &AuthUser,
    client: &ClientIp,
    action: AuditAction,
    appointment: &Appointment,
) -> ApiResult<()> {
    let actor = Actor::user(user.id, user.role, client.key());
    state
        .audit
        .record(&actor, AuditEvent::appointment(action, appointment))
        .await?;
    Ok(())
}

/// `appointments` as the API shows them.
pub(crate) async fn responses(
    state: &AppState,
    appointments: Vec<Appointment>,
) -> ApiResult<Vec<AppointmentResponse>> {
    let names = doctor_names(state).await?;
    let window = late_window(state);
    Ok(appointments
        .into_iter()
        .map(|a| response(a, &names, window))
        .collect())
}

async fn one(state: &AppState, appointment: Appointment) -> ApiResult<AppointmentResponse> {
    let name = state.catalogue.doctor(appointment.doctor_id).await?.name;
    let names = HashMap::from([(appointment.doctor_id, name)]);
    Ok(response(appointment, &names, late_window(state)))
}

/// Books the slot of your hold. Confirming the same hold again returns the same appointment.
#[utoipa::path(post, path = "/api/v1/appointments", tag = "booking",
    request_body = ConfirmRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Booked", body = AppointmentResponse),
        (status = 200, description = "Already booked with this hold", body = AppointmentResponse),
        (status = 404, description = "`hold_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Limit reached", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`hold_expired`: the hold lapsed and the slot was taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn confirm(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiJson(body): ApiJson<ConfirmRequest>,
) -> ApiResult<impl IntoResponse> {
    let reason = Reason::parse(&body.reason)?;
    let actor = Actor::user(user.id, user.role, client.key());
    let booked = state
        .desk
        .confirm(&actor, user.id, HoldId::from_uuid(body.hold_id), reason)
        .await?;
    let status = if booked.changed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(one(&state, booked.appointment).await?)))
}

/// Your appointments, soonest first.
#[utoipa::path(get, path = "/api/v1/appointments", operation_id = "list_appointments", tag = "booking",
    security(("bearer" = [])),
    responses(
        (status = 200, body = [AppointmentResponse]),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
) -> ApiResult<Json<Vec<AppointmentResponse>>> {
    let appointments = state.bookings.appointments_of(user.id).await?;
    state
        .audit
        .record(
            &Actor::user(user.id, user.role, client.key()),
            AuditEvent::new(
                AuditAction::AppointmentList,
                "patient",
                Some(user.id.to_string()),
            )
            .with_patient(user.id)
            .with_detail(format!("{} appointments", appointments.len())),
        )
        .await?;
    Ok(Json(responses(&state, appointments).await?))
}

/// One of your appointments.
#[utoipa::path(get, path = "/api/v1/appointments/{id}", operation_id = "get_appointment", tag = "booking",
    params(("id" = Uuid, Path, description = "Appointment id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = AppointmentResponse),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<AppointmentResponse>> {
    let appointment = state
        .desk
        .appointment(
            &Actor::user(user.id, user.role, client.key()),
            user.id,
            AppointmentId::from_uuid(id),
        )
        .await?;
    audit(
        &state,
        &user,
        &client,
        AuditAction::AppointmentRead,
        &appointment,
    )
    .await?;
    Ok(Json(one(&state, appointment).await?))
}

/// Cancels your appointment; the slot returns to the doctor. Cancelling twice is fine. A
/// cancellation after `free_cancellation_until` is recorded as late (`late_cancellation`),
/// which the doctor sees in the patient's history.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/cancel", tag = "booking",
    params(("id" = Uuid, Path, description = "Appointment id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = AppointmentResponse),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not cancellable (`invalid_state`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<AppointmentResponse>> {
    let actor = Actor::user(user.id, user.role, client.key());
    let appointment = state
        .desk
        .cancel(&actor, user.id, AppointmentId::from_uuid(id))
        .await?;
    Ok(Json(one(&state, appointment).await?))
}

/// Moves your appointment to the slot of your hold, atomically: on any failure the original
/// appointment stays as it was. Repeating the request changes nothing.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/reschedule", tag = "booking",
    params(("id" = Uuid, Path, description = "Appointment id")),
    request_body = RescheduleRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, body = AppointmentResponse),
        (status = 404, description = "`not_found` or `hold_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`hold_expired`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reschedule(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RescheduleRequest>,
) -> ApiResult<Json<AppointmentResponse>> {
    let actor = Actor::user(user.id, user.role, client.key());
    let appointment = state
        .desk
        .reschedule(
            &actor,
            user.id,
            AppointmentId::from_uuid(id),
            HoldId::from_uuid(body.hold_id),
        )
        .await?;
    Ok(Json(one(&state, appointment).await?))
}
