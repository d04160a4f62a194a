//! The agenda: `GET /doctor?view=day|week&date=YYYY-MM-DD` as a time grid, and recording how a
//! visit went: `POST /doctor/appointments/{id}/complete` and `…/no-show`.
//!
//! The grid is a `<table>`: one column per day (the Monday-to-Sunday week holding `date`, or the
//! one day), one row per time step over the hours that matter (the working hours of the days
//! shown and any appointment outside them, whole hours). An appointment is one cell spanning
//! its rows (`rowspan`: the Content-Security-Policy allows no `style` attributes); appointments
//! that overlap (a cancelled visit and the one booked in its place) share a cell. Free working
//! time, breaks and time off are cells of their own kind, merged down the column. On a narrow
//! screen the grid scrolls sideways inside its box while the time column stays in view.
//!
//! Each booked visit that has started carries two small forms; they answer with a 303 back to
//! the agenda the doctor was on (a local `back` path) with a notice saying what happened, also
//! when the visit could not be marked.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, RawQuery, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use medibook_core::BookingError;
use medibook_core::audit::{AuditAction, AuditEvent};
use medibook_core::booking::AppointmentStatus;
use medibook_core::clinic::Doctor;
use medibook_core::ids::AppointmentId;
use medibook_core::schedule::TimeOff;
use medibook_core::staff::{AgendaEntry, Outcome, PatientHistory};

use crate::AppState;
use crate::client::ClientIp;
use crate::pages::booking::status_label;
use crate::pages::browse::{page_id, query_param};
use crate::pages::console::{
    Console, Scope, Tab, agenda_patients, agenda_read_events, audit_all, chooser, patient_name,
    refusal,
};
use crate::pages::error::{PageError, PageResult};
use crate::pages::format;
use crate::pages::forms::PostedForm;
use crate::pages::signin::safe_next;
use crate::pages::{Layout, Section, StaffViewer};

/// Minutes in a day: the end of the last row a grid may have.
const DAY_MINUTES: i32 = 24 * 60;

/// The finest time step of the grid's rows, in minutes.
const FINEST_STEP: i32 = 5;

/// What a stretch of a day column holds when no appointment is there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeKind {
    /// Working time, free to book.
    Free,
    /// A break inside the working hours.
    Break,
    /// Time off.
    Off,
    /// Outside the working hours.
    Closed,
}

/// One appointment as the grid shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Visit {
    /// Appointment id.
    pub id: String,
    /// "09:00–09:15".
    pub time: String,
    /// "Tuesday 2 March 2027, 09:00 to 09:15", for the buttons' names.
    pub when: String,
    /// Who comes.
    pub patient: String,
    /// Why.
    pub reason: String,
    /// "Booked", "Completed", "Cancelled", "Missed".
    pub status: &'static str,
    /// `scheduled`, `completed`, `cancelled`, `no_show`, for styling.
    pub status_class: &'static str,
    /// The patient's email, if known.
    pub email: Option<String>,
    /// The patient's phone, if known.
    pub phone: Option<String>,
    /// Whether it is booked and has started, so it can be marked.
    pub can_mark: bool,
    /// Whether the patient cancelled it inside the late-cancellation window.
    pub cancelled_late: bool,
    /// The patient's record with the clinic: "History: 3 visits, 1 no-show, 1 late cancellation".
    pub history: String,
    /// Whether that record holds a no-show or a late cancellation (drawn stronger).
    pub history_missed: bool,
}

/// One cell of the grid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    /// A stretch without appointments, `rows` tall.
    Time {
        /// What it is.
        kind: TimeKind,
        /// How many rows it spans.
        rows: usize,
    },
    /// One or more (overlapping) appointments, `rows` tall.
    Visits {
        /// The appointments, by start.
        visits: Vec<Visit>,
        /// How many rows it spans.
        rows: usize,
    },
}

/// One row of the grid: its time and the cells that start in it (a cell spanning rows is
/// emitted once, in its first row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// "09:15".
    pub label: String,
    /// Whether the row starts a full hour (drawn stronger).
    pub hour: bool,
    /// The cells starting in this row, one per column at most.
    pub cells: Vec<Cell>,
}

/// One day column's heading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// "Tue".
    pub weekday: String,
    /// "2 Mar".
    pub day_month: String,
    /// "Tuesday 2 March 2027".
    pub long_date: String,
    /// The day view of this date.
    pub href: String,
    /// Whether it is today in the doctor's zone.
    pub today: bool,
}

/// The grid: its column headings and rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grid {
    /// One per day.
    pub columns: Vec<Column>,
    /// One per time step.
    pub rows: Vec<Row>,
}

#[derive(Template, WebTemplate)]
#[template(path = "doctor_agenda.html")]
struct AgendaPage {
    layout: Layout,
    console: Console,
    week: bool,
    heading: String,
    grid: Grid,
    appointments: usize,
    show_contact: bool,
    previous_href: String,
    next_href: String,
    today_href: String,
    day_href: String,
    week_href: String,
    date: String,
    back: String,
    notice: Option<&'static str>,
}

/// The notice of `?notice=` after marking a visit.
fn notice_text(notice: Option<&str>) -> Option<&'static str> {
    match notice? {
        "completed" => Some("Visit marked completed."),
        "no-show" => Some("Visit marked as a no-show."),
        "not-started" => Some("That visit has not started yet. You can mark it once it begins."),
        "not-changed" => Some(
            "That visit could not be marked: it was cancelled or has already been marked \
             otherwise.",
        ),
        _ => None,
    }
}

/// `GET /doctor?view=day|week&date=YYYY-MM-DD&doctor_id=`.
pub async fn show(
    State(state): State<AppState>,
    staff: StaffViewer,
    client: ClientIp,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let raw = raw.as_deref();
    let scope = Scope::from_query(raw)?;
    if let Some(page) = chooser(&state, &staff, scope, &uri, Tab::Agenda).await? {
        return Ok(page);
    }
    let doctor = state
        .staff
        .doctor_in_scope(&staff.member, scope.requested)
        .await
        .map_err(refusal)?;
    let tz = doctor.time_zone.tz().clone();
    let now = state.bookings.now();
    let today = tz.to_datetime(now).date();
    let week = query_param(raw, "view").as_deref() != Some("day");
    let date = match query_param(raw, "date").filter(|d| !d.is_empty()) {
        None => today,
        Some(text) => text.parse::<Date>().map_err(|_| {
            PageError::bad_request(format!(
                "“{text}” is not a date. Dates are written like {today}."
            ))
        })?,
    };
    let (first, days) = if week {
        (monday_of(date)?, 7)
    } else {
        (date, 1)
    };
    let agenda = state
        .staff
        .agenda(&staff.member, scope.requested, first, days)
        .await
        .map_err(refusal)?;
    let (_, time_off) = state
        .staff
        .time_off(&staff.member, scope.requested)
        .await
        .map_err(refusal)?;
    let detail = format!("agenda from {first} for {days} days");
    let mut events = agenda_read_events(doctor.id, agenda_patients(&agenda), &detail);
    events.push(AuditEvent::doctor(AuditAction::TimeOffList, doctor.id));
    audit_all(&state, &staff, &client, events).await?;

    let view = if week { "week" } else { "day" };
    let step = if week { 7 } else { 1 };
    let shift = |by: i64| -> PageResult<String> {
        let to = date
            .checked_add(by.days())
            .map_err(|_| PageError::bad_request("That date is out of range."))?;
        Ok(scope.href(
            "/doctor",
            &[("view", view), ("date", to.to_string().as_str())],
        ))
    };
    let date_text = date.to_string();
    let columns = columns(&scope, first, days, today)?;
    let grid = build_grid(&doctor, &agenda.entries, &time_off, columns, now);
    let heading = if week {
        let last = first
            .checked_add(6.days())
            .map_err(|_| PageError::bad_request("That date is out of range."))?;
        format!("Week of {}", format::date_range(first, last))
    } else {
        format::long_date(date)
    };
    let page = AgendaPage {
        layout: Layout::new(
            &staff.viewer(),
            format!("Agenda: {heading}"),
            Section::DoctorConsole,
            &uri,
        ),
        console: Console::new(&staff, scope, &doctor, Tab::Agenda),
        week,
        heading,
        appointments: agenda.entries.len(),
        show_contact: !week,
        grid,
        previous_href: shift(-step)?,
        next_href: shift(step)?,
        today_href: scope.href("/doctor", &[("view", view)]),
        day_href: scope.href("/doctor", &[("view", "day"), ("date", &date_text)]),
        week_href: scope.href("/doctor", &[("view", "week"), ("date", &date_text)]),
        back: scope.href("/doctor", &[("view", view), ("date", &date_text)]),
        date: date_text,
        notice: notice_text(query_param(raw, "notice").as_deref()),
    };
    Ok(page.into_response())
}

/// The Monday of the week holding `date`.
fn monday_of(date: Date) -> PageResult<Date> {
    let back = i64::from(date.weekday().to_monday_zero_offset());
    date.checked_sub(back.days())
        .map_err(|_| PageError::bad_request("That date is out of range."))
}

fn columns(scope: &Scope, first: Date, days: u16, today: Date) -> PageResult<Vec<Column>> {
    (0..days)
        .map(|offset| {
            let date = first
                .checked_add(i64::from(offset).days())
                .map_err(|_| PageError::bad_request("That date is out of range."))?;
            let text = date.to_string();
            Ok(Column {
                href: scope.href("/doctor", &[("view", "day"), ("date", &text)]),
                date: text,
                weekday: format::weekday_short(date),
                day_month: format::day_month(date),
                long_date: format::long_date(date),
                today: date == today,
            })
        })
        .collect()
}

/// Minutes since midnight of `time`.
fn minutes(time: Time) -> i32 {
    i32::from(time.hour()) * 60 + i32::from(time.minute())
}

/// Minutes since the start of `date` (in `tz`) of `at`, clamped to the day.
fn minutes_on(date: Date, at: Timestamp, tz: &TimeZone) -> i32 {
    let local = tz.to_datetime(at);
    match local.date().cmp(&date) {
        std::cmp::Ordering::Less => 0,
        std::cmp::Ordering::Greater => DAY_MINUTES,
        std::cmp::Ordering::Equal => minutes(local.time()),
    }
}

/// The wall-clock `minute` of `date` in `tz` as an instant (the earlier one in a fold, the one
/// after the jump in a gap), or the next midnight for minute 1440.
fn instant_at(date: Date, minute: i32, tz: &TimeZone) -> Option<Timestamp> {
    if minute >= DAY_MINUTES {
        return medibook_core::slots::day_bounds(tz, date).map(|(_, end)| end);
    }
    let hour = i8::try_from(minute / 60).ok()?;
    let min = i8::try_from(minute % 60).ok()?;
    let wall = date.to_datetime(Time::new(hour, min, 0, 0).ok()?);
    tz.to_ambiguous_timestamp(wall).compatible().ok()
}

fn gcd(a: i32, b: i32) -> i32 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

/// The agenda's time grid for `columns`, with the appointments of `entries`.
pub fn build_grid(
    doctor: &Doctor,
    entries: &[AgendaEntry],
    time_off: &[TimeOff],
    columns: Vec<Column>,
    now: Timestamp,
) -> Grid {
    let tz = doctor.time_zone.tz();
    let schedule = &doctor.schedule;
    let dates: Vec<Date> = columns
        .iter()
        .filter_map(|c| c.date.parse::<Date>().ok())
        .collect();
    // Each day's appointments as (start minute, end minute, entry).
    let by_day: Vec<Vec<(i32, i32, &AgendaEntry)>> = dates
        .iter()
        .map(|date| {
            entries
                .iter()
                .filter(|e| tz.to_datetime(e.appointment.start).date() == *date)
                .map(|e| {
                    let start = minutes_on(*date, e.appointment.start, tz);
                    let end = minutes_on(*date, e.appointment.end, tz).max(start + 1);
                    (start, end, e)
                })
                .collect()
        })
        .collect();
    // The hours that matter, and the coarsest step that fits every boundary.
    let mut low = DAY_MINUTES;
    let mut high = 0;
    let mut step = 60;
    let mark = |m: i32, low: &mut i32, high: &mut i32, step: &mut i32| {
        *low = (*low).min(m);
        *high = (*high).max(m);
        *step = gcd(*step, m);
    };
    for (date, visits) in dates.iter().zip(&by_day) {
        let day = date.weekday();
        for range in schedule.hours.on(day).iter().chain(schedule.breaks.on(day)) {
            mark(minutes(range.start), &mut low, &mut high, &mut step);
            mark(minutes(range.end), &mut low, &mut high, &mut step);
        }
        for (start, end, _) in visits {
            mark(*start, &mut low, &mut high, &mut step);
            mark(*end, &mut low, &mut high, &mut step);
        }
    }
    if low >= high {
        return Grid {
            columns,
            rows: Vec::new(),
        };
    }
    let slot_step = i32::try_from(schedule.rules.step().as_mins()).unwrap_or(60);
    let step = gcd(step, slot_step).max(FINEST_STEP);
    let low = low / 60 * 60;
    let high = ((high + 59) / 60 * 60).min(DAY_MINUTES);
    let count = usize::try_from((high - low + step - 1) / step).unwrap_or(0);
    let row_of = |m: i32| usize::try_from((m - low) / step).unwrap_or(0).min(count);
    let row_end = |m: i32| {
        usize::try_from((m - low + step - 1) / step)
            .unwrap_or(0)
            .min(count)
    };

    let mut rows: Vec<Row> = (0..count)
        .map(|index| {
            let minute = low + step * i32::try_from(index).unwrap_or(0);
            Row {
                label: format!("{:02}:{:02}", minute / 60, minute % 60),
                hour: minute % 60 == 0,
                cells: Vec::new(),
            }
        })
        .collect();

    for (date, visits) in dates.iter().zip(&by_day) {
        // What each row of this column is when empty.
        let kinds: Vec<TimeKind> = (0..count)
            .map(|index| {
                let from = low + step * i32::try_from(index).unwrap_or(0);
                kind_at(
                    *date,
                    from,
                    (from + step).min(DAY_MINUTES),
                    doctor,
                    time_off,
                )
            })
            .collect();
        // Appointments merged into clusters of overlapping rows.
        let mut sorted: Vec<&(i32, i32, &AgendaEntry)> = visits.iter().collect();
        sorted.sort_by_key(|(start, _, e)| (*start, e.appointment.start));
        let mut clusters: Vec<(usize, usize, Vec<Visit>)> = Vec::new();
        for (start, end, entry) in sorted {
            let first = row_of(*start).min(count.saturating_sub(1));
            let last = row_end(*end).max(first + 1);
            let visit = visit_of(entry, tz, now);
            match clusters.last_mut() {
                Some((_, until, members)) if first < *until => {
                    *until = (*until).max(last);
                    members.push(visit);
                }
                _ => clusters.push((first, last, vec![visit])),
            }
        }
        let mut index = 0;
        let mut clusters = clusters.into_iter().peekable();
        while index < count {
            if clusters.peek().is_some_and(|(first, _, _)| *first == index)
                && let Some((first, last, members)) = clusters.next()
            {
                rows[first].cells.push(Cell::Visits {
                    visits: members,
                    rows: last - first,
                });
                index = last;
                continue;
            }
            let next_visit = clusters.peek().map_or(count, |(first, _, _)| *first);
            let kind = kinds[index];
            let mut end = index + 1;
            while end < next_visit && kinds[end] == kind {
                end += 1;
            }
            rows[index].cells.push(Cell::Time {
                kind,
                rows: end - index,
            });
            index = end;
        }
    }
    Grid { columns, rows }
}

/// What `[from, to)` (minutes of `date`) is when no appointment is there.
fn kind_at(date: Date, from: i32, to: i32, doctor: &Doctor, time_off: &[TimeOff]) -> TimeKind {
    let tz = doctor.time_zone.tz();
    if let (Some(start), Some(end)) = (instant_at(date, from, tz), instant_at(date, to, tz))
        && time_off.iter().any(|off| off.overlaps(start, end))
    {
        return TimeKind::Off;
    }
    let day: Weekday = date.weekday();
    let inside = |start: Time, end: Time| minutes(start) <= from && to <= minutes(end);
    let schedule = &doctor.schedule;
    if schedule
        .periods_on(day)
        .iter()
        .any(|p| inside(p.start, p.end))
    {
        TimeKind::Free
    } else if schedule
        .hours
        .on(day)
        .iter()
        .any(|h| inside(h.start, h.end))
    {
        TimeKind::Break
    } else {
        TimeKind::Closed
    }
}

fn visit_of(entry: &AgendaEntry, tz: &TimeZone, now: Timestamp) -> Visit {
    let appointment = &entry.appointment;
    Visit {
        id: appointment.id.to_string(),
        time: format!(
            "{}–{}",
            format::clock_time(appointment.start, tz),
            format::clock_time(appointment.end, tz)
        ),
        when: format::slot_label(appointment.start, appointment.end, tz),
        patient: patient_name(entry),
        reason: appointment.reason.as_str().to_owned(),
        status: status_label(appointment.status),
        status_class: appointment.status.as_str(),
        email: entry.patient_email.as_ref().map(|e| e.as_str().to_owned()),
        phone: entry.patient_phone.as_ref().map(|p| p.as_str().to_owned()),
        can_mark: appointment.status == AppointmentStatus::Scheduled && appointment.start <= now,
        cancelled_late: appointment.status == AppointmentStatus::Cancelled
            && appointment.late_cancellation,
        history: history_line(&entry.patient_history),
        history_missed: entry.patient_history.has_missed(),
    }
}

/// A patient's record with the clinic in words: "History: 3 visits, 1 no-show, 1 late
/// cancellation" (only what there is), or "History: none yet".
pub fn history_line(history: &PatientHistory) -> String {
    let parts: Vec<String> = [
        (history.completed, "visit"),
        (history.no_shows, "no-show"),
        (history.late_cancellations, "late cancellation"),
    ]
    .into_iter()
    .filter(|(count, _)| *count > 0)
    .map(|(count, noun)| format::count_of(i64::from(count), noun))
    .collect();
    if parts.is_empty() {
        "History: none yet".to_owned()
    } else {
        format!("History: {}", parts.join(", "))
    }
}

/// `POST /doctor/appointments/{id}/complete`.
pub async fn complete(
    state: State<AppState>,
    staff: StaffViewer,
    client: ClientIp,
    id: Path<String>,
    form: PostedForm,
) -> PageResult<Response> {
    record(state, staff, client, id, form, Outcome::Completed).await
}

/// `POST /doctor/appointments/{id}/no-show`.
pub async fn no_show(
    state: State<AppState>,
    staff: StaffViewer,
    client: ClientIp,
    id: Path<String>,
    form: PostedForm,
) -> PageResult<Response> {
    record(state, staff, client, id, form, Outcome::NoShow).await
}

/// Where to go back to: the posted local `back` path with `notice` set.
fn back_with(back: Option<&str>, notice: &str) -> String {
    let back = match back {
        Some(path) if path.starts_with("/doctor") => safe_next(Some(path)),
        _ => "/doctor".to_owned(),
    };
    let separator = if back.contains('?') { '&' } else { '?' };
    format!("{back}{separator}notice={notice}")
}

async fn record(
    State(state): State<AppState>,
    staff: StaffViewer,
    client: ClientIp,
    Path(id): Path<String>,
    PostedForm(form): PostedForm,
    outcome: Outcome,
) -> PageResult<Response> {
    let id = AppointmentId::from_uuid(page_id(&id)?);
    let back = form.value("back");
    match state.staff.record_outcome(&staff.member, id, outcome).await {
        Ok(appointment) => {
            let (action, notice) = match outcome {
                Outcome::Completed => (AuditAction::AppointmentComplete, "completed"),
                Outcome::NoShow => (AuditAction::AppointmentNoShow, "no-show"),
            };
            audit_all(
                &state,
                &staff,
                &client,
                vec![AuditEvent::appointment(action, &appointment)],
            )
            .await?;
            Ok(Redirect::to(&back_with(back, notice)).into_response())
        }
        Err(BookingError::InvalidState(message)) => {
            let notice = if message.contains("started") {
                "not-started"
            } else {
                "not-changed"
            };
            Ok(Redirect::to(&back_with(back, notice)).into_response())
        }
        Err(BookingError::NotFound(_)) => {
            Err(PageError::not_found().with_link("/doctor", "Your agenda"))
        }
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    #[test]
    fn weeks_start_on_monday() {
        assert_eq!(monday_of(date(2027, 3, 4)).unwrap(), date(2027, 3, 1));
        assert_eq!(monday_of(date(2027, 3, 1)).unwrap(), date(2027, 3, 1));
        assert_eq!(monday_of(date(2027, 3, 7)).unwrap(), date(2027, 3, 1));
    }

    #[test]
    fn the_history_names_only_what_there_is() {
        assert_eq!(
            history_line(&PatientHistory::default()),
            "History: none yet"
        );
        let history = PatientHistory {
            completed: 3,
            no_shows: 1,
            late_cancellations: 2,
        };
        assert_eq!(
            history_line(&history),
            "History: 3 visits, 1 no-show, 2 late cancellations"
        );
        let missed = PatientHistory {
            no_shows: 2,
            ..PatientHistory::default()
        };
        assert_eq!(history_line(&missed), "History: 2 no-shows");
        assert!(missed.has_missed());
    }

    #[test]
    fn going_back_stays_on_the_console() {
        assert_eq!(
            back_with(Some("/doctor?view=day&date=2027-03-02"), "completed"),
            "/doctor?view=day&date=2027-03-02&notice=completed"
        );
        assert_eq!(
            back_with(Some("//evil.example/doctor"), "completed"),
            "/doctor?notice=completed"
        );
        assert_eq!(
            back_with(Some("https://evil.example"), "no-show"),
            "/doctor?notice=no-show"
        );
        assert_eq!(back_with(None, "no-show"), "/doctor?notice=no-show");
    }
}
