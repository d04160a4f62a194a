//! A doctor's weekly working hours, breaks, booking rules and time off.
//!
//! Hours are wall-clock times in the doctor's time zone: "Mondays 09:00–12:00" stays 09:00 in
//! summer and winter. [`crate::slots`] turns them into instants.

use jiff::civil::{Time, Weekday};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::BookingError;
use crate::ids::{DoctorId, TimeOffId};

/// A wall-clock interval within one day, `start` inclusive, `end` exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    /// First instant of the range.
    pub start: Time,
    /// First instant after the range.
    pub end: Time,
}

impl TimeRange {
    /// A range from `start` to `end`; `end` must be later.
    pub fn new(start: Time, end: Time) -> Result<Self, BookingError> {
        if end <= start {
            return Err(BookingError::validation(format!(
                "a time range must end after it starts ({start}–{end})"
            )));
        }
        Ok(Self { start, end })
    }
}

/// Time ranges for each day of the week.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WeeklyHours {
    /// Mondays.
    pub monday: Vec<TimeRange>,
    /// Tuesdays.
    pub tuesday: Vec<TimeRange>,
    /// Wednesdays.
    pub wednesday: Vec<TimeRange>,
    /// Thursdays.
    pub thursday: Vec<TimeRange>,
    /// Fridays.
    pub friday: Vec<TimeRange>,
    /// Saturdays.
    pub saturday: Vec<TimeRange>,
    /// Sundays.
    pub sunday: Vec<TimeRange>,
}

impl WeeklyHours {
    /// The ranges of one weekday.
    pub fn on(&self, day: Weekday) -> &[TimeRange] {
        match day {
            Weekday::Monday => &self.monday,
            Weekday::Tuesday => &self.tuesday,
            Weekday::Wednesday => &self.wednesday,
            Weekday::Thursday => &self.thursday,
            Weekday::Friday => &self.friday,
            Weekday::Saturday => &self.saturday,
            Weekday::Sunday => &self.sunday,
        }
    }

    /// Mutable access to the ranges of one weekday.
    pub fn on_mut(&mut self, day: Weekday) -> &mut Vec<TimeRange> {
        match day {
            Weekday::Monday => &mut self.monday,
            Weekday::Tuesday => &mut self.tuesday,
            Weekday::Wednesday => &mut self.wednesday,
            Weekday::Thursday => &mut self.thursday,
            Weekday::Friday => &mut self.friday,
            Weekday::Saturday => &mut self.saturday,
            Weekday::Sunday => &mut self.sunday,
        }
    }

    fn validate(&self, what: &str) -> Result<(), BookingError> {
        for day in ALL_WEEKDAYS {
            let mut ranges = self.on(day).to_vec();
            ranges.sort_by_key(|r| r.start);
            for range in &ranges {
                TimeRange::new(range.start, range.end)?;
            }
            if ranges.windows(2).any(|pair| pair[1].start < pair[0].end) {
                return Err(BookingError::validation(format!(
                    "{what} on {day:?} overlap each other"
                )));
            }
        }
        Ok(())
    }
}

/// The seven weekdays, Monday first.
pub const ALL_WEEKDAYS: [Weekday; 7] = [
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
    Weekday::Saturday,
    Weekday::Sunday,
];

/// How a doctor's time may be booked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookingRules {
    /// Length of one appointment, in minutes (5 to 480).
    pub slot_minutes: u16,
    /// Free time kept before each appointment, in minutes (0 to 240).
    #[serde(default)]
    pub buffer_before_minutes: u16,
    /// Free time kept after each appointment, in minutes (0 to 240).
    #[serde(default)]
    pub buffer_after_minutes: u16,
    /// How long before its start a slot can still be booked, in minutes (0 to 30 days).
    #[serde(default)]
    pub min_notice_minutes: u32,
    /// How many days ahead patients may book (1 to 730).
    pub horizon_days: u16,
    /// At most this many appointments per day, if set (1 to 500).
    #[serde(default)]
    pub max_per_day: Option<u16>,
}

impl BookingRules {
    /// Length of one appointment.
    pub fn slot_length(&self) -> SignedDuration {
        SignedDuration::from_mins(i64::from(self.slot_minutes))
    }

    /// Buffer kept before each appointment.
    pub fn buffer_before(&self) -> SignedDuration {
        SignedDuration::from_mins(i64::from(self.buffer_before_minutes))
    }

    /// Buffer kept after each appointment.
    pub fn buffer_after(&self) -> SignedDuration {
        SignedDuration::from_mins(i64::from(self.buffer_after_minutes))
    }

    /// Distance between the starts of two consecutive slots.
    pub fn step(&self) -> SignedDuration {
        self.buffer_before() + self.slot_length() + self.buffer_after()
    }

    /// The first and last instants at which a slot may start, as seen at `now`.
    pub fn bookable_window(&self, now: Timestamp) -> (Timestamp, Timestamp) {
        let earliest = now
            .saturating_add(SignedDuration::from_mins(i64::from(
                self.min_notice_minutes,
            )))
            .unwrap_or(now);
        let latest = now
            .saturating_add(SignedDuration::from_hours(
                24 * i64::from(self.horizon_days),
            ))
            .unwrap_or(now);
        (earliest, latest)
    }

    fn validate(&self) -> Result<(), BookingError> {
        let check = |ok: bool, message: &str| {
            if ok {
                Ok(())
            } else {
                Err(BookingError::validation(message))
            }
        };
        check(
            (5..=480).contains(&self.slot_minutes),
            "slot_minutes must be between 5 and 480",
        )?;
        check(
            self.buffer_before_minutes <= 240 && self.buffer_after_minutes <= 240,
            "buffers must be at most 240 minutes",
        )?;
        check(
            self.min_notice_minutes <= 30 * 24 * 60,
            "min_notice_minutes must be at most 30 days",
        )?;
        check(
            (1..=730).contains(&self.horizon_days),
            "horizon_days must be between 1 and 730",
        )?;
        check(
            self.max_per_day.is_none_or(|max| (1..=500).contains(&max)),
            "max_per_day must be between 1 and 500",
        )
    }
}

/// Working hours, breaks and rules of one doctor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklySchedule {
    /// When the doctor works.
    pub hours: WeeklyHours,
    /// Pauses inside the working hours.
    #[serde(default)]
    pub breaks: WeeklyHours,
    /// Slot length, buffers, notice, horizon, daily maximum.
    pub rules: BookingRules,
}

impl WeeklySchedule {
    /// Checks ranges and rules; every schedule the system stores has passed this.
    pub fn validate(self) -> Result<Self, BookingError> {
        self.hours.validate("working hours")?;
        self.breaks.validate("breaks")?;
        self.rules.validate()?;
        Ok(self)
    }

    /// The working periods of a weekday with the breaks cut out, sorted.
    pub fn periods_on(&self, day: Weekday) -> Vec<TimeRange> {
        let mut periods: Vec<TimeRange> = self.hours.on(day).to_vec();
        periods.sort_by_key(|r| r.start);
        for pause in self.breaks.on(day) {
            periods = periods
                .into_iter()
                .flat_map(|period| subtract(period, *pause))
                .collect();
        }
        periods
    }
}

/// `period` minus `pause`: zero, one or two ranges.
fn subtract(period: TimeRange, pause: TimeRange) -> Vec<TimeRange> {
    if pause.end <= period.start || pause.start >= period.end {
        return vec![period];
    }
    let mut rest = Vec::with_capacity(2);
    if pause.start > period.start {
        rest.push(TimeRange {
            start: period.start,
            end: pause.start,
        });
    }
    if pause.end < period.end {
        rest.push(TimeRange {
            start: pause.end,
            end: period.end,
        });
    }
    rest
}

/// A period in which a doctor takes no appointments (holiday, conference).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TimeOff {
    /// Identity.
    pub id: TimeOffId,
    /// Whose time off.
    pub doctor_id: DoctorId,
    /// First instant off.
    pub start: Timestamp,
    /// First instant back.
    pub end: Timestamp,
    /// Shown to the doctor only.
    pub reason: String,
}

impl TimeOff {
    /// Whether `[start, end)` touches this time off.
    pub fn overlaps(&self, start: Timestamp, end: Timestamp) -> bool {
        self.start < end && start < self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::time;

    fn range(a: (i8, i8), b: (i8, i8)) -> TimeRange {
        TimeRange::new(time(a.0, a.1, 0, 0), time(b.0, b.1, 0, 0)).unwrap()
    }

    #[test]
    fn breaks_split_working_periods() {
        let hours = WeeklyHours {
            monday: vec![range((9, 0), (17, 0))],
            ..WeeklyHours::default()
        };
        let breaks = WeeklyHours {
            monday: vec![range((12, 0), (13, 0))],
            ..WeeklyHours::default()
        };
        let schedule = WeeklySchedule {
            hours,
            breaks,
            rules: BookingRules {
                slot_minutes: 30,
                buffer_before_minutes: 0,
                buffer_after_minutes: 0,
                min_notice_minutes: 0,
                horizon_days: 30,
                max_per_day: None,
            },
        };
        assert_eq!(
            schedule.periods_on(Weekday::Monday),
            vec![range((9, 0), (12, 0)), range((13, 0), (17, 0))]
        );
        assert!(schedule.periods_on(Weekday::Tuesday).is_empty());
    }

    #[test]
    fn overlapping_hours_are_refused() {
        let hours = WeeklyHours {
            friday: vec![range((9, 0), (12, 0)), range((11, 0), (14, 0))],
            ..WeeklyHours::default()
        };
        let schedule = WeeklySchedule {
            hours,
            breaks: WeeklyHours::default(),
            rules: BookingRules {
                slot_minutes: 30,
                buffer_before_minutes: 0,
                buffer_after_minutes: 0,
                min_notice_minutes: 0,
                horizon_days: 30,
                max_per_day: None,
            },
        };
        assert!(schedule.validate().is_err());
    }
}
