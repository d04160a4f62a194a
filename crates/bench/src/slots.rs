//! The slot-listing benchmark (DESIGN.md §8): how fast the server lists a doctor's week of
//! slots with a large clinic loaded, against how fast it answers `/healthz` — the HTTP floor of
//! the same server, client and machine, measured in the same run with the same concurrency.
//!
//! With a server started here, the benchmark first loads a generated clinic into its database
//! with `medibook seed` (1,000 doctors and a year of appointments by default). With `--url` it loads
//! nothing and measures the doctors that server lists, as they are: load them beforehand, for
//! instance with an earlier run on the same PostgreSQL database (the loaded rows stay).
//!
//! Requests go to random doctors and random weeks between today and the doctors' booking
//! horizon, where the loaded appointments make most slots booked. Before timing anything, a
//! sample of listings is read in full to check that the loaded appointments show as booked.
//! While timing, a response counts only if it is a 200 whose body was read to the end; any
//! other answer stops the benchmark. Phases alternate (`/healthz`, slots, `/healthz`, slots…) so
//! that a noisy machine treats both alike.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use reqwest::{Client, StatusCode};
use serde::Serialize;
use tokio::task::JoinSet;

use crate::error::{BenchError, BenchResult};
use crate::report::{millis, round2};
use crate::stats::LatencySummary;
use crate::target::{Backend, Target};

/// Listings read in full before timing, to check the data is visible.
const CHECKED_LISTINGS: usize = 40;
/// Distinct slot URLs requested at random while timing.
const URL_POOL: usize = 20_000;
/// Untimed requests of both kinds before the first phase, to open connections and warm caches.
const WARM_UP: Duration = Duration::from_secs(1);

/// Options of `medibook-bench slots`.
#[derive(Clone, Debug, clap::Args)]
pub struct SlotsArgs {
    /// Doctors to load (ignored with --url).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub doctors: u32,
    /// Weeks of past appointments to load.
    #[arg(long, default_value_t = 52, value_parser = clap::value_parser!(u16).range(0..=520))]
    pub weeks_back: u16,
    /// Weeks of coming appointments to load; also the doctors' booking horizon, and the range
    /// the measured weeks are drawn from.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(2..=100))]
    pub weeks_ahead: u16,
    /// Dates per listing (the `days` parameter).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u16).range(1..=31))]
    pub days: u16,
    /// Requests in flight at once, for both endpoints.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,
    /// Seconds of timed requests per endpoint (split over the rounds).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub duration: u64,
    /// Alternations of a `/healthz` phase and a slots phase.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rounds: u32,
    /// Seed of the loaded data and of the requests drawn.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// The figures of one run. The JSON keys are a contract for scripts: `slots_per_s`,
/// `healthz_per_s`, `ratio_to_http_floor`, `p99_ms` first, then extras.
#[derive(Debug, Serialize)]
pub struct SlotsReport {
    /// Slot listings answered per second.
    pub slots_per_s: f64,
    /// `/healthz` answers per second, same concurrency, same run.
    pub healthz_per_s: f64,
    /// `slots_per_s / healthz_per_s`.
    pub ratio_to_http_floor: f64,
    /// Slot listing latency, 99th percentile.
    pub p99_ms: f64,
    /// … median.
    pub p50_ms: f64,
    /// … slowest.
    pub max_ms: f64,
    /// `/healthz` latency, median.
    pub healthz_p50_ms: f64,
    /// … 99th percentile.
    pub healthz_p99_ms: f64,
    /// Slot listings timed.
    pub slot_requests: usize,
    /// `/healthz` requests timed.
    pub healthz_requests: usize,
    /// Requests in flight at once.
    pub concurrency: u32,
    /// Dates per listing.
    pub days: u16,
    /// Doctors the requests were spread over.
    pub doctors: usize,
    /// Appointments loaded (cancelled included); `null` with `--url`.
    pub appointments: Option<u64>,
    /// Of which occupy their slot; `null` with `--url`.
    pub occupying: Option<u64>,
    /// Time the load took, in seconds; `null` with `--url`.
    pub load_seconds: Option<f64>,
    /// Share of the slots in the checked listings that were booked.
    pub booked_share: f64,
    /// Slots per checked listing, on average.
    pub slots_per_listing: f64,
    /// The server's database.
    pub backend: Backend,
}

/// Runs the benchmark against `target`.
pub async fn run(target: &Target, args: &SlotsArgs) -> BenchResult<SlotsReport> {
    let now = Timestamp::now();
    let (doctors, loaded) = match target.database_url() {
        Some(url) => {
            eprintln!(
                "slots: loading {} doctors, {} weeks back and {} ahead…",
                args.doctors, args.weeks_back, args.weeks_ahead
            );
            let (doctors, weeks_back, weeks_ahead, seed) = (
                args.doctors.to_string(),
                args.weeks_back.to_string(),
                args.weeks_ahead.to_string(),
                args.seed.to_string(),
            );
            let seeded = target
                .run_tool(
                    &[
                        "seed",
                        "--doctors",
                        &doctors,
                        "--weeks-back",
                        &weeks_back,
                        "--weeks-ahead",
                        &weeks_ahead,
                        "--seed",
                        &seed,
                    ],
                    url,
                )
                .await?;
            let loaded = Loaded::from_json(&seeded)?;
            eprintln!(
                "slots: loaded {} appointments ({} occupying) in {:.1} s",
                loaded.appointments, loaded.occupying, loaded.seconds
            );
            (loaded.doctors.clone(), Some(loaded))
        }
        None => {
            let listed: Vec<String> = target
                .api
                .doctors()
                .await?
                .into_iter()
                .map(|d| d.id)
                .collect();
            eprintln!(
                "slots: measuring the {} doctors {} lists (nothing loaded)",
                listed.len(),
                target.base_url
            );
            (listed, None)
        }
    };
    if doctors.is_empty() {
        return Err(BenchError::Data("the server lists no doctors".into()));
    }

    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let mut random = SplitMix::new(args.seed ^ 0x5eed);
    let requests = Requests::draw(target, &doctors, today, args, &mut random)?;
    let check = check_listings(target, &requests, loaded.is_some()).await?;

    let client = Client::builder()
        .no_proxy()
        .build()
        .map_err(|source| BenchError::Http {
            call: "client set-up".into(),
            source,
        })?;
    let load = Load {
        client,
        concurrency: args.concurrency,
    };
    let healthz = Arc::new(vec![format!("{}/healthz", target.base_url)]);
    let slots = Arc::new(requests.urls);
    load.drive(&healthz, WARM_UP, args.seed).await?;
    load.drive(&slots, WARM_UP, args.seed).await?;

    let phase = Duration::from_secs(args.duration) / args.rounds;
    let mut healthz_tally = Tally::default();
    let mut slots_tally = Tally::default();
    for round in 0..args.rounds {
        let seed = args.seed.wrapping_add(u64::from(round));
        healthz_tally.add(load.drive(&healthz, phase, seed).await?);
        slots_tally.add(load.drive(&slots, phase, seed).await?);
    }

    let healthz_per_s = healthz_tally.per_second();
    let slots_per_s = slots_tally.per_second();
    let slot_latency = LatencySummary::of(&mut slots_tally.latencies)
        .ok_or_else(|| BenchError::Data("no slot listing completed in time".into()))?;
    let healthz_latency = LatencySummary::of(&mut healthz_tally.latencies)
        .ok_or_else(|| BenchError::Data("no /healthz request completed in time".into()))?;
    Ok(SlotsReport {
        slots_per_s: round2(slots_per_s),
        healthz_per_s: round2(healthz_per_s),
        ratio_to_http_floor: if healthz_per_s > 0.0 {
            (slots_per_s / healthz_per_s * 1000.0).round() / 1000.0
        } else {
            0.0
        },
        p99_ms: millis(slot_latency.p99),
        p50_ms: millis(slot_latency.p50),
        max_ms: millis(slot_latency.max),
        healthz_p50_ms: millis(healthz_latency.p50),
        healthz_p99_ms: millis(healthz_latency.p99),
        slot_requests: slot_latency.count,
        healthz_requests: healthz_latency.count,
        concurrency: args.concurrency,
        days: args.days,
        doctors: doctors.len(),
        appointments: loaded.as_ref().map(|l| l.appointments),
        occupying: loaded.as_ref().map(|l| l.occupying),
        load_seconds: loaded.as_ref().map(|l| round2(l.seconds)),
        booked_share: check.booked_share,
        slots_per_listing: check.slots_per_listing,
        backend: target.backend,
    })
}

/// The slot listings a run asks for: random doctors and weeks within the booking horizon.
struct Requests {
    /// Full URLs.
    urls: Vec<String>,
    /// The same, as (doctor, first date), for the check.
    picks: Vec<(String, Date)>,
    /// Dates per listing.
    days: u16,
}

impl Requests {
    fn draw(
        target: &Target,
        doctors: &[String],
        today: Date,
        args: &SlotsArgs,
        random: &mut SplitMix,
    ) -> BenchResult<Self> {
        // Weeks starting today up to the last one that ends inside the horizon.
        let last_offset = (u64::from(args.weeks_ahead) * 7).saturating_sub(u64::from(args.days));
        let doctor_count = u64::try_from(doctors.len()).unwrap_or(u64::MAX);
        let mut urls = Vec::with_capacity(URL_POOL);
        let mut picks = Vec::with_capacity(URL_POOL);
        for _ in 0..URL_POOL {
            let doctor = usize::try_from(random.below(doctor_count))
                .ok()
                .and_then(|i| doctors.get(i))
                .ok_or_else(|| BenchError::Data("no doctor to pick".into()))?;
            let offset = i64::try_from(random.below(last_offset + 1)).unwrap_or(0);
            let date = today
                .checked_add(offset.days())
                .map_err(|e| BenchError::Data(format!("date out of range: {e}")))?;
            urls.push(format!(
                "{}/api/v1/slots?doctor_id={doctor}&date={date}&days={}",
                target.base_url, args.days
            ));
            picks.push((doctor.clone(), date));
        }
        Ok(Self {
            urls,
            picks,
            days: args.days,
        })
    }
}

/// What the full reading of a sample of listings showed.
struct Check {
    booked_share: f64,
    slots_per_listing: f64,
}

/// Reads the first listings of `requests` in full; with data loaded here, insists that they
/// show both booked and available slots.
async fn check_listings(
    target: &Target,
    requests: &Requests,
    loaded_here: bool,
) -> BenchResult<Check> {
    let mut slots = 0_usize;
    let mut booked = 0_usize;
    let mut available = 0_usize;
    let sample = requests.picks.iter().take(CHECKED_LISTINGS);
    let listings = sample.len();
    for (doctor, date) in sample {
        for slot in target.api.slots(doctor, *date, requests.days).await? {
            slots += 1;
            match slot.status.as_str() {
                "booked" => booked += 1,
                "available" => available += 1,
                _ => {}
            }
        }
    }
    if loaded_here && (booked == 0 || available == 0) {
        return Err(BenchError::Data(format!(
            "{listings} listings of loaded doctors show {booked} booked and {available} \
             available slots of {slots}: the loaded appointments are not where the listing \
             looks"
        )));
    }
    let share = |part: usize, whole: usize| {
        if whole == 0 {
            0.0
        } else {
            (part as f64 / whole as f64 * 1000.0).round() / 1000.0
        }
    };
    Ok(Check {
        booked_share: share(booked, slots),
        slots_per_listing: round2(if listings == 0 {
            0.0
        } else {
            slots as f64 / listings as f64
        }),
    })
}

/// Closed-loop load: `concurrency` tasks, each sending its next request as soon as the last
/// answer has been read.
struct Load {
    client: Client,
    concurrency: u32,
}

/// What one phase measured.
struct Phase {
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Load {
    /// Requests random URLs of `urls` for `duration`; every answer must be a 200.
    async fn drive(
        &self,
        urls: &Arc<Vec<String>>,
        duration: Duration,
        seed: u64,
    ) -> BenchResult<Phase> {
        let started = Instant::now();
        let deadline = started + duration;
        let mut tasks = JoinSet::new();
        for worker in 0..self.concurrency {
            let client = self.client.clone();
            let urls = Arc::clone(urls);
            let mut random = SplitMix::new(seed ^ (u64::from(worker) << 32));
            tasks.spawn(async move {
                let count = u64::try_from(urls.len()).unwrap_or(1);
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let index = usize::try_from(random.below(count)).unwrap_or(0);
                    let Some(url) = urls.get(index) else {
                        break;
                    };
                    let sent = Instant::now();
                    fetch(&client, url).await?;
                    latencies.push(sent.elapsed());
                }
                Ok::<_, BenchError>(latencies)
            });
        }
        let mut latencies = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let worker =
                joined.map_err(|e| BenchError::Data(format!("a load task failed: {e}")))??;
            latencies.extend(worker);
        }
        Ok(Phase {
            latencies,
            elapsed: started.elapsed(),
        })
    }
}

/// GETs `url` and reads the whole body; anything but a 200 is an error.
async fn fetch(client: &Client, url: &str) -> BenchResult<()> {
    let call = || format!("GET {}", url.split('?').next().unwrap_or(url));
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|source| BenchError::Http {
            call: call(),
            source,
        })?;
    let status = response.status();
    let body = response.bytes().await.map_err(|source| BenchError::Http {
        call: call(),
        source,
    })?;
    if status == StatusCode::OK {
        Ok(())
    } else {
        Err(BenchError::Unexpected {
            call: call(),
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

/// Requests and time summed over the phases of one endpoint.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Tally {
    fn add(&mut self, phase: Phase) {
        self.latencies.extend(phase.latencies);
        self.elapsed += phase.elapsed;
    }

    fn per_second(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.latencies.len() as f64 / seconds
        } else {
            0.0
        }
    }
}

impl fmt::Display for SlotsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "slots ({:?}): {} doctors, {}-day listings, {} requests in flight",
            self.backend, self.doctors, self.days, self.concurrency
        )?;
        if let (Some(appointments), Some(occupying), Some(seconds)) =
            (self.appointments, self.occupying, self.load_seconds)
        {
            writeln!(
                f,
                "  loaded              {appointments} appointments ({occupying} occupying) in \
                 {seconds:.1} s"
            )?;
        }
        writeln!(
            f,
            "  listings checked    {:.1} slots each, {:.0}% booked",
            self.slots_per_listing,
            self.booked_share * 100.0
        )?;
        writeln!(
            f,
            "  GET /api/v1/slots   {:>9.1}/s  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({} requests)",
            self.slots_per_s, self.p50_ms, self.p99_ms, self.max_ms, self.slot_requests
        )?;
        writeln!(
            f,
            "  GET /healthz        {:>9.1}/s  p50 {:.2} ms  p99 {:.2} ms  ({} requests)",
            self.healthz_per_s, self.healthz_p50_ms, self.healthz_p99_ms, self.healthz_requests
        )?;
        write!(
            f,
            "  ratio to the HTTP floor {:.3} (goal ≥ 0.5); slot p99 {:.2} ms (goal < 5 ms)",
            self.ratio_to_http_floor, self.p99_ms
        )
    }
}

/// What `medibook seed` loaded (its JSON line).
#[derive(Clone, Debug)]
struct Loaded {
    doctors: Vec<String>,
    appointments: u64,
    occupying: u64,
    seconds: f64,
}

impl Loaded {
    fn from_json(line: &serde_json::Value) -> BenchResult<Self> {
        let missing = |key: &str| BenchError::Data(format!("medibook seed gave no {key}: {line}"));
        let count = |key: &str| line[key].as_u64().ok_or_else(|| missing(key));
        let doctors = line["doctors"]
            .as_array()
            .ok_or_else(|| missing("doctors"))?
            .iter()
            .map(|id| {
                id.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| missing("doctors"))
            })
            .collect::<BenchResult<Vec<String>>>()?;
        Ok(Self {
            doctors,
            appointments: count("appointments")?,
            occupying: count("occupying")?,
            seconds: line["seconds"].as_f64().ok_or_else(|| missing("seconds"))?,
        })
    }
}

/// A small, seedable pseudo-random generator (SplitMix64): the same requests for the same seed.
#[derive(Debug)]
struct SplitMix(u64);

impl SplitMix {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A number below `bound` (> 0).
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % bound.max(1)
    }
}
