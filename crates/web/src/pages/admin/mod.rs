//! The admin console (`/admin`): the clinic administrator's pages over the same core calls and
//! audit entries as the admin JSON API (`crate::api::admin`).
//!
//! One file per section: [`doctors`] (list, create, edit), [`specialties`] (add, rename),
//! [`people`] (find accounts, give roles), [`messages`] (the contact-form inbox) and
//! [`audit`] (search the audit trail), [`outbox`] (messages waiting, sent and failed); the
//! overview lives here. Every page takes an
//! [`AdminViewer`]: the role is read from the database on each request, strangers go to
//! sign-in and everyone else gets a 403 page. Forms post with [`PostedForm`] (refusing
//! cross-site posts) and answer with a 303 redirect carrying a `notice`, or re-render with
//! messages by the fields and status 422.
//!
//! [`PostedForm`]: crate::pages::forms::PostedForm

pub mod audit;
pub mod doctors;
pub mod messages;
pub mod outbox;
pub mod people;
pub mod specialties;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use medibook_core::audit::{Actor, AuditEvent};
use medibook_core::contact::INBOX_LIMIT;

use crate::pages::error::PageResult;
use crate::pages::format;
use crate::pages::{AdminViewer, Layout, NavLink, Section};
use crate::shell::AppState;
use crate::shell::client::ClientIp;

/// The sections of the console, for its sub-navigation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsolePage {
    /// `/admin`.
    Overview,
    /// `/admin/doctors…`.
    Doctors,
    /// `/admin/specialties`.
    Specialties,
    /// `/admin/people`.
    People,
    /// `/admin/messages`.
    Messages,
    /// `/admin/audit`.
    Audit,
    /// `/admin/outbox`.
    Outbox,
}

/// The console's sub-navigation, with `current` marked.
pub fn console_nav(current: ConsolePage) -> Vec<NavLink> {
    [
        ("/admin", "Overview", ConsolePage::Overview),
        ("/admin/doctors", "Doctors", ConsolePage::Doctors),
        (
            "/admin/specialties",
            "Specialties",
            ConsolePage::Specialties,
        ),
        ("/admin/people", "People", ConsolePage::People),
        ("/admin/messages", "Messages", ConsolePage::Messages),
        ("/admin/audit", "Audit trail", ConsolePage::Audit),
        ("/admin/outbox", "Outbox", ConsolePage::Outbox),
    ]
    .into_iter()
    .map(|(href, label, page)| NavLink {
        href: href.to_owned(),
        label,
        current: page == current,
    })
    .collect()
}

/// The layout of an admin page titled `title`.
pub fn admin_layout(admin: &AdminViewer, title: impl Into<String>, uri: &Uri) -> Layout {
    Layout::new(&admin.0.viewer(), title, Section::AdminConsole, uri)
}

/// Who `admin` is in the audit trail, exactly as for the admin API: the actor's role is the
/// one stored now (the one that let them in), not the one in their token.
pub fn actor(admin: &AdminViewer, client: &ClientIp) -> Actor {
    Actor::user(admin.0.person.auth.id, admin.0.member.role, client.key())
}

/// Writes audit entries for what `admin` read (changes are audited by the staff service, in
/// their own transactions).
pub async fn record(
    state: &AppState,
    admin: &AdminViewer,
    client: &ClientIp,
    events: Vec<AuditEvent>,
) -> PageResult<()> {
    state
        .audit
        .record_all(&actor(admin, client), events)
        .await?;
    Ok(())
}

/// Messages tied to form fields by the field's name, in the order the form shows them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    /// Adds `message` for `field` (the first message of a field wins).
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        if self.get(field).is_none() {
            self.0.push((field, message.into()));
        }
    }

    /// The message for `field`, if any.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, message)| message.as_str())
    }

    /// Whether there is nothing to say.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every `(field, message)`, for the summary at the top of the form.
    pub fn all(&self) -> &[(&'static str, String)] {
        &self.0
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_overview.html")]
struct OverviewPage {
    layout: Layout,
    console: Vec<NavLink>,
    doctors: String,
    specialties: String,
    messages: String,
}

/// `GET /admin`: how many doctors, specialties and contact messages there are, and the way to
/// each section.
pub async fn overview(
    State(state): State<AppState>,
    admin: AdminViewer,
    uri: Uri,
) -> PageResult<Response> {
    let doctors = state.catalogue.search(None, None).await?.len();
    let specialties = state.catalogue.specialties().await?.len();
    // Only the number of messages is shown here, not who wrote what, so reading it is not an
    // inbox read for the audit trail (the messages page is).
    let messages = state.contact.inbox().await?.len();
    let messages = if u32::try_from(messages).is_ok_and(|n| n >= INBOX_LIMIT) {
        format!("{INBOX_LIMIT} or more messages")
    } else {
        format::count_of(count(messages), "message")
    };
    let page = OverviewPage {
        layout: admin_layout(&admin, "Clinic admin", &uri),
        console: console_nav(ConsolePage::Overview),
        doctors: format::count_of(count(doctors), "doctor"),
        specialties: format::count_with(count(specialties), "specialty", "specialties"),
        messages,
    };
    Ok(page.into_response())
}

/// A list length as the counters of [`format::count_of`] take it.
fn count(length: usize) -> i64 {
    i64::try_from(length).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_navigation_marks_the_current_section() {
        let nav = console_nav(ConsolePage::People);
        assert_eq!(nav.len(), 7);
        let current: Vec<_> = nav.iter().filter(|link| link.current).collect();
        assert_eq!(current.len(), 1);
        assert_eq!(current[0].href, "/admin/people");
    }

    #[test]
    fn the_first_message_of_a_field_is_kept() {
        let mut errors = FieldErrors::default();
        assert!(errors.is_empty());
        errors.add("name", "Enter a name.");
        errors.add("name", "Shorter, please.");
        errors.add("fee", "Enter a fee.");
        assert_eq!(errors.get("name"), Some("Enter a name."));
        assert_eq!(errors.all().len(), 2);
        assert_eq!(errors.get("bio"), None);
    }
}
