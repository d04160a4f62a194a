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
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpStream;
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use crate::api::Doctor;
use crate::error::{BenchError, BenchResult};
use crate::report::millis;
use crate::stats::LatencySummary;
use crate::supply::{at_most, free_slots, sign_in_patients};
use crate::target::{Backend, Target};

/// Days of slots searched for free ones.
const SLOT_SEARCH_DAYS: u16 = 14;
/// File descriptors this process needs besides one per client (runtime, HTTP client, log).
const SPARE_FILES: u64 = 64;
/// Connections being opened at once (the listen backlog is finite).
const CONNECT_CONCURRENCY: usize = 200;
/// Errors described in the human summary.
const ERRORS_SHOWN: usize = 3;

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

/// One client's HTTP/1.1 connection, used for one request at a time.
type Connection = SendRequest<Full<Bytes>>;

/// Opens `count` connections to `address`, each proven live by one `GET /healthz`.
async fn open_connections(address: &str, count: usize) -> BenchResult<Vec<Connection>> {
    at_most(CONNECT_CONCURRENCY, count, |_| async move {
        let mut connection = connect(address).await?;
        let request = request(Method::GET, address, "/healthz", None, Bytes::new())?;
        let (status, _) = exchange(&mut connection, request).await?;
        if status != 200 {
            return Err(BenchError::Unexpected {
                call: "GET /healthz".into(),
                status,
                body: String::new(),
            });
        }
        Ok(connection)
    })
    .await
}

/// An HTTP/1.1 connection to `address`, its driver running on its own task.
async fn connect(address: &str) -> BenchResult<Connection> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|e| BenchError::io(format!("cannot connect to {address}"), e))?;
    stream
        .set_nodelay(true)
        .map_err(|e| BenchError::io("cannot set TCP_NODELAY", e))?;
    let (sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| BenchError::Feed(format!("HTTP/1.1 handshake failed: {e}")))?;
    // The driver ends with the connection; its error shows up in the next request's.
    tokio::spawn(async move {
        let _ = driver.await;
    });
    Ok(sender)
}

/// A request to `path` with the headers a browser's fetch would send.
fn request(
    method: Method,
    address: &str,
    path: &str,
    token: Option<&str>,
    body: Bytes,
) -> BenchResult<Request<Full<Bytes>>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, address);
    if let Some(token) = token {
        builder = builder
            .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
            .header(hyper::header::CONTENT_TYPE, "application/json");
    }
    builder
        .body(Full::new(body))
        .map_err(|e| BenchError::Usage(format!("cannot build a request: {e}")))
}

/// Sends `request` on `connection` and reads the whole response.
async fn exchange(
    connection: &mut Connection,
    request: Request<Full<Bytes>>,
) -> BenchResult<(u16, Bytes)> {
    let failed = |e: &dyn fmt::Display| BenchError::Feed(format!("HTTP/1.1 exchange failed: {e}"));
    connection.ready().await.map_err(|e| failed(&e))?;
    let response = connection
        .send_request(request)
        .await
        .map_err(|e| failed(&e))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| failed(&e))?
        .to_bytes();
    Ok((status, body))
}

/// One client's hold request and what came of it.
#[derive(Debug)]
struct Outcome {
    client: usize,
    sent_at: Instant,
    answered_at: Instant,
    answer: Answer,
}

/// How the server answered one hold request.
#[derive(Debug)]
enum Answer {
    /// 201, with the hold's id.
    Won(String),
    /// A clean `409 slot_taken` problem document.
    Taken,
    /// Anything else, described.
    Failed(String),
}

/// One round: every client holds `start` at once. Returns every outcome and the instant the
/// barrier let them go.
async fn contend(
    connections: &mut Vec<Connection>,
    tokens: &[String],
    address: &str,
    doctor: &Doctor,
    start: Timestamp,
    timeout: Duration,
) -> BenchResult<(Vec<Outcome>, Instant)> {
    let body = Bytes::from(
        serde_json::to_vec(&json!({ "doctor_id": doctor.id, "start": start }))
            .map_err(|e| BenchError::Data(format!("cannot encode a hold request: {e}")))?,
    );
    let barrier = Arc::new(Barrier::new(connections.len() + 1));
    let mut tasks = JoinSet::new();
    for (client, (mut connection, token)) in connections.drain(..).zip(tokens).enumerate() {
        let hold = request(
            Method::POST,
            address,
            "/api/v1/holds",
            Some(token),
            body.clone(),
        )?;
        let warm_up = request(
            Method::GET,
            address,
            "/api/v1/me",
            Some(token),
            Bytes::new(),
        )?;
        let barrier = Arc::clone(&barrier);
        tasks.spawn(async move {
            // A patient who is about to click "hold" has just loaded a page: their session was
            // seen within the minute, so the hold does not also refresh it (a write). The answer
            // also proves the connection is live before joining the others.
            let ready = match exchange(&mut connection, warm_up).await {
                Ok((200, _)) => Ok(()),
                Ok((status, body)) => Err(format!(
                    "GET /api/v1/me answered {status}: {}",
                    String::from_utf8_lossy(&body)
                )),
                Err(e) => Err(e.to_string()),
            };
            barrier.wait().await;
            let sent_at = Instant::now();
            let answer = match ready {
                Err(e) => Answer::Failed(format!("before sending: {e}")),
                Ok(()) => {
                    match tokio::time::timeout(timeout, exchange(&mut connection, hold)).await {
                        Err(_) => Answer::Failed(format!("no answer within {timeout:?}")),
                        Ok(Err(e)) => Answer::Failed(e.to_string()),
                        Ok(Ok((status, body))) => classify(status, &body),
                    }
                }
            };
            let outcome = Outcome {
                client,
                sent_at,
                answered_at: Instant::now(),
                answer,
            };
            (outcome, connection)
        });
    }
    barrier.wait().await;
    let released_at = Instant::now();

    let mut outcomes = Vec::with_capacity(tokens.len());
    let mut returned = Vec::with_capacity(tokens.len());
    while let Some(joined) = tasks.join_next().await {
        let (outcome, connection) =
            joined.map_err(|e| BenchError::Data(format!("a client task failed: {e}")))?;
        returned.push((outcome.client, connection));
        outcomes.push(outcome);
    }
    // Give every client its own connection back, in client order, for the next round.
    returned.sort_by_key(|(client, _)| *client);
    connections.extend(returned.into_iter().map(|(_, connection)| connection));
    // The barrier's release is noted after waking; a client may have sent a little earlier.
    let released_at = outcomes
        .iter()
        .map(|outcome| outcome.sent_at)
        .min()
        .map_or(released_at, |first| first.min(released_at));
    Ok((outcomes, released_at))
}

/// The fields of a hold or problem answer the benchmark reads.
#[derive(Debug, Deserialize)]
struct Answered {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

/// What a hold answer means: 201 wins, a `409` problem with `slot_taken` is a clean conflict,
/// anything else is an error.
fn classify(status: u16, body: &[u8]) -> Answer {
    let parsed = serde_json::from_slice::<Answered>(body).ok();
    match (status, parsed) {
        (201, Some(Answered { id: Some(id), .. })) => Answer::Won(id),
        (
            409,
            Some(Answered {
                code: Some(code), ..
            }),
        ) if code == "slot_taken" => Answer::Taken,
        _ => Answer::Failed(format!(
            "{status}: {}",
            String::from_utf8_lossy(body)
                .chars()
                .take(200)
                .collect::<String>()
        )),
    }
}

/// Outcomes and latencies over the rounds.
#[derive(Debug, Default)]
struct Tally {
    winners: usize,
    conflicts: usize,
    errors: usize,
    latencies: Vec<Duration>,
    since_release: Vec<Duration>,
    slowest_round: Duration,
    error_samples: Vec<String>,
}

impl Tally {
    /// Counts one round; returns its winner, if exactly one client won.
    fn add(&mut self, outcomes: &[Outcome], released_at: Instant) -> Option<(usize, String)> {
        let mut winners = Vec::new();
        for outcome in outcomes {
            self.latencies.push(
                outcome
                    .answered_at
                    .saturating_duration_since(outcome.sent_at),
            );
            let since_release = outcome.answered_at.saturating_duration_since(released_at);
            self.since_release.push(since_release);
            self.slowest_round = self.slowest_round.max(since_release);
            match &outcome.answer {
                Answer::Won(hold_id) => {
                    self.winners += 1;
                    winners.push((outcome.client, hold_id.clone()));
                }
                Answer::Taken => self.conflicts += 1,
                Answer::Failed(reason) => {
                    self.errors += 1;
                    if self.error_samples.len() < ERRORS_SHOWN {
                        self.error_samples.push(reason.clone());
                    }
                }
            }
        }
        match winners.as_slice() {
            [winner] => Some(winner.clone()),
            _ => None,
        }
    }
}

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
