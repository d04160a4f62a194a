//! The fan-out benchmark (DESIGN.md §8): N WebSocket subscribers watch one doctor; a patient
//! holds one of the doctor's free slots, and the benchmark times how long after the hold's HTTP
//! response the `held` event reaches each subscriber. It then releases the hold (so the
//! patient's hold limit is never reached) and times the `available` events the same way.
//!
//! It also reads the server's resident memory before connecting and after every subscriber is
//! acknowledged, giving the memory one idle subscription costs.
//!
//! Each subscriber is one task that only reads: it notes the [`Instant`] a frame arrived
//! before doing anything else, parses JSON only of text frames, and sends what it saw to the
//! one collecting task over a channel sized so that it never waits for room during a round.
//! An event can arrive before the hold's response has been read (the server publishes on
//! commit, then answers): its latency is counted as zero and the report says how many did.

mod display;
mod feed;
mod tally;

use std::time::{Duration, Instant};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::api::{Api, Doctor, Hold, HoldAttempt};
use crate::error::{BenchError, BenchResult};
use crate::report::{millis, round2};
use crate::stats::LatencySummary;
use crate::target::{Backend, Target};
use feed::{Expected, Feed};
use tally::Tally;

/// The feed's path on the server.
const FEED_PATH: &str = "/api/v1/ws";
/// How long one subscriber may take to connect and be acknowledged once its turn has come.
const SUBSCRIBE_PATIENCE: Duration = Duration::from_secs(60);
/// How many days of slots are searched for free ones.
const SLOT_SEARCH_DAYS: u16 = 14;
/// File descriptors this process needs besides one per subscriber (runtime, HTTP client, log).
const SPARE_FILES: u64 = 64;
/// Each subscriber reads small frames: a small read buffer keeps 10,000 of them cheap.
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// Options of `medibook-bench fanout`.
#[derive(Clone, Debug, clap::Args)]
pub struct FanoutArgs {
    /// WebSocket connections, all subscribed to the same doctor.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub subscribers: u32,
    /// Holds made (each then released) while everyone listens.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// Connections being opened at once.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub connect_concurrency: u32,
    /// How long one round waits for its event at every subscriber, in seconds.
    #[arg(long, default_value_t = 30)]
    pub event_timeout: u64,
}

/// The figures of one fan-out run. The JSON keys are a contract for scripts: `subscribers`,
/// `p50_ms`, `p99_ms`, `max_ms`, `rss_mb`, `rss_per_connection_kb`, `missed`, `rounds`, then
/// extras.
#[derive(Debug, Serialize)]
pub struct FanoutReport {
    /// Subscribers connected and acknowledged.
    pub subscribers: usize,
    /// Hold response → `held` event, median over every subscriber and round.
    pub p50_ms: f64,
    /// … 99th percentile.
    pub p99_ms: f64,
    /// … slowest.
    pub max_ms: f64,
    /// Server resident memory with every subscriber connected, in MB (10^6 bytes); `null`
    /// when the server's process is unknown.
    pub rss_mb: Option<f64>,
    /// Growth of the server's resident memory from before connecting, per subscriber, in KB
    /// (10^3 bytes).
    pub rss_per_connection_kb: Option<f64>,
    /// Expected events (held and available, all rounds) some subscriber never got in time.
    pub missed: usize,
    /// Holds made.
    pub rounds: usize,
    /// `resync` messages received (each means the feed dropped events for that subscriber).
    pub resyncs: usize,
    /// Subscribers whose connection ended during the rounds.
    pub disconnected: usize,
    /// `held` events that arrived before the hold's response had been read (counted as 0 ms).
    pub early_events: usize,
    /// Release response → `available` event, median.
    pub release_p50_ms: f64,
    /// … 99th percentile.
    pub release_p99_ms: f64,
    /// … slowest.
    pub release_max_ms: f64,
    /// Hold *request* sent → `held` event, median: the whole time until every subscriber
    /// knows, including the hold's own processing (never clamped).
    pub since_request_p50_ms: f64,
    /// … 99th percentile.
    pub since_request_p99_ms: f64,
    /// … slowest.
    pub since_request_max_ms: f64,
    /// First `held` arrival of a round → each arrival, median: how long the fan-out itself
    /// takes to reach everyone once the first subscriber has the event.
    pub spread_p50_ms: f64,
    /// … 99th percentile.
    pub spread_p99_ms: f64,
    /// … slowest.
    pub spread_max_ms: f64,
    /// Hold request → its response, median over rounds (the response waits behind the fan-out
    /// when both compete for the same cores).
    pub hold_response_p50_ms: f64,
    /// … slowest.
    pub hold_response_max_ms: f64,
    /// Time to connect and subscribe everyone, in seconds.
    pub connect_seconds: f64,
    /// The server's database.
    pub backend: Backend,
    /// The doctor watched.
    #[serde(skip)]
    pub doctor: String,
    /// Server resident memory before connecting, in MB.
    #[serde(skip)]
    pub rss_before_mb: Option<f64>,
    /// Connections opened at once.
    #[serde(skip)]
    pub connect_concurrency: u32,
}

/// Runs the benchmark against `target`.
pub async fn run(target: &Target, args: &FanoutArgs) -> BenchResult<FanoutReport> {
    let subscribers = usize::try_from(args.subscribers)
        .map_err(|_| BenchError::Usage("too many subscribers for this machine".into()))?;
    let rounds = usize::try_from(args.rounds)
        .map_err(|_| BenchError::Usage("too many rounds for this machine".into()))?;
    let needed_files = u64::from(args.subscribers) + SPARE_FILES;
    if target.open_file_limit < needed_files {
        return Err(BenchError::Usage(format!(
            "{} subscribers need about {needed_files} open files, but this process may open \
             only {} (its hard limit): raise it (ulimit -Hn, or LimitNOFILE)",
            args.subscribers, target.open_file_limit
        )));
    }

    let token = target.patient_token().await?;
    let (doctor, free_slots) = doctor_with_free_slots(&target.api, rounds).await?;
    eprintln!(
        "fanout: watching {} ({} free slots); connecting {subscribers} subscribers…",
        doctor.name,
        free_slots.len()
    );

    let rss_before = target.server_rss().transpose()?;
    let connect_started = Instant::now();
    let (mut feed, mut tasks) = Feed::connect(target, &doctor, args).await?;
    let connect_seconds = connect_started.elapsed();
    // Let the server finish whatever the last handshakes started before reading its memory.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_after = target.server_rss().transpose()?;
    eprintln!(
        "fanout: {subscribers} subscribed in {:.1} s; {rounds} rounds…",
        connect_seconds.as_secs_f64()
    );

    let mut tally = Tally::new(subscribers);
    let mut slots = free_slots
        .iter()
        .copied()
        .cycle()
        .take(free_slots.len().saturating_mul(rounds));
    let patience = Duration::from_secs(args.event_timeout);
    for _ in 0..rounds {
        let requested_at = Instant::now();
        let (hold, answered_at) = hold_next_free(&target.api, &token, &doctor, &mut slots).await?;
        let held = feed
            .collect(Expected::new("held", hold.start, requested_at), patience)
            .await;
        tally.add_held(&held, requested_at, answered_at);

        let requested_at = Instant::now();
        let answered_at = target.api.release(&token, &hold.id).await?;
        let available = feed
            .collect(
                Expected::new("available", hold.start, requested_at),
                patience,
            )
            .await;
        tally.add_available(&available, answered_at);
    }
    tasks.abort_all();

    let held = LatencySummary::of(&mut tally.held).unwrap_or(ZERO_SUMMARY);
    let since_request = LatencySummary::of(&mut tally.held_since_request).unwrap_or(ZERO_SUMMARY);
    let released = LatencySummary::of(&mut tally.available).unwrap_or(ZERO_SUMMARY);
    let spread = LatencySummary::of(&mut tally.held_spread).unwrap_or(ZERO_SUMMARY);
    let hold_response = LatencySummary::of(&mut tally.hold_responses).unwrap_or(ZERO_SUMMARY);
    let per_connection = match (rss_before, rss_after) {
        (Some(before), Some(after)) => Some(per_connection_kb(before, after, subscribers)),
        _ => None,
    };
    Ok(FanoutReport {
        subscribers,
        p50_ms: millis(held.p50),
        p99_ms: millis(held.p99),
        max_ms: millis(held.max),
        rss_mb: rss_after.map(megabytes),
        rss_per_connection_kb: per_connection,
        missed: tally.missed,
        rounds,
        resyncs: feed.resyncs,
        disconnected: feed.disconnected(),
        early_events: tally.early,
        release_p50_ms: millis(released.p50),
        release_p99_ms: millis(released.p99),
        release_max_ms: millis(released.max),
        since_request_p50_ms: millis(since_request.p50),
        since_request_p99_ms: millis(since_request.p99),
        since_request_max_ms: millis(since_request.max),
        spread_p50_ms: millis(spread.p50),
        spread_p99_ms: millis(spread.p99),
        spread_max_ms: millis(spread.max),
        hold_response_p50_ms: millis(hold_response.p50),
        hold_response_max_ms: millis(hold_response.max),
        connect_seconds: round2(connect_seconds.as_secs_f64()),
        backend: target.backend,
        doctor: doctor.name,
        rss_before_mb: rss_before.map(megabytes),
        connect_concurrency: args.connect_concurrency,
    })
}

const ZERO_SUMMARY: LatencySummary = LatencySummary {
    count: 0,
    p50: Duration::ZERO,
    p99: Duration::ZERO,
    max: Duration::ZERO,
};

/// The first doctor with at least `wanted` free slots in the coming two weeks (or the one with
/// the most), and those slots' starts.
async fn doctor_with_free_slots(api: &Api, wanted: usize) -> BenchResult<(Doctor, Vec<Timestamp>)> {
    let now = Timestamp::now();
    let today = now.to_zoned(TimeZone::UTC).date();
    let mut best: Option<(Doctor, Vec<Timestamp>)> = None;
    for doctor in api.doctors().await? {
        if doctor.next_free_slot.is_none() {
            continue;
        }
        let free: Vec<Timestamp> = api
            .slots(&doctor.id, today, SLOT_SEARCH_DAYS)
            .await?
            .into_iter()
            .filter(|slot| slot.status == "available" && slot.start > now)
            .map(|slot| slot.start)
            .collect();
        if free.len() >= wanted {
            return Ok((doctor, free));
        }
        if best
            .as_ref()
            .is_none_or(|(_, most)| free.len() > most.len())
        {
            best = Some((doctor, free));
        }
    }
    match best {
        Some((doctor, free)) if !free.is_empty() => Ok((doctor, free)),
        _ => Err(BenchError::Data(format!(
            "no doctor has a free slot in the next {SLOT_SEARCH_DAYS} days (was the server \
             started with --demo?)"
        ))),
    }
}

/// Holds the next slot of `slots` that can be held, skipping refused ones (taken meanwhile,
/// inside the doctor's notice, day full).
async fn hold_next_free(
    api: &Api,
    token: &str,
    doctor: &Doctor,
    slots: &mut impl Iterator<Item = Timestamp>,
) -> BenchResult<(Hold, Instant)> {
    let mut last_refusal = String::from("no slot left to try");
    for start in slots.by_ref() {
        match api.hold(token, &doctor.id, start).await? {
            HoldAttempt::Held { hold, answered_at } => return Ok((hold, answered_at)),
            HoldAttempt::Refused { status, body } => last_refusal = format!("{status} {body}"),
        }
    }
    Err(BenchError::Data(format!(
        "none of {}'s free slots could be held; the last refusal: {last_refusal}",
        doctor.name
    )))
}

fn megabytes(bytes: u64) -> f64 {
    round2(bytes as f64 / 1e6)
}

/// Growth from `before` to `after` per subscriber, in KB; negative if the server shrank.
fn per_connection_kb(before: u64, after: u64, subscribers: usize) -> f64 {
    let growth = after as f64 - before as f64;
    round2(growth / 1e3 / subscribers.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_per_connection_is_the_growth_shared_out() {
        assert_eq!(per_connection_kb(10_000_000, 30_000_000, 1000), 20.0);
        assert_eq!(megabytes(52_345_678), 52.35);
    }
}
