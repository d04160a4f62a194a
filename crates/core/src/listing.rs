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

/// `slots` as the JSON array the API answers (`[{"start":…,"end":…,"status":…},…]`), written
/// straight into one buffer sized for it: no intermediate values, no serializer. Byte for byte
/// what `serde_json` writes for the same slots (instants in RFC 3339, UTC).
pub fn listing_json(slots: &[SlotView]) -> String {
    use std::fmt::Write as _;

    // `{"start":"2027-03-02T08:00:00Z","end":"2027-03-02T08:30:00Z","status":"available"},`
    const PER_SLOT: usize = 90;
    let mut json = String::with_capacity(2 + slots.len() * PER_SLOT);
    json.push('[');
    for (index, slot) in slots.iter().enumerate() {
        if index > 0 {
            json.push(',');
        }
        // Writing into a String cannot fail.
        let _ = write!(
            json,
            r#"{{"start":"{}","end":"{}","status":"{}"}}"#,
            slot.start,
            slot.end,
            slot.status.as_str()
        );
    }
    json.push(']');
    json
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

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(start: &str, minutes: i64, status: SlotStatus) -> SlotView {
        let start: Timestamp = start.parse().unwrap();
        SlotView {
            start,
            end: start + jiff::SignedDuration::from_mins(minutes),
            status,
        }
    }

    #[test]
    fn the_listing_json_is_what_serde_writes() {
        let slots = [
            slot("2027-03-28T00:30:00Z", 30, SlotStatus::Available),
            slot("2027-03-28T01:00:00Z", 45, SlotStatus::Held),
            slot("2027-10-31T00:30:00+00:00", 90, SlotStatus::Booked),
            slot("2027-12-31T23:45:00Z", 30, SlotStatus::Available),
        ];
        for count in 0..=slots.len() {
            let expected = serde_json::to_string(&slots[..count]).unwrap();
            assert_eq!(listing_json(&slots[..count]), expected);
        }
    }
}
