//! Smoke test of `medibook-bench fanout`: the built binary starts a real `medibook serve --demo`
//! on SQLite, connects a handful of subscribers and reports every event delivered. A
//! correctness check of the benchmark, not a timed test: no latency is asserted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// The `medibook` binary the benchmark starts: cargo builds it beside the bench binary when the
/// whole workspace is built (`cargo nextest run --workspace`).
fn server_binary(bench: &str) -> PathBuf {
    let dir = PathBuf::from(bench)
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
    server
}

#[test]
fn fanout_delivers_every_event_to_every_subscriber() {
    let bench = env!("CARGO_BIN_EXE_medibook-bench");
    server_binary(bench);
    let output = Command::new(bench)
        .args(["fanout", "--subscribers", "20", "--rounds", "2", "--json"])
        .output()
        .expect("the bench binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "medibook-bench failed ({}):\n{stdout}\n{stderr}",
        output.status
    );

    let last_line = stdout.lines().last().expect("some output");
    let report: Value = serde_json::from_str(last_line)
        .unwrap_or_else(|e| panic!("the last line is not JSON ({e}): {last_line}"));
    assert_eq!(report["subscribers"], 20, "{report}");
    assert_eq!(report["rounds"], 2, "{report}");
    assert_eq!(report["missed"], 0, "{report}");
    assert_eq!(report["resyncs"], 0, "{report}");
    for key in [
        "p50_ms",
        "p99_ms",
        "max_ms",
        "rss_mb",
        "rss_per_connection_kb",
    ] {
        assert!(report[key].is_number(), "{key} missing: {report}");
    }
    assert!(
        stdout.contains("hold response → held"),
        "a human summary precedes the JSON line:\n{stdout}"
    );
}
