//! Time off: `GET /doctor/time-off` lists the current and future periods with a **Remove**
//! button each (`POST /doctor/time-off/{id}/remove`), and a form adds one (`POST
//! /doctor/time-off`) with **Preview** (the free slots it would close and the booked visits
//! inside it, which stay booked) and **Save**.
//!
//! Dates and times are typed in the doctor's zone and converted with its rules: a wall-clock
//! time that does not exist (the hour the clocks skip in spring) is refused with a message; one
//! that exists twice (autumn) is read as its first occurrence.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::civil::{Date, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use medibook_core::BookingError;
use medibook_core::audit::{AuditAction, AuditEvent};
use medibook_core::booking_service::MAX_LISTING_DAYS;
use medibook_core::clinic::Doctor;
use medibook_core::ids::TimeOffId;
use medibook_core::schedule::TimeOff;
use medibook_core::staff::MAX_TIME_OFF_REASON_CHARS;

use crate::pages::browse::{page_id, query_param};
use crate::pages::console::hours::parse_time;
use crate::pages::console::{
    Console, PreviewView, Problem, Scope, ScopedDoctor, Tab, actor, audit_all, preview, refusal,
};
use crate::pages::error::{PageError, PageResult, sentence};
use crate::pages::format;
use crate::pages::forms::{FormFields, PostedForm};
use crate::pages::{Layout, Section, StaffViewer};
use crate::shell::AppState;
use crate::shell::client::ClientIp;

/// One period of time off as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeOffRow {
    /// Its id.
    pub id: String,
    /// "Tue 2 Mar, 09:00".
    pub from: String,
    /// "Fri 5 Mar, 00:00".
    pub until: String,
    /// Why, possibly empty.
    pub reason: String,
    /// Where its Remove button posts.
    pub remove_action: String,
}

/// One field of the add form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Field {
    /// As typed.
    pub value: String,
    /// What is wrong with it.
    pub error: Option<String>,
}

impl Field {
    fn typed(fields: &FormFields, name: &str) -> Self {
        Self {
            value: fields.get(name).to_owned(),
            error: None,
        }
    }
}

/// The add form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeOffForm {
    /// First day off.
    pub start_date: Field,
    /// Time off starts at.
    pub start_time: Field,
    /// Day back.
    pub end_date: Field,
    /// Back at.
    pub end_time: Field,
    /// Why.
    pub reason: Field,
}

impl Default for TimeOffForm {
    fn default() -> Self {
        let midnight = || Field {
            value: "00:00".into(),
            error: None,
        };
        Self {
            start_date: Field::default(),
            start_time: midnight(),
            end_date: Field::default(),
            end_time: midnight(),
            reason: Field::default(),
        }
    }
}

/// The instant of a wall-clock date and time in `tz`: `Err` with a message for a time the
/// clocks skip; the first occurrence of a time that happens twice.
pub fn local_instant(
    date: Date,
    time: Time,
    tz: &TimeZone,
    zone: &str,
) -> Result<Timestamp, String> {
    let ambiguous = tz.to_ambiguous_timestamp(date.to_datetime(time));
    match ambiguous.offset() {
        AmbiguousOffset::Gap { .. } => Err(format!(
            "{:02}:{:02} does not exist on {} in {zone}: the clocks skip it. Choose a time \
             after the change.",
            time.hour(),
            time.minute(),
            format::long_date(date)
        )),
        AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => ambiguous
            .earlier()
            .map_err(|_| "That date is out of range.".to_owned()),
    }
}

impl TimeOffForm {
    fn read(fields: &FormFields) -> Self {
        Self {
            start_date: Field::typed(fields, "start_date"),
            start_time: Field::typed(fields, "start_time"),
            end_date: Field::typed(fields, "end_date"),
            end_time: Field::typed(fields, "end_time"),
            reason: Field::typed(fields, "reason"),
        }
    }

    /// The period the form describes, in `doctor`'s zone, or `None` with messages on the
    /// fields.
    fn period(&mut self, doctor: &Doctor) -> Option<(Timestamp, Timestamp)> {
        let tz = doctor.time_zone.tz();
        let zone = doctor.time_zone.name();
        let date = |field: &mut Field| match field.value.trim().parse::<Date>() {
            Ok(date) => Some(date),
            Err(_) => {
                field.error = Some("Enter a date like 2027-03-02.".into());
                None
            }
        };
        let time = |field: &mut Field| {
            let text = field.value.trim();
            if text.is_empty() {
                return Some(Time::midnight());
            }
            parse_time(text).or_else(|| {
                field.error = Some("Enter a time like 09:00, or 00:00 for midnight.".into());
                None
            })
        };
        let start_date = date(&mut self.start_date);
        let start_time = time(&mut self.start_time);
        let end_date = date(&mut self.end_date);
        let end_time = time(&mut self.end_time);
        if self.reason.value.chars().count() > MAX_TIME_OFF_REASON_CHARS {
            self.reason.error = Some(format!(
                "Keep the reason to {MAX_TIME_OFF_REASON_CHARS} characters or fewer."
            ));
        }
        let (Some(start_date), Some(start_time), Some(end_date), Some(end_time)) =
            (start_date, start_time, end_date, end_time)
        else {
            return None;
        };
        let start = local_instant(start_date, start_time, tz, zone)
            .map_err(|message| self.start_time.error = Some(message))
            .ok();
        let end = local_instant(end_date, end_time, tz, zone)
            .map_err(|message| self.end_time.error = Some(message))
            .ok();
        let (Some(start), Some(end)) = (start, end) else {
            return None;
        };
        if end <= start {
            self.end_date.error = Some("The time off must end after it starts.".into());
            return None;
        }
        if self.reason.error.is_some() {
            return None;
        }
        Some((start, end))
    }

    fn problems(&self) -> Vec<Problem> {
        [
            ("start_date", "Off from (date)", &self.start_date),
            ("start_time", "Off from (time)", &self.start_time),
            ("end_date", "Back on (date)", &self.end_date),
            ("end_time", "Back at (time)", &self.end_time),
            ("reason", "Reason", &self.reason),
        ]
        .into_iter()
        .filter_map(|(id, label, field)| {
            field.error.as_ref().map(|message| Problem {
                href: format!("#{id}"),
                message: format!("{label}: {message}"),
            })
        })
        .collect()
    }
}

/// A date or time field as the template draws it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldView {
    /// Field id and name.
    pub id: &'static str,
    /// Its label.
    pub label: &'static str,
    /// `date` or `time`.
    pub kind: &'static str,
    /// As typed.
    pub value: String,
    /// What is wrong with it.
    pub error: Option<String>,
}

impl TimeOffForm {
    fn fields(&self) -> Vec<FieldView> {
        let view = |id, label, kind, field: &Field| FieldView {
            id,
            label,
            kind,
            value: field.value.clone(),
            error: field.error.clone(),
        };
        vec![
            view("start_date", "Off from (date)", "date", &self.start_date),
            view("start_time", "Off from (time)", "time", &self.start_time),
            view("end_date", "Back on (date)", "date", &self.end_date),
            view("end_time", "Back at (time)", "time", &self.end_time),
        ]
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "doctor_time_off.html")]
struct TimeOffPage {
    layout: Layout,
    console: Console,
    action: String,
    periods: Vec<TimeOffRow>,
    fields: Vec<FieldView>,
    visits_heading: &'static str,
    visits_note: &'static str,
    form: TimeOffForm,
    problems: Vec<Problem>,
    preview: Option<PreviewView>,
    notice: Option<&'static str>,
}

/// What the page shows: the listed periods and the form.
struct Shown {
    form: TimeOffForm,
    general: Option<String>,
    preview: Option<PreviewView>,
    notice: Option<&'static str>,
}

fn page(
    staff: &StaffViewer,
    scope: Scope,
    doctor: &Doctor,
    uri: &Uri,
    list: &[TimeOff],
    shown: Shown,
) -> TimeOffPage {
    let tz = doctor.time_zone.tz();
    let mut problems = shown.form.problems();
    if let Some(message) = &shown.general {
        problems.insert(
            0,
            Problem {
                href: "#start_date".into(),
                message: message.clone(),
            },
        );
    }
    let title = if problems.is_empty() {
        "Time off"
    } else {
        "Time off: please correct the form"
    };
    TimeOffPage {
        layout: Layout::new(&staff.viewer(), title, Section::DoctorConsole, uri),
        console: Console::new(staff, scope, doctor, Tab::TimeOff),
        action: scope.href("/doctor/time-off", &[]),
        periods: list
            .iter()
            .map(|off| TimeOffRow {
                id: off.id.to_string(),
                from: format::short_moment(off.start, tz),
                until: format::short_moment(off.end, tz),
                reason: off.reason.clone(),
                remove_action: scope.href(&format!("/doctor/time-off/{}/remove", off.id), &[]),
            })
            .collect(),
        fields: shown.form.fields(),
        visits_heading: "Booked appointments inside this time off",
        visits_note: "They stay booked: time off stops new bookings only. Cancel or move them \
                      with the patients if you need to.",
        form: shown.form,
        problems,
        preview: shown.preview,
        notice: shown.notice,
    }
}

/// Reads the doctor in scope and their current and future time off, audited as the API does.
async fn load(
    state: &AppState,
    staff: &StaffViewer,
    client: &ClientIp,
    scope: Scope,
) -> PageResult<(Doctor, Vec<TimeOff>)> {
    let doctor = state
        .staff
        .doctor_in_scope(&staff.member, scope.requested)
        .await
        .map_err(refusal)?;
    let (doctor_id, list) = state
        .staff
        .time_off(&staff.member, scope.requested)
        .await
        .map_err(refusal)?;
    audit_all(
        state,
        staff,
        client,
        vec![AuditEvent::doctor(AuditAction::TimeOffList, doctor_id)],
    )
    .await?;
    Ok((doctor, list))
}

/// `GET /doctor/time-off?doctor_id=&notice=`.
pub async fn show(
    State(state): State<AppState>,
    ScopedDoctor { staff, scope }: ScopedDoctor,
    client: ClientIp,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let raw = raw.as_deref();
    let (doctor, list) = load(&state, &staff, &client, scope).await?;
    let notice = match query_param(raw, "notice").as_deref() {
        Some("added") => Some("Time off added. No new bookings can be made in it."),
        Some("removed") => Some("Time off removed. Its times can be booked again."),
        _ => None,
    };
    let shown = Shown {
        form: TimeOffForm::default(),
        general: None,
        preview: None,
        notice,
    };
    Ok(page(&staff, scope, &doctor, &uri, &list, shown).into_response())
}

/// The dates a preview of `[start, end)` covers: from its first day (today at the earliest)
/// for as many days as it lasts, at most [`MAX_LISTING_DAYS`].
fn preview_window(start: Timestamp, end: Timestamp, tz: &TimeZone, today: Date) -> (Date, u16) {
    let first = tz.to_datetime(start).date().max(today);
    // The end is exclusive: time off until midnight does not reach into the next day.
    let last_instant = end
        .checked_sub(SignedDuration::from_nanos(1))
        .unwrap_or(end);
    let last = tz.to_datetime(last_instant).date();
    let span = first
        .until(last)
        .map(|span| span.get_days())
        .unwrap_or(0)
        .saturating_add(1);
    let days = u16::try_from(span.clamp(1, i32::from(MAX_LISTING_DAYS))).unwrap_or(1);
    (first, days)
}

/// `POST /doctor/time-off?doctor_id=` with `intent=preview` or `intent=save`.
pub async fn submit(
    State(state): State<AppState>,
    ScopedDoctor { staff, scope }: ScopedDoctor,
    client: ClientIp,
    uri: Uri,
    PostedForm(fields): PostedForm,
) -> PageResult<Response> {
    let (doctor, list) = load(&state, &staff, &client, scope).await?;
    let mut form = TimeOffForm::read(&fields);
    let refused = |form: TimeOffForm, general: Option<String>| {
        let shown = Shown {
            form,
            general,
            preview: None,
            notice: None,
        };
        let page = page(&staff, scope, &doctor, &uri, &list, shown);
        (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
    };
    let Some((start, end)) = form.period(&doctor) else {
        return Ok(refused(form, None));
    };
    let reason = form.reason.value.trim().to_owned();
    if fields.get("intent") == "save" {
        return match state
            .staff
            .add_time_off(
                &staff.member,
                &actor(&staff, &client),
                scope.requested,
                start,
                end,
                Some(reason.as_str()),
            )
            .await
        {
            Ok(_) => {
                let to = scope.href("/doctor/time-off", &[("notice", "added")]);
                Ok(Redirect::to(&to).into_response())
            }
            Err(BookingError::Validation(message)) => Ok(refused(form, Some(sentence(&message)))),
            Err(other) => Err(refusal(other)),
        };
    }
    // Preview: the free slots the period closes and the booked visits inside it.
    let proposed = TimeOff {
        id: TimeOffId::generate(),
        doctor_id: doctor.id,
        start,
        end,
        reason,
    };
    let mut with_it = list.clone();
    with_it.push(proposed.clone());
    let tz = doctor.time_zone.tz().clone();
    let today = tz.to_datetime(state.bookings.now()).date();
    let window = preview_window(start, end, &tz, today);
    let view = preview(
        &state,
        &staff,
        &client,
        scope,
        (&doctor, &list),
        (&doctor, &with_it),
        window,
        |appointment| proposed.overlaps(appointment.start, appointment.end),
    )
    .await?;
    let shown = Shown {
        form,
        general: None,
        preview: Some(view),
        notice: None,
    };
    Ok(page(&staff, scope, &doctor, &uri, &list, shown).into_response())
}

/// `POST /doctor/time-off/{id}/remove?doctor_id=`.
pub async fn remove(
    State(state): State<AppState>,
    staff: StaffViewer,
    client: ClientIp,
    RawQuery(raw): RawQuery,
    Path(id): Path<String>,
    PostedForm(_): PostedForm,
) -> PageResult<Response> {
    let scope = Scope::from_query(raw.as_deref())?;
    let id = TimeOffId::from_uuid(page_id(&id)?);
    state
        .staff
        .remove_time_off(&staff.member, &actor(&staff, &client), id)
        .await
        .map_err(|error| match error {
            BookingError::NotFound(_) => PageError::new(
                StatusCode::NOT_FOUND,
                "Time off not found",
                "That time off is gone: it may have been removed already.",
            )
            .with_link(scope.href("/doctor/time-off", &[]), "Time off"),
            other => other.into(),
        })?;
    let to = scope.href("/doctor/time-off", &[("notice", "removed")]);
    Ok(Redirect::to(&to).into_response())
}

#[cfg(test)]
mod tests {
    use jiff::civil::{date, time};

    use super::*;

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    #[test]
    fn a_time_the_clocks_skip_is_refused_and_a_doubled_one_is_read_first() {
        let skipped = local_instant(
            date(2027, 3, 28),
            time(2, 30, 0, 0),
            &berlin(),
            "Europe/Berlin",
        );
        assert!(skipped.unwrap_err().contains("does not exist"));
        let doubled = local_instant(
            date(2027, 10, 31),
            time(2, 30, 0, 0),
            &berlin(),
            "Europe/Berlin",
        )
        .unwrap();
        assert_eq!(
            doubled,
            "2027-10-31T00:30:00Z".parse::<Timestamp>().unwrap()
        );
        let winter = local_instant(
            date(2027, 3, 2),
            time(9, 0, 0, 0),
            &berlin(),
            "Europe/Berlin",
        )
        .unwrap();
        assert_eq!(winter, "2027-03-02T08:00:00Z".parse::<Timestamp>().unwrap());
    }

    #[test]
    fn the_preview_covers_the_time_off_from_today_at_most_a_month() {
        let tz = berlin();
        let today = date(2027, 3, 1);
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(
            preview_window(
                at("2027-03-02T08:00:00Z"),
                at("2027-03-02T11:00:00Z"),
                &tz,
                today
            ),
            (date(2027, 3, 2), 1)
        );
        assert_eq!(
            preview_window(
                at("2027-02-20T00:00:00Z"),
                at("2027-03-03T23:00:00Z"),
                &tz,
                today
            ),
            (today, 3)
        );
        assert_eq!(
            preview_window(
                at("2027-03-02T00:00:00Z"),
                at("2027-09-01T00:00:00Z"),
                &tz,
                today
            )
            .1,
            MAX_LISTING_DAYS
        );
    }
}
