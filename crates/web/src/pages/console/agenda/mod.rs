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

mod grid;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, RawQuery, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::ToSpan;
use jiff::civil::Date;
use medibook_core::BookingError;
use medibook_core::audit::{AuditAction, AuditEvent};
use medibook_core::ids::AppointmentId;
use medibook_core::staff::{Outcome, PatientHistory};

use crate::pages::browse::{page_id, query_param};
use crate::pages::console::{
    Console, Scope, ScopedDoctor, Tab, actor, agenda_patients, agenda_read_events, audit_all,
    refusal,
};
use crate::pages::error::{PageError, PageResult};
use crate::pages::format;
use crate::pages::forms::PostedForm;
use crate::pages::signin::safe_next;
use crate::pages::{Layout, Section, StaffViewer};
use crate::shell::AppState;
use crate::shell::client::ClientIp;

pub use grid::*;

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
    /// The viewer is the treating doctor of these visits: each opens to its record and notes.
    opens_visits: bool,
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
    ScopedDoctor { staff, scope }: ScopedDoctor,
    client: ClientIp,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let raw = raw.as_deref();
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
        opens_visits: staff.member.doctor_id == Some(doctor.id),
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
    match state
        .staff
        .record_outcome(&staff.member, &actor(&staff, &client), id, outcome)
        .await
    {
        // The treating doctor goes on to the visit, to write how it went.
        Ok(appointment)
            if outcome == Outcome::Completed
                && staff.member.doctor_id == Some(appointment.doctor_id) =>
        {
            let to = format!("/doctor/appointments/{id}?notice=completed#note");
            Ok(Redirect::to(&to).into_response())
        }
        Ok(_) => {
            let notice = match outcome {
                Outcome::Completed => "completed",
                Outcome::NoShow => "no-show",
            };
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
