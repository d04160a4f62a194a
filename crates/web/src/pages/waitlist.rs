//! The waitlist on the pages: `POST /book/waitlist` (a full doctor's "Join the waitlist") joins
//! through the same core service as `POST /api/v1/waitlist`; `GET /waitlist` lists the
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
use medibook_core::BookingError;
use medibook_core::audit::{AuditAction, AuditEvent};
use medibook_core::ids::{DoctorId, OfferId, WaitlistEntryId};
use medibook_core::waitlist::{EntryState, OfferState, WaitTarget};
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
    let request = JoinRequest {
        target: WaitTarget::Doctor(doctor_id),
        from: None,
        to: None,
    };
    state
        .waitlist
        .join(person.auth.id, &actor(&person, &client), request)
        .await?;
    Ok(Redirect::to("/waitlist?notice=joined").into_response())
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
