//! The hours editor: `GET /doctor/hours` and `POST /doctor/hours`.
//!
//! One form holds the weekly working hours and breaks (a few from–to rows per weekday; empty
//! rows mean nothing), the slot length, buffers, minimum notice, booking horizon and daily
//! maximum. It has two submit buttons: **Preview** (`intent=preview`) re-renders the form with
//! what the proposed hours would change over the next four weeks (free slots added and removed
//! per day, booked visits left outside the hours) and saves nothing; **Save** (`intent=save`)
//! stores them through `state.staff.set_schedule`, as `PUT /api/v1/doctor/schedule` does, and
//! redirects to `?notice=saved`.
//!
//! Mistakes (a bad time, an end before its start, overlapping rows, numbers out of bounds) are
//! answered with 422 and the form as typed, each message next to its field and all of them in
//! a summary at the top.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::civil::{Time, Weekday};
use medibook_core::BookingError;
use medibook_core::audit::{AuditAction, AuditEvent};
use medibook_core::clinic::Doctor;
use medibook_core::preview::within_working_time;
use medibook_core::schedule::{ALL_WEEKDAYS, BookingRules, TimeRange, WeeklyHours, WeeklySchedule};

use crate::AppState;
use crate::client::ClientIp;
use crate::pages::browse::query_param;
use crate::pages::console::{
    Console, PreviewView, Problem, Scope, Tab, audit_all, chooser, preview, refusal,
};
use crate::pages::error::{PageResult, sentence};
use crate::pages::forms::{FormFields, PostedForm};
use crate::pages::{Layout, Section, StaffViewer};

/// Range rows shown per weekday (more if the schedule has more).
const RANGE_ROWS: usize = 3;

/// Most range rows per weekday a posted form is read for.
const MAX_RANGE_ROWS: usize = 12;

/// Days the preview looks ahead.
const PREVIEW_DAYS: u16 = 28;

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

fn clock(time: Time) -> String {
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

#[derive(Template, WebTemplate)]
#[template(path = "doctor_hours.html")]
struct HoursPage {
    layout: Layout,
    console: Console,
    action: String,
    numbers: Vec<NumberView>,
    form: HoursForm,
    rows_hint: usize,
    problems: Vec<Problem>,
    preview: Option<PreviewView>,
    visits_heading: &'static str,
    visits_note: &'static str,
    notice: Option<&'static str>,
}

fn page(
    staff: &StaffViewer,
    scope: Scope,
    doctor: &Doctor,
    uri: &Uri,
    form: HoursForm,
    preview: Option<PreviewView>,
    notice: Option<&'static str>,
) -> HoursPage {
    let problems = form.problems();
    let title = if problems.is_empty() {
        "Working hours"
    } else {
        "Working hours: please correct the form"
    };
    HoursPage {
        layout: Layout::new(&staff.viewer(), title, Section::DoctorConsole, uri),
        console: Console::new(staff, scope, doctor, Tab::Hours),
        action: scope.href("/doctor/hours", &[]),
        numbers: form.numbers(),
        rows_hint: form
            .days
            .iter()
            .map(|d| d.hours.len())
            .max()
            .unwrap_or(RANGE_ROWS),
        form,
        visits_heading: "Booked appointments outside the new hours",
        visits_note: "They keep their time: nothing moves them. Tell the patients if they \
                      should come at another time.",
        problems,
        preview,
        notice,
    }
}

/// `GET /doctor/hours?doctor_id=&notice=saved`.
pub async fn show(
    State(state): State<AppState>,
    staff: StaffViewer,
    client: ClientIp,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let raw = raw.as_deref();
    let scope = Scope::from_query(raw)?;
    if let Some(page) = chooser(&state, &staff, scope, &uri, Tab::Hours).await? {
        return Ok(page);
    }
    let doctor = state
        .staff
        .schedule(&staff.member, scope.requested)
        .await
        .map_err(refusal)?;
    audit_all(
        &state,
        &staff,
        &client,
        vec![AuditEvent::doctor(AuditAction::ScheduleRead, doctor.id)],
    )
    .await?;
    let notice = match query_param(raw, "notice").as_deref() {
        Some("saved") => Some("Hours saved. Patients see the new times at once."),
        _ => None,
    };
    let form = HoursForm::from_schedule(&doctor.schedule);
    Ok(page(&staff, scope, &doctor, &uri, form, None, notice).into_response())
}

/// `POST /doctor/hours?doctor_id=` with `intent=preview` or `intent=save`.
pub async fn submit(
    State(state): State<AppState>,
    staff: StaffViewer,
    client: ClientIp,
    uri: Uri,
    RawQuery(raw): RawQuery,
    PostedForm(fields): PostedForm,
) -> PageResult<Response> {
    let scope = Scope::from_query(raw.as_deref())?;
    if let Some(page) = chooser(&state, &staff, scope, &uri, Tab::Hours).await? {
        return Ok(page);
    }
    let doctor = state
        .staff
        .schedule(&staff.member, scope.requested)
        .await
        .map_err(refusal)?;
    let mut form = HoursForm::read(&fields);
    let Some(schedule) = form.schedule() else {
        let page = page(&staff, scope, &doctor, &uri, form, None, None);
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    if fields.get("intent") == "save" {
        return match state
            .staff
            .set_schedule(&staff.member, scope.requested, schedule)
            .await
        {
            Ok(saved) => {
                audit_all(
                    &state,
                    &staff,
                    &client,
                    vec![AuditEvent::doctor(AuditAction::ScheduleUpdate, saved.id)],
                )
                .await?;
                let to = scope.href("/doctor/hours", &[("notice", "saved")]);
                Ok(Redirect::to(&to).into_response())
            }
            Err(BookingError::Validation(message)) => {
                form.general = Some(sentence(&message));
                let page = page(&staff, scope, &doctor, &uri, form, None, None);
                Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
            }
            Err(other) => Err(refusal(other)),
        };
    }
    // Preview: what the proposed hours change over the next four weeks; nothing is saved.
    let (_, time_off) = state
        .staff
        .time_off(&staff.member, scope.requested)
        .await
        .map_err(refusal)?;
    audit_all(
        &state,
        &staff,
        &client,
        vec![
            AuditEvent::doctor(AuditAction::ScheduleRead, doctor.id),
            AuditEvent::doctor(AuditAction::TimeOffList, doctor.id),
        ],
    )
    .await?;
    let tz = doctor.time_zone.tz().clone();
    let today = tz.to_datetime(state.bookings.now()).date();
    let proposed = Doctor {
        schedule,
        ..doctor.clone()
    };
    let view = preview(
        &state,
        &staff,
        &client,
        scope,
        (&doctor, &time_off),
        (&proposed, &time_off),
        (today, PREVIEW_DAYS),
        |appointment| {
            !within_working_time(
                &proposed.schedule,
                &tz,
                &[],
                appointment.start,
                appointment.end,
            )
        },
    )
    .await?;
    Ok(page(&staff, scope, &doctor, &uri, form, Some(view), None).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

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
