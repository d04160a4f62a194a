//! The front desk's pages (receptionists and admins, role as stored now):
//!
//! - `GET /desk?date=YYYY-MM-DD&q=…`: the clinic's day — every doctor's visits, each in the
//!   doctor's own time zone, with the patient's name and phone and where the visit stands
//!   (expected, arrived, missed, seen) — kept live over the slot feed (`assets/desk.js` fetches
//!   the day again when a slot is booked or freed); beside it, finding a patient and
//!   registering a caller ([`patients`]).
//! - `POST /desk/appointments/{id}/arrived`: checks the patient in (idempotent).
//! - `GET /desk/patients/{id}`: one patient — their appointments (to move or cancel) and the
//!   doctors to book with for them.
//!
//! Booking for a caller is the patient's own booking path with the patient named: the doctor's
//! picker opened with `?for=<patient>` posts `patient_id` with every slot form, and the hold,
//! confirm, release, cancel and move pages act through [`medibook_core::desk::FrontDesk`],
//! which tries the request as the caller's own and then, for the desk, in the patient's name.
//! Nothing here shows clinical text.

pub mod patients;

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, RawQuery, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::civil::Date;
use medibook_core::audit::Actor;
use medibook_core::booking::Hold;
use medibook_core::clinic::Zone;
use medibook_core::desk::{CheckIn, DeskEntry};
use medibook_core::ids::{AppointmentId, DoctorId, UserId};

use crate::pages::browse::{page_id, query_param};
use crate::pages::error::{PageError, PageResult};
use crate::pages::format;
use crate::pages::forms::PostedForm;
use crate::pages::signin::encode_component;
use crate::pages::viewer::{DeskViewer, Person};
use crate::pages::{Layout, Section};
use crate::shell::AppState;
use crate::shell::client::ClientIp;

/// The patient the desk is booking for, shown on the picker, hold and appointment pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForPatient {
    /// Their account.
    pub user_id: UserId,
    /// Their account id, as text.
    pub id: String,
    /// Their name (or contact when they gave none).
    pub name: String,
    /// Their page at the desk.
    pub href: String,
}

impl ForPatient {
    /// `patient_id` as the desk sees them, when it is not `person` themself; a person not
    /// working the desk (as stored now) is refused.
    pub async fn of(
        state: &AppState,
        person: &Person,
        patient_id: UserId,
    ) -> PageResult<Option<Self>> {
        if patient_id == person.auth.id {
            return Ok(None);
        }
        let card = state.desk.patient(person.auth.id, patient_id).await?;
        let user = card.user;
        let name = user
            .name
            .clone()
            .or_else(|| user.phone.as_ref().map(|p| p.as_str().to_owned()))
            .or_else(|| user.email.as_ref().map(|e| e.as_str().to_owned()))
            .unwrap_or_else(|| "this patient".to_owned());
        Ok(Some(Self {
            user_id: user.id,
            id: user.id.to_string(),
            name,
            href: format!("/desk/patients/{}", user.id),
        }))
    }

    /// Whom `hold` is for, when the desk holds it for a patient.
    pub async fn of_hold(
        state: &AppState,
        person: &Person,
        hold: &Hold,
    ) -> PageResult<Option<Self>> {
        Self::of(state, person, hold.patient_id).await
    }
}

/// `href` with `for=<patient>` added when the desk acts for a patient.
pub fn with_patient(href: String, patient: Option<UserId>) -> String {
    match patient {
        None => href,
        Some(id) => {
            let joint = if href.contains('?') { '&' } else { '?' };
            format!("{href}{joint}for={id}")
        }
    }
}

/// The `for=` of a page's query: the patient the desk books for.
pub fn requested_patient(raw: Option<&str>) -> PageResult<Option<UserId>> {
    match query_param(raw, "for").filter(|id| !id.is_empty()) {
        None => Ok(None),
        Some(id) => Ok(Some(UserId::from_uuid(page_id(&id)?))),
    }
}

/// The desk member as the audit trail names them (role as stored now).
pub(crate) fn actor(desk: &DeskViewer, client: &ClientIp) -> Actor {
    Actor::user(desk.0.person.auth.id, desk.0.member.role, client.key())
}

/// One visit of the day.
pub struct VisitRow {
    id: String,
    time: String,
    start: String,
    patient: String,
    patient_href: String,
    phone: Option<String>,
    check_in: &'static str,
    state: &'static str,
    can_check_in: bool,
}

/// One doctor's visits of the day.
pub struct DoctorDay {
    name: String,
    time_zone: String,
    visits: Vec<VisitRow>,
}

#[derive(Template, WebTemplate)]
#[template(path = "desk.html")]
struct DeskPage {
    layout: Layout,
    date: String,
    long_date: String,
    previous_day: String,
    next_day: String,
    today: String,
    doctors: Vec<DoctorDay>,
    visit_count: usize,
    doctor_ids: String,
    notice: Option<&'static str>,
    search: patients::SearchView,
    register: patients::RegisterForm,
}

fn check_in_words(check_in: CheckIn) -> &'static str {
    match check_in {
        CheckIn::Expected => "Expected",
        CheckIn::Arrived => "Arrived",
        CheckIn::NoShow => "Did not come",
        CheckIn::Completed => "Seen",
    }
}

fn notice_text(notice: Option<&str>) -> Option<&'static str> {
    match notice? {
        "arrived" => Some("Checked in."),
        "registered" => Some("Patient registered."),
        _ => None,
    }
}

/// The visits grouped by doctor, doctors by name.
fn by_doctor(entries: Vec<DeskEntry>, zones: &DoctorZones) -> Vec<DoctorDay> {
    let mut days: Vec<DoctorDay> = Vec::new();
    let mut sorted = entries;
    sorted.sort_by(|a, b| {
        (a.doctor_name.as_str(), a.row.appointment.start)
            .cmp(&(b.doctor_name.as_str(), b.row.appointment.start))
    });
    for entry in sorted {
        let appointment = &entry.row.appointment;
        let Some(zone) = zones.get(&appointment.doctor_id) else {
            continue;
        };
        let patient = entry
            .row
            .patient_name
            .clone()
            .or_else(|| {
                entry
                    .row
                    .patient_phone
                    .as_ref()
                    .map(|p| p.as_str().to_owned())
            })
            .or_else(|| {
                entry
                    .row
                    .patient_email
                    .as_ref()
                    .map(|e| e.as_str().to_owned())
            })
            .unwrap_or_else(|| "Unnamed patient".to_owned());
        let row = VisitRow {
            id: appointment.id.to_string(),
            time: format::clock_time(appointment.start, zone.tz()),
            start: appointment.start.to_string(),
            patient,
            patient_href: format!("/desk/patients/{}", appointment.patient_id),
            phone: entry
                .row
                .patient_phone
                .as_ref()
                .map(|p| p.as_str().to_owned()),
            check_in: check_in_words(entry.check_in),
            state: entry.check_in.as_str(),
            can_check_in: entry.check_in == CheckIn::Expected,
        };
        match days.last_mut() {
            Some(day) if day.name == entry.doctor_name => day.visits.push(row),
            _ => days.push(DoctorDay {
                name: entry.doctor_name.clone(),
                time_zone: zone.name().to_owned(),
                visits: vec![row],
            }),
        }
    }
    days
}

type DoctorZones = HashMap<DoctorId, Zone>;

/// What the desk page shows besides the day: the date asked for (today if none), the patient
/// search, the registration form as typed, and a notice.
#[derive(Default)]
pub(crate) struct Asked {
    pub(crate) date: Option<Date>,
    pub(crate) search: patients::SearchView,
    pub(crate) register: patients::RegisterForm,
    pub(crate) notice: Option<&'static str>,
}

/// The desk page as `asked`.
pub(crate) async fn desk_page(
    state: &AppState,
    desk: &DeskViewer,
    client: &ClientIp,
    uri: &Uri,
    asked: Asked,
) -> PageResult<Response> {
    let doctors = state.catalogue.search(None, None).await?;
    // "Today" at the desk is the day where the clinic's (first) doctor practises.
    let zone_of_clinic = doctors
        .first()
        .map(|d| d.time_zone.tz().clone())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let today = zone_of_clinic.to_datetime(state.bookings.now()).date();
    let date = asked.date.unwrap_or(today);
    let day = state
        .desk
        .day(&actor(desk, client), desk.0.person.auth.id, date)
        .await?;
    let zones: DoctorZones = doctors
        .iter()
        .map(|d| (d.id, d.time_zone.clone()))
        .collect();
    let days = by_doctor(day.entries, &zones);
    let day_link =
        |d: Option<Date>| d.map_or_else(|| "/desk".to_owned(), |d| format!("/desk?date={d}"));
    let page = DeskPage {
        layout: Layout::new(&desk.0.viewer(), "Front desk", Section::FrontDesk, uri)
            .with_script("desk.js"),
        date: date.to_string(),
        long_date: format::long_date(date),
        previous_day: day_link(date.yesterday().ok()),
        next_day: day_link(date.tomorrow().ok()),
        today: today.to_string(),
        visit_count: days.iter().map(|d| d.visits.len()).sum(),
        doctors: days,
        doctor_ids: doctors
            .iter()
            .take(crate::shell::MAX_FEED_DOCTORS)
            .map(|d| d.id.to_string())
            .collect::<Vec<_>>()
            .join(" "),
        notice: asked.notice,
        search: asked.search,
        register: asked.register,
    };
    Ok(page.into_response())
}

/// The `date=` of the desk's query.
fn requested_date(raw: Option<&str>) -> PageResult<Option<Date>> {
    match query_param(raw, "date").filter(|d| !d.is_empty()) {
        None => Ok(None),
        Some(text) => text.parse::<Date>().map(Some).map_err(|_| {
            PageError::bad_request(format!(
                "“{text}” is not a date. Dates are written like 2027-03-01."
            ))
        }),
    }
}

/// `GET /desk?date=&q=&notice=`: the day, and a patient search when `q` is given.
pub async fn show(
    State(state): State<AppState>,
    desk: DeskViewer,
    client: ClientIp,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let raw = raw.as_deref();
    let date = requested_date(raw)?;
    let search = patients::search(&state, &desk, &client, query_param(raw, "q")).await?;
    let notice = notice_text(query_param(raw, "notice").as_deref());
    desk_page(
        &state,
        &desk,
        &client,
        &uri,
        Asked {
            date,
            search,
            notice,
            ..Asked::default()
        },
    )
    .await
}

/// `POST /desk/appointments/{id}/arrived`: checks the patient in and goes back to the day.
pub async fn arrived(
    State(state): State<AppState>,
    desk: DeskViewer,
    client: ClientIp,
    Path(id): Path<String>,
    PostedForm(form): PostedForm,
) -> PageResult<Response> {
    let id = AppointmentId::from_uuid(page_id(&id)?);
    state
        .desk
        .arrived(&actor(&desk, &client), desk.0.person.auth.id, id)
        .await?;
    let date = form.get("date");
    let back = if date.parse::<Date>().is_ok() {
        format!(
            "/desk?date={}&notice=arrived#visit-{id}",
            encode_component(date)
        )
    } else {
        format!("/desk?notice=arrived#visit-{id}")
    };
    Ok(Redirect::to(&back).into_response())
}
