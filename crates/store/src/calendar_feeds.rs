//! Private calendar feeds (only the SHA-256 of each live token) and the appointments the
//! calendar files and feeds show, each read in one query with the names they need.

use async_trait::async_trait;
use jiff::Timestamp;
use medibook_core::BookingResult;
use medibook_core::calendar_feeds::{
    CalendarFeedRepository, FeedEntry, FeedKind, FeedOwner, FeedState,
};
use medibook_core::identity::Role;
use medibook_core::ids::{AppointmentId, DoctorId, UserId};

use crate::Database;
use crate::WriteStatement;
use crate::columns::{counter, micros, named, optional_parsed, parsed};
use crate::error::StoreError;
use crate::ledger::appointment_from;
use crate::sql;

const FEED_STATE: &str = "
    SELECT generation, token_hash FROM calendar_feeds WHERE user_id = $1 AND kind = $2";
/// Creates the feed at `generation`, or stores the hash of a feed at that generation that has
/// no live token; a feed that moved on (revoked meanwhile) is left alone.
const ACTIVATE_FEED: &str = "
    INSERT INTO calendar_feeds (user_id, kind, generation, token_hash, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $5)
    ON CONFLICT (user_id, kind) DO UPDATE
    SET token_hash = excluded.token_hash, updated_at = excluded.updated_at
    WHERE calendar_feeds.generation = excluded.generation
      AND calendar_feeds.token_hash IS NULL";
const REVOKE_FEED: &str = "
    UPDATE calendar_feeds SET generation = generation + 1, token_hash = NULL, updated_at = $1
    WHERE user_id = $2 AND kind = $3";
const FEED_OWNER: &str = "
    SELECT f.user_id, f.kind, u.role, u.doctor_id
    FROM calendar_feeds f JOIN users u ON u.id = f.user_id
    WHERE f.token_hash = $1";
const ENTRY_COLUMNS: &str = "
    a.id, a.doctor_id, a.patient_id, a.start_at, a.end_at, a.status, a.reason, a.notes,
    a.created_at, a.updated_at, a.sequence, a.late_cancellation,
    d.name AS doctor_name, s.name AS specialty_name, u.name AS patient_name";
const ENTRY_JOINS: &str = "
    FROM appointments a
    JOIN doctors d ON d.id = a.doctor_id
    LEFT JOIN specialties s ON s.id = d.specialty_id
    JOIN users u ON u.id = a.patient_id";

fn entry_from(row: &sql::Row) -> Result<FeedEntry, StoreError> {
    Ok(FeedEntry {
        appointment: appointment_from(row)?,
        doctor_name: row.try_get("doctor_name")?,
        specialty: row.try_get("specialty_name")?,
        patient_name: row.try_get("patient_name")?,
    })
}

impl Database {
    async fn feed_entries(
        &self,
        owner_column: &str,
        owner: String,
        since: Timestamp,
        limit: u32,
    ) -> BookingResult<Vec<FeedEntry>> {
        // `owner_column` is one of two constants below, never input.
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} {ENTRY_JOINS}
             WHERE a.{owner_column} = $1 AND a.start_at >= $2
             ORDER BY a.start_at, a.id LIMIT $3"
        );
        let rows = sql::query(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(micros(since))
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await
            .map_err(StoreError::from)?;
        Ok(rows
            .iter()
            .map(entry_from)
            .collect::<Result<_, StoreError>>()?)
    }
}

#[async_trait]
impl CalendarFeedRepository for Database {
    async fn feed_state(
        &self,
        user_id: UserId,
        kind: FeedKind,
    ) -> BookingResult<Option<FeedState>> {
        let row = sql::query(FEED_STATE)
            .bind(user_id.to_string())
            .bind(kind.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(StoreError::from)?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(FeedState {
            generation: counter(&row, "generation")?,
            token_hash: row.try_get("token_hash").map_err(StoreError::from)?,
        }))
    }

    async fn activate_feed(
        &self,
        user_id: UserId,
        kind: FeedKind,
        generation: u32,
        token_hash: &str,
        now: Timestamp,
    ) -> BookingResult<()> {
        sql::query(ACTIVATE_FEED)
            .bind(user_id.to_string())
            .bind(kind.as_str())
            .bind(i64::from(generation))
            .bind(token_hash.to_owned())
            .bind(micros(now))
            .write_on(self)
            .await?;
        Ok(())
    }

    async fn revoke_feed(
        &self,
        user_id: UserId,
        kind: FeedKind,
        now: Timestamp,
    ) -> BookingResult<()> {
        sql::query(REVOKE_FEED)
            .bind(micros(now))
            .bind(user_id.to_string())
            .bind(kind.as_str())
            .write_on(self)
            .await?;
        Ok(())
    }

    async fn feed_owner(&self, token_hash: &str) -> BookingResult<Option<FeedOwner>> {
        let row = sql::query(FEED_OWNER)
            .bind(token_hash.to_owned())
            .fetch_optional(self.pool())
            .await
            .map_err(StoreError::from)?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(FeedOwner {
            user_id: parsed(&row, "user_id")?,
            kind: named(&row, "kind", FeedKind::parse)?,
            role: named(&row, "role", Role::parse)?,
            doctor_id: optional_parsed(&row, "doctor_id")?,
        }))
    }

    async fn patient_feed(
        &self,
        patient_id: UserId,
        since: Timestamp,
        limit: u32,
    ) -> BookingResult<Vec<FeedEntry>> {
        self.feed_entries("patient_id", patient_id.to_string(), since, limit)
            .await
    }

    async fn doctor_feed(
        &self,
        doctor_id: DoctorId,
        since: Timestamp,
        limit: u32,
    ) -> BookingResult<Vec<FeedEntry>> {
        self.feed_entries("doctor_id", doctor_id.to_string(), since, limit)
            .await
    }

    async fn patient_appointment(
        &self,
        patient_id: UserId,
        appointment_id: AppointmentId,
    ) -> BookingResult<Option<FeedEntry>> {
        let sql =
            format!("SELECT {ENTRY_COLUMNS} {ENTRY_JOINS} WHERE a.id = $1 AND a.patient_id = $2");
        let row = sql::query(sqlx::AssertSqlSafe(sql))
            .bind(appointment_id.to_string())
            .bind(patient_id.to_string())
            .fetch_optional(self.pool())
            .await
            .map_err(StoreError::from)?;
        Ok(row.as_ref().map(entry_from).transpose()?)
    }
}
