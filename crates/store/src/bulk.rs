//! Bulk loading of a generated clinic's history (`medibook seed`): patients, and per booked
//! slot its confirmed hold, its appointment and its `slot_claims` row (none for a cancelled
//! appointment), as the booking path leaves them, but millions at a time.
//!
//! The caller sends runs of evenly spaced booked slots ([`BookedRun`]: a first start, a step
//! and a count, with bit masks saying which are booked and which of those were cancelled) into
//! a temporary table, and one `INSERT … SELECT` per table expands them. Ids are UUID-shaped
//! text derived from a sequence number, under prefixes no generated id uses. Doctors and their
//! time off go through the ordinary repository calls.

use jiff::Timestamp;
use sqlx::AssertSqlSafe;

use crate::error::StoreError;
use crate::sql;
use crate::{Backend, Database};

/// A run holds at most this many slots, so that its masks fit in a positive 64-bit integer.
pub const MAX_RUN: usize = 63;
/// Runs sent per `INSERT` statement (10 parameters each, below both backends' limits).
const RUNS_PER_STATEMENT: usize = 1000;
/// Microseconds in a day.
const DAY_US: i64 = 86_400_000_000;
/// Id prefixes of loaded rows (the first UUID group), one per table.
const HOLD_PREFIX: &str = "b0000001";
const APPOINTMENT_PREFIX: &str = "b0000002";
const CLAIM_PREFIX: &str = "b0000003";
const PATIENT_PREFIX: &str = "b0000004";

/// Evenly spaced slots of one doctor's day, some of them booked.
#[derive(Clone, Debug)]
pub struct BookedRun {
    /// Whose slots.
    pub doctor_id: String,
    /// Start of the first slot, microseconds since the epoch.
    pub first_start: i64,
    /// Distance between starts, microseconds.
    pub step: i64,
    /// Length of one visit, microseconds.
    pub len: i64,
    /// Buffer before each visit, microseconds.
    pub before: i64,
    /// Buffer after each visit, microseconds.
    pub after: i64,
    /// Slots in the run (at most [`MAX_RUN`]).
    pub count: i64,
    /// Bit k set: slot k is booked.
    pub booked: i64,
    /// Bit k set: slot k's appointment was later cancelled.
    pub cancelled: i64,
}

/// A connection with the staging tables, loading runs in transactions of the caller's size.
pub struct BulkLoader {
    conn: sql::Connection,
    backend: Backend,
    expand: Expansion,
    patients: u32,
    next_run: i64,
}

impl Database {
    /// Opens a loader: stages temporary tables and adds `patients` patients (created at
    /// `created_at`), over whom the loaded appointments are spread.
    pub async fn bulk_loader(
        &self,
        patients: u32,
        created_at: Timestamp,
    ) -> Result<BulkLoader, StoreError> {
        let backend = self.backend();
        let mut conn = self.open_writing_connection().await?;
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
            conn.execute_script(statement).await?;
        }
        let patients = patients.max(1);
        let insert_patients = format!(
            "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < {last})
             INSERT INTO users (id, email, phone, name, role, doctor_id, created_at)
             SELECT {id}, 'patient-' || i || '@bench.medibook.test', NULL, 'Bench patient ' || i,
                    'patient', NULL, {created}
             FROM k",
            last = patients - 1,
            id = uuid_of(backend, PATIENT_PREFIX, "i"),
            created = created_at.as_microsecond(),
        );
        sql::query(AssertSqlSafe(insert_patients))
            .execute(&mut conn)
            .await?;
        Ok(BulkLoader {
            conn,
            backend,
            expand: Expansion::new(backend, patients),
            patients,
            next_run: 0,
        })
    }
}

impl BulkLoader {
    /// Loads `runs` in one transaction; appointments starting before `now` are completed (a
    /// few no-shows), later ones scheduled.
    pub async fn load(&mut self, runs: &[BookedRun], now: Timestamp) -> Result<(), StoreError> {
        let first_run = self.next_run;
        self.next_run += i64::try_from(runs.len()).unwrap_or(i64::MAX);
        self.conn.execute_script("BEGIN").await?;
        let loaded = match self.load_staged(runs, first_run, now).await {
            Ok(()) => self
                .conn
                .execute_script("COMMIT")
                .await
                .map_err(StoreError::from),
            Err(error) => Err(error),
        };
        if loaded.is_err() {
            // Leaves the connection outside any transaction, for the next load.
            let _ = self.conn.execute_script("ROLLBACK").await;
        }
        loaded
    }

    /// Stages `runs` and expands them, inside the caller's transaction.
    async fn load_staged(
        &mut self,
        runs: &[BookedRun],
        first_run: i64,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        stage_runs(&mut self.conn, runs, first_run).await?;
        for expansion in [
            &self.expand.holds,
            &self.expand.appointments,
            &self.expand.claims,
        ] {
            let query = sql::query(AssertSqlSafe(expansion.clone()));
            let query = if expansion.contains("$1") {
                query.bind(now.as_microsecond())
            } else {
                query
            };
            query.execute(&mut self.conn).await?;
        }
        self.conn.execute_script("DELETE FROM bench_runs").await?;
        Ok(())
    }

    /// The patients the appointments are spread over.
    pub fn patients(&self) -> u32 {
        self.patients
    }

    /// Leaves the database ready to be measured: statistics and the visibility map on
    /// PostgreSQL (autovacuum would see to both later), a checkpoint on SQLite.
    pub async fn finish(mut self) -> Result<(), StoreError> {
        let finish: &[&str] = match self.backend {
            Backend::Postgres => &["VACUUM (ANALYZE) slot_claims", "ANALYZE"],
            Backend::Sqlite => &["PRAGMA wal_checkpoint(TRUNCATE)"],
        };
        for statement in finish {
            self.conn.execute_script(statement).await?;
        }
        Ok(())
    }
}

/// The `INSERT … SELECT` statements that expand the staged runs (the appointments' one takes
/// `$1` = now: their status depends on it).
struct Expansion {
    holds: String,
    appointments: String,
    claims: String,
}

impl Expansion {
    fn new(backend: Backend, patients: u32) -> Self {
        // One row per booked slot of the staged runs.
        let booked = "SELECT r.doctor_id, r.run_no * 64 + k.i AS seq,
                             r.first_start + k.i * r.step AS s, r.len, r.before_us, r.after_us,
                             (r.cancelled >> k.i) & 1 AS cancelled
                      FROM bench_runs r JOIN bench_numbers k ON k.i < r.n
                      WHERE ((r.booked >> k.i) & 1) = 1";
        let patient = uuid_of(
            backend,
            PATIENT_PREFIX,
            &format!("(seq * 7919) % {patients}"),
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

/// Stages `runs`, numbered from `first_run`, with multi-row `INSERT`s.
async fn stage_runs(
    conn: &mut sql::Connection,
    runs: &[BookedRun],
    first_run: i64,
) -> Result<(), StoreError> {
    let mut run_no = first_run;
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
        let mut query = sql::query(AssertSqlSafe(sql));
        for run in batch {
            query = query
                .bind(run_no)
                .bind(run.doctor_id.clone())
                .bind(run.first_start)
                .bind(run.step)
                .bind(run.len)
                .bind(run.before)
                .bind(run.after)
                .bind(run.count)
                .bind(run.booked)
                .bind(run.cancelled);
            run_no += 1;
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}
