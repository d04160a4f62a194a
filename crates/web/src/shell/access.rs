//! Who may call which endpoint: the authorization matrix, in one table, and the middleware that
//! enforces it before any handler runs.
//!
//! Every route has one row in [`ROUTE_ACCESS`]: its method, its path template exactly as the
//! router matches it, and the [`Access`] it needs. The middleware looks the request's matched
//! path up in the table, authenticates the bearer token (token, then server-side session), and
//! answers 401 without valid credentials or 403 with the wrong role. A route missing from the
//! table is treated as [`Access::Admin`], so forgetting a row can only make a route stricter;
//! a unit test fails when an API route has no row.
//!
//! The table decides roles. Ownership (a patient's own holds and appointments, a doctor's own
//! agenda) is decided by the core services, which answer `NotFound` for other people's records.
//!
//! Roles for doctor and admin routes are read from the database on every request, not from the
//! token, so granting or withdrawing a role takes effect at once.

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use medibook_core::BookingError;
use medibook_core::identity::Role;
use medibook_core::staff::StaffMember;

use crate::shell::AppState;
use crate::shell::auth::AuthUser;
use crate::shell::error::ApiError;

/// What a caller needs to reach a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in user; the services check ownership.
    SignedIn,
    /// A doctor (acting on their own agenda) or an admin.
    Doctor,
    /// The front desk: a receptionist or an admin.
    Desk,
    /// An admin.
    Admin,
}

/// The authorization matrix: `(method, path template, access)` for every route.
pub const ROUTE_ACCESS: &[(&str, &str, Access)] = &[
    // Pages (public in this table: a page that needs sign-in redirects to /login itself, see
    // crate::pages::SignedIn), their static files and the API description.
    ("GET", "/", Access::Public),
    ("GET", "/search", Access::Public),
    ("GET", "/specialties/{id}", Access::Public),
    ("GET", "/doctors/{id}", Access::Public),
    ("POST", "/book/hold", Access::Public),
    ("GET", "/book/resume", Access::Public),
    ("POST", "/book/confirm", Access::Public),
    ("POST", "/book/release", Access::Public),
    ("POST", "/book/waitlist", Access::Public),
    ("GET", "/waitlist", Access::Public),
    ("POST", "/waitlist/{id}/leave", Access::Public),
    ("POST", "/waitlist/offers/{id}/decline", Access::Public),
    ("GET", "/holds/{id}", Access::Public),
    ("GET", "/appointments", Access::Public),
    ("GET", "/appointments/{id}", Access::Public),
    ("GET", "/appointments/{id}/calendar.ics", Access::Public),
    ("GET", "/appointments/{id}/cancel", Access::Public),
    ("POST", "/appointments/{id}/cancel", Access::Public),
    ("GET", "/appointments/{id}/reschedule", Access::Public),
    ("GET", "/profile", Access::Public),
    ("POST", "/profile", Access::Public),
    ("GET", "/profile/delete", Access::Public),
    ("POST", "/profile/delete", Access::Public),
    ("POST", "/profile/google/connect", Access::Public),
    ("GET", "/profile/google/callback", Access::Public),
    ("POST", "/profile/google/disconnect", Access::Public),
    ("POST", "/profile/calendar/reset", Access::Public),
    // Private calendar feeds: the token in the path is the credential.
    ("GET", "/calendar/{file}", Access::Public),
    ("GET", "/contact", Access::Public),
    ("POST", "/contact", Access::Public),
    ("GET", "/doctor", Access::Public),
    ("POST", "/doctor/appointments/{id}/complete", Access::Public),
    ("POST", "/doctor/appointments/{id}/no-show", Access::Public),
    ("GET", "/doctor/appointments/{id}", Access::Public),
    ("POST", "/doctor/appointments/{id}/notes", Access::Public),
    ("GET", "/doctor/hours", Access::Public),
    ("POST", "/doctor/hours", Access::Public),
    ("GET", "/doctor/time-off", Access::Public),
    ("POST", "/doctor/time-off", Access::Public),
    ("POST", "/doctor/time-off/{id}/remove", Access::Public),
    ("GET", "/login", Access::Public),
    ("POST", "/login", Access::Public),
    ("POST", "/login/code", Access::Public),
    ("GET", "/welcome", Access::Public),
    ("POST", "/welcome", Access::Public),
    ("POST", "/logout", Access::Public),
    // The admin console (pages check the admin role themselves: `AdminViewer`).
    ("GET", "/admin", Access::Public),
    ("GET", "/admin/doctors", Access::Public),
    ("GET", "/admin/doctors/new", Access::Public),
    ("POST", "/admin/doctors/new", Access::Public),
    ("GET", "/admin/doctors/{id}", Access::Public),
    ("POST", "/admin/doctors/{id}", Access::Public),
    ("GET", "/admin/specialties", Access::Public),
    ("POST", "/admin/specialties", Access::Public),
    ("POST", "/admin/specialties/{id}", Access::Public),
    ("GET", "/admin/people", Access::Public),
    ("POST", "/admin/people/{id}/role", Access::Public),
    ("GET", "/admin/messages", Access::Public),
    ("GET", "/desk/messages", Access::Public),
    ("POST", "/desk/messages/{id}/reply", Access::Public),
    ("POST", "/desk/messages/{id}/handled", Access::Public),
    ("GET", "/admin/audit", Access::Public),
    ("GET", "/admin/outbox", Access::Public),
    ("GET", "/desk", Access::Public),
    ("POST", "/desk/patients", Access::Public),
    ("GET", "/desk/patients/{id}", Access::Public),
    ("POST", "/desk/appointments/{id}/arrived", Access::Public),
    ("GET", "/assets/{*path}", Access::Public),
    ("GET", "/api/v1/openapi.json", Access::Public),
    // Operations.
    ("GET", "/healthz", Access::Public),
    ("GET", "/readyz", Access::Public),
    // Checks its own bearer token (MEDIBOOK_METRICS_TOKEN).
    ("GET", "/metrics", Access::Public),
    // Sign-in and profile.
    ("POST", "/api/v1/auth/otp", Access::Public),
    ("POST", "/api/v1/auth/verify", Access::Public),
    ("POST", "/api/v1/auth/refresh", Access::Public),
    ("POST", "/api/v1/auth/logout", Access::SignedIn),
    ("GET", "/api/v1/me", Access::SignedIn),
    ("PATCH", "/api/v1/me", Access::SignedIn),
    ("DELETE", "/api/v1/me", Access::SignedIn),
    ("GET", "/api/v1/me/export", Access::SignedIn),
    ("GET", "/api/v1/me/google", Access::SignedIn),
    ("GET", "/api/v1/me/calendar", Access::SignedIn),
    ("DELETE", "/api/v1/me/calendar", Access::SignedIn),
    // Catalogue and live slots.
    ("GET", "/api/v1/specialties", Access::Public),
    ("GET", "/api/v1/doctors", Access::Public),
    ("GET", "/api/v1/doctors/{id}", Access::Public),
    ("GET", "/api/v1/slots", Access::Public),
    ("GET", "/api/v1/ws", Access::Public),
    // Booking: the caller's own holds and appointments.
    ("POST", "/api/v1/holds", Access::SignedIn),
    ("GET", "/api/v1/holds/{id}", Access::SignedIn),
    ("DELETE", "/api/v1/holds/{id}", Access::SignedIn),
    ("POST", "/api/v1/waitlist", Access::SignedIn),
    ("GET", "/api/v1/waitlist", Access::SignedIn),
    ("GET", "/api/v1/waitlist/{id}", Access::SignedIn),
    ("DELETE", "/api/v1/waitlist/{id}", Access::SignedIn),
    (
        "POST",
        "/api/v1/waitlist/offers/{id}/decline",
        Access::SignedIn,
    ),
    ("POST", "/api/v1/appointments", Access::SignedIn),
    ("GET", "/api/v1/appointments", Access::SignedIn),
    ("GET", "/api/v1/appointments/{id}", Access::SignedIn),
    ("GET", "/api/v1/appointments/{id}/ics", Access::SignedIn),
    ("POST", "/api/v1/appointments/{id}/cancel", Access::SignedIn),
    (
        "POST",
        "/api/v1/appointments/{id}/reschedule",
        Access::SignedIn,
    ),
    // The contact form.
    ("POST", "/api/v1/contact", Access::Public),
    // A doctor's own schedule, time off, agenda and visit outcomes.
    ("GET", "/api/v1/doctor/schedule", Access::Doctor),
    ("PUT", "/api/v1/doctor/schedule", Access::Doctor),
    ("GET", "/api/v1/doctor/time-off", Access::Doctor),
    ("POST", "/api/v1/doctor/time-off", Access::Doctor),
    ("DELETE", "/api/v1/doctor/time-off/{id}", Access::Doctor),
    ("GET", "/api/v1/doctor/agenda", Access::Doctor),
    (
        "POST",
        "/api/v1/doctor/appointments/{id}/complete",
        Access::Doctor,
    ),
    (
        "POST",
        "/api/v1/doctor/appointments/{id}/no-show",
        Access::Doctor,
    ),
    // A visit's patient record and notes: any signed-in caller reaches the handler, and the
    // service answers 404 to all but the appointment's treating doctor.
    (
        "GET",
        "/api/v1/doctor/appointments/{id}/patient",
        Access::SignedIn,
    ),
    (
        "GET",
        "/api/v1/doctor/appointments/{id}/notes",
        Access::SignedIn,
    ),
    (
        "POST",
        "/api/v1/doctor/appointments/{id}/notes",
        Access::SignedIn,
    ),
    // The front desk.
    ("GET", "/api/v1/desk/patients", Access::Desk),
    ("POST", "/api/v1/desk/patients", Access::Desk),
    (
        "GET",
        "/api/v1/desk/patients/{id}/appointments",
        Access::Desk,
    ),
    ("GET", "/api/v1/desk/day", Access::Desk),
    (
        "POST",
        "/api/v1/desk/appointments/{id}/arrived",
        Access::Desk,
    ),
    // Clinic management.
    ("POST", "/api/v1/admin/specialties", Access::Admin),
    ("PATCH", "/api/v1/admin/specialties/{id}", Access::Admin),
    ("POST", "/api/v1/admin/doctors", Access::Admin),
    ("PATCH", "/api/v1/admin/doctors/{id}", Access::Admin),
    ("GET", "/api/v1/admin/users", Access::Admin),
    ("PUT", "/api/v1/admin/users/{id}/role", Access::Admin),
    ("GET", "/api/v1/admin/contact-messages", Access::Desk),
    (
        "POST",
        "/api/v1/admin/contact-messages/{id}/reply",
        Access::Desk,
    ),
    (
        "PUT",
        "/api/v1/admin/contact-messages/{id}/handled",
        Access::Desk,
    ),
    // The FHIR door: the catalogue and slots are public like the pages; appointments and
    // patients need a sign-in, and the front desk's services decide who sees which.
    ("GET", "/fhir/r4/metadata", Access::Public),
    ("GET", "/fhir/r4/Practitioner", Access::Public),
    ("GET", "/fhir/r4/Practitioner/{id}", Access::Public),
    ("GET", "/fhir/r4/PractitionerRole", Access::Public),
    ("GET", "/fhir/r4/PractitionerRole/{id}", Access::Public),
    ("GET", "/fhir/r4/HealthcareService", Access::Public),
    ("GET", "/fhir/r4/HealthcareService/{id}", Access::Public),
    ("GET", "/fhir/r4/Schedule", Access::Public),
    ("GET", "/fhir/r4/Schedule/{id}", Access::Public),
    ("GET", "/fhir/r4/Slot", Access::Public),
    ("GET", "/fhir/r4/Slot/{id}", Access::Public),
    ("GET", "/fhir/r4/Appointment", Access::SignedIn),
    ("POST", "/fhir/r4/Appointment", Access::SignedIn),
    ("GET", "/fhir/r4/Appointment/{id}", Access::SignedIn),
    ("PATCH", "/fhir/r4/Appointment/{id}", Access::SignedIn),
    ("PUT", "/fhir/r4/Appointment/{id}", Access::SignedIn),
    ("GET", "/fhir/r4/Patient", Access::SignedIn),
    ("GET", "/fhir/r4/Patient/{id}", Access::SignedIn),
    ("GET", "/api/v1/admin/audit", Access::Admin),
    ("GET", "/api/v1/admin/outbox", Access::Admin),
];

/// The access a route needs; a route missing from the table needs [`Access::Admin`].
pub fn access_for(method: &str, path: &str) -> Access {
    // Axum answers HEAD with the GET handler.
    let method = if method.eq_ignore_ascii_case("HEAD") {
        "GET"
    } else {
        method
    };
    ROUTE_ACCESS
        .iter()
        .find(|(m, p, _)| m.eq_ignore_ascii_case(method) && *p == path)
        .map_or(Access::Admin, |(_, _, access)| *access)
}

/// A doctor or admin calling a staff route, with their role as stored now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaffCaller {
    /// The authenticated request.
    pub auth: AuthUser,
    /// Who they are now.
    pub member: StaffMember,
}

/// An admin calling an admin route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdminCaller(pub StaffCaller);

/// A receptionist or an admin calling a front-desk route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeskCaller(pub StaffCaller);

impl FromRequestParts<AppState> for DeskCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = StaffCaller::from_request_parts(parts, state).await?;
        if !caller.member.works_the_desk() {
            return Err(BookingError::Forbidden.into());
        }
        Ok(Self(caller))
    }
}

/// Enforces [`ROUTE_ACCESS`] (install with `route_layer`, so the matched path is known).
/// Authenticated callers are handed on in the request's extensions, so handlers do not check
/// the session a second time.
pub async fn enforce(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let access = match request.extensions().get::<MatchedPath>() {
        Some(path) => access_for(request.method().as_str(), path.as_str()),
        None => Access::Admin,
    };
    if access == Access::Public {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    if let Err(refusal) = admit(&mut parts, &state, access).await {
        return refusal.into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Authenticates the request and checks its role against `access`; on success the caller is
/// in the extensions ([`AuthUser`], and [`StaffCaller`] for staff routes).
async fn admit(parts: &mut Parts, state: &AppState, access: Access) -> Result<(), ApiError> {
    let user = AuthUser::from_request_parts(parts, state).await?;
    parts.extensions.insert(user);
    match access {
        Access::Public | Access::SignedIn => Ok(()),
        Access::Doctor | Access::Desk | Access::Admin => {
            let member = state.staff.member(user.id).await?;
            let admitted = match access {
                Access::Admin => member.is_admin(),
                Access::Desk => member.works_the_desk(),
                _ => member.role != Role::Receptionist,
            };
            if !admitted {
                return Err(BookingError::Forbidden.into());
            }
            parts.extensions.insert(StaffCaller { auth: user, member });
            Ok(())
        }
    }
}

impl FromRequestParts<AppState> for StaffCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(caller) = parts.extensions.get::<StaffCaller>() {
            return Ok(*caller);
        }
        // Without the middleware in front (a route added outside the table's router), check
        // here: staff handlers must never run for patients.
        let auth = AuthUser::from_request_parts(parts, state).await?;
        let member = state.staff.member(auth.id).await?;
        Ok(Self { auth, member })
    }
}

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = StaffCaller::from_request_parts(parts, state).await?;
        if !caller.member.is_admin() {
            return Err(BookingError::Forbidden.into());
        }
        Ok(Self(caller))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_table_has_one_row_per_route() {
        let mut seen = BTreeSet::new();
        for (method, path, _) in ROUTE_ACCESS {
            assert!(seen.insert((method, path)), "{method} {path} twice");
        }
    }

    #[test]
    fn unknown_routes_are_admin_only_and_head_follows_get() {
        assert_eq!(access_for("GET", "/api/v1/secret"), Access::Admin);
        assert_eq!(access_for("PUT", "/api/v1/holds/{id}"), Access::Admin);
        assert_eq!(access_for("HEAD", "/healthz"), Access::Public);
        assert_eq!(access_for("get", "/api/v1/me"), Access::SignedIn);
    }
}
