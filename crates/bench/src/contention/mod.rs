//! The contention benchmark: N signed-in patients ask for the same slot at the same instant.
//! Exactly one may hold it; every other must get a clean `409 slot_taken`, quickly.
//!
//! Everything slow is done before the measured moment: the patients are signed in, and each
//! client opens its own HTTP/1.1 connection and uses it (`GET /healthz`), so the server has
//! accepted all N before anyone asks. Before each round every client loads its profile
//! (`GET /api/v1/me`), as the page it would click on did, then waits at a barrier; when the
//! last one arrives they all send. A request's latency runs from just before
//! its own send to the end of its response; the report also gives the time from the barrier's
//! release, which includes the client side's own scheduling of N sends on the same cores.
//!
//! After each round the benchmark checks through the API that the slot is held, by the
//! winner's hold, and releases it; `--rounds` repeats on other slots of the same doctor.

use std::fmt;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::api::Doctor;
use crate::error::{BenchError, BenchResult};
use crate::report::millis;
use crate::stats::LatencySummary;
use crate::supply::{free_slots, sign_in_patients};
use crate::target::{Backend, Target};

mod round;
mod wire;

use round::*;
use wire::*;

/// Days of slots searched for free ones.
const SLOT_SEARCH_DAYS: u16 = 14;
/// File descriptors this process needs besides one per client (runtime, HTTP client, log).
const SPARE_FILES: u64 = 64;
/// Connections being opened at once (the listen backlog is finite).
pub(super) const CONNECT_CONCURRENCY: usize = 200;
/// Errors described in the human summary.
pub(super) const ERRORS_SHOWN: usize = 3;

/// Options of `medibook-bench contention`.
#[derive(Clone, Debug, clap::Args)]
pub struct ContentionArgs {
    /// Patients asking for the same slot at once, each on its own connection.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(2..))]
    pub clients: u32,
    /// Rounds, each on another free slot of the same doctor (percentiles over all of them).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// Patients being signed in at once before the measured phase.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub sign_in_concurrency: u32,
    /// How long one hold request may take before it counts as an error, in seconds.
    #[arg(long, default_value_t = 60)]
    pub request_timeout: u64,
}

/// The settings of the benchmark's own server: N patients sign in from one address, more than
/// the default `codes_per_ip_per_hour` (100) allows. Holds are released after every round, so
/// no other limit is reached.
pub fn server_settings(args: &ContentionArgs) -> Vec<(&'static str, String)> {
    let codes = u64::from(args.clients).saturating_mul(2).max(100);
    vec![("MEDIBOOK_CODES_PER_IP_PER_HOUR", codes.to_string())]
}

/// The figures of one contention run. The JSON keys are a contract for scripts: `clients`,
/// `winners`, `conflicts`, `errors`, `p50_ms`, `p99_ms` first, then extras.
#[derive(Debug, Serialize)]
pub struct ContentionReport {
    /// Patients asking at once (in every round).
    pub clients: usize,
    /// `201 Created` answers, over all rounds (one per round when the invariant holds).
    pub winners: usize,
    /// `409` problem documents with the code `slot_taken`, over all rounds.
    pub conflicts: usize,
    /// Anything else: other statuses (5xx, 429, other 409s), transport errors, timeouts.
    pub errors: usize,
    /// Send → whole response, median over every request of every round.
    pub p50_ms: f64,
    /// … 99th percentile.
    pub p99_ms: f64,
    /// … slowest.
    pub max_ms: f64,
    /// Rounds run.
    pub rounds: usize,
    /// Barrier released → whole response, median (includes the client's own scheduling).
    pub since_release_p50_ms: f64,
    /// … 99th percentile.
    pub since_release_p99_ms: f64,
    /// … slowest.
    pub since_release_max_ms: f64,
    /// Barrier released → the last response of a round, slowest round.
    pub round_ms: f64,
    /// Whether, after every round, the API showed the slot held by the winner's active hold.
    pub verified: bool,
    /// The server's database.
    pub backend: Backend,
    /// The doctor whose slots were contended.
    #[serde(skip)]
    pub doctor: String,
    /// The first few errors, described.
    #[serde(skip)]
    pub error_samples: Vec<String>,
    /// Time to sign everyone in, in seconds.
    #[serde(skip)]
    pub sign_in_seconds: f64,
}

/// Runs the benchmark against `target`.
pub async fn run(target: &Target, args: &ContentionArgs) -> BenchResult<ContentionReport> {
    let clients = usize::try_from(args.clients)
        .map_err(|_| BenchError::Usage("too many clients for this machine".into()))?;
    let rounds = usize::try_from(args.rounds)
        .map_err(|_| BenchError::Usage("too many rounds for this machine".into()))?;
    let needed_files = u64::from(args.clients) + SPARE_FILES;
    if target.open_file_limit < needed_files {
        return Err(BenchError::Usage(format!(
            "{clients} clients need about {needed_files} open files, but this process may open \
             only {} (its hard limit): raise it (ulimit -Hn, or LimitNOFILE)",
            target.open_file_limit
        )));
    }
    let address = target
        .base_url
        .strip_prefix("http://")
        .ok_or_else(|| {
            BenchError::Usage(format!(
                "contention speaks plain HTTP/1.1; {} is not an http:// URL",
                target.base_url
            ))
        })?
        .to_owned();

    let doctor_slots = free_slots(&target.api, SLOT_SEARCH_DAYS)
        .await?
        .into_iter()
        .max_by_key(|free| free.starts.len())
        .filter(|free| free.starts.len() >= rounds)
        .ok_or_else(|| {
            BenchError::Data(format!(
                "no doctor has {rounds} free slots in the next {SLOT_SEARCH_DAYS} days (was the \
                 server started with --demo?)"
            ))
        })?;
    let doctor = doctor_slots.doctor;

    eprintln!("contention: signing in {clients} patients…");
    let signing_in = Instant::now();
    let concurrency = usize::try_from(args.sign_in_concurrency).unwrap_or(1);
    let tokens = sign_in_patients(target, "contention", clients, concurrency).await?;
    let sign_in_seconds = signing_in.elapsed().as_secs_f64();

    eprintln!("contention: opening {clients} connections…");
    let mut connections = open_connections(&address, clients).await?;

    let timeout = Duration::from_secs(args.request_timeout);
    let mut tally = Tally::default();
    let mut verified = true;
    for (round, start) in doctor_slots.starts.iter().take(rounds).enumerate() {
        eprintln!(
            "contention: round {} of {rounds}: {clients} patients hold {} of {} at once…",
            round + 1,
            start,
            doctor.name
        );
        let (outcomes, released_at) = contend(
            &mut connections,
            &tokens,
            &address,
            &doctor,
            *start,
            timeout,
        )
        .await?;
        let winner = tally.add(&outcomes, released_at);
        verified &= verify_and_release(target, &doctor, *start, winner, &tokens).await?;
    }

    let requests = LatencySummary::of(&mut tally.latencies).unwrap_or(ZERO_SUMMARY);
    let since_release = LatencySummary::of(&mut tally.since_release).unwrap_or(ZERO_SUMMARY);
    Ok(ContentionReport {
        clients,
        winners: tally.winners,
        conflicts: tally.conflicts,
        errors: tally.errors,
        p50_ms: millis(requests.p50),
        p99_ms: millis(requests.p99),
        max_ms: millis(requests.max),
        rounds,
        since_release_p50_ms: millis(since_release.p50),
        since_release_p99_ms: millis(since_release.p99),
        since_release_max_ms: millis(since_release.max),
        round_ms: millis(tally.slowest_round),
        verified,
        backend: target.backend,
        doctor: doctor.name,
        error_samples: tally.error_samples,
        sign_in_seconds,
    })
}

const ZERO_SUMMARY: LatencySummary = LatencySummary {
    count: 0,
    p50: Duration::ZERO,
    p99: Duration::ZERO,
    max: Duration::ZERO,
};

/// Checks through the API that the slot at `start` is held, and held by the winner's active
/// hold; then releases it. `false` when there was no single winner or the API disagrees.
async fn verify_and_release(
    target: &Target,
    doctor: &Doctor,
    start: Timestamp,
    winner: Option<(usize, String)>,
    tokens: &[String],
) -> BenchResult<bool> {
    let date = start.to_zoned(TimeZone::UTC).date();
    let from = date.yesterday().unwrap_or(date);
    let listed = target
        .api
        .slots(&doctor.id, from, 3)
        .await?
        .into_iter()
        .find(|slot| slot.start == start)
        .map(|slot| slot.status);
    let Some((client, hold_id)) = winner else {
        eprintln!("contention: no single winner; the slot is listed as {listed:?}");
        return Ok(false);
    };
    let token = tokens
        .get(client)
        .ok_or_else(|| BenchError::Data("a winner without a token".into()))?;
    let hold = target.api.hold_of(token, &hold_id).await?;
    let held_by_winner = hold.state == "active" && hold.start == start;
    let listed_held = listed.as_deref() == Some("held");
    if !(held_by_winner && listed_held) {
        eprintln!(
            "contention: the slot is listed as {listed:?}; the winner's hold is {} at {}",
            hold.state, hold.start
        );
    }
    target.api.release(token, &hold_id).await?;
    Ok(held_by_winner && listed_held)
}

impl fmt::Display for ContentionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = match self.backend {
            Backend::Sqlite => "server started here on SQLite",
            Backend::Postgres => "server started here on PostgreSQL",
            Backend::Remote => "server at --url",
        };
        writeln!(f, "contention for one slot ({backend})")?;
        row(
            f,
            "clients",
            &format!(
                "{} patients of {}, each on its own connection (signed in in {:.1} s)",
                self.clients, self.doctor, self.sign_in_seconds
            ),
        )?;
        row(
            f,
            "rounds",
            &format!(
                "{} (all hold one slot at once, then it is released)",
                self.rounds
            ),
        )?;
        row(
            f,
            "outcome",
            &format!(
                "{} won, {} conflicts (409 slot_taken), {} errors",
                self.winners, self.conflicts, self.errors
            ),
        )?;
        for sample in &self.error_samples {
            row(f, "", &format!("error: {sample}"))?;
        }
        row(
            f,
            "send → response",
            &format!(
                "p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
                self.p50_ms, self.p99_ms, self.max_ms
            ),
        )?;
        row(
            f,
            "release → response",
            &format!(
                "p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms   (all answered in {:.2} ms)",
                self.since_release_p50_ms,
                self.since_release_p99_ms,
                self.since_release_max_ms,
                self.round_ms
            ),
        )?;
        write!(
            f,
            "  {:<30}{}",
            "held by exactly one patient",
            if self.verified {
                "yes (slot listed as held; the winner's hold is active)"
            } else {
                "NO"
            }
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
    fn only_a_slot_taken_problem_is_a_conflict() {
        let taken =
            br#"{"type":"urn:medibook:problem:slot_taken","status":409,"code":"slot_taken"}"#;
        assert!(matches!(classify(409, taken), Answer::Taken));
        let limit = br#"{"status":409,"code":"limit_reached"}"#;
        assert!(matches!(classify(409, limit), Answer::Failed(_)));
        assert!(matches!(
            classify(429, br#"{"code":"slot_taken"}"#),
            Answer::Failed(_)
        ));
        assert!(matches!(classify(500, b"oops"), Answer::Failed(_)));
    }

    #[test]
    fn a_created_hold_wins_with_its_id() {
        let created = br#"{"id":"0195b6a0-0000-7000-8000-000000000001","state":"active"}"#;
        assert!(
            matches!(classify(201, created), Answer::Won(id) if id == "0195b6a0-0000-7000-8000-000000000001")
        );
        assert!(matches!(classify(200, created), Answer::Failed(_)));
    }

    fn outcome(client: usize, answer: Answer, at: Instant, ms: u64) -> Outcome {
        Outcome {
            client,
            sent_at: at,
            answered_at: at + Duration::from_millis(ms),
            answer,
        }
    }

    #[test]
    fn a_round_has_a_winner_only_when_exactly_one_client_won() {
        let at = Instant::now();
        let mut tally = Tally::default();
        let one = [
            outcome(0, Answer::Taken, at, 3),
            outcome(1, Answer::Won("h".into()), at, 2),
            outcome(2, Answer::Failed("503".into()), at, 9),
        ];
        assert_eq!(tally.add(&one, at), Some((1, "h".into())));
        assert_eq!((tally.winners, tally.conflicts, tally.errors), (1, 1, 1));
        assert_eq!(tally.slowest_round, Duration::from_millis(9));

        let two = [
            outcome(0, Answer::Won("a".into()), at, 1),
            outcome(1, Answer::Won("b".into()), at, 1),
        ];
        assert_eq!(tally.add(&two, at), None, "two winners are no winner");
        assert_eq!(tally.winners, 3);
    }
}
