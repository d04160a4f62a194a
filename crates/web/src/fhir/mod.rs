//! The FHIR R4 door at `/fhir/r4` (`application/fhir+json`): the clinic's practitioners, their
//! specialties, schedules and slots, appointments and patients as FHIR resources, searchable
//! with paged searchset Bundles, and booking by `POST Appointment` with a Slot reference (the
//! HL7 Scheduling pattern). It is another door to the same core services as the JSON API: the
//! same holds and confirmations, the same no-double-booking guarantee, the same audit trail.
//!
//! Errors are the JSON API's problems (the one table in [`crate::shell::error`]) answered as
//! OperationOutcome resources by [`outcomes`], which every response under `/fhir/` passes
//! through, the access middleware's 401 and 403 included.

pub mod appointments;
pub mod catalogue;
pub mod search;

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::shell::AppState;
use crate::shell::error::{ApiError, ProblemCode};

/// Where the door is mounted.
pub const BASE_PATH: &str = "/fhir/r4";
/// The FHIR JSON media type.
pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// The FHIR routes (each has a row in the access table).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/fhir/r4/metadata", get(catalogue::metadata))
        .route("/fhir/r4/Practitioner", get(catalogue::practitioners))
        .route("/fhir/r4/Practitioner/{id}", get(catalogue::practitioner))
        .route(
            "/fhir/r4/PractitionerRole",
            get(catalogue::practitioner_roles),
        )
        .route(
            "/fhir/r4/PractitionerRole/{id}",
            get(catalogue::practitioner_role),
        )
        .route(
            "/fhir/r4/HealthcareService",
            get(catalogue::healthcare_services),
        )
        .route(
            "/fhir/r4/HealthcareService/{id}",
            get(catalogue::healthcare_service),
        )
        .route("/fhir/r4/Schedule", get(catalogue::schedules))
        .route("/fhir/r4/Schedule/{id}", get(catalogue::schedule))
        .route("/fhir/r4/Slot", get(catalogue::slots))
        .route("/fhir/r4/Slot/{id}", get(catalogue::slot))
        .route(
            "/fhir/r4/Appointment",
            get(appointments::search).post(appointments::book),
        )
        .route(
            "/fhir/r4/Appointment/{id}",
            get(appointments::read)
                .patch(appointments::patch)
                .put(appointments::put),
        )
        .route("/fhir/r4/Patient", get(appointments::patients))
        .route("/fhir/r4/Patient/{id}", get(appointments::patient))
}

/// A FHIR resource or Bundle, answered as `application/fhir+json`.
pub struct Fhir(pub StatusCode, pub Value);

impl Fhir {
    /// A 200 answer.
    pub fn ok(resource: Value) -> Self {
        Self(StatusCode::OK, resource)
    }
}

impl IntoResponse for Fhir {
    fn into_response(self) -> Response {
        (
            self.0,
            [(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON))],
            self.1.to_string(),
        )
            .into_response()
    }
}

/// A JSON request body, whatever JSON media type the client names (`application/fhir+json`,
/// `application/json`, `application/json-patch+json`).
pub struct FhirBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for FhirBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let essence = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let is_json = essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the resource as application/fhir+json",
            ));
        }
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "the request body is too large",
                    ),
                    StatusCode::REQUEST_TIMEOUT => ApiError::new(
                        StatusCode::REQUEST_TIMEOUT,
                        "request_timeout",
                        "the request body stopped arriving; send it again",
                    ),
                    _ => ApiError::validation(
                        StatusCode::BAD_REQUEST,
                        "the request body could not be read",
                    ),
                })?;
        serde_json::from_slice(&bytes).map(Self).map_err(|error| {
            ApiError::validation(
                StatusCode::BAD_REQUEST,
                format!("the body is not JSON: {error}"),
            )
        })
    }
}

/// A searchset Bundle of `matches` (one page of them), linked at this server's base.
pub fn searchset(
    state: &AppState,
    headers: &HeaderMap,
    kind: &str,
    params: &search::Params,
    matches: Vec<Value>,
) -> Fhir {
    Fhir::ok(search::bundle(
        &base_url(state, headers),
        kind,
        params,
        matches,
    ))
}

/// Whether `id` is among the `_id`s a search asked for (any, when it asked for none).
pub fn wanted(ids: Option<&[String]>, id: impl std::fmt::Display) -> bool {
    ids.is_none_or(|ids| ids.contains(&id.to_string()))
}

/// The absolute address of the FHIR base for links in Bundles (`fullUrl`, paging) and
/// `Location`: under the configured public URL, else the host the client used, over HTTPS when
/// the site is served securely.
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(public) = &state.web.public_url {
        return format!("{public}{BASE_PATH}");
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("localhost");
    let scheme = if state.web.secure_cookies {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}{BASE_PATH}")
}

/// Answers every problem document under `/fhir/` as an OperationOutcome with the same status
/// (install outermost, so refusals of the access middleware, unknown routes and panics pass
/// through it too).
pub async fn outcomes(request: Request, next: Next) -> Response {
    let is_fhir = request.uri().path().starts_with("/fhir/");
    let response = next.run(request).await;
    if !is_fhir {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !is_problem {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let code = parts
        .extensions
        .get::<ProblemCode>()
        .map_or("internal", |c| c.0);
    let detail = to_bytes(body, crate::shell::MAX_BODY_BYTES)
        .await
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|problem| problem["detail"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let outcome = operation_outcome(parts.status, code, &detail);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(outcome.to_string()))
}

/// An OperationOutcome with one error: its FHIR issue type follows the HTTP status, its
/// `details` carry MediBook's stable problem code.
pub fn operation_outcome(status: StatusCode, code: &str, detail: &str) -> Value {
    let issue_type = match status.as_u16() {
        401 => "login",
        403 => "forbidden",
        404 | 410 => "not-found",
        409 => "conflict",
        405 | 406 | 415 | 501 => "not-supported",
        413 => "too-long",
        422 => "business-rule",
        429 => "throttled",
        408 | 503 => "transient",
        400..=499 => "invalid",
        _ => "exception",
    };
    let mut issue = json!({
        "severity": "error",
        "code": issue_type,
        "details": {
            "coding": [{ "system": "urn:medibook:problem", "code": code }],
            "text": code,
        },
    });
    if !detail.is_empty() {
        issue["diagnostics"] = Value::String(detail.to_owned());
    }
    json!({ "resourceType": "OperationOutcome", "issue": [issue] })
}
