//! The outbox for admins: `GET /api/v1/admin/outbox?status=&kind=&page=`, counts per status
//! and the messages, newest first, with their failure reasons. Recipients are masked and bodies
//! never leave the server (sign-in codes live there until they are sent).

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use medibook_core::audit::{AuditAction, AuditEvent};
use medibook_core::outbox::{OutboxEntry, OutboxSummary};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::admin::actor;
use crate::shell::AppState;
use crate::shell::access::AdminCaller;
use crate::shell::client::ClientIp;
use crate::shell::error::{ApiResult, Problem};
use crate::shell::extract::ApiQuery;

/// Which outbox messages to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutboxFilter {
    /// Only messages in this status: `pending`, `sent`, `failed` or `cancelled`.
    pub status: Option<String>,
    /// Only messages of this kind: `sign_in_code`, `booked`, `rescheduled`, `cancelled`,
    /// `reminder` or `waitlist_offer`.
    pub kind: Option<String>,
    /// Page number, 1 (the newest 50) to 1000.
    pub page: Option<u32>,
}

/// How many messages are in each status.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxSummaryResponse {
    /// Waiting to be sent (first attempt or a retry).
    pub pending: u64,
    /// Delivered to the provider.
    pub sent: u64,
    /// Given up, with a reason.
    pub failed: u64,
    /// Withdrawn before sending (reminders of appointments that moved or were cancelled).
    pub cancelled: u64,
    /// The earliest due time among pending messages; well in the past when delivery lags.
    pub oldest_pending_due: Option<Timestamp>,
}

impl From<OutboxSummary> for OutboxSummaryResponse {
    fn from(summary: OutboxSummary) -> Self {
        Self {
            pending: summary.pending,
            sent: summary.sent,
            failed: summary.failed,
            cancelled: summary.cancelled,
            oldest_pending_due: summary.oldest_pending_due,
        }
    }
}

/// One outbox message, without its body.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxMessageResponse {
    /// Outbox id.
    pub id: String,
    /// `sign_in_code`, `booked`, `rescheduled`, `cancelled`, `reminder` or `waitlist_offer`.
    #[schema(example = "booked")]
    pub kind: &'static str,
    /// `email` or `sms`.
    #[schema(example = "email")]
    pub channel: &'static str,
    /// The address, masked: `p•••@example.com`, `+49•••78`.
    #[schema(example = "p•••@example.com")]
    pub recipient: String,
    /// The subject line.
    pub subject: String,
    /// `pending`, `sent`, `failed` or `cancelled`.
    #[schema(example = "failed")]
    pub status: &'static str,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When a pending message is (next) due.
    pub next_attempt_at: Timestamp,
    /// Why the last attempt failed, or why the message was given up or withdrawn.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: Timestamp,
    /// When it was sent, given up or withdrawn.
    pub finished_at: Option<Timestamp>,
    /// The appointment it is about, if any.
    pub appointment_id: Option<Uuid>,
}

impl From<OutboxEntry> for OutboxMessageResponse {
    fn from(entry: OutboxEntry) -> Self {
        Self {
            id: entry.id,
            kind: entry.kind.as_str(),
            channel: entry.recipient.channel(),
            recipient: entry.recipient.masked(),
            subject: entry.subject,
            status: entry.status.as_str(),
            attempts: entry.attempts,
            next_attempt_at: entry.next_attempt_at,
            last_error: entry.last_error,
            created_at: entry.created_at,
            finished_at: entry.finished_at,
            appointment_id: entry.appointment_id.map(|id| id.as_uuid()),
        }
    }
}

/// The outbox's state and one page of its messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxResponse {
    /// Counts over the whole outbox, whatever the filter.
    pub summary: OutboxSummaryResponse,
    /// The messages the filter selects, newest first, 50 to a page.
    pub messages: Vec<OutboxMessageResponse>,
    /// This page's number.
    pub page: u32,
    /// Whether an older page follows.
    pub has_more: bool,
}

/// The outbox: counts per status, the oldest pending message's due time, and the messages
/// (newest first, 50 to a page) with status, attempts and failure reason. Recipients are
/// masked and bodies are never returned.
#[utoipa::path(get, path = "/api/v1/admin/outbox", tag = "admin", params(OutboxFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, body = OutboxResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown status or kind, or a page out of range", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn outbox(
    State(state): State<AppState>,
    caller: AdminCaller,
    client: ClientIp,
    ApiQuery(filter): ApiQuery<OutboxFilter>,
) -> ApiResult<Json<OutboxResponse>> {
    let page = state
        .outbox
        .page(
            filter.status.as_deref(),
            filter.kind.as_deref(),
            filter.page,
        )
        .await?;
    state
        .audit
        .record(
            &actor(&caller, &client),
            AuditEvent::new(AuditAction::OutboxRead, "outbox", None)
                .with_detail(format!("{} messages listed", page.messages.len())),
        )
        .await?;
    Ok(Json(OutboxResponse {
        summary: page.summary.into(),
        messages: page.messages.into_iter().map(Into::into).collect(),
        page: page.page,
        has_more: page.has_more,
    }))
}
