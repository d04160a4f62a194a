//! Smoke test of `medibook-bench slots`: the built binary starts a real `medibook serve --demo`,
//! loads a tiny clinic into its database and times slot listings against `/healthz`. A
//! correctness check of the benchmark, not a timed test: only keys and sane values are asserted.
//! Runs on SQLite, and on PostgreSQL too when `MEDIBOOK_TEST_POSTGRES_URL` is set (a fresh
//! database, dropped afterwards).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::Value;

/// Doctors loaded by the smoke runs.
const DOCTORS: u64 = 5;

/// Runs `medibook-bench slots …tiny… --json` (on `database_url` when given) and returns the
/// final JSON line, raw (the key order is checked on the text).
fn run_slots(database_url: Option<&str>) -> String {
    let doctors = DOCTORS.to_string();
    let (_, stdout) = common::run_bench(
        &[
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
        ],
        database_url,
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
    let report = run_slots(None);
    assert_sane(&report, "sqlite");
}

#[test]
fn slots_lists_a_loaded_clinic_on_postgres() {
    let Some(database) = common::FreshPostgres::create_blocking() else {
        return;
    };
    let report = run_slots(Some(&database.url));
    assert_sane(&report, "postgres");
}
