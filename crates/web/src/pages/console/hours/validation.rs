//! Checking a posted hours form: the schedule it describes, or a message next to each wrong
//! field (a bad time, an end before its start, overlapping rows, numbers out of bounds).

use jiff::civil::Time;
use medibook_core::schedule::{ALL_WEEKDAYS, BookingRules, TimeRange, WeeklyHours, WeeklySchedule};

use super::form::{HoursForm, NumberField, RangeRow, clock};
use crate::pages::console::Problem;
use crate::pages::error::sentence;

impl HoursForm {
    /// The schedule the form describes, or `None` with a message on each wrong field.
    pub fn schedule(&mut self) -> Option<WeeklySchedule> {
        let mut hours = WeeklyHours::default();
        let mut breaks = WeeklyHours::default();
        for (day, rows) in ALL_WEEKDAYS.iter().zip(&mut self.days) {
            *hours.on_mut(*day) = ranges(&mut rows.hours, "working hours");
            *breaks.on_mut(*day) = ranges(&mut rows.breaks, "breaks");
        }
        let slot_minutes = bounded(&mut self.slot_minutes, 5, 480, false, || {
            "Enter a slot length between 5 and 480 minutes.".into()
        });
        let buffer_before = bounded(&mut self.buffer_before, 0, 240, true, || {
            "Enter a buffer between 0 and 240 minutes.".into()
        });
        let buffer_after = bounded(&mut self.buffer_after, 0, 240, true, || {
            "Enter a buffer between 0 and 240 minutes.".into()
        });
        let notice_hours = bounded(&mut self.notice_hours, 0, 720, true, || {
            "Enter the hours of notice, 0 to 720 (30 days).".into()
        });
        let notice_minutes = bounded(&mut self.notice_minutes, 0, 59, true, || {
            "Enter the minutes of notice, 0 to 59.".into()
        });
        let horizon_days = bounded(&mut self.horizon_days, 1, 730, false, || {
            "Enter how many days ahead patients may book, 1 to 730.".into()
        });
        let max_per_day = if self.max_per_day.value.trim().is_empty() {
            Some(None)
        } else {
            bounded(&mut self.max_per_day, 1, 500, false, || {
                "Leave this empty for no limit, or enter a number from 1 to 500.".into()
            })
            .map(Some)
        };
        let notice = match (notice_hours, notice_minutes) {
            (Some(h), Some(m)) if h * 60 + m > 30 * 24 * 60 => {
                self.notice_hours.error = Some("The notice may be at most 30 days.".into());
                None
            }
            (Some(h), Some(m)) => Some(h * 60 + m),
            _ => None,
        };
        let rows_ok = self
            .days
            .iter()
            .all(|d| d.hours.iter().chain(&d.breaks).all(|r| r.error.is_none()));
        let (
            Some(slot_minutes),
            Some(buffer_before),
            Some(buffer_after),
            Some(min_notice_minutes),
            Some(horizon_days),
            Some(max_per_day),
            true,
        ) = (
            slot_minutes.and_then(|v| u16::try_from(v).ok()),
            buffer_before.and_then(|v| u16::try_from(v).ok()),
            buffer_after.and_then(|v| u16::try_from(v).ok()),
            notice,
            horizon_days.and_then(|v| u16::try_from(v).ok()),
            max_per_day.map(|m| m.and_then(|v| u16::try_from(v).ok())),
            rows_ok,
        )
        else {
            return None;
        };
        let schedule = WeeklySchedule {
            hours,
            breaks,
            rules: BookingRules {
                slot_minutes,
                buffer_before_minutes: buffer_before,
                buffer_after_minutes: buffer_after,
                min_notice_minutes,
                horizon_days,
                max_per_day,
            },
        };
        match schedule.validate() {
            Ok(schedule) => Some(schedule),
            Err(error) => {
                self.general = Some(sentence(&error.to_string()));
                None
            }
        }
    }

    /// Every message, for the summary at the top, in the order of the form.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if let Some(message) = &self.general {
            problems.push(Problem {
                href: "#hours-form".into(),
                message: message.clone(),
            });
        }
        for day in &self.days {
            for row in day.hours.iter().chain(&day.breaks) {
                if let Some(message) = &row.error {
                    problems.push(Problem {
                        href: format!("#{}-start", row.id),
                        message: format!("{}: {message}", row.label),
                    });
                }
            }
        }
        let numbers = [
            ("slot_minutes", "Slot length", &self.slot_minutes),
            ("buffer_before", "Buffer before", &self.buffer_before),
            ("buffer_after", "Buffer after", &self.buffer_after),
            ("notice_hours", "Minimum notice", &self.notice_hours),
            ("notice_minutes", "Minimum notice", &self.notice_minutes),
            ("horizon_days", "Booking horizon", &self.horizon_days),
            ("max_per_day", "Daily maximum", &self.max_per_day),
        ];
        for (id, label, field) in numbers {
            if let Some(message) = &field.error {
                problems.push(Problem {
                    href: format!("#{id}"),
                    message: format!("{label}: {message}"),
                });
            }
        }
        problems
    }
}

/// A time as typed in a time field: `HH:MM` or `HH:MM:SS`.
pub fn parse_time(text: &str) -> Option<Time> {
    let text = text.trim();
    let valid_shape = matches!(text.len(), 5 | 8)
        && text.chars().enumerate().all(|(i, c)| {
            if i == 2 || i == 5 {
                c == ':'
            } else {
                c.is_ascii_digit()
            }
        });
    if !valid_shape {
        return None;
    }
    text.parse::<Time>().ok()
}

/// The ranges of the filled rows, with a message on each wrong row: a bad time, a missing half,
/// an end before its start, an overlap with an earlier row of the same day.
fn ranges(rows: &mut [RangeRow], what: &str) -> Vec<TimeRange> {
    let mut accepted: Vec<TimeRange> = Vec::new();
    for row in rows.iter_mut() {
        let (start, end) = (row.start.trim(), row.end.trim());
        if start.is_empty() && end.is_empty() {
            continue;
        }
        if start.is_empty() || end.is_empty() {
            row.error = Some("Enter both a start and an end time, or leave both empty.".into());
            continue;
        }
        let (Some(from), Some(to)) = (parse_time(start), parse_time(end)) else {
            row.error = Some("Enter times like 09:00 or 17:30.".into());
            continue;
        };
        let Ok(range) = TimeRange::new(from, to) else {
            row.error = Some("The end must be later than the start.".into());
            continue;
        };
        if let Some(other) = accepted
            .iter()
            .find(|o| o.start < range.end && range.start < o.end)
        {
            row.error = Some(format!(
                "This overlaps the {what} {}–{} of the same day.",
                clock(other.start),
                clock(other.end)
            ));
            continue;
        }
        accepted.push(range);
    }
    accepted.sort_by_key(|r| r.start);
    accepted
}

/// A whole number between `min` and `max`; an empty field is 0 when `empty_is_zero`.
fn bounded(
    field: &mut NumberField,
    min: u32,
    max: u32,
    empty_is_zero: bool,
    message: impl Fn() -> String,
) -> Option<u32> {
    let text = field.value.trim();
    if text.is_empty() && empty_is_zero {
        return Some(0);
    }
    match text.parse::<u32>() {
        Ok(value) if (min..=max).contains(&value) => Some(value),
        _ => {
            field.error = Some(message());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::forms::FormFields;

    fn posted(pairs: &[(&str, &str)]) -> FormFields {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        FormFields::parse(body.as_bytes())
    }

    #[test]
    fn a_filled_form_reads_as_a_schedule() {
        let mut form = HoursForm::read(&posted(&[
            ("monday-hours-0-start", "09:00"),
            ("monday-hours-0-end", "12:00"),
            ("monday-hours-1-start", "13:00"),
            ("monday-hours-1-end", "17:00:00"),
            ("monday-break-0-start", "10:00"),
            ("monday-break-0-end", "10:15"),
            ("slot_minutes", "20"),
            ("buffer_before", ""),
            ("buffer_after", "5"),
            ("notice_hours", "2"),
            ("notice_minutes", "30"),
            ("horizon_days", "60"),
            ("max_per_day", ""),
        ]));
        let schedule = form.schedule().unwrap();
        assert_eq!(schedule.hours.monday.len(), 2);
        assert_eq!(schedule.breaks.monday.len(), 1);
        assert!(schedule.hours.tuesday.is_empty());
        assert_eq!(schedule.rules.slot_minutes, 20);
        assert_eq!(schedule.rules.buffer_before_minutes, 0);
        assert_eq!(schedule.rules.min_notice_minutes, 150);
        assert_eq!(schedule.rules.max_per_day, None);
        assert!(form.problems().is_empty());
        // Shown again, the stored schedule fills the same fields.
        let again = HoursForm::from_schedule(&schedule);
        assert_eq!(again.days[0].hours[1].end, "17:00");
        assert_eq!(again.notice_hours.value, "2");
        assert_eq!(again.notice_minutes.value, "30");
    }

    #[test]
    fn each_mistake_is_said_next_to_its_field() {
        let mut form = HoursForm::read(&posted(&[
            ("monday-hours-0-start", "12:00"),
            ("monday-hours-0-end", "09:00"),
            ("tuesday-hours-0-start", "09:00"),
            ("tuesday-hours-0-end", "12:00"),
            ("tuesday-hours-1-start", "11:00"),
            ("tuesday-hours-1-end", "14:00"),
            ("wednesday-hours-0-start", "nine"),
            ("wednesday-hours-0-end", "12:00"),
            ("thursday-break-0-start", "12:00"),
            ("slot_minutes", "2"),
            ("horizon_days", "60"),
        ]));
        assert!(form.schedule().is_none());
        let error = |day: usize, kind: &str, row: usize| {
            let rows = if kind == "hours" {
                &form.days[day].hours
            } else {
                &form.days[day].breaks
            };
            rows[row].error.clone().unwrap_or_default()
        };
        assert!(error(0, "hours", 0).contains("later than the start"));
        assert!(error(1, "hours", 0).is_empty());
        assert!(error(1, "hours", 1).contains("overlaps"));
        assert!(error(2, "hours", 0).contains("like 09:00"));
        assert!(error(3, "break", 0).contains("both"));
        assert!(form.slot_minutes.error.is_some());
        assert_eq!(form.problems().len(), 5);
        // What was typed stays.
        assert_eq!(form.days[2].hours[0].start, "nine");
        assert_eq!(form.slot_minutes.value, "2");
    }

    #[test]
    fn times_must_look_like_times() {
        assert_eq!(parse_time("09:30"), Some(jiff::civil::time(9, 30, 0, 0)));
        assert_eq!(
            parse_time("23:59:00"),
            Some(jiff::civil::time(23, 59, 0, 0))
        );
        for bad in [
            "9",
            "9:30",
            "24:00",
            "09:60",
            "0930",
            "09:30:00.5",
            "T09:30",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
