//! Calendar feeds on the site: the "Calendar" section of `/profile`, resetting a feed's link,
//! and the feeds themselves.
//!
//! - The section ([`CalendarSection`], `templates/partials/calendar_feed.html`) shows the
//!   person's feed URL in a read-only field with a Copy button (`assets/copy.js`), a
//!   `webcal://` "Subscribe" link, and a "Reset link" form; doctors see their agenda feed too.
//! - `POST /profile/calendar/reset` (`feed` = `appointments` or `agenda`): revokes the feed,
//!   so its old URL answers 404 at once, and back to the profile with a new one.
//! - `GET /calendar/{token}.ics`: the feed, for calendar apps, without sign-in. Anything but a
//!   live token is a bare 404. The answer is never cached or indexed and sends no referrer.
//!   Fetches of a doctor's agenda are written to the audit trail like agenda reads.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use medibook_core::audit::{Actor, AuditAction, AuditEvent};
use medibook_core::calendar_feeds::{FeedKind, OpenedFeed};
use medibook_core::ical;
use medibook_core::identity::User;

use crate::pages::SignedIn;
use crate::pages::browse::query_param;
use crate::pages::error::{PageError, PageResult};
use crate::pages::forms::PostedForm;
use crate::shell::AppState;
use crate::shell::client::ClientIp;
use crate::shell::inputs::feed_kind;

/// One feed as the profile shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedView {
    /// `appointments` or `agenda`, for the reset form and element ids.
    pub kind: &'static str,
    /// The heading.
    pub title: &'static str,
    /// What it holds, in a sentence.
    pub about: &'static str,
    /// The feed URL.
    pub url: String,
    /// The `webcal://` URL.
    pub webcal_url: String,
}

/// The profile's "Calendar" section (`templates/partials/calendar_feed.html`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalendarSection {
    /// The person's feeds: their appointments, then their agenda if they have one.
    pub feeds: Vec<FeedView>,
    /// Said after a reset.
    pub notice: Option<&'static str>,
}

/// The section for `user`, with the notice `raw_query` asks for (`calendar=reset`).
pub async fn section(
    state: &AppState,
    user: &User,
    raw_query: Option<&str>,
) -> PageResult<CalendarSection> {
    let links = state.calendar.links(user).await?;
    let mut feeds = vec![FeedView {
        kind: FeedKind::Appointments.as_str(),
        title: "Your appointments",
        about: "Your appointments from the last 30 days on, kept up to date: moved and \
                cancelled visits change in your calendar too.",
        url: links.appointments.url,
        webcal_url: links.appointments.webcal_url,
    }];
    if let Some(agenda) = links.agenda {
        feeds.push(FeedView {
            kind: FeedKind::Agenda.as_str(),
            title: "Your agenda",
            about: "The appointments of your doctor profile, with each patient's name and \
                    reason. It holds health data: subscribe only in a calendar that nobody \
                    else can read.",
            url: agenda.url,
            webcal_url: agenda.webcal_url,
        });
    }
    let notice = match query_param(raw_query, "calendar").as_deref() {
        Some("reset") => Some("The old calendar link no longer works. Use the new one below."),
        _ => None,
    };
    Ok(CalendarSection { feeds, notice })
}

/// `POST /profile/calendar/reset` (`feed`): revokes the feed and shows the new link.
pub async fn reset(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PostedForm(form): PostedForm,
) -> PageResult<Response> {
    let kind = feed_kind(form.value("feed")).map_err(|_| {
        PageError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unknown calendar",
            "This form named no calendar of yours. Go back to your profile and try again.",
        )
    })?;
    state
        .calendar
        .revoke(signed_in.person.auth.id, kind)
        .await?;
    Ok(Redirect::to("/profile?calendar=reset#calendar").into_response())
}

/// `GET /calendar/{token}.ics`: a feed, for calendar apps.
pub async fn feed(
    State(state): State<AppState>,
    client: ClientIp,
    Path(file): Path<String>,
) -> Response {
    let Some(token) = file.strip_suffix(".ics") else {
        return not_found();
    };
    let opened = match state.calendar.open(token).await {
        Ok(Some(opened)) => opened,
        Ok(None) => return not_found(),
        Err(error) => return PageError::from(error).into_response(),
    };
    if let Err(error) = audit_agenda_read(&state, &client, &opened).await {
        return PageError::from(error).into_response();
    }
    let mut response = opened.calendar.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(ical::CONTENT_TYPE),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "x-robots-tag",
        HeaderValue::from_static("noindex, nofollow"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// A bare 404: nothing says whether the token ever existed.
fn not_found() -> Response {
    let mut response = (StatusCode::NOT_FOUND, "Not found\n").into_response();
    let headers = response.headers_mut();
    headers.insert(
        "x-robots-tag",
        HeaderValue::from_static("noindex, nofollow"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// Writes an agenda feed's fetch to the audit trail as the agenda API does: one entry per
/// patient shown (one without a patient if none was), acted by the feed's owner.
async fn audit_agenda_read(
    state: &AppState,
    client: &ClientIp,
    opened: &OpenedFeed,
) -> Result<(), medibook_core::BookingError> {
    let Some(doctor_id) = opened.doctor_id else {
        return Ok(());
    };
    let actor = Actor::user(opened.owner.user_id, opened.owner.role, client.key());
    let detail = format!("calendar feed, {} appointments", opened.events);
    let read =
        || AuditEvent::doctor(AuditAction::AgendaRead, doctor_id).with_detail(detail.clone());
    let patients: &BTreeSet<_> = &opened.patients;
    let events = if patients.is_empty() {
        vec![read()]
    } else {
        patients.iter().map(|p| read().with_patient(*p)).collect()
    };
    state.audit.record_all(&actor, events).await
}
