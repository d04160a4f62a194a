//! The web app's HTML pages: server-rendered askama templates (`crates/web/templates/`) over the
//! same core services as the JSON API, plus the embedded static assets they use.
//!
//! Every page works without JavaScript: links, plain `GET` forms and `POST` forms that redirect.
//! Our own small ES modules (`crates/web/assets/*.js`) add live behaviour on top (search as you
//! type, the live slot picker). The Content-Security-Policy allows no inline script or style,
//! so templates carry neither `<script>` bodies nor `style` attributes.
//!
//! One file per area: [`browse`] (home, search, specialties), [`doctor`] (profile and week slot
//! picker), [`booking`] (hold, confirm, release, one appointment and its calendar file),
//! [`appointments`] (the patient's list, cancel, reschedule), [`waitlist`] (join, leave,
//! offers), [`account`] (profile, contact form), [`google`] (Google Calendar on the profile),
//! [`calendar`] (the profile's calendar feeds, their reset, and the feeds themselves),
//! [`console`] (the doctor console: agenda, hours, time off), [`desk`] (the front desk: the
//! clinic's day, check-in, finding and registering patients, booking for them), [`admin`] (the admin console:
//! doctors, specialties, people and roles,
//! contact messages, audit trail), [`signin`] (sign-in with a one-time code, sign-out),
//! [`forms`] (what every form post starts with), [`assets`] (static files),
//! [`error`] (the HTML error page) and [`viewer`] (who is looking: the session cookie). A new
//! area adds its file, its routes in [`routes`] and one row per route in
//! [`crate::shell::access::ROUTE_ACCESS`]. Pages are `Public` in that table; a page that needs a
//! signed-in person takes a [`viewer::SignedIn`], which sends everyone else to
//! `/login?next=…` instead of answering with a JSON 401.

pub mod account;
pub mod admin;
pub mod appointments;
pub mod assets;
pub mod booking;
pub mod browse;
pub mod calendar;
pub mod console;
pub mod desk;
pub mod doctor;
pub mod erase;
pub mod error;
pub mod format;
pub mod forms;
pub mod google;
pub mod resume;
pub mod signin;
pub mod viewer;
pub mod waitlist;
pub mod welcome;

use axum::Router;
use axum::http::Uri;
use axum::routing::{get, post};

use medibook_core::identity::Role;

use crate::shell::AppState;
pub use error::{PageError, PageResult};
pub use viewer::{AdminViewer, SignedIn, StaffViewer, Viewer};

/// The pages' routes (each with a row in [`crate::shell::access::ROUTE_ACCESS`]).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(browse::home))
        .route("/search", get(browse::search))
        .route("/specialties/{id}", get(browse::specialty))
        .route("/doctors/{id}", get(doctor::profile))
        .route("/book/hold", post(booking::hold))
        .route("/book/confirm", post(booking::confirm))
        .route("/book/release", post(booking::release))
        .route("/book/waitlist", post(waitlist::join))
        .route("/waitlist", get(waitlist::list))
        .route("/waitlist/{id}/leave", post(waitlist::leave))
        .route("/waitlist/offers/{id}/decline", post(waitlist::decline))
        .route("/holds/{id}", get(booking::show_hold))
        .route("/appointments", get(appointments::list))
        .route("/appointments/{id}", get(booking::appointment))
        .route("/appointments/{id}/calendar.ics", get(booking::calendar))
        .route(
            "/appointments/{id}/cancel",
            get(appointments::confirm_cancel).post(appointments::cancel),
        )
        .route(
            "/appointments/{id}/reschedule",
            get(appointments::reschedule),
        )
        .route(
            "/profile",
            get(account::profile).post(account::save_profile),
        )
        .route("/profile/delete", get(erase::confirm).post(erase::erase))
        .route("/profile/google/connect", post(google::connect))
        .route("/profile/google/callback", get(google::callback))
        .route("/profile/google/disconnect", post(google::disconnect))
        .route("/profile/calendar/reset", post(calendar::reset))
        .route("/calendar/{file}", get(calendar::feed))
        .route(
            "/contact",
            get(account::contact).post(account::send_message),
        )
        .route("/doctor", get(console::agenda::show))
        .route(
            "/doctor/appointments/{id}/complete",
            post(console::agenda::complete),
        )
        .route(
            "/doctor/appointments/{id}/no-show",
            post(console::agenda::no_show),
        )
        .route("/doctor/appointments/{id}", get(console::visit::show))
        .route(
            "/doctor/appointments/{id}/notes",
            post(console::visit::add_note),
        )
        .route(
            "/doctor/hours",
            get(console::hours::show).post(console::hours::submit),
        )
        .route(
            "/doctor/time-off",
            get(console::time_off::show).post(console::time_off::submit),
        )
        .route(
            "/doctor/time-off/{id}/remove",
            post(console::time_off::remove),
        )
        .route("/login", get(signin::form).post(signin::send_code))
        .route("/login/code", post(signin::verify_code))
        .route("/welcome", get(welcome::form).post(welcome::save))
        .route("/book/resume", get(resume::resume))
        .route("/logout", post(signin::sign_out))
        .route("/admin", get(admin::overview))
        .route("/admin/doctors", get(admin::doctors::list))
        .route(
            "/admin/doctors/new",
            get(admin::doctors::new_form).post(admin::doctors::create),
        )
        .route(
            "/admin/doctors/{id}",
            get(admin::doctors::edit_form).post(admin::doctors::update),
        )
        .route(
            "/admin/specialties",
            get(admin::specialties::list).post(admin::specialties::add),
        )
        .route("/admin/specialties/{id}", post(admin::specialties::rename))
        .route("/admin/people", get(admin::people::search))
        .route("/admin/people/{id}/role", post(admin::people::set_role))
        .route("/admin/messages", get(admin::messages::inbox))
        .route("/admin/audit", get(admin::audit::search))
        .route("/admin/outbox", get(admin::outbox::list))
        .route("/desk", get(desk::show))
        .route("/desk/patients", post(desk::patients::register))
        .route("/desk/patients/{id}", get(desk::patients::show))
        .route("/desk/appointments/{id}/arrived", post(desk::arrived))
        .route("/desk/messages", get(admin::messages::desk_inbox))
        .route("/desk/messages/{id}/reply", post(admin::messages::reply))
        .route(
            "/desk/messages/{id}/handled",
            post(admin::messages::handled),
        )
        .route("/assets/{*path}", get(assets::serve))
}

/// Whether a path belongs to the pages rather than to the JSON API, FHIR or the operational
/// endpoints: unknown paths there get the HTML error page instead of a problem document.
pub fn is_page_path(path: &str) -> bool {
    let api = path == "/api" || path.starts_with("/api/");
    let fhir = path == "/fhir" || path.starts_with("/fhir/");
    !(api || fhir || matches!(path, "/healthz" | "/readyz" | "/metrics"))
}

/// Which part of the site a page belongs to, for the navigation's `aria-current`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// Browsing: home, search, specialties, doctors.
    FindDoctor,
    /// The patient's appointments.
    Appointments,
    /// The patient's waitlist.
    Waitlist,
    /// The doctor console (`/doctor`).
    DoctorConsole,
    /// The admin console (`/admin`).
    AdminConsole,
    /// The front desk (`/desk`).
    FrontDesk,
    /// The person's profile.
    Profile,
    /// The contact form.
    Contact,
    /// Sign-in.
    SignIn,
    /// Anything else (error pages).
    Other,
}

/// One link of the header navigation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NavLink {
    /// Where it goes.
    pub href: String,
    /// What it says.
    pub label: &'static str,
    /// Whether the page shown belongs to it.
    pub current: bool,
}

/// What the base layout (`templates/base.html`) needs from every page.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The page's own title; the document title is "`title` · MediBook".
    pub title: String,
    /// The signed-in person's display name, if someone is signed in.
    pub user_name: Option<String>,
    /// The header navigation.
    pub nav: Vec<NavLink>,
    /// The versioned URL of the stylesheet.
    pub stylesheet: String,
    /// Versioned URLs of the page's ES modules.
    pub scripts: Vec<String>,
    /// Where "Sign in" leads: the sign-in page coming back here.
    pub sign_in_href: String,
    /// Whether the page is the person's profile (the header's name links there).
    pub on_profile: bool,
    /// Whether the viewer is clinic staff (the footer's developer link is for them only).
    pub staff: bool,
    /// Who is signed in, as the live feed's worker tells sessions apart (the account id, or
    /// empty): a tab of another session gets the worker a socket of that session.
    pub viewer_key: String,
    /// The versioned URL of the live feed's SharedWorker (`assets/feed-worker.js`).
    pub feed_worker: String,
}

impl Layout {
    /// The layout of a page titled `title` in `section`, shown to `viewer` at `uri`.
    pub fn new(viewer: &Viewer, title: impl Into<String>, section: Section, uri: &Uri) -> Self {
        let here = uri
            .path_and_query()
            .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
        let mut layout = Self::build(
            viewer.display_name().map(str::to_owned),
            viewer.person.as_ref().map(|p| p.auth.role),
            title.into(),
            section,
            &here,
        );
        layout.viewer_key = viewer
            .person
            .as_ref()
            .map(|p| p.auth.id.to_string())
            .unwrap_or_default();
        layout
    }

    /// The layout for someone whose session is unknown (error pages).
    pub fn anonymous(title: impl Into<String>) -> Self {
        Self::build(None, None, title.into(), Section::Other, "/")
    }

    fn build(
        user_name: Option<String>,
        role: Option<Role>,
        title: String,
        section: Section,
        here: &str,
    ) -> Self {
        let signing_in = section == Section::SignIn;
        let link = |href: &str, label, of: Section| NavLink {
            href: href.to_owned(),
            label,
            current: section == of,
        };
        let mut nav = vec![
            link("/", "Find a doctor", Section::FindDoctor),
            link("/appointments", "My appointments", Section::Appointments),
        ];
        if user_name.is_some() {
            nav.push(link("/waitlist", "Waitlist", Section::Waitlist));
        }
        // Staff see their console; the role is the token's, and every console page checks the
        // role as stored now before showing anything.
        match role {
            Some(Role::Doctor) => nav.push(link("/doctor", "My agenda", Section::DoctorConsole)),
            Some(Role::Receptionist) => nav.push(link("/desk", "Front desk", Section::FrontDesk)),
            Some(Role::Admin) => {
                nav.push(link("/desk", "Front desk", Section::FrontDesk));
                nav.push(link("/admin", "Clinic admin", Section::AdminConsole));
            }
            Some(Role::Patient) | None => {}
        }
        let sign_in_href = if signing_in || here == "/" {
            "/login".to_owned()
        } else {
            format!("/login?next={}", signin::encode_component(here))
        };
        if user_name.is_none() {
            nav.push(NavLink {
                href: sign_in_href.clone(),
                label: "Sign in",
                current: signing_in,
            });
        }
        // Every page says its notice (`[data-announce]`) aloud once loaded; a signed-in
        // patient hears of waitlist offers on every page.
        let mut scripts = vec![assets::url("notices.js")];
        if user_name.is_some() {
            scripts.push(assets::url("offers.js"));
        }
        Self {
            title,
            user_name,
            nav,
            stylesheet: assets::url("medibook.css"),
            scripts,
            sign_in_href,
            on_profile: section == Section::Profile,
            staff: role.is_some_and(|role| role != Role::Patient),
            viewer_key: String::new(),
            feed_worker: assets::url("feed-worker.js"),
        }
    }

    /// Adds the ES module `name` (a file of `crates/web/assets/`) to the page.
    pub fn with_script(mut self, name: &str) -> Self {
        self.scripts.push(assets::url(name));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_and_operational_paths_are_not_pages() {
        for path in [
            "/api/v1/nowhere",
            "/api",
            "/fhir/r4/Nothing",
            "/healthz",
            "/readyz",
            "/metrics",
        ] {
            assert!(!is_page_path(path), "{path}");
        }
        for path in ["/", "/doctors/x", "/nowhere", "/apiary", "/fhirst"] {
            assert!(is_page_path(path), "{path}");
        }
    }

    #[test]
    fn the_sign_in_link_comes_back_to_the_page() {
        let uri: Uri = "/doctors/1?week=2027-03-01".parse().unwrap_or_default();
        let layout = Layout::new(&Viewer::anonymous(), "Doctor", Section::FindDoctor, &uri);
        assert_eq!(
            layout.sign_in_href,
            "/login?next=%2Fdoctors%2F1%3Fweek%3D2027-03-01"
        );
        assert!(layout.nav.iter().any(|link| link.label == "Sign in"));
        assert!(layout.nav[0].current);
    }
}
