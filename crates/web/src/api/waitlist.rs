//! The waitlist: wait for a fully booked doctor (or any doctor of a specialty) and be offered
//! the first matching slot that frees, as an exclusive hold confirmed like any other.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use jiff::Timestamp;
use jiff::civil::Date;
use medibook_core::BookingError;
use medibook_core::audit::{Actor, AuditAction, AuditEvent};
use medibook_core::ids::{DoctorId, OfferId, SpecialtyId, WaitlistEntryId};
use medibook_core::waitlist::{
    EntryState, OfferState, WaitPreference, WaitTarget, WaitlistEntry, WaitlistOffer,
};
use medibook_core::waitlist_service::JoinRequest;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::shell::AppState;
use crate::shell::auth::AuthUser;
use crate::shell::client::ClientIp;
use crate::shell::error::{ApiResult, Problem};
use crate::shell::extract::{ApiJson, ApiPath};

/// What to wait for: exactly one of `doctor_id` and `specialty_id`, optionally within dates.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinWaitlist {
    /// Wait for this doctor.
    pub doctor_id: Option<Uuid>,
    /// Or for any doctor of this specialty.
    pub specialty_id: Option<Uuid>,
    /// First acceptable date, in the doctor's zone (`YYYY-MM-DD`).
    #[schema(value_type = Option<String>, format = Date, example = "2027-03-01")]
    pub from: Option<Date>,
    /// Last acceptable date, in the doctor's zone (`YYYY-MM-DD`).
    #[schema(value_type = Option<String>, format = Date, example = "2027-03-05")]
    pub to: Option<Date>,
    /// The days of the week that suit (`monday` … `sunday`); none or empty: any day.
    #[serde(default)]
    #[schema(example = json!(["tuesday", "thursday"]))]
    pub weekdays: Vec<String>,
    /// The earliest start that suits, `HH:MM` in the doctor's zone.
    #[schema(example = "16:00")]
    pub earliest: Option<String>,
    /// The latest end that suits, `HH:MM` in the doctor's zone.
    #[schema(example = "19:00")]
    pub latest: Option<String>,
}

/// A slot offered to you: confirm it with `POST /api/v1/appointments` and its `hold_id`
/// before `expires_at`, or decline it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OfferResponse {
    /// The offer.
    pub offer_id: Uuid,
    /// The hold carrying the slot.
    pub hold_id: Uuid,
    /// The doctor.
    pub doctor_id: Uuid,
    /// Start of the visit.
    pub start: Timestamp,
    /// End of the visit.
    pub end: Timestamp,
    /// When the slot passes to the next patient.
    pub expires_at: Timestamp,
    /// `open`, `accepted`, `declined` or `expired`.
    #[schema(value_type = String, example = "open")]
    pub state: OfferState,
}

impl From<WaitlistOffer> for OfferResponse {
    fn from(offer: WaitlistOffer) -> Self {
        Self {
            offer_id: offer.id.as_uuid(),
            hold_id: offer.hold_id.as_uuid(),
            doctor_id: offer.doctor_id.as_uuid(),
            start: offer.start,
            end: offer.end,
            expires_at: offer.expires_at,
            state: offer.state,
        }
    }
}

/// Your place on a waitlist.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryResponse {
    /// The entry.
    pub id: Uuid,
    /// The doctor waited for, if one.
    pub doctor_id: Option<Uuid>,
    /// The specialty waited for, if any doctor of it will do.
    pub specialty_id: Option<Uuid>,
    /// First acceptable date.
    #[schema(value_type = Option<String>, format = Date)]
    pub from: Option<Date>,
    /// Last acceptable date.
    #[schema(value_type = Option<String>, format = Date)]
    pub to: Option<Date>,
    /// The days of the week that suit; empty: any day.
    pub weekdays: Vec<&'static str>,
    /// The earliest start that suits (`HH:MM:SS`), if any.
    #[schema(value_type = Option<String>, example = "16:00:00")]
    pub earliest: Option<String>,
    /// The latest end that suits (`HH:MM:SS`), if any.
    #[schema(value_type = Option<String>, example = "19:00:00")]
    pub latest: Option<String>,
    /// `waiting`, `offered`, `fulfilled` or `left`.
    #[schema(value_type = String, example = "waiting")]
    pub state: EntryState,
    /// When you joined; earlier waiters are offered slots first.
    pub queued_at: Timestamp,
    /// The slot offered to you now, if any.
    pub offer: Option<OfferResponse>,
}

impl From<WaitlistEntry> for EntryResponse {
    fn from(entry: WaitlistEntry) -> Self {
        let (doctor_id, specialty_id) = match entry.target {
            WaitTarget::Doctor(id) => (Some(id.as_uuid()), None),
            WaitTarget::Specialty(id) => (None, Some(id.as_uuid())),
        };
        Self {
            id: entry.id.as_uuid(),
            doctor_id,
            specialty_id,
            from: entry.from,
            to: entry.to,
            weekdays: entry.preference.day_names(),
            earliest: entry.preference.earliest.map(|t| t.to_string()),
            latest: entry.preference.latest.map(|t| t.to_string()),
            state: entry.state,
            queued_at: entry.queued_at,
            offer: entry.offer.map(OfferResponse::from),
        }
    }
}

/// Joins the waitlist of a doctor or of a specialty, optionally within dates and on days and
/// times that suit; a slot that frees up and suits is offered to the first waiter, held for
/// them, before anyone else sees it. A time that suits and is free now is not waited for:
/// 409 `slot_free_now` names it, to book directly. Joining again with the same choice returns
/// the same entry.
#[utoipa::path(post, path = "/api/v1/waitlist", tag = "waitlist",
    request_body = JoinWaitlist,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Joined", body = EntryResponse),
        (status = 200, description = "You already wait for this", body = EntryResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown doctor or specialty", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Too many waitlists (`limit_reached`), or a time that suits is free now (`slot_free_now`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad window or target (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn join(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiJson(body): ApiJson<JoinWaitlist>,
) -> ApiResult<impl IntoResponse> {
    let target = match (body.doctor_id, body.specialty_id) {
        (Some(doctor), None) => WaitTarget::Doctor(DoctorId::from_uuid(doctor)),
        (None, Some(specialty)) => WaitTarget::Specialty(SpecialtyId::from_uuid(specialty)),
        _ => {
            return Err(
                BookingError::validation("give exactly one of doctor_id and specialty_id").into(),
            );
        }
    };
    let days: Vec<&str> = body.weekdays.iter().map(String::as_str).collect();
    let preference =
        WaitPreference::parse(&days, body.earliest.as_deref(), body.latest.as_deref())?;
    let (entry, created) = state
        .waitlist
        .join(
            user.id,
            &Actor::user(user.id, user.role, client.key()),
            JoinRequest {
                target,
                from: body.from,
                to: body.to,
                preference,
            },
        )
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(EntryResponse::from(entry))))
}

/// Your active waitlist entries (waiting or offered), in the order you joined.
#[utoipa::path(get, path = "/api/v1/waitlist", operation_id = "list_waitlist_entries", tag = "waitlist",
    security(("bearer" = [])),
    responses(
        (status = 200, body = [EntryResponse]),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
) -> ApiResult<Json<Vec<EntryResponse>>> {
    let entries = state.waitlist.entries_of(user.id).await?;
    state
        .audit
        .record(
            &Actor::user(user.id, user.role, client.key()),
            AuditEvent::new(AuditAction::WaitlistList, "waitlist_entry", None)
                .with_patient(user.id),
        )
        .await?;
    Ok(Json(entries.into_iter().map(EntryResponse::from).collect()))
}

/// One of your waitlist entries, in any state.
#[utoipa::path(get, path = "/api/v1/waitlist/{id}", operation_id = "get_waitlist_entry", tag = "waitlist",
    params(("id" = Uuid, Path, description = "Entry id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = EntryResponse),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<EntryResponse>> {
    let entry = state
        .waitlist
        .entry_of(user.id, WaitlistEntryId::from_uuid(id))
        .await?;
    Ok(Json(entry.into()))
}

/// Leaves a waitlist. An open offer of the entry is declined and passes to the next patient.
/// Leaving twice is fine.
#[utoipa::path(delete, path = "/api/v1/waitlist/{id}", tag = "waitlist",
    params(("id" = Uuid, Path, description = "Entry id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Left"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn leave(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    state
        .waitlist
        .leave(
            user.id,
            &Actor::user(user.id, user.role, client.key()),
            WaitlistEntryId::from_uuid(id),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Declines an offer: the slot passes to the next patient and you keep your place on the
/// waitlist. Declining twice is fine.
#[utoipa::path(post, path = "/api/v1/waitlist/offers/{id}/decline", tag = "waitlist",
    params(("id" = Uuid, Path, description = "Offer id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Declined"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already booked (`invalid_state`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn decline(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    state
        .waitlist
        .decline(
            user.id,
            &Actor::user(user.id, user.role, client.key()),
            OfferId::from_uuid(id),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
