//! Doctor profiles in the admin console: `GET /admin/doctors` (the table, with links to each
//! doctor's hours and agenda in the doctor console), `GET`/`POST /admin/doctors/new` (create)
//! and `GET`/`POST /admin/doctors/{id}` (edit), through `Staff::add_doctor` and
//! `Staff::update_doctor` with the admin API's audit entries (`doctor.create`,
//! `doctor.update`).
//!
//! The form is checked here first, so each mistake gets its own message by its field (422,
//! form re-filled); the core checks everything again. A new doctor starts with
//! [`default_schedule`], which the doctor console changes.

mod form;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::civil::time;
use medibook_core::BookingError;
use medibook_core::clinic::{Doctor, SpecialtySummary};
use medibook_core::ids::DoctorId;
use medibook_core::schedule::{BookingRules, TimeRange, WeeklyHours, WeeklySchedule};
use medibook_core::staff::{DoctorChanges, DoctorProfile};

use crate::pages::admin::{ConsolePage, FieldErrors, actor, admin_layout, console_nav};
use crate::pages::browse::{doctor_href, page_id, query_param, specialty_names};
use crate::pages::error::{PageResult, sentence};
use crate::pages::format;
use crate::pages::forms::{PostedForm, SameSite};
use crate::pages::{AdminViewer, Layout, NavLink};
use crate::shell::AppState;
use crate::shell::client::ClientIp;

use form::core_refusal;
pub use form::{CheckedDoctor, DoctorFormValues, check, parse_fee};

/// Time zones offered in the form's list (any IANA name is accepted).
pub const COMMON_ZONES: &[&str] = &[
    "Europe/Berlin",
    "Europe/Amsterdam",
    "Europe/Athens",
    "Europe/Brussels",
    "Europe/Dublin",
    "Europe/Helsinki",
    "Europe/Lisbon",
    "Europe/London",
    "Europe/Madrid",
    "Europe/Paris",
    "Europe/Rome",
    "Europe/Stockholm",
    "Europe/Vienna",
    "Europe/Warsaw",
    "Europe/Zurich",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Toronto",
    "America/Sao_Paulo",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Africa/Johannesburg",
    "UTC",
];

/// Currencies offered in the form's list (any ISO 4217 code is accepted).
pub const COMMON_CURRENCIES: &[&str] = &["EUR", "GBP", "USD", "CHF", "SEK", "DKK", "NOK", "PLN"];
/// The hours a new doctor starts with: Monday to Friday 09:00–12:00 and 13:00–17:00 in their
/// time zone, 30-minute slots, bookable 60 days ahead.
pub fn default_schedule() -> WeeklySchedule {
    let day = vec![
        TimeRange {
            start: time(9, 0, 0, 0),
            end: time(12, 0, 0, 0),
        },
        TimeRange {
            start: time(13, 0, 0, 0),
            end: time(17, 0, 0, 0),
        },
    ];
    WeeklySchedule {
        hours: WeeklyHours {
            monday: day.clone(),
            tuesday: day.clone(),
            wednesday: day.clone(),
            thursday: day.clone(),
            friday: day,
            ..WeeklyHours::default()
        },
        breaks: WeeklyHours::default(),
        rules: BookingRules {
            slot_minutes: 30,
            buffer_before_minutes: 0,
            buffer_after_minutes: 0,
            min_notice_minutes: 0,
            horizon_days: 60,
            max_per_day: None,
        },
    }
}

/// The doctor console's hours page for `id`.
pub fn hours_href(id: DoctorId) -> String {
    format!("/doctor/hours?doctor_id={id}")
}

/// The doctor console's agenda for `id`.
pub fn agenda_href(id: DoctorId) -> String {
    format!("/doctor?doctor_id={id}")
}

/// The admin's edit page of `id`.
pub fn edit_href(id: DoctorId) -> String {
    format!("/admin/doctors/{id}")
}

/// One row of the doctors table.
#[derive(Clone, Debug)]
pub struct DoctorRow {
    /// Full name.
    pub name: String,
    /// Specialty name.
    pub specialty: String,
    /// IANA zone.
    pub time_zone: String,
    /// "€65.00".
    pub fee: String,
    /// The edit page.
    pub edit_href: String,
    /// The public profile.
    pub profile_href: String,
    /// Hours in the doctor console.
    pub hours_href: String,
    /// Agenda in the doctor console.
    pub agenda_href: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_doctors.html")]
struct DoctorsPage {
    layout: Layout,
    console: Vec<NavLink>,
    doctors: Vec<DoctorRow>,
}

/// `GET /admin/doctors`: every doctor, by name.
pub async fn list(
    State(state): State<AppState>,
    admin: AdminViewer,
    uri: Uri,
) -> PageResult<Response> {
    let names = specialty_names(&state.catalogue.specialties().await?);
    let doctors = state
        .catalogue
        .search(None, None)
        .await?
        .into_iter()
        .map(|doctor| DoctorRow {
            specialty: names.get(&doctor.specialty_id).cloned().unwrap_or_default(),
            time_zone: doctor.time_zone.name().to_owned(),
            fee: format::fee(&doctor.fee),
            edit_href: edit_href(doctor.id),
            profile_href: doctor_href(doctor.id),
            hours_href: hours_href(doctor.id),
            agenda_href: agenda_href(doctor.id),
            name: doctor.name,
        })
        .collect();
    let page = DoctorsPage {
        layout: admin_layout(&admin, "Doctors", &uri),
        console: console_nav(ConsolePage::Doctors),
        doctors,
    };
    Ok(page.into_response())
}
/// A specialty in the form's `<select>`.
#[derive(Clone, Debug)]
pub struct SpecialtyOption {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// The doctor being edited, as stored.
#[derive(Clone, Debug)]
pub struct EditedDoctor {
    /// Full name.
    pub name: String,
    /// Picture, if any.
    pub photo_url: Option<String>,
    /// The public profile.
    pub profile_href: String,
    /// Hours in the doctor console.
    pub hours_href: String,
    /// Agenda in the doctor console.
    pub agenda_href: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_doctor_form.html")]
struct DoctorFormPage {
    layout: Layout,
    console: Vec<NavLink>,
    /// `None` when creating a doctor.
    doctor: Option<EditedDoctor>,
    action: String,
    submit: &'static str,
    values: DoctorFormValues,
    errors: FieldErrors,
    /// A refusal not tied to one field.
    problem: Option<String>,
    notice: Option<&'static str>,
    specialties: Vec<SpecialtyOption>,
    zones: &'static [&'static str],
    currencies: &'static [&'static str],
}

impl DoctorFormPage {
    fn new(
        admin: &AdminViewer,
        uri: &Uri,
        doctor: Option<&Doctor>,
        values: DoctorFormValues,
        specialties: &[SpecialtySummary],
    ) -> Self {
        let (title, action, submit) = match doctor {
            Some(doctor) => (
                format!("Edit {}", doctor.name),
                edit_href(doctor.id),
                "Save changes",
            ),
            None => (
                "New doctor".to_owned(),
                "/admin/doctors/new".to_owned(),
                "Create doctor",
            ),
        };
        let mut options: Vec<SpecialtyOption> = specialties
            .iter()
            .map(|s| SpecialtyOption {
                id: s.specialty.id.to_string(),
                name: s.specialty.name.clone(),
            })
            .collect();
        options.sort_by(|a, b| a.name.cmp(&b.name));
        Self {
            layout: admin_layout(admin, title, uri),
            console: console_nav(ConsolePage::Doctors),
            doctor: doctor.map(|d| EditedDoctor {
                name: d.name.clone(),
                photo_url: d.photo_url.clone(),
                profile_href: doctor_href(d.id),
                hours_href: hours_href(d.id),
                agenda_href: agenda_href(d.id),
            }),
            action,
            submit,
            values,
            errors: FieldErrors::default(),
            problem: None,
            notice: None,
            specialties: options,
            zones: COMMON_ZONES,
            currencies: COMMON_CURRENCIES,
        }
    }

    /// The form again with what went wrong, answered with 422.
    fn refused(mut self, errors: FieldErrors, problem: Option<String>) -> Response {
        self.errors = errors;
        self.problem = problem;
        (StatusCode::UNPROCESSABLE_ENTITY, self).into_response()
    }

    /// Answers a refusal of the core: by its field when it names one, else at the top.
    fn refused_by_core(self, error: BookingError) -> PageResult<Response> {
        if let Some((field, words)) = core_refusal(&error) {
            let mut errors = FieldErrors::default();
            errors.add(field, words);
            return Ok(self.refused(errors, None));
        }
        match error {
            BookingError::Validation(message) => {
                Ok(self.refused(FieldErrors::default(), Some(sentence(&message))))
            }
            other => Err(other.into()),
        }
    }
}

/// `GET /admin/doctors/new`: the empty form.
pub async fn new_form(
    State(state): State<AppState>,
    admin: AdminViewer,
    uri: Uri,
) -> PageResult<Response> {
    let specialties = state.catalogue.specialties().await?;
    let page = DoctorFormPage::new(&admin, &uri, None, DoctorFormValues::blank(), &specialties);
    Ok(page.into_response())
}

/// `POST /admin/doctors/new`: creates the doctor with [`default_schedule`] and goes to their
/// edit page.
pub async fn create(
    State(state): State<AppState>,
    // Refused before anything else, signed in or not.
    _: SameSite,
    admin: AdminViewer,
    client: ClientIp,
    uri: Uri,
    PostedForm(form): PostedForm,
) -> PageResult<Response> {
    let specialties = state.catalogue.specialties().await?;
    let values = DoctorFormValues::posted(&form);
    let page = DoctorFormPage::new(&admin, &uri, None, values.clone(), &specialties);
    let checked = match check(&values, &specialties) {
        Ok(checked) => checked,
        Err(errors) => return Ok(page.refused(errors, None)),
    };
    let profile = DoctorProfile {
        name: checked.name,
        specialty_id: checked.specialty_id,
        qualification: checked.qualification,
        years_experience: checked.years_experience,
        bio: checked.bio,
        fee_minor: checked.fee_minor,
        currency: checked.currency,
        photo_url: checked.photo_url,
        time_zone: checked.time_zone,
        schedule: default_schedule(),
    };
    let doctor = match state
        .staff
        .add_doctor(&admin.0.member, &actor(&admin, &client), profile)
        .await
    {
        Ok(doctor) => doctor,
        Err(error) => return page.refused_by_core(error),
    };
    Ok(Redirect::to(&format!("{}?notice=created", edit_href(doctor.id))).into_response())
}

/// `GET /admin/doctors/{id}?notice=`: the doctor's form, filled in.
pub async fn edit_form(
    State(state): State<AppState>,
    admin: AdminViewer,
    uri: Uri,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let doctor = state
        .catalogue
        .doctor(DoctorId::from_uuid(page_id(&id)?))
        .await?;
    let specialties = state.catalogue.specialties().await?;
    let mut page = DoctorFormPage::new(
        &admin,
        &uri,
        Some(&doctor),
        DoctorFormValues::of(&doctor),
        &specialties,
    );
    page.notice = match query_param(raw.as_deref(), "notice").as_deref() {
        Some("created") => Some(
            "The doctor is created, with the usual hours: Monday to Friday 09:00–12:00 and \
             13:00–17:00, 30-minute appointments. Change them in the doctor console.",
        ),
        Some("saved") => Some("Your changes are saved."),
        _ => None,
    };
    Ok(page.into_response())
}

/// `POST /admin/doctors/{id}`: saves the form and comes back with a notice.
pub async fn update(
    State(state): State<AppState>,
    // Refused before anything else, signed in or not.
    _: SameSite,
    admin: AdminViewer,
    client: ClientIp,
    uri: Uri,
    Path(id): Path<String>,
    PostedForm(form): PostedForm,
) -> PageResult<Response> {
    let doctor = state
        .catalogue
        .doctor(DoctorId::from_uuid(page_id(&id)?))
        .await?;
    let specialties = state.catalogue.specialties().await?;
    let values = DoctorFormValues::posted(&form);
    let page = DoctorFormPage::new(&admin, &uri, Some(&doctor), values.clone(), &specialties);
    let checked = match check(&values, &specialties) {
        Ok(checked) => checked,
        Err(errors) => return Ok(page.refused(errors, None)),
    };
    let changes = DoctorChanges {
        name: Some(checked.name),
        specialty_id: Some(checked.specialty_id),
        qualification: Some(checked.qualification),
        years_experience: Some(checked.years_experience),
        bio: Some(checked.bio),
        fee_minor: Some(checked.fee_minor),
        currency: Some(checked.currency),
        photo_url: Some(checked.photo_url),
        time_zone: Some(checked.time_zone),
        schedule: None,
    };
    let updated = match state
        .staff
        .update_doctor(&admin.0.member, &actor(&admin, &client), doctor.id, changes)
        .await
    {
        Ok(updated) => updated,
        Err(error) => return page.refused_by_core(error),
    };
    Ok(Redirect::to(&format!("{}?notice=saved", edit_href(updated.id))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_is_valid() {
        let schedule = default_schedule().validate().unwrap();
        assert_eq!(schedule.rules.slot_minutes, 30);
        assert_eq!(schedule.rules.horizon_days, 60);
        assert_eq!(schedule.hours.monday.len(), 2);
        assert!(schedule.hours.saturday.is_empty());
    }
}
