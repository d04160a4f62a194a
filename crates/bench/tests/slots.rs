//! Smoke test of `medibook-bench slots`: the built binary starts a real `medibook serve --demo`,
//! loads a tiny clinic into its database and times slot listings against `/healthz`. A
//! correctness check of the benchmark, not a timed test: only keys and sane values are asserted.
//! Runs on SQLite, and on PostgreSQL too when `MEDIBOOK_TEST_POSTGRES_URL` is set (a fresh
//! database, dropped afterwards).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use medibook_store::Database;
use serde_json::Value;

/// Doctors loaded by the smoke runs.
const DOCTORS: u64 = 5;

/// The `medibook` binary the benchmark starts, which cargo builds beside the bench binary.
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

/// Runs `medibook-bench [extra] slots …tiny… --json` and returns the final JSON line, raw.
fn run_slots(extra: &[&str]) -> String {
    let bench = env!("CARGO_BIN_EXE_medibook-bench");
    server_binary(bench);
    let doctors = DOCTORS.to_string();
    let output = Command::new(bench)
        .args(extra)
        .args([
            "slots",
            "--doctors",
            &doctors,
            "--weeks-back",
            "4",
            "--weeks-ahead",
            "3",
            "--duration",
            "1",
            "--concurrency",
            "2",
            "--json",
        ])
        .output()
        .expect("the bench binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "medibook-bench failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("ratio to the HTTP floor"),
        "a human summary precedes the JSON line:\n{stdout}"
    );
    stdout.lines().last().expect("some output").to_owned()
}

/// The figures every run must have, whatever the backend.
fn assert_sane(line: &str, backend: &str) {
    let report: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("the last line is not JSON ({e}): {line}"));
    let positions: Vec<usize> = [
        "slots_per_s",
        "healthz_per_s",
        "ratio_to_http_floor",
        "p99_ms",
    ]
    .iter()
    .map(|key| line.find(&format!("\"{key}\":")).unwrap_or(usize::MAX))
    .collect();
    assert!(
        line.starts_with("{\"slots_per_s\":") && positions.is_sorted(),
        "the contract keys come first, in order: {line}"
    );
    for key in [
        "slots_per_s",
        "healthz_per_s",
        "ratio_to_http_floor",
        "p99_ms",
        "p50_ms",
    ] {
        let value = report[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key}: {report}"));
        assert!(value > 0.0, "{key} must be positive: {report}");
    }
    assert!(
        report["p50_ms"].as_f64() <= report["p99_ms"].as_f64(),
        "{report}"
    );
    assert_eq!(report["doctors"], DOCTORS, "{report}");
    assert_eq!(report["backend"], backend, "{report}");
    let appointments = report["appointments"]
        .as_u64()
        .expect("appointments loaded");
    let occupying = report["occupying"].as_u64().expect("occupying count");
    assert!(appointments > 0 && occupying <= appointments, "{report}");
    let booked = report["booked_share"].as_f64().expect("booked share");
    assert!(
        booked > 0.0 && booked < 1.0,
        "listings show booked and free slots: {report}"
    );
    assert!(report["slot_requests"].as_u64() > Some(0), "{report}");
}

#[test]
fn slots_lists_a_loaded_clinic_on_sqlite() {
    let report = run_slots(&[]);
    assert_sane(&report, "sqlite");
}

#[test]
fn slots_lists_a_loaded_clinic_on_postgres() {
    let Ok(admin_url) = std::env::var("MEDIBOOK_TEST_POSTGRES_URL") else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "MEDIBOOK_TEST_POSTGRES_URL must be set under CI=true"
        );
        eprintln!("skipping: MEDIBOOK_TEST_POSTGRES_URL is not set");
        return;
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_nanos();
    let name = format!("medibook_test_bench_{}_{nanos}", std::process::id());
    admin_sql(&admin_url, &format!("CREATE DATABASE {name}"));
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(base, _)| base);
    let url = format!("{base}/{name}");
    let outcome = std::panic::catch_unwind(|| run_slots(&["--database-url", &url]));
    admin_sql(
        &admin_url,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    );
    assert_sane(&outcome.expect("the PostgreSQL run succeeds"), "postgres");
}

/// Runs one statement on the PostgreSQL server of `admin_url`.
fn admin_sql(admin_url: &str, sql: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let admin = Database::connect(admin_url)
            .await
            .expect("postgres reachable");
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(admin.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        admin.close().await;
    });
}
