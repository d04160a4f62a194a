//! The server a benchmark measures: one started here for the run, or one already running.
//!
//! Both sides of a large benchmark hold one socket per connection, so opening the target first
//! raises this process's open-file limit to its hard limit; a server started afterwards
//! inherits the raised limit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::api::Api;
use crate::error::{BenchError, BenchResult};
use crate::server::{ServerCommand, ServerProcess};

/// Options choosing and reaching the server, shared by every benchmark.
#[derive(Clone, Debug, clap::Args)]
pub struct TargetArgs {
    /// Measure the server already running at this URL (e.g. http://127.0.0.1:8080) instead of
    /// starting one. It needs --token; its memory is measured only with --server-pid.
    #[arg(long, global = true, conflicts_with_all = ["server_bin", "database_url"])]
    pub url: Option<String>,
    /// With --url: a patient's bearer token (sign in by hand: POST /api/v1/auth/otp, then
    /// /api/v1/auth/verify).
    #[arg(long, global = true, requires = "url")]
    pub token: Option<String>,
    /// With --url: the server's process id, to read its memory from /proc.
    #[arg(long, global = true, requires = "url")]
    pub server_pid: Option<u32>,
    /// The `medibook` binary to start [default: `medibook` beside this executable].
    #[arg(long, global = true)]
    pub server_bin: Option<PathBuf>,
    /// Start the server on this PostgreSQL database instead of a fresh SQLite file. It must be
    /// empty (the server seeds the demo clinic into it); the benchmark creates nothing itself.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// Start the server with Redis at this URL (events between instances, agendas shared for
    /// listings), on a channel of this run's own so that no earlier run's entries are read.
    #[arg(long, global = true, conflicts_with = "url")]
    pub redis_url: Option<String>,
    /// How long to wait for the server's /readyz, in seconds.
    #[arg(long, global = true, default_value_t = 300)]
    pub ready_timeout: u64,
}

/// Which database the measured server runs on, as far as the benchmark knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A fresh SQLite file started here.
    Sqlite,
    /// The PostgreSQL database given with `--database-url`.
    Postgres,
    /// A server at `--url`: unknown.
    Remote,
}

/// A ready server and what the benchmark may do with it.
#[derive(Debug)]
pub struct Target {
    /// Its API.
    pub api: Api,
    /// Its base URL, e.g. `http://127.0.0.1:41234`.
    pub base_url: String,
    /// Its database, if known.
    pub backend: Backend,
    /// This process's open-file limit after raising it.
    pub open_file_limit: u64,
    /// The PostgreSQL database of a server started here (`--database-url`).
    pub database_url: Option<String>,
    server: Option<ServerProcess>,
    server_pid: Option<u32>,
    token: Option<String>,
}

impl Target {
    /// Raises the open-file limit, then starts or reaches the server and waits until it is
    /// ready. A server started here gets `settings` (`MEDIBOOK_*` variables the benchmark
    /// needs, e.g. lifted sign-in limits); a server at `--url` keeps its own.
    pub async fn open(args: &TargetArgs, settings: &[(&'static str, String)]) -> BenchResult<Self> {
        let open_file_limit = raise_open_file_limit()?;
        match &args.url {
            Some(url) => {
                let api = Api::new(url)?;
                let mut target = Self {
                    api,
                    base_url: url.trim_end_matches('/').to_owned(),
                    backend: Backend::Remote,
                    open_file_limit,
                    database_url: None,
                    server: None,
                    server_pid: args.server_pid,
                    token: args.token.clone(),
                };
                target.wait_ready(args.ready_timeout).await?;
                Ok(target)
            }
            None => {
                let binary = match &args.server_bin {
                    Some(binary) => binary.clone(),
                    None => default_server_binary()?,
                };
                let server = ServerProcess::start(&ServerCommand {
                    binary,
                    database_url: args.database_url.clone(),
                    redis_url: args.redis_url.clone(),
                    settings: settings.to_vec(),
                })?;
                let base_url = server.base_url();
                let mut target = Self {
                    api: Api::new(&base_url)?,
                    base_url,
                    backend: if args.database_url.is_some() {
                        Backend::Postgres
                    } else {
                        Backend::Sqlite
                    },
                    open_file_limit,
                    database_url: args.database_url.clone(),
                    server_pid: Some(server.pid()),
                    server: Some(server),
                    token: None,
                };
                target.wait_ready(args.ready_timeout).await?;
                Ok(target)
            }
        }
    }

    /// The WebSocket URL of `path`, e.g. `ws://127.0.0.1:41234/api/v1/ws`.
    pub fn ws_url(&self, path: &str) -> String {
        let base = if let Some(rest) = self.base_url.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.base_url.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.base_url.clone()
        };
        format!("{base}{path}")
    }

    /// A signed-in patient's bearer token: `--token`, or a new patient signed in with the code
    /// the started server logs.
    pub async fn patient_token(&self) -> BenchResult<String> {
        if let Some(token) = &self.token {
            return Ok(token.clone());
        }
        self.new_patient_token("bench").await
    }

    /// Signs in a new patient (a fresh address starting with `label`) with the code the started
    /// server logs, and returns the bearer token. Needs a server started here.
    pub async fn new_patient_token(&self, label: &str) -> BenchResult<String> {
        let Some(server) = &self.server else {
            return Err(BenchError::Usage(
                "with --url, pass --token: a server not started here cannot be asked for \
                 sign-in codes"
                    .into(),
            ));
        };
        let email = format!(
            "{label}-{}-{}@bench.medibook.test",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        );
        self.api.request_code(&email).await?;
        let code = server
            .one_time_code(&email, Duration::from_secs(30))
            .await?;
        self.api.verify(&email, &code).await
    }

    /// Runs `medibook ARGS` beside the server started here, on `database_url` (see
    /// [`ServerProcess::run_tool`]); refused for a server at `--url`.
    pub async fn run_tool(
        &self,
        args: &[&str],
        database_url: &str,
    ) -> BenchResult<serde_json::Value> {
        match &self.server {
            Some(server) => server.run_tool(args, database_url).await,
            None => Err(BenchError::Usage(
                "this needs a server started here (drop --url)".into(),
            )),
        }
    }

    /// The data directory of a server started here.
    pub fn data_dir(&self) -> Option<&Path> {
        self.server.as_ref().map(ServerProcess::data_dir)
    }

    /// The database of the server started here; `None` with `--url`.
    pub fn database_url(&self) -> Option<&str> {
        self.server.as_ref().map(ServerProcess::database_url)
    }

    /// The server's resident memory in bytes, when its process is known and readable.
    pub fn server_rss(&self) -> Option<BenchResult<u64>> {
        self.server_pid.map(resident_bytes)
    }

    /// Waits for `/readyz`, failing early if the started server exits.
    async fn wait_ready(&mut self, timeout_seconds: u64) -> BenchResult<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout_seconds);
        loop {
            if let Some(server) = &mut self.server {
                server.check_running()?;
            }
            if self.api.is_ready().await {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                let log = self
                    .server
                    .as_ref()
                    .map(|server| format!("; its last lines:\n{}", server.recent_log()))
                    .unwrap_or_default();
                return Err(BenchError::Server(format!(
                    "{}/readyz did not answer 200 within {timeout_seconds} s{log}",
                    self.base_url
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `medibook` in the directory of this executable (cargo puts both binaries there).
fn default_server_binary() -> BenchResult<PathBuf> {
    let exe =
        std::env::current_exe().map_err(|e| BenchError::io("cannot locate this executable", e))?;
    let dir = exe
        .parent()
        .ok_or_else(|| BenchError::Server(format!("{} has no parent directory", exe.display())))?;
    Ok(dir.join(format!("medibook{}", std::env::consts::EXE_SUFFIX)))
}

/// Raises the soft open-file limit to the hard limit; returns the limit now in force.
pub fn raise_open_file_limit() -> BenchResult<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
        .map_err(|e| BenchError::io("cannot raise the open-file limit", e))
}

/// The resident set size of process `pid` from `/proc/<pid>/status`, in bytes.
pub fn resident_bytes(pid: u32) -> BenchResult<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path)
        .map_err(|e| BenchError::io(format!("cannot read {path}"), e))?;
    parse_vm_rss(&status).ok_or_else(|| BenchError::Data(format!("no VmRSS line in {path}")))
}

/// The `VmRSS:   1234 kB` figure of a `/proc/<pid>/status` text, in bytes.
fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let mut fields = line.split_whitespace().skip(1);
    let kilobytes: u64 = fields.next()?.parse().ok()?;
    match fields.next() {
        Some("kB") => kilobytes.checked_mul(1024),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_memory_is_read_from_the_vm_rss_line() {
        let status = "Name:\tmedibook\nVmPeak:\t  900000 kB\nVmRSS:\t   51234 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(51234 * 1024));
        assert_eq!(parse_vm_rss("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn this_process_has_a_resident_size() {
        assert!(resident_bytes(std::process::id()).unwrap() > 0);
    }
}
