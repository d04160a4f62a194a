//! The caller's Google Calendar connection, so API clients can show what the profile page shows.

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use medibook_core::calendar_sync::ConnectionStatus;
use serde::Serialize;
use utoipa::ToSchema;

use crate::shell::AppState;
use crate::shell::auth::AuthUser;
use crate::shell::error::{ApiResult, Problem};

/// The state of your Google Calendar connection.
#[derive(Debug, Serialize, ToSchema)]
pub struct GoogleConnectionResponse {
    /// Whether this server offers Google Calendar at all (a Google client is configured).
    pub enabled: bool,
    /// Whether a Google account is connected (active or revoked).
    pub connected: bool,
    /// `active`, `revoked`, or `null` when not connected.
    pub status: Option<String>,
    /// Why Google stopped accepting the connection, or the last failed update (retried).
    pub last_error: Option<String>,
    /// When it was connected.
    pub connected_at: Option<Timestamp>,
}

/// Your Google Calendar connection (`enabled: false` when the server has no Google client).
#[utoipa::path(get, path = "/api/v1/me/google", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, body = GoogleConnectionResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn connection(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<GoogleConnectionResponse>> {
    let view = match &state.google {
        Some(google) => google.sync.status(user.id).await?,
        None => None,
    };
    Ok(Json(match view {
        None => GoogleConnectionResponse {
            enabled: state.google.is_some(),
            connected: false,
            status: None,
            last_error: None,
            connected_at: None,
        },
        Some(view) => GoogleConnectionResponse {
            enabled: true,
            connected: true,
            status: Some(
                match view.status {
                    ConnectionStatus::Active => "active",
                    ConnectionStatus::Revoked => "revoked",
                }
                .to_owned(),
            ),
            last_error: view.last_error,
            connected_at: Some(view.connected_at),
        },
    }))
}
