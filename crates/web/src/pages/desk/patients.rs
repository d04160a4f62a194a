//! Finding and registering patients at the desk, and one patient's page: their appointments
//! (to open, move or cancel) and the doctors to book with for them.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use medibook_core::BookingError;
use medibook_core::booking::AppointmentStatus;
use medibook_core::desk::{NewPatient, PatientCard};
use medibook_core::ids::UserId;

use super::{Asked, actor, desk_page};
use crate::pages::booking::status_label;
use crate::pages::browse::{doctor_href, page_id};
use crate::pages::error::{PageResult, sentence};
use crate::pages::format;
use crate::pages::forms::PostedForm;
use crate::pages::viewer::DeskViewer;
use crate::pages::{Layout, Section};
use crate::shell::AppState;
use crate::shell::client::ClientIp;

/// One patient found.
pub struct PatientLine {
    /// Name.
    pub name: String,
    /// Their page at the desk.
    pub href: String,
    /// Phone.
    pub phone: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// "2 November 1958".
    pub born: Option<String>,
}

impl PatientLine {
    fn of(card: &PatientCard) -> Self {
        let user = &card.user;
        Self {
            name: user
                .name
                .clone()
                .unwrap_or_else(|| "Name not given".to_owned()),
            href: format!("/desk/patients/{}", user.id),
            phone: user.phone.as_ref().map(|p| p.as_str().to_owned()),
            email: user.email.as_ref().map(|e| e.as_str().to_owned()),
            born: card.date_of_birth.map(format::long_date),
        }
    }
}

/// The patient search as the desk page shows it.
#[derive(Default)]
pub struct SearchView {
    /// What was typed.
    pub query: String,
    /// Whether a search ran (and `results` is its answer).
    pub searched: bool,
    /// Why the search could not run.
    pub error: Option<String>,
    /// Who was found.
    pub results: Vec<PatientLine>,
}

/// The registration form, with what was typed and what is wrong.
#[derive(Default)]
pub struct RegisterForm {
    /// Full name.
    pub name: String,
    /// Phone.
    pub phone: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// E-mail (optional).
    pub email: String,
    /// What went wrong.
    pub error: Option<String>,
}

/// Runs the search `q`, if one was given.
pub(super) async fn search(
    state: &AppState,
    desk: &DeskViewer,
    client: &ClientIp,
    query: Option<String>,
) -> PageResult<SearchView> {
    let Some(query) = query.filter(|q| !q.trim().is_empty()) else {
        return Ok(SearchView::default());
    };
    match state
        .desk
        .find_patients(&actor(desk, client), desk.0.person.auth.id, &query)
        .await
    {
        Ok(found) => Ok(SearchView {
            query,
            searched: true,
            error: None,
            results: found.iter().map(PatientLine::of).collect(),
        }),
        Err(BookingError::Validation(_)) => Ok(SearchView {
            query,
            searched: false,
            error: Some("Type at least 2 characters of a name, phone number or e-mail.".to_owned()),
            results: Vec::new(),
        }),
        Err(other) => Err(other.into()),
    }
}

/// `POST /desk/patients`: registers a caller and opens their page to book for them.
pub async fn register(
    State(state): State<AppState>,
    desk: DeskViewer,
    client: ClientIp,
    uri: Uri,
    PostedForm(form): PostedForm,
) -> PageResult<Response> {
    let email = form.get("email").trim().to_owned();
    let patient = NewPatient {
        name: form.get("name").to_owned(),
        phone: form.get("phone").to_owned(),
        date_of_birth: form.get("date_of_birth").trim().to_owned(),
        email: (!email.is_empty()).then(|| email.clone()),
    };
    match state
        .desk
        .register_patient(
            &actor(&desk, &client),
            desk.0.person.auth.id,
            patient.clone(),
        )
        .await
    {
        Ok(card) => Ok(Redirect::to(&format!(
            "/desk/patients/{}?notice=registered",
            card.user.id
        ))
        .into_response()),
        Err(BookingError::Validation(message)) => {
            let register = RegisterForm {
                name: patient.name,
                phone: patient.phone,
                date_of_birth: patient.date_of_birth,
                email,
                error: Some(sentence(&format!(
                    "We could not register the patient: {message}"
                ))),
            };
            let page = desk_page(
                &state,
                &desk,
                &client,
                &uri,
                Asked {
                    register,
                    ..Asked::default()
                },
            )
            .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

/// One appointment on the patient's page.
pub struct AppointmentLine {
    href: String,
    doctor: String,
    when: String,
    status: &'static str,
}

/// A doctor to book with.
pub struct DoctorLink {
    name: String,
    href: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "desk_patient.html")]
struct PatientPage {
    layout: Layout,
    patient: PatientLine,
    upcoming: Vec<AppointmentLine>,
    past: Vec<AppointmentLine>,
    doctors: Vec<DoctorLink>,
    notice: Option<&'static str>,
}

/// `GET /desk/patients/{id}?notice=`: the patient, their appointments and whom to book with.
pub async fn show(
    State(state): State<AppState>,
    desk: DeskViewer,
    client: ClientIp,
    uri: Uri,
    Path(id): Path<String>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> PageResult<Response> {
    let patient_id = UserId::from_uuid(page_id(&id)?);
    let caller = desk.0.person.auth.id;
    let card = state.desk.patient(caller, patient_id).await?;
    let appointments = state
        .desk
        .appointments_of(&actor(&desk, &client), caller, patient_id)
        .await?;
    let doctors = state.catalogue.search(None, None).await?;
    let now = state.bookings.now();
    let (mut upcoming, mut past) = (Vec::new(), Vec::new());
    for appointment in &appointments {
        let Some(doctor) = doctors.iter().find(|d| d.id == appointment.doctor_id) else {
            continue;
        };
        let is_upcoming =
            appointment.status == AppointmentStatus::Scheduled && appointment.start > now;
        let line = AppointmentLine {
            href: format!("/appointments/{}", appointment.id),
            doctor: doctor.name.clone(),
            when: format::slot_label(appointment.start, appointment.end, doctor.time_zone.tz()),
            status: status_label(appointment.status),
        };
        if is_upcoming {
            upcoming.push(line);
        } else {
            past.push(line);
        }
    }
    past.reverse();
    let notice = match crate::pages::browse::query_param(raw.as_deref(), "notice").as_deref() {
        Some("registered") => Some("Patient registered. Choose a doctor to book for them."),
        Some("cancelled") => Some("The appointment is cancelled; the patient has been told."),
        _ => None,
    };
    let patient = PatientLine::of(&card);
    let page = PatientPage {
        layout: Layout::new(
            &desk.0.viewer(),
            patient.name.clone(),
            Section::FrontDesk,
            &uri,
        ),
        doctors: doctors
            .iter()
            .map(|d| DoctorLink {
                name: d.name.clone(),
                href: format!("{}?for={patient_id}", doctor_href(d.id)),
            })
            .collect(),
        patient,
        upcoming,
        past,
        notice,
    };
    Ok(page.into_response())
}
