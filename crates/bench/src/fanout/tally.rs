//! The latencies, misses and early events gathered over the benchmark's rounds.

use std::time::{Duration, Instant};

/// Latencies and misses gathered over the rounds.
#[derive(Debug)]
pub(super) struct Tally {
    subscribers: usize,
    pub(super) held: Vec<Duration>,
    pub(super) held_since_request: Vec<Duration>,
    /// Each `held` arrival after the round's first one: the spread of the fan-out itself.
    pub(super) held_spread: Vec<Duration>,
    /// Hold request → its response.
    pub(super) hold_responses: Vec<Duration>,
    pub(super) available: Vec<Duration>,
    pub(super) missed: usize,
    pub(super) early: usize,
}

impl Tally {
    pub(super) fn new(subscribers: usize) -> Self {
        Self {
            subscribers,
            held: Vec::new(),
            held_since_request: Vec::new(),
            held_spread: Vec::new(),
            hold_responses: Vec::new(),
            available: Vec::new(),
            missed: 0,
            early: 0,
        }
    }

    pub(super) fn add_held(
        &mut self,
        arrivals: &[Instant],
        requested_at: Instant,
        answered_at: Instant,
    ) {
        self.early += arrivals.iter().filter(|at| **at < answered_at).count();
        Self::add(&mut self.held, arrivals, answered_at);
        Self::add(&mut self.held_since_request, arrivals, requested_at);
        if let Some(first) = arrivals.iter().min() {
            Self::add(&mut self.held_spread, arrivals, *first);
        }
        self.hold_responses
            .push(answered_at.saturating_duration_since(requested_at));
        self.missed += self.subscribers.saturating_sub(arrivals.len());
    }

    pub(super) fn add_available(&mut self, arrivals: &[Instant], answered_at: Instant) {
        Self::add(&mut self.available, arrivals, answered_at);
        self.missed += self.subscribers.saturating_sub(arrivals.len());
    }

    /// Latencies from `answered_at`; an event that beat the response counts as zero.
    fn add(latencies: &mut Vec<Duration>, arrivals: &[Instant], answered_at: Instant) {
        latencies.extend(
            arrivals
                .iter()
                .map(|at| at.saturating_duration_since(answered_at)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_events_count_as_zero_latency() {
        let answered = Instant::now();
        let mut tally = Tally::new(3);
        let requested = answered.checked_sub(Duration::from_millis(3)).unwrap();
        let early = answered.checked_sub(Duration::from_millis(2)).unwrap();
        tally.add_held(
            &[early, answered + Duration::from_millis(5)],
            requested,
            answered,
        );
        assert_eq!(tally.early, 1);
        assert_eq!(tally.missed, 1);
        assert_eq!(tally.held, [Duration::ZERO, Duration::from_millis(5)]);
        assert_eq!(
            tally.held_since_request,
            [Duration::from_millis(1), Duration::from_millis(8)]
        );
        assert_eq!(
            tally.held_spread,
            [Duration::ZERO, Duration::from_millis(7)]
        );
        assert_eq!(tally.hold_responses, [Duration::from_millis(3)]);
    }
}
