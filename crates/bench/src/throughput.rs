//! The throughput benchmark: how many bookings (hold, then confirm) the server completes per
//! second, against how many bare write transactions its database commits per second in the
//! same run — the floor no booking can beat, since each booking is at least two transactions.
//!
//! The bookings: C patients, signed in beforehand, each in a loop taking the next free slot of
//! a shared list (the doctors' free slots interleaved, so consecutive bookings go to different
//! doctors) and holding then confirming it, until the time or the count is up. Slots refused
//! (a doctor's day full) are skipped and counted; anything else unexpected is an error.
//!
//! The floor: a loop of `BEGIN; INSERT one row; COMMIT` run by `medibook floor` (the server's
//! own binary, through its store's connections and write transactions), so it has the server's
//! connection settings exactly — on SQLite the same pragmas (WAL, `synchronous = NORMAL`, `busy_timeout`)
//! and `BEGIN IMMEDIATE`, on a separate file in the server's data directory; on PostgreSQL the
//! same database, in a scratch table dropped afterwards. It runs before the bookings, while the
//! server is idle, once with one writer and once with C writers, and the floor is the higher
//! of the two: the backend's physical commit rate. One writer is what SQLite does best (it
//! serialises writers anyway, and contending connections sleep in its busy handler); C writers
//! is what PostgreSQL does best (commits of concurrent transactions share one WAL flush).
//! Taking the higher makes the ratio as hard as it can be.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::Serialize;
use tokio::task::JoinSet;

use crate::api::{Api, ConfirmAttempt, HoldAttempt};
use crate::error::{BenchError, BenchResult};
use crate::report::{millis, round2};
use crate::stats::LatencySummary;
use crate::supply::{FreeSlots, free_slots, interleaved, sign_in_patients};
use crate::target::{Backend, Target};

/// Days of slots collected (the demo doctors take bookings 30 to 90 days ahead).
const SLOT_SEARCH_DAYS: u16 = 90;
/// The reason given with every booking.
const REASON: &str = "Benchmark booking";
/// Errors described in the human summary.
const ERRORS_SHOWN: usize = 3;

/// Options of `medibook-bench throughput`.
#[derive(Clone, Debug, clap::Args)]
pub struct ThroughputArgs {
    /// Patients booking at once, each holding and confirming one slot after another.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub clients: u32,
    /// How long the bookings run, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub seconds: u64,
    /// Stop after this many bookings, if that comes before --seconds.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub bookings: Option<u64>,
    /// How long each of the two floor loops (one writer, then --clients writers) runs, in
    /// seconds.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub floor_seconds: u64,
}

/// The settings of the benchmark's own server: the patients book far more than the default
/// five upcoming appointments each (the most the setting allows), and sign in from one address.
pub fn server_settings(args: &ThroughputArgs) -> Vec<(&'static str, String)> {
    let codes = u64::from(args.clients).saturating_mul(2).max(100);
    vec![
        ("MEDIBOOK_MAX_ACTIVE_APPOINTMENTS", u16::MAX.to_string()),
        ("MEDIBOOK_CODES_PER_IP_PER_HOUR", codes.to_string()),
    ]
}

/// The figures of one throughput run. The JSON keys are a contract for scripts:
/// `bookings_per_s`, `db_floor_per_s`, `ratio_to_db_floor` first, then extras.
#[derive(Debug, Serialize)]
pub struct ThroughputReport {
    /// Bookings (hold 201, then confirm 201) per second.
    pub bookings_per_s: f64,
    /// Single-row write transactions per second: the higher of one writer and `clients`
    /// writers.
    pub db_floor_per_s: f64,
    /// `bookings_per_s / db_floor_per_s`.
    pub ratio_to_db_floor: f64,
    /// Bookings made.
    pub bookings: u64,
    /// How long the bookings ran, in seconds.
    pub seconds: f64,
    /// Patients booking at once.
    pub clients: usize,
    /// Slots skipped because the server refused the hold (e.g. the doctor's day is full).
    pub refused: u64,
    /// Unexpected answers or failed calls.
    pub errors: u64,
    /// Hold request → confirm response, median.
    pub booking_p50_ms: f64,
    /// … 99th percentile.
    pub booking_p99_ms: f64,
    /// The floor with one writer.
    pub db_floor_serial_per_s: f64,
    /// The floor with `clients` writers.
    pub db_floor_concurrent_per_s: f64,
    /// Whether the run stopped because no free slot was left.
    pub slots_exhausted: bool,
    /// The server's database.
    pub backend: Backend,
    /// The first few errors, described.
    #[serde(skip)]
    pub error_samples: Vec<String>,
    /// Free slots there were to book.
    #[serde(skip)]
    pub free_slots: usize,
}

/// Runs the benchmark against `target`.
pub async fn run(target: &Target, args: &ThroughputArgs) -> BenchResult<ThroughputReport> {
    let clients = usize::try_from(args.clients)
        .map_err(|_| BenchError::Usage("too many clients for this machine".into()))?;
    let floor_url = floor_database_url(target)?;

    let doctors = free_slots(&target.api, SLOT_SEARCH_DAYS).await?;
    let order = interleaved(&doctors);
    if order.is_empty() {
        return Err(BenchError::Data(
            "no doctor has a free slot (was the server started with --demo?)".into(),
        ));
    }
    eprintln!(
        "throughput: {} free slots of {} doctors; signing in {clients} patients…",
        order.len(),
        doctors.len()
    );
    let tokens = sign_in_patients(target, "throughput", clients, clients).await?;

    let floor_time = Duration::from_secs(args.floor_seconds);
    eprintln!("throughput: database floor, one writer then {clients}…");
    let floor = measure_floor(target, &floor_url, clients, floor_time).await?;

    eprintln!(
        "throughput: {clients} patients booking for {} s…",
        args.seconds
    );
    let plan = Arc::new(Plan {
        doctors,
        order,
        next: AtomicUsize::new(0),
        booked: AtomicU64::new(0),
        limit: args.bookings,
        deadline: Instant::now() + Duration::from_secs(args.seconds),
    });
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for token in tokens {
        let api = target.api.clone();
        let plan = Arc::clone(&plan);
        tasks.spawn(async move { book_until_done(&api, &token, &plan).await });
    }
    let mut tally = Tally::default();
    while let Some(joined) = tasks.join_next().await {
        let client = joined.map_err(|e| BenchError::Data(format!("a client task failed: {e}")))?;
        tally.merge(client);
    }
    let seconds = started.elapsed().as_secs_f64();

    let bookings = plan.booked.load(Ordering::Relaxed);
    let bookings_per_s = bookings as f64 / seconds.max(f64::EPSILON);
    let db_floor_per_s = floor.serial.max(floor.concurrent);
    let latency = LatencySummary::of(&mut tally.latencies);
    Ok(ThroughputReport {
        bookings_per_s: round2(bookings_per_s),
        db_floor_per_s: round2(db_floor_per_s),
        ratio_to_db_floor: ratio(bookings_per_s, db_floor_per_s),
        bookings,
        seconds: round2(seconds),
        clients,
        refused: tally.refused,
        errors: tally.errors,
        booking_p50_ms: latency.map_or(0.0, |l| millis(l.p50)),
        booking_p99_ms: latency.map_or(0.0, |l| millis(l.p99)),
        db_floor_serial_per_s: round2(floor.serial),
        db_floor_concurrent_per_s: round2(floor.concurrent),
        slots_exhausted: plan.next.load(Ordering::Relaxed) >= plan.order.len(),
        backend: target.backend,
        error_samples: tally.error_samples,
        free_slots: plan.order.len(),
    })
}

/// `part / whole` with three decimals; 0 when there is no whole.
fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        (part / whole * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

/// Where the floor writes: a separate SQLite file beside the server's, or the server's
/// PostgreSQL database.
fn floor_database_url(target: &Target) -> BenchResult<String> {
    match (target.backend, &target.database_url, target.data_dir()) {
        (Backend::Postgres, Some(url), _) => Ok(url.clone()),
        (Backend::Sqlite, _, Some(dir)) => {
            Ok(format!("sqlite://{}", dir.join("floor.db").display()))
        }
        _ => Err(BenchError::Usage(
            "throughput compares with the server's own database, so it needs a server started \
             here (drop --url; use --database-url for PostgreSQL)"
                .into(),
        )),
    }
}

/// What the bookings share: the slots, the next one to take, and when to stop.
#[derive(Debug)]
struct Plan {
    doctors: Vec<FreeSlots>,
    order: Vec<(usize, Timestamp)>,
    next: AtomicUsize,
    booked: AtomicU64,
    limit: Option<u64>,
    deadline: Instant,
}

impl Plan {
    /// The next slot to book, or `None` when time, count or slots are up.
    fn take(&self) -> Option<(&str, Timestamp)> {
        if Instant::now() >= self.deadline
            || self
                .limit
                .is_some_and(|limit| self.booked.load(Ordering::Relaxed) >= limit)
        {
            return None;
        }
        let (doctor, start) = self.order.get(self.next.fetch_add(1, Ordering::Relaxed))?;
        let doctor = self.doctors.get(*doctor)?;
        Some((doctor.doctor.id.as_str(), *start))
    }
}

/// One client's counts.
#[derive(Debug, Default)]
struct Tally {
    refused: u64,
    errors: u64,
    latencies: Vec<Duration>,
    error_samples: Vec<String>,
}

impl Tally {
    fn error(&mut self, reason: String) {
        self.errors += 1;
        if self.error_samples.len() < ERRORS_SHOWN {
            self.error_samples.push(reason);
        }
    }

    fn merge(&mut self, other: Self) {
        self.refused += other.refused;
        self.errors += other.errors;
        self.latencies.extend(other.latencies);
        let room = ERRORS_SHOWN.saturating_sub(self.error_samples.len());
        self.error_samples
            .extend(other.error_samples.into_iter().take(room));
    }
}

/// Books slots of `plan` as one patient until it says stop.
async fn book_until_done(api: &Api, token: &str, plan: &Plan) -> Tally {
    let mut tally = Tally::default();
    while let Some((doctor_id, start)) = plan.take() {
        let began = Instant::now();
        let hold = match api.hold(token, doctor_id, start).await {
            Ok(HoldAttempt::Held { hold, .. }) => hold,
            Ok(HoldAttempt::Refused { .. }) => {
                tally.refused += 1;
                continue;
            }
            Err(e) => {
                tally.error(e.to_string());
                continue;
            }
        };
        match api.confirm(token, &hold.id, REASON).await {
            Ok(ConfirmAttempt::Booked) => {
                plan.booked.fetch_add(1, Ordering::Relaxed);
                tally.latencies.push(began.elapsed());
            }
            Ok(ConfirmAttempt::Refused { status, body }) => {
                tally.error(format!("confirm refused ({status}): {body}"));
            }
            Err(e) => tally.error(e.to_string()),
        }
    }
    tally
}

/// Commits per second of the two floor loops.
#[derive(Clone, Copy, Debug)]
struct Floor {
    serial: f64,
    concurrent: f64,
}

/// Runs `medibook floor` on `url`: one writer, then `writers`, each for `time`.
async fn measure_floor(
    target: &Target,
    url: &str,
    writers: usize,
    time: Duration,
) -> BenchResult<Floor> {
    let writers = writers.to_string();
    let seconds = time.as_secs().max(1).to_string();
    let measured = target
        .run_tool(
            &["floor", "--writers", &writers, "--seconds", &seconds],
            url,
        )
        .await?;
    let rate = |key: &str| {
        measured[key]
            .as_f64()
            .ok_or_else(|| BenchError::Data(format!("medibook floor gave no {key}: {measured}")))
    };
    Ok(Floor {
        serial: rate("serial_per_s")?,
        concurrent: rate("concurrent_per_s")?,
    })
}

impl fmt::Display for ThroughputReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = match self.backend {
            Backend::Sqlite => "server started here on SQLite",
            Backend::Postgres => "server started here on PostgreSQL",
            Backend::Remote => "server at --url",
        };
        writeln!(f, "booking throughput vs. the database floor ({backend})")?;
        row(
            f,
            "bookings",
            &format!(
                "{} in {:.2} s by {} patients at once: {:.1} per second",
                self.bookings, self.seconds, self.clients, self.bookings_per_s
            ),
        )?;
        row(
            f,
            "",
            &format!(
                "hold → confirmed p50 {:.2} ms   p99 {:.2} ms; {} slots refused, {} errors{}",
                self.booking_p50_ms,
                self.booking_p99_ms,
                self.refused,
                self.errors,
                if self.slots_exhausted {
                    format!(" (all {} free slots used)", self.free_slots)
                } else {
                    String::new()
                }
            ),
        )?;
        for sample in &self.error_samples {
            row(f, "", &format!("error: {sample}"))?;
        }
        row(
            f,
            "database floor",
            &format!(
                "{:.1} one-row commits per second ({:.1} with one writer, {:.1} with {})",
                self.db_floor_per_s,
                self.db_floor_serial_per_s,
                self.db_floor_concurrent_per_s,
                self.clients
            ),
        )?;
        write!(
            f,
            "  {:<30}{:.3}",
            "ratio to the floor", self.ratio_to_db_floor
        )
    }
}

/// One line of the human summary: an indented label column, then the figures.
fn row(f: &mut fmt::Formatter<'_>, label: &str, value: &str) -> fmt::Result {
    writeln!(f, "  {label:<30}{value}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_has_three_decimals_and_no_floor_gives_zero() {
        assert_eq!(ratio(123.0, 456.0), 0.27);
        assert_eq!(ratio(1.0, 3.0), 0.333);
        assert_eq!(ratio(5.0, 0.0), 0.0);
    }

    #[test]
    fn merged_tallies_count_every_error_once() {
        let mut total = Tally::default();
        let mut client = Tally::default();
        for n in 0..5 {
            client.error(format!("e{n}"));
        }
        client.refused = 2;
        total.merge(client);
        let mut other = Tally::default();
        other.error("x".into());
        total.merge(other);
        assert_eq!(total.errors, 6);
        assert_eq!(total.refused, 2);
        assert_eq!(total.error_samples.len(), ERRORS_SHOWN);
    }
}
