//! Sign-in with a one-time code: request a code, then trade it for a bearer token.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use medibook_core::BookingError;
use medibook_core::identity::{Email, Identifier, PhoneNumber, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiResult, Problem};
use crate::extract::ApiJson;

/// Where to send a code: exactly one of `email` or `phone`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CodeRequest {
    /// An email address.
    #[schema(example = "ada@example.org")]
    pub email: Option<String>,
    /// A phone number in international form.
    #[schema(example = "+49 30 1234567")]
    pub phone: Option<String>,
}

/// A code to check for an email or phone.
#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyRequest {
    /// The email the code was sent to.
    pub email: Option<String>,
    /// The phone the code was sent to.
    pub phone: Option<String>,
    /// The six-digit code.
    #[schema(example = "123456")]
    pub code: String,
}

/// A signed-in user's token.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    /// Bearer token for `Authorization: Bearer …`.
    pub token: String,
    /// When the token expires.
    pub expires_at: jiff::Timestamp,
    /// Who signed in.
    pub user: UserResponse,
}

/// A user's profile.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    /// Identity.
    pub id: uuid::Uuid,
    /// Email, if known.
    pub email: Option<String>,
    /// Phone (E.164), if known.
    pub phone: Option<String>,
    /// Display name, if given.
    pub name: Option<String>,
    /// `patient`, `doctor` or `admin`.
    pub role: String,
}

impl From<&User> for UserResponse {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.as_uuid(),
            email: user.email.as_ref().map(|e| e.as_str().to_owned()),
            phone: user.phone.as_ref().map(|p| p.as_str().to_owned()),
            name: user.name.clone(),
            role: user.role.as_str().to_owned(),
        }
    }
}

fn identifier(email: Option<&str>, phone: Option<&str>) -> Result<Identifier, BookingError> {
    match (email, phone) {
        (Some(email), None) => Ok(Identifier::Email(Email::parse(email)?)),
        (None, Some(phone)) => Ok(Identifier::Phone(PhoneNumber::parse(phone)?)),
        _ => Err(BookingError::validation(
            "give exactly one of email or phone",
        )),
    }
}

/// Sends a one-time sign-in code.
#[utoipa::path(post, path = "/api/v1/auth/otp", tag = "auth",
    request_body = CodeRequest,
    responses(
        (status = 202, description = "Code sent"),
        (status = 422, description = "Invalid email or phone", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn request_code(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CodeRequest>,
) -> ApiResult<StatusCode> {
    let identifier = identifier(body.email.as_deref(), body.phone.as_deref())?;
    state.signin.request_code(&identifier).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Checks a code and returns a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/verify", tag = "auth",
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "Signed in", body = SessionResponse),
        (status = 400, description = "Wrong, expired or used code (`otp_invalid`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<VerifyRequest>,
) -> ApiResult<Json<SessionResponse>> {
    let identifier = identifier(body.email.as_deref(), body.phone.as_deref())?;
    let user = state.signin.verify(&identifier, &body.code).await?;
    let issued = state.tokens.issue(&user)?;
    Ok(Json(SessionResponse {
        token: issued.token,
        expires_at: issued.expires_at,
        user: UserResponse::from(&user),
    }))
}
