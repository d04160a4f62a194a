//! A visit as its treating doctor opens it from the agenda: `GET /doctor/appointments/{id}` —
//! the patient's record (name, date of birth, sex, contact, address, medical history), their
//! visits with this doctor with notes, and a note editor (`POST /doctor/appointments/{id}/notes`,
//! append-only: a correction is a new note). Anyone but the treating doctor gets a 404 page.
//! Marking a visit completed comes here, asking for a note.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::tz::TimeZone;
use medibook_core::BookingError;
use medibook_core::ids::AppointmentId;
use medibook_core::patients::{MAX_NOTE_CHARS, VisitRecord};

use crate::pages::browse::{page_id, query_param};
use crate::pages::console::actor;
use crate::pages::error::{PageError, PageResult, sentence};
use crate::pages::format;
use crate::pages::forms::PostedForm;
use crate::pages::{Layout, Section, StaffViewer};
use crate::shell::AppState;
use crate::shell::client::ClientIp;

/// One visit in the list.
struct VisitLine {
    when: String,
    status: &'static str,
    reason: String,
    current: bool,
    notes: Vec<NoteLine>,
}

/// One note.
struct NoteLine {
    written: String,
    text: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "doctor_visit.html")]
struct VisitPage {
    layout: Layout,
    patient: String,
    born: Option<String>,
    sex: Option<&'static str>,
    email: Option<String>,
    phone: Option<String>,
    address: Option<String>,
    medical_history: Option<String>,
    when: String,
    status: &'static str,
    reason: String,
    time_zone: String,
    visits: Vec<VisitLine>,
    action: String,
    note: String,
    max_note: usize,
    error: Option<String>,
    notice: Option<&'static str>,
    /// After marking the visit completed, or a refused note: the editor takes the focus.
    focus_note: bool,
}

fn notice_text(notice: Option<&str>) -> Option<&'static str> {
    match notice? {
        "completed" => Some("Visit marked completed. Add a note on how it went."),
        "note-saved" => Some("Note saved."),
        _ => None,
    }
}

fn status_words(status: medibook_core::booking::AppointmentStatus) -> &'static str {
    use medibook_core::booking::AppointmentStatus::*;
    match status {
        Scheduled => "scheduled",
        Completed => "completed",
        Cancelled => "cancelled",
        NoShow => "no-show",
    }
}

async fn load(
    state: &AppState,
    staff: &StaffViewer,
    client: &ClientIp,
    id: AppointmentId,
) -> PageResult<(VisitRecord, TimeZone)> {
    let record = match state
        .records
        .visit(&actor(staff, client), staff.person.auth.id, id)
        .await
    {
        Ok(record) => record,
        Err(BookingError::NotFound(_)) => {
            return Err(PageError::not_found().with_link("/doctor", "Your agenda"));
        }
        Err(other) => return Err(other.into()),
    };
    let doctor = state.catalogue.doctor(record.appointment.doctor_id).await?;
    Ok((record, doctor.time_zone.tz().clone()))
}

fn page(
    staff: &StaffViewer,
    uri: &Uri,
    record: VisitRecord,
    tz: &TimeZone,
    note: String,
    error: Option<String>,
    notice: Option<&'static str>,
) -> VisitPage {
    let patient = record.patient;
    let user = patient.user;
    let current = record.appointment.id;
    let name = user
        .name
        .clone()
        .or_else(|| user.email.as_ref().map(|e| e.as_str().to_owned()))
        .unwrap_or_else(|| "Patient".to_owned());
    VisitPage {
        layout: Layout::new(
            &staff.viewer(),
            format!("Visit: {name}"),
            Section::DoctorConsole,
            uri,
        ),
        patient: name,
        born: patient.details.date_of_birth.map(format::long_date),
        sex: patient.details.sex.map(|s| s.as_str()),
        email: user.email.map(|e| e.as_str().to_owned()),
        phone: user.phone.map(|p| p.as_str().to_owned()),
        address: patient.details.address,
        medical_history: patient.medical_history,
        when: format::long_moment(record.appointment.start, tz),
        status: status_words(record.appointment.status),
        reason: record.appointment.reason.as_str().to_owned(),
        time_zone: tz.iana_name().unwrap_or("UTC").to_owned(),
        visits: record
            .visits
            .into_iter()
            .map(|visit| VisitLine {
                when: format::short_moment(visit.appointment.start, tz),
                status: status_words(visit.appointment.status),
                reason: visit.appointment.reason.as_str().to_owned(),
                current: visit.appointment.id == current,
                notes: visit
                    .notes
                    .into_iter()
                    .map(|note| NoteLine {
                        written: format::short_moment(note.created_at, tz),
                        text: note.text,
                    })
                    .collect(),
            })
            .collect(),
        action: format!("/doctor/appointments/{current}/notes"),
        note,
        max_note: MAX_NOTE_CHARS,
        focus_note: error.is_some() || notice == notice_text(Some("completed")),
        error,
        notice,
    }
}

/// `GET /doctor/appointments/{id}?notice=`.
pub async fn show(
    State(state): State<AppState>,
    staff: StaffViewer,
    client: ClientIp,
    uri: Uri,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let id = AppointmentId::from_uuid(page_id(&id)?);
    let (record, tz) = load(&state, &staff, &client, id).await?;
    let notice = notice_text(query_param(raw.as_deref(), "notice").as_deref());
    Ok(page(&staff, &uri, record, &tz, String::new(), None, notice).into_response())
}

/// `POST /doctor/appointments/{id}/notes` (`text`): appends a note, then back to the visit.
pub async fn add_note(
    State(state): State<AppState>,
    staff: StaffViewer,
    client: ClientIp,
    uri: Uri,
    Path(id): Path<String>,
    PostedForm(form): PostedForm,
) -> PageResult<Response> {
    let id = AppointmentId::from_uuid(page_id(&id)?);
    let text = form.get("text").to_owned();
    let refusal = match state
        .records
        .add_note(&actor(&staff, &client), staff.person.auth.id, id, &text)
        .await
    {
        Ok(_) => {
            let to = format!("/doctor/appointments/{id}?notice=note-saved#notes");
            return Ok(Redirect::to(&to).into_response());
        }
        Err(BookingError::NotFound(_)) => {
            return Err(PageError::not_found().with_link("/doctor", "Your agenda"));
        }
        Err(BookingError::Validation(message)) => sentence(&message.replace("text", "the note")),
        Err(BookingError::InvalidState(message)) => sentence(&message),
        Err(other) => return Err(other.into()),
    };
    let (record, tz) = load(&state, &staff, &client, id).await?;
    let page = page(&staff, &uri, record, &tz, text, Some(refusal), None);
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}
