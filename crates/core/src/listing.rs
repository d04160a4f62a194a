//! A doctor's slots with their status: the grid of their hours less time off, each slot marked
//! free, held or booked from the occupancy, within the bookable window and the daily maximum.
//! Pure; the booking service, the waitlist and the store's schedule edits all list through it.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;

use crate::booking::{Occupancy, SlotStatus};
use crate::clinic::Doctor;
use crate::schedule::TimeOff;
use crate::slots::SlotGrid;

/// A slot with its status, as patients see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SlotView {
    /// Start of the visit.
    pub start: Timestamp,
    /// End of the visit.
    pub end: Timestamp,
    /// Whether it can be held.
    pub status: SlotStatus,
}

/// The bookable slots of one doctor on `days` dates from `first` (dates in the doctor's zone)
/// with their status, as seen at `now`: slots before the minimum notice or beyond the horizon are
/// left out, and so are free slots of a day that reached the doctor's daily maximum.
/// `time_off` and `occupancy` must be the doctor's, and `occupancy` sorted by start.
pub fn doctor_listing(
    doctor: &Doctor,
    time_off: &[TimeOff],
    occupancy: &[Occupancy],
    first: Date,
    days: u16,
    now: Timestamp,
) -> Vec<SlotView> {
    let rules = &doctor.schedule.rules;
    let tz = doctor.time_zone.tz();
    let grid = SlotGrid::new(&doctor.schedule, tz, time_off);
    let (earliest, latest) = rules.bookable_window(now);
    let mut views = Vec::new();
    let mut day = first;
    for _ in 0..days {
        let day_slots = grid.for_day(day);
        let full = match (rules.max_per_day, grid.day_bounds(day)) {
            (Some(max), Some((day_start, day_end))) => {
                let taken = occupancy
                    .iter()
                    .filter(|o| o.start >= day_start && o.start < day_end)
                    .count();
                taken >= usize::from(max)
            }
            _ => false,
        };
        for slot in day_slots {
            if slot.start < earliest || slot.start > latest {
                continue;
            }
            let status = status_of(&slot.claim(rules), occupancy);
            if full && status == SlotStatus::Available {
                continue;
            }
            views.push(SlotView {
                start: slot.start,
                end: slot.end,
                status,
            });
        }
        match day.tomorrow() {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    views
}

/// The status of a slot whose agenda interval is `claim`, given occupancy sorted by start:
/// booked beats held beats available.
fn status_of(claim: &(Timestamp, Timestamp), occupancy: &[Occupancy]) -> SlotStatus {
    let (start, end) = *claim;
    // A doctor's occupancy never overlaps itself, so sorted by start it is sorted by end too.
    let first_candidate = occupancy.partition_point(|o| o.end <= start);
    let mut status = SlotStatus::Available;
    for o in occupancy[first_candidate..]
        .iter()
        .take_while(|o| o.start < end)
    {
        if o.end > start {
            if o.status == SlotStatus::Booked {
                return SlotStatus::Booked;
            }
            status = SlotStatus::Held;
        }
    }
    status
}
