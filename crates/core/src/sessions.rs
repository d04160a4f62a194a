//! Sessions: a signed-in person holds a short-lived access token and a server-side session.
//!
//! The session ends after `idle_timeout` without activity, after `absolute_lifetime` in any
//! case, or at once on logout. An access token names its session, and the session is checked
//! on every request, so revocation takes effect immediately (HIPAA §164.312(a)(2)(iii): automatic
//! logoff). The refresh token is a random 256-bit secret stored only as its SHA-256 and rotated
//! on every use, so a stolen, already-used refresh token is worthless.

use std::sync::Arc;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::error::{BookingError, BookingResult};
use crate::identity::User;
use crate::ids::{SessionId, UserId};

/// How long sessions and their tokens live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Lifetime of one access token.
    pub access_lifetime: SignedDuration,
    /// Inactivity after which the session ends.
    pub idle_timeout: SignedDuration,
    /// Time after sign-in at which the session ends regardless.
    pub absolute_lifetime: SignedDuration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            access_lifetime: SignedDuration::from_mins(15),
            idle_timeout: SignedDuration::from_mins(30),
            absolute_lifetime: SignedDuration::from_hours(12),
        }
    }
}

/// A stored session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Identity, carried in access tokens.
    pub id: SessionId,
    /// Whose session.
    pub user_id: UserId,
    /// When the person signed in.
    pub created_at: Timestamp,
    /// Last authenticated activity (recorded at most once a minute).
    pub last_seen_at: Timestamp,
    /// Absolute end.
    pub expires_at: Timestamp,
    /// When it was ended by logout, if it was.
    pub revoked_at: Option<Timestamp>,
}

impl Session {
    /// Whether the session is usable at `now` under `policy`.
    pub fn is_live(&self, policy: &SessionPolicy, now: Timestamp) -> bool {
        let idle_deadline = self
            .last_seen_at
            .saturating_add(policy.idle_timeout)
            .unwrap_or(self.last_seen_at);
        self.revoked_at.is_none() && now < self.expires_at && now < idle_deadline
    }
}

/// Storage of sessions.
#[async_trait]
pub trait SessionRepository: Send + Sync + 'static {
    /// Stores a new session with the hash of its first refresh token.
    async fn create_session(&self, session: &Session, refresh_hash: &str) -> BookingResult<()>;
    /// One session.
    async fn session(&self, id: SessionId) -> BookingResult<Option<Session>>;
    /// The session whose current refresh token hashes to `refresh_hash`.
    async fn session_by_refresh(&self, refresh_hash: &str) -> BookingResult<Option<Session>>;
    /// The session whose *previous* (already used) refresh token hashes to `refresh_hash`.
    async fn session_by_used_refresh(&self, refresh_hash: &str) -> BookingResult<Option<Session>>;
    /// Replaces the refresh hash (only if it is still `old_hash`) and records activity;
    /// `false` if another refresh won the race.
    async fn rotate_refresh(
        &self,
        id: SessionId,
        old_hash: &str,
        new_hash: &str,
        now: Timestamp,
    ) -> BookingResult<bool>;
    /// Records activity.
    async fn touch_session(&self, id: SessionId, now: Timestamp) -> BookingResult<()>;
    /// Ends the session.
    async fn revoke_session(&self, id: SessionId, now: Timestamp) -> BookingResult<()>;
}

/// A session just started or refreshed, with the refresh token to hand to the client.
#[derive(Clone, Debug)]
pub struct SessionGrant {
    /// The session.
    pub session: Session,
    /// The new refresh token (shown once; only its hash is stored).
    pub refresh_token: String,
}

/// Activity is written at most this often, so every request does not become a write.
const TOUCH_INTERVAL: SignedDuration = SignedDuration::from_mins(1);

/// Starts, checks, refreshes and ends sessions.
#[derive(Clone)]
pub struct Sessions {
    repository: Arc<dyn SessionRepository>,
    clock: Arc<dyn Clock>,
    policy: SessionPolicy,
}

impl Sessions {
    /// A session service.
    pub fn new(
        repository: Arc<dyn SessionRepository>,
        clock: Arc<dyn Clock>,
        policy: SessionPolicy,
    ) -> Self {
        Self {
            repository,
            clock,
            policy,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> SessionPolicy {
        self.policy
    }

    /// The current instant.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Starts a session for `user`.
    pub async fn start(&self, user: &User) -> BookingResult<SessionGrant> {
        let now = self.clock.now();
        let session = Session {
            id: SessionId::generate(),
            user_id: user.id,
            created_at: now,
            last_seen_at: now,
            expires_at: now
                .saturating_add(self.policy.absolute_lifetime)
                .map_err(|_| BookingError::Storage("session expiry overflows".into()))?,
            revoked_at: None,
        };
        let refresh_token = new_refresh_token();
        self.repository
            .create_session(&session, &hash_refresh_token(&refresh_token))
            .await?;
        Ok(SessionGrant {
            session,
            refresh_token,
        })
    }

    /// The live session `id`, recording activity; `Unauthorized` if it ended.
    pub async fn check(&self, id: SessionId) -> BookingResult<Session> {
        let now = self.clock.now();
        let session = self
            .repository
            .session(id)
            .await?
            .filter(|s| s.is_live(&self.policy, now))
            .ok_or(BookingError::Unauthorized)?;
        if now.duration_since(session.last_seen_at) >= TOUCH_INTERVAL {
            self.repository.touch_session(id, now).await?;
        }
        Ok(session)
    }

    /// Whether session `id` is still live, without counting this as activity (for a live feed
    /// connection that checks now and then that its sign-in still stands).
    pub async fn is_live(&self, id: SessionId) -> BookingResult<bool> {
        let now = self.clock.now();
        Ok(self
            .repository
            .session(id)
            .await?
            .is_some_and(|s| s.is_live(&self.policy, now)))
    }

    /// Trades a refresh token for a new one (rotation) on a live session. Presenting a refresh
    /// token that was already used means two parties hold it (one of them stole it): the whole
    /// session is ended, so neither keeps it.
    pub async fn refresh(&self, refresh_token: &str) -> BookingResult<SessionGrant> {
        let now = self.clock.now();
        let old_hash = hash_refresh_token(refresh_token);
        let Some(session) = self.repository.session_by_refresh(&old_hash).await? else {
            if let Some(reused) = self.repository.session_by_used_refresh(&old_hash).await? {
                self.repository.revoke_session(reused.id, now).await?;
            }
            return Err(BookingError::Unauthorized);
        };
        if !session.is_live(&self.policy, now) {
            return Err(BookingError::Unauthorized);
        }
        let refresh_token = new_refresh_token();
        let rotated = self
            .repository
            .rotate_refresh(
                session.id,
                &old_hash,
                &hash_refresh_token(&refresh_token),
                now,
            )
            .await?;
        if !rotated {
            return Err(BookingError::Unauthorized);
        }
        Ok(SessionGrant {
            session: Session {
                last_seen_at: now,
                ..session
            },
            refresh_token,
        })
    }

    /// Ends a session at once.
    pub async fn end(&self, id: SessionId) -> BookingResult<()> {
        self.repository.revoke_session(id, self.clock.now()).await
    }
}

fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The stored form of a refresh token.
pub fn hash_refresh_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(now: Timestamp) -> Session {
        Session {
            id: SessionId::generate(),
            user_id: UserId::generate(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + SignedDuration::from_hours(12),
            revoked_at: None,
        }
    }

    #[test]
    fn sessions_end_when_idle_expired_or_revoked() {
        let policy = SessionPolicy::default();
        let now: Timestamp = "2027-03-01T08:00:00Z".parse().unwrap();
        let live = session(now);
        assert!(live.is_live(&policy, now + SignedDuration::from_mins(29)));
        assert!(!live.is_live(&policy, now + SignedDuration::from_mins(30)));
        let active = Session {
            last_seen_at: now + SignedDuration::from_hours(12) - SignedDuration::from_mins(5),
            ..live.clone()
        };
        assert!(!active.is_live(&policy, now + SignedDuration::from_hours(12)));
        let revoked = Session {
            revoked_at: Some(now),
            ..live
        };
        assert!(!revoked.is_live(&policy, now));
    }
}
