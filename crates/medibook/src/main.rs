//! `medibook`: the command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use medibook::settings::{LogFormat, Settings};
use tracing_subscriber::EnvFilter;

/// Doctor-appointment booking in one binary.
#[derive(Debug, Parser)]
#[command(name = "medibook", version, about)]
struct Cli {
    /// TOML settings file (default: ./medibook.toml if present).
    #[arg(long, global = true, env = "MEDIBOOK_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (migrates the database first).
    Serve {
        /// Seed a demo clinic into an empty database.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Write a consistent copy of the SQLite database to FILE while the server may run
    /// (PostgreSQL: use pg_dump, see docs/operations.md).
    Backup {
        /// The copy to create; must not exist.
        file: PathBuf,
    },
    /// Verify the audit trail's hash chain, or prune entries past a retention.
    Audit {
        #[command(subcommand)]
        command: medibook::audit_cli::AuditCommand,
    },
    /// Re-seal clinical text under the current clinical key (key rotation).
    Clinical {
        #[command(subcommand)]
        command: medibook::clinical_cli::ClinicalCommand,
    },
    /// Manage admin accounts.
    Admin {
        #[command(subcommand)]
        command: medibook::admin::AdminCommand,
    },
    /// Load a large generated clinic (doctors, time off, weeks of appointments) into the
    /// database, for benchmarks and load tests; prints one JSON line with the doctors' ids.
    Seed {
        #[command(flatten)]
        shape: medibook::seed::Shape,
    },
    /// Measure the database's own commit rate (single-row insert transactions through this
    /// server's connection settings), alone and with WRITERS at once; prints one JSON line.
    Floor {
        /// Concurrent writers of the second measurement.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1000))]
        writers: u16,
        /// Seconds each measurement lasts.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
        seconds: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("medibook: invalid settings: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(settings.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("medibook: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve { demo } => medibook::app::serve(settings, demo).await,
            Command::Backup { file } => medibook::app::backup(&settings, &file).await,
            Command::Admin { command } => medibook::admin::run(&settings, command).await,
            Command::Audit { command } => medibook::audit_cli::run(&settings, command).await,
            Command::Clinical { command } => medibook::clinical_cli::run(&settings, command).await,
            Command::Seed { shape } => medibook::app::seed(&settings, &shape).await,
            Command::Floor { writers, seconds } => {
                medibook::app::floor(&settings, usize::from(writers), seconds).await
            }
            Command::Migrate => {
                let database = medibook::app::open_database(&settings).await?;
                database.close().await;
                tracing::info!("migrations applied");
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("medibook: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to standard error as `format` says, filtered by `RUST_LOG`.
fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().with_current_span(false).init(),
    }
}
