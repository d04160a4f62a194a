//! The contact-form inbox in the admin console: `GET /admin/messages`, newest first, through
//! `ContactDesk::inbox`, audited as `contact.read` like the admin API.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use medibook_core::audit::{AuditAction, AuditEvent};
use medibook_core::contact::INBOX_LIMIT;

use crate::pages::admin::{ConsolePage, admin_layout, console_nav, record};
use crate::pages::error::PageResult;
use crate::pages::format;
use crate::pages::{AdminViewer, Layout, NavLink};
use crate::shell::AppState;
use crate::shell::client::ClientIp;

/// One message of the inbox.
#[derive(Clone, Debug)]
pub struct MessageView {
    /// Its id, for the element's id.
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
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_messages.html")]
struct MessagesPage {
    layout: Layout,
    console: Vec<NavLink>,
    messages: Vec<MessageView>,
    /// Whether the inbox showed only its newest [`INBOX_LIMIT`].
    capped: bool,
    limit: u32,
}

/// `GET /admin/messages`: the inbox.
pub async fn inbox(
    State(state): State<AppState>,
    admin: AdminViewer,
    client: ClientIp,
    uri: Uri,
) -> PageResult<Response> {
    let messages = state.contact.inbox().await?;
    record(
        &state,
        &admin,
        &client,
        vec![AuditEvent::new(
            AuditAction::ContactInboxRead,
            "contact_message",
            None,
        )],
    )
    .await?;
    let capped = u32::try_from(messages.len()).is_ok_and(|n| n >= INBOX_LIMIT);
    let page = MessagesPage {
        layout: admin_layout(&admin, "Contact messages", &uri),
        console: console_nav(ConsolePage::Messages),
        messages: messages
            .into_iter()
            .map(|m| MessageView {
                id: m.id.to_string(),
                name: m.name,
                email: m.email.as_str().to_owned(),
                message: m.message,
                received: format::utc_moment(m.received_at),
                received_at: m.received_at.to_string(),
            })
            .collect(),
        capped,
        limit: INBOX_LIMIT,
    };
    Ok(page.into_response())
}
