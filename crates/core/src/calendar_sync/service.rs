//! [`GoogleCalendarSync`], the service the pages and the background worker call: connecting
//! and disconnecting a calendar, and the sync rounds that send appointments to Google.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::{SignedDuration, Timestamp};
use rand::RngCore;
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::connections::{
    ConnectionStatus, GoogleConnection, GoogleConnections, PendingConnect, SyncItem, TokenVault,
};
use super::protocol::{AccessGrant, CalendarError, CalendarEvent, GoogleCalendarApi};
use super::reconcile::{SyncAction, decide, event_for};
use crate::clock::Clock;
use crate::error::{BookingError, BookingResult};
use crate::ids::UserId;

/// How long a started connection may take to come back from Google's consent screen.
pub const CONNECT_STATE_LIFETIME: SignedDuration = SignedDuration::from_mins(10);

/// Appointments that ended longer ago than this are left alone.
pub const SYNC_LOOKBACK: SignedDuration = SignedDuration::from_hours(24);

/// An access token is renewed this long before Google says it expires.
const ACCESS_TOKEN_MARGIN: SignedDuration = SignedDuration::from_mins(1);

/// A connection as the profile shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionView {
    /// Active or revoked.
    pub status: ConnectionStatus,
    /// Why revoked, or the last failed sync (retried).
    pub last_error: Option<String>,
    /// When connected.
    pub connected_at: Timestamp,
}

/// Why finishing a connect did not work.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ConnectError {
    /// The state is unknown, used, expired, or was started by someone else.
    #[error("the connect request expired or was already used")]
    StateInvalid,
    /// Google refused the code, or sent no refresh token.
    #[error("Google refused the connection: {0}")]
    Refused(String),
    /// Google could not be reached.
    #[error("Google could not be reached: {0}")]
    Unavailable(String),
    /// Our own storage failed.
    #[error(transparent)]
    Storage(#[from] BookingError),
}

/// What one sync round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Appointments whose event was inserted, updated or deleted.
    pub sent: u32,
    /// Appointments recorded without a call (nothing to show).
    pub skipped: u32,
    /// Connections found revoked this round.
    pub revoked: u32,
    /// Appointments left for the next round after a failure.
    pub failed: u32,
}

/// Fixed configuration of the sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncConfig {
    /// Where Google sends the person back: `{public_url}/profile/google/callback`.
    pub redirect_uri: String,
    /// Named as the events' location.
    pub clinic_name: String,
}

struct CachedAccess {
    token: String,
    expires_at: Timestamp,
}

struct Inner {
    api: Arc<dyn GoogleCalendarApi>,
    store: Arc<dyn GoogleConnections>,
    vault: Arc<dyn TokenVault>,
    clock: Arc<dyn Clock>,
    config: SyncConfig,
    /// Access tokens by person, kept in memory until shortly before they expire.
    access: Mutex<HashMap<UserId, CachedAccess>>,
    /// Asks the background worker for a round now (after a connect).
    nudge: Option<Arc<dyn Fn() + Send + Sync>>,
}

/// Connecting, disconnecting and syncing Google calendars.
#[derive(Clone)]
pub struct GoogleCalendarSync {
    inner: Arc<Inner>,
}

impl GoogleCalendarSync {
    /// The service over its ports.
    pub fn new(
        api: Arc<dyn GoogleCalendarApi>,
        store: Arc<dyn GoogleConnections>,
        vault: Arc<dyn TokenVault>,
        clock: Arc<dyn Clock>,
        config: SyncConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                api,
                store,
                vault,
                clock,
                config,
                access: Mutex::new(HashMap::new()),
                nudge: None,
            }),
        }
    }

    /// The same service, calling `nudge` after a connect so a worker syncs at once.
    pub fn with_nudge(self, nudge: Arc<dyn Fn() + Send + Sync>) -> Self {
        let inner = match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.nudge = Some(nudge);
                inner
            }
            Err(shared) => Inner {
                api: shared.api.clone(),
                store: shared.store.clone(),
                vault: shared.vault.clone(),
                clock: shared.clock.clone(),
                config: shared.config.clone(),
                access: Mutex::new(HashMap::new()),
                nudge: Some(nudge),
            },
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Starts connecting `person`: stores a single-use state with a PKCE verifier and returns
    /// the address of Google's consent page.
    pub async fn begin_connect(&self, person: UserId) -> BookingResult<String> {
        let now = self.inner.clock.now();
        let state = random_token();
        let code_verifier = random_token();
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()));
        let pending = PendingConnect {
            person_id: person,
            code_verifier,
            created_at: now,
        };
        let expired_before = now.saturating_sub(CONNECT_STATE_LIFETIME).unwrap_or(now);
        self.inner
            .store
            .save_connect_state(&state_hash(&state), &pending, expired_before)
            .await?;
        Ok(self
            .inner
            .api
            .authorization_url(&state, &challenge, &self.inner.config.redirect_uri))
    }

    /// Finishes connecting `person` with the `code` and `state` Google sent back: the state
    /// must be theirs, unused and fresh; the refresh token is sealed and stored.
    pub async fn finish_connect(
        &self,
        person: UserId,
        state: &str,
        code: &str,
    ) -> Result<(), ConnectError> {
        let now = self.inner.clock.now();
        let pending = self
            .inner
            .store
            .take_connect_state(&state_hash(state))
            .await?
            .ok_or(ConnectError::StateInvalid)?;
        let fresh = pending
            .created_at
            .saturating_add(CONNECT_STATE_LIFETIME)
            .is_ok_and(|until| now < until);
        if pending.person_id != person || !fresh || code.is_empty() {
            return Err(ConnectError::StateInvalid);
        }
        let grant = self
            .inner
            .api
            .exchange_code(
                code,
                &pending.code_verifier,
                &self.inner.config.redirect_uri,
            )
            .await
            .map_err(|e| match e {
                CalendarError::Unavailable(reason) => ConnectError::Unavailable(reason),
                other => ConnectError::Refused(other.to_string()),
            })?;
        let Some(refresh_token) = grant.refresh_token.as_deref() else {
            return Err(ConnectError::Refused(
                "Google sent no refresh token".to_owned(),
            ));
        };
        let sealed = self.inner.vault.seal(&person.to_string(), refresh_token)?;
        self.inner
            .store
            .save_connection(person, &sealed, now)
            .await?;
        self.cache_access(person, &grant, now);
        if let Some(nudge) = &self.inner.nudge {
            nudge();
        }
        Ok(())
    }

    /// Forgets `person`'s connection (revoking the token at Google when possible). Events
    /// already in their calendar stay there.
    pub async fn disconnect(&self, person: UserId) -> BookingResult<()> {
        if let Some(connection) = self.inner.store.connection(person).await? {
            if let Ok(token) = self
                .inner
                .vault
                .open(&person.to_string(), &connection.refresh_token)
            {
                // Best effort: the token is forgotten here either way, and the person can
                // also remove MediBook's access in their Google account.
                let _ = self.inner.api.revoke(&token).await;
            }
            self.inner.store.delete_connection(person).await?;
        }
        self.forget_access(person);
        Ok(())
    }

    /// `person`'s connection, if any.
    pub async fn status(&self, person: UserId) -> BookingResult<Option<ConnectionView>> {
        Ok(self
            .inner
            .store
            .connection(person)
            .await?
            .map(|c| ConnectionView {
                status: c.status,
                last_error: c.last_error,
                connected_at: c.connected_at,
            }))
    }

    /// One round: every active connection's changed appointments are sent to Google.
    pub async fn sync_round(&self) -> BookingResult<SyncReport> {
        let now = self.inner.clock.now();
        let since = now.saturating_sub(SYNC_LOOKBACK).unwrap_or(now);
        let connections = self.inner.store.active_connections().await?;
        let mut items: HashMap<UserId, Vec<SyncItem>> = HashMap::new();
        for item in self.inner.store.pending_sync(since).await? {
            items.entry(item.person_id).or_default().push(item);
        }
        let mut report = SyncReport::default();
        for connection in &connections {
            let Some(items) = items.remove(&connection.person_id) else {
                continue;
            };
            self.sync_person(connection, items, &mut report).await?;
        }
        Ok(report)
    }

    async fn sync_person(
        &self,
        connection: &GoogleConnection,
        items: Vec<SyncItem>,
        report: &mut SyncReport,
    ) -> BookingResult<()> {
        let person = connection.person_id;
        let mut token = match self.access_token(connection, false).await {
            Ok(token) => token,
            Err(e) => return self.give_up(connection, e, report).await,
        };
        let mut failures = Vec::new();
        for item in items {
            let action = decide(&item);
            let event = event_for(&item, &self.inner.config.clinic_name);
            let mut result = self.apply(&token, connection, &event, action).await;
            if result == Err(CalendarError::Unauthorized) {
                // The cached token may have expired early or been revoked: one fresh token.
                token = match self.access_token(connection, true).await {
                    Ok(token) => token,
                    Err(e) => return self.give_up(connection, e, report).await,
                };
                result = self
                    .apply(&token, connection, &event, action)
                    .await
                    .map_err(|e| match e {
                        CalendarError::Unauthorized => CalendarError::Revoked(
                            "Google refused a freshly issued access token (401 Unauthorized)"
                                .to_owned(),
                        ),
                        other => other,
                    });
            }
            match result {
                Ok(()) => {
                    let now = self.inner.clock.now();
                    self.inner
                        .store
                        .record_synced(
                            person,
                            item.appointment_id,
                            &event.id,
                            item.as_synced(),
                            now,
                        )
                        .await?;
                    if action == SyncAction::Skip {
                        report.skipped += 1;
                    } else {
                        report.sent += 1;
                    }
                }
                Err(e @ (CalendarError::Revoked(_) | CalendarError::Unavailable(_))) => {
                    return self.give_up(connection, e, report).await;
                }
                Err(e) => {
                    report.failed += 1;
                    failures.push(format!("{}: {e}", event.summary));
                }
            }
        }
        let now = self.inner.clock.now();
        let error = (!failures.is_empty()).then(|| failures.join("; "));
        if error != connection.last_error {
            self.inner
                .store
                .note_error(person, error.as_deref(), now)
                .await?;
        }
        Ok(())
    }

    /// Stops a person's round on `error`: a revoked grant marks the connection revoked; any
    /// other failure is noted and retried next round.
    async fn give_up(
        &self,
        connection: &GoogleConnection,
        error: CalendarError,
        report: &mut SyncReport,
    ) -> BookingResult<()> {
        let now = self.inner.clock.now();
        let person = connection.person_id;
        match error {
            CalendarError::Revoked(reason) => {
                self.forget_access(person);
                self.inner.store.mark_revoked(person, &reason, now).await?;
                report.revoked += 1;
            }
            other => {
                report.failed += 1;
                self.inner
                    .store
                    .note_error(person, Some(&other.to_string()), now)
                    .await?;
            }
        }
        Ok(())
    }

    async fn apply(
        &self,
        token: &str,
        connection: &GoogleConnection,
        event: &CalendarEvent,
        action: SyncAction,
    ) -> Result<(), CalendarError> {
        let api = &self.inner.api;
        let calendar = connection.calendar_id.as_str();
        match action {
            SyncAction::Skip => Ok(()),
            SyncAction::Insert => match api.insert_event(token, calendar, event).await {
                Err(CalendarError::AlreadyExists) => api.update_event(token, calendar, event).await,
                other => other,
            },
            SyncAction::Update => match api.update_event(token, calendar, event).await {
                Err(CalendarError::NotFound) => api.insert_event(token, calendar, event).await,
                other => other,
            },
            SyncAction::Delete => match api.delete_event(token, calendar, &event.id).await {
                Err(CalendarError::NotFound) => Ok(()),
                other => other,
            },
        }
    }

    /// A cached access token, or a fresh one from the refresh token (always fresh if `renew`).
    async fn access_token(
        &self,
        connection: &GoogleConnection,
        renew: bool,
    ) -> Result<String, CalendarError> {
        let person = connection.person_id;
        let now = self.inner.clock.now();
        if !renew && let Some(token) = self.cached_access(person, now) {
            return Ok(token);
        }
        let refresh_token = self
            .inner
            .vault
            .open(&person.to_string(), &connection.refresh_token)
            .map_err(|_| {
                CalendarError::Revoked(
                    "the stored Google token could not be decrypted (was the server secret \
                     changed?)"
                        .to_owned(),
                )
            })?;
        let grant = self.inner.api.refresh(&refresh_token).await?;
        self.cache_access(person, &grant, now);
        Ok(grant.access_token)
    }

    fn cached_access(&self, person: UserId, now: Timestamp) -> Option<String> {
        let cache = self
            .inner
            .access
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache
            .get(&person)
            .filter(|cached| now < cached.expires_at)
            .map(|cached| cached.token.clone())
    }

    fn cache_access(&self, person: UserId, grant: &AccessGrant, now: Timestamp) {
        let lifetime = SignedDuration::from_secs(grant.expires_in_seconds.max(0));
        let expires_at = now
            .saturating_add(lifetime)
            .and_then(|t| t.saturating_sub(ACCESS_TOKEN_MARGIN))
            .unwrap_or(now);
        self.inner
            .access
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(
                person,
                CachedAccess {
                    token: grant.access_token.clone(),
                    expires_at,
                },
            );
    }

    fn forget_access(&self, person: UserId) {
        self.inner
            .access
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&person);
    }
}

/// 256 random bits, base64url without padding (43 characters): PKCE verifiers and states.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a state: its SHA-256, so a database reader cannot finish someone's
/// connect.
fn state_hash(state: &str) -> String {
    Sha256::digest(state.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_tokens_are_long_random_and_url_safe() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(state_hash("x").len(), 64);
    }
}
