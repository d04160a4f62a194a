//! Live slot listings.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use jiff::civil::Date;
use medibook_core::booking::SlotStatus;
use medibook_core::ids::DoctorId;
use medibook_core::listing::listing_json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::shell::AppState;
use crate::shell::error::{ApiResult, Problem};
use crate::shell::extract::ApiQuery;

/// Which slots to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SlotQuery {
    /// The doctor.
    pub doctor_id: Uuid,
    /// First calendar date, in the doctor's time zone (YYYY-MM-DD).
    #[param(value_type = String, format = Date, example = "2027-03-02")]
    pub date: Date,
    /// Number of dates, 1 to 31 (default 7).
    #[param(minimum = 1, maximum = 31)]
    pub days: Option<u16>,
}

/// A slot and whether it can be held.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlotResponse {
    /// Start (RFC 3339).
    pub start: Timestamp,
    /// End (RFC 3339).
    pub end: Timestamp,
    /// `available`, `held` or `booked`.
    #[schema(value_type = String, example = "available")]
    pub status: SlotStatus,
}

/// Lists a doctor's bookable slots with their live status.
#[utoipa::path(get, path = "/api/v1/slots", operation_id = "list_slots", tag = "booking", params(SlotQuery),
    responses(
        (status = 200, body = [SlotResponse]),
        (status = 404, description = "Unknown doctor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid window", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SlotQuery>,
) -> ApiResult<Response> {
    let slots = state
        .bookings
        .slots(
            DoctorId::from_uuid(query.doctor_id),
            query.date,
            query.days.unwrap_or(7),
        )
        .await?;
    // Written straight from the listing ([`SlotResponse`] documents its shape).
    let body = listing_json(&slots);
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
