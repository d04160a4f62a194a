//! Latency percentiles over a run's samples.

use std::time::Duration;

/// The percentiles a benchmark reports over a set of latencies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LatencySummary {
    /// How many samples.
    pub count: usize,
    /// Median (nearest rank).
    pub p50: Duration,
    /// 99th percentile (nearest rank).
    pub p99: Duration,
    /// Slowest sample.
    pub max: Duration,
}

impl LatencySummary {
    /// Summarizes `samples` (sorted in place); `None` when there are none.
    pub fn of(samples: &mut [Duration]) -> Option<Self> {
        samples.sort_unstable();
        let max = *samples.last()?;
        Some(Self {
            count: samples.len(),
            p50: nearest_rank(samples, 500),
            p99: nearest_rank(samples, 990),
            max,
        })
    }
}

/// The sample at `per_mille`/1000 of the sorted, non-empty `sorted`, by the nearest-rank
/// method: the smallest sample with at least that share of samples at or below it.
fn nearest_rank(sorted: &[Duration], per_mille: usize) -> Duration {
    let rank = (sorted.len() * per_mille).div_ceil(1000).max(1);
    sorted
        .get(rank - 1)
        .or(sorted.last())
        .copied()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_millis(*v)).collect()
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut samples = ms(&(1..=100).rev().collect::<Vec<_>>());
        let summary = LatencySummary::of(&mut samples).unwrap();
        assert_eq!(summary.count, 100);
        assert_eq!(summary.p50, Duration::from_millis(50));
        assert_eq!(summary.p99, Duration::from_millis(99));
        assert_eq!(summary.max, Duration::from_millis(100));
    }

    #[test]
    fn one_sample_is_every_percentile() {
        let summary = LatencySummary::of(&mut ms(&[7])).unwrap();
        assert_eq!(
            (summary.p50, summary.p99, summary.max),
            (
                Duration::from_millis(7),
                Duration::from_millis(7),
                Duration::from_millis(7)
            )
        );
    }

    #[test]
    fn no_samples_give_no_summary() {
        assert_eq!(LatencySummary::of(&mut []), None);
    }
}
