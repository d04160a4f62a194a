//! Reads straight from the pool, outside any write transaction: a hold, an appointment, a
//! patient's appointments, the claims in a window (as occupancy, or as a doctor's agenda), and
//! the doctor's slot event log.

use async_trait::async_trait;
use jiff::Timestamp;
use medibook_core::BookingResult;
use medibook_core::booking::{Agenda, AgendaClaim};
use medibook_core::booking::{Appointment, Hold, Occupancy, SlotStatus};
use medibook_core::events::{SlotEvent, SlotEventLog, SlotMark};
use medibook_core::ids::{AppointmentId, DoctorId, HoldId, UserId};
use sqlx::AssertSqlSafe;

use crate::Database;
use crate::columns::{micros, named, optional_instant, parsed, placeholders, timestamp};
use crate::error::StoreError;
use crate::ledger::queries::{
    AGENDA, APPOINTMENT_COLUMNS, HOLD_COLUMNS, LATEST_SLOT_MARK, LATEST_SLOT_SEQ, SLOT_EVENTS_AFTER,
};
use crate::ledger::{appointment_from, hold_from};
use crate::sql;

#[async_trait]
impl SlotEventLog for Database {
    async fn slot_events_after(
        &self,
        doctor_id: DoctorId,
        after_seq: i64,
        limit: u32,
    ) -> BookingResult<Vec<SlotEvent>> {
        let rows = sql::query(SLOT_EVENTS_AFTER)
            .bind(doctor_id.to_string())
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        let events = rows
            .iter()
            .map(|row| {
                Ok(SlotEvent {
                    doctor_id,
                    seq: row.try_get("seq")?,
                    start: timestamp(row, "start_at")?,
                    end: timestamp(row, "end_at")?,
                    status: named(row, "status", SlotStatus::parse)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(events)
    }

    async fn latest_slot_seq(&self, doctor_id: DoctorId) -> BookingResult<i64> {
        let seq: i64 = sql::query(LATEST_SLOT_SEQ)
            .bind(doctor_id.to_string())
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get("seq"))
            .map_err(StoreError::from)?;
        Ok(seq)
    }

    async fn latest_slot_mark(&self, doctor_id: DoctorId) -> BookingResult<SlotMark> {
        let row = sql::query(LATEST_SLOT_MARK)
            .bind(doctor_id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)?;
        let Some(row) = row else {
            return Ok(SlotMark::default());
        };
        Ok(SlotMark {
            seq: row.try_get("seq").map_err(StoreError::from)?,
            recorded_at: Some(timestamp(&row, "recorded_at")?),
        })
    }
}

/// The reads of [`medibook_core::ports::BookingRepository`], which its implementation in
/// `repository` answers with.
impl Database {
    pub(super) async fn read_hold(&self, id: HoldId) -> BookingResult<Option<Hold>> {
        let sql = format!("SELECT {HOLD_COLUMNS} FROM holds WHERE id = $1");
        let row = sql::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(row.as_ref().map(hold_from).transpose()?)
    }

    pub(super) async fn read_appointment(
        &self,
        id: AppointmentId,
    ) -> BookingResult<Option<Appointment>> {
        let sql = format!("SELECT {APPOINTMENT_COLUMNS} FROM appointments WHERE id = $1");
        let row = sql::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(row.as_ref().map(appointment_from).transpose()?)
    }

    pub(super) async fn read_appointments_of_patient(
        &self,
        patient_id: UserId,
    ) -> BookingResult<Vec<Appointment>> {
        let sql = format!(
            "SELECT {APPOINTMENT_COLUMNS} FROM appointments WHERE patient_id = $1
             ORDER BY start_at, id"
        );
        let rows = sql::query(AssertSqlSafe(sql))
            .bind(patient_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(rows
            .iter()
            .map(appointment_from)
            .collect::<Result<_, _>>()?)
    }

    pub(super) async fn read_occupancy(
        &self,
        doctors: &[DoctorId],
        from: Timestamp,
        to: Timestamp,
        now: Timestamp,
    ) -> BookingResult<Vec<Occupancy>> {
        let mut found = Vec::new();
        for chunk in doctors.chunks(500) {
            let sql = format!(
                "SELECT doctor_id, claim_start, claim_end,
                        CAST(CASE WHEN appointment_id IS NULL THEN 0 ELSE 1 END AS BIGINT) AS booked
                 FROM slot_claims
                 WHERE claim_start < $1 AND claim_end > $2
                   AND (expires_at IS NULL OR expires_at > $3)
                   AND doctor_id IN ({})",
                placeholders(4, chunk.len())
            );
            let mut query = sql::query(AssertSqlSafe(sql))
                .bind(micros(to))
                .bind(micros(from))
                .bind(micros(now));
            for id in chunk {
                query = query.bind(id.to_string());
            }
            let rows = query
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from)?;
            for row in &rows {
                found.push(Occupancy {
                    doctor_id: parsed(row, "doctor_id")?,
                    start: timestamp(row, "claim_start")?,
                    end: timestamp(row, "claim_end")?,
                    status: claim_status(row)?,
                });
            }
        }
        Ok(found)
    }

    /// The doctor's claims overlapping `[from, to)`, lapsed or not, with the doctor's latest
    /// slot event and the patient of each hold, in one statement.
    pub(super) async fn read_agenda(
        &self,
        doctor_id: DoctorId,
        from: Timestamp,
        to: Timestamp,
    ) -> BookingResult<Agenda> {
        let rows = sql::query(AGENDA)
            .bind(doctor_id.to_string())
            .bind(micros(to))
            .bind(micros(from))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        let mut agenda = Agenda::default();
        for row in &rows {
            agenda.seq = row.try_get("seq").map_err(StoreError::from)?;
            agenda.latest_at = optional_instant(row, "latest_at")?;
            let start: Option<i64> = row.try_get("claim_start").map_err(StoreError::from)?;
            if start.is_none() {
                continue;
            }
            agenda.claims.push(AgendaClaim {
                start: timestamp(row, "claim_start")?,
                end: timestamp(row, "claim_end")?,
                status: claim_status(row)?,
                expires_at: optional_instant(row, "expires_at")?,
            });
        }
        Ok(agenda)
    }
}

/// `Booked` for the claim of an appointment, `Held` for a hold's (the query's `booked` column).
fn claim_status(row: &sql::Row) -> Result<SlotStatus, StoreError> {
    let booked: i64 = row.try_get("booked")?;
    Ok(if booked == 1 {
        SlotStatus::Booked
    } else {
        SlotStatus::Held
    })
}
