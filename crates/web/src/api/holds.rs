//! Holds: a five-minute exclusive claim on a slot, the token needed to book it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use jiff::Timestamp;
use medibook_core::audit::{Actor, AuditAction, AuditEvent};
use medibook_core::booking::{Hold, HoldState};
use medibook_core::booking_service::HoldPurpose;
use medibook_core::ids::{AppointmentId, DoctorId, HoldId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::shell::AppState;
use crate::shell::auth::AuthUser;
use crate::shell::client::ClientIp;
use crate::shell::error::{ApiResult, Problem};
use crate::shell::extract::{ApiJson, ApiPath};

/// The slot to hold.
#[derive(Debug, Deserialize, ToSchema)]
pub struct HoldRequest {
    /// The doctor.
    pub doctor_id: Uuid,
    /// The slot's start, exactly as listed (RFC 3339, any offset).
    #[schema(value_type = String, format = DateTime, example = "2027-03-02T09:30:00+01:00")]
    pub start: Timestamp,
    /// Front desk only (receptionists and admins): the patient to hold the slot for. The hold
    /// and the appointment confirmed from it are the patient's; anyone else gets 403.
    pub patient_id: Option<Uuid>,
    /// The appointment this hold is to move (then reschedule with it): a hold for a new
    /// appointment is refused with 409 `appointment_limit` when the patient already has as many
    /// upcoming appointments as allowed, a hold to move one is not.
    pub rescheduling: Option<Uuid>,
}

/// A hold.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldResponse {
    /// The hold token.
    pub id: Uuid,
    /// The doctor.
    pub doctor_id: Uuid,
    /// Start of the visit.
    pub start: Timestamp,
    /// End of the visit.
    pub end: Timestamp,
    /// When the hold lapses unless confirmed.
    pub expires_at: Timestamp,
    /// `active`, `released`, `confirmed` or `expired`.
    #[schema(value_type = String, example = "active")]
    pub state: HoldState,
    /// The appointment it became, once confirmed.
    pub appointment_id: Option<Uuid>,
}

impl From<Hold> for HoldResponse {
    fn from(hold: Hold) -> Self {
        Self {
            id: hold.id.as_uuid(),
            doctor_id: hold.doctor_id.as_uuid(),
            start: hold.start,
            end: hold.end,
            expires_at: hold.expires_at,
            state: hold.state,
            appointment_id: hold.appointment_id.map(|a| a.as_uuid()),
        }
    }
}

/// Holds a slot for five minutes. Repeating the request returns the same hold.
#[utoipa::path(post, path = "/api/v1/holds", operation_id = "create_hold", tag = "booking",
    request_body = HoldRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Held", body = HoldResponse),
        (status = 200, description = "You already hold this slot", body = HoldResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`patient_id` given by someone not at the front desk", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown doctor or patient", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Taken (`slot_taken`), day full (`day_full`), hold limit (`limit_reached`) or appointment limit (`appointment_limit`) reached", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a bookable slot (`slot_unavailable`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiJson(body): ApiJson<HoldRequest>,
) -> ApiResult<impl IntoResponse> {
    let actor = Actor::user(user.id, user.role, client.key());
    let claimed = state
        .desk
        .hold(
            &actor,
            user.id,
            body.patient_id.map(UserId::from_uuid),
            DoctorId::from_uuid(body.doctor_id),
            body.start,
            body.rescheduling
                .map(AppointmentId::from_uuid)
                .map_or(HoldPurpose::NewAppointment, HoldPurpose::Moving),
        )
        .await?;
    let status = if claimed.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(HoldResponse::from(claimed.hold))))
}

/// One of your holds.
#[utoipa::path(get, path = "/api/v1/holds/{id}", operation_id = "get_hold", tag = "booking",
    params(("id" = Uuid, Path, description = "Hold id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = HoldResponse),
        (status = 404, description = "`hold_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<HoldResponse>> {
    let hold = state
        .bookings
        .hold_of(user.id, HoldId::from_uuid(id))
        .await?;
    state
        .audit
        .record(
            &Actor::user(user.id, user.role, client.key()),
            AuditEvent::hold(AuditAction::HoldRead, &hold),
        )
        .await?;
    Ok(Json(hold.into()))
}

/// Releases your hold; the slot becomes free at once. Releasing twice is fine.
#[utoipa::path(delete, path = "/api/v1/holds/{id}", tag = "booking",
    params(("id" = Uuid, Path, description = "Hold id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Released"),
        (status = 404, description = "`hold_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already confirmed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn release(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    let actor = Actor::user(user.id, user.role, client.key());
    state
        .desk
        .release(&actor, user.id, HoldId::from_uuid(id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
