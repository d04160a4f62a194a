//! The clinic the slot-listing benchmark reads: many doctors with realistic weekly hours in a few
//! time zones, and a year of appointments behind them, loaded straight into the server's
//! database.
//!
//! Loading millions of appointments through the HTTP API would take hours (each is a hold and a
//! confirm, one transaction each), so the loader writes the rows the API would have written, in
//! large transactions. Doctors and their time off go through the store's own repository calls;
//! the slots of every working day come from the core's [`SlotGrid`], the same code that lists
//! them, so every loaded appointment sits exactly on a listed slot. What is bulk-loaded is the
//! patients and, per booked slot, its confirmed hold, its appointment and its `slot_claims` row
//! (none for a cancelled appointment), as the booking path leaves them.
//!
//! To keep that fast, the loader sends runs of evenly spaced slots (a first start, a step and
//! a count, with bit masks saying which are booked and which of those were cancelled) into a
//! temporary table, and one `INSERT … SELECT` per table expands them. Ids are UUID-shaped text
//! derived from a sequence number, under a prefix no generated id uses.

use std::time::Instant;

use jiff::civil::{Date, Time, Weekday, time};
use jiff::{SignedDuration, Timestamp, ToSpan};
use medibook_core::clinic::{Doctor, Fee, Specialty, Zone};
use medibook_core::ids::{DoctorId, SpecialtyId, TimeOffId};
use medibook_core::ports::ClinicRepository;
use medibook_core::schedule::{BookingRules, TimeOff, TimeRange, WeeklyHours, WeeklySchedule};
use medibook_core::slots::{Slot, SlotGrid};
use medibook_store::{Backend, Database};
use sqlx::{Any, AssertSqlSafe, Executor, Transaction};

use crate::error::{BenchError, BenchResult};

/// Doctors whose runs are loaded per transaction: about 60,000 appointments, short enough that
/// the running server's own writers never wait long for the SQLite write lock.
const DOCTORS_PER_TRANSACTION: usize = 20;
/// Runs sent per `INSERT` statement (10 parameters each, below both backends' limits).
const RUNS_PER_STATEMENT: usize = 1000;
/// A run holds at most this many slots, so that its masks fit in a positive 64-bit integer.
const MAX_RUN: usize = 63;
/// Patients the appointments are spread over.
const PATIENTS: u32 = 20_000;
/// The time zones doctors work in.
const ZONES: [&str; 5] = [
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Chicago",
    "Asia/Kolkata",
];
/// Share of past slots booked, in per mille.
const PAST_BOOKED_PER_MILLE: u64 = 850;
/// Share of booked slots whose appointment was later cancelled, in per mille.
const CANCELLED_PER_MILLE: u64 = 40;

/// How big a clinic to load.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Doctors.
    pub doctors: u32,
    /// Weeks of past appointments before today.
    pub weeks_back: u16,
    /// Weeks of future appointments from today (also the doctors' booking horizon).
    pub weeks_ahead: u16,
    /// Seed of the pseudo-random choices (which slots are booked), for repeatable data.
    pub seed: u64,
}

/// What was loaded.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The doctors added.
    pub doctors: Vec<DoctorId>,
    /// Appointments added (cancelled ones included).
    pub appointments: u64,
    /// Of which still occupy their slot (every one but the cancelled).
    pub occupying: u64,
    /// Wall-clock time of the whole load.
    pub seconds: f64,
}

/// Loads a clinic of `shape` into the database at `url` (already migrated by the server),
/// around `now`.
pub async fn load(url: &str, shape: &Shape, now: Timestamp) -> BenchResult<Loaded> {
    let started = Instant::now();
    let db = Database::connect(url)
        .await
        .map_err(|e| BenchError::Data(format!("cannot open the server's database: {e}")))?;
    let backend = db.backend();
    let specialties = specialties(&db).await?;

    let mut conn = db
        .pool()
        .acquire()
        .await
        .map_err(|e| sql_error("cannot take a database connection", e))?;
    for statement in [
        "CREATE TEMPORARY TABLE bench_runs (
             run_no BIGINT NOT NULL, doctor_id TEXT NOT NULL, first_start BIGINT NOT NULL,
             step BIGINT NOT NULL, len BIGINT NOT NULL, before_us BIGINT NOT NULL,
             after_us BIGINT NOT NULL, n BIGINT NOT NULL, booked BIGINT NOT NULL,
             cancelled BIGINT NOT NULL)",
        // INTEGER: PostgreSQL shifts a BIGINT by an INTEGER only.
        "CREATE TEMPORARY TABLE bench_numbers (i INTEGER NOT NULL)",
        "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < 62)
         INSERT INTO bench_numbers (i) SELECT i FROM k",
    ] {
        conn.execute(statement)
            .await
            .map_err(|e| sql_error("cannot prepare the load", e))?;
    }
    let patients = format!(
        "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < {last})
         INSERT INTO users (id, email, phone, name, role, doctor_id, created_at)
         SELECT {id}, 'patient-' || i || '@bench.medibook.test', NULL, 'Bench patient ' || i,
                'patient', NULL, {created}
         FROM k",
        last = PATIENTS - 1,
        id = uuid_of(backend, PATIENT_PREFIX, "i"),
        created = now.as_microsecond() - 400 * DAY_US,
    );
    conn.execute(AssertSqlSafe(patients))
        .await
        .map_err(|e| sql_error("cannot add patients", e))?;

    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let first_day = today
        .checked_sub(i64::from(shape.weeks_back).weeks())
        .map_err(|e| BenchError::Usage(format!("--weeks-back reaches too far: {e}")))?;
    let last_day = today
        .checked_add(i64::from(shape.weeks_ahead).weeks())
        .map_err(|e| BenchError::Usage(format!("--weeks-ahead reaches too far: {e}")))?;
    let expand = Expansion::new(backend);

    let mut loaded = Loaded {
        doctors: Vec::new(),
        appointments: 0,
        occupying: 0,
        seconds: 0.0,
    };
    let mut run_no: i64 = 0;
    let numbers: Vec<u32> = (0..shape.doctors).collect();
    for chunk in numbers.chunks(DOCTORS_PER_TRANSACTION) {
        let mut runs = Vec::new();
        for &number in chunk {
            let doctor = bench_doctor(number, &specialties, shape)?;
            let vacation = vacation_of(&doctor, number, first_day, today)?;
            db.add_doctor(&doctor)
                .await
                .map_err(|e| BenchError::Data(format!("cannot add a doctor: {e}")))?;
            if let Some(vacation) = &vacation {
                db.add_time_off(vacation)
                    .await
                    .map_err(|e| BenchError::Data(format!("cannot add time off: {e}")))?;
            }
            let mut random = SplitMix::new(shape.seed ^ u64::from(number).wrapping_mul(0x9e37));
            let time_off: Vec<TimeOff> = vacation.into_iter().collect();
            let grid = SlotGrid::new(&doctor.schedule, doctor.time_zone.tz(), &time_off);
            let mut day = first_day;
            while day < last_day {
                let booked_per_mille = booked_share(day, today, shape.weeks_ahead);
                for run in runs_of(&grid.for_day(day)) {
                    let mut booked = 0_i64;
                    let mut cancelled = 0_i64;
                    for bit in 0..run.count {
                        if random.per_mille() < booked_per_mille {
                            booked |= 1 << bit;
                            loaded.appointments += 1;
                            if random.per_mille() < CANCELLED_PER_MILLE {
                                cancelled |= 1 << bit;
                            } else {
                                loaded.occupying += 1;
                            }
                        }
                    }
                    if booked != 0 {
                        runs.push(RunRow {
                            run_no,
                            doctor_id: doctor.id.to_string(),
                            first_start: run.first.as_microsecond(),
                            step: run.step.as_micros().try_into().unwrap_or(i64::MAX),
                            len: micros(doctor.schedule.rules.slot_length()),
                            before: micros(doctor.schedule.rules.buffer_before()),
                            after: micros(doctor.schedule.rules.buffer_after()),
                            count: i64::try_from(run.count).unwrap_or(0),
                            booked,
                            cancelled,
                        });
                        run_no += 1;
                    }
                }
                day = day
                    .tomorrow()
                    .map_err(|e| BenchError::Data(e.to_string()))?;
            }
            loaded.doctors.push(doctor.id);
        }
        let mut tx: Transaction<'_, Any> = sqlx::Connection::begin(&mut *conn)
            .await
            .map_err(|e| sql_error("cannot begin a load transaction", e))?;
        insert_runs(&mut tx, &runs).await?;
        for (what, sql) in [
            ("holds", &expand.holds),
            ("appointments", &expand.appointments),
            ("slot claims", &expand.claims),
        ] {
            let query = sqlx::query(AssertSqlSafe(sql.clone()));
            let query = if sql.contains("$1") {
                query.bind(now.as_microsecond())
            } else {
                query
            };
            query
                .execute(&mut *tx)
                .await
                .map_err(|e| sql_error(&format!("cannot add {what}"), e))?;
        }
        tx.execute("DELETE FROM bench_runs")
            .await
            .map_err(|e| sql_error("cannot clear the staged runs", e))?;
        tx.commit()
            .await
            .map_err(|e| sql_error("cannot commit a load transaction", e))?;
    }

    let finish: &[&str] = match backend {
        // The planner needs statistics on the new rows, and index-only scans need the
        // visibility map: autovacuum would see to both after a bulk insert, later; an operator
        // importing data runs the same.
        Backend::Postgres => &["VACUUM (ANALYZE) slot_claims", "ANALYZE"],
        Backend::Sqlite => &["PRAGMA wal_checkpoint(TRUNCATE)"],
    };
    for statement in finish {
        conn.execute(*statement)
            .await
            .map_err(|e| sql_error("cannot finish the load", e))?;
    }
    drop(conn);
    db.close().await;
    loaded.seconds = started.elapsed().as_secs_f64();
    Ok(loaded)
}

/// Microseconds in a day.
const DAY_US: i64 = 86_400_000_000;
/// Id prefixes of loaded rows (the first UUID group), one per table.
const HOLD_PREFIX: &str = "b0000001";
const APPOINTMENT_PREFIX: &str = "b0000002";
const CLAIM_PREFIX: &str = "b0000003";
const PATIENT_PREFIX: &str = "b0000004";

/// The `INSERT … SELECT` statements that expand the staged runs (the appointments' one takes
/// `$1` = now: their status depends on it).
struct Expansion {
    holds: String,
    appointments: String,
    claims: String,
}

impl Expansion {
    fn new(backend: Backend) -> Self {
        // One row per booked slot of the staged runs.
        let booked = "SELECT r.doctor_id, r.run_no * 64 + k.i AS seq,
                             r.first_start + k.i * r.step AS s, r.len, r.before_us, r.after_us,
                             (r.cancelled >> k.i) & 1 AS cancelled
                      FROM bench_runs r JOIN bench_numbers k ON k.i < r.n
                      WHERE ((r.booked >> k.i) & 1) = 1";
        let patient = uuid_of(
            backend,
            PATIENT_PREFIX,
            &format!("(seq * 7919) % {PATIENTS}"),
        );
        let hold = uuid_of(backend, HOLD_PREFIX, "seq");
        let appointment = uuid_of(backend, APPOINTMENT_PREFIX, "seq");
        let claim = uuid_of(backend, CLAIM_PREFIX, "seq");
        // Holds were made a week ahead and confirmed at once.
        let booked_at = format!("s - {}", 7 * DAY_US);
        Self {
            holds: format!(
                "INSERT INTO holds (id, doctor_id, patient_id, start_at, end_at, claim_start,
                                    claim_end, expires_at, state, appointment_id, created_at)
                 SELECT {hold}, doctor_id, {patient}, s, s + len, s - before_us,
                        s + len + after_us, {booked_at} + 300000000, 'confirmed', {appointment},
                        {booked_at}
                 FROM ({booked}) x"
            ),
            appointments: format!(
                "INSERT INTO appointments (id, doctor_id, patient_id, start_at, end_at, status,
                                           reason, notes, origin_hold_id, created_at, updated_at)
                 SELECT {appointment}, doctor_id, {patient}, s, s + len,
                        CASE WHEN cancelled = 1 THEN 'cancelled'
                             WHEN s >= $1 THEN 'scheduled'
                             WHEN seq % 31 = 0 THEN 'no_show'
                             ELSE 'completed' END,
                        CASE seq % 4 WHEN 0 THEN 'Check-up' WHEN 1 THEN 'Follow-up visit'
                                     WHEN 2 THEN 'Test results' ELSE 'New complaint' END,
                        NULL, {hold}, {booked_at}, {booked_at}
                 FROM ({booked}) x"
            ),
            claims: format!(
                "INSERT INTO slot_claims (id, doctor_id, claim_start, claim_end, hold_id,
                                          appointment_id, expires_at)
                 SELECT {claim}, doctor_id, s - before_us, s + len + after_us, {hold},
                        {appointment}, NULL
                 FROM ({booked}) x WHERE cancelled = 0"
            ),
        }
    }
}

/// SQL giving the UUID-shaped id `PREFIX-0000-4000-8000-<number in 12 hex digits>`.
fn uuid_of(backend: Backend, prefix: &str, number: &str) -> String {
    match backend {
        Backend::Sqlite => format!("printf('{prefix}-0000-4000-8000-%012x', {number})"),
        Backend::Postgres => {
            format!("'{prefix}-0000-4000-8000-' || lpad(to_hex(({number})::bigint), 12, '0')")
        }
    }
}

/// One staged run, as inserted into `bench_runs`.
struct RunRow {
    run_no: i64,
    doctor_id: String,
    first_start: i64,
    step: i64,
    len: i64,
    before: i64,
    after: i64,
    count: i64,
    booked: i64,
    cancelled: i64,
}

/// Stages `runs` with multi-row `INSERT`s.
async fn insert_runs(tx: &mut Transaction<'_, Any>, runs: &[RunRow]) -> BenchResult<()> {
    for batch in runs.chunks(RUNS_PER_STATEMENT) {
        let rows: Vec<String> = (0..batch.len())
            .map(|row| {
                let first = row * 10 + 1;
                let params: Vec<String> = (first..first + 10).map(|n| format!("${n}")).collect();
                format!("({})", params.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO bench_runs (run_no, doctor_id, first_start, step, len, before_us,
                                     after_us, n, booked, cancelled) VALUES {}",
            rows.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for run in batch {
            query = query
                .bind(run.run_no)
                .bind(run.doctor_id.clone())
                .bind(run.first_start)
                .bind(run.step)
                .bind(run.len)
                .bind(run.before)
                .bind(run.after)
                .bind(run.count)
                .bind(run.booked)
                .bind(run.cancelled);
        }
        query
            .execute(&mut **tx)
            .await
            .map_err(|e| sql_error("cannot stage slot runs", e))?;
    }
    Ok(())
}

/// Evenly spaced slots of one day: `count` slots, the k-th starting at `first + k * step`.
#[derive(Debug, PartialEq)]
struct Run {
    first: Timestamp,
    step: SignedDuration,
    count: usize,
}

/// `slots` (one day, in order, all of one length) cut into runs of at most [`MAX_RUN`].
fn runs_of(slots: &[Slot]) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for slot in slots {
        if let Some(run) = runs.last_mut() {
            let gap = slot.start.duration_since(run.first);
            let fits = match run.count {
                1 => gap.is_positive(),
                _ => gap == run.step * i32::try_from(run.count).unwrap_or(i32::MAX),
            };
            if fits && run.count < MAX_RUN {
                if run.count == 1 {
                    run.step = gap;
                }
                run.count += 1;
                continue;
            }
        }
        runs.push(Run {
            first: slot.start,
            step: SignedDuration::ZERO,
            count: 1,
        });
    }
    runs
}

/// Per mille of the slots of `day` that are booked: most of the past, and from nearly all of
/// the coming days down to about a third at the horizon.
fn booked_share(day: Date, today: Date, weeks_ahead: u16) -> u64 {
    if day < today {
        return PAST_BOOKED_PER_MILLE;
    }
    let ahead_days = u64::try_from((day - today).get_days()).unwrap_or(0);
    let horizon_days = u64::from(weeks_ahead.max(1)) * 7;
    950_u64.saturating_sub(600 * ahead_days / horizon_days)
}

/// The specialties doctors are spread over: those of the demo clinic, or one made here.
async fn specialties(db: &Database) -> BenchResult<Vec<SpecialtyId>> {
    let existing = db
        .specialties()
        .await
        .map_err(|e| BenchError::Data(format!("cannot read specialties: {e}")))?;
    if !existing.is_empty() {
        return Ok(existing.iter().map(|s| s.specialty.id).collect());
    }
    let specialty = Specialty {
        id: SpecialtyId::generate(),
        name: "General practice".into(),
    };
    db.add_specialty(&specialty)
        .await
        .map_err(|e| BenchError::Data(format!("cannot add a specialty: {e}")))?;
    Ok(vec![specialty.id])
}

const FIRST_NAMES: [&str; 12] = [
    "Anna", "Ben", "Chiara", "David", "Elif", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kavya",
    "Lena",
];
const LAST_NAMES: [&str; 12] = [
    "Schmidt", "Okafor", "Rossi", "Nguyen", "Yilmaz", "Haddad", "Larsen", "Tanaka", "Silva",
    "Weber", "Iyer", "Novak",
];

/// Doctor `number` of the benchmark clinic.
fn bench_doctor(number: u32, specialties: &[SpecialtyId], shape: &Shape) -> BenchResult<Doctor> {
    let n = usize::try_from(number).unwrap_or(0);
    let pick = |len: usize, salt: usize| (n / salt) % len;
    let zone = ZONES[pick(ZONES.len(), 1)];
    let horizon_days = (shape.weeks_ahead.max(1) * 7).min(730);
    let doctor = Doctor {
        id: DoctorId::generate(),
        name: format!(
            "Dr. {} {} ({number})",
            FIRST_NAMES[pick(FIRST_NAMES.len(), 3)],
            LAST_NAMES[pick(LAST_NAMES.len(), 7)]
        ),
        specialty_id: specialties[pick(specialties.len(), 2)],
        qualification: "MD".into(),
        years_experience: u16::try_from(5 + n % 30).unwrap_or(5),
        bio: "A doctor of the benchmark clinic.".into(),
        fee: Fee::new(6000, "EUR").map_err(|e| BenchError::Data(e.to_string()))?,
        photo_url: None,
        time_zone: Zone::parse(zone).map_err(|e| BenchError::Data(e.to_string()))?,
        schedule: week_of(n % 4, horizon_days)?,
    };
    Ok(doctor)
}

/// One of four kinds of working week.
fn week_of(kind: usize, horizon_days: u16) -> BenchResult<WeeklySchedule> {
    let range = |from: Time, to: Time| TimeRange::new(from, to);
    let bad = |e: medibook_core::BookingError| BenchError::Data(e.to_string());
    let mut hours = WeeklyHours::default();
    let mut breaks = WeeklyHours::default();
    let (days, day_hours, pause, slot_minutes, buffer_after): (&[Weekday], _, _, u16, u16) =
        match kind {
            // Full-time GP: weekdays 08–17 with lunch, 30-minute visits.
            0 => (
                &[
                    Weekday::Monday,
                    Weekday::Tuesday,
                    Weekday::Wednesday,
                    Weekday::Thursday,
                    Weekday::Friday,
                ],
                range(time(8, 0, 0, 0), time(17, 0, 0, 0)),
                Some(range(time(12, 0, 0, 0), time(13, 0, 0, 0))),
                30,
                0,
            ),
            // Specialist: four days, 20-minute visits with 5 minutes to write up.
            1 => (
                &[
                    Weekday::Monday,
                    Weekday::Tuesday,
                    Weekday::Wednesday,
                    Weekday::Thursday,
                ],
                range(time(9, 0, 0, 0), time(17, 30, 0, 0)),
                Some(range(time(12, 30, 0, 0), time(13, 30, 0, 0))),
                20,
                5,
            ),
            // Part-time mornings, 15-minute visits.
            2 => (
                &[Weekday::Tuesday, Weekday::Wednesday, Weekday::Friday],
                range(time(7, 30, 0, 0), time(13, 30, 0, 0)),
                None,
                15,
                0,
            ),
            // Long consultations, Saturday included.
            _ => (
                &[
                    Weekday::Monday,
                    Weekday::Wednesday,
                    Weekday::Thursday,
                    Weekday::Saturday,
                ],
                range(time(10, 0, 0, 0), time(18, 0, 0, 0)),
                Some(range(time(14, 0, 0, 0), time(14, 30, 0, 0))),
                45,
                0,
            ),
        };
    let day_hours = day_hours.map_err(bad)?;
    let pause = pause.transpose().map_err(bad)?;
    for day in days {
        hours.on_mut(*day).push(day_hours);
        if let Some(pause) = pause {
            breaks.on_mut(*day).push(pause);
        }
    }
    WeeklySchedule {
        hours,
        breaks,
        rules: BookingRules {
            slot_minutes,
            buffer_before_minutes: 0,
            buffer_after_minutes: buffer_after,
            min_notice_minutes: 60,
            horizon_days,
            max_per_day: None,
        },
    }
    .validate()
    .map_err(bad)
}

/// Two weeks of holiday in the past, at a different week for each doctor.
fn vacation_of(
    doctor: &Doctor,
    number: u32,
    first_day: Date,
    today: Date,
) -> BenchResult<Option<TimeOff>> {
    let past_weeks = (today - first_day).get_days() / 7;
    if past_weeks < 4 {
        return Ok(None);
    }
    let offset = i64::from(number) % i64::from(past_weeks - 2);
    let bad = |e: jiff::Error| BenchError::Data(e.to_string());
    let start_day = first_day.checked_add(offset.weeks()).map_err(bad)?;
    let end_day = start_day.checked_add(2.weeks()).map_err(bad)?;
    let tz = doctor.time_zone.tz();
    Ok(Some(TimeOff {
        id: TimeOffId::generate(),
        doctor_id: doctor.id,
        start: start_day.to_zoned(tz.clone()).map_err(bad)?.timestamp(),
        end: end_day.to_zoned(tz.clone()).map_err(bad)?.timestamp(),
        reason: "Holiday".into(),
    }))
}

fn micros(duration: SignedDuration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

fn sql_error(context: &str, e: sqlx::Error) -> BenchError {
    BenchError::Data(format!("{context}: {e}"))
}

/// A small, seedable pseudo-random generator (SplitMix64): repeatable data without a
/// dependency.
#[derive(Debug)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `bound` (> 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }

    fn per_mille(&mut self) -> u64 {
        self.below(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(start_minute: i64, minutes: i64) -> Slot {
        let start = Timestamp::UNIX_EPOCH + SignedDuration::from_mins(start_minute);
        Slot {
            start,
            end: start + SignedDuration::from_mins(minutes),
        }
    }

    #[test]
    fn evenly_spaced_slots_make_one_run_and_a_break_starts_another() {
        let slots = [slot(0, 30), slot(30, 30), slot(60, 30), slot(150, 30)];
        let runs = runs_of(&slots);
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].count, 3);
        assert_eq!(runs[0].step, SignedDuration::from_mins(30));
        assert_eq!(runs[1].first, slots[3].start);
        assert_eq!(runs[1].count, 1);
    }

    #[test]
    fn runs_expand_back_to_exactly_the_slots() {
        let slots: Vec<Slot> = (0..150).map(|k| slot(k * 25, 20)).collect();
        let runs = runs_of(&slots);
        assert!(runs.iter().all(|run| run.count <= MAX_RUN));
        let expanded: Vec<Timestamp> = runs
            .iter()
            .flat_map(|run| {
                (0..run.count).map(|k| run.first + run.step * i32::try_from(k).unwrap())
            })
            .collect();
        let starts: Vec<Timestamp> = slots.iter().map(|s| s.start).collect();
        assert_eq!(expanded, starts);
    }

    #[test]
    fn every_kind_of_week_is_a_valid_schedule() {
        for kind in 0..4 {
            let schedule = week_of(kind, 56).unwrap();
            assert!(!schedule.hours.on(Weekday::Wednesday).is_empty());
        }
    }

    #[test]
    fn coming_days_are_booked_more_than_the_horizon() {
        let today = jiff::civil::date(2026, 11, 22);
        let soon = booked_share(today, today, 8);
        let late = booked_share(today.checked_add(55.days()).unwrap(), today, 8);
        assert!(soon > late, "{soon} vs {late}");
        assert_eq!(
            booked_share(today.yesterday().unwrap(), today, 8),
            PAST_BOOKED_PER_MILLE
        );
    }
}
