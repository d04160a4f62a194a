//! The contact-form inbox, worked by the front desk: `GET /desk/messages` (receptionists and
//! admins) and `GET /admin/messages` (the same inbox inside the admin console), newest first,
//! through `ContactDesk::inbox`, audited as `contact.read` like the API. Each message can be
//! answered by e-mail (`POST /desk/messages/{id}/reply`, queued in the outbox, which marks it
//! handled) or marked handled or not (`POST /desk/messages/{id}/handled`).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, RawQuery, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use medibook_core::BookingError;
use medibook_core::audit::{Actor, AuditAction, AuditEvent};
use medibook_core::contact::{INBOX_LIMIT, MAX_REPLY_CHARS};

use crate::pages::admin::{ConsolePage, console_nav};
use crate::pages::browse::{page_id, query_param};
use crate::pages::error::PageResult;
use crate::pages::format;
use crate::pages::forms::PostedForm;
use crate::pages::viewer::{DeskViewer, StaffViewer};
use crate::pages::{AdminViewer, Layout, NavLink, Section};
use crate::shell::AppState;
use crate::shell::client::ClientIp;

/// One message of the inbox.
#[derive(Clone, Debug)]
pub struct MessageView {
    /// Its id, for the element's id and the forms.
    pub id: String,
    /// Who wrote, as they gave it.
    pub name: String,
    /// Where to answer.
    pub email: String,
    /// What they wrote, as stored (line breaks kept by the stylesheet).
    pub message: String,
    /// "Sat 21 Nov 2026, 20:43 UTC".
    pub received: String,
    /// RFC 3339, for `<time datetime>`.
    pub received_at: String,
    /// When it was marked handled, in words.
    pub handled: Option<String>,
    /// When it was last answered, in words.
    pub replied: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_messages.html")]
struct MessagesPage {
    layout: Layout,
    /// The admin console's sub-navigation, on `/admin/messages`.
    console: Vec<NavLink>,
    in_console: bool,
    /// Where the forms come back to.
    back: &'static str,
    messages: Vec<MessageView>,
    waiting: usize,
    /// Whether the inbox showed only its newest [`INBOX_LIMIT`].
    capped: bool,
    limit: u32,
    max_reply: usize,
    notice: Option<&'static str>,
}

fn notice_text(notice: Option<&str>) -> Option<&'static str> {
    match notice? {
        "replied" => Some("Reply queued for sending; the message is marked handled."),
        "handled" => Some("Marked handled."),
        "reopened" => Some("Marked as waiting for an answer."),
        "reply-empty" => Some("Write a reply (up to 5,000 characters) before sending it."),
        _ => None,
    }
}

fn actor(staff: &StaffViewer, client: &ClientIp) -> Actor {
    Actor::user(staff.person.auth.id, staff.member.role, client.key())
}

async fn render(
    state: &AppState,
    staff: &StaffViewer,
    client: &ClientIp,
    uri: &Uri,
    in_console: bool,
    raw: Option<&str>,
) -> PageResult<Response> {
    let messages = state.contact.inbox().await?;
    state
        .audit
        .record(
            &actor(staff, client),
            AuditEvent::new(AuditAction::ContactInboxRead, "contact_message", None),
        )
        .await?;
    let capped = u32::try_from(messages.len()).is_ok_and(|n| n >= INBOX_LIMIT);
    let section = if in_console {
        Section::AdminConsole
    } else {
        Section::FrontDesk
    };
    let page = MessagesPage {
        layout: Layout::new(&staff.viewer(), "Contact messages", section, uri),
        console: console_nav(ConsolePage::Messages),
        in_console,
        back: if in_console {
            "/admin/messages"
        } else {
            "/desk/messages"
        },
        waiting: messages.iter().filter(|m| m.handled_at.is_none()).count(),
        messages: messages
            .into_iter()
            .map(|m| MessageView {
                id: m.id.to_string(),
                name: m.name,
                email: m.email.as_str().to_owned(),
                message: m.message,
                received: format::utc_moment(m.received_at),
                received_at: m.received_at.to_string(),
                handled: m.handled_at.map(format::utc_moment),
                replied: m.replied_at.map(format::utc_moment),
            })
            .collect(),
        capped,
        limit: INBOX_LIMIT,
        max_reply: MAX_REPLY_CHARS,
        notice: notice_text(query_param(raw, "notice").as_deref()),
    };
    Ok(page.into_response())
}

/// `GET /admin/messages`: the inbox in the admin console.
pub async fn inbox(
    State(state): State<AppState>,
    admin: AdminViewer,
    client: ClientIp,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    render(&state, &admin.0, &client, &uri, true, raw.as_deref()).await
}

/// `GET /desk/messages`: the inbox at the front desk.
pub async fn desk_inbox(
    State(state): State<AppState>,
    desk: DeskViewer,
    client: ClientIp,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    render(&state, &desk.0, &client, &uri, false, raw.as_deref()).await
}

/// Where a form goes back to: one of the two inbox pages, at the message.
fn back_to(form_back: &str, id: &str, notice: &str) -> String {
    let page = if form_back == "/admin/messages" {
        "/admin/messages"
    } else {
        "/desk/messages"
    };
    format!("{page}?notice={notice}#message-{id}")
}

/// `POST /desk/messages/{id}/reply` (`text`, `back`): answers by e-mail.
pub async fn reply(
    State(state): State<AppState>,
    desk: DeskViewer,
    client: ClientIp,
    Path(id): Path<String>,
    PostedForm(form): PostedForm,
) -> PageResult<Response> {
    let message_id = page_id(&id)?;
    let notice = match state
        .contact
        .reply(&actor(&desk.0, &client), message_id, form.get("text"))
        .await
    {
        Ok(_) => "replied",
        Err(BookingError::Validation(_)) => "reply-empty",
        Err(other) => return Err(other.into()),
    };
    Ok(Redirect::to(&back_to(form.get("back"), &id, notice)).into_response())
}

/// `POST /desk/messages/{id}/handled` (`handled` = `true` or `false`, `back`).
pub async fn handled(
    State(state): State<AppState>,
    desk: DeskViewer,
    client: ClientIp,
    Path(id): Path<String>,
    PostedForm(form): PostedForm,
) -> PageResult<Response> {
    let message_id = page_id(&id)?;
    let handled = form.get("handled") == "true";
    state
        .contact
        .set_handled(&actor(&desk.0, &client), message_id, handled)
        .await?;
    let notice = if handled { "handled" } else { "reopened" };
    Ok(Redirect::to(&back_to(form.get("back"), &id, notice)).into_response())
}
