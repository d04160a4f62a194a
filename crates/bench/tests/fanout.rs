//! Smoke test of `medibook-bench fanout`: the built binary starts a real `medibook serve --demo`
//! on SQLite, connects a handful of subscribers and reports every event delivered. A
//! correctness check of the benchmark, not a timed test: no latency is asserted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[test]
fn fanout_delivers_every_event_to_every_subscriber() {
    let (report, stdout) =
        common::run_bench(&["fanout", "--subscribers", "20", "--rounds", "2"], None);
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
