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

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::api::{Api, Doctor, Hold, HoldAttempt};
use crate::error::{BenchError, BenchResult};
use crate::report::{millis, round2};
use crate::stats::LatencySummary;
use crate::target::{Backend, Target};

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

/// Latencies and misses gathered over the rounds.
#[derive(Debug)]
struct Tally {
    subscribers: usize,
    held: Vec<Duration>,
    held_since_request: Vec<Duration>,
    /// Each `held` arrival after the round's first one: the spread of the fan-out itself.
    held_spread: Vec<Duration>,
    /// Hold request → its response.
    hold_responses: Vec<Duration>,
    available: Vec<Duration>,
    missed: usize,
    early: usize,
}

impl Tally {
    fn new(subscribers: usize) -> Self {
        Self {
            subscribers,
            held: Vec::new(),
            held_since_request: Vec::new(),
            held_spread: Vec::new(),
            hold_responses: Vec::new(),
            available: Vec::new(),
            missed: 0,
            early: 0,
        }
    }

    fn add_held(&mut self, arrivals: &[Instant], requested_at: Instant, answered_at: Instant) {
        self.early += arrivals.iter().filter(|at| **at < answered_at).count();
        Self::add(&mut self.held, arrivals, answered_at);
        Self::add(&mut self.held_since_request, arrivals, requested_at);
        if let Some(first) = arrivals.iter().min() {
            Self::add(&mut self.held_spread, arrivals, *first);
        }
        self.hold_responses
            .push(answered_at.saturating_duration_since(requested_at));
        self.missed += self.subscribers.saturating_sub(arrivals.len());
    }

    fn add_available(&mut self, arrivals: &[Instant], answered_at: Instant) {
        Self::add(&mut self.available, arrivals, answered_at);
        self.missed += self.subscribers.saturating_sub(arrivals.len());
    }

    /// Latencies from `answered_at`; an event that beat the response counts as zero.
    fn add(latencies: &mut Vec<Duration>, arrivals: &[Instant], answered_at: Instant) {
        latencies.extend(
            arrivals
                .iter()
                .map(|at| at.saturating_duration_since(answered_at)),
        );
    }
}

/// A slot event the round waits for.
#[derive(Clone, Copy, Debug)]
struct Expected {
    status: &'static str,
    start: Timestamp,
    /// Arrivals before the request was sent belong to an earlier round.
    not_before: Instant,
}

impl Expected {
    fn new(status: &'static str, start: Timestamp, not_before: Instant) -> Self {
        Self {
            status,
            start,
            not_before,
        }
    }

    fn matches(&self, status: SlotStatus, start: Timestamp, at: Instant) -> bool {
        status.as_str() == self.status && start == self.start && at >= self.not_before
    }
}

/// The N subscribers as the collecting task sees them.
struct Feed {
    arrivals: mpsc::Receiver<Arrival>,
    subscribers: usize,
    connected: Vec<bool>,
    resyncs: usize,
}

impl Feed {
    /// Connects `args.subscribers` subscribers to `doctor`, `args.connect_concurrency` at a
    /// time, and waits until every one is acknowledged. Dropping the returned tasks ends the
    /// subscribers and closes their connections.
    async fn connect(
        target: &Target,
        doctor: &Doctor,
        args: &FanoutArgs,
    ) -> BenchResult<(Self, JoinSet<()>)> {
        let subscribers = usize::try_from(args.subscribers)
            .map_err(|_| BenchError::Usage("too many subscribers".into()))?;
        let connect_slots = usize::try_from(args.connect_concurrency)
            .map_err(|_| BenchError::Usage("connect concurrency too large".into()))?;
        // Room for every subscriber's two events of a round and its connection outcome: a
        // subscriber never waits for the collector.
        let (sender, arrivals) = mpsc::channel(subscribers.saturating_mul(3).saturating_add(64));
        let turns = Arc::new(Semaphore::new(connect_slots));
        let url = target.ws_url(FEED_PATH);
        let subscribe =
            serde_json::json!({ "type": "subscribe", "doctor_ids": [doctor.id] }).to_string();
        let mut tasks = JoinSet::new();
        for index in 0..subscribers {
            let subscriber = Subscriber {
                index,
                arrivals: sender.clone(),
            };
            let turns = Arc::clone(&turns);
            let url = url.clone();
            let subscribe = subscribe.clone();
            tasks.spawn(async move {
                let socket = {
                    let Ok(_turn) = turns.acquire_owned().await else {
                        return;
                    };
                    let joined =
                        tokio::time::timeout(SUBSCRIBE_PATIENCE, join(&url, subscribe)).await;
                    let failure = match joined {
                        Ok(Ok(socket)) => Ok(socket),
                        Ok(Err(reason)) => Err(reason),
                        Err(_) => Err(format!("not acknowledged within {SUBSCRIBE_PATIENCE:?}")),
                    };
                    match failure {
                        Ok(socket) => socket,
                        Err(reason) => {
                            subscriber.report(Event::Failed(reason)).await;
                            return;
                        }
                    }
                };
                subscriber.listen(socket).await;
            });
        }
        drop(sender);

        let mut feed = Self {
            arrivals,
            subscribers,
            connected: vec![false; subscribers],
            resyncs: 0,
        };
        let mut outcomes = 0;
        let mut failures = Vec::new();
        while outcomes < subscribers {
            let Some(arrival) = feed.arrivals.recv().await else {
                break;
            };
            match arrival.event {
                Event::Subscribed => {
                    outcomes += 1;
                    if let Some(connected) = feed.connected.get_mut(arrival.subscriber) {
                        *connected = true;
                    }
                }
                Event::Failed(reason) => {
                    outcomes += 1;
                    failures.push(reason);
                }
                other => feed.note(arrival.subscriber, &other),
            }
        }
        if let Some(first) = failures.first() {
            return Err(BenchError::Feed(format!(
                "{} of {subscribers} subscribers could not subscribe; the first: {first}",
                failures.len()
            )));
        }
        if outcomes < subscribers {
            return Err(BenchError::Feed(
                "subscriber tasks ended without reporting".into(),
            ));
        }
        Ok((feed, tasks))
    }

    /// The arrival instants of `expected`, at most one per subscriber, until every connected
    /// subscriber has it or `patience` has passed.
    async fn collect(&mut self, expected: Expected, patience: Duration) -> Vec<Instant> {
        let deadline = tokio::time::Instant::now() + patience;
        let mut arrived: Vec<Option<Instant>> = vec![None; self.subscribers];
        let mut count = 0;
        // Counted again only when someone disconnects: counting per arrival would cost
        // N² steps per round and compete with the server for the CPU.
        let mut connected = self.connected_count();
        while count < connected {
            let Ok(Some(arrival)) = tokio::time::timeout_at(deadline, self.arrivals.recv()).await
            else {
                break;
            };
            match arrival.event {
                Event::Slot { status, start } if expected.matches(status, start, arrival.at) => {
                    if let Some(slot @ None) = arrived.get_mut(arrival.subscriber) {
                        *slot = Some(arrival.at);
                        count += 1;
                    }
                }
                other => {
                    self.note(arrival.subscriber, &other);
                    if matches!(other, Event::Closed(_)) {
                        connected = self.connected_count();
                    }
                }
            }
        }
        arrived.into_iter().flatten().collect()
    }

    /// Counts what is not an expected event.
    fn note(&mut self, subscriber: usize, event: &Event) {
        match event {
            Event::Resync => self.resyncs += 1,
            Event::Closed(reason) => {
                if let Some(connected) = self.connected.get_mut(subscriber) {
                    if *connected {
                        eprintln!("fanout: subscriber {subscriber} disconnected: {reason}");
                    }
                    *connected = false;
                }
            }
            Event::Subscribed | Event::Failed(_) | Event::Slot { .. } => {}
        }
    }

    fn connected_count(&self) -> usize {
        self.connected
            .iter()
            .filter(|connected| **connected)
            .count()
    }

    fn disconnected(&self) -> usize {
        self.subscribers - self.connected_count()
    }
}

/// A client connection's socket.
type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connects to the feed and subscribes; returns once the server acknowledged.
async fn join(url: &str, subscribe: String) -> Result<Socket, String> {
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    socket
        .send(Message::text(subscribe))
        .await
        .map_err(|e| format!("cannot subscribe: {e}"))?;
    loop {
        let frame = socket
            .next()
            .await
            .ok_or("the feed closed before acknowledging")?
            .map_err(|e| format!("the feed failed before acknowledging: {e}"))?;
        let Message::Text(text) = frame else {
            continue;
        };
        let message: FeedMessage<'_> = serde_json::from_str(&text)
            .map_err(|e| format!("not a feed message ({e}): {}", text.as_str()))?;
        match message.kind.as_ref() {
            "subscribed" => return Ok(socket),
            "error" => {
                return Err(format!(
                    "the feed refused the subscription: {}",
                    message.message.unwrap_or_default()
                ));
            }
            _ => {}
        }
    }
}

/// One subscriber's end of the channel to the collector.
struct Subscriber {
    index: usize,
    arrivals: mpsc::Sender<Arrival>,
}

impl Subscriber {
    /// Reads the feed until it ends, reporting every slot event, resync and the end.
    async fn listen(self, mut socket: Socket) {
        if !self.report(Event::Subscribed).await {
            return;
        }
        loop {
            let frame = socket.next().await;
            let at = Instant::now();
            let event = match frame {
                Some(Ok(Message::Text(text))) => {
                    match serde_json::from_str::<FeedMessage<'_>>(&text) {
                        Ok(message) => match (message.kind.as_ref(), message.status, message.start)
                        {
                            ("slot", Some(status), Some(start)) => Event::Slot {
                                status: SlotStatus::parse(&status),
                                start,
                            },
                            ("resync", _, _) => Event::Resync,
                            _ => continue,
                        },
                        Err(_) => continue,
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    Event::Closed(format!("closed by the server: {frame:?}"))
                }
                // Pings are answered by the socket on its next read.
                Some(Ok(_)) => continue,
                Some(Err(e)) => Event::Closed(e.to_string()),
                None => Event::Closed("the connection ended".into()),
            };
            let ended = matches!(event, Event::Closed(_));
            if !self
                .send(Arrival {
                    subscriber: self.index,
                    at,
                    event,
                })
                .await
                || ended
            {
                return;
            }
        }
    }

    /// Reports `event` now; `false` when nobody collects any more.
    async fn report(&self, event: Event) -> bool {
        self.send(Arrival {
            subscriber: self.index,
            at: Instant::now(),
            event,
        })
        .await
    }

    async fn send(&self, arrival: Arrival) -> bool {
        self.arrivals.send(arrival).await.is_ok()
    }
}

/// What a subscriber saw, and when.
#[derive(Debug)]
struct Arrival {
    subscriber: usize,
    at: Instant,
    event: Event,
}

/// The kinds of things a subscriber reports.
#[derive(Debug)]
enum Event {
    /// Connected and acknowledged.
    Subscribed,
    /// Could not connect or subscribe.
    Failed(String),
    /// A slot changed.
    Slot {
        status: SlotStatus,
        start: Timestamp,
    },
    /// The feed dropped events and told the subscriber to refetch.
    Resync,
    /// The connection ended.
    Closed(String),
}

/// A slot's status as the feed reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotStatus {
    Held,
    Available,
    Booked,
    Other,
}

impl SlotStatus {
    fn parse(status: &str) -> Self {
        match status {
            "held" => Self::Held,
            "available" => Self::Available,
            "booked" => Self::Booked,
            _ => Self::Other,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Available => "available",
            Self::Booked => "booked",
            Self::Other => "other",
        }
    }
}

/// The fields of a server message the benchmark reads (see the protocol in the web crate's
/// `feed` module).
#[derive(Debug, Deserialize)]
struct FeedMessage<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(default)]
    start: Option<Timestamp>,
    #[serde(default, borrow)]
    message: Option<Cow<'a, str>>,
}

fn megabytes(bytes: u64) -> f64 {
    round2(bytes as f64 / 1e6)
}

/// Growth from `before` to `after` per subscriber, in KB; negative if the server shrank.
fn per_connection_kb(before: u64, after: u64, subscribers: usize) -> f64 {
    let growth = after as f64 - before as f64;
    round2(growth / 1e3 / subscribers.max(1) as f64)
}

impl fmt::Display for FanoutReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = match self.backend {
            Backend::Sqlite => "server started here on SQLite",
            Backend::Postgres => "server started here on PostgreSQL",
            Backend::Remote => "server at --url",
        };
        let percentiles = |p50: f64, p99: f64, max: f64| {
            format!("p50 {p50:.2} ms   p99 {p99:.2} ms   max {max:.2} ms")
        };
        writeln!(f, "fan-out over the WebSocket feed ({backend})")?;
        row(
            f,
            "subscribers",
            &format!(
                "{} to {}, all subscribed in {:.2} s ({} connecting at a time)",
                self.subscribers, self.doctor, self.connect_seconds, self.connect_concurrency
            ),
        )?;
        row(
            f,
            "rounds",
            &format!("{} (hold a free slot, then release it)", self.rounds),
        )?;
        row(
            f,
            "hold response → held",
            &percentiles(self.p50_ms, self.p99_ms, self.max_ms),
        )?;
        if self.early_events > 0 {
            row(
                f,
                "",
                &format!(
                    "({} of these events arrived before the hold's response had been read: \
                     counted as 0 ms)",
                    self.early_events
                ),
            )?;
        }
        row(
            f,
            "hold request → held",
            &format!(
                "{}   (includes making the hold)",
                percentiles(
                    self.since_request_p50_ms,
                    self.since_request_p99_ms,
                    self.since_request_max_ms
                )
            ),
        )?;
        row(
            f,
            "first held → each held",
            &format!(
                "{}   (the fan-out's own spread)",
                percentiles(self.spread_p50_ms, self.spread_p99_ms, self.spread_max_ms)
            ),
        )?;
        row(
            f,
            "hold request → response",
            &format!(
                "p50 {:.2} ms   max {:.2} ms",
                self.hold_response_p50_ms, self.hold_response_max_ms
            ),
        )?;
        row(
            f,
            "release response → available",
            &percentiles(
                self.release_p50_ms,
                self.release_p99_ms,
                self.release_max_ms,
            ),
        )?;
        row(
            f,
            "missed",
            &format!(
                "{} (resyncs {}, disconnected {})",
                self.missed, self.resyncs, self.disconnected
            ),
        )?;
        let memory = match (self.rss_before_mb, self.rss_mb, self.rss_per_connection_kb) {
            (Some(before), Some(after), Some(per_connection)) => format!(
                "{before:.1} MB before, {after:.1} MB with everyone subscribed: \
                 {per_connection:.1} KB per connection"
            ),
            _ => "not measured (with --url, pass --server-pid)".to_owned(),
        };
        write!(f, "  {:<30}{memory}", "server memory")
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
    fn slot_events_are_read_from_the_documented_shape() {
        let text = r#"{"type":"slot","seq":3,"doctor_id":"0195b6a0-0000-7000-8000-000000000000","start":"2027-03-02T08:00:00Z","end":"2027-03-02T08:30:00Z","status":"held"}"#;
        let message: FeedMessage<'_> = serde_json::from_str(text).unwrap();
        assert_eq!(message.kind, "slot");
        assert_eq!(message.status.as_deref(), Some("held"));
        assert_eq!(message.start, Some("2027-03-02T08:00:00Z".parse().unwrap()));
    }

    #[test]
    fn other_messages_parse_without_slot_fields() {
        let text = r#"{"type":"subscribed","doctor_ids":["x"],"latest_seq":{"x":4}}"#;
        let message: FeedMessage<'_> = serde_json::from_str(text).unwrap();
        assert_eq!(message.kind, "subscribed");
        assert_eq!(message.start, None);
    }

    #[test]
    fn only_the_expected_status_and_start_after_the_request_match() {
        let start: Timestamp = "2027-03-02T08:00:00Z".parse().unwrap();
        let sent = Instant::now();
        let expected = Expected::new("held", start, sent);
        let later = sent + Duration::from_millis(1);
        assert!(expected.matches(SlotStatus::Held, start, later));
        assert!(!expected.matches(SlotStatus::Available, start, later));
        assert!(!expected.matches(
            SlotStatus::Held,
            start + jiff::SignedDuration::from_mins(30),
            later
        ));
    }

    #[test]
    fn early_events_count_as_zero_latency() {
        let answered = Instant::now();
        let mut tally = Tally::new(3);
        let requested = answered.checked_sub(Duration::from_millis(3)).unwrap();
        let early = answered.checked_sub(Duration::from_millis(2)).unwrap();
        tally.add_held(
            &[early, answered + Duration::from_millis(5)],
            requested,
            answered,
        );
        assert_eq!(tally.early, 1);
        assert_eq!(tally.missed, 1);
        assert_eq!(tally.held, [Duration::ZERO, Duration::from_millis(5)]);
        assert_eq!(
            tally.held_since_request,
            [Duration::from_millis(1), Duration::from_millis(8)]
        );
        assert_eq!(
            tally.held_spread,
            [Duration::ZERO, Duration::from_millis(7)]
        );
        assert_eq!(tally.hold_responses, [Duration::from_millis(3)]);
    }

    #[test]
    fn memory_per_connection_is_the_growth_shared_out() {
        assert_eq!(per_connection_kb(10_000_000, 30_000_000, 1000), 20.0);
        assert_eq!(megabytes(52_345_678), 52.35);
    }
}
