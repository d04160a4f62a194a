//! Sign-in with a one-time code: request a code, then trade it for a bearer token.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medibook_core::BookingError;
use medibook_core::identity::{Email, Identifier, PhoneNumber, User};
use medibook_core::sessions::SessionGrant;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::shell::AppState;
use crate::shell::auth::{AuthUser, cookie_value};
use crate::shell::client::ClientIp;
use crate::shell::error::{ApiResult, Problem};
use crate::shell::extract::ApiJson;

/// The cookie that carries the refresh token for pages (HttpOnly: scripts never see it).
pub const REFRESH_COOKIE: &str = "medibook_refresh";

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

/// A signed-in user's tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    /// Short-lived access token for `Authorization: Bearer …`.
    pub token: String,
    /// When the access token expires (then call `/api/v1/auth/refresh`).
    pub expires_at: jiff::Timestamp,
    /// Single-use token for `/api/v1/auth/refresh` (also set as an HttpOnly cookie).
    pub refresh_token: String,
    /// When the session ends at the latest, whatever the activity.
    pub session_expires_at: jiff::Timestamp,
    /// Who signed in.
    pub user: UserResponse,
}

/// A refresh token, or `{}` to use the refresh cookie.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// The refresh token from sign-in or the previous refresh.
    pub refresh_token: Option<String>,
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
    /// `patient`, `doctor`, `receptionist` or `admin`.
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
        (status = 429, description = "Too many codes requested (`rate_limited`, see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn request_code(
    State(state): State<AppState>,
    client: ClientIp,
    ApiJson(body): ApiJson<CodeRequest>,
) -> ApiResult<StatusCode> {
    let identifier = identifier(body.email.as_deref(), body.phone.as_deref())?;
    state
        .signin
        .request_code(&identifier, client.limit_key().as_deref())
        .await?;
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
) -> ApiResult<Response> {
    let identifier = identifier(body.email.as_deref(), body.phone.as_deref())?;
    let user = state.signin.verify(&identifier, &body.code).await?;
    let grant = state.sessions.start(&user).await?;
    session_response(&state, &user, grant)
}

/// Tokens for a started or refreshed session, with the refresh cookie.
fn session_response(state: &AppState, user: &User, grant: SessionGrant) -> ApiResult<Response> {
    let issued = state.tokens.issue(user, grant.session.id)?;
    let cookie = refresh_cookie(state, &grant.refresh_token, &grant.session);
    let body = SessionResponse {
        token: issued.token,
        expires_at: issued.expires_at,
        refresh_token: grant.refresh_token,
        session_expires_at: grant.session.expires_at,
        user: UserResponse::from(user),
    };
    let mut response = Json(body).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn refresh_cookie(
    state: &AppState,
    token: &str,
    session: &medibook_core::sessions::Session,
) -> String {
    let max_age = session
        .expires_at
        .duration_since(state.sessions.now())
        .as_secs()
        .max(0);
    let secure = if state.web.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{REFRESH_COOKIE}={token}; Path=/api/v1/auth; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    )
}

/// Trades a refresh token (body, or the HttpOnly cookie) for a new access token and a new
/// refresh token. Each refresh token works once.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = SessionResponse),
        (status = 401, description = "Unknown, used, expired or revoked", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> ApiResult<Response> {
    let token = match body.refresh_token {
        Some(token) => token,
        // Cross-site requests carrying the cookie never get here (see `csrf`).
        None => cookie_value(&headers, REFRESH_COOKIE)
            .ok_or(BookingError::Unauthorized)?
            .to_owned(),
    };
    let grant = state.sessions.refresh(&token).await?;
    let user = state
        .identities
        .user(grant.session.user_id)
        .await?
        .ok_or(BookingError::Unauthorized)?;
    session_response(&state, &user, grant)
}

/// Ends the session at once: its access and refresh tokens stop working.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn logout(State(state): State<AppState>, user: AuthUser) -> ApiResult<Response> {
    state.sessions.end(user.session_id).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    let secure = if state.web.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let clear =
        format!("{REFRESH_COOKIE}=; Path=/api/v1/auth; HttpOnly; SameSite=Lax; Max-Age=0{secure}");
    if let Ok(value) = HeaderValue::from_str(&clear) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}
