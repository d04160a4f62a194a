//! Doctors' agendas shared by instances in Redis (the
//! [`SharedAgendaStore`](medibook_core::shared_agendas::SharedAgendaStore) port), used when
//! `REDIS_URL` is set.
//!
//! Keys are the core's agenda keys (doctor, window, slot event number) under the deployment's
//! channel name as a prefix, so deployments sharing a Redis server never read each other's
//! entries. Each entry lives [`ENTRY_LIFETIME`]: keys name the event they are current for, so
//! the lifetime only bounds memory. Redis is an accelerator here: an answer slower than
//! [`COMMAND_TIMEOUT`] or a failure is a miss (warned once per outage), and the listing reads
//! the database; after a failure the cache is not asked at all for [`PAUSE_AFTER_FAILURE`]
//! (then one listing tries again), so an outage does not slow every listing by the timeout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use fred::prelude::{Client, ClientLike, Expiration, KeysInterface};
use medibook_core::shared_agendas::SharedAgendaStore;
use tokio::sync::watch;

use crate::redis_bus::{RedisBusError, RedisSettings, builder};

/// How long an entry is kept.
pub const ENTRY_LIFETIME: Duration = Duration::from_secs(300);
/// Longest wait for Redis before a listing reads the database instead.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(250);
/// How long the cache is left alone after Redis failed or did not answer in time.
pub const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// The shared agenda cache of one deployment in Redis.
pub struct RedisAgendaStore {
    client: Client,
    prefix: String,
    failing: AtomicBool,
    /// Until when the cache is not asked, after a failure.
    paused_until: Mutex<Option<Instant>>,
}

impl RedisAgendaStore {
    /// Connects (failing at once when Redis does not answer); the connection is closed once
    /// `stop` changes.
    pub async fn connect(
        settings: &RedisSettings,
        mut stop: watch::Receiver<bool>,
    ) -> Result<Arc<Self>, RedisBusError> {
        let client = builder(&settings.url)?.build()?;
        client.init().await?;
        let store = Arc::new(Self {
            client: client.clone(),
            prefix: format!("{}:", settings.channel),
            failing: AtomicBool::new(false),
            paused_until: Mutex::new(None),
        });
        tokio::spawn(async move {
            let _ = stop.changed().await;
            let _ = client.quit().await;
        });
        Ok(store)
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Whether the cache is to be asked now: not while paused after a failure.
    fn available(&self) -> bool {
        let paused = self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        paused.is_none_or(|until| Instant::now() >= until)
    }

    fn answered(&self) {
        if self.failing.swap(false, Ordering::Relaxed) {
            *self
                .paused_until
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = None;
            tracing::info!("redis agenda cache: Redis answers again");
        }
    }

    fn failed(&self, what: &str, error: &dyn std::fmt::Display) {
        *self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + PAUSE_AFTER_FAILURE);
        if !self.failing.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                error = %error,
                "redis agenda cache: {what} failed; listings read the database until Redis answers"
            );
        }
    }
}

#[async_trait]
impl SharedAgendaStore for RedisAgendaStore {
    async fn get(&self, key: &str) -> Option<Vec<u8>> {
        if !self.available() {
            return None;
        }
        let read = self.client.get::<Option<Vec<u8>>, _>(self.key(key));
        match tokio::time::timeout(COMMAND_TIMEOUT, read).await {
            Ok(Ok(value)) => {
                self.answered();
                value
            }
            Ok(Err(error)) => {
                self.failed("GET", &error);
                None
            }
            Err(_) => {
                self.failed("GET", &"no answer in time");
                None
            }
        }
    }

    async fn put(&self, key: &str, value: Vec<u8>) {
        if !self.available() {
            return;
        }
        let lifetime = i64::try_from(ENTRY_LIFETIME.as_millis()).unwrap_or(i64::MAX);
        let write = self.client.set::<(), _, _>(
            self.key(key),
            value,
            Some(Expiration::PX(lifetime)),
            None,
            false,
        );
        match tokio::time::timeout(COMMAND_TIMEOUT, write).await {
            Ok(Ok(())) => self.answered(),
            Ok(Err(error)) => self.failed("SET", &error),
            Err(_) => self.failed("SET", &"no answer in time"),
        }
    }
}
