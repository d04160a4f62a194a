//! The fan-out report as a human summary on the terminal.

use std::fmt;

use super::FanoutReport;
use crate::target::Backend;

impl fmt::Display for FanoutReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = match self.backend {
            Backend::Sqlite => "server started here on SQLite",
            Backend::Postgres => "server started here on PostgreSQL",
            Backend::Remote => "server at --url",
        };
        let percentiles = |p50: f64, p99: f64, max: f64| {
            format!("p50 {p50:.2} ms   p99 {p99:.2} ms   max {max:.2} ms")
        };
        writeln!(f, "fan-out over the WebSocket feed ({backend})")?;
        row(
            f,
            "subscribers",
            &format!(
                "{} to {}, all subscribed in {:.2} s ({} connecting at a time)",
                self.subscribers, self.doctor, self.connect_seconds, self.connect_concurrency
            ),
        )?;
        row(
            f,
            "rounds",
            &format!("{} (hold a free slot, then release it)", self.rounds),
        )?;
        row(
            f,
            "hold response → held",
            &percentiles(self.p50_ms, self.p99_ms, self.max_ms),
        )?;
        if self.early_events > 0 {
            row(
                f,
                "",
                &format!(
                    "({} of these events arrived before the hold's response had been read: \
                     counted as 0 ms)",
                    self.early_events
                ),
            )?;
        }
        row(
            f,
            "hold request → held",
            &format!(
                "{}   (includes making the hold)",
                percentiles(
                    self.since_request_p50_ms,
                    self.since_request_p99_ms,
                    self.since_request_max_ms
                )
            ),
        )?;
        row(
            f,
            "first held → each held",
            &format!(
                "{}   (the fan-out's own spread)",
                percentiles(self.spread_p50_ms, self.spread_p99_ms, self.spread_max_ms)
            ),
        )?;
        row(
            f,
            "hold request → response",
            &format!(
                "p50 {:.2} ms   max {:.2} ms",
                self.hold_response_p50_ms, self.hold_response_max_ms
            ),
        )?;
        row(
            f,
            "release response → available",
            &percentiles(
                self.release_p50_ms,
                self.release_p99_ms,
                self.release_max_ms,
            ),
        )?;
        row(
            f,
            "missed",
            &format!(
                "{} (resyncs {}, disconnected {})",
                self.missed, self.resyncs, self.disconnected
            ),
        )?;
        let memory = match (self.rss_before_mb, self.rss_mb, self.rss_per_connection_kb) {
            (Some(before), Some(after), Some(per_connection)) => format!(
                "{before:.1} MB before, {after:.1} MB with everyone subscribed: \
                 {per_connection:.1} KB per connection"
            ),
            _ => "not measured (with --url, pass --server-pid)".to_owned(),
        };
        write!(f, "  {:<30}{memory}", "server memory")
    }
}

/// One line of the human summary: an indented label column, then the figures.
fn row(f: &mut fmt::Formatter<'_>, label: &str, value: &str) -> fmt::Result {
    writeln!(f, "  {label:<30}{value}")
}
