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

#[allow(unused_imports, reason = "the fan-out smoke test runs on SQLite only")]
pub use medibook_testkit::FreshPostgres;

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
    medibook_testkit::psql(
        url,
        &format!(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_name LIKE '{prefix}%'"
        ),
    )
    .parse()
    .expect("a count")
}
