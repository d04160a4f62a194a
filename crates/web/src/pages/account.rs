//! The person's own account and the clinic's contact form.
//!
//! - `GET /profile`: email, phone and kind of account, with a form for the patient record —
//!   name, date of birth, sex, address, medical history (`POST /profile`, the same service as
//!   `PATCH /api/v1/me`; the history is stored encrypted) —, the calendar feeds
//!   ([`calendar`](crate::pages::calendar)) and sign-out.
//! - `GET /contact`: a message to the clinic (`POST /contact`, the same core service as
//!   `POST /api/v1/contact`: rate-limited per client, a honeypot field that people never see).
//!   Signed-in people find their name and email filled in.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use medibook_core::BookingError;
use medibook_core::audit::Actor;
use medibook_core::contact::{ContactForm, MAX_MESSAGE_CHARS, MAX_NAME_CHARS};
use medibook_core::identity::Role;
use medibook_core::patients::{PatientRecord, ProfileChanges, Sex};

use crate::pages::browse::query_param;
use crate::pages::calendar::{self, CalendarSection};
use crate::pages::error::{PageResult, sentence};
use crate::pages::format;
use crate::pages::forms::PostedForm;
use crate::pages::google;
use crate::pages::{Layout, Section, SignedIn, Viewer};
use crate::shell::AppState;
use crate::shell::client::ClientIp;

/// Longest display name, as `PATCH /api/v1/me` allows.
const MAX_DISPLAY_NAME_CHARS: usize = 100;

#[derive(Template, WebTemplate)]
#[template(path = "profile.html")]
struct ProfilePage {
    layout: Layout,
    fields: RecordFields,
    email: Option<String>,
    phone: Option<String>,
    kind: &'static str,
    error: Option<String>,
    /// The field the error is about (`name`, `date_of_birth`, …), marked invalid.
    invalid: &'static str,
    notice: Option<&'static str>,
    /// The Google Calendar section (`partials/google_calendar.html`), when the feature is on.
    google: Option<crate::pages::google::GoogleSection>,
    calendar: CalendarSection,
}

/// The record's fields as the form shows them (what is stored, or what was typed).
#[derive(Clone, Debug, Default)]
pub(crate) struct RecordFields {
    pub(crate) name: String,
    pub(crate) date_of_birth: String,
    pub(crate) sex: String,
    pub(crate) address: String,
    pub(crate) medical_history: String,
    /// Which of the free-text fields the form carried (a field missing from a posted form
    /// stays as stored; an empty one is removed).
    pub(crate) posted_text: (bool, bool),
}

impl RecordFields {
    pub(crate) fn of(record: &PatientRecord) -> Self {
        Self {
            name: record.user.name.clone().unwrap_or_default(),
            date_of_birth: record
                .details
                .date_of_birth
                .map(|d| d.to_string())
                .unwrap_or_default(),
            sex: record
                .details
                .sex
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            address: record.details.address.clone().unwrap_or_default(),
            medical_history: record.medical_history.clone().unwrap_or_default(),
            posted_text: (true, true),
        }
    }

    fn read(form: &crate::pages::forms::FormFields) -> Self {
        Self {
            name: form.get("name").to_owned(),
            date_of_birth: form.get("date_of_birth").to_owned(),
            sex: form.get("sex").to_owned(),
            address: form.get("address").to_owned(),
            medical_history: form.get("medical_history").to_owned(),
            posted_text: (
                form.value("address").is_some(),
                form.value("medical_history").is_some(),
            ),
        }
    }

    /// The change the form asks for; `Err` with a sentence for the page.
    fn changes(&self) -> Result<ProfileChanges, String> {
        let name = check_display_name(&self.name)?.to_owned();
        let sex = match self.sex.as_str() {
            "" => None,
            raw => Some(Sex::parse(raw).ok_or("Choose one of the listed options for sex.")?),
        };
        Ok(ProfileChanges {
            name: Some(name),
            date_of_birth: Some(self.date_of_birth.clone()).filter(|d| !d.trim().is_empty()),
            sex,
            address: Some(self.address.clone()).filter(|_| self.posted_text.0),
            medical_history: Some(self.medical_history.clone()).filter(|_| self.posted_text.1),
        })
    }
}

/// The form field a refusal is about, by what it says.
fn invalid_field(error: Option<&str>) -> &'static str {
    let Some(error) = error.map(str::to_lowercase) else {
        return "";
    };
    [
        ("birth", "date_of_birth"),
        ("history", "medical_history"),
        ("address", "address"),
        ("sex", "sex"),
        ("name", "name"),
    ]
    .into_iter()
    .find(|(word, _)| error.contains(word))
    .map_or("", |(_, field)| field)
}

/// What kind of account a role is, in words.
fn account_kind(role: Role) -> &'static str {
    match role {
        Role::Patient => "Patient",
        Role::Doctor => "Doctor",
        Role::Admin => "Clinic administrator",
        Role::Receptionist => "Receptionist",
    }
}

async fn profile_page(
    state: &AppState,
    signed_in: &SignedIn,
    uri: &Uri,
    fields: Option<RecordFields>,
    error: Option<String>,
    notice: Option<&'static str>,
    raw_query: Option<&str>,
) -> PageResult<ProfilePage> {
    let record = state.records.own(signed_in.person.auth.id).await?;
    let user = &record.user;
    let calendar = calendar::section(state, user, raw_query).await?;
    Ok(ProfilePage {
        layout: Layout::new(&signed_in.viewer(), "Your profile", Section::Profile, uri)
            .with_script("copy.js"),
        fields: fields.unwrap_or_else(|| RecordFields::of(&record)),
        email: user.email.as_ref().map(|e| e.as_str().to_owned()),
        phone: user.phone.as_ref().map(|p| p.as_str().to_owned()),
        kind: account_kind(user.role),
        invalid: invalid_field(error.as_deref()),
        error,
        notice,
        google: google::section(state, signed_in).await?,
        calendar,
    })
}

/// `GET /profile`.
pub async fn profile(
    State(state): State<AppState>,
    signed_in: SignedIn,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let notice = match query_param(raw.as_deref(), "notice").as_deref() {
        Some("saved") => Some("Your profile is saved."),
        other => google::notice(other),
    };
    let page = profile_page(&state, &signed_in, &uri, None, None, notice, raw.as_deref()).await?;
    Ok(google::allow_consent_redirect(&state, page.into_response()))
}

/// Checks a display name as `PATCH /api/v1/me` does, in words for the page.
pub(crate) fn check_display_name(name: &str) -> Result<&str, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("Enter your name.".to_owned());
    }
    if name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err(format!(
            "Use at most {MAX_DISPLAY_NAME_CHARS} characters for your name."
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("Write your name on one line.".to_owned());
    }
    Ok(name)
}

/// Saves `changes` to the signed-in person's record; `Ok(Err(sentence))` when the input is
/// refused.
pub(crate) async fn save_changes(
    state: &AppState,
    signed_in: &SignedIn,
    client: &ClientIp,
    changes: ProfileChanges,
) -> PageResult<Result<(), String>> {
    let person = &signed_in.person;
    let actor = Actor::user(person.auth.id, person.auth.role, client.key());
    match state
        .records
        .update_own(&actor, person.auth.id, changes)
        .await
    {
        Ok(_) => Ok(Ok(())),
        Err(BookingError::Validation(message)) => Ok(Err(sentence(
            &message
                .replace("date_of_birth", "date of birth")
                .replace("medical_history", "medical history"),
        ))),
        Err(other) => Err(other.into()),
    }
}

/// `POST /profile` (name, date of birth, sex, address, medical history): saves the record,
/// then back to the profile.
pub async fn save_profile(
    State(state): State<AppState>,
    signed_in: SignedIn,
    uri: Uri,
    client: ClientIp,
    PostedForm(form): PostedForm,
) -> PageResult<Response> {
    let fields = RecordFields::read(&form);
    let saved = match fields.changes() {
        Ok(changes) => save_changes(&state, &signed_in, &client, changes).await?,
        Err(message) => Err(message),
    };
    match saved {
        Ok(()) => Ok(Redirect::to("/profile?notice=saved").into_response()),
        Err(message) => {
            let page = profile_page(
                &state,
                &signed_in,
                &uri,
                Some(fields),
                Some(message),
                None,
                None,
            )
            .await?;
            let response = (StatusCode::UNPROCESSABLE_ENTITY, page).into_response();
            Ok(google::allow_consent_redirect(&state, response))
        }
    }
}

/// What the contact form says about one field.
#[derive(Clone, Debug, Default)]
struct FieldErrors {
    name: Option<String>,
    email: Option<String>,
    message: Option<String>,
}

impl FieldErrors {
    fn any(&self) -> bool {
        self.name.is_some() || self.email.is_some() || self.message.is_some()
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "contact.html")]
struct ContactPage {
    layout: Layout,
    name: String,
    email: String,
    message: String,
    errors: FieldErrors,
    /// A refusal that is not about one field (too many messages).
    alert: Option<String>,
    sent: bool,
    max_name: usize,
    max_message: usize,
    /// The clinic's address, phone, opening hours and map.
    clinic: medibook_core::clinic::ClinicInfo,
}

impl ContactPage {
    fn new(viewer: &Viewer, uri: &Uri, state: &AppState) -> Self {
        Self {
            clinic: state.web.clinic.clone(),
            layout: Layout::new(viewer, "Contact the clinic", Section::Contact, uri),
            name: String::new(),
            email: String::new(),
            message: String::new(),
            errors: FieldErrors::default(),
            alert: None,
            sent: false,
            max_name: MAX_NAME_CHARS,
            max_message: MAX_MESSAGE_CHARS,
        }
    }
}

/// `GET /contact`: the form, filled in with a signed-in person's name and email.
pub async fn contact(
    State(state): State<AppState>,
    viewer: Viewer,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let mut page = ContactPage::new(&viewer, &uri, &state);
    page.sent = query_param(raw.as_deref(), "notice").as_deref() == Some("sent");
    if let Some(person) = &viewer.person
        && let Some(user) = state.identities.user(person.auth.id).await?
    {
        page.name = user.name.unwrap_or_default();
        page.email = user
            .email
            .map(|e| e.as_str().to_owned())
            .unwrap_or_default();
    }
    Ok(page.into_response())
}

/// Checks the contact fields for the page's messages; the core checks them again.
fn check_contact(name: &str, email: &str, message: &str) -> FieldErrors {
    let mut errors = FieldErrors::default();
    if name.is_empty() {
        errors.name = Some("Enter your name.".to_owned());
    } else if name.chars().count() > MAX_NAME_CHARS {
        errors.name = Some(format!("Use at most {MAX_NAME_CHARS} characters."));
    }
    if email.is_empty() {
        errors.email = Some("Enter your email address, so that we can answer.".to_owned());
    } else if medibook_core::identity::Email::parse(email).is_err() {
        errors.email = Some("Enter an email address like name@example.org.".to_owned());
    }
    if message.is_empty() {
        errors.message = Some("Write your message.".to_owned());
    } else if message.chars().count() > MAX_MESSAGE_CHARS {
        errors.message = Some(format!(
            "Shorten your message to at most {MAX_MESSAGE_CHARS} characters."
        ));
    }
    errors
}

/// `POST /contact` (`name`, `email`, `message`, honeypot `website`).
pub async fn send_message(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientIp,
    uri: Uri,
    PostedForm(form): PostedForm,
) -> PageResult<Response> {
    let mut page = ContactPage::new(&viewer, &uri, &state);
    page.name = form.get("name").to_owned();
    page.email = form.get("email").to_owned();
    page.message = form.get("message").to_owned();
    page.errors = check_contact(&page.name, &page.email, &page.message);
    if page.errors.any() {
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let submission = ContactForm {
        name: page.name.clone(),
        email: page.email.clone(),
        message: page.message.clone(),
        website: form.value("website").map(str::to_owned),
    };
    match state
        .contact
        .submit(submission, client.limit_key().as_deref())
        .await
    {
        // A bot caught by the honeypot sees the same answer as a person.
        Ok(_) => Ok(Redirect::to("/contact?notice=sent").into_response()),
        Err(BookingError::RateLimited {
            retry_after_seconds,
        }) => {
            page.alert = Some(format!(
                "Too many messages were sent from here. Please wait {} and try again; what you \
                 wrote is still below.",
                format::wait_time(retry_after_seconds)
            ));
            Ok((StatusCode::TOO_MANY_REQUESTS, page).into_response())
        }
        Err(BookingError::Validation(message)) => {
            page.alert = Some(crate::pages::error::sentence(&message));
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_checked_like_the_api() {
        assert_eq!(check_display_name("  Ada Lovelace "), Ok("Ada Lovelace"));
        assert!(check_display_name(" ").is_err());
        assert!(check_display_name(&"a".repeat(101)).is_err());
        assert!(check_display_name("Ada\u{7}").is_err());
    }

    #[test]
    fn contact_fields_get_one_message_each() {
        let errors = check_contact("", "not-an-address", "");
        assert!(errors.name.is_some() && errors.email.is_some() && errors.message.is_some());
        assert!(!check_contact("Ada", "ada@example.org", "Hello").any());
        let long = "x".repeat(MAX_MESSAGE_CHARS + 1);
        assert!(
            check_contact("Ada", "ada@example.org", &long)
                .message
                .is_some()
        );
    }
}
