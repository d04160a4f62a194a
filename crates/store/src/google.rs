//! Google Calendar connections, started connects and synced events.

use async_trait::async_trait;
use jiff::Timestamp;
use medibook_core::BookingResult;
use medibook_core::booking::AppointmentStatus;
use medibook_core::calendar_sync::{
    ConnectionStatus, GoogleConnection, GoogleConnections, GoogleEventId, PendingConnect,
    SealedToken, SyncItem, SyncedEvent,
};
use medibook_core::ids::{AppointmentId, UserId};

use crate::Database;
use crate::WriteStatement;
use crate::columns::{micros, named, parsed, timestamp};
use crate::error::StoreError;
use crate::sql;

const PRUNE_STATES: &str = "DELETE FROM google_oauth_states WHERE created_at < $1";
const SAVE_STATE: &str = "
    INSERT INTO google_oauth_states (state_hash, person_id, code_verifier, created_at)
    VALUES ($1, $2, $3, $4)";
const TAKE_STATE: &str = "
    DELETE FROM google_oauth_states WHERE state_hash = $1
    RETURNING person_id, code_verifier, created_at";
const SAVE_CONNECTION: &str = "
    INSERT INTO google_connections (person_id, refresh_token_ciphertext, nonce, calendar_id,
                                    status, last_error, connected_at, updated_at)
    VALUES ($1, $2, $3, 'primary', 'active', NULL, $4, $4)
    ON CONFLICT (person_id) DO UPDATE SET
        refresh_token_ciphertext = excluded.refresh_token_ciphertext,
        nonce = excluded.nonce, status = 'active', last_error = NULL,
        connected_at = excluded.connected_at, updated_at = excluded.updated_at";
const FORGET_EVENTS: &str = "DELETE FROM google_events WHERE person_id = $1";
const CONNECTION: &str = "
    SELECT person_id, refresh_token_ciphertext, nonce, calendar_id, status, last_error,
           connected_at, updated_at
    FROM google_connections WHERE person_id = $1";
const ACTIVE_CONNECTIONS: &str = "
    SELECT person_id, refresh_token_ciphertext, nonce, calendar_id, status, last_error,
           connected_at, updated_at
    FROM google_connections WHERE status = 'active' ORDER BY person_id";
const MARK_REVOKED: &str = "
    UPDATE google_connections SET status = 'revoked', last_error = $1, updated_at = $2
    WHERE person_id = $3";
const NOTE_ERROR: &str = "
    UPDATE google_connections SET last_error = $1, updated_at = $2
    WHERE person_id = $3 AND status = 'active'";
const DELETE_CONNECTION: &str = "DELETE FROM google_connections WHERE person_id = $1";
/// Every changed appointment of every active connection, in one query.
const PENDING: &str = "
    SELECT c.person_id, a.id AS appointment_id, d.name AS doctor_name, d.time_zone,
           a.start_at, a.end_at, a.status, a.updated_at,
           e.synced_version, e.synced_status, e.synced_start, e.synced_end
    FROM google_connections c
    JOIN appointments a ON a.patient_id = c.person_id
    JOIN doctors d ON d.id = a.doctor_id
    LEFT JOIN google_events e ON e.appointment_id = a.id
    WHERE c.status = 'active' AND a.end_at > $1
      AND (e.appointment_id IS NULL OR e.synced_version <> a.updated_at
           OR e.synced_status <> a.status OR e.synced_start <> a.start_at
           OR e.synced_end <> a.end_at)
    ORDER BY c.person_id, a.start_at";
const RECORD_SYNCED: &str = "
    INSERT INTO google_events (appointment_id, person_id, event_id, synced_version, synced_status,
                               synced_start, synced_end, synced_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (appointment_id) DO UPDATE SET
        person_id = excluded.person_id, event_id = excluded.event_id,
        synced_version = excluded.synced_version, synced_status = excluded.synced_status,
        synced_start = excluded.synced_start, synced_end = excluded.synced_end,
        synced_at = excluded.synced_at";

fn hex_column(row: &sql::Row, column: &str) -> Result<Vec<u8>, StoreError> {
    let text: String = row.try_get(column)?;
    hex::decode(text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

fn connection_from(row: &sql::Row) -> Result<GoogleConnection, StoreError> {
    Ok(GoogleConnection {
        person_id: parsed(row, "person_id")?,
        refresh_token: SealedToken {
            ciphertext: hex_column(row, "refresh_token_ciphertext")?,
            nonce: hex_column(row, "nonce")?,
        },
        calendar_id: row.try_get("calendar_id")?,
        status: named(row, "status", ConnectionStatus::parse)?,
        last_error: row.try_get("last_error")?,
        connected_at: timestamp(row, "connected_at")?,
        updated_at: timestamp(row, "updated_at")?,
    })
}

fn item_from(row: &sql::Row) -> Result<SyncItem, StoreError> {
    let synced_version: Option<i64> = row.try_get("synced_version")?;
    let synced = match synced_version {
        None => None,
        Some(version) => Some(SyncedEvent {
            version,
            status: named(row, "synced_status", AppointmentStatus::parse)?,
            start: timestamp(row, "synced_start")?,
            end: timestamp(row, "synced_end")?,
        }),
    };
    Ok(SyncItem {
        person_id: parsed(row, "person_id")?,
        appointment_id: parsed(row, "appointment_id")?,
        doctor_name: row.try_get("doctor_name")?,
        doctor_zone: row.try_get("time_zone")?,
        start: timestamp(row, "start_at")?,
        end: timestamp(row, "end_at")?,
        status: named(row, "status", AppointmentStatus::parse)?,
        version: row.try_get("updated_at")?,
        synced,
    })
}

#[async_trait]
impl GoogleConnections for Database {
    async fn save_connect_state(
        &self,
        state_hash: &str,
        pending: &PendingConnect,
        expired_before: Timestamp,
    ) -> BookingResult<()> {
        let mut tx = self.begin_write().await?;
        sql::query(PRUNE_STATES)
            .bind(micros(expired_before))
            .execute(&mut tx)
            .await
            .map_err(StoreError::from)?;
        sql::query(SAVE_STATE)
            .bind(state_hash.to_owned())
            .bind(pending.person_id.to_string())
            .bind(pending.code_verifier.clone())
            .bind(micros(pending.created_at))
            .execute(&mut tx)
            .await
            .map_err(StoreError::from)?;
        tx.commit().await?;
        Ok(())
    }

    async fn take_connect_state(&self, state_hash: &str) -> BookingResult<Option<PendingConnect>> {
        let row = sql::query(TAKE_STATE)
            .bind(state_hash.to_owned())
            .write_returning_optional(self)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(PendingConnect {
            person_id: parsed(&row, "person_id")?,
            code_verifier: row.try_get("code_verifier").map_err(StoreError::from)?,
            created_at: timestamp(&row, "created_at")?,
        }))
    }

    async fn save_connection(
        &self,
        person_id: UserId,
        refresh_token: &SealedToken,
        now: Timestamp,
    ) -> BookingResult<()> {
        let mut tx = self.begin_write().await?;
        sql::query(SAVE_CONNECTION)
            .bind(person_id.to_string())
            .bind(hex::encode(&refresh_token.ciphertext))
            .bind(hex::encode(&refresh_token.nonce))
            .bind(micros(now))
            .execute(&mut tx)
            .await
            .map_err(StoreError::from)?;
        sql::query(FORGET_EVENTS)
            .bind(person_id.to_string())
            .execute(&mut tx)
            .await
            .map_err(StoreError::from)?;
        tx.commit().await?;
        Ok(())
    }

    async fn connection(&self, person_id: UserId) -> BookingResult<Option<GoogleConnection>> {
        let row = sql::query(CONNECTION)
            .bind(person_id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(row.as_ref().map(connection_from).transpose()?)
    }

    async fn active_connections(&self) -> BookingResult<Vec<GoogleConnection>> {
        let rows = sql::query(ACTIVE_CONNECTIONS)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(rows.iter().map(connection_from).collect::<Result<_, _>>()?)
    }

    async fn mark_revoked(
        &self,
        person_id: UserId,
        reason: &str,
        now: Timestamp,
    ) -> BookingResult<()> {
        sql::query(MARK_REVOKED)
            .bind(reason.to_owned())
            .bind(micros(now))
            .bind(person_id.to_string())
            .write_on(self)
            .await?;
        Ok(())
    }

    async fn note_error(
        &self,
        person_id: UserId,
        error: Option<&str>,
        now: Timestamp,
    ) -> BookingResult<()> {
        sql::query(NOTE_ERROR)
            .bind(error.map(str::to_owned))
            .bind(micros(now))
            .bind(person_id.to_string())
            .write_on(self)
            .await?;
        Ok(())
    }

    async fn delete_connection(&self, person_id: UserId) -> BookingResult<()> {
        let mut tx = self.begin_write().await?;
        for sql in [FORGET_EVENTS, DELETE_CONNECTION] {
            sql::query(sql)
                .bind(person_id.to_string())
                .execute(&mut tx)
                .await
                .map_err(StoreError::from)?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn pending_sync(&self, since: Timestamp) -> BookingResult<Vec<SyncItem>> {
        let rows = sql::query(PENDING)
            .bind(micros(since))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(rows.iter().map(item_from).collect::<Result<_, _>>()?)
    }

    async fn record_synced(
        &self,
        person_id: UserId,
        appointment_id: AppointmentId,
        event_id: &GoogleEventId,
        synced: SyncedEvent,
        now: Timestamp,
    ) -> BookingResult<()> {
        sql::query(RECORD_SYNCED)
            .bind(appointment_id.to_string())
            .bind(person_id.to_string())
            .bind(event_id.as_str().to_owned())
            .bind(synced.version)
            .bind(synced.status.as_str())
            .bind(micros(synced.start))
            .bind(micros(synced.end))
            .bind(micros(now))
            .write_on(self)
            .await?;
        Ok(())
    }
}
