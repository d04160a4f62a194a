//! Every error leaves the API as an RFC 9457 problem document (`application/problem+json`)
//! with a stable `code`; this is the one place where errors become HTTP.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medibook_core::BookingError;
use serde::Serialize;
use utoipa::ToSchema;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    #[schema(example = "urn:medibook:problem:slot_taken")]
    pub problem_type: String,
    /// A short, human-readable summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong this time, for people.
    pub detail: String,
    /// A stable machine-readable code, e.g. `slot_taken`, `hold_expired`, `validation`.
    pub code: String,
}

/// The problem code of an error response, left in the response's extensions for the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProblemCode(pub &'static str);

/// An error on its way to becoming a problem response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    retry_after_seconds: Option<u64>,
}

impl ApiError {
    /// A problem with an explicit status and code.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            retry_after_seconds: None,
        }
    }

    /// A 400/422 `validation` problem.
    pub fn validation(status: StatusCode, detail: impl Into<String>) -> Self {
        Self::new(status, "validation", detail)
    }

    /// The problem's status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// The one table from domain errors to HTTP statuses, used by every door (the JSON API and the
/// pages alike), so one failure never answers with two statuses.
pub fn status_of(error: &BookingError) -> StatusCode {
    match error {
        BookingError::NotFound(_) | BookingError::HoldNotFound => StatusCode::NOT_FOUND,
        BookingError::HoldExpired => StatusCode::GONE,
        BookingError::SlotTaken
        | BookingError::DayFull
        | BookingError::LimitReached(_)
        | BookingError::AppointmentLimit(_)
        | BookingError::FreeNow(..)
        | BookingError::InvalidState(_) => StatusCode::CONFLICT,
        BookingError::SlotUnavailable(_) | BookingError::Validation(_) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        BookingError::Unauthorized => StatusCode::UNAUTHORIZED,
        BookingError::Forbidden => StatusCode::FORBIDDEN,
        BookingError::OtpInvalid => StatusCode::BAD_REQUEST,
        BookingError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        BookingError::StorageFull | BookingError::DatabaseUnavailable => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        BookingError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// How long a client should wait before trying again, for the errors that pass (a rate
/// limit, a full disk, a database away).
pub fn retry_after_of(error: &BookingError) -> Option<u64> {
    match error {
        BookingError::RateLimited {
            retry_after_seconds,
        } => Some(*retry_after_seconds),
        BookingError::StorageFull => Some(STORAGE_FULL_RETRY_SECONDS),
        BookingError::DatabaseUnavailable => Some(DATABASE_UNAVAILABLE_RETRY_SECONDS),
        _ => None,
    }
}

/// `Retry-After` of a `storage_full` answer: an operator has to free space.
const STORAGE_FULL_RETRY_SECONDS: u64 = 30;
/// `Retry-After` of a `database_unavailable` answer: the pool reconnects on its own.
const DATABASE_UNAVAILABLE_RETRY_SECONDS: u64 = 5;

impl From<BookingError> for ApiError {
    fn from(error: BookingError) -> Self {
        let status = status_of(&error);
        let detail = match &error {
            BookingError::Storage(message) => {
                tracing::error!(error = %message, "storage failure");
                "the server could not complete the request; please try again".to_owned()
            }
            BookingError::StorageFull => {
                tracing::warn!("a write was refused: the database's storage is full");
                "the server cannot store anything right now (its storage is full); nothing was \
                 changed, please try again later"
                    .to_owned()
            }
            BookingError::DatabaseUnavailable => {
                tracing::warn!("a request failed: the database is not reachable");
                "the server cannot reach its database right now; nothing was changed, please \
                 try again in a few seconds"
                    .to_owned()
            }
            other => other.to_string(),
        };
        let retry_after_seconds = retry_after_of(&error);
        Self {
            retry_after_seconds,
            ..Self::new(status, error.code(), detail)
        }
    }
}

fn title(status: StatusCode) -> String {
    status.canonical_reason().unwrap_or("Error").to_owned()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            problem_type: format!("urn:medibook:problem:{}", self.code),
            title: title(self.status),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_owned(),
        };
        let mut response = (self.status, Json(problem)).into_response();
        response.extensions_mut().insert(ProblemCode(self.code));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after_seconds
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            headers.insert(header::RETRY_AFTER, value);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Result of an API handler.
pub type ApiResult<T> = Result<T, ApiError>;
