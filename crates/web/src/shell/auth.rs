//! Access tokens: short-lived signed JWTs naming the user, role and session. Every authenticated
//! request checks the token and then the session, so a logout or timeout takes effect at once.
//!
//! API clients send the token as `Authorization: Bearer …`. Pages carry it in the HttpOnly
//! [`SESSION_COOKIE`], issued by the page sign-in to live exactly as long as its session (see
//! [`TokenKeys::issue_until`]); a request without an `Authorization` header is authenticated by
//! that cookie, with the same token and session checks, so same-origin scripts of our pages can
//! call the API. Cross-site use of the cookie is refused by [`crate::shell::csrf`].
//!
//! Only HS256 is accepted (an allow-list: `none` and other algorithms are refused), and `exp`,
//! `iat`, `aud` and `iss` are verified. Expiry is judged by the application's [`Clock`], like
//! every other deadline, not by the system clock.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use jiff::{SignedDuration, Timestamp};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use medibook_core::BookingError;
use medibook_core::clock::Clock;
use medibook_core::identity::{Role, User};
use medibook_core::ids::{SessionId, UserId};
use serde::{Deserialize, Serialize};

use crate::shell::AppState;
use crate::shell::error::ApiError;

/// The cookie that carries a page session's access token (HttpOnly, `SameSite=Lax`, `Path=/`).
pub const SESSION_COOKIE: &str = "medibook_session";

const AUDIENCE: &str = "medibook-api";
const ISSUER: &str = "medibook";

/// Signs and verifies access tokens.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    lifetime: SignedDuration,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    sid: String,
    role: Role,
    iat: i64,
    exp: i64,
    aud: String,
    iss: String,
}

/// A freshly issued token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// When it stops being accepted.
    pub expires_at: Timestamp,
}

impl TokenKeys {
    /// Keys from a secret of at least 32 bytes; tokens live for `lifetime` as told by `clock`.
    pub fn new(secret: &[u8], lifetime: SignedDuration, clock: Arc<dyn Clock>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        // `exp` must be present (below) but is compared with `clock` in `verify`.
        validation.validate_exp = false;
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub"]);
        validation.validate_aud = true;
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            lifetime,
            clock,
        }
    }

    /// Issues a token for `user` in `session`, valid from now for the configured lifetime.
    pub fn issue(&self, user: &User, session: SessionId) -> Result<IssuedToken, BookingError> {
        let expires_at = self
            .clock
            .now()
            .saturating_add(self.lifetime)
            .map_err(|_| BookingError::Storage("token expiry overflows".into()))?;
        self.issue_until(user, session, expires_at)
    }

    /// Issues a token for `user` in `session` that is valid until `expires_at`: the page
    /// sign-in passes the session's own end, so the cookie lives as long as the session does.
    /// Every use still checks the session, so ending it (logout, idle timeout) ends the token.
    pub fn issue_until(
        &self,
        user: &User,
        session: SessionId,
        expires_at: Timestamp,
    ) -> Result<IssuedToken, BookingError> {
        let now = self.clock.now();
        let claims = Claims {
            sub: user.id.to_string(),
            sid: session.to_string(),
            role: user.role,
            iat: now.as_second(),
            exp: expires_at.as_second(),
            aud: AUDIENCE.into(),
            iss: ISSUER.into(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| BookingError::Storage(format!("cannot sign token: {e}")))?;
        Ok(IssuedToken { token, expires_at })
    }

    /// Verifies a token's signature, algorithm, audience, issuer and expiry, and returns who it
    /// names (the session is checked separately).
    pub fn verify(&self, token: &str) -> Result<AuthUser, BookingError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| BookingError::Unauthorized)?;
        if data.claims.exp <= self.clock.now().as_second() {
            return Err(BookingError::Unauthorized);
        }
        let id = data
            .claims
            .sub
            .parse::<UserId>()
            .map_err(|_| BookingError::Unauthorized)?;
        let session_id = data
            .claims
            .sid
            .parse::<SessionId>()
            .map_err(|_| BookingError::Unauthorized)?;
        Ok(AuthUser {
            id,
            role: data.claims.role,
            session_id,
        })
    }
}

/// The signed-in caller of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser {
    /// Who.
    pub id: UserId,
    /// With which role.
    pub role: Role,
    /// In which session.
    pub session_id: SessionId,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Already authenticated by the access middleware (crate::shell::access): no second check.
        if let Some(user) = parts.extensions.get::<AuthUser>() {
            return Ok(*user);
        }
        let token = request_token(&parts.headers)?;
        Ok(authenticate(state, token).await?)
    }
}

/// The access token of a request: the `Authorization: Bearer` header when there is one (an
/// unusable header is refused, never passed over for the cookie), else the session cookie.
fn request_token(headers: &HeaderMap) -> Result<&str, BookingError> {
    match headers.get(AUTHORIZATION) {
        Some(value) => {
            let header = value.to_str().map_err(|_| BookingError::Unauthorized)?;
            header
                .strip_prefix("Bearer ")
                .or_else(|| header.strip_prefix("bearer "))
                .map(str::trim)
                .ok_or(BookingError::Unauthorized)
        }
        None => session_cookie_token(headers).ok_or(BookingError::Unauthorized),
    }
}

/// Checks `token` and then its server-side session: who the token names, if both are valid.
pub async fn authenticate(state: &AppState, token: &str) -> Result<AuthUser, BookingError> {
    let user = state.tokens.verify(token)?;
    let session = state.sessions.check(user.session_id).await?;
    if session.user_id != user.id {
        return Err(BookingError::Unauthorized);
    }
    Ok(user)
}

/// The access token in the page [`SESSION_COOKIE`], if the request carries one (unchecked:
/// pass it to [`authenticate`]). The live feed uses it to sign in a page's WebSocket.
pub fn session_cookie_token(headers: &HeaderMap) -> Option<&str> {
    cookie_value(headers, SESSION_COOKIE).filter(|token| !token.is_empty())
}

/// The value of the cookie `name`, if any `Cookie` header carries it.
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The `Set-Cookie` value that stores a page session's access token for `max_age_seconds`.
pub fn session_cookie(token: &str, max_age_seconds: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    let max_age = max_age_seconds.max(0);
    format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// The `Set-Cookie` value that removes the page session cookie.
pub fn clear_session_cookie(secure: bool) -> String {
    session_cookie("", 0, secure)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(axum::http::HeaderName, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_bearer_header_wins_over_the_session_cookie() {
        let both = headers(&[
            (AUTHORIZATION, "Bearer from-header"),
            (COOKIE, "medibook_session=from-cookie"),
        ]);
        assert_eq!(request_token(&both), Ok("from-header"));
        let cookie_only = headers(&[(COOKIE, "theme=dark; medibook_session=from-cookie")]);
        assert_eq!(request_token(&cookie_only), Ok("from-cookie"));
        let bad_header = headers(&[
            (AUTHORIZATION, "Basic abc"),
            (COOKIE, "medibook_session=from-cookie"),
        ]);
        assert_eq!(request_token(&bad_header), Err(BookingError::Unauthorized));
        assert_eq!(
            request_token(&headers(&[(COOKIE, "medibook_session=")])),
            Err(BookingError::Unauthorized)
        );
    }

    #[test]
    fn session_cookies_are_http_only_lax_and_site_wide() {
        assert_eq!(
            session_cookie("t", 60, true),
            "medibook_session=t; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        assert_eq!(
            clear_session_cookie(false),
            "medibook_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
        );
    }
}
