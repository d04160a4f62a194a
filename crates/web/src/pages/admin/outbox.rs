//! The outbox in the admin console: `GET /admin/outbox?status=&kind=&page=`, through
//! `OutboxMonitor::page` like the admin API's `GET /api/v1/admin/outbox`: counts per status,
//! the oldest pending message's due time, a `GET` form filtering by status and kind, and the
//! messages newest first, 50 to a page, with the reason each failed. Recipients are masked and
//! bodies are never shown. Each read is recorded as `outbox.read`, as for the API.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use medibook_core::BookingError;
use medibook_core::audit::{AuditAction, AuditEvent};
use medibook_core::outbox::{MessageKind, MessageStatus, OutboxEntry, OutboxSummary};

use crate::pages::admin::{ConsolePage, admin_layout, console_nav, record};
use crate::pages::browse::query_param;
use crate::pages::error::PageResult;
use crate::pages::format;
use crate::pages::signin::encode_component;
use crate::pages::{AdminViewer, Layout, NavLink};
use crate::shell::AppState;
use crate::shell::client::ClientIp;

/// A choice of a filter's `<select>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterOption {
    /// The value sent.
    pub value: &'static str,
    /// What people read.
    pub label: &'static str,
    /// Whether it is the one in force.
    pub selected: bool,
}

/// One count of the summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusCount {
    /// `pending`, `sent`, … (for the class and the link).
    pub status: &'static str,
    /// "Pending", "Sent", …
    pub label: &'static str,
    /// How many.
    pub count: u64,
    /// The listing filtered on this status.
    pub href: String,
}

/// One row of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRow {
    /// Outbox id.
    pub id: String,
    /// "Sat 21 Nov 2026, 20:43 UTC".
    pub created: String,
    /// RFC 3339.
    pub created_at: String,
    /// "Booking confirmation", …
    pub kind: &'static str,
    /// "Email" or "SMS".
    pub channel: &'static str,
    /// `p•••@example.com`.
    pub recipient: String,
    /// The subject line.
    pub subject: String,
    /// `pending`, `sent`, … (for the class).
    pub status: &'static str,
    /// "Pending", "Sent", …
    pub status_label: &'static str,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// "Due Sat 21 Nov 2026, 20:43 UTC" or "Finished …".
    pub timing: String,
    /// Why it failed or was withdrawn, if it did.
    pub reason: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_outbox.html")]
struct OutboxPage {
    layout: Layout,
    console: Vec<NavLink>,
    counts: Vec<StatusCount>,
    /// "Oldest pending message due Sat 21 Nov 2026, 20:43 UTC", if any is pending.
    oldest_pending: Option<String>,
    statuses: Vec<FilterOption>,
    kinds: Vec<FilterOption>,
    /// What the filter refused, if anything.
    error: Option<String>,
    /// "3 messages, newest first" and the like.
    listing: String,
    rows: Vec<MessageRow>,
    previous_href: Option<String>,
    next_href: Option<String>,
}

/// A status in words.
pub fn status_label(status: MessageStatus) -> &'static str {
    match status {
        MessageStatus::Pending => "Pending",
        MessageStatus::Sent => "Sent",
        MessageStatus::Failed => "Failed",
        MessageStatus::Cancelled => "Withdrawn",
    }
}

/// A kind in words.
pub fn kind_label(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::SignInCode => "Sign-in code",
        MessageKind::Booked => "Booking confirmation",
        MessageKind::Rescheduled => "Appointment moved",
        MessageKind::Cancelled => "Cancellation",
        MessageKind::Reminder => "Reminder",
        MessageKind::WaitlistOffer => "Waitlist offer",
        MessageKind::ContactReply => "Reply to a contact message",
    }
}

fn row_of(entry: OutboxEntry) -> MessageRow {
    let timing = match (entry.status, entry.finished_at) {
        (MessageStatus::Pending, _) | (_, None) => {
            format!("Due {}", format::utc_moment(entry.next_attempt_at))
        }
        (_, Some(finished)) => format!("Finished {}", format::utc_moment(finished)),
    };
    MessageRow {
        id: entry.id,
        created: format::utc_moment(entry.created_at),
        created_at: entry.created_at.to_string(),
        kind: kind_label(entry.kind),
        channel: match entry.recipient.channel() {
            "sms" => "SMS",
            _ => "Email",
        },
        recipient: entry.recipient.masked(),
        subject: entry.subject,
        status: entry.status.as_str(),
        status_label: status_label(entry.status),
        attempts: entry.attempts,
        timing,
        reason: entry.last_error.filter(|e| !e.trim().is_empty()),
    }
}

fn counts_of(summary: &OutboxSummary) -> Vec<StatusCount> {
    MessageStatus::ALL
        .into_iter()
        .map(|status| StatusCount {
            status: status.as_str(),
            label: status_label(status),
            count: match status {
                MessageStatus::Pending => summary.pending,
                MessageStatus::Sent => summary.sent,
                MessageStatus::Failed => summary.failed,
                MessageStatus::Cancelled => summary.cancelled,
            },
            href: listing_href(status.as_str(), "", 1),
        })
        .collect()
}

/// The listing with these filters on page `page`.
fn listing_href(status: &str, kind: &str, page: u32) -> String {
    let mut query: Vec<String> = [("status", status), ("kind", kind)]
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("{name}={}", encode_component(value)))
        .collect();
    if page > 1 {
        query.push(format!("page={page}"));
    }
    if query.is_empty() {
        "/admin/outbox".to_owned()
    } else {
        format!("/admin/outbox?{}", query.join("&"))
    }
}

fn options<T: Copy>(
    all: &[T],
    chosen: &str,
    value: impl Fn(T) -> &'static str,
    label: impl Fn(T) -> &'static str,
) -> Vec<FilterOption> {
    all.iter()
        .map(|item| FilterOption {
            value: value(*item),
            label: label(*item),
            selected: value(*item) == chosen,
        })
        .collect()
}

/// `GET /admin/outbox?status=&kind=&page=`.
pub async fn list(
    State(state): State<AppState>,
    admin: AdminViewer,
    client: ClientIp,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let field = |name| {
        query_param(raw.as_deref(), name)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let (status, kind, page_text) = (field("status"), field("kind"), field("page"));
    let mut page = OutboxPage {
        layout: admin_layout(&admin, "Outbox", &uri),
        console: console_nav(ConsolePage::Outbox),
        counts: Vec::new(),
        oldest_pending: None,
        statuses: options(
            &MessageStatus::ALL,
            &status,
            MessageStatus::as_str,
            status_label,
        ),
        kinds: options(&MessageKind::ALL, &kind, MessageKind::as_str, kind_label),
        error: None,
        listing: String::new(),
        rows: Vec::new(),
        previous_href: None,
        next_href: None,
    };
    let number = if page_text.is_empty() {
        Some(1)
    } else {
        page_text.parse::<u32>().ok()
    };
    let result = match number {
        Some(number) => {
            state
                .outbox
                .page(Some(&status), Some(&kind), Some(number))
                .await
        }
        None => Err(BookingError::validation("page must be a whole number")),
    };
    let listed = match result {
        Ok(listed) => listed,
        Err(BookingError::Validation(message)) => {
            page.error = Some(message);
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
        Err(other) => return Err(other.into()),
    };
    record(
        &state,
        &admin,
        &client,
        vec![
            AuditEvent::new(AuditAction::OutboxRead, "outbox", None)
                .with_detail(format!("{} messages listed", listed.messages.len())),
        ],
    )
    .await?;
    page.counts = counts_of(&listed.summary);
    page.oldest_pending = listed
        .summary
        .oldest_pending_due
        .map(|due: Timestamp| format::utc_moment(due));
    let shown = i64::try_from(listed.messages.len()).unwrap_or(i64::MAX);
    page.listing = if listed.page == 1 && !listed.has_more {
        format!("{}, newest first.", format::count_of(shown, "message"))
    } else {
        format!(
            "Page {}: {}, newest first.",
            listed.page,
            format::count_of(shown, "message")
        )
    };
    page.previous_href = (listed.page > 1).then(|| listing_href(&status, &kind, listed.page - 1));
    page.next_href = listed
        .has_more
        .then(|| listing_href(&status, &kind, listed.page + 1));
    page.rows = listed.messages.into_iter().map(row_of).collect();
    Ok(page.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_links_keep_the_filters_and_the_page() {
        assert_eq!(listing_href("", "", 1), "/admin/outbox");
        assert_eq!(listing_href("failed", "", 1), "/admin/outbox?status=failed");
        assert_eq!(
            listing_href("pending", "reminder", 3),
            "/admin/outbox?status=pending&kind=reminder&page=3"
        );
    }
}
