//! Who is looking at a page: the person signed in through the page session cookie, if any.
//!
//! Pages read only the [`SESSION_COOKIE`](crate::shell::auth::SESSION_COOKIE) (browsers send no
//! `Authorization` header when following a link). The cookie's token and its server-side
//! session are checked exactly as for the API, so a cookie whose session ended (sign-out, idle
//! timeout) counts as nobody. [`Viewer`] never refuses a request; [`SignedIn`] sends people
//! who are not signed in to the sign-in page, coming back to where they were.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use medibook_core::BookingError;
use medibook_core::identity::User;
use medibook_core::staff::StaffMember;

use crate::pages::error::PageError;
use crate::pages::signin::encode_component;
use crate::shell::AppState;
use crate::shell::auth::{AuthUser, authenticate, session_cookie_token};

/// A signed-in person, as pages show them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    /// The authenticated session.
    pub auth: AuthUser,
    /// How the header names them: their name, else their email, else their masked phone.
    pub display_name: String,
}

/// The person looking at a page, or nobody.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Viewer {
    /// Who, if signed in.
    pub person: Option<Person>,
}

impl Viewer {
    /// Nobody signed in.
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// The signed-in person's display name.
    pub fn display_name(&self) -> Option<&str> {
        self.person.as_ref().map(|p| p.display_name.as_str())
    }
}

fn display_name(user: &User) -> String {
    if let Some(name) = user.name.as_deref().filter(|n| !n.trim().is_empty()) {
        return name.to_owned();
    }
    if let Some(email) = &user.email {
        return email.as_str().to_owned();
    }
    user.phone
        .as_ref()
        .map_or_else(|| "your account".to_owned(), |phone| phone.masked())
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let Some(token) = session_cookie_token(&parts.headers) else {
            return Ok(Self::anonymous());
        };
        let auth = match authenticate(state, token).await {
            Ok(auth) => auth,
            // An ended session or a stale cookie: the page is shown as to anyone.
            Err(BookingError::Unauthorized) => return Ok(Self::anonymous()),
            Err(other) => return Err(other.into()),
        };
        let Some(user) = state.identities.user(auth.id).await? else {
            return Ok(Self::anonymous());
        };
        Ok(Self {
            person: Some(Person {
                auth,
                display_name: display_name(&user),
            }),
        })
    }
}

/// A page's viewer who must be signed in. Anyone else is redirected (303) to
/// `/login?next=<this page>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedIn {
    /// Who.
    pub person: Person,
}

impl SignedIn {
    /// The viewer, for the layout.
    pub fn viewer(&self) -> Viewer {
        Viewer {
            person: Some(self.person.clone()),
        }
    }
}

/// Where a page that needs sign-in sends someone who is not: the sign-in page, then back.
pub fn sign_in_redirect(uri: &Uri) -> Redirect {
    let here = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    Redirect::to(&format!("/login?next={}", encode_component(&here)))
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let viewer = Viewer::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        match viewer.person {
            Some(person) => Ok(Self { person }),
            None => Err(sign_in_redirect(&parts.uri).into_response()),
        }
    }
}

/// A signed-in doctor or admin, for the consoles. The role is read from the database on every
/// request (as for the staff API), so a withdrawn role takes effect at once. Strangers go to
/// sign-in; a patient gets a 403 page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffViewer {
    /// Who.
    pub person: Person,
    /// Their role and doctor profile as stored now.
    pub member: StaffMember,
}

impl StaffViewer {
    /// The viewer, for the layout.
    pub fn viewer(&self) -> Viewer {
        Viewer {
            person: Some(self.person.clone()),
        }
    }
}

/// The refusal of a console page to someone without the role.
fn staff_only(what: &str) -> Response {
    PageError::new(
        StatusCode::FORBIDDEN,
        "This page is for clinic staff",
        format!("Only {what} can open this page. If you should have access, ask the clinic's administrator."),
    )
    .with_link("/", "Find a doctor")
    .into_response()
}

impl FromRequestParts<AppState> for StaffViewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let SignedIn { person } = SignedIn::from_request_parts(parts, state).await?;
        match state.staff.member(person.auth.id).await {
            Ok(member) => Ok(Self { person, member }),
            Err(BookingError::Unauthorized) => Err(sign_in_redirect(&parts.uri).into_response()),
            Err(BookingError::Forbidden | BookingError::NotFound(_)) => {
                Err(staff_only("the clinic's doctors and administrators"))
            }
            Err(other) => Err(PageError::from(other).into_response()),
        }
    }
}

/// A signed-in admin, for the admin console (role as stored now). Others are refused as for
/// [`StaffViewer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminViewer(pub StaffViewer);

impl FromRequestParts<AppState> for AdminViewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let staff = StaffViewer::from_request_parts(parts, state).await?;
        if staff.member.is_admin() {
            Ok(Self(staff))
        } else {
            Err(staff_only("the clinic's administrators"))
        }
    }
}

/// A signed-in receptionist or admin, for the front desk (role as stored now). Others are
/// refused as for [`StaffViewer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeskViewer(pub StaffViewer);

impl FromRequestParts<AppState> for DeskViewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let staff = StaffViewer::from_request_parts(parts, state)
            .await
            .map_err(|refused| {
                if refused.status() == StatusCode::FORBIDDEN {
                    staff_only("the clinic's receptionists and administrators")
                } else {
                    refused
                }
            })?;
        if staff.member.works_the_desk() {
            Ok(Self(staff))
        } else {
            Err(staff_only("the clinic's receptionists and administrators"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_who_must_sign_in_come_back_to_the_page() {
        let uri: Uri = "/appointments?tab=past".parse().unwrap();
        let response = sign_in_redirect(&uri).into_response();
        assert_eq!(response.status(), axum::http::StatusCode::SEE_OTHER);
        assert_eq!(
            response.headers()["location"],
            "/login?next=%2Fappointments%3Ftab%3Dpast"
        );
    }
}
