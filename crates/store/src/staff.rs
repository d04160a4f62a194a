//! What doctors and admins change: schedules, time off, visit outcomes, specialties, doctor
//! profiles and roles; and the doctor's agenda with patient contacts.

use async_trait::async_trait;
use jiff::Timestamp;
use medibook_core::audit::AuditEntry;
use medibook_core::booking::AppointmentStatus;
use medibook_core::clinic::{Doctor, Specialty};
use medibook_core::identity::{Email, PhoneNumber, Role, User};
use medibook_core::ids::{AppointmentId, DoctorId, TimeOffId, UserId};
use medibook_core::ports::Recorded;
use medibook_core::schedule::{TimeOff, WeeklySchedule};
use medibook_core::staff::{AgendaEntry, PatientHistory, StaffRepository};
use medibook_core::{BookingError, BookingResult};
use sqlx::AssertSqlSafe;

use crate::Database;
use crate::audit::append_in;
use crate::clinic::{bind_profile, insert_doctor};
use crate::columns::{counter, micros, named, optional_parsed, parsed, timestamp};
use crate::error::{StoreError, is_conflict};
use crate::ledger::{Tx, appointment_from};
use crate::schedule_edits::{days_to_compare, free_slots, load_doctor, record_grid_change};
use crate::sql;

const SET_SCHEDULE: &str = "UPDATE doctors SET schedule = $1 WHERE id = $2";
const UPDATE_DOCTOR: &str = "
    UPDATE doctors
    SET name = $1, specialty_id = $2, qualification = $3, years_experience = $4, bio = $5,
        fee_minor = $6, currency = $7, photo_url = $8, time_zone = $9, schedule = $10
    WHERE id = $11";
const TIME_OFF_OF_DOCTOR: &str = "
    SELECT id, doctor_id, start_at, end_at, reason FROM time_off
    WHERE doctor_id = $1 AND end_at > $2
    ORDER BY start_at, id";
const TIME_OFF_BY_ID: &str =
    "SELECT id, doctor_id, start_at, end_at, reason FROM time_off WHERE id = $1";
const DELETE_TIME_OFF: &str = "DELETE FROM time_off WHERE id = $1";
const INSERT_TIME_OFF: &str = "
    INSERT INTO time_off (id, doctor_id, start_at, end_at, reason) VALUES ($1, $2, $3, $4, $5)";
/// The agenda with each patient's history with the clinic (every doctor), counted in one
/// grouped pass over the appointments of the patients in the window.
const AGENDA: &str = "
    SELECT a.id, a.doctor_id, a.patient_id, a.start_at, a.end_at, a.status, a.reason, a.notes,
           a.created_at, a.updated_at, a.sequence, a.late_cancellation,
           u.name AS patient_name, u.email AS patient_email, u.phone AS patient_phone,
           COALESCE(h.completed, 0) AS history_completed,
           COALESCE(h.no_shows, 0) AS history_no_shows,
           COALESCE(h.late_cancellations, 0) AS history_late_cancellations
    FROM appointments a
    JOIN users u ON u.id = a.patient_id
    LEFT JOIN (
        SELECT patient_id,
               COUNT(CASE WHEN status = 'completed' THEN 1 END) AS completed,
               COUNT(CASE WHEN status = 'no_show' THEN 1 END) AS no_shows,
               COUNT(CASE WHEN status = 'cancelled' AND late_cancellation <> 0 THEN 1 END)
                   AS late_cancellations
        FROM appointments
        WHERE patient_id IN (
            SELECT patient_id FROM appointments
            WHERE doctor_id = $1 AND start_at >= $2 AND start_at < $3)
        GROUP BY patient_id
    ) h ON h.patient_id = a.patient_id
    WHERE a.doctor_id = $1 AND a.start_at >= $2 AND a.start_at < $3
    ORDER BY a.start_at, a.id";
const RECORD_OUTCOME: &str = "
    UPDATE appointments SET status = $1, updated_at = $2
    WHERE id = $3 AND status = 'scheduled' AND start_at <= $2";
const INSERT_SPECIALTY: &str =
    "INSERT INTO specialties (id, name, created_at, keywords) VALUES ($1, $2, $3, $4)";
const RENAME_SPECIALTY: &str = "UPDATE specialties SET name = $1, keywords = $3 WHERE id = $2";
pub(crate) const USER_COLUMNS: &str = "id, email, phone, name, role, doctor_id, created_at";
const SET_ROLE: &str = "UPDATE users SET role = $1, doctor_id = $2 WHERE id = $3";

pub(crate) fn user_from(row: &sql::Row) -> Result<User, StoreError> {
    Ok(User {
        id: parsed(row, "id")?,
        email: optional_email(row, "email")?,
        phone: optional_phone(row, "phone")?,
        name: row.try_get("name")?,
        role: named(row, "role", Role::parse)?,
        doctor_id: optional_parsed(row, "doctor_id")?,
        created_at: timestamp(row, "created_at")?,
    })
}

pub(crate) fn optional_email(row: &sql::Row, column: &str) -> Result<Option<Email>, StoreError> {
    let email: Option<String> = row.try_get(column)?;
    email
        .map(|e| Email::parse(&e))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

pub(crate) fn optional_phone(
    row: &sql::Row,
    column: &str,
) -> Result<Option<PhoneNumber>, StoreError> {
    let phone: Option<String> = row.try_get(column)?;
    phone
        .map(|p| PhoneNumber::parse(&p))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

fn time_off_from(row: &sql::Row) -> Result<TimeOff, StoreError> {
    Ok(TimeOff {
        id: parsed(row, "id")?,
        doctor_id: parsed(row, "doctor_id")?,
        start: timestamp(row, "start_at")?,
        end: timestamp(row, "end_at")?,
        reason: row.try_get("reason")?,
    })
}

fn schedule_json(schedule: &WeeklySchedule) -> Result<String, StoreError> {
    serde_json::to_string(schedule).map_err(|e| StoreError::Corrupt(format!("schedule: {e}")))
}

/// `%text%` for `LIKE … ESCAPE '\'`, with the wildcards in `text` taken literally.
pub(crate) fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A taken unique value (specialty name, linked doctor profile) as a validation error.
/// A unique-constraint conflict as the domain's `refusal`; other failures as storage errors.
pub(crate) fn unique_error(error: StoreError, refusal: fn() -> BookingError) -> BookingError {
    match error {
        StoreError::Database(error) if is_conflict(&error) => refusal(),
        other => other.into(),
    }
}

/// A statement run by [`Database::edit_grid`]; `false` when it found nothing to change.
type GridEdit<'t> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool, StoreError>> + Send + 't>>;

impl Database {
    /// Runs `edit` on a doctor's schedule or time off under the doctor's lock, records the
    /// slots it opened and closed, and offers opened slots to the waitlist, in one transaction.
    /// `new_horizon` is the booking horizon after the edit, if it changes. `None` when `edit`
    /// found nothing to change (nothing is written then).
    async fn edit_grid<F>(
        &self,
        doctor_id: DoctorId,
        new_horizon: Option<u16>,
        now: Timestamp,
        audit: &[AuditEntry],
        edit: F,
    ) -> BookingResult<Option<Recorded>>
    where
        F: for<'t> FnOnce(&'t mut Tx) -> GridEdit<'t>,
    {
        let mut tx = self.begin_write().await?;
        self.lock_doctor(&mut tx, doctor_id).await?;
        let Some(doctor) = load_doctor(&mut tx, doctor_id).await? else {
            return Ok(None);
        };
        let mut horizons = vec![doctor.schedule.rules.horizon_days];
        horizons.extend(new_horizon);
        let days = days_to_compare(&horizons);
        let mut recorded = crate::ledger::free_lapsed_claims(&mut tx, doctor_id, now).await?;
        let before = free_slots(&mut tx, doctor_id, days, now).await?;
        if !edit(&mut tx).await? {
            return Ok(None);
        }
        append_in(&mut tx, audit).await?;
        recorded.audit.extend_from_slice(audit);
        let after = free_slots(&mut tx, doctor_id, days, now).await?;
        recorded.extend(record_grid_change(&mut tx, doctor_id, &before, &after, now).await?);
        self.announce_doctor_change(&mut tx, doctor_id).await?;
        recorded.doctors.push(doctor_id);
        if recorded.freed_any() {
            recorded.extend(
                crate::waitlist::offer_free_slots(&mut tx, &self.offering(), doctor_id, now)
                    .await?,
            );
        }
        tx.commit().await?;
        Ok(Some(recorded))
    }
}

#[async_trait]
impl StaffRepository for Database {
    async fn set_schedule(
        &self,
        doctor_id: DoctorId,
        schedule: &WeeklySchedule,
        now: Timestamp,
        audit: &[AuditEntry],
    ) -> BookingResult<Option<Recorded>> {
        let horizon = schedule.rules.horizon_days;
        let json = schedule_json(schedule)?;
        self.edit_grid(doctor_id, Some(horizon), now, audit, |tx| {
            Box::pin(async move {
                let result = sql::query(SET_SCHEDULE)
                    .bind(json)
                    .bind(doctor_id.to_string())
                    .execute(&mut *tx)
                    .await?;
                Ok(result.rows_affected() == 1)
            })
        })
        .await
    }

    async fn update_doctor(
        &self,
        doctor: &Doctor,
        now: Timestamp,
        audit: &[AuditEntry],
    ) -> BookingResult<Option<Recorded>> {
        let schedule = schedule_json(&doctor.schedule)?;
        let doctor = doctor.clone();
        let doctor_id = doctor.id;
        let horizon = doctor.schedule.rules.horizon_days;
        self.edit_grid(doctor_id, Some(horizon), now, audit, |tx| {
            Box::pin(async move {
                let result = bind_profile(sql::query(UPDATE_DOCTOR), &doctor, schedule)
                    .bind(doctor.id.to_string())
                    .execute(&mut *tx)
                    .await?;
                Ok(result.rows_affected() == 1)
            })
        })
        .await
    }

    async fn create_doctor(&self, doctor: &Doctor, audit: &[AuditEntry]) -> BookingResult<()> {
        let mut tx = self.begin_write().await?;
        insert_doctor(&mut tx, doctor).await?;
        self.announce_doctor_change(&mut tx, doctor.id).await?;
        append_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_time_off(
        &self,
        time_off: &TimeOff,
        now: Timestamp,
        audit: &[AuditEntry],
    ) -> BookingResult<Recorded> {
        let time_off = time_off.clone();
        let recorded = self
            .edit_grid(time_off.doctor_id, None, now, audit, |tx| {
                Box::pin(async move {
                    sql::query(INSERT_TIME_OFF)
                        .bind(time_off.id.to_string())
                        .bind(time_off.doctor_id.to_string())
                        .bind(micros(time_off.start))
                        .bind(micros(time_off.end))
                        .bind(time_off.reason.clone())
                        .execute(&mut *tx)
                        .await?;
                    Ok(true)
                })
            })
            .await?;
        Ok(recorded.unwrap_or_default())
    }

    async fn time_off_of(
        &self,
        doctor_id: DoctorId,
        ending_after: Timestamp,
    ) -> BookingResult<Vec<TimeOff>> {
        let rows = sql::query(TIME_OFF_OF_DOCTOR)
            .bind(doctor_id.to_string())
            .bind(micros(ending_after))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(rows.iter().map(time_off_from).collect::<Result<_, _>>()?)
    }

    async fn time_off_by_id(&self, id: TimeOffId) -> BookingResult<Option<TimeOff>> {
        let row = sql::query(TIME_OFF_BY_ID)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(row.as_ref().map(time_off_from).transpose()?)
    }

    async fn delete_time_off(
        &self,
        id: TimeOffId,
        now: Timestamp,
        audit: &[AuditEntry],
    ) -> BookingResult<Option<Recorded>> {
        let Some(time_off) = self.time_off_by_id(id).await? else {
            return Ok(None);
        };
        self.edit_grid(time_off.doctor_id, None, now, audit, |tx| {
            Box::pin(async move {
                let result = sql::query(DELETE_TIME_OFF)
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
                Ok(result.rows_affected() == 1)
            })
        })
        .await
    }

    async fn agenda(
        &self,
        doctor_id: DoctorId,
        from: Timestamp,
        to: Timestamp,
    ) -> BookingResult<Vec<AgendaEntry>> {
        let rows = sql::query(AGENDA)
            .bind(doctor_id.to_string())
            .bind(micros(from))
            .bind(micros(to))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        let entries = rows
            .iter()
            .map(|row| {
                Ok(AgendaEntry {
                    appointment: appointment_from(row)?,
                    patient_name: row.try_get("patient_name")?,
                    patient_email: optional_email(row, "patient_email")?,
                    patient_phone: optional_phone(row, "patient_phone")?,
                    patient_history: PatientHistory {
                        completed: counter(row, "history_completed")?,
                        no_shows: counter(row, "history_no_shows")?,
                        late_cancellations: counter(row, "history_late_cancellations")?,
                    },
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(entries)
    }

    async fn record_outcome(
        &self,
        appointment_id: AppointmentId,
        status: AppointmentStatus,
        now: Timestamp,
        audit: &[AuditEntry],
    ) -> BookingResult<bool> {
        let query = sql::query(RECORD_OUTCOME)
            .bind(status.as_str().to_owned())
            .bind(micros(now))
            .bind(appointment_id.to_string());
        let result = self.execute_audited(query, audit).await?;
        Ok(result.rows_affected() == 1)
    }

    async fn create_specialty(
        &self,
        specialty: &Specialty,
        now: Timestamp,
        audit: &[AuditEntry],
    ) -> BookingResult<()> {
        let query = sql::query(INSERT_SPECIALTY)
            .bind(specialty.id.to_string())
            .bind(specialty.name.clone())
            .bind(micros(now))
            .bind(Specialty::keywords_text(&specialty.keywords));
        self.execute_audited(query, audit)
            .await
            .map_err(|e| unique_error(e, BookingError::specialty_name_taken))?;
        Ok(())
    }

    async fn rename_specialty(
        &self,
        specialty: &Specialty,
        audit: &[AuditEntry],
    ) -> BookingResult<bool> {
        let query = sql::query(RENAME_SPECIALTY)
            .bind(specialty.name.clone())
            .bind(specialty.id.to_string())
            .bind(Specialty::keywords_text(&specialty.keywords));
        let result = self
            .execute_audited(query, audit)
            .await
            .map_err(|e| unique_error(e, BookingError::specialty_name_taken))?;
        Ok(result.rows_affected() == 1)
    }

    async fn find_users(&self, query: Option<&str>, limit: u32) -> BookingResult<Vec<User>> {
        let rows = match query {
            None => {
                let sql = format!(
                    "SELECT {USER_COLUMNS} FROM users ORDER BY created_at DESC, id DESC LIMIT $1"
                );
                sql::query(AssertSqlSafe(sql))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
            }
            Some(query) => {
                let text = contains_pattern(&query.to_lowercase());
                let digits: String = query
                    .chars()
                    .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
                    .collect();
                let sql = format!(
                    "SELECT {USER_COLUMNS} FROM users
                     WHERE LOWER(COALESCE(email, '')) LIKE $1 ESCAPE '\\'
                        OR LOWER(COALESCE(name, '')) LIKE $1 ESCAPE '\\'
                        OR COALESCE(phone, '') LIKE $2 ESCAPE '\\'
                        OR id = $3
                     ORDER BY created_at DESC, id DESC LIMIT $4"
                );
                sql::query(AssertSqlSafe(sql))
                    .bind(text)
                    .bind(contains_pattern(&digits))
                    .bind(query.to_lowercase())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(StoreError::from)?;
        Ok(rows.iter().map(user_from).collect::<Result<_, _>>()?)
    }

    async fn set_role(
        &self,
        user_id: UserId,
        role: Role,
        doctor_id: Option<DoctorId>,
        audit: &[AuditEntry],
    ) -> BookingResult<Option<User>> {
        let query = sql::query(SET_ROLE)
            .bind(role.as_str().to_owned())
            .bind(doctor_id.map(|id| id.to_string()))
            .bind(user_id.to_string());
        let result = self
            .execute_audited(query, audit)
            .await
            .map_err(|e| unique_error(e, BookingError::doctor_profile_taken))?;
        if result.rows_affected() == 0 {
            return Ok(None);
        }
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sql::query(AssertSqlSafe(sql))
            .bind(user_id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(row.as_ref().map(user_from).transpose()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_in_queries_are_taken_literally() {
        assert_eq!(contains_pattern("ada"), "%ada%");
        assert_eq!(contains_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
