//! The contact-form inbox.

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use medibook_core::audit::{AuditAction, AuditEvent};
use medibook_core::contact::ContactMessage;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::actor;
use crate::shell::AppState;
use crate::shell::access::AdminCaller;
use crate::shell::client::ClientIp;
use crate::shell::error::{ApiResult, Problem};

/// A contact-form message.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactMessageResponse {
    /// Identity.
    pub id: Uuid,
    /// Who wrote.
    pub name: String,
    /// Where to answer.
    pub email: String,
    /// What they wrote.
    pub message: String,
    /// When it arrived.
    pub received_at: Timestamp,
}

impl From<ContactMessage> for ContactMessageResponse {
    fn from(message: ContactMessage) -> Self {
        Self {
            id: message.id,
            name: message.name,
            email: message.email.as_str().to_owned(),
            message: message.message,
            received_at: message.received_at,
        }
    }
}

/// The contact-form inbox, newest first (at most 500).
#[utoipa::path(get, path = "/api/v1/admin/contact-messages", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, body = [ContactMessageResponse]),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn contact_messages(
    State(state): State<AppState>,
    caller: AdminCaller,
    client: ClientIp,
) -> ApiResult<Json<Vec<ContactMessageResponse>>> {
    let messages = state.contact.inbox().await?;
    state
        .audit
        .record(
            &actor(&caller, &client),
            AuditEvent::new(AuditAction::ContactInboxRead, "contact_message", None),
        )
        .await?;
    Ok(Json(messages.into_iter().map(Into::into).collect()))
}
