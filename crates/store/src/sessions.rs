//! Server-side sessions.

use async_trait::async_trait;
use jiff::Timestamp;
use medibook_core::BookingResult;
use medibook_core::ids::SessionId;
use medibook_core::sessions::{Session, SessionRepository};
use sqlx::AssertSqlSafe;

use crate::Database;
use crate::WriteStatement;
use crate::columns::{micros, parsed, timestamp};
use crate::error::StoreError;
use crate::sql;

const SESSION_COLUMNS: &str = "id, user_id, created_at, last_seen_at, expires_at, revoked_at";

const INSERT_SESSION: &str = "
    INSERT INTO sessions (id, user_id, refresh_hash, created_at, last_seen_at, expires_at, revoked_at)
    VALUES ($1, $2, $3, $4, $5, $6, NULL)";
const ROTATE_REFRESH: &str = "
    UPDATE sessions SET refresh_hash = $1, previous_refresh_hash = $4, last_seen_at = $2
    WHERE id = $3 AND refresh_hash = $4 AND revoked_at IS NULL";
const TOUCH_SESSION: &str =
    "UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1";
const REVOKE_SESSION: &str =
    "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";

fn session_from(row: &sql::Row) -> Result<Session, StoreError> {
    let revoked: Option<i64> = row.try_get("revoked_at")?;
    Ok(Session {
        id: parsed(row, "id")?,
        user_id: parsed(row, "user_id")?,
        created_at: timestamp(row, "created_at")?,
        last_seen_at: timestamp(row, "last_seen_at")?,
        expires_at: timestamp(row, "expires_at")?,
        revoked_at: revoked
            .map(Timestamp::from_microsecond)
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("revoked_at: {e}")))?,
    })
}

impl Database {
    async fn session_where(
        &self,
        column: &str,
        value: String,
    ) -> Result<Option<Session>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE {column} = $1");
        let row = sql::query(AssertSqlSafe(sql))
            .bind(value)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session_from).transpose()
    }
}

#[async_trait]
impl SessionRepository for Database {
    async fn create_session(&self, session: &Session, refresh_hash: &str) -> BookingResult<()> {
        sql::query(INSERT_SESSION)
            .bind(session.id.to_string())
            .bind(session.user_id.to_string())
            .bind(refresh_hash.to_owned())
            .bind(micros(session.created_at))
            .bind(micros(session.last_seen_at))
            .bind(micros(session.expires_at))
            .write_on(self)
            .await?;
        Ok(())
    }

    async fn session(&self, id: SessionId) -> BookingResult<Option<Session>> {
        Ok(self.session_where("id", id.to_string()).await?)
    }

    async fn session_by_refresh(&self, refresh_hash: &str) -> BookingResult<Option<Session>> {
        Ok(self
            .session_where("refresh_hash", refresh_hash.to_owned())
            .await?)
    }

    async fn session_by_used_refresh(&self, refresh_hash: &str) -> BookingResult<Option<Session>> {
        Ok(self
            .session_where("previous_refresh_hash", refresh_hash.to_owned())
            .await?)
    }

    async fn rotate_refresh(
        &self,
        id: SessionId,
        old_hash: &str,
        new_hash: &str,
        now: Timestamp,
    ) -> BookingResult<bool> {
        let result = sql::query(ROTATE_REFRESH)
            .bind(new_hash.to_owned())
            .bind(micros(now))
            .bind(id.to_string())
            .bind(old_hash.to_owned())
            .write_on(self)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn touch_session(&self, id: SessionId, now: Timestamp) -> BookingResult<()> {
        sql::query(TOUCH_SESSION)
            .bind(micros(now))
            .bind(id.to_string())
            .write_on(self)
            .await?;
        Ok(())
    }

    async fn revoke_session(&self, id: SessionId, now: Timestamp) -> BookingResult<()> {
        sql::query(REVOKE_SESSION)
            .bind(micros(now))
            .bind(id.to_string())
            .write_on(self)
            .await?;
        Ok(())
    }
}
