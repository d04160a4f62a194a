//! Shared by the bench smoke tests: running the built `medibook-bench` and reading its JSON
//! line, and a throw-away PostgreSQL database for `--database-url`.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// The bench binary cargo built for these tests.
pub const BENCH: &str = env!("CARGO_BIN_EXE_medibook-bench");

/// Runs `medibook-bench ARGS --json` (on `database_url` when given) and returns its final JSON
/// line and its whole standard output; fails the test if it exits with an error.
pub fn run_bench(args: &[&str], database_url: Option<&str>) -> (Value, String) {
    let dir = PathBuf::from(BENCH)
        .parent()
        .expect("the bench binary lives in a directory")
        .to_path_buf();
    let server = dir.join(format!("medibook{}", std::env::consts::EXE_SUFFIX));
    assert!(
        server.is_file(),
        "no server binary at {}: build it first (`cargo build -p medibook`, or run the tests \
         with --workspace)",
        server.display()
    );
    let mut command = Command::new(BENCH);
    command.args(args).arg("--json");
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    let output = command.output().expect("the bench binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "medibook-bench failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let last_line = stdout.lines().last().expect("some output");
    let report: Value = serde_json::from_str(last_line)
        .unwrap_or_else(|e| panic!("the last line is not JSON ({e}): {last_line}"));
    (report, stdout)
}

#[allow(
    dead_code,
    reason = "not every test binary that shares this module checks the key order"
)]
/// The top-level keys of the JSON line (the last line of `stdout`), in the order printed.
/// (`serde_json::Value` sorts its keys, so they are read from the text itself.)
pub fn keys(stdout: &str) -> Vec<String> {
    let line = stdout.lines().last().expect("some output");
    let mut keys = Vec::new();
    let mut depth = 0usize;
    let mut chars = line.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth = depth.saturating_sub(1),
            '"' => {
                let mut text = String::new();
                let mut escaped = false;
                for (_, c) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                    text.push(c);
                }
                let is_key = line[at..]
                    .char_indices()
                    .skip(text.len() + 2)
                    .map(|(_, c)| c)
                    .find(|c| !c.is_whitespace())
                    == Some(':');
                if depth == 1 && is_key {
                    keys.push(text);
                }
            }
            _ => {}
        }
    }
    keys
}

#[allow(dead_code, reason = "the fan-out smoke test runs on SQLite only")]
/// A fresh, empty database (`medibook_test_bench_…`) on the server of
/// `MEDIBOOK_TEST_POSTGRES_URL`, dropped when this is dropped.
pub struct FreshPostgres {
    /// URL of the new database.
    pub url: String,
    admin_url: String,
    name: String,
}

#[allow(dead_code, reason = "the fan-out smoke test runs on SQLite only")]
impl FreshPostgres {
    /// Creates the database, or returns `None` (outside CI) when no server is configured. Under
    /// `CI=true` a missing server is a failure, not a skip.
    pub fn create() -> Option<Self> {
        let Ok(admin_url) = std::env::var("MEDIBOOK_TEST_POSTGRES_URL") else {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "MEDIBOOK_TEST_POSTGRES_URL must be set under CI=true"
            );
            eprintln!("skipping: MEDIBOOK_TEST_POSTGRES_URL is not set");
            return None;
        };
        let name = format!("medibook_test_bench_{}", uuid::Uuid::new_v4().simple());
        execute(&admin_url, &format!("CREATE DATABASE {name}"));
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(base, _)| base);
        Some(Self {
            url: format!("{base}/{name}"),
            admin_url,
            name,
        })
    }
}

impl Drop for FreshPostgres {
    fn drop(&mut self) {
        execute(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// Runs one statement on `url` with `psql` (the bench and its tests have no database driver
/// of their own) and returns what it printed, unaligned and without headers.
fn psql(url: &str, sql: &str) -> String {
    let output = Command::new("psql")
        .args([
            url,
            "-v",
            "ON_ERROR_STOP=1",
            "-X",
            "-q",
            "-t",
            "-A",
            "-c",
            sql,
        ])
        .output()
        .expect("psql runs (PostgreSQL's client is installed with the server)");
    assert!(
        output.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn execute(url: &str, sql: &str) {
    psql(url, sql);
}

/// How many tables of `url`'s database have names starting with `prefix`.
#[allow(
    dead_code,
    reason = "not every test binary that shares this module counts tables"
)]
pub fn tables_named_like(url: &str, prefix: &str) -> i64 {
    // Prefixes are plain identifiers chosen by the tests.
    assert!(
        prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    );
    psql(
        url,
        &format!(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_name LIKE '{prefix}%'"
        ),
    )
    .parse()
    .expect("a count")
}
