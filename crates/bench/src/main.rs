//! `medibook-bench`: measures a MediBook server the way DESIGN.md §8 asks, as figures from one
//! run rather than timed tests.
//!
//! Every subcommand runs against a [`target::Target`]: by default a `medibook serve --demo`
//! started here on a fresh SQLite file (or an empty PostgreSQL database), or a server already
//! running at `--url`. Each prints a human summary and, with `--json`, one final JSON line for
//! scripts. Adding a benchmark means a module with its own `Args`, a `run(&Target, &Args)`
//! returning a report that is `Display + Serialize`, and one arm in [`Command`].

mod api;
mod contention;
mod error;
mod fanout;
mod report;
mod server;
mod slots;
mod stats;
mod supply;
mod target;
mod throughput;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::BenchResult;
use crate::target::{Target, TargetArgs};

/// Benchmarks of a MediBook server.
#[derive(Debug, Parser)]
#[command(name = "medibook-bench", version, about)]
struct Cli {
    /// Which server to measure.
    #[command(flatten)]
    target: TargetArgs,
    /// Print one JSON line with the figures after the human summary.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

/// The benchmarks.
#[derive(Debug, Subcommand)]
enum Command {
    /// WebSocket fan-out: N subscribers to one doctor; time from a hold's HTTP response to the
    /// slot event at every subscriber, and server memory per connection.
    Fanout(fanout::FanoutArgs),
    /// N signed-in patients hold the same slot at the same instant: exactly one may win; the
    /// others get a clean 409. Per-request latency.
    Contention(contention::ContentionArgs),
    /// Hold + confirm on distinct slots by concurrent patients, against the database's own
    /// commit rate (single-row insert transactions, same backend and settings, same run).
    Throughput(throughput::ThroughputArgs),
    /// Slot listing: a week of a doctor's slots with 1,000 doctors and a year of appointments
    /// loaded, against `/healthz` in the same run.
    Slots(slots::SlotsArgs),
}

impl Command {
    /// The settings the benchmark's own server needs (never a server at `--url`).
    fn server_settings(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::Fanout(_) => Vec::new(),
            Self::Contention(args) => contention::server_settings(args),
            Self::Throughput(args) => throughput::server_settings(args),
            Self::Slots(_) => Vec::new(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("medibook-bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("medibook-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Opens the target, runs the chosen benchmark and prints its report; the server started here
/// (if any) is stopped when the target is dropped.
async fn run(cli: Cli) -> BenchResult<()> {
    let target = Target::open(&cli.target, &cli.command.server_settings()).await?;
    match &cli.command {
        Command::Fanout(args) => {
            let report = fanout::run(&target, args).await?;
            report::print(&report, cli.json)
        }
        Command::Contention(args) => {
            let report = contention::run(&target, args).await?;
            report::print(&report, cli.json)
        }
        Command::Throughput(args) => {
            let report = throughput::run(&target, args).await?;
            report::print(&report, cli.json)
        }
        Command::Slots(args) => {
            let report = slots::run(&target, args).await?;
            report::print(&report, cli.json)
        }
    }
}
