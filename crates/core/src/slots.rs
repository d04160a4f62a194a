//! Slot generation: from weekly wall-clock hours to bookable instants.
//!
//! For every calendar date in the doctor's zone, each working period (breaks cut out) is walked
//! in wall-clock steps of `buffer_before + slot + buffer_after`. Each step is resolved to an
//! instant with the zone's rules:
//!
//! - a wall-clock time that does not exist (spring-forward gap) yields no slot;
//! - a wall-clock time that exists twice (fall-back fold) yields one slot, at the earlier
//!   instant, and a slot is only kept if it starts after the previous one ended, so a fold can
//!   never produce duplicate or overlapping slots.
//!
//! A slot's length is exact physical time; a slot (with its buffers) must end by the period's end.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde::Serialize;

use crate::schedule::{BookingRules, TimeOff, WeeklySchedule};

/// A bookable interval, `[start, end)`, without its buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Slot {
    /// First instant of the visit.
    pub start: Timestamp,
    /// First instant after the visit.
    pub end: Timestamp,
}

impl Slot {
    /// The interval this slot occupies in the doctor's agenda: the visit plus its buffers.
    pub fn claim(&self, rules: &BookingRules) -> (Timestamp, Timestamp) {
        (
            self.start
                .saturating_sub(rules.buffer_before())
                .unwrap_or(self.start),
            self.end
                .saturating_add(rules.buffer_after())
                .unwrap_or(self.end),
        )
    }
}

/// The slots a schedule offers in one time zone, minus time off.
#[derive(Debug)]
pub struct SlotGrid<'a> {
    schedule: &'a WeeklySchedule,
    tz: &'a TimeZone,
    time_off: &'a [TimeOff],
}

impl<'a> SlotGrid<'a> {
    /// A grid for `schedule` read in zone `tz`, skipping `time_off`.
    pub fn new(schedule: &'a WeeklySchedule, tz: &'a TimeZone, time_off: &'a [TimeOff]) -> Self {
        Self {
            schedule,
            tz,
            time_off,
        }
    }

    /// All slots of one calendar date (in the grid's zone), in order.
    pub fn for_day(&self, date: Date) -> Vec<Slot> {
        let rules = &self.schedule.rules;
        let step = rules.step();
        let mut slots = Vec::new();
        let mut previous_claim_end: Option<Timestamp> = None;
        for period in self.schedule.periods_on(date.weekday()) {
            let Some(period_end) = self.resolve_end(date.to_datetime(period.end)) else {
                continue;
            };
            let mut wall = Some(period.start);
            while let Some(claim_wall) = wall {
                wall = add_within_day(claim_wall, step);
                let Some(claim_start) = self.resolve_start(date.to_datetime(claim_wall)) else {
                    continue;
                };
                let start = claim_start + rules.buffer_before();
                let slot = Slot {
                    start,
                    end: start + rules.slot_length(),
                };
                let (_, claim_end) = slot.claim(rules);
                if claim_end > period_end {
                    break;
                }
                if previous_claim_end.is_some_and(|end| claim_start < end) {
                    continue;
                }
                if self
                    .time_off
                    .iter()
                    .any(|off| off.overlaps(claim_start, claim_end))
                {
                    continue;
                }
                previous_claim_end = Some(claim_end);
                slots.push(slot);
            }
        }
        slots
    }

    /// All slots of `days` consecutive dates starting at `first`, in order.
    pub fn for_days(&self, first: Date, days: u16) -> Vec<Slot> {
        let mut slots = Vec::new();
        let mut date = first;
        for _ in 0..days {
            slots.extend(self.for_day(date));
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        slots
    }

    /// The slot that starts exactly at `start`, if the grid has one.
    pub fn slot_at(&self, start: Timestamp) -> Option<Slot> {
        let date = self.tz.to_datetime(start).date();
        // With a buffer before, a slot shortly after midnight can belong to the previous day's
        // period walk; look there too.
        let previous = date.yesterday().ok();
        [Some(date), previous]
            .into_iter()
            .flatten()
            .flat_map(|day| self.for_day(day))
            .find(|slot| slot.start == start)
    }

    /// The first and last instants of a calendar date in the grid's zone, `[start, end)`.
    pub fn day_bounds(&self, date: Date) -> Option<(Timestamp, Timestamp)> {
        day_bounds(self.tz, date)
    }

    /// Resolves the wall-clock start of a slot: none in a gap, the earlier instant in a fold.
    fn resolve_start(&self, wall: DateTime) -> Option<Timestamp> {
        let ambiguous = self.tz.to_ambiguous_timestamp(wall);
        match ambiguous.offset() {
            AmbiguousOffset::Gap { .. } => None,
            AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => {
                ambiguous.earlier().ok()
            }
        }
    }

    /// Resolves the wall-clock end of a period. In a gap the period ends where the gap starts,
    /// at the jump of the clocks; in a fold it ends at the first occurrence.
    fn resolve_end(&self, wall: DateTime) -> Option<Timestamp> {
        let ambiguous = self.tz.to_ambiguous_timestamp(wall);
        match ambiguous.offset() {
            // The earlier reading of a gap time lies before the jump by as much as `wall` lies
            // after the gap's start (02:30 in a 02:00→03:00 gap reads as 01:30), so it would
            // cut the period short; the jump is the first transition after it.
            AmbiguousOffset::Gap { .. } => {
                let before_jump = ambiguous.earlier().ok()?;
                self.tz
                    .following(before_jump)
                    .next()
                    .map(|jump| jump.timestamp())
            }
            AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => {
                ambiguous.earlier().ok()
            }
        }
    }
}

/// The first and last instants of a calendar date in `tz`, `[start, end)`.
pub fn day_bounds(tz: &TimeZone, date: Date) -> Option<(Timestamp, Timestamp)> {
    let start = date.to_zoned(tz.clone()).ok()?.start_of_day().ok()?;
    let end = date
        .tomorrow()
        .ok()?
        .to_zoned(tz.clone())
        .ok()?
        .start_of_day()
        .ok()?;
    Some((start.timestamp(), end.timestamp()))
}

/// `time + step` if it stays within the same day.
fn add_within_day(time: Time, step: SignedDuration) -> Option<Time> {
    let next = time.checked_add(step).ok()?;
    // `Time` arithmetic errors on overflow past midnight, but make the intent explicit.
    (next > time).then_some(next)
}

/// Number of calendar days in `[first, first + days)`, for callers sizing a window.
pub fn last_date(first: Date, days: u16) -> Option<Date> {
    first.checked_add(i64::from(days).days()).ok()
}
