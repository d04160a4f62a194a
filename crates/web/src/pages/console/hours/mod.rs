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

mod form;
mod validation;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use medibook_core::BookingError;
use medibook_core::audit::{AuditAction, AuditEvent};
use medibook_core::clinic::Doctor;
use medibook_core::preview::within_working_time;

use crate::pages::browse::query_param;
use crate::pages::console::{
    Console, PreviewView, Problem, Scope, ScopedDoctor, Tab, actor, audit_all, preview, refusal,
};
use crate::pages::error::{PageResult, sentence};
use crate::pages::forms::PostedForm;
use crate::pages::{Layout, Section, StaffViewer};
use crate::shell::AppState;
use crate::shell::client::ClientIp;

use form::RANGE_ROWS;
pub use form::{DayRows, HoursForm, NumberField, NumberView, RangeRow};
pub use validation::parse_time;

/// Days the preview looks ahead.
const PREVIEW_DAYS: u16 = 28;

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
    ScopedDoctor { staff, scope }: ScopedDoctor,
    client: ClientIp,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let raw = raw.as_deref();
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
    ScopedDoctor { staff, scope }: ScopedDoctor,
    client: ClientIp,
    uri: Uri,
    PostedForm(fields): PostedForm,
) -> PageResult<Response> {
    let doctor = state
        .staff
        .schedule(&staff.member, scope.requested)
        .await
        .map_err(refusal)?;
    let mut form = HoursForm::read(&fields);
    // "Copy to the other weekdays": the form again with that day's rows copied; nothing is
    // checked or saved until Preview or Save.
    if let Some(day) = fields.get("intent").strip_prefix("copy-")
        && form.copy_to_weekdays(day)
    {
        let notice = "Copied to the other weekdays. Preview or save to keep it.";
        return Ok(page(&staff, scope, &doctor, &uri, form, None, Some(notice)).into_response());
    }
    let Some(schedule) = form.schedule() else {
        let page = page(&staff, scope, &doctor, &uri, form, None, None);
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    if fields.get("intent") == "save" {
        return match state
            .staff
            .set_schedule(
                &staff.member,
                &actor(&staff, &client),
                scope.requested,
                schedule,
            )
            .await
        {
            Ok(_) => {
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
