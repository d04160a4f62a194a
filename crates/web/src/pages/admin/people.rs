//! People and roles in the admin console: `GET /admin/people?q=` finds accounts by part of
//! their email, phone or name (`Staff::users`, audited as `user.search` with the number found,
//! never the query), and each account has a role form, `POST /admin/people/{id}/role`
//! (`Staff::set_role`, audited as `role.change` with `RoleChange::describe`), which goes back
//! to the search with a notice. What the core refuses (an admin's own role, the doctor role
//! without a profile, a profile linked to someone else) is said by that person's form.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use medibook_core::BookingError;
use medibook_core::audit::{AuditAction, AuditEvent};
use medibook_core::clinic::Doctor;
use medibook_core::identity::{Role, User};
use medibook_core::ids::{DoctorId, UserId};
use medibook_core::staff::MAX_USER_QUERY_CHARS;

use crate::pages::admin::doctors::edit_href;
use crate::pages::admin::{ConsolePage, actor, admin_layout, console_nav, record};
use crate::pages::browse::{page_id, query_param};
use crate::pages::error::{PageError, PageResult};
use crate::pages::forms::{PostedForm, SameSite};
use crate::pages::signin::encode_component;
use crate::pages::{AdminViewer, Layout, NavLink};
use crate::shell::AppState;
use crate::shell::client::ClientIp;

/// A doctor profile in the role form's `<select>`.
#[derive(Clone, Debug)]
pub struct ProfileOption {
    /// Its id.
    pub id: String,
    /// The doctor's name.
    pub name: String,
}

/// One account found.
#[derive(Clone, Debug)]
pub struct PersonRow {
    /// Its id.
    pub id: String,
    /// Display name, or how to refer to them when they gave none.
    pub label: String,
    /// Name, if given.
    pub name: Option<String>,
    /// Email, if known.
    pub email: Option<String>,
    /// Phone, if known.
    pub phone: Option<String>,
    /// "patient", "doctor" or "admin".
    pub role: &'static str,
    /// The linked doctor profile's id, if any.
    pub doctor_id: String,
    /// The linked doctor profile, as `(edit page, name)`.
    pub doctor: Option<(String, String)>,
    /// Whether this is the admin looking (who cannot change their own role).
    pub is_you: bool,
    /// Why the last role change of this account was refused.
    pub error: Option<String>,
    /// The audit trail concerning them.
    pub audit_href: String,
}

impl PersonRow {
    fn new(user: &User, doctors: &[Doctor], you: UserId) -> Self {
        let email = user.email.as_ref().map(|e| e.as_str().to_owned());
        let phone = user.phone.as_ref().map(|p| p.as_str().to_owned());
        let name = user.name.clone().filter(|n| !n.trim().is_empty());
        let label = name
            .clone()
            .or_else(|| email.clone())
            .or_else(|| phone.clone())
            .unwrap_or_else(|| "an account without name or address".to_owned());
        let doctor = user.doctor_id.map(|id| {
            let name = doctors
                .iter()
                .find(|d| d.id == id)
                .map_or_else(|| id.to_string(), |d| d.name.clone());
            (edit_href(id), name)
        });
        Self {
            id: user.id.to_string(),
            label,
            name,
            email,
            phone,
            role: user.role.as_str(),
            doctor_id: user.doctor_id.map(|d| d.to_string()).unwrap_or_default(),
            doctor,
            is_you: user.id == you,
            error: None,
            audit_href: format!("/admin/audit?patient_id={}", user.id),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_people.html")]
struct PeoplePage {
    layout: Layout,
    console: Vec<NavLink>,
    query: String,
    /// A problem with the search box.
    query_error: Option<String>,
    people: Vec<PersonRow>,
    /// "3 people found for “ada”".
    summary: String,
    notice: Option<String>,
    /// A refusal, at the top.
    problem: Option<String>,
    profiles: Vec<ProfileOption>,
    roles: [&'static str; 4],
}

/// Finds the accounts for `query`, records the search as the API does and builds the page.
async fn search_page(
    state: &AppState,
    admin: &AdminViewer,
    client: &ClientIp,
    uri: &Uri,
    query: &str,
) -> PageResult<PeoplePage> {
    let doctors = state.catalogue.search(None, None).await?;
    let mut page = PeoplePage {
        layout: admin_layout(admin, "People and roles", uri),
        console: console_nav(ConsolePage::People),
        query: query.to_owned(),
        query_error: None,
        people: Vec::new(),
        summary: String::new(),
        notice: None,
        problem: None,
        profiles: doctors
            .iter()
            .map(|d| ProfileOption {
                id: d.id.to_string(),
                name: d.name.clone(),
            })
            .collect(),
        roles: ["patient", "doctor", "receptionist", "admin"],
    };
    let users = match state.staff.users(&admin.0.member, Some(query)).await {
        Ok(users) => users,
        Err(BookingError::Validation(_)) => {
            page.query_error = Some(format!(
                "Search with at most {MAX_USER_QUERY_CHARS} characters."
            ));
            return Ok(page);
        }
        Err(other) => return Err(other.into()),
    };
    // The query may be a phone number or an email: only the number of results is recorded.
    record(
        state,
        admin,
        client,
        vec![
            AuditEvent::new(AuditAction::UserSearch, "user", None)
                .with_detail(format!("{} users found", users.len())),
        ],
    )
    .await?;
    let you = admin.0.person.auth.id;
    page.people = users
        .iter()
        .map(|user| PersonRow::new(user, &doctors, you))
        .collect();
    let found = match page.people.len() {
        0 => "Nobody found".to_owned(),
        1 => "1 person found".to_owned(),
        n => format!("{n} people found"),
    };
    page.summary = if query.trim().is_empty() {
        format!("{found}: the newest accounts are listed first.")
    } else {
        format!("{found} for “{}”, newest first.", query.trim())
    };
    Ok(page)
}

/// `GET /admin/people?q=&notice=&user=`: the search and its results.
pub async fn search(
    State(state): State<AppState>,
    admin: AdminViewer,
    client: ClientIp,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let query = query_param(raw.as_deref(), "q").unwrap_or_default();
    let mut page = search_page(&state, &admin, &client, &uri, &query).await?;
    if query_param(raw.as_deref(), "notice").as_deref() == Some("role-saved") {
        let user = query_param(raw.as_deref(), "user").unwrap_or_default();
        page.notice = Some(match page.people.iter().find(|p| p.id == user) {
            Some(person) => format!("{} is now {}.", person.label, role_words(person.role)),
            None => "The role is saved.".to_owned(),
        });
    }
    let status = if page.query_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, page).into_response())
}

/// "a patient", "a doctor", "a receptionist", "an administrator".
fn role_words(role: &str) -> &'static str {
    match role {
        "doctor" => "a doctor",
        "admin" => "an administrator",
        "receptionist" => "a receptionist",
        _ => "a patient",
    }
}

/// A refusal of a role change in words for the admin, with the status it is answered with.
fn refusal(error: &BookingError) -> Option<(StatusCode, &'static str)> {
    match error {
        BookingError::InvalidState(_) => Some((
            StatusCode::CONFLICT,
            "You cannot change your own role. Ask another administrator.",
        )),
        BookingError::Validation(message) if message.contains("already linked") => Some((
            StatusCode::UNPROCESSABLE_ENTITY,
            "That doctor profile already belongs to another account. Choose another profile, \
             or first give that account another role.",
        )),
        BookingError::Validation(message) if message.contains("needs the doctor_id") => Some((
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose the doctor profile this person works as: the doctor role needs one.",
        )),
        BookingError::Validation(message) if message.contains("does not name") => Some((
            StatusCode::UNPROCESSABLE_ENTITY,
            "That doctor profile does not exist. Choose one from the list.",
        )),
        BookingError::Validation(_) => Some((
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose a role and, for a doctor, their doctor profile.",
        )),
        _ => None,
    }
}

/// `POST /admin/people/{id}/role` (`role`, `doctor_id`, `q`): gives the account a role and
/// goes back to the search.
pub async fn set_role(
    State(state): State<AppState>,
    // Refused before anything else, signed in or not.
    _: SameSite,
    admin: AdminViewer,
    client: ClientIp,
    uri: Uri,
    Path(id): Path<String>,
    PostedForm(form): PostedForm,
) -> PageResult<Response> {
    let user_id = UserId::from_uuid(page_id(&id)?);
    let query = form.get("q").to_owned();
    let role = Role::parse(form.get("role"));
    // The patient role has no profile: the form still shows the old one, which goes.
    let doctor_id = match (role, form.get("doctor_id")) {
        (Some(Role::Patient), _) | (_, "") => Ok(None),
        (_, raw) => raw
            .parse()
            .map(|id| Some(DoctorId::from_uuid(id)))
            .map_err(|_| BookingError::validation("doctor_id does not name a doctor profile")),
    };
    let result = match (role, doctor_id) {
        (Some(role), Ok(doctor_id)) => {
            state
                .staff
                .set_role(
                    &admin.0.member,
                    &actor(&admin, &client),
                    user_id,
                    role,
                    doctor_id,
                )
                .await
        }
        (None, _) => Err(BookingError::validation("choose a role")),
        (_, Err(error)) => Err(error),
    };
    match result {
        Ok(change) => {
            let after = &change.after;
            Ok(Redirect::to(&format!(
                "/admin/people?q={}&notice=role-saved&user={}",
                encode_component(&query),
                after.id
            ))
            .into_response())
        }
        Err(BookingError::NotFound(_)) => Err(PageError::not_found()),
        Err(error) => {
            let Some((status, message)) = refusal(&error) else {
                return Err(error.into());
            };
            let mut page = search_page(&state, &admin, &client, &uri, &query).await?;
            let id = user_id.to_string();
            let who = match page.people.iter_mut().find(|p| p.id == id) {
                Some(person) => {
                    person.error = Some(message.to_owned());
                    person.label.clone()
                }
                None => "this account".to_owned(),
            };
            page.problem = Some(format!("The role of {who} was not changed. {message}"));
            Ok((status, page).into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_said_in_words_for_people() {
        let own = BookingError::InvalidState("you cannot change your own role".into());
        assert_eq!(refusal(&own).map(|r| r.0), Some(StatusCode::CONFLICT));
        let linked =
            BookingError::validation("this doctor profile is already linked to another user");
        assert!(refusal(&linked).is_some_and(|r| r.1.contains("another account")));
        assert!(refusal(&BookingError::Forbidden).is_none());
        assert_eq!(role_words("admin"), "an administrator");
    }
}
