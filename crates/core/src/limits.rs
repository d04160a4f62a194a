//! Rate limits with counters in the database, so they hold across restarts and instances
//! (NIST SP 800-63B §5.2.2: limit failed and repeated authentication attempts).
//!
//! Fixed windows: a limit of N per hour allows N hits in each clock hour. It is simple,
//! needs one atomic upsert per hit, and is at most twice as permissive as a sliding window at a
//! window boundary, which these limits (5 codes per hour per identifier) easily tolerate.

use std::sync::Arc;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};

use crate::clock::Clock;
use crate::error::{BookingError, BookingResult};

/// At most `max` hits per `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Hits allowed per window.
    pub max: u32,
    /// Window length.
    pub window: SignedDuration,
}

impl RateLimit {
    /// `max` hits per hour.
    pub const fn per_hour(max: u32) -> Self {
        Self {
            max,
            window: SignedDuration::from_hours(1),
        }
    }
}

/// Counts hits per key and window.
#[async_trait]
pub trait RateCounter: Send + Sync + 'static {
    /// Adds one hit to `key` in the window starting at `window_start`; returns the hits so far,
    /// this one included.
    async fn hit(&self, key: &str, window_start: Timestamp) -> BookingResult<u64>;
    /// Forgets windows that started before `before`.
    async fn prune(&self, before: Timestamp) -> BookingResult<u64>;
}

/// Applies rate limits.
#[derive(Clone)]
pub struct RateLimiter {
    counter: Arc<dyn RateCounter>,
    clock: Arc<dyn Clock>,
}

impl RateLimiter {
    /// A limiter over `counter`.
    pub fn new(counter: Arc<dyn RateCounter>, clock: Arc<dyn Clock>) -> Self {
        Self { counter, clock }
    }

    /// Counts a hit on `key`; `RateLimited` (with the seconds until the window ends) when it
    /// goes over `limit`.
    pub async fn hit(&self, key: &str, limit: RateLimit) -> BookingResult<()> {
        let now = self.clock.now();
        let window_micros = limit.window.as_micros().max(1);
        let now_micros = i128::from(now.as_microsecond());
        let start_micros = now_micros - now_micros.rem_euclid(window_micros);
        let window_start = i64::try_from(start_micros)
            .ok()
            .and_then(|micros| Timestamp::from_microsecond(micros).ok())
            .ok_or_else(|| BookingError::Storage("rate window out of range".into()))?;
        let hits = self.counter.hit(key, window_start).await?;
        if hits > u64::from(limit.max) {
            let window_end = window_start.saturating_add(limit.window).unwrap_or(now);
            let wait = window_end.duration_since(now).as_secs().max(1);
            return Err(BookingError::RateLimited {
                retry_after_seconds: u64::try_from(wait).unwrap_or(1),
            });
        }
        Ok(())
    }

    /// Forgets counters older than a day.
    pub async fn prune(&self) -> BookingResult<u64> {
        let before = self
            .clock
            .now()
            .saturating_sub(SignedDuration::from_hours(24))
            .unwrap_or_else(|_| self.clock.now());
        self.counter.prune(before).await
    }
}
