//! A local server that speaks Google's OAuth 2.0 and Calendar v3 protocol, as far as MediBook
//! uses it: the consent page (which "consents" at once and redirects back with a code), the
//! token endpoint (authorization code with PKCE S256 verification, refresh tokens,
//! `invalid_grant` once revoked), the revocation endpoint, and the events of calendars (insert
//! with client-chosen ids and 409 on a taken id, get, put, patch, delete with 410 for deleted
//! events), every Calendar request checked for a valid bearer token (401 otherwise).
//!
//! The test drives it: it expires access tokens, revokes grants, denies consent or makes the
//! Calendar API fail for a while, and reads the events back.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use medibook::settings::Settings;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const CLIENT_ID: &str = "medibook-test.apps.googleusercontent.com";
pub const CLIENT_SECRET: &str = "test-client-secret";
/// The address patients reach MediBook at (as behind a proxy); the test maps it to the server.
pub const PUBLIC_URL: &str = "http://medibook.invalid";

struct PendingCode {
    challenge: String,
    redirect_uri: String,
}

#[derive(Default)]
struct Fake {
    next: u64,
    deny_consent: bool,
    codes: HashMap<String, PendingCode>,
    /// Refresh token → revoked?
    refresh_tokens: HashMap<String, bool>,
    access_tokens: HashSet<String>,
    /// Calendar id → event id → resource (deleted events stay, with status `cancelled`).
    events: HashMap<String, HashMap<String, Value>>,
    failing_calendar_requests: u32,
    counts: Counts,
    revoked_by_client: Vec<String>,
}

/// How often each kind of request succeeded or was refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub code_exchanges: u32,
    pub refreshes: u32,
    pub refused_refreshes: u32,
    pub inserts: u32,
    pub conflicts: u32,
    pub updates: u32,
    pub deletes: u32,
    pub unauthorized: u32,
    pub calendar_requests: u32,
}

/// The running fake.
#[derive(Clone)]
pub struct FakeGoogle {
    pub base: String,
    state: Arc<Mutex<Fake>>,
}

type Shared = Arc<Mutex<Fake>>;

impl FakeGoogle {
    pub async fn start() -> Self {
        let state: Shared = Arc::default();
        let router = Router::new()
            .route("/o/oauth2/v2/auth", get(consent))
            .route("/token", post(token))
            .route("/revoke", post(revoke))
            .route("/calendar/v3/calendars/{calendar}/events", post(insert))
            .route(
                "/calendar/v3/calendars/{calendar}/events/{event}",
                get(get_event)
                    .put(put_event)
                    .patch(patch_event)
                    .delete(delete_event),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            base: format!("http://{address}"),
            state,
        }
    }

    /// Points MediBook's Google settings at this server.
    pub fn configure(&self, settings: &mut Settings) {
        settings.public_url = Some(PUBLIC_URL.to_owned());
        settings.google_client_id = Some(CLIENT_ID.to_owned());
        settings.google_client_secret = Some(CLIENT_SECRET.to_owned());
        settings.google_auth_url = format!("{}/o/oauth2/v2/auth", self.base);
        settings.google_token_url = format!("{}/token", self.base);
        settings.google_api_base = format!("{}/calendar/v3", self.base);
        settings.google_revoke_url = format!("{}/revoke", self.base);
    }

    fn with<T>(&self, f: impl FnOnce(&mut Fake) -> T) -> T {
        f(&mut self.state.lock().expect("lock"))
    }

    pub fn counts(&self) -> Counts {
        self.with(|fake| fake.counts)
    }

    /// Every access token stops working (as after an hour).
    pub fn expire_access_tokens(&self) {
        self.with(|fake| fake.access_tokens.clear());
    }

    /// The person removes MediBook's access in their Google account: every grant is revoked.
    pub fn revoke_all_grants(&self) {
        self.with(|fake| {
            fake.access_tokens.clear();
            for revoked in fake.refresh_tokens.values_mut() {
                *revoked = true;
            }
        });
    }

    /// The next consent is refused by the person.
    pub fn deny_next_consent(&self) {
        self.with(|fake| fake.deny_consent = true);
    }

    /// The next `n` Calendar requests answer 503.
    pub fn fail_calendar_requests(&self, n: u32) {
        self.with(|fake| fake.failing_calendar_requests = n);
    }

    /// The refresh tokens issued so far.
    pub fn refresh_tokens(&self) -> Vec<String> {
        self.with(|fake| fake.refresh_tokens.keys().cloned().collect())
    }

    /// Tokens MediBook revoked through the revocation endpoint.
    pub fn revoked_by_client(&self) -> Vec<String> {
        self.with(|fake| fake.revoked_by_client.clone())
    }

    /// An event of the primary calendar, deleted or not.
    pub fn event(&self, id: &str) -> Option<Value> {
        self.with(|fake| fake.events.get("primary")?.get(id).cloned())
    }

    /// Events of the primary calendar that are not deleted.
    pub fn live_events(&self) -> Vec<Value> {
        self.with(|fake| {
            fake.events
                .get("primary")
                .map(|events| {
                    events
                        .values()
                        .filter(|e| e["status"] != "cancelled")
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// All events of the primary calendar ever created (deleted ones included).
    pub fn all_events(&self) -> usize {
        self.with(|fake| fake.events.get("primary").map_or(0, HashMap::len))
    }
}

fn next_token(fake: &mut Fake, prefix: &str) -> String {
    fake.next += 1;
    format!("{prefix}-{}-{}", fake.next, uuid::Uuid::new_v4().simple())
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

fn google_error(status: StatusCode, message: &str, reason: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": {
            "code": status.as_u16(),
            "message": message,
            "errors": [{ "domain": "global", "reason": reason, "message": message }],
        }})),
    )
        .into_response()
}

/// `GET /o/oauth2/v2/auth`: checks the request and "consents" at once.
async fn consent(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let field = |name: &str| query.get(name).map(String::as_str).unwrap_or_default();
    let problems = [
        (field("response_type") == "code", "response_type"),
        (field("client_id") == CLIENT_ID, "client_id"),
        (
            field("code_challenge_method") == "S256",
            "code_challenge_method",
        ),
        (field("code_challenge").len() == 43, "code_challenge"),
        (field("access_type") == "offline", "access_type"),
        (
            field("scope")
                .split(' ')
                .any(|s| s == "https://www.googleapis.com/auth/calendar.events"),
            "scope",
        ),
        (!field("state").is_empty(), "state"),
        (field("redirect_uri").starts_with("http"), "redirect_uri"),
    ];
    if let Some((_, name)) = problems.iter().find(|(ok, _)| !ok) {
        return (
            StatusCode::BAD_REQUEST,
            format!("Error 400: invalid_request ({name})"),
        )
            .into_response();
    }
    let redirect_uri = field("redirect_uri").to_owned();
    let mut fake = state.lock().expect("lock");
    let mut target = url::Url::parse(&redirect_uri).expect("redirect_uri is a URL");
    if std::mem::take(&mut fake.deny_consent) {
        target
            .query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("state", field("state"));
    } else {
        let code = next_token(&mut fake, "4/code");
        fake.codes.insert(
            code.clone(),
            PendingCode {
                challenge: field("code_challenge").to_owned(),
                redirect_uri,
            },
        );
        target
            .query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", field("state"))
            .append_pair("scope", "https://www.googleapis.com/auth/calendar.events");
    }
    Redirect::to(target.as_str()).into_response()
}

/// `POST /token`: `authorization_code` (with PKCE) and `refresh_token` grants.
async fn token(State(state): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.",
        );
    }
    let mut fake = state.lock().expect("lock");
    match field("grant_type") {
        "authorization_code" => {
            let Some(pending) = fake.codes.remove(field("code")) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Malformed auth code.",
                );
            };
            let challenge =
                URL_SAFE_NO_PAD.encode(Sha256::digest(field("code_verifier").as_bytes()));
            if challenge != pending.challenge {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Invalid code verifier.",
                );
            }
            if pending.redirect_uri != field("redirect_uri") {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "redirect_uri_mismatch",
                    "Bad Request",
                );
            }
            let refresh = next_token(&mut fake, "1//refresh");
            let access = next_token(&mut fake, "ya29.access");
            fake.refresh_tokens.insert(refresh.clone(), false);
            fake.access_tokens.insert(access.clone());
            fake.counts.code_exchanges += 1;
            axum::Json(json!({
                "access_token": access,
                "expires_in": 3599,
                "refresh_token": refresh,
                "scope": "https://www.googleapis.com/auth/calendar.events",
                "token_type": "Bearer",
            }))
            .into_response()
        }
        "refresh_token" => {
            if fake.refresh_tokens.get(field("refresh_token")) != Some(&false) {
                fake.counts.refused_refreshes += 1;
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Token has been expired or revoked.",
                );
            }
            let access = next_token(&mut fake, "ya29.access");
            fake.access_tokens.insert(access.clone());
            fake.counts.refreshes += 1;
            axum::Json(json!({
                "access_token": access,
                "expires_in": 3599,
                "scope": "https://www.googleapis.com/auth/calendar.events",
                "token_type": "Bearer",
            }))
            .into_response()
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Invalid grant_type.",
        ),
    }
}

/// `POST /revoke`.
async fn revoke(
    State(state): State<Shared>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let token = form.get("token").cloned().unwrap_or_default();
    let mut fake = state.lock().expect("lock");
    match fake.refresh_tokens.get_mut(&token) {
        Some(revoked) => {
            *revoked = true;
            fake.revoked_by_client.push(token);
            StatusCode::OK.into_response()
        }
        None => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_token",
            "Token expired or revoked",
        ),
    }
}

/// Checks the bearer token and the injected failures of a Calendar request: the refusal to
/// answer with, or `None` when the request may go on.
fn refusal(fake: &mut Fake, headers: &HeaderMap) -> Option<Response> {
    fake.counts.calendar_requests += 1;
    if fake.failing_calendar_requests > 0 {
        fake.failing_calendar_requests -= 1;
        return Some(google_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Backend Error",
            "backendError",
        ));
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !fake.access_tokens.contains(token) {
        fake.counts.unauthorized += 1;
        return Some(google_error(
            StatusCode::UNAUTHORIZED,
            "Request had invalid authentication credentials.",
            "authError",
        ));
    }
    None
}

fn valid_event_id(id: &str) -> bool {
    (5..=1024).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='v').contains(&c))
}

async fn insert(
    State(state): State<Shared>,
    Path(calendar): Path<String>,
    headers: HeaderMap,
    axum::Json(mut event): axum::Json<Value>,
) -> Response {
    let mut fake = state.lock().expect("lock");
    if let Some(refused) = refusal(&mut fake, &headers) {
        return refused;
    }
    let id = event["id"].as_str().unwrap_or_default().to_owned();
    if !valid_event_id(&id) {
        return google_error(
            StatusCode::BAD_REQUEST,
            "Invalid resource id value.",
            "invalid",
        );
    }
    let events = fake.events.entry(calendar).or_default();
    if events.contains_key(&id) {
        fake.counts.conflicts += 1;
        return google_error(
            StatusCode::CONFLICT,
            "The requested identifier already exists.",
            "duplicate",
        );
    }
    event["status"] = json!("confirmed");
    events.insert(id, event.clone());
    fake.counts.inserts += 1;
    axum::Json(event).into_response()
}

async fn get_event(
    State(state): State<Shared>,
    Path((calendar, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut fake = state.lock().expect("lock");
    if let Some(refused) = refusal(&mut fake, &headers) {
        return refused;
    }
    match fake
        .events
        .get(&calendar)
        .and_then(|events| events.get(&id))
    {
        Some(event) => axum::Json(event.clone()).into_response(),
        None => google_error(StatusCode::NOT_FOUND, "Not Found", "notFound"),
    }
}

async fn put_event(
    State(state): State<Shared>,
    Path((calendar, id)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Json(mut event): axum::Json<Value>,
) -> Response {
    let mut fake = state.lock().expect("lock");
    if let Some(refused) = refusal(&mut fake, &headers) {
        return refused;
    }
    let Some(stored) = fake
        .events
        .get_mut(&calendar)
        .and_then(|events| events.get_mut(&id))
    else {
        return google_error(StatusCode::NOT_FOUND, "Not Found", "notFound");
    };
    event["id"] = json!(id);
    if event["status"].is_null() {
        event["status"] = json!("confirmed");
    }
    *stored = event.clone();
    fake.counts.updates += 1;
    axum::Json(event).into_response()
}

async fn patch_event(
    State(state): State<Shared>,
    Path((calendar, id)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Json(patch): axum::Json<Value>,
) -> Response {
    let mut fake = state.lock().expect("lock");
    if let Some(refused) = refusal(&mut fake, &headers) {
        return refused;
    }
    let Some(stored) = fake
        .events
        .get_mut(&calendar)
        .and_then(|events| events.get_mut(&id))
    else {
        return google_error(StatusCode::NOT_FOUND, "Not Found", "notFound");
    };
    if let (Some(stored), Some(patch)) = (stored.as_object_mut(), patch.as_object()) {
        for (key, value) in patch {
            stored.insert(key.clone(), value.clone());
        }
    }
    let event = stored.clone();
    fake.counts.updates += 1;
    axum::Json(event).into_response()
}

async fn delete_event(
    State(state): State<Shared>,
    Path((calendar, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut fake = state.lock().expect("lock");
    if let Some(refused) = refusal(&mut fake, &headers) {
        return refused;
    }
    let Some(stored) = fake
        .events
        .get_mut(&calendar)
        .and_then(|events| events.get_mut(&id))
    else {
        return google_error(StatusCode::NOT_FOUND, "Not Found", "notFound");
    };
    if stored["status"] == "cancelled" {
        return google_error(StatusCode::GONE, "Resource has been deleted", "deleted");
    }
    stored["status"] = json!("cancelled");
    fake.counts.deletes += 1;
    StatusCode::NO_CONTENT.into_response()
}
