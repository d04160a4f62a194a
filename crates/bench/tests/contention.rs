//! Smoke test of `medibook-bench contention`: the built binary starts a real `medibook serve
//! --demo` (SQLite, and PostgreSQL when `MEDIBOOK_TEST_POSTGRES_URL` is set), signs in a few
//! patients and has them all hold one slot at once. A correctness check of the server and the
//! benchmark, not a timed test: exactly one winner per round, every other a clean conflict.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{FreshPostgres, keys, run_bench};

const CLIENTS: u64 = 20;
const ROUNDS: u64 = 2;

fn one_winner_per_round(database_url: Option<&str>) {
    let (report, stdout) = run_bench(
        &[
            "contention",
            "--clients",
            &CLIENTS.to_string(),
            "--rounds",
            &ROUNDS.to_string(),
        ],
        database_url,
    );
    assert_eq!(
        keys(&stdout)[..6],
        [
            "clients",
            "winners",
            "conflicts",
            "errors",
            "p50_ms",
            "p99_ms"
        ],
        "{report}"
    );
    assert_eq!(report["clients"], CLIENTS, "{report}");
    assert_eq!(report["rounds"], ROUNDS, "{report}");
    assert_eq!(report["winners"], ROUNDS, "one winner per round: {report}");
    assert_eq!(report["conflicts"], ROUNDS * (CLIENTS - 1), "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["verified"], true, "{report}");
    assert!(report["p99_ms"].is_number(), "{report}");
    assert!(
        stdout.contains("held by exactly one patient"),
        "a human summary precedes the JSON line:\n{stdout}"
    );
}

#[test]
fn one_patient_wins_a_contended_slot_on_sqlite() {
    one_winner_per_round(None);
}

#[test]
fn one_patient_wins_a_contended_slot_on_postgres() {
    let Some(database) = FreshPostgres::create_blocking() else {
        return;
    };
    one_winner_per_round(Some(&database.url));
}
