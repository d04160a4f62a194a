//! Reading holds and appointments: mapping their rows to the domain types, and loading one
//! inside a write transaction, under the agenda locks of its doctor and patient.

use jiff::Timestamp;
use medibook_core::BookingError;
use medibook_core::BookingResult;
use medibook_core::booking::{Appointment, AppointmentStatus, Hold, HoldState, Reason};
use medibook_core::ids::{AppointmentId, HoldId, UserId};
use sqlx::AssertSqlSafe;

use super::Tx;
use super::queries::{APPOINTMENT_COLUMNS, HOLD_COLUMNS};
use crate::Database;
use crate::columns::{counter, named, optional_parsed, parsed, timestamp};
use crate::error::StoreError;
use crate::sql;

pub(crate) fn hold_from(row: &sql::Row) -> Result<Hold, StoreError> {
    Ok(Hold {
        id: parsed(row, "id")?,
        doctor_id: parsed(row, "doctor_id")?,
        patient_id: parsed(row, "patient_id")?,
        start: timestamp(row, "start_at")?,
        end: timestamp(row, "end_at")?,
        expires_at: timestamp(row, "expires_at")?,
        state: named(row, "state", HoldState::parse)?,
        appointment_id: optional_parsed(row, "appointment_id")?,
        created_at: timestamp(row, "created_at")?,
    })
}

pub(crate) fn appointment_from(row: &sql::Row) -> Result<Appointment, StoreError> {
    Ok(Appointment {
        id: parsed(row, "id")?,
        doctor_id: parsed(row, "doctor_id")?,
        patient_id: parsed(row, "patient_id")?,
        start: timestamp(row, "start_at")?,
        end: timestamp(row, "end_at")?,
        status: named(row, "status", AppointmentStatus::parse)?,
        reason: Reason::from_stored(row.try_get("reason")?),
        notes: row.try_get("notes")?,
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
        sequence: counter(row, "sequence")?,
        late_cancellation: row.try_get::<i64, _>("late_cancellation")? != 0,
    })
}

/// A hold as stored, with the agenda interval it claims.
pub(crate) struct StoredHold {
    pub(crate) hold: Hold,
    pub(crate) claim: (Timestamp, Timestamp),
}

pub(crate) async fn load_hold(tx: &mut Tx, id: HoldId) -> Result<Option<StoredHold>, StoreError> {
    let sql = format!("SELECT {HOLD_COLUMNS} FROM holds WHERE id = $1");
    let row = sql::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    row.map(|row| {
        Ok(StoredHold {
            hold: hold_from(&row)?,
            claim: (
                timestamp(&row, "claim_start")?,
                timestamp(&row, "claim_end")?,
            ),
        })
    })
    .transpose()
}

pub(crate) async fn load_appointment(
    tx: &mut Tx,
    id: AppointmentId,
) -> Result<Option<Appointment>, StoreError> {
    let sql = format!("SELECT {APPOINTMENT_COLUMNS} FROM appointments WHERE id = $1");
    let row = sql::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    row.as_ref().map(appointment_from).transpose()
}

impl Database {
    /// Loads the patient's hold, takes the agenda locks of its doctor and patient, and reads it
    /// again: another writer may have changed it while this one waited for the locks.
    pub(crate) async fn locked_hold(
        &self,
        tx: &mut Tx,
        hold_id: HoldId,
        patient_id: UserId,
    ) -> BookingResult<StoredHold> {
        let owned = |s: &StoredHold| s.hold.patient_id == patient_id;
        let first = load_hold(tx, hold_id)
            .await?
            .filter(owned)
            .ok_or(BookingError::HoldNotFound)?;
        if self.backend() == crate::Backend::Sqlite {
            // The writer's immediate transaction already excludes every other writer: what was
            // read is what is locked.
            return Ok(first);
        }
        self.lock_agenda(tx, first.hold.doctor_id, patient_id)
            .await?;
        load_hold(tx, hold_id)
            .await?
            .filter(owned)
            .ok_or(BookingError::HoldNotFound)
    }

    /// Loads the patient's appointment, takes the agenda locks of its doctor and patient, and
    /// reads it again.
    pub(crate) async fn locked_appointment(
        &self,
        tx: &mut Tx,
        appointment_id: AppointmentId,
        patient_id: UserId,
    ) -> BookingResult<Appointment> {
        let owned = |a: &Appointment| a.patient_id == patient_id;
        let first = load_appointment(tx, appointment_id)
            .await?
            .filter(owned)
            .ok_or(BookingError::NotFound("appointment"))?;
        if self.backend() == crate::Backend::Sqlite {
            // As for `locked_hold`: nothing can change it under this transaction.
            return Ok(first);
        }
        self.lock_agenda(tx, first.doctor_id, patient_id).await?;
        load_appointment(tx, appointment_id)
            .await?
            .filter(owned)
            .ok_or(BookingError::NotFound("appointment"))
    }
}
