//! Access tokens: short-lived signed JWTs naming the user, role and session. Every authenticated
//! request checks the token and then the session, so a logout or timeout takes effect at once.
//!
//! Only HS256 is accepted (an allow-list: `none` and other algorithms are refused), and `exp`,
//! `iat`, `aud` and `iss` are verified. Expiry is judged by the application's [`Clock`], like
//! every other deadline, not by the system clock.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jiff::{SignedDuration, Timestamp};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use medibook_core::BookingError;
use medibook_core::clock::Clock;
use medibook_core::identity::{Role, User};
use medibook_core::ids::{SessionId, UserId};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::ApiError;

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
        let now = self.clock.now();
        let expires_at = now
            .saturating_add(self.lifetime)
            .map_err(|_| BookingError::Storage("token expiry overflows".into()))?;
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
        // Already authenticated by the access middleware (crate::access): no second check.
        if let Some(user) = parts.extensions.get::<AuthUser>() {
            return Ok(*user);
        }
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .ok_or(BookingError::Unauthorized)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(BookingError::Unauthorized)?;
        let user = state.tokens.verify(token.trim())?;
        let session = state.sessions.check(user.session_id).await?;
        if session.user_id != user.id {
            return Err(BookingError::Unauthorized.into());
        }
        Ok(user)
    }
}
