//! The retention job's storage: appointments past the period move to `appointment_archive`
//! under their patients' pseudonyms, and what named the patient goes with the live row.

use async_trait::async_trait;
use jiff::Timestamp;
use medibook_core::BookingResult;
use medibook_core::audit::AuditEntry;
use medibook_core::ids::{AppointmentId, UserId};
use medibook_core::retention::{Pseudonymised, RetentionRepository};
use sqlx::AssertSqlSafe;

use crate::audit::append_in;
use crate::columns::{micros, parsed, placeholders};
use crate::error::StoreError;
use crate::{Database, sql};

const ENDED_BEFORE: &str = "
    SELECT id, patient_id FROM appointments WHERE end_at < $1 ORDER BY end_at, id LIMIT $2";

/// What depends on the archived appointments (`{ids}` is their `IN` list), in an order the
/// foreign keys accept; the appointments and their holds go last.
const DEPENDENTS: &[&str] = &[
    "DELETE FROM google_events WHERE appointment_id IN ({ids})",
    "DELETE FROM visit_notes WHERE appointment_id IN ({ids})",
    "DELETE FROM outbox WHERE appointment_id IN ({ids})",
    "DELETE FROM slot_claims WHERE appointment_id IN ({ids})
        OR hold_id IN (SELECT id FROM holds WHERE appointment_id IN ({ids}))",
    "DELETE FROM waitlist_offers
        WHERE hold_id IN (SELECT id FROM holds WHERE appointment_id IN ({ids}))",
    "DELETE FROM appointments WHERE id IN ({ids})",
    "DELETE FROM holds WHERE appointment_id IN ({ids})",
];

#[async_trait]
impl RetentionRepository for Database {
    async fn ended_before(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> BookingResult<Vec<(AppointmentId, UserId)>> {
        let rows = sql::query(ENDED_BEFORE)
            .bind(micros(before))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(rows
            .iter()
            .map(|row| Ok((parsed(row, "id")?, parsed(row, "patient_id")?)))
            .collect::<Result<_, StoreError>>()?)
    }

    async fn archive(
        &self,
        appointments: &[Pseudonymised],
        now: Timestamp,
        audit: &[AuditEntry],
    ) -> BookingResult<usize> {
        if appointments.is_empty() {
            return Ok(0);
        }
        let rows: Vec<String> = (0..appointments.len())
            .map(|i| format!("(${}, ${}, ${})", 3 * i + 2, 3 * i + 3, 3 * i + 4))
            .collect();
        // Each archived row gets a fresh id: the appointment's own id is in the audit trail
        // beside its patient's.
        let insert = format!(
            "INSERT INTO appointment_archive (id, doctor_id, patient_pseudonym, start_at, end_at,
                 status, late_cancellation, pseudonymised_at)
             SELECT p.column2, a.doctor_id, p.column3, a.start_at, a.end_at, a.status,
                    a.late_cancellation, $1
             FROM appointments a JOIN (VALUES {}) AS p ON p.column1 = a.id",
            rows.join(", ")
        );
        let mut tx = self.begin_write().await?;
        let mut query = sql::query(AssertSqlSafe(insert)).bind(micros(now));
        for one in appointments {
            query = query
                .bind(one.appointment_id.to_string())
                .bind(uuid::Uuid::new_v4().to_string())
                .bind(one.pseudonym.clone());
        }
        let moved = query.execute(&mut tx).await.map_err(StoreError::from)?;
        let ids = placeholders(1, appointments.len());
        for statement in DEPENDENTS {
            let mut query = sql::query(AssertSqlSafe(statement.replace("{ids}", &ids)));
            for one in appointments {
                query = query.bind(one.appointment_id.to_string());
            }
            query.execute(&mut tx).await.map_err(StoreError::from)?;
        }
        append_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(usize::try_from(moved.rows_affected()).unwrap_or(usize::MAX))
    }
}
