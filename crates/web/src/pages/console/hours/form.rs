//! The hours form as the page draws it: weekday rows of from–to times for hours and breaks,
//! and the number fields of the booking rules, filled from a stored schedule or as posted.

use jiff::civil::{Time, Weekday};
use medibook_core::schedule::{ALL_WEEKDAYS, TimeRange, WeeklySchedule};

use crate::pages::forms::FormFields;

/// Range rows shown per weekday (more if the schedule has more).
pub(super) const RANGE_ROWS: usize = 3;

/// Most range rows per weekday a posted form is read for.
const MAX_RANGE_ROWS: usize = 12;

/// One from–to row of the form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeRow {
    /// The field id prefix and name prefix, e.g. `monday-hours-0`.
    pub id: String,
    /// "Monday working hours, row 1".
    pub label: String,
    /// The start as typed.
    pub start: String,
    /// The end as typed.
    pub end: String,
    /// What is wrong with the row.
    pub error: Option<String>,
}

/// One weekday of the form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayRows {
    /// `monday`.
    pub key: &'static str,
    /// "Monday".
    pub name: &'static str,
    /// Working hours rows.
    pub hours: Vec<RangeRow>,
    /// Break rows.
    pub breaks: Vec<RangeRow>,
}

/// One number field of the form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NumberField {
    /// As typed.
    pub value: String,
    /// What is wrong with it.
    pub error: Option<String>,
}

/// The hours form, as shown or as posted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoursForm {
    /// Monday to Sunday.
    pub days: Vec<DayRows>,
    /// Slot length, minutes.
    pub slot_minutes: NumberField,
    /// Buffer before, minutes.
    pub buffer_before: NumberField,
    /// Buffer after, minutes.
    pub buffer_after: NumberField,
    /// Minimum notice, hours part.
    pub notice_hours: NumberField,
    /// Minimum notice, minutes part.
    pub notice_minutes: NumberField,
    /// Horizon, days.
    pub horizon_days: NumberField,
    /// Daily maximum, empty for none.
    pub max_per_day: NumberField,
    /// A problem the schedule as a whole has.
    pub general: Option<String>,
}

fn day_key(day: Weekday) -> (&'static str, &'static str) {
    match day {
        Weekday::Monday => ("monday", "Monday"),
        Weekday::Tuesday => ("tuesday", "Tuesday"),
        Weekday::Wednesday => ("wednesday", "Wednesday"),
        Weekday::Thursday => ("thursday", "Thursday"),
        Weekday::Friday => ("friday", "Friday"),
        Weekday::Saturday => ("saturday", "Saturday"),
        Weekday::Sunday => ("sunday", "Sunday"),
    }
}

pub(super) fn clock(time: Time) -> String {
    format!("{:02}:{:02}", time.hour(), time.minute())
}

fn number(value: impl ToString) -> NumberField {
    NumberField {
        value: value.to_string(),
        error: None,
    }
}

fn rows_of(key: &str, name: &str, kind: &str, ranges: &[TimeRange], count: usize) -> Vec<RangeRow> {
    let what = if kind == "hours" {
        "working hours"
    } else {
        "break"
    };
    (0..count)
        .map(|index| {
            let range = ranges.get(index);
            RangeRow {
                id: format!("{key}-{kind}-{index}"),
                label: format!("{name} {what}, row {}", index + 1),
                start: range.map(|r| clock(r.start)).unwrap_or_default(),
                end: range.map(|r| clock(r.end)).unwrap_or_default(),
                error: None,
            }
        })
        .collect()
}

impl HoursForm {
    /// The form filled with a stored schedule.
    pub fn from_schedule(schedule: &WeeklySchedule) -> Self {
        let days = ALL_WEEKDAYS
            .iter()
            .map(|day| {
                let (key, name) = day_key(*day);
                let mut hours = schedule.hours.on(*day).to_vec();
                hours.sort_by_key(|r| r.start);
                let mut breaks = schedule.breaks.on(*day).to_vec();
                breaks.sort_by_key(|r| r.start);
                let count = RANGE_ROWS.max(hours.len()).max(breaks.len());
                DayRows {
                    key,
                    name,
                    hours: rows_of(key, name, "hours", &hours, count),
                    breaks: rows_of(key, name, "break", &breaks, count),
                }
            })
            .collect();
        let rules = &schedule.rules;
        Self {
            days,
            slot_minutes: number(rules.slot_minutes),
            buffer_before: number(rules.buffer_before_minutes),
            buffer_after: number(rules.buffer_after_minutes),
            notice_hours: number(rules.min_notice_minutes / 60),
            notice_minutes: number(rules.min_notice_minutes % 60),
            horizon_days: number(rules.horizon_days),
            max_per_day: NumberField {
                value: rules.max_per_day.map(|m| m.to_string()).unwrap_or_default(),
                error: None,
            },
            general: None,
        }
    }

    /// The form as posted (rows beyond the first [`RANGE_ROWS`] are read when sent).
    pub fn read(fields: &FormFields) -> Self {
        let read_rows = |key: &str, name: &str, kind: &str| -> Vec<RangeRow> {
            let present = (0..MAX_RANGE_ROWS)
                .filter(|i| fields.value(&format!("{key}-{kind}-{i}-start")).is_some())
                .max()
                .map_or(0, |i| i + 1);
            let mut rows = rows_of(key, name, kind, &[], RANGE_ROWS.max(present));
            for row in &mut rows {
                row.start = fields.get(&format!("{}-start", row.id)).to_owned();
                row.end = fields.get(&format!("{}-end", row.id)).to_owned();
            }
            rows
        };
        let days = ALL_WEEKDAYS
            .iter()
            .map(|day| {
                let (key, name) = day_key(*day);
                DayRows {
                    key,
                    name,
                    hours: read_rows(key, name, "hours"),
                    breaks: read_rows(key, name, "break"),
                }
            })
            .collect();
        let field = |name: &str| NumberField {
            value: fields.get(name).to_owned(),
            error: None,
        };
        Self {
            days,
            slot_minutes: field("slot_minutes"),
            buffer_before: field("buffer_before"),
            buffer_after: field("buffer_after"),
            notice_hours: field("notice_hours"),
            notice_minutes: field("notice_minutes"),
            horizon_days: field("horizon_days"),
            max_per_day: field("max_per_day"),
            general: None,
        }
    }
}

/// The working days a day's hours are copied to.
const WEEKDAY_KEYS: [&str; 5] = ["monday", "tuesday", "wednesday", "thursday", "friday"];

impl HoursForm {
    /// Copies the hours and breaks of the weekday `key` (as typed) to the other days Monday to
    /// Friday; `false` (nothing changed) for another key.
    pub fn copy_to_weekdays(&mut self, key: &str) -> bool {
        let Some(source) = self
            .days
            .iter()
            .find(|d| d.key == key && WEEKDAY_KEYS.contains(&key))
        else {
            return false;
        };
        let (hours, breaks) = (source.hours.clone(), source.breaks.clone());
        let copy = |rows: &[RangeRow], into: &mut Vec<RangeRow>, day: &DayRows| {
            *into = rows
                .iter()
                .enumerate()
                .map(|(i, row)| {
                    let kind = if row.id.contains("-break-") {
                        "break"
                    } else {
                        "hours"
                    };
                    RangeRow {
                        id: format!("{}-{kind}-{i}", day.key),
                        label: row.label.replacen(source_name(key), day.name, 1),
                        start: row.start.clone(),
                        end: row.end.clone(),
                        error: None,
                    }
                })
                .collect();
        };
        for day in &mut self.days {
            if day.key != key && WEEKDAY_KEYS.contains(&day.key) {
                let target = day.clone();
                copy(&hours, &mut day.hours, &target);
                copy(&breaks, &mut day.breaks, &target);
            }
        }
        true
    }
}

/// "Monday" for `monday`.
fn source_name(key: &str) -> &'static str {
    ALL_WEEKDAYS
        .iter()
        .map(|day| day_key(*day))
        .find(|(k, _)| *k == key)
        .map_or("", |(_, name)| name)
}

/// A number field as the template draws it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumberView {
    /// Field id and name.
    pub id: &'static str,
    /// Its label.
    pub label: &'static str,
    /// What to enter.
    pub hint: &'static str,
    /// Smallest value.
    pub min: u32,
    /// Largest value.
    pub max: u32,
    /// As typed.
    pub value: String,
    /// What is wrong with it.
    pub error: Option<String>,
}

impl HoursForm {
    /// The number fields, in the order of the form.
    pub fn numbers(&self) -> Vec<NumberView> {
        let view = |id, label, hint, min, max, field: &NumberField| NumberView {
            id,
            label,
            hint,
            min,
            max,
            value: field.value.clone(),
            error: field.error.clone(),
        };
        vec![
            view(
                "slot_minutes",
                "Slot length",
                "Minutes, 5 to 480.",
                5,
                480,
                &self.slot_minutes,
            ),
            view(
                "buffer_before",
                "Buffer before",
                "Free minutes kept before each visit, 0 to 240.",
                0,
                240,
                &self.buffer_before,
            ),
            view(
                "buffer_after",
                "Buffer after",
                "Free minutes kept after each visit, 0 to 240.",
                0,
                240,
                &self.buffer_after,
            ),
            view(
                "notice_hours",
                "Minimum notice, hours",
                "How long before a visit it can still be booked.",
                0,
                720,
                &self.notice_hours,
            ),
            view(
                "notice_minutes",
                "Minimum notice, minutes",
                "Added to the hours, 0 to 59.",
                0,
                59,
                &self.notice_minutes,
            ),
            view(
                "horizon_days",
                "Booking horizon",
                "How many days ahead patients may book, 1 to 730.",
                1,
                730,
                &self.horizon_days,
            ),
            view(
                "max_per_day",
                "Daily maximum",
                "Most appointments a day; empty for no limit.",
                1,
                500,
                &self.max_per_day,
            ),
        ]
    }
}
