//! The waitlist on the pages: `POST /book/waitlist` (the doctor page's "Wait for a time that
//! suits": dates, days of the week, earliest and latest time) joins through the same core
//! service as `POST /api/v1/waitlist` — a time that suits and is free now sends the patient
//! back to the picker at that week to book it instead; `GET /waitlist` lists the
//! patient's entries with **Leave** and, for an open offer, **Take this slot** (the hold page of
//! the offer's hold, whose Confirm books it) and **Decline**.
//!
//! The offer also arrives live: signed-in pages load `assets/offers.js`, which listens on the
//! feed for `waitlist_offer` and shows a banner (and a notification, if allowed).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, RawQuery, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::civil::Date;
use medibook_core::BookingError;
use medibook_core::audit::{AuditAction, AuditEvent};
use medibook_core::ids::{DoctorId, OfferId, WaitlistEntryId};
use medibook_core::waitlist::{
    EntryState, OfferState, WEEKDAY_NAMES, WaitPreference, WaitTarget, WaitlistEntry,
};
use medibook_core::waitlist_service::JoinRequest;

use crate::pages::browse::{doctor_href, page_id, query_param};
use crate::pages::error::{PageError, PageResult};
use crate::pages::format;
use crate::pages::forms::{PostedForm, SameSite, actor, audit};
use crate::pages::signin::encode_component;
use crate::pages::{Layout, Section, SignedIn, Viewer};
use crate::shell::AppState;
use crate::shell::client::ClientIp;

/// An open offer, as the page shows it.
#[derive(Clone, Debug)]
pub struct OfferView {
    /// The offer's id, for Decline.
    pub id: String,
    /// The hold page that books it.
    pub hold_href: String,
    /// "Tuesday 2 March 2027, 09:30 to 10:00".
    pub when: String,
    /// "09:35": when the offer lapses, in the doctor's zone.
    pub expires: String,
}

/// One waitlist entry, as the page shows it.
#[derive(Clone, Debug)]
pub struct EntryView {
    /// Its id, for Leave.
    pub id: String,
    /// "Dr. Ada Lovelace" or "any Cardiology doctor".
    pub target: String,
    /// Where the target's page is.
    pub href: String,
    /// "Waiting" or "A time is offered".
    pub state: &'static str,
    /// What suits: days, times, dates ("" when anything does).
    pub wants: String,
    /// The open offer, if any.
    pub offer: Option<OfferView>,
}

#[derive(Template, WebTemplate)]
#[template(path = "waitlist.html")]
struct WaitlistPage {
    layout: Layout,
    entries: Vec<EntryView>,
    notice: Option<&'static str>,
}

/// `POST /book/waitlist` (`doctor_id`): joins the doctor's waitlist.
pub async fn join(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientIp,
    PostedForm(form): PostedForm,
) -> PageResult<Response> {
    let doctor_id = DoctorId::from_uuid(
        form.id("doctor_id")
            .ok_or_else(|| PageError::bad_request("Join a waitlist from a doctor's page."))?,
    );
    let Some(person) = viewer.person else {
        let back = doctor_href(doctor_id);
        return Ok(
            Redirect::to(&format!("/login?next={}", encode_component(&back))).into_response(),
        );
    };
    let back = |week: Option<String>, notice: &str| {
        let week = week.map(|w| format!("week={w}&")).unwrap_or_default();
        format!(
            "{}?{week}notice={notice}#slot-picker",
            doctor_href(doctor_id)
        )
    };
    let date = |name: &str| -> Result<Option<Date>, ()> {
        match form.get(name) {
            "" => Ok(None),
            text => text.parse().map(Some).map_err(|_| ()),
        }
    };
    let days: Vec<&str> = WEEKDAY_NAMES
        .iter()
        .copied()
        .filter(|day| form.checked(&format!("day-{day}")))
        .collect();
    let (Ok(from), Ok(to), Ok(preference)) = (
        date("from"),
        date("to"),
        WaitPreference::parse(&days, form.value("earliest"), form.value("latest")),
    ) else {
        return Ok(Redirect::to(&back(None, "wait-invalid")).into_response());
    };
    let request = JoinRequest {
        target: WaitTarget::Doctor(doctor_id),
        from,
        to,
        preference,
    };
    match state
        .waitlist
        .join(person.auth.id, &actor(&person, &client), request)
        .await
    {
        Ok(_) => Ok(Redirect::to("/waitlist?notice=joined").into_response()),
        Err(BookingError::FreeNow(doctor, start)) => {
            let doctor = state.catalogue.doctor(doctor).await?;
            let week = crate::pages::booking::week_of(start, doctor.time_zone.tz());
            Ok(Redirect::to(&back(Some(week), "free-now")).into_response())
        }
        Err(BookingError::Validation(_)) => {
            Ok(Redirect::to(&back(None, "wait-invalid")).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

/// "Tuesdays and Thursdays, 16:00 to 19:00, from 1 March 2027 to 31 March 2027": what an entry
/// waits for besides the doctor (empty when anything will do).
fn wants(entry: &WaitlistEntry) -> String {
    let mut parts = Vec::new();
    let days = entry.preference.day_names();
    if !days.is_empty() {
        let named: Vec<String> = days
            .iter()
            .map(|day| {
                let mut chars = day.chars();
                chars.next().map_or_else(String::new, |first| {
                    format!("{}{}s", first.to_ascii_uppercase(), chars.as_str())
                })
            })
            .collect();
        parts.push(format::join_words(&named));
    }
    let clock = |t: jiff::civil::Time| format!("{:02}:{:02}", t.hour(), t.minute());
    match (entry.preference.earliest, entry.preference.latest) {
        (Some(from), Some(to)) => parts.push(format!("{} to {}", clock(from), clock(to))),
        (Some(from), None) => parts.push(format!("from {}", clock(from))),
        (None, Some(to)) => parts.push(format!("until {}", clock(to))),
        (None, None) => {}
    }
    match (entry.from, entry.to) {
        (Some(from), Some(to)) if from == to => {
            parts.push(format!("on {}", format::long_date(from)))
        }
        (Some(from), Some(to)) => parts.push(format!(
            "from {} to {}",
            format::long_date(from),
            format::long_date(to)
        )),
        (Some(from), None) => parts.push(format!("from {}", format::long_date(from))),
        (None, Some(to)) => parts.push(format!("until {}", format::long_date(to))),
        (None, None) => {}
    }
    parts.join(", ")
}

/// `GET /waitlist`: the patient's entries and open offers.
pub async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    client: ClientIp,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let person = &signed_in.person;
    let entries = state.waitlist.entries_of(person.auth.id).await?;
    audit(
        &state,
        person,
        &client,
        AuditEvent::new(AuditAction::WaitlistList, "waitlist_entry", None)
            .with_patient(person.auth.id),
    )
    .await?;
    let now = state.bookings.now();
    let mut views = Vec::new();
    for entry in entries
        .iter()
        .filter(|e| matches!(e.state, EntryState::Waiting | EntryState::Offered))
    {
        let (target, href) = match entry.target {
            WaitTarget::Doctor(id) => (state.catalogue.doctor(id).await?.name, doctor_href(id)),
            WaitTarget::Specialty(id) => (
                format!("any {} doctor", state.catalogue.specialty(id).await?.name),
                format!("/specialties/{id}"),
            ),
        };
        let offer = match entry.offer {
            Some(offer) if offer.state == OfferState::Open && now < offer.expires_at => {
                let doctor = state.catalogue.doctor(offer.doctor_id).await?;
                let tz = doctor.time_zone.tz();
                Some(OfferView {
                    id: offer.id.to_string(),
                    hold_href: format!("/holds/{}", offer.hold_id),
                    when: format!(
                        "{} with {}",
                        format::slot_label(offer.start, offer.end, tz),
                        doctor.name
                    ),
                    expires: format::clock_time(offer.expires_at, tz),
                })
            }
            _ => None,
        };
        views.push(EntryView {
            id: entry.id.to_string(),
            target,
            href,
            wants: wants(entry),
            state: if offer.is_some() {
                "A time is offered"
            } else {
                "Waiting"
            },
            offer,
        });
    }
    let notice = match query_param(raw.as_deref(), "notice").as_deref() {
        Some("joined") => {
            Some("You are on the waitlist. We will offer you the first time that frees up.")
        }
        Some("left") => Some("You have left the waitlist."),
        Some("declined") => Some("Offer declined. You keep your place on the waitlist."),
        _ => None,
    };
    let page = WaitlistPage {
        layout: Layout::new(&signed_in.viewer(), "My waitlist", Section::Waitlist, &uri),
        entries: views,
        notice,
    };
    Ok(page.into_response())
}

fn not_found(error: BookingError) -> PageError {
    match error {
        BookingError::NotFound(_) => PageError::not_found(),
        other => other.into(),
    }
}

/// `POST /waitlist/{id}/leave`.
pub async fn leave(
    State(state): State<AppState>,
    signed_in: SignedIn,
    client: ClientIp,
    _: SameSite,
    Path(id): Path<String>,
) -> PageResult<Response> {
    let person = &signed_in.person;
    let id = WaitlistEntryId::from_uuid(page_id(&id)?);
    state
        .waitlist
        .leave(person.auth.id, &actor(person, &client), id)
        .await
        .map_err(not_found)?;
    Ok(Redirect::to("/waitlist?notice=left").into_response())
}

/// `POST /waitlist/offers/{id}/decline`.
pub async fn decline(
    State(state): State<AppState>,
    signed_in: SignedIn,
    client: ClientIp,
    _: SameSite,
    Path(id): Path<String>,
) -> PageResult<Response> {
    let person = &signed_in.person;
    let id = OfferId::from_uuid(page_id(&id)?);
    match state
        .waitlist
        .decline(person.auth.id, &actor(person, &client), id)
        .await
    {
        Ok(()) => {}
        Err(BookingError::InvalidState(_)) => {
            return Err(PageError::new(
                axum::http::StatusCode::CONFLICT,
                "This offer was already booked",
                "You booked this time already: it is in your appointments.",
            )
            .with_link("/appointments", "My appointments"));
        }
        Err(other) => return Err(not_found(other)),
    }
    Ok(Redirect::to("/waitlist?notice=declined").into_response())
}
