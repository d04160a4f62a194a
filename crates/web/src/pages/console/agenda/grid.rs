//! The agenda's time grid: one column per day, one row per time step over the hours that
//! matter, an appointment as one cell spanning its rows, free time, breaks and time off merged
//! down the column.

use jiff::Timestamp;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use medibook_core::booking::AppointmentStatus;
use medibook_core::clinic::Doctor;
use medibook_core::schedule::TimeOff;
use medibook_core::staff::AgendaEntry;

use crate::pages::booking::status_label;
use crate::pages::console::patient_name;
use crate::pages::format;

use super::history_line;

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
