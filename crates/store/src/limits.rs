//! Rate-limit counters: one row per key and window, incremented atomically.

use async_trait::async_trait;
use jiff::Timestamp;
use medibook_core::BookingResult;
use medibook_core::limits::RateCounter;

use crate::Database;
use crate::WriteStatement;
use crate::columns::micros;
use crate::error::StoreError;
use crate::sql;

const HIT: &str = "
    INSERT INTO rate_counters (key, window_start, hits) VALUES ($1, $2, 1)
    ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_counters.hits + 1
    RETURNING hits";
const PRUNE: &str = "DELETE FROM rate_counters WHERE window_start < $1";

#[async_trait]
impl RateCounter for Database {
    async fn hit(&self, key: &str, window_start: Timestamp) -> BookingResult<u64> {
        let hits: i64 = sql::query(HIT)
            .bind(key.to_owned())
            .bind(micros(window_start))
            .write_returning_optional(self)
            .await?
            .ok_or_else(|| StoreError::Corrupt("the counter returned no row".into()))
            .and_then(|row| row.try_get("hits").map_err(StoreError::from))?;
        Ok(u64::try_from(hits).unwrap_or(0))
    }

    async fn prune(&self, before: Timestamp) -> BookingResult<u64> {
        let result = sql::query(PRUNE)
            .bind(micros(before))
            .write_on(self)
            .await?;
        Ok(result.rows_affected())
    }
}
