//! Patient records, visit notes and the front desk's reads and writes. Clinical text arrives
//! here sealed and leaves sealed: this module never sees a plaintext history or note.

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::Date;
use medibook_core::BookingError;
use medibook_core::BookingResult;
use medibook_core::audit::AuditEntry;
use medibook_core::booking::Appointment;
use medibook_core::desk::{DeskRepository, DeskRow, PatientCard};
use medibook_core::identity::User;
use medibook_core::ids::{AppointmentId, DoctorId, UserId};
use medibook_core::patients::rekey::{SealedKind, SealedValue};
use medibook_core::patients::{
    PatientDetails, PatientRepository, RecordUpdate, SealedNote, Sex, StoredPatient,
};
use sqlx::AssertSqlSafe;

use crate::Database;
use crate::columns::{micros, optional_instant, parsed, timestamp};
use crate::error::StoreError;
use crate::ledger::appointment_from;
use crate::ledger::queries::APPOINTMENT_COLUMNS;
use crate::sql;
use crate::staff::{
    USER_COLUMNS, contains_pattern, optional_email, optional_phone, unique_error, user_from,
};

const DETAIL_COLUMNS: &str = "date_of_birth, sex, address, medical_history";
const UPDATE_PATIENT: &str = "
    UPDATE users SET
        name = COALESCE($1, name),
        date_of_birth = COALESCE($2, date_of_birth),
        sex = COALESCE($3, sex),
        address = CASE WHEN $4 THEN $5 ELSE address END,
        medical_history = CASE WHEN $6 THEN $7 ELSE medical_history END
    WHERE id = $8";
const NOTE_COLUMNS: &str =
    "id, appointment_id, patient_id, doctor_id, author_id, created_at, sealed";
const INSERT_NOTE: &str = "
    INSERT INTO visit_notes (id, appointment_id, patient_id, doctor_id, author_id, created_at, sealed)
    VALUES ($1, $2, $3, $4, $5, $6, $7)";
const REGISTER_PATIENT: &str = "
    INSERT INTO users (id, email, phone, name, role, doctor_id, created_at, date_of_birth)
    VALUES ($1, $2, $3, $4, 'patient', NULL, $5, $6)";
const MARK_ARRIVED: &str = "
    UPDATE appointments SET arrived_at = $1
    WHERE id = $2 AND status = 'scheduled' AND arrived_at IS NULL";
/// Most visits of one patient with one doctor a visit record shows.
const MAX_VISITS: i64 = 200;

fn details_from(row: &sql::Row) -> Result<PatientDetails, StoreError> {
    Ok(PatientDetails {
        date_of_birth: optional_date(row)?,
        sex: row
            .try_get::<Option<String>, _>("sex")?
            .map(|raw| Sex::parse(&raw).ok_or_else(|| StoreError::Corrupt(format!("sex: {raw:?}"))))
            .transpose()?,
        address: row.try_get("address")?,
    })
}

fn optional_date(row: &sql::Row) -> Result<Option<Date>, StoreError> {
    row.try_get::<Option<String>, _>("date_of_birth")?
        .map(|raw| {
            raw.parse()
                .map_err(|e| StoreError::Corrupt(format!("date_of_birth: {e}")))
        })
        .transpose()
}

fn note_from(row: &sql::Row) -> Result<SealedNote, StoreError> {
    Ok(SealedNote {
        id: parsed(row, "id")?,
        appointment_id: parsed(row, "appointment_id")?,
        patient_id: parsed(row, "patient_id")?,
        doctor_id: parsed(row, "doctor_id")?,
        author_id: parsed(row, "author_id")?,
        created_at: timestamp(row, "created_at")?,
        sealed: row.try_get("sealed")?,
    })
}

fn desk_row_from(row: &sql::Row) -> Result<DeskRow, StoreError> {
    Ok(DeskRow {
        appointment: appointment_from(row)?,
        arrived_at: optional_instant(row, "arrived_at")?,
        patient_name: row.try_get("patient_name")?,
        patient_phone: optional_phone(row, "patient_phone")?,
        patient_email: optional_email(row, "patient_email")?,
    })
}

/// `SELECT` of appointments (as `a`) with their patients' names and contacts, for the desk.
fn desk_select(filter: &str) -> String {
    let columns: Vec<String> = APPOINTMENT_COLUMNS
        .split(',')
        .map(|column| format!("a.{}", column.trim()))
        .collect();
    format!(
        "SELECT {}, a.arrived_at, u.name AS patient_name, u.email AS patient_email,
                u.phone AS patient_phone
         FROM appointments a JOIN users u ON u.id = a.patient_id
         WHERE {filter}
         ORDER BY a.start_at, a.id",
        columns.join(", ")
    )
}

impl Database {
    async fn notes_where(
        &self,
        filter: &str,
        binds: Vec<String>,
    ) -> BookingResult<Vec<SealedNote>> {
        let sql = format!(
            "SELECT {NOTE_COLUMNS} FROM visit_notes WHERE {filter} ORDER BY created_at, id"
        );
        let mut query = sql::query(AssertSqlSafe(sql));
        for bind in binds {
            query = query.bind(bind);
        }
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(rows.iter().map(note_from).collect::<Result<_, _>>()?)
    }
}

#[async_trait]
impl PatientRepository for Database {
    async fn patient(&self, id: UserId) -> BookingResult<Option<StoredPatient>> {
        let sql = format!("SELECT {USER_COLUMNS}, {DETAIL_COLUMNS} FROM users WHERE id = $1");
        let row = sql::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(StoredPatient {
            user: user_from(&row)?,
            details: details_from(&row)?,
            sealed_history: row.try_get("medical_history").map_err(StoreError::from)?,
        }))
    }

    async fn update_patient(
        &self,
        id: UserId,
        update: &RecordUpdate,
        audit: &[AuditEntry],
    ) -> BookingResult<bool> {
        let query = sql::query(UPDATE_PATIENT)
            .bind(update.name.clone())
            .bind(update.date_of_birth.map(|d| d.to_string()))
            .bind(update.sex.map(Sex::as_str))
            .bind(update.address.is_some())
            .bind(update.address.clone().flatten())
            .bind(update.sealed_history.is_some())
            .bind(update.sealed_history.clone().flatten())
            .bind(id.to_string());
        let done = self.execute_audited(query, audit).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn add_note(&self, note: &SealedNote, audit: &[AuditEntry]) -> BookingResult<()> {
        let query = sql::query(INSERT_NOTE)
            .bind(note.id.to_string())
            .bind(note.appointment_id.to_string())
            .bind(note.patient_id.to_string())
            .bind(note.doctor_id.to_string())
            .bind(note.author_id.to_string())
            .bind(micros(note.created_at))
            .bind(note.sealed.clone());
        self.execute_audited(query, audit).await?;
        Ok(())
    }

    async fn notes_of_appointment(
        &self,
        appointment_id: AppointmentId,
    ) -> BookingResult<Vec<SealedNote>> {
        self.notes_where("appointment_id = $1", vec![appointment_id.to_string()])
            .await
    }

    async fn visits_with(
        &self,
        patient_id: UserId,
        doctor_id: DoctorId,
    ) -> BookingResult<Vec<Appointment>> {
        let sql = format!(
            "SELECT {APPOINTMENT_COLUMNS} FROM appointments
             WHERE patient_id = $1 AND doctor_id = $2
             ORDER BY start_at DESC, id DESC LIMIT $3"
        );
        let rows = sql::query(AssertSqlSafe(sql))
            .bind(patient_id.to_string())
            .bind(doctor_id.to_string())
            .bind(MAX_VISITS)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(rows
            .iter()
            .map(appointment_from)
            .collect::<Result<_, _>>()?)
    }

    async fn notes_with(
        &self,
        patient_id: UserId,
        doctor_id: DoctorId,
    ) -> BookingResult<Vec<SealedNote>> {
        self.notes_where(
            "patient_id = $1 AND doctor_id = $2",
            vec![patient_id.to_string(), doctor_id.to_string()],
        )
        .await
    }

    async fn sealed_page(
        &self,
        kind: SealedKind,
        after: Option<&str>,
        limit: u32,
    ) -> BookingResult<Vec<SealedValue>> {
        let (table, column) = sealed_columns(kind);
        let sql = format!(
            "SELECT id, {column} AS sealed FROM {table}
             WHERE {column} IS NOT NULL AND id > $1 ORDER BY id LIMIT $2"
        );
        let rows = sql::query(AssertSqlSafe(sql))
            .bind(after.unwrap_or("").to_owned())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        let values = rows
            .iter()
            .map(|row| {
                Ok(SealedValue {
                    id: row.try_get("id")?,
                    sealed: row.try_get("sealed")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)?;
        Ok(values)
    }

    async fn replace_sealed(
        &self,
        kind: SealedKind,
        id: &str,
        old: &[u8],
        new: &[u8],
    ) -> BookingResult<bool> {
        let (table, column) = sealed_columns(kind);
        let mut tx = self.begin_write().await?;
        if kind == SealedKind::Note {
            sql::query("INSERT INTO visit_note_rekeying (permit) VALUES (1)")
                .execute(&mut tx)
                .await
                .map_err(StoreError::from)?;
        }
        let sql = format!("UPDATE {table} SET {column} = $1 WHERE id = $2 AND {column} = $3");
        let done = sql::query(AssertSqlSafe(sql))
            .bind(new.to_vec())
            .bind(id.to_owned())
            .bind(old.to_vec())
            .execute(&mut tx)
            .await
            .map_err(StoreError::from)?;
        if kind == SealedKind::Note {
            sql::query("DELETE FROM visit_note_rekeying")
                .execute(&mut tx)
                .await
                .map_err(StoreError::from)?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}

/// The table, id column and sealed column of a kind of clinical text.
fn sealed_columns(kind: SealedKind) -> (&'static str, &'static str) {
    match kind {
        SealedKind::History => ("users", "medical_history"),
        SealedKind::Note => ("visit_notes", "sealed"),
    }
}

#[async_trait]
impl DeskRepository for Database {
    async fn find_patients(&self, query: &str, limit: u32) -> BookingResult<Vec<PatientCard>> {
        let digits: String = query.chars().filter(char::is_ascii_digit).collect();
        // A phone matches by its digits, once the query has enough of them to mean a number.
        let phone = if digits.len() >= 3 {
            contains_pattern(&digits)
        } else {
            String::new()
        };
        let sql = format!(
            "SELECT {USER_COLUMNS}, date_of_birth FROM users
             WHERE role = 'patient'
               AND (LOWER(COALESCE(name, '')) LIKE $1 ESCAPE '\\'
                    OR LOWER(COALESCE(email, '')) LIKE $1 ESCAPE '\\'
                    OR ($2 <> '' AND COALESCE(phone, '') LIKE $2 ESCAPE '\\'))
             ORDER BY LOWER(COALESCE(name, '')), id LIMIT $3"
        );
        let rows = sql::query(AssertSqlSafe(sql))
            .bind(contains_pattern(&query.to_lowercase()))
            .bind(phone)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        let cards = rows
            .iter()
            .map(|row| {
                Ok(PatientCard {
                    user: user_from(row)?,
                    date_of_birth: optional_date(row)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(cards)
    }

    async fn patient_card(&self, id: UserId) -> BookingResult<Option<PatientCard>> {
        let sql = format!("SELECT {USER_COLUMNS}, date_of_birth FROM users WHERE id = $1");
        let row = sql::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)?;
        let card = row
            .map(|row| {
                Ok::<_, StoreError>(PatientCard {
                    user: user_from(&row)?,
                    date_of_birth: optional_date(&row)?,
                })
            })
            .transpose()?;
        Ok(card)
    }

    async fn register_patient(
        &self,
        user: &User,
        details: &PatientDetails,
        audit: &[AuditEntry],
    ) -> BookingResult<()> {
        let query = sql::query(REGISTER_PATIENT)
            .bind(user.id.to_string())
            .bind(user.email.as_ref().map(|e| e.as_str().to_owned()))
            .bind(user.phone.as_ref().map(|p| p.as_str().to_owned()))
            .bind(user.name.clone())
            .bind(micros(user.created_at))
            .bind(details.date_of_birth.map(|d| d.to_string()));
        self.execute_audited(query, audit).await.map_err(|e| {
            unique_error(e, || {
                BookingError::validation(
                    "a patient with this phone number or e-mail is already registered; find them instead",
                )
            })
        })?;
        Ok(())
    }

    async fn desk_rows(&self, from: Timestamp, to: Timestamp) -> BookingResult<Vec<DeskRow>> {
        let sql = desk_select("a.start_at >= $1 AND a.start_at < $2 AND a.status <> 'cancelled'");
        let rows = sql::query(AssertSqlSafe(sql))
            .bind(micros(from))
            .bind(micros(to))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(rows.iter().map(desk_row_from).collect::<Result<_, _>>()?)
    }

    async fn desk_row(&self, id: AppointmentId) -> BookingResult<Option<DeskRow>> {
        let sql = desk_select("a.id = $1");
        let row = sql::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(row.as_ref().map(desk_row_from).transpose()?)
    }

    async fn mark_arrived(
        &self,
        id: AppointmentId,
        now: Timestamp,
        audit: &[AuditEntry],
    ) -> BookingResult<bool> {
        let query = sql::query(MARK_ARRIVED)
            .bind(micros(now))
            .bind(id.to_string());
        let done = self.execute_audited(query, audit).await?;
        Ok(done.rows_affected() == 1)
    }
}
