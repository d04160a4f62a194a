//! Liveness and readiness probes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::shell::AppState;
use crate::shell::error::{ApiError, ApiResult, Problem};

/// Probe answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    /// `ok`.
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = HealthResponse)))]
pub async fn live() -> Json<HealthResponse> {
    Json(HealthResponse { status: "ok" })
}

/// The process can serve: its database answers within two seconds, and (SQLite) writes commit
/// — after a write failed for want of space, only once one commits again.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, body = HealthResponse),
        (status = 503, description = "Database unreachable, or its storage full", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn ready(State(state): State<AppState>) -> ApiResult<Json<HealthResponse>> {
    state.readiness.check().await.map_err(|reason| {
        tracing::warn!(%reason, "not ready");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the database is not reachable or cannot store writes",
        )
    })?;
    Ok(Json(HealthResponse { status: "ok" }))
}
