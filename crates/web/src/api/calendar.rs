//! Calendars: one appointment as an iCalendar file, and the person's private feed URLs.
//!
//! - `GET /api/v1/appointments/{id}/ics`: the appointment as an RFC 5545 file (same access as
//!   `GET /api/v1/appointments/{id}`: the patient's own; anyone else's is a 404).
//! - `GET /api/v1/me/calendar`: `{feed_url, webcal_url}` of the person's appointments, plus
//!   `agenda_feed_url` and `agenda_webcal_url` for a person linked to a doctor profile. The
//!   same URLs come back every time until revoked.
//! - `DELETE /api/v1/me/calendar?feed=appointments|agenda`: revokes one feed (default: the
//!   appointments); its URL answers 404 at once, and the next `GET` gives a new one.
//!
//! The feeds themselves are served outside the API, without sign-in, at
//! `/calendar/{token}.ics` ([`crate::pages::calendar::feed`]).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use medibook_core::BookingError;
use medibook_core::audit::{Actor, AuditAction, AuditEvent};
use medibook_core::ids::AppointmentId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::shell::AppState;
use crate::shell::auth::AuthUser;
use crate::shell::client::ClientIp;
use crate::shell::downloads::calendar_download;
use crate::shell::error::{ApiResult, Problem};
use crate::shell::extract::{ApiPath, ApiQuery};
use crate::shell::inputs::feed_kind;

/// The private calendar feeds of the signed-in person.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarFeedsResponse {
    /// Your appointments as a feed any calendar app can subscribe to without signing in.
    /// Treat it like a password: whoever has it sees your appointments.
    #[schema(example = "https://clinic.example/calendar/3f…9a.ics")]
    pub feed_url: String,
    /// The same feed with the `webcal://` scheme, which opens a calendar app to subscribe.
    pub webcal_url: String,
    /// Doctors (and admins linked to a doctor profile): the agenda of that profile, with
    /// patients' names and reasons.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agenda_feed_url: Option<String>,
    /// The agenda feed with the `webcal://` scheme.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agenda_webcal_url: Option<String>,
}

/// Which feed to revoke.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedChoice {
    /// `appointments` (default) or `agenda`.
    pub feed: Option<String>,
}

/// One of your appointments as an iCalendar (RFC 5545) file: UTC start and end, a stable UID,
/// the SEQUENCE of its changes, `STATUS:CANCELLED` once cancelled, and a reminder an hour
/// before.
#[utoipa::path(get, path = "/api/v1/appointments/{id}/ics", tag = "calendar",
    params(("id" = Uuid, Path, description = "Appointment id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The calendar file", content_type = "text/calendar", body = String),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn appointment_ics(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Response> {
    let file = state
        .calendar
        .appointment_file(user.id, AppointmentId::from_uuid(id))
        .await?;
    state
        .audit
        .record(
            &Actor::user(user.id, user.role, client.key()),
            AuditEvent::appointment(AuditAction::AppointmentRead, &file.appointment)
                .with_detail("calendar file"),
        )
        .await?;
    Ok(calendar_download(file))
}

/// Your private calendar feed URLs (created on first request; the same until revoked).
#[utoipa::path(get, path = "/api/v1/me/calendar", tag = "calendar",
    security(("bearer" = [])),
    responses(
        (status = 200, body = CalendarFeedsResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn my_feeds(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<CalendarFeedsResponse>> {
    let user = state
        .identities
        .user(user.id)
        .await?
        .ok_or(BookingError::Unauthorized)?;
    let links = state.calendar.links(&user).await?;
    Ok(Json(CalendarFeedsResponse {
        feed_url: links.appointments.url,
        webcal_url: links.appointments.webcal_url,
        agenda_feed_url: links.agenda.as_ref().map(|l| l.url.clone()),
        agenda_webcal_url: links.agenda.map(|l| l.webcal_url),
    }))
}

/// Revokes one of your feeds: its URL stops working at once; the next
/// `GET /api/v1/me/calendar` gives a new one.
#[utoipa::path(delete, path = "/api/v1/me/calendar", tag = "calendar", params(FeedChoice),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown `feed`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke_feed(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(choice): ApiQuery<FeedChoice>,
) -> ApiResult<StatusCode> {
    let kind = feed_kind(choice.feed.as_deref())?;
    state.calendar.revoke(user.id, kind).await?;
    Ok(StatusCode::NO_CONTENT)
}
