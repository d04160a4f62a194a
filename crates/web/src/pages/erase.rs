//! Deleting one's account on the web: `GET /profile/delete` says what will happen and asks to
//! confirm; `POST /profile/delete` (with the box ticked) erases the account through the same
//! service as `DELETE /api/v1/me`, ends the browser's sign-in and says it is done.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use medibook_core::BookingError;
use medibook_core::audit::Actor;
use medibook_core::identity::Role;

use crate::pages::error::{PageResult, sentence};
use crate::pages::forms::PostedForm;
use crate::pages::{Layout, Section, SignedIn, Viewer};
use crate::shell::AppState;
use crate::shell::auth::clear_session_cookie;
use crate::shell::client::ClientIp;

#[derive(Template, WebTemplate)]
#[template(path = "erase.html")]
struct ConfirmPage {
    layout: Layout,
    /// Upcoming appointments that will be cancelled.
    upcoming: usize,
    /// Staff accounts are closed by an admin.
    staff: bool,
    error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "erased.html")]
struct DonePage {
    layout: Layout,
    cancelled: usize,
}

async fn confirm_page(
    state: &AppState,
    signed_in: &SignedIn,
    uri: &Uri,
    error: Option<String>,
) -> PageResult<ConfirmPage> {
    let id = signed_in.person.auth.id;
    let now = state.bookings.now();
    let upcoming = state
        .bookings
        .appointments_of(id)
        .await?
        .iter()
        .filter(|a| {
            a.status == medibook_core::booking::AppointmentStatus::Scheduled && a.start > now
        })
        .count();
    Ok(ConfirmPage {
        layout: Layout::new(
            &signed_in.viewer(),
            "Delete your account",
            Section::Profile,
            uri,
        ),
        upcoming,
        staff: signed_in.person.auth.role != Role::Patient,
        error,
    })
}

/// `GET /profile/delete`.
pub async fn confirm(
    State(state): State<AppState>,
    signed_in: SignedIn,
    uri: Uri,
) -> PageResult<Response> {
    Ok(confirm_page(&state, &signed_in, &uri, None)
        .await?
        .into_response())
}

/// `POST /profile/delete` (`confirm=yes`).
pub async fn erase(
    State(state): State<AppState>,
    signed_in: SignedIn,
    uri: Uri,
    client: ClientIp,
    PostedForm(form): PostedForm,
) -> PageResult<Response> {
    if form.get("confirm") != "yes" {
        let page = confirm_page(
            &state,
            &signed_in,
            &uri,
            Some("Tick the box to confirm that you want your account deleted.".to_owned()),
        )
        .await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let person = &signed_in.person;
    let actor = Actor::user(person.auth.id, person.auth.role, client.key());
    let erased = match state.privacy.erase(&actor, person.auth.id).await {
        Ok(erased) => erased,
        // A staff account, one that wrote visit notes, or a booking made meanwhile.
        Err(BookingError::InvalidState(message)) => {
            let page = confirm_page(&state, &signed_in, &uri, Some(sentence(&message))).await?;
            return Ok((StatusCode::CONFLICT, page).into_response());
        }
        Err(other) => return Err(other.into()),
    };
    let page = DonePage {
        layout: Layout::new(
            &Viewer::anonymous(),
            "Account deleted",
            Section::Profile,
            &uri,
        ),
        cancelled: erased.cancelled,
    };
    let mut response = page.into_response();
    let headers = response.headers_mut();
    if let Ok(cookie) = HeaderValue::from_str(&clear_session_cookie(state.web.secure_cookies)) {
        headers.insert(header::SET_COOKIE, cookie);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
