//! The contact-form inbox, worked by the front desk (receptionists and admins): read it,
//! answer a message by e-mail, mark it handled.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use medibook_core::audit::{Actor, AuditAction, AuditEvent};
use medibook_core::contact::ContactMessage;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::shell::AppState;
use crate::shell::access::DeskCaller;
use crate::shell::client::ClientIp;
use crate::shell::error::{ApiResult, Problem};
use crate::shell::extract::{ApiJson, ApiPath};

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
    /// When the desk marked it handled; `null` while it waits.
    pub handled_at: Option<Timestamp>,
    /// When the desk last answered it by e-mail.
    pub replied_at: Option<Timestamp>,
}

impl From<ContactMessage> for ContactMessageResponse {
    fn from(message: ContactMessage) -> Self {
        Self {
            id: message.id,
            name: message.name,
            email: message.email.as_str().to_owned(),
            message: message.message,
            received_at: message.received_at,
            handled_at: message.handled_at,
            replied_at: message.replied_at,
        }
    }
}

/// An answer to a message.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ContactReplyRequest {
    /// The text, 1 to 5,000 characters; sent by e-mail with the clinic's name and the
    /// message quoted.
    pub text: String,
}

/// Whether a message is dealt with.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ContactHandledRequest {
    /// `true`: handled; `false`: back to be dealt with.
    pub handled: bool,
}

fn actor(caller: &DeskCaller, client: &ClientIp) -> Actor {
    Actor::user(caller.0.auth.id, caller.0.member.role, client.key())
}

/// The contact-form inbox, newest first (at most 500).
#[utoipa::path(get, path = "/api/v1/admin/contact-messages", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, body = [ContactMessageResponse]),
        (status = 403, description = "Not a receptionist or admin", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn contact_messages(
    State(state): State<AppState>,
    caller: DeskCaller,
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

/// Answers a message by e-mail (queued in the outbox; the reply's text is not kept in the
/// audit trail) and marks it handled.
#[utoipa::path(post, path = "/api/v1/admin/contact-messages/{id}/reply", tag = "admin",
    params(("id" = Uuid, Path, description = "The message")),
    request_body = ContactReplyRequest,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Queued for sending", body = ContactMessageResponse),
        (status = 403, description = "Not a receptionist or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such message", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An empty or too long reply", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reply_to_contact(
    State(state): State<AppState>,
    caller: DeskCaller,
    client: ClientIp,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ContactReplyRequest>,
) -> ApiResult<(StatusCode, Json<ContactMessageResponse>)> {
    let message = state
        .contact
        .reply(&actor(&caller, &client), id, &body.text)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(message.into())))
}

/// Marks a message handled, or back to be dealt with.
#[utoipa::path(put, path = "/api/v1/admin/contact-messages/{id}/handled", tag = "admin",
    params(("id" = Uuid, Path, description = "The message")),
    request_body = ContactHandledRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, body = ContactMessageResponse),
        (status = 403, description = "Not a receptionist or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such message", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_contact_handled(
    State(state): State<AppState>,
    caller: DeskCaller,
    client: ClientIp,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ContactHandledRequest>,
) -> ApiResult<Json<ContactMessageResponse>> {
    let message = state
        .contact
        .set_handled(&actor(&caller, &client), id, body.handled)
        .await?;
    Ok(Json(message.into()))
}
