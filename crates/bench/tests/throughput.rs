//! Smoke test of `medibook-bench throughput`: the built binary starts a real `medibook serve
//! --demo` (SQLite, and PostgreSQL when `MEDIBOOK_TEST_POSTGRES_URL` is set), books for a
//! moment with two patients and times the database floor. Only correctness is asserted: some
//! bookings, a floor, no errors, the documented keys; never a rate.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{FreshPostgres, keys, run_bench, tables_named_like};

fn books_and_measures_the_floor(database_url: Option<&str>) {
    let (report, stdout) = run_bench(
        &[
            "throughput",
            "--clients",
            "2",
            "--seconds",
            "2",
            "--floor-seconds",
            "1",
        ],
        database_url,
    );
    assert_eq!(
        keys(&stdout)[..3],
        ["bookings_per_s", "db_floor_per_s", "ratio_to_db_floor"],
        "{report}"
    );
    assert!(report["bookings"].as_u64().unwrap() > 0, "{report}");
    assert!(report["bookings_per_s"].as_f64().unwrap() > 0.0, "{report}");
    assert!(report["db_floor_per_s"].as_f64().unwrap() > 0.0, "{report}");
    assert!(
        report["ratio_to_db_floor"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    assert_eq!(report["errors"], 0, "{report}");
    assert!(
        stdout.contains("ratio to the floor"),
        "a human summary precedes the JSON line:\n{stdout}"
    );
}

#[test]
fn books_and_measures_the_floor_on_sqlite() {
    books_and_measures_the_floor(None);
}

#[test]
fn books_and_measures_the_floor_on_postgres() {
    let Some(database) = FreshPostgres::create_blocking() else {
        return;
    };
    books_and_measures_the_floor(Some(&database.url));
    assert_eq!(
        tables_named_like(&database.url, "floor_"),
        0,
        "the floor's scratch table is dropped"
    );
    assert!(
        tables_named_like(&database.url, "appointments") > 0,
        "the count sees the server's tables"
    );
}
