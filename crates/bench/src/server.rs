//! A `medibook serve --demo` child process started for one benchmark run.
//!
//! The child gets a fresh data directory (its SQLite file and generated secret live there, and it
//! is its working directory, so no stray `medibook.toml` is read), a free port, and none of the
//! caller's `MEDIBOOK_*` or `DATABASE_URL` settings. Its output is read continuously on two
//! threads, both so that a chatty server never blocks on a full pipe and so that development
//! sign-in codes can be picked out of its log. Dropping the [`ServerProcess`] kills the child.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tempfile::TempDir;

use crate::error::{BenchError, BenchResult};

/// Log lines kept to explain a server that failed.
const RECENT_LINES: usize = 40;

/// Log filter given to the child: its own start-up and delivery lines (where development codes
/// appear), but no per-request tracing, which would cost the server time during the run.
const SERVER_LOG_FILTER: &str = "warn,medibook=info";

/// How a server is to be started.
#[derive(Clone, Debug)]
pub struct ServerCommand {
    /// The `medibook` binary.
    pub binary: PathBuf,
    /// A PostgreSQL URL, or `None` for a SQLite file in the fresh data directory.
    pub database_url: Option<String>,
    /// A Redis URL for the server, or `None` for none.
    pub redis_url: Option<String>,
    /// Settings (`MEDIBOOK_*` variables) a benchmark needs on its own server, such as lifted
    /// sign-in limits; the server started here never inherits the caller's.
    pub settings: Vec<(&'static str, String)>,
}

/// A running `medibook serve --demo` child.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    binary: PathBuf,
    address: SocketAddr,
    log: Arc<ServerLog>,
    /// Kept until the child is gone: it holds the child's database and secret.
    data_dir: TempDir,
    database_url: String,
}

impl ServerProcess {
    /// Starts the server on a free port of 127.0.0.1; it is not ready yet (see `/readyz`).
    pub fn start(command: &ServerCommand) -> BenchResult<Self> {
        if !command.binary.is_file() {
            return Err(BenchError::Server(format!(
                "no server binary at {} (build it with `cargo build --release -p medibook`, \
                 or name one with --server-bin)",
                command.binary.display()
            )));
        }
        let data_dir = tempfile::Builder::new()
            .prefix("medibook-bench-")
            .tempdir()
            .map_err(|e| BenchError::io("cannot create a data directory", e))?;
        let address = free_local_port()?;
        let mut child = server_command(&command.binary, data_dir.path(), address)
            .envs(command.database_url.iter().map(|url| ("DATABASE_URL", url)))
            .envs(command.redis_url.iter().flat_map(|url| {
                [
                    ("MEDIBOOK_REDIS_URL", url.clone()),
                    ("MEDIBOOK_REDIS_CHANNEL", fresh_redis_channel()),
                ]
            }))
            .envs(command.settings.iter().map(|(key, value)| (key, value)))
            .spawn()
            .map_err(|e| BenchError::io(format!("cannot start {}", command.binary.display()), e))?;
        let log = Arc::new(ServerLog::default());
        if let Some(stdout) = child.stdout.take() {
            ServerLog::follow(&log, stdout);
        }
        if let Some(stderr) = child.stderr.take() {
            ServerLog::follow(&log, stderr);
        }
        let database_url = command.database_url.clone().unwrap_or_else(|| {
            format!("sqlite://{}", data_dir.path().join("medibook.db").display())
        });
        Ok(Self {
            child,
            binary: command.binary.clone(),
            address,
            log,
            data_dir,
            database_url,
        })
    }

    /// Where the server listens, e.g. `http://127.0.0.1:41234`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The server's data directory (its SQLite file, when it runs on SQLite, lives there).
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// The database the child runs on (`sqlite://…` in its data directory, or the PostgreSQL
    /// URL it was given), for benchmarks that load data into it.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// Runs `medibook ARGS` (the server's own binary, with the same clean environment and data
    /// directory) on `database_url` until it exits, and returns the JSON line it printed last:
    /// how the benchmarks load data (`medibook seed`) and measure the database (`medibook
    /// floor`) without a database driver of their own.
    pub async fn run_tool(
        &self,
        args: &[&str],
        database_url: &str,
    ) -> BenchResult<serde_json::Value> {
        let mut command = clean_command(&self.binary, self.data_dir.path());
        command
            .args(args)
            .env("DATABASE_URL", database_url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let shown = format!("medibook {}", args.join(" "));
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .map_err(|e| BenchError::Server(format!("{shown}: {e}")))?
            .map_err(|e| BenchError::io(format!("cannot run {}", self.binary.display()), e))?;
        let shown = format!("medibook {}", args.join(" "));
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(BenchError::Server(format!(
                "{shown} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let line = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(line)
            .map_err(|e| BenchError::Data(format!("{shown} printed no JSON line ({e}): {line}")))
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An error if the child has exited, with the end of its log.
    pub fn check_running(&mut self) -> BenchResult<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(BenchError::Server(format!(
                "the server exited ({status}); its last lines:\n{}",
                self.log.recent()
            ))),
            Err(e) => Err(BenchError::io("cannot check on the server", e)),
        }
    }

    /// The end of the child's log, for error messages.
    pub fn recent_log(&self) -> String {
        self.log.recent()
    }

    /// The one-time code the server logged for `email` (development mode), waiting up to
    /// `patience` for the delivery worker to write it.
    pub async fn one_time_code(&self, email: &str, patience: Duration) -> BenchResult<String> {
        let deadline = tokio::time::Instant::now() + patience;
        // Each look reads only the lines logged since the last: a thousand patients signing in
        // at once would otherwise rescan each other's lines every few milliseconds.
        let mut seen = 0;
        loop {
            if let Some(code) = self.log.code_since(email, &mut seen) {
                return Ok(code);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BenchError::Server(format!(
                    "no one-time code for {email} in the server log within {patience:?} (is it \
                     in development mode without an email channel?); its last lines:\n{}",
                    self.log.recent()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Already exited is fine; there is nothing else to do about a failure here.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `medibook serve --demo` with a clean environment for `data_dir` and `address`.
fn server_command(binary: &Path, data_dir: &Path, address: SocketAddr) -> Command {
    let mut command = clean_command(binary, data_dir);
    command
        .args(["serve", "--demo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("MEDIBOOK_LISTEN", address.to_string());
    command
}

/// A Redis channel (and prefix of shared cache keys) no other run uses.
fn fresh_redis_channel() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    format!("medibook-bench:{}:{nanos}", std::process::id())
}

/// `binary` in `data_dir`, with none of the caller's `MEDIBOOK_*`, `DATABASE_URL`, `REDIS_URL`
/// or `RUST_LOG` settings: a development server's settings for that directory.
fn clean_command(binary: &Path, data_dir: &Path) -> Command {
    let mut command = Command::new(binary);
    command.current_dir(data_dir).stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        let inherited_setting = key.to_str().is_some_and(|key| {
            key.starts_with("MEDIBOOK_") || ["DATABASE_URL", "REDIS_URL", "RUST_LOG"].contains(&key)
        });
        if inherited_setting {
            command.env_remove(key);
        }
    }
    command
        .env("MEDIBOOK_DATA_DIR", data_dir)
        .env("MEDIBOOK_ENV", "development")
        .env("RUST_LOG", SERVER_LOG_FILTER)
        .env("NO_COLOR", "1");
    command
}

/// A port on 127.0.0.1 free right now (another process could still take it before the server
/// binds it; unlikely enough for a benchmark).
fn free_local_port() -> BenchResult<SocketAddr> {
    let probe = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| BenchError::io("cannot find a free port", e))?;
    probe
        .local_addr()
        .map_err(|e| BenchError::io("cannot find a free port", e))
}

/// What the child has written: the last lines, and every line mentioning a one-time code.
#[derive(Debug, Default)]
struct ServerLog {
    recent: Mutex<VecDeque<String>>,
    code_lines: Mutex<Vec<String>>,
}

impl ServerLog {
    /// Reads `output` line by line on its own thread until the child closes it.
    fn follow(log: &Arc<Self>, output: impl Read + Send + 'static) {
        let log = Arc::clone(log);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(output);
            let mut raw = Vec::new();
            loop {
                raw.clear();
                match reader.read_until(b'\n', &mut raw) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => log.push(strip_ansi(&String::from_utf8_lossy(&raw))),
                }
            }
        });
    }

    fn push(&self, line: String) {
        let line = line.trim_end().to_owned();
        if line.contains("one-time code") {
            lock(&self.code_lines).push(line.clone());
        }
        let mut recent = lock(&self.recent);
        if recent.len() == RECENT_LINES {
            recent.pop_front();
        }
        recent.push_back(line);
    }

    fn recent(&self) -> String {
        lock(&self.recent)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The latest code logged for `email` among the code lines from index `seen` on; moves
    /// `seen` past them.
    fn code_since(&self, email: &str, seen: &mut usize) -> Option<String> {
        let lines = lock(&self.code_lines);
        let new = lines.get(*seen..).unwrap_or_default();
        *seen = lines.len();
        new.iter().rev().find_map(|line| code_in_line(line, email))
    }
}

/// Locks `mutex`; a reader thread that panicked leaves nothing half-written worth refusing.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The six-digit code in a log line about a one-time code for `email`: the first run of exactly
/// six digits after the address. Matches both the outbox's development line
/// (`message for EMAIL — Your MediBook one-time code: … is 493027.`) and the direct one
/// (`one-time code for EMAIL: 493027`).
fn code_in_line(line: &str, email: &str) -> Option<String> {
    if !line.contains("one-time code") {
        return None;
    }
    let after = &line[line.find(email)? + email.len()..];
    after
        .split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 6)
        .map(str::to_owned)
}

/// `line` without ANSI colour sequences (`ESC [ … letter`), in case the child colours its log.
fn strip_ansi(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Skip `[`, parameters and the final letter.
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_from_the_outbox_development_line() {
        let line = "2026-11-21T10:00:00.123456Z  INFO medibook::delivery: development mode, \
                    nothing sent: message for bench-17@bench.medibook.test — Your MediBook \
                    one-time code: Your MediBook one-time code is 493027. It expires in 10 minutes.";
        assert_eq!(
            code_in_line(line, "bench-17@bench.medibook.test").as_deref(),
            Some("493027")
        );
        assert_eq!(code_in_line(line, "someone@else.test"), None);
    }

    #[test]
    fn codes_are_read_from_the_direct_development_line() {
        let line =
            "INFO medibook::signin: one-time code for ada@example.org: 012345 (development mode)";
        assert_eq!(
            code_in_line(line, "ada@example.org").as_deref(),
            Some("012345")
        );
    }

    #[test]
    fn codes_are_looked_for_only_in_lines_not_seen_yet() {
        let log = ServerLog::default();
        log.push("one-time code for a@example.org: 111111".into());
        let mut seen = 0;
        assert_eq!(log.code_since("b@example.org", &mut seen), None);
        assert_eq!(seen, 1);
        log.push("one-time code for b@example.org: 222222".into());
        assert_eq!(
            log.code_since("b@example.org", &mut seen).as_deref(),
            Some("222222")
        );
        assert_eq!(
            log.code_since("a@example.org", &mut seen),
            None,
            "already seen"
        );
    }

    #[test]
    fn lines_without_a_code_give_none() {
        assert_eq!(
            code_in_line("message for ada@example.org: hello", "ada@example.org"),
            None
        );
        assert_eq!(
            code_in_line(
                "one-time code for ada@example.org: 1234567",
                "ada@example.org"
            ),
            None
        );
    }

    #[test]
    fn colour_sequences_are_removed() {
        assert_eq!(
            strip_ansi("\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m hello"),
            "2026  INFO hello"
        );
    }
}
