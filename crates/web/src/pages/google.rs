//! Google Calendar on the profile page: connect (OAuth 2.0 authorization code with PKCE),
//! Google's redirect back, disconnect, and the section of `/profile` that says how the
//! connection is doing (including, when Google stopped accepting MediBook's access, why, with a
//! Reconnect button).
//!
//! - `POST /profile/google/connect` (also Reconnect): stores a single-use state and sends the
//!   browser to Google's consent page.
//! - `GET /profile/google/callback?code&state` (or `?error=access_denied`): finishes the
//!   connect for the signed-in person who started it, then back to `/profile` with a notice.
//! - `POST /profile/google/disconnect`: forgets the token (revoking it at Google).
//!
//! Without a configured Google client these addresses answer 404 and the profile shows nothing.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::tz::TimeZone;
use medibook_core::calendar_sync::{ConnectError, ConnectionStatus};

use crate::pages::SignedIn;
use crate::pages::browse::query_param;
use crate::pages::error::{PageError, PageResult};
use crate::pages::format;
use crate::pages::forms::SameSite;
use crate::shell::headers::CONTENT_SECURITY_POLICY;
use crate::shell::{AppState, GoogleCalendar};

/// The profile's Google Calendar section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GoogleSection {
    /// "Connected since …", when connected and accepted.
    pub connected_since: Option<String>,
    /// Why Google stopped accepting MediBook's access, when revoked.
    pub revoked_reason: Option<String>,
    /// The last failed update of the calendar (retried), when connected.
    pub last_error: Option<String>,
}

fn enabled(state: &AppState) -> PageResult<&GoogleCalendar> {
    state.google.as_ref().ok_or_else(PageError::not_found)
}

/// The section for `signed_in`'s profile, or `None` when Google Calendar is off.
pub async fn section(state: &AppState, signed_in: &SignedIn) -> PageResult<Option<GoogleSection>> {
    let Some(google) = &state.google else {
        return Ok(None);
    };
    let view = google.sync.status(signed_in.person.auth.id).await?;
    let section = match view {
        None => GoogleSection::default(),
        Some(view) if view.status == ConnectionStatus::Revoked => GoogleSection {
            // Google's reasons end with a full stop; the sentence around it has its own.
            revoked_reason: Some(
                view.last_error
                    .as_deref()
                    .map(|reason| reason.trim_end_matches('.').to_owned())
                    .unwrap_or_else(|| "no reason given".to_owned()),
            ),
            ..GoogleSection::default()
        },
        Some(view) => GoogleSection {
            connected_since: Some(format::short_moment(view.connected_at, &TimeZone::UTC)),
            last_error: view.last_error,
            ..GoogleSection::default()
        },
    };
    Ok(Some(section))
}

/// The profile's notices about Google Calendar (`/profile?notice=…`).
pub fn notice(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "google-connected" => {
            Some("Your Google Calendar is connected. Your appointments will appear in it shortly.")
        }
        "google-disconnected" => Some(
            "Your Google Calendar is disconnected. Events already in it stay there; MediBook \
             no longer changes them.",
        ),
        "google-denied" => {
            Some("Google Calendar was not connected: access was not granted on Google's page.")
        }
        "google-expired" => {
            Some("That Google sign-in took too long or was already used. Please connect again.")
        }
        "google-refused" => {
            Some("Google did not accept the connection. Please try connecting again.")
        }
        "google-unavailable" => {
            Some("Google could not be reached just now. Please try connecting again in a moment.")
        }
        _ => None,
    }
}

/// Lets the profile's forms lead to Google's consent page: the Connect form posts here, and
/// the answer redirects to Google, which `form-action 'self'` alone would block.
pub fn allow_consent_redirect(state: &AppState, mut response: Response) -> Response {
    if let Some(google) = &state.google {
        let policy = CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'",
            &format!("form-action 'self' {}", google.consent_origin),
        );
        if let Ok(value) = HeaderValue::from_str(&policy) {
            response
                .headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, value);
        }
    }
    response
}

/// `POST /profile/google/connect`: off to Google's consent page.
pub async fn connect(
    State(state): State<AppState>,
    _same_site: SameSite,
    signed_in: SignedIn,
) -> PageResult<Response> {
    let google = enabled(&state)?;
    let url = google.sync.begin_connect(signed_in.person.auth.id).await?;
    Ok(Redirect::to(&url).into_response())
}

/// `GET /profile/google/callback`: Google sends the person back with `code` and `state`, or
/// with `error` when they did not agree.
pub async fn callback(
    State(state): State<AppState>,
    signed_in: SignedIn,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let google = enabled(&state)?;
    let raw = raw.as_deref();
    let notice = if query_param(raw, "error").is_some() {
        "google-denied"
    } else {
        let code = query_param(raw, "code").unwrap_or_default();
        let state_param = query_param(raw, "state").unwrap_or_default();
        match google
            .sync
            .finish_connect(signed_in.person.auth.id, &state_param, &code)
            .await
        {
            Ok(()) => "google-connected",
            Err(ConnectError::StateInvalid) => "google-expired",
            Err(ConnectError::Refused(reason)) => {
                tracing::warn!(%reason, "Google refused a calendar connection");
                "google-refused"
            }
            Err(ConnectError::Unavailable(reason)) => {
                tracing::warn!(%reason, "Google could not be reached to finish a connection");
                "google-unavailable"
            }
            Err(ConnectError::Storage(e)) => return Err(e.into()),
        }
    };
    Ok(Redirect::to(&format!("/profile?notice={notice}#google-calendar")).into_response())
}

/// `POST /profile/google/disconnect`.
pub async fn disconnect(
    State(state): State<AppState>,
    _same_site: SameSite,
    signed_in: SignedIn,
) -> PageResult<Response> {
    let google = enabled(&state)?;
    google.sync.disconnect(signed_in.person.auth.id).await?;
    Ok(Redirect::to("/profile?notice=google-disconnected#google-calendar").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_google_notice_is_a_sentence() {
        for code in [
            "google-connected",
            "google-disconnected",
            "google-denied",
            "google-expired",
            "google-refused",
            "google-unavailable",
        ] {
            assert!(
                notice(Some(code)).is_some_and(|n| n.ends_with('.')),
                "{code}"
            );
        }
        assert_eq!(notice(Some("saved")), None);
        assert_eq!(notice(None), None);
    }
}
