//! The welcome step: a patient signing in on the web for the first time (or without a name or
//! date of birth on record) is asked for both before anything else, then goes on to where they
//! were going — the chosen slot, say. `GET /welcome?next=…`, `POST /welcome`.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use medibook_core::identity::Role;
use medibook_core::patients::{PatientRecord, ProfileChanges};

use medibook_core::audit::Actor;

use crate::pages::account::{RecordFields, check_display_name, save_changes};
use crate::pages::browse::query_param;
use crate::pages::error::PageResult;
use crate::pages::forms::PostedForm;
use crate::pages::resume::after_sign_in;
use crate::pages::signin::{encode_component, safe_next};
use crate::pages::{Layout, Section, SignedIn};
use crate::shell::AppState;
use crate::shell::client::ClientIp;

#[derive(Template, WebTemplate)]
#[template(path = "welcome.html")]
struct WelcomePage {
    layout: Layout,
    fields: RecordFields,
    next: String,
    error: Option<String>,
}

/// Whether a person signing in should first see the welcome step: a patient without a name or
/// a date of birth on record.
pub fn needs_welcome(record: &PatientRecord) -> bool {
    record.user.role == Role::Patient
        && (record.user.name.is_none() || record.details.date_of_birth.is_none())
}

/// Where the welcome step is, going on to `next` afterwards.
pub fn welcome_href(next: &str) -> String {
    format!("/welcome?next={}", encode_component(next))
}

/// `GET /welcome?next=…`.
pub async fn form(
    State(state): State<AppState>,
    signed_in: SignedIn,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let next = safe_next(query_param(raw.as_deref(), "next").as_deref());
    let record = state.records.own(signed_in.person.auth.id).await?;
    if !needs_welcome(&record) {
        return Ok(Redirect::to(&next).into_response());
    }
    Ok(WelcomePage {
        layout: Layout::new(&signed_in.viewer(), "Welcome", Section::Profile, &uri),
        fields: RecordFields::of(&record),
        next,
        error: None,
    }
    .into_response())
}

/// `POST /welcome` (`name`, `date_of_birth`, `next`): saves both, then goes on to `next`.
pub async fn save(
    State(state): State<AppState>,
    signed_in: SignedIn,
    uri: Uri,
    client: ClientIp,
    PostedForm(form): PostedForm,
) -> PageResult<Response> {
    let next = safe_next(Some(form.get("next")));
    let record = state.records.own(signed_in.person.auth.id).await?;
    // Only what the step asks for changes; the rest of the record stays as stored.
    let fields = RecordFields {
        name: form.get("name").to_owned(),
        date_of_birth: form.get("date_of_birth").to_owned(),
        ..RecordFields::of(&record)
    };
    let refusal = match check_display_name(&fields.name) {
        Err(message) => Some(message),
        Ok(_) if fields.date_of_birth.trim().is_empty() => {
            Some("Enter your date of birth.".to_owned())
        }
        Ok(name) => {
            let changes = ProfileChanges {
                name: Some(name.to_owned()),
                date_of_birth: Some(fields.date_of_birth.clone()),
                ..ProfileChanges::default()
            };
            save_changes(&state, &signed_in, &client, changes)
                .await?
                .err()
        }
    };
    match refusal {
        None => {
            let person = &signed_in.person;
            let actor = Actor::user(person.auth.id, person.auth.role, client.key());
            let to = after_sign_in(&state, &actor, person.auth.id, &next).await?;
            Ok(Redirect::to(&to).into_response())
        }
        Some(message) => {
            let page = WelcomePage {
                layout: Layout::new(&signed_in.viewer(), "Welcome", Section::Profile, &uri),
                fields,
                next,
                error: Some(message),
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}
