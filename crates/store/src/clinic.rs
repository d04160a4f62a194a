//! The catalogue tables: specialties, doctors, time off.

use async_trait::async_trait;
use jiff::Timestamp;
use medibook_core::BookingResult;
use medibook_core::clinic::{Doctor, Fee, Specialty, SpecialtySummary, Zone};
use medibook_core::ids::{DoctorId, SpecialtyId};
use medibook_core::ports::ClinicRepository;
use medibook_core::schedule::{TimeOff, WeeklySchedule};
use sqlx::AssertSqlSafe;

use crate::WriteStatement;
use crate::columns::{micros, parsed, placeholders, timestamp};
use crate::error::StoreError;
use crate::sql;
use crate::{Database, WriteTx};

const SELECT_SPECIALTIES: &str = "
    SELECT s.id, s.name, s.keywords, COUNT(d.id) AS doctor_count
    FROM specialties s LEFT JOIN doctors d ON d.specialty_id = s.id
    GROUP BY s.id, s.name, s.keywords
    ORDER BY s.name";

const SELECT_SPECIALTY: &str = "SELECT id, name, keywords FROM specialties WHERE id = $1";

pub(crate) const DOCTOR_COLUMNS: &str = "id, name, specialty_id, qualification, years_experience, bio, \
     fee_minor, currency, photo_url, time_zone, schedule";

const INSERT_SPECIALTY: &str =
    "INSERT INTO specialties (id, name, keywords, created_at) VALUES ($1, $2, $3, $4)";

/// A specialty row (`id`, `name`, `keywords`).
pub(crate) fn specialty_from(row: &sql::Row) -> Result<Specialty, StoreError> {
    let keywords: String = row.try_get("keywords")?;
    Ok(Specialty {
        id: parsed(row, "id")?,
        name: row.try_get("name")?,
        keywords: keywords
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

const INSERT_DOCTOR: &str = "
    INSERT INTO doctors (id, name, specialty_id, qualification, years_experience, bio,
                         fee_minor, currency, photo_url, time_zone, schedule, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

const INSERT_TIME_OFF: &str = "
    INSERT INTO time_off (id, doctor_id, start_at, end_at, reason) VALUES ($1, $2, $3, $4, $5)";

const IS_EMPTY: &str = "
    SELECT (SELECT COUNT(*) FROM doctors) + (SELECT COUNT(*) FROM specialties) AS n";

pub(crate) fn doctor_from(row: &sql::Row) -> Result<Doctor, StoreError> {
    let schedule_json: String = row.try_get("schedule")?;
    let schedule: WeeklySchedule = serde_json::from_str(&schedule_json)
        .map_err(|e| StoreError::Corrupt(format!("schedule: {e}")))?;
    let zone_name: String = row.try_get("time_zone")?;
    let years: i64 = row.try_get("years_experience")?;
    Ok(Doctor {
        id: parsed(row, "id")?,
        name: row.try_get("name")?,
        specialty_id: parsed(row, "specialty_id")?,
        qualification: row.try_get("qualification")?,
        years_experience: u16::try_from(years)
            .map_err(|_| StoreError::Corrupt(format!("years_experience: {years}")))?,
        bio: row.try_get("bio")?,
        fee: Fee::new(
            row.try_get("fee_minor")?,
            &row.try_get::<String, _>("currency")?,
        )
        .map_err(|e| StoreError::Corrupt(format!("fee: {e}")))?,
        photo_url: row.try_get("photo_url")?,
        time_zone: Zone::parse(&zone_name)
            .map_err(|e| StoreError::Corrupt(format!("time_zone: {e}")))?,
        schedule: schedule
            .validate()
            .map_err(|e| StoreError::Corrupt(format!("schedule: {e}")))?,
    })
}

pub(crate) fn time_off_from(row: &sql::Row) -> Result<TimeOff, StoreError> {
    Ok(TimeOff {
        id: parsed(row, "id")?,
        doctor_id: parsed(row, "doctor_id")?,
        start: timestamp(row, "start_at")?,
        end: timestamp(row, "end_at")?,
        reason: row.try_get("reason")?,
    })
}

#[async_trait]
impl ClinicRepository for Database {
    async fn specialties(&self) -> BookingResult<Vec<SpecialtySummary>> {
        let rows = sql::query(SELECT_SPECIALTIES)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        let summaries = rows
            .iter()
            .map(|row| {
                Ok(SpecialtySummary {
                    specialty: specialty_from(row)?,
                    doctor_count: row.try_get("doctor_count")?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(summaries)
    }

    async fn specialty(&self, id: SpecialtyId) -> BookingResult<Option<Specialty>> {
        let row = sql::query(SELECT_SPECIALTY)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)?;
        let specialty = row.map(|row| specialty_from(&row)).transpose()?;
        Ok(specialty)
    }

    async fn doctors(&self) -> BookingResult<Vec<Doctor>> {
        let sql = format!("SELECT {DOCTOR_COLUMNS} FROM doctors ORDER BY name, id");
        let rows = sql::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(rows.iter().map(doctor_from).collect::<Result<_, _>>()?)
    }

    async fn doctor(&self, id: DoctorId) -> BookingResult<Option<Doctor>> {
        let sql = format!("SELECT {DOCTOR_COLUMNS} FROM doctors WHERE id = $1");
        let row = sql::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(row.as_ref().map(doctor_from).transpose()?)
    }

    async fn time_off(
        &self,
        doctors: &[DoctorId],
        from: Timestamp,
        to: Timestamp,
    ) -> BookingResult<Vec<TimeOff>> {
        let mut found = Vec::new();
        for chunk in doctors.chunks(500) {
            let sql = format!(
                "SELECT id, doctor_id, start_at, end_at, reason FROM time_off
                 WHERE start_at < $1 AND end_at > $2 AND doctor_id IN ({})
                 ORDER BY start_at",
                placeholders(3, chunk.len())
            );
            let mut query = sql::query(AssertSqlSafe(sql))
                .bind(micros(to))
                .bind(micros(from));
            for id in chunk {
                query = query.bind(id.to_string());
            }
            let rows = query
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from)?;
            for row in &rows {
                found.push(time_off_from(row)?);
            }
        }
        Ok(found)
    }

    async fn add_specialty(&self, specialty: &Specialty) -> BookingResult<()> {
        sql::query(INSERT_SPECIALTY)
            .bind(specialty.id.to_string())
            .bind(specialty.name.clone())
            .bind(Specialty::keywords_text(&specialty.keywords))
            .bind(micros(Timestamp::now()))
            .write_on(self)
            .await?;
        Ok(())
    }

    async fn add_doctor(&self, doctor: &Doctor) -> BookingResult<()> {
        let mut tx = self.begin_write().await?;
        insert_doctor(&mut tx, doctor).await?;
        self.announce_doctor_change(&mut tx, doctor.id).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn add_time_off(&self, time_off: &TimeOff) -> BookingResult<()> {
        let mut tx = self.begin_write().await?;
        sql::query(INSERT_TIME_OFF)
            .bind(time_off.id.to_string())
            .bind(time_off.doctor_id.to_string())
            .bind(micros(time_off.start))
            .bind(micros(time_off.end))
            .bind(time_off.reason.clone())
            .execute(&mut tx)
            .await
            .map_err(StoreError::from)?;
        self.announce_doctor_change(&mut tx, time_off.doctor_id)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn is_empty(&self) -> BookingResult<bool> {
        let n: i64 = sql::query(IS_EMPTY)
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get("n"))
            .map_err(StoreError::from)?;
        Ok(n == 0)
    }
}

/// Inserts a doctor profile inside `tx`.
pub(crate) async fn insert_doctor(tx: &mut WriteTx, doctor: &Doctor) -> Result<(), StoreError> {
    let schedule = serde_json::to_string(&doctor.schedule)
        .map_err(|e| StoreError::Corrupt(format!("schedule: {e}")))?;
    let insert = sql::query(INSERT_DOCTOR).bind(doctor.id.to_string());
    bind_profile(insert, doctor, schedule)
        .bind(micros(Timestamp::now()))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Binds a doctor's profile, name to schedule, in the order `INSERT_DOCTOR` and `UPDATE_DOCTOR`
/// both take it.
pub(crate) fn bind_profile(
    query: sql::Query,
    doctor: &Doctor,
    schedule_json: String,
) -> sql::Query {
    query
        .bind(doctor.name.clone())
        .bind(doctor.specialty_id.to_string())
        .bind(doctor.qualification.clone())
        .bind(i64::from(doctor.years_experience))
        .bind(doctor.bio.clone())
        .bind(doctor.fee.amount_minor)
        .bind(doctor.fee.currency.clone())
        .bind(doctor.photo_url.clone())
        .bind(doctor.time_zone.name().to_owned())
        .bind(schedule_json)
}
