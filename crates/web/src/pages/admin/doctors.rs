//! Doctor profiles in the admin console: `GET /admin/doctors` (the table, with links to each
//! doctor's hours and agenda in the doctor console), `GET`/`POST /admin/doctors/new` (create)
//! and `GET`/`POST /admin/doctors/{id}` (edit), through `Staff::add_doctor` and
//! `Staff::update_doctor` with the admin API's audit entries (`doctor.create`,
//! `doctor.update`).
//!
//! The form is checked here first, so each mistake gets its own message by its field (422,
//! form re-filled); the core checks everything again. A new doctor starts with
//! [`default_schedule`], which the doctor console changes.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::civil::time;
use medibook_core::BookingError;
use medibook_core::audit::{AuditAction, AuditEvent};
use medibook_core::clinic::{Doctor, Fee, SpecialtySummary, Zone};
use medibook_core::contact::text_field;
use medibook_core::ids::{DoctorId, SpecialtyId};
use medibook_core::schedule::{BookingRules, TimeRange, WeeklyHours, WeeklySchedule};
use medibook_core::staff::{
    DoctorChanges, DoctorProfile, MAX_BIO_CHARS, MAX_NAME_CHARS, MAX_PHOTO_URL_CHARS,
    MAX_QUALIFICATION_CHARS,
};

use crate::AppState;
use crate::client::ClientIp;
use crate::pages::admin::{ConsolePage, FieldErrors, admin_layout, console_nav, record};
use crate::pages::browse::{doctor_href, page_id, query_param, specialty_names};
use crate::pages::error::{PageResult, sentence};
use crate::pages::format;
use crate::pages::forms::{FormFields, PostedForm, SameSite};
use crate::pages::{AdminViewer, Layout, NavLink};

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

/// The largest fee the form takes, in minor units (1,000,000.00).
const MAX_FEE_MINOR: i64 = 100_000_000;

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

/// The doctor form's fields as typed (or as stored, when editing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DoctorFormValues {
    /// Full name.
    pub name: String,
    /// The chosen specialty's id.
    pub specialty_id: String,
    /// Degrees and titles.
    pub qualification: String,
    /// Years in practice.
    pub years_experience: String,
    /// Fee in the currency's major unit, "80.00".
    pub fee_amount: String,
    /// ISO 4217 code.
    pub currency: String,
    /// About the doctor.
    pub bio: String,
    /// Picture URL.
    pub photo_url: String,
    /// IANA zone.
    pub time_zone: String,
}

impl DoctorFormValues {
    /// The fields of a posted form.
    pub fn posted(form: &FormFields) -> Self {
        Self {
            name: form.get("name").to_owned(),
            specialty_id: form.get("specialty_id").to_owned(),
            qualification: form.get("qualification").to_owned(),
            years_experience: form.get("years_experience").to_owned(),
            fee_amount: form.get("fee_amount").to_owned(),
            currency: form.get("currency").to_owned(),
            bio: form.get("bio").to_owned(),
            photo_url: form.get("photo_url").to_owned(),
            time_zone: form.get("time_zone").to_owned(),
        }
    }

    /// The fields of a stored doctor.
    pub fn of(doctor: &Doctor) -> Self {
        Self {
            name: doctor.name.clone(),
            specialty_id: doctor.specialty_id.to_string(),
            qualification: doctor.qualification.clone(),
            years_experience: doctor.years_experience.to_string(),
            fee_amount: format::fee_amount(doctor.fee.amount_minor),
            currency: doctor.fee.currency.clone(),
            bio: doctor.bio.clone(),
            photo_url: doctor.photo_url.clone().unwrap_or_default(),
            time_zone: doctor.time_zone.name().to_owned(),
        }
    }

    /// Blank, with the clinic's usual currency and zone filled in.
    fn blank() -> Self {
        Self {
            years_experience: "0".to_owned(),
            currency: "EUR".to_owned(),
            time_zone: "Europe/Berlin".to_owned(),
            ..Self::default()
        }
    }
}

/// A doctor form that passed the page's checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedDoctor {
    name: String,
    specialty_id: SpecialtyId,
    qualification: String,
    years_experience: u16,
    fee_minor: i64,
    currency: String,
    bio: String,
    photo_url: Option<String>,
    time_zone: String,
}

/// An amount in a currency's major unit ("80", "80.5", "80.00", "80,00") in minor units.
pub fn parse_fee(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let normalised = if raw.contains('.') {
        raw.to_owned()
    } else {
        raw.replacen(',', ".", 1)
    };
    let (whole, fraction) = normalised
        .split_once('.')
        .unwrap_or((normalised.as_str(), ""));
    let digits = |text: &str| text.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || fraction.len() > 2 || !digits(fraction) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let cents: i64 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<i64>().ok()? * 10,
        _ => fraction.parse().ok()?,
    };
    whole.checked_mul(100)?.checked_add(cents)
}

/// Whether `url` is a picture address the pages can show: `https://` only, since the
/// Content-Security-Policy loads no plain-http images (the core would also take `http://`).
fn photo_url_ok(url: &str) -> bool {
    url.starts_with("https://")
        && url.chars().count() <= MAX_PHOTO_URL_CHARS
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
        && url::Url::parse(url).is_ok_and(|parsed| parsed.host_str().is_some_and(|h| !h.is_empty()))
}

/// Checks the form, with a message for each field that is not right.
pub fn check(
    values: &DoctorFormValues,
    specialties: &[SpecialtySummary],
) -> Result<CheckedDoctor, FieldErrors> {
    let mut errors = FieldErrors::default();
    let name = match text_field("name", &values.name, MAX_NAME_CHARS, false) {
        Ok(name) => name,
        Err(_) if values.name.trim().is_empty() => {
            errors.add("name", "Enter the doctor's full name.");
            String::new()
        }
        Err(_) => {
            errors.add(
                "name",
                format!("Use at most {MAX_NAME_CHARS} characters, on one line."),
            );
            String::new()
        }
    };
    let specialty_id = values
        .specialty_id
        .parse()
        .ok()
        .map(SpecialtyId::from_uuid)
        .filter(|id| specialties.iter().any(|s| s.specialty.id == *id));
    if specialty_id.is_none() {
        errors.add("specialty_id", "Choose a specialty.");
    }
    let qualification = values.qualification.trim().to_owned();
    if qualification.chars().count() > MAX_QUALIFICATION_CHARS {
        errors.add(
            "qualification",
            format!("Use at most {MAX_QUALIFICATION_CHARS} characters."),
        );
    }
    let years = values.years_experience.trim();
    let years_experience = if years.is_empty() {
        Some(0)
    } else {
        years.parse::<u16>().ok().filter(|y| *y <= 80)
    };
    if years_experience.is_none() {
        errors.add(
            "years_experience",
            "Enter the years in practice as a whole number from 0 to 80.",
        );
    }
    let fee_minor = parse_fee(&values.fee_amount).filter(|fee| *fee <= MAX_FEE_MINOR);
    if fee_minor.is_none() {
        errors.add(
            "fee_amount",
            "Enter the fee as an amount like 80.00 (no currency sign, at most 1000000.00).",
        );
    }
    let currency = values.currency.trim().to_ascii_uppercase();
    if Fee::new(0, &currency).is_err() {
        errors.add("currency", "Enter a three-letter currency code, like EUR.");
    }
    let bio = values.bio.trim().to_owned();
    if bio.chars().count() > MAX_BIO_CHARS {
        errors.add("bio", format!("Use at most {MAX_BIO_CHARS} characters."));
    }
    let photo = values.photo_url.trim();
    let photo_url = if photo.is_empty() {
        None
    } else {
        if !photo_url_ok(photo) {
            errors.add(
                "photo_url",
                format!(
                    "Enter a web address starting with https://, like \
                     https://example.org/photo.jpg (at most {MAX_PHOTO_URL_CHARS} characters), \
                     or leave it empty."
                ),
            );
        }
        Some(photo.to_owned())
    };
    let time_zone = values.time_zone.trim().to_owned();
    if time_zone.is_empty() {
        errors.add(
            "time_zone",
            "Enter the doctor's time zone, like Europe/Berlin.",
        );
    } else if Zone::parse(&time_zone).is_err() {
        errors.add(
            "time_zone",
            format!(
                "We do not know the time zone “{time_zone}”. Use a name from the list, like \
                 Europe/Berlin."
            ),
        );
    }
    match (specialty_id, years_experience, fee_minor) {
        (Some(specialty_id), Some(years_experience), Some(fee_minor)) if errors.is_empty() => {
            Ok(CheckedDoctor {
                name,
                specialty_id,
                qualification,
                years_experience,
                fee_minor,
                currency,
                bio,
                photo_url,
                time_zone,
            })
        }
        _ => Err(errors),
    }
}

/// The field a core validation message is about, with the page's words for it.
fn core_refusal(error: &BookingError) -> Option<(&'static str, &'static str)> {
    let BookingError::Validation(message) = error else {
        return None;
    };
    let fields: [(&str, &'static str, &'static str); 8] = [
        ("name", "name", "Enter the doctor's full name."),
        ("specialty", "specialty_id", "Choose a specialty."),
        (
            "qualification",
            "qualification",
            "Shorten the qualification.",
        ),
        (
            "years",
            "years_experience",
            "Enter the years in practice from 0 to 80.",
        ),
        ("bio", "bio", "Shorten the text about the doctor."),
        (
            "photo",
            "photo_url",
            "Enter a web address starting with https://.",
        ),
        (
            "unknown time zone",
            "time_zone",
            "Use a time zone from the list.",
        ),
        (
            "currency",
            "currency",
            "Enter a three-letter currency code, like EUR.",
        ),
    ];
    fields
        .into_iter()
        .find(|(prefix, _, _)| message.starts_with(prefix))
        .map(|(_, field, words)| (field, words))
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
    let doctor = match state.staff.add_doctor(&admin.0.member, profile).await {
        Ok(doctor) => doctor,
        Err(error) => return page.refused_by_core(error),
    };
    record(
        &state,
        &admin,
        &client,
        vec![AuditEvent::doctor(AuditAction::DoctorCreate, doctor.id)],
    )
    .await?;
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
        .update_doctor(&admin.0.member, doctor.id, changes)
        .await
    {
        Ok(updated) => updated,
        Err(error) => return page.refused_by_core(error),
    };
    record(
        &state,
        &admin,
        &client,
        vec![AuditEvent::doctor(AuditAction::DoctorUpdate, updated.id)],
    )
    .await?;
    Ok(Redirect::to(&format!("{}?notice=saved", edit_href(updated.id))).into_response())
}

#[cfg(test)]
mod tests {
    use medibook_core::clinic::Specialty;

    use super::*;

    #[test]
    fn fees_are_read_in_major_units() {
        assert_eq!(parse_fee("80"), Some(8000));
        assert_eq!(parse_fee("80.5"), Some(8050));
        assert_eq!(parse_fee(" 80.05 "), Some(8005));
        assert_eq!(parse_fee("80,00"), Some(8000));
        assert_eq!(parse_fee("0"), Some(0));
        for bad in [
            "",
            "-5",
            "80.001",
            "€80",
            "eighty",
            ".5",
            "1.2.3",
            "99999999999999999999",
        ] {
            assert_eq!(parse_fee(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_default_schedule_is_valid() {
        let schedule = default_schedule().validate().unwrap();
        assert_eq!(schedule.rules.slot_minutes, 30);
        assert_eq!(schedule.rules.horizon_days, 60);
        assert_eq!(schedule.hours.monday.len(), 2);
        assert!(schedule.hours.saturday.is_empty());
    }

    #[test]
    fn every_mistake_gets_a_message_by_its_field() {
        let cardiology = SpecialtySummary {
            specialty: Specialty {
                id: SpecialtyId::generate(),
                name: "Cardiology".into(),
            },
            doctor_count: 0,
        };
        let good = DoctorFormValues {
            name: " Dr. Lena Vogel ".into(),
            specialty_id: cardiology.specialty.id.to_string(),
            qualification: "MD".into(),
            years_experience: "7".into(),
            fee_amount: "80.00".into(),
            currency: "eur".into(),
            bio: String::new(),
            photo_url: "https://example.org/lena.jpg".into(),
            time_zone: "Europe/Vienna".into(),
        };
        let checked = check(&good, std::slice::from_ref(&cardiology)).unwrap();
        assert_eq!(checked.name, "Dr. Lena Vogel");
        assert_eq!(checked.fee_minor, 8000);
        assert_eq!(checked.currency, "EUR");
        let bad = DoctorFormValues {
            name: " ".into(),
            specialty_id: "nope".into(),
            years_experience: "81".into(),
            fee_amount: "-1".into(),
            currency: "EURO".into(),
            photo_url: "http://example.org/lena.jpg".into(),
            time_zone: "Mars/Olympus".into(),
            ..good
        };
        let errors = check(&bad, &[cardiology]).unwrap_err();
        for field in [
            "name",
            "specialty_id",
            "years_experience",
            "fee_amount",
            "currency",
            "photo_url",
            "time_zone",
        ] {
            assert!(errors.get(field).is_some(), "{field}: {errors:?}");
        }
        assert!(errors.get("bio").is_none());
    }

    #[test]
    fn only_https_pictures_are_taken() {
        assert!(photo_url_ok("https://example.org/a.jpg"));
        assert!(!photo_url_ok("http://example.org/a.jpg"));
        assert!(!photo_url_ok("https://"));
        assert!(!photo_url_ok("https://example.org/a b.jpg"));
        assert!(!photo_url_ok("javascript:alert(1)"));
    }
}
