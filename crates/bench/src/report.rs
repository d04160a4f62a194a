//! How every benchmark hands back its figures: a human summary, then, for scripts, one JSON
//! line that is always the last line of standard output.

use std::fmt::Display;

use serde::Serialize;

use crate::error::{BenchError, BenchResult};

/// Prints `report` for people and, with `json`, as one JSON line after it.
pub fn print<R: Display + Serialize>(report: &R, json: bool) -> BenchResult<()> {
    println!("{report}");
    if json {
        let line = serde_json::to_string(report)
            .map_err(|e| BenchError::Data(format!("cannot encode the report as JSON: {e}")))?;
        println!("{line}");
    }
    Ok(())
}

/// Milliseconds with two decimals, as the JSON reports give durations.
pub fn millis(duration: std::time::Duration) -> f64 {
    round2(duration.as_secs_f64() * 1000.0)
}

/// `value` rounded to two decimals.
pub fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn durations_are_reported_in_milliseconds_with_two_decimals() {
        assert_eq!(millis(Duration::from_micros(12_345)), 12.35);
        assert_eq!(millis(Duration::ZERO), 0.0);
        assert_eq!(millis(Duration::from_secs(2)), 2000.0);
    }
}
