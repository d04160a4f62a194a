//! Google's OAuth 2.0 and Calendar v3 protocol over HTTP (the
//! [`GoogleCalendarApi`](medibook_core::calendar_sync::GoogleCalendarApi) port).
//!
//! - Consent: `GET {auth_url}?response_type=code&client_id&redirect_uri&scope&state`
//!   `&code_challenge&code_challenge_method=S256&access_type=offline&prompt=consent`.
//! - Tokens: `POST {token_url}` (form) with `grant_type=authorization_code` (plus `code`,
//!   `code_verifier`, `redirect_uri`) or `grant_type=refresh_token`, client id and secret in the
//!   body; errors are `{"error": "invalid_grant", "error_description": "…"}`.
//! - Events: `POST {api_base}/calendars/{calendarId}/events` (a client-chosen `id`; 409 when it
//!   exists), `PUT …/events/{eventId}`, `DELETE …/events/{eventId}` (404/410 when gone), with
//!   `Authorization: Bearer {access_token}` (401 when it is not accepted).
//! - Revocation: `POST {revoke_url}` (form `token`).
//!
//! Every endpoint is configurable, so tests point the client at a local server that speaks the
//! same protocol. `invalid_grant` from the token endpoint means the person (or Google) revoked
//! MediBook's access: [`CalendarError::Revoked`] with Google's description. 5xx, 429, Google's
//! 403 rate-limit reasons and network failures are [`CalendarError::Unavailable`] (retried).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use medibook_core::calendar_sync::{
    AccessGrant, CALENDAR_EVENTS_SCOPE, CalendarError, CalendarEvent, GoogleCalendarApi,
    GoogleEventId,
};
use reqwest::{Response, StatusCode, Url, redirect};
use serde::Deserialize;
use serde_json::{Value, json};

/// Where Google's endpoints are, and MediBook's OAuth client.
#[derive(Clone, PartialEq, Eq)]
pub struct GoogleSettings {
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: String,
    /// The consent page ([`GoogleSettings::AUTH_URL`]).
    pub auth_url: String,
    /// The token endpoint ([`GoogleSettings::TOKEN_URL`]).
    pub token_url: String,
    /// The Calendar API base ([`GoogleSettings::API_BASE`]).
    pub api_base: String,
    /// The revocation endpoint, if tokens are revoked on disconnect ([`GoogleSettings::REVOKE_URL`]).
    pub revoke_url: Option<String>,
}

impl GoogleSettings {
    /// Google's consent page.
    pub const AUTH_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
    /// Google's token endpoint.
    pub const TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
    /// Google Calendar API v3.
    pub const API_BASE: &str = "https://www.googleapis.com/calendar/v3";
    /// Google's revocation endpoint.
    pub const REVOKE_URL: &str = "https://oauth2.googleapis.com/revoke";
}

impl fmt::Debug for GoogleSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleSettings")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("auth_url", &self.auth_url)
            .field("token_url", &self.token_url)
            .field("api_base", &self.api_base)
            .field("revoke_url", &self.revoke_url)
            .finish()
    }
}

/// A client of Google's OAuth and Calendar endpoints.
#[derive(Clone)]
pub struct GoogleClient {
    http: reqwest::Client,
    client_id: String,
    client_secret: String,
    auth_url: Url,
    token_url: Url,
    api_base: Url,
    revoke_url: Option<Url>,
}

impl fmt::Debug for GoogleClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleClient")
            .field("client_id", &self.client_id)
            .field("api_base", &self.api_base.as_str())
            .finish_non_exhaustive()
    }
}

fn parse_url(what: &str, raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("{what} {raw:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(format!("{what} {raw:?} must be an http(s) URL"));
    }
    Ok(url)
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<i64>,
    refresh_token: Option<String>,
}

#[derive(Deserialize, Default)]
struct OAuthError {
    error: Option<String>,
    error_description: Option<String>,
}

impl GoogleClient {
    /// How long one request may take.
    pub const TIMEOUT: Duration = Duration::from_secs(15);

    /// Checks `settings` and builds the client; no request is made yet.
    pub fn new(settings: &GoogleSettings) -> Result<Self, String> {
        if settings.client_id.trim().is_empty() || settings.client_secret.trim().is_empty() {
            return Err(
                "Google Calendar needs both google_client_id and google_client_secret".into(),
            );
        }
        let http = reqwest::Client::builder()
            .timeout(Self::TIMEOUT)
            // A redirected POST would lose its body or send credentials elsewhere.
            .redirect(redirect::Policy::none())
            .user_agent(concat!("medibook/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("Google HTTP client could not be built: {e}"))?;
        Ok(Self {
            http,
            client_id: settings.client_id.trim().to_owned(),
            client_secret: settings.client_secret.trim().to_owned(),
            auth_url: parse_url("google_auth_url", &settings.auth_url)?,
            token_url: parse_url("google_token_url", &settings.token_url)?,
            api_base: parse_url("google_api_base", &settings.api_base)?,
            revoke_url: settings
                .revoke_url
                .as_deref()
                .map(|url| parse_url("google_revoke_url", url))
                .transpose()?,
        })
    }

    /// The origin (`scheme://host[:port]`) of the consent page, which the profile page's
    /// Content-Security-Policy must allow as a form target.
    pub fn consent_origin(&self) -> String {
        self.auth_url.origin().ascii_serialization()
    }

    /// `{api_base}/calendars/{calendar}/events[/{event}]`, each segment escaped.
    fn events_url(&self, calendar_id: &str, event: Option<&GoogleEventId>) -> Url {
        let mut url = self.api_base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .pop_if_empty()
                .extend(["calendars", calendar_id, "events"]);
            if let Some(event) = event {
                segments.push(event.as_str());
            }
        }
        url
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> Result<AccessGrant, CalendarError> {
        let mut body = vec![
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.as_str()),
        ];
        body.extend_from_slice(form);
        let response = self
            .http
            .post(self.token_url.clone())
            .form(&body)
            .send()
            .await
            .map_err(|e| CalendarError::Unavailable(format!("token endpoint: {e}")))?;
        let status = response.status();
        if status.is_success() {
            let answer: TokenAnswer = response
                .json()
                .await
                .map_err(|e| CalendarError::Unavailable(format!("unreadable token answer: {e}")))?;
            return Ok(AccessGrant {
                access_token: answer.access_token,
                expires_in_seconds: answer.expires_in.unwrap_or(3600),
                refresh_token: answer.refresh_token,
            });
        }
        if transient(status) {
            return Err(CalendarError::Unavailable(format!(
                "token endpoint answered {status}"
            )));
        }
        let error: OAuthError = response.json().await.unwrap_or_default();
        let code = error.error.unwrap_or_else(|| status.to_string());
        let reason = match error.error_description {
            Some(description) => format!("{code}: {description}"),
            None => code.clone(),
        };
        if code == "invalid_grant" {
            Err(CalendarError::Revoked(reason))
        } else {
            Err(CalendarError::Rejected(reason))
        }
    }

    async fn send_event(
        &self,
        request: reqwest::RequestBuilder,
        access_token: &str,
    ) -> Result<Response, CalendarError> {
        request
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|e| CalendarError::Unavailable(format!("Calendar API: {e}")))
    }
}

fn transient(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

/// Maps a Calendar API answer that is not a success.
async fn calendar_failure(response: Response) -> CalendarError {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let message = body["error"]["message"]
        .as_str()
        .map_or_else(|| status.to_string(), str::to_owned);
    let reasons: Vec<&str> = body["error"]["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["reason"].as_str()).collect())
        .unwrap_or_default();
    match status {
        StatusCode::UNAUTHORIZED => CalendarError::Unauthorized,
        StatusCode::CONFLICT => CalendarError::AlreadyExists,
        StatusCode::NOT_FOUND | StatusCode::GONE => CalendarError::NotFound,
        StatusCode::FORBIDDEN
            if reasons
                .iter()
                .any(|r| matches!(*r, "rateLimitExceeded" | "userRateLimitExceeded")) =>
        {
            CalendarError::Unavailable(format!("rate limited: {message}"))
        }
        status if transient(status) => {
            CalendarError::Unavailable(format!("Calendar API answered {status}: {message}"))
        }
        status => CalendarError::Rejected(format!("{status}: {message}")),
    }
}

/// The event as Google's JSON resource.
fn event_resource(event: &CalendarEvent) -> Value {
    let overrides: Vec<Value> = event
        .reminders
        .iter()
        .map(|r| json!({ "method": r.method, "minutes": r.minutes }))
        .collect();
    json!({
        "id": event.id.as_str(),
        "status": "confirmed",
        "summary": event.summary,
        "description": event.description,
        "location": event.location,
        "start": { "dateTime": event.start.to_string(), "timeZone": event.time_zone },
        "end": { "dateTime": event.end.to_string(), "timeZone": event.time_zone },
        "reminders": { "useDefault": false, "overrides": overrides },
        "extendedProperties": {
            "private": { "medibookAppointmentId": event.appointment_id.to_string() }
        },
    })
}

#[async_trait]
impl GoogleCalendarApi for GoogleClient {
    fn authorization_url(&self, state: &str, code_challenge: &str, redirect_uri: &str) -> String {
        let mut url = self.auth_url.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", CALENDAR_EVENTS_SCOPE)
            .append_pair("state", state)
            .append_pair("code_challenge", code_challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("access_type", "offline")
            .append_pair("prompt", "consent")
            .append_pair("include_granted_scopes", "true");
        url.into()
    }

    async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
    ) -> Result<AccessGrant, CalendarError> {
        self.token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", code_verifier),
            ("redirect_uri", redirect_uri),
        ])
        .await
    }

    async fn refresh(&self, refresh_token: &str) -> Result<AccessGrant, CalendarError> {
        self.token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    async fn insert_event(
        &self,
        access_token: &str,
        calendar_id: &str,
        event: &CalendarEvent,
    ) -> Result<(), CalendarError> {
        let mut url = self.events_url(calendar_id, None);
        url.query_pairs_mut().append_pair("sendUpdates", "none");
        let request = self.http.post(url).json(&event_resource(event));
        let response = self.send_event(request, access_token).await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(calendar_failure(response).await)
        }
    }

    async fn update_event(
        &self,
        access_token: &str,
        calendar_id: &str,
        event: &CalendarEvent,
    ) -> Result<(), CalendarError> {
        let mut url = self.events_url(calendar_id, Some(&event.id));
        url.query_pairs_mut().append_pair("sendUpdates", "none");
        let request = self.http.put(url).json(&event_resource(event));
        let response = self.send_event(request, access_token).await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(calendar_failure(response).await)
        }
    }

    async fn delete_event(
        &self,
        access_token: &str,
        calendar_id: &str,
        event_id: &GoogleEventId,
    ) -> Result<(), CalendarError> {
        let mut url = self.events_url(calendar_id, Some(event_id));
        url.query_pairs_mut().append_pair("sendUpdates", "none");
        let response = self.send_event(self.http.delete(url), access_token).await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(calendar_failure(response).await)
        }
    }

    async fn revoke(&self, token: &str) -> Result<(), CalendarError> {
        let Some(url) = &self.revoke_url else {
            return Ok(());
        };
        let response = self
            .http
            .post(url.clone())
            .form(&[("token", token)])
            .send()
            .await
            .map_err(|e| CalendarError::Unavailable(format!("revocation endpoint: {e}")))?;
        // 400 `invalid_token`: already revoked or expired, which is what was wanted.
        if response.status().is_success() || response.status() == StatusCode::BAD_REQUEST {
            Ok(())
        } else {
            Err(CalendarError::Unavailable(format!(
                "revocation endpoint answered {}",
                response.status()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> GoogleSettings {
        GoogleSettings {
            client_id: "client-1".into(),
            client_secret: "secret".into(),
            auth_url: GoogleSettings::AUTH_URL.into(),
            token_url: GoogleSettings::TOKEN_URL.into(),
            api_base: GoogleSettings::API_BASE.into(),
            revoke_url: Some(GoogleSettings::REVOKE_URL.into()),
        }
    }

    #[test]
    fn the_consent_url_asks_for_offline_access_with_pkce() {
        let client = GoogleClient::new(&settings()).unwrap();
        let url =
            Url::parse(&client.authorization_url("st", "ch", "https://c.example/cb")).unwrap();
        let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(query["code_challenge_method"], "S256");
        assert_eq!(query["access_type"], "offline");
        assert_eq!(query["prompt"], "consent");
        assert_eq!(query["scope"], CALENDAR_EVENTS_SCOPE);
        assert_eq!(query["redirect_uri"], "https://c.example/cb");
        assert_eq!(client.consent_origin(), "https://accounts.google.com");
    }

    #[test]
    fn event_urls_escape_the_calendar_id() {
        let client = GoogleClient::new(&settings()).unwrap();
        let url = client.events_url("a b@group.calendar.google.com", None);
        assert_eq!(
            url.as_str(),
            "https://www.googleapis.com/calendar/v3/calendars/a%20b@group.calendar.google.com/events"
        );
    }

    #[test]
    fn settings_without_a_client_are_refused() {
        let mut incomplete = settings();
        incomplete.client_secret = " ".into();
        assert!(GoogleClient::new(&incomplete).is_err());
        let mut wrong = settings();
        wrong.api_base = "ftp://x".into();
        assert!(GoogleClient::new(&wrong).is_err());
    }
}
