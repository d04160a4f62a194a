//! Specialties in the admin console: `GET /admin/specialties` (each with its number of doctors
//! and a form for its name and the keywords patients use for it, which the search matches), `POST /admin/specialties` (add) and `POST /admin/specialties/{id}`
//! (rename), through `Staff::add_specialty` and `Staff::rename_specialty` with the admin API's
//! audit entries. An empty or taken name is said by the form it was typed in (422).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use medibook_core::BookingError;
use medibook_core::ids::SpecialtyId;
use medibook_core::staff::MAX_NAME_CHARS;

use crate::pages::admin::{ConsolePage, actor, admin_layout, console_nav};
use crate::pages::browse::{page_id, query_param};
use crate::pages::error::PageResult;
use crate::pages::format;
use crate::pages::forms::{PostedForm, SameSite};
use crate::pages::{AdminViewer, Layout, NavLink};
use crate::shell::AppState;
use crate::shell::client::ClientIp;

/// One specialty of the list.
#[derive(Clone, Debug)]
pub struct SpecialtyRow {
    /// Its id.
    pub id: String,
    /// Its name as stored.
    pub name: String,
    /// "3 doctors".
    pub doctors: String,
    /// What the rename field shows: the name, or what was typed when it was refused.
    pub typed: String,
    /// What the keywords field shows: the keywords, or what was typed when refused.
    pub keywords: String,
    /// Why a rename was refused.
    pub error: Option<String>,
    /// Its public page.
    pub href: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_specialties.html")]
struct SpecialtiesPage {
    layout: Layout,
    console: Vec<NavLink>,
    specialties: Vec<SpecialtyRow>,
    notice: Option<&'static str>,
    /// What the add field shows.
    new_name: String,
    /// Why adding was refused.
    add_error: Option<String>,
    /// A summary of a refusal, at the top.
    problem: Option<String>,
}

/// A refusal from the core in words for the admin.
fn refusal(typed: &str, error: &BookingError) -> Option<String> {
    let BookingError::Validation(message) = error else {
        return None;
    };
    let typed = typed.trim();
    Some(if message.contains("keyword") {
        format!(
            "Keywords: {}.",
            crate::pages::error::sentence(message).trim_end_matches('.')
        )
    } else if typed.is_empty() {
        "Enter a name for the specialty.".to_owned()
    } else if message.contains("already exists") {
        format!("There is already a specialty called “{typed}”. Choose another name.")
    } else if message.contains("at most") {
        format!("Use at most {MAX_NAME_CHARS} characters.")
    } else {
        "Write the name on one line, without special characters.".to_owned()
    })
}

/// The page, optionally with a refusal for the add form or one row's rename form.
async fn page(
    state: &AppState,
    admin: &AdminViewer,
    uri: &Uri,
    notice: Option<&'static str>,
) -> PageResult<SpecialtiesPage> {
    let mut summaries = state.catalogue.specialties().await?;
    summaries.sort_by(|a, b| a.specialty.name.cmp(&b.specialty.name));
    let specialties = summaries
        .into_iter()
        .map(|s| SpecialtyRow {
            id: s.specialty.id.to_string(),
            href: format!("/specialties/{}", s.specialty.id),
            doctors: format::count_of(s.doctor_count, "doctor"),
            typed: s.specialty.name.clone(),
            keywords: s.specialty.keywords.join(", "),
            name: s.specialty.name,
            error: None,
        })
        .collect();
    Ok(SpecialtiesPage {
        layout: admin_layout(admin, "Specialties", uri),
        console: console_nav(ConsolePage::Specialties),
        specialties,
        notice,
        new_name: String::new(),
        add_error: None,
        problem: None,
    })
}

/// `GET /admin/specialties?notice=`: the list with its forms.
pub async fn list(
    State(state): State<AppState>,
    admin: AdminViewer,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let notice = match query_param(raw.as_deref(), "notice").as_deref() {
        Some("added") => Some("The specialty is added."),
        Some("renamed") => Some("The specialty is renamed."),
        _ => None,
    };
    Ok(page(&state, &admin, &uri, notice).await?.into_response())
}

/// `POST /admin/specialties`: adds a specialty.
pub async fn add(
    State(state): State<AppState>,
    // Refused before anything else, signed in or not.
    _: SameSite,
    admin: AdminViewer,
    client: ClientIp,
    uri: Uri,
    PostedForm(form): PostedForm,
) -> PageResult<Response> {
    let typed = form.get("name");
    match state
        .staff
        .add_specialty(
            &admin.0.member,
            &actor(&admin, &client),
            typed,
            form.value("keywords"),
        )
        .await
    {
        Ok(_) => Ok(Redirect::to("/admin/specialties?notice=added").into_response()),
        Err(error) => {
            let Some(message) = refusal(typed, &error) else {
                return Err(error.into());
            };
            let mut shown = page(&state, &admin, &uri, None).await?;
            shown.new_name = typed.to_owned();
            shown.problem = Some(format!("The specialty was not added: {message}"));
            shown.add_error = Some(message);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, shown).into_response())
        }
    }
}

/// `POST /admin/specialties/{id}`: renames a specialty.
pub async fn rename(
    State(state): State<AppState>,
    // Refused before anything else, signed in or not.
    _: SameSite,
    admin: AdminViewer,
    client: ClientIp,
    uri: Uri,
    Path(id): Path<String>,
    PostedForm(form): PostedForm,
) -> PageResult<Response> {
    let id = SpecialtyId::from_uuid(page_id(&id)?);
    let typed = form.get("name");
    let keywords = form.value("keywords");
    match state
        .staff
        .rename_specialty(
            &admin.0.member,
            &actor(&admin, &client),
            id,
            Some(typed),
            keywords,
        )
        .await
    {
        Ok(_) => Ok(Redirect::to("/admin/specialties?notice=renamed").into_response()),
        Err(error) => {
            let Some(message) = refusal(typed, &error) else {
                return Err(error.into());
            };
            let mut shown = page(&state, &admin, &uri, None).await?;
            let id = id.to_string();
            if let Some(row) = shown.specialties.iter_mut().find(|row| row.id == id) {
                shown.problem = Some(format!("{} was not renamed: {message}", row.name));
                row.typed = typed.to_owned();
                row.keywords = keywords.unwrap_or_default().to_owned();
                row.error = Some(message);
            }
            Ok((StatusCode::UNPROCESSABLE_ENTITY, shown).into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_said_in_words_for_people() {
        let taken = BookingError::validation("a specialty named \"Cardiology\" already exists");
        assert_eq!(
            refusal("cardiology", &taken).as_deref(),
            Some("There is already a specialty called “cardiology”. Choose another name.")
        );
        let empty = BookingError::validation("name must not be empty");
        assert_eq!(
            refusal("  ", &empty).as_deref(),
            Some("Enter a name for the specialty.")
        );
        assert!(refusal("x", &BookingError::Forbidden).is_none());
    }
}
