//! The authorization matrix, route by route: every row of `access::ROUTE_ACCESS` is called by
//! six callers — nobody, a patient, another patient, a doctor, another doctor and an admin —
//! with a plausible request, and the answer must be what the table and the ownership rules say:
//!
//! | access | anonymous | patient | other patient | doctor | other doctor | admin |
//! |---|---|---|---|---|---|---|
//! | public | 2xx | 2xx | 2xx | 2xx | 2xx | 2xx |
//! | signed in, own record | 401 | 2xx | 404 | 404 | 404 | 404 |
//! | signed in, no record | 401 | 2xx | 2xx | 2xx | 2xx | 2xx |
//! | signed in, a visit's record and notes | 401 | 404 | 404 | 2xx | 404 | 404 |
//! | doctor (the doctor's own records) | 401 | 403 | 403 | 2xx | 404 | 2xx |
//! | desk | 401 | 403 | 403 | 403 | 403 | 2xx |
//! | admin | 401 | 403 | 403 | 403 | 403 | 2xx |
//!
//! The admin works the front desk, so on the routes where the desk acts for a patient
//! (confirm, release, read, cancel, reschedule) the admin's call on the patient's record
//! succeeds. Receptionists are checked in tests/api/front_desk.rs.
//!
//! "Own record" requests name the patient's hold or appointment; doctor requests name the
//! doctor's profile, time off or appointment. Each call gets fresh records, so a call that
//! changes something (cancel, delete, mark completed) never spoils the next one. A route added
//! to the table without a plausible request here fails the test.

use std::collections::HashMap;

use jiff::civil::{Date, Weekday, date};
use jiff::{SignedDuration, Timestamp};
use medibook_core::clock::Clock;
use medibook_core::ids::{SpecialtyId, TimeOffId};
use medibook_core::ports::ClinicRepository;
use medibook_core::schedule::TimeOff;
use medibook_web::shell::access::{Access, ROUTE_ACCESS};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{
    doctor_body, send, set_role_in_database, sign_in_session, test_doctor_schedule, user_id,
};
use crate::harness::{Reply, TestApp};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Caller {
    Anonymous,
    Patient,
    OtherPatient,
    Doctor,
    OtherDoctor,
    Admin,
}

const CALLERS: [Caller; 6] = [
    Caller::Anonymous,
    Caller::Patient,
    Caller::OtherPatient,
    Caller::Doctor,
    Caller::OtherDoctor,
    Caller::Admin,
];

impl Caller {
    fn email(self) -> Option<&'static str> {
        match self {
            Self::Anonymous => None,
            Self::Patient => Some("patient@example.org"),
            Self::OtherPatient => Some("other.patient@example.org"),
            Self::Doctor => Some("doctor@example.org"),
            Self::OtherDoctor => Some("other.doctor@example.org"),
            Self::Admin => Some("admin@example.org"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expected {
    Allowed,
    Unauthorized,
    Forbidden,
    NotFound,
}

/// Whether a signed-in route's plausible request names one of the patient's records.
fn names_a_patients_record(method: &str, path: &str) -> bool {
    path.contains("{id}") || (method == "POST" && path == "/api/v1/appointments")
}

/// A visit's patient record and notes: only the treating doctor gets them.
fn is_a_visit_record(path: &str) -> bool {
    path.starts_with("/api/v1/doctor/appointments/{id}/")
        && !path.ends_with("complete")
        && !path.ends_with("no-show")
}

/// Signed-in routes on which the front desk (here: the admin) acts for the patient.
fn the_desk_acts_on(method: &str, path: &str) -> bool {
    matches!(
        (method, path),
        ("POST", "/api/v1/appointments")
            | ("DELETE", "/api/v1/holds/{id}")
            | ("GET", "/api/v1/appointments/{id}")
            | ("POST", "/api/v1/appointments/{id}/cancel")
            | ("POST", "/api/v1/appointments/{id}/reschedule")
    )
}

/// A FHIR Appointment or Patient by id: the patient's own, on the doctor's agenda.
fn is_a_fhir_record(path: &str) -> bool {
    matches!(path, "/fhir/r4/Appointment/{id}" | "/fhir/r4/Patient/{id}")
}

/// Who may read or change the patient's FHIR Appointment or Patient: the patient, the treating
/// doctor (reading only: a doctor sees their agenda but cancels nothing through it) and the
/// desk; anyone else does not find it.
fn fhir_record(caller: Caller, method: &str) -> Expected {
    match caller {
        Caller::Patient | Caller::Admin => Expected::Allowed,
        Caller::Doctor if method == "GET" => Expected::Allowed,
        Caller::Doctor => Expected::Forbidden,
        _ => Expected::NotFound,
    }
}

fn expected(access: Access, caller: Caller, method: &str, path: &str) -> Expected {
    use Caller::*;
    match (access, caller) {
        (Access::Public, _) => Expected::Allowed,
        (_, Anonymous) => Expected::Unauthorized,
        (Access::SignedIn, _) if is_a_fhir_record(path) => fhir_record(caller, method),
        (Access::SignedIn, Doctor) if is_a_visit_record(path) => Expected::Allowed,
        (Access::SignedIn, _) if is_a_visit_record(path) => Expected::NotFound,
        (Access::SignedIn, Admin) if the_desk_acts_on(method, path) => Expected::Allowed,
        (Access::SignedIn, Patient) => Expected::Allowed,
        (Access::SignedIn, _) if names_a_patients_record(method, path) => Expected::NotFound,
        (Access::SignedIn, _) => Expected::Allowed,
        (Access::Doctor, Patient | OtherPatient) => Expected::Forbidden,
        (Access::Doctor, Doctor | Admin) => Expected::Allowed,
        (Access::Doctor, OtherDoctor) => Expected::NotFound,
        (Access::Desk, Admin) => Expected::Allowed,
        (Access::Desk, _) => Expected::Forbidden,
        (Access::Admin, Admin) => Expected::Allowed,
        (Access::Admin, _) => Expected::Forbidden,
    }
}

/// One request to make.
struct Call {
    method: Method,
    path: String,
    body: Option<Value>,
    /// A form body (`application/x-www-form-urlencoded`), for the pages' forms.
    form: Option<Vec<(&'static str, String)>>,
    /// A token to use instead of the caller's usual one (a fresh session to log out).
    token: Option<String>,
}

/// The six callers and the records their requests name.
struct World<'a> {
    app: &'a TestApp,
    tokens: HashMap<Caller, String>,
    specialty_id: String,
    /// The next candidate slot of the test doctor: a date and an index into its day.
    cursor: (Date, usize),
    serial: u32,
    /// The patient's appointments to cancel after each call, to stay under their limits.
    to_cancel: Vec<String>,
}

/// The test doctor's slot starts of a working day, Berlin wall clock.
const SLOT_TIMES: [(i8, i8); 14] = [
    (9, 0),
    (9, 30),
    (10, 0),
    (10, 30),
    (11, 0),
    (11, 30),
    (13, 0),
    (13, 30),
    (14, 0),
    (14, 30),
    (15, 0),
    (15, 30),
    (16, 0),
    (16, 30),
];

impl<'a> World<'a> {
    async fn new(app: &'a TestApp) -> Self {
        let mut tokens = HashMap::new();
        for caller in CALLERS {
            let Some(email) = caller.email() else {
                continue;
            };
            tokens.insert(caller, app.sign_in(email).await);
            match caller {
                Caller::Doctor => {
                    set_role_in_database(app, email, "doctor", Some(app.doctor)).await
                }
                Caller::OtherDoctor => {
                    set_role_in_database(app, email, "doctor", Some(app.limited_doctor)).await
                }
                Caller::Admin => set_role_in_database(app, email, "admin", None).await,
                _ => {}
            }
        }
        let specialties = app.get(None, "/api/v1/specialties").await;
        let specialty_id = specialties.body[0]["id"]
            .as_str()
            .expect("a specialty")
            .to_owned();
        Self {
            app,
            tokens,
            specialty_id,
            cursor: ("2027-03-01".parse().expect("date"), 0),
            serial: 0,
            to_cancel: Vec::new(),
        }
    }

    fn token(&self, caller: Caller) -> Option<String> {
        self.tokens.get(&caller).cloned()
    }

    fn patient(&self) -> String {
        self.token(Caller::Patient).expect("patient token")
    }

    fn unique(&mut self, prefix: &str) -> String {
        self.serial += 1;
        format!("{prefix}{}", self.serial)
    }

    fn fresh_email(&mut self) -> String {
        let name = self.unique("someone");
        format!("{name}@example.org")
    }

    /// The next slot of the test doctor that starts after now; never the same twice.
    fn next_slot(&mut self) -> Timestamp {
        let now = self.app.clock.now();
        loop {
            let (date, index) = self.cursor;
            self.cursor = if index + 1 < SLOT_TIMES.len() {
                (date, index + 1)
            } else {
                (date.tomorrow().expect("date"), 0)
            };
            if matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday) {
                continue;
            }
            let (hour, minute) = SLOT_TIMES[index];
            let start = date
                .at(hour, minute, 0, 0)
                .in_tz("Europe/Berlin")
                .expect("zoned")
                .timestamp();
            if start > now + SignedDuration::from_mins(1) {
                return start;
            }
        }
    }

    /// A live hold of the patient; returns its id.
    async fn patient_hold(&mut self) -> String {
        let start = self.next_slot().to_string();
        let hold = self
            .app
            .hold(&self.patient(), self.app.doctor, &start)
            .await;
        assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
        hold.id()
    }

    /// An upcoming appointment of the patient with the test doctor; returns its id.
    async fn patient_appointment(&mut self) -> String {
        let hold = self.patient_hold().await;
        let appointment = self.app.confirm(&self.patient(), &hold).await;
        assert_eq!(
            appointment.status,
            StatusCode::CREATED,
            "{}",
            appointment.body
        );
        let id = appointment.id();
        self.to_cancel.push(id.clone());
        id
    }

    /// An appointment of the patient with the test doctor that started a minute ago.
    async fn started_appointment(&mut self) -> String {
        let start = self.next_slot();
        let token = self.patient();
        let id = self.app.book(&token, &start.to_string()).await;
        self.app.clock.set(start + SignedDuration::from_mins(1));
        id
    }

    /// A waitlist entry of the patient for the test doctor, on dates with no slots (so no
    /// offer); returns its id.
    async fn patient_waitlist_entry(&mut self) -> String {
        let body = self.far_waitlist_body();
        let entry = self
            .app
            .post(Some(&self.patient()), "/api/v1/waitlist", body)
            .await;
        assert_eq!(entry.status, StatusCode::CREATED, "{}", entry.body);
        entry.id()
    }

    /// A window beyond the test doctor's horizon, different at every call.
    fn far_waitlist_body(&mut self) -> Value {
        self.serial += 1;
        let to = date(2030, 1, 1)
            .checked_add(jiff::Span::new().days(i64::from(self.serial)))
            .expect("date");
        json!({ "doctor_id": self.app.doctor, "from": "2030-01-01", "to": to.to_string() })
    }

    /// An open waitlist offer of the patient; returns the offer id. The patient's earlier
    /// entries are left first (nobody holds two offers, and entries are limited); another
    /// patient holds a slot, the patient waits for exactly that time (nothing else suits), and
    /// the hold is given back: the freed slot is offered to the patient.
    async fn patient_offer(&mut self) -> String {
        let patient = self.patient();
        let entries = self.app.get(Some(&patient), "/api/v1/waitlist").await;
        for entry in entries.body.as_array().cloned().unwrap_or_default() {
            let id = entry["id"].as_str().expect("an entry id");
            let path = format!("/api/v1/waitlist/{id}");
            let left = send(self.app, Method::DELETE, Some(&patient), &path, None).await;
            assert_eq!(left.status, StatusCode::NO_CONTENT, "{}", left.body);
        }
        let start = self.next_slot();
        let email = self.fresh_email();
        let other = self.app.sign_in(&email).await;
        let hold = self
            .app
            .hold(&other, self.app.doctor, &start.to_string())
            .await;
        assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
        let local = start.to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").expect("zone"));
        let until = local
            .checked_add(SignedDuration::from_mins(30))
            .expect("the slot's end");
        let entry = self
            .app
            .post(
                Some(&patient),
                "/api/v1/waitlist",
                json!({
                    "doctor_id": self.app.doctor,
                    "from": local.date().to_string(), "to": local.date().to_string(),
                    "earliest": local.strftime("%H:%M").to_string(),
                    "latest": until.strftime("%H:%M").to_string(),
                }),
            )
            .await;
        assert_eq!(entry.status, StatusCode::CREATED, "{}", entry.body);
        let path = format!("/api/v1/holds/{}", hold.id());
        let released = send(self.app, Method::DELETE, Some(&other), &path, None).await;
        assert!(released.status.is_success(), "{}", released.body);
        let entries = self.app.get(Some(&patient), "/api/v1/waitlist").await;
        entries
            .body
            .as_array()
            .expect("entries")
            .iter()
            .find_map(|e| e["offer"]["offer_id"].as_str())
            .expect("the freed slot is offered")
            .to_owned()
    }

    /// Time off of the test doctor, far beyond the slots the matrix uses.
    async fn doctor_time_off(&mut self) -> String {
        let start: Timestamp = "2028-06-01T00:00:00Z".parse().expect("instant");
        let time_off = TimeOff {
            id: TimeOffId::generate(),
            doctor_id: self.app.doctor,
            start,
            end: start + SignedDuration::from_hours(24),
            reason: "Matrix".into(),
        };
        self.app
            .database
            .add_time_off(&time_off)
            .await
            .expect("time off");
        time_off.id.to_string()
    }

    /// A fresh contact-form message, stored directly (the form is rate-limited per client).
    async fn contact_message(&mut self) -> String {
        use medibook_core::contact::{ContactMessage, ContactRepository};
        let message = ContactMessage {
            id: uuid::Uuid::now_v7(),
            name: "Matrix Writer".to_owned(),
            email: medibook_core::identity::Email::parse("writer@example.org").expect("email"),
            message: "A question for the desk.".to_owned(),
            received_at: self.app.clock.now(),
            handled_at: None,
            replied_at: None,
        };
        self.app
            .database
            .add_contact_message(&message)
            .await
            .expect("message");
        message.id.to_string()
    }

    /// The plausible request for `method path` by `caller`, with fresh records.
    async fn call(&mut self, caller: Caller, method: &str, template: &str) -> Call {
        let doctor = self.app.doctor;
        let mut token = None;
        let mut form = None;
        let (path, body) = match (method, template) {
            (
                "GET",
                "/"
                | "/api/v1/openapi.json"
                | "/healthz"
                | "/readyz"
                | "/api/v1/specialties"
                | "/api/v1/doctors"
                | "/api/v1/me"
                | "/api/v1/me/google"
                | "/api/v1/me/calendar"
                | "/api/v1/appointments"
                | "/api/v1/admin/contact-messages"
                | "/api/v1/admin/audit"
                | "/api/v1/admin/outbox",
            ) => (template.to_owned(), None),
            ("GET", "/api/v1/doctors/{id}") => (format!("/api/v1/doctors/{doctor}"), None),
            // Pages. Their forms redirect (303), which the client follows to a page.
            ("GET", "/search") => ("/search?q=cardiolgy".to_owned(), None),
            ("GET", "/login") => ("/login?next=%2F".to_owned(), None),
            ("GET", "/specialties/{id}") => (format!("/specialties/{}", self.specialty_id), None),
            ("GET", "/doctors/{id}") => (format!("/doctors/{doctor}?week=2027-03-01"), None),
            ("GET", "/assets/{*path}") => ("/assets/medibook.css".to_owned(), None),
            ("POST", "/login") => {
                form = Some(vec![
                    ("email", self.fresh_email()),
                    ("next", "/".to_owned()),
                ]);
                (template.to_owned(), None)
            }
            ("POST", "/login/code") => {
                let email = self.fresh_email();
                let sent = self
                    .app
                    .post(None, "/api/v1/auth/otp", json!({ "email": email }))
                    .await;
                assert_eq!(sent.status, StatusCode::ACCEPTED);
                let code = self.app.codes.last_code(&email).expect("code");
                form = Some(vec![
                    ("email", email),
                    ("code", code),
                    ("next", "/search".to_owned()),
                ]);
                (template.to_owned(), None)
            }
            ("POST", "/logout") => {
                form = Some(Vec::new());
                (template.to_owned(), None)
            }
            // Booking pages. The matrix signs in with bearer tokens, which pages do not read
            // (only the session cookie), so every caller is sent to sign-in: a page.
            ("POST", "/book/hold") => {
                form = Some(vec![
                    ("doctor_id", doctor.to_string()),
                    ("start", "2027-03-02T09:00:00+01:00".to_owned()),
                ]);
                (template.to_owned(), None)
            }
            ("POST", "/book/confirm" | "/book/release") => {
                form = Some(vec![
                    ("hold_id", uuid::Uuid::now_v7().to_string()),
                    ("reason", "Matrix".to_owned()),
                ]);
                (template.to_owned(), None)
            }
            ("POST", "/book/waitlist") => {
                form = Some(vec![("doctor_id", doctor.to_string())]);
                (template.to_owned(), None)
            }
            ("GET", "/waitlist" | "/appointments") => (template.to_owned(), None),
            // The profile (sign-in needed, so a page sending bearer callers there) and the
            // contact form (open to anyone).
            ("GET", "/profile" | "/contact") => (template.to_owned(), None),
            ("GET", "/welcome") => ("/welcome?next=%2F".to_owned(), None),
            ("POST", "/welcome") => {
                form = Some(vec![("next", "/".to_owned())]);
                (template.to_owned(), None)
            }
            ("GET", "/book/resume") => (
                format!("/book/resume?doctor_id={doctor}&start=2027-03-02T08%3A00%3A00Z"),
                None,
            ),
            ("POST", "/profile") => {
                form = Some(vec![("name", "Matrix".to_owned())]);
                (template.to_owned(), None)
            }
            ("POST", "/profile/google/connect" | "/profile/google/disconnect") => {
                form = Some(Vec::new());
                (template.to_owned(), None)
            }
            ("GET", "/profile/google/callback") => (
                "/profile/google/callback?code=matrix&state=matrix".to_owned(),
                None,
            ),
            ("POST", "/profile/calendar/reset") => {
                form = Some(vec![("feed", "appointments".to_owned())]);
                (template.to_owned(), None)
            }
            // A calendar feed: public, the token in its path is the credential.
            ("GET", "/calendar/{file}") => {
                let feeds = self
                    .app
                    .get(Some(&self.patient()), "/api/v1/me/calendar")
                    .await;
                assert_eq!(feeds.status, StatusCode::OK, "{}", feeds.body);
                let url = feeds.body["feed_url"].as_str().expect("feed_url");
                let file = url.rsplit('/').next().expect("a file name");
                (format!("/calendar/{file}"), None)
            }
            ("POST", "/contact") => {
                form = Some(vec![
                    ("name", "Matrix".to_owned()),
                    ("email", "matrix@example.org".to_owned()),
                    ("message", "Checked by the matrix.".to_owned()),
                ]);
                (template.to_owned(), None)
            }
            // The doctor console: pages too, so bearer callers are sent to sign-in.
            ("GET", "/doctor" | "/doctor/hours" | "/doctor/time-off") => {
                (template.to_owned(), None)
            }
            ("POST", "/doctor/hours" | "/doctor/time-off") => {
                form = Some(vec![("intent", "preview".to_owned())]);
                (template.to_owned(), None)
            }
            (
                "GET" | "POST",
                "/holds/{id}"
                | "/appointments/{id}"
                | "/appointments/{id}/calendar.ics"
                | "/appointments/{id}/cancel"
                | "/appointments/{id}/reschedule"
                | "/waitlist/{id}/leave"
                | "/waitlist/offers/{id}/decline"
                | "/doctor/appointments/{id}"
                | "/doctor/appointments/{id}/notes"
                | "/doctor/appointments/{id}/complete"
                | "/doctor/appointments/{id}/no-show"
                | "/doctor/time-off/{id}/remove",
            ) => {
                if method == "POST" {
                    form = Some(Vec::new());
                }
                let id = uuid::Uuid::now_v7().to_string();
                (template.replace("{id}", &id), None)
            }
            // The admin console's pages: as for the booking pages, every caller of the matrix
            // (bearer tokens only) is sent to sign-in, a page (tests/api/pages_admin.rs checks
            // the roles with session cookies).
            (
                "GET" | "POST",
                "/admin"
                | "/admin/doctors"
                | "/admin/doctors/new"
                | "/admin/doctors/{id}"
                | "/admin/specialties"
                | "/admin/specialties/{id}"
                | "/admin/people"
                | "/admin/people/{id}/role"
                | "/admin/messages"
                | "/admin/audit"
                | "/admin/outbox"
                | "/desk"
                | "/desk/patients"
                | "/desk/patients/{id}"
                | "/desk/appointments/{id}/arrived"
                | "/desk/messages"
                | "/desk/messages/{id}/reply"
                | "/desk/messages/{id}/handled",
            ) => {
                if method == "POST" {
                    form = Some(vec![("name", "Matrix".to_owned())]);
                }
                let id = uuid::Uuid::now_v7().to_string();
                (template.replace("{id}", &id), None)
            }
            ("GET", "/api/v1/slots") => (
                format!("/api/v1/slots?doctor_id={doctor}&date=2027-03-02"),
                None,
            ),
            ("POST", "/api/v1/auth/otp") => {
                let email = self.fresh_email();
                (template.to_owned(), Some(json!({ "email": email })))
            }
            ("POST", "/api/v1/auth/verify") => {
                let email = self.fresh_email();
                let sent = self
                    .app
                    .post(None, "/api/v1/auth/otp", json!({ "email": email }))
                    .await;
                assert_eq!(sent.status, StatusCode::ACCEPTED);
                let code = self.app.codes.last_code(&email).expect("code");
                (
                    template.to_owned(),
                    Some(json!({ "email": email, "code": code })),
                )
            }
            ("POST", "/api/v1/auth/refresh") => {
                let email = self.fresh_email();
                let session = sign_in_session(self.app, &email).await;
                (
                    template.to_owned(),
                    Some(json!({ "refresh_token": session["refresh_token"] })),
                )
            }
            ("POST", "/api/v1/auth/logout") => {
                if let Some(email) = caller.email() {
                    token = Some(self.app.sign_in(email).await);
                }
                (template.to_owned(), None)
            }
            // Erasing the caller's own account would spoil the matrix's other calls: each
            // signed-in caller erases a fresh patient's account instead.
            ("DELETE", "/api/v1/me") => {
                if caller.email().is_some() {
                    let email = self.fresh_email();
                    token = Some(self.app.sign_in(&email).await);
                }
                (template.to_owned(), None)
            }
            ("GET", "/api/v1/me/export") => (template.to_owned(), None),
            ("GET", "/profile/delete") => (template.to_owned(), None),
            ("POST", "/profile/delete") => {
                form = Some(vec![("confirm", "yes".to_owned())]);
                (template.to_owned(), None)
            }
            ("PATCH", "/api/v1/me") => (
                template.to_owned(),
                Some(json!({ "name": "Matrix Caller" })),
            ),
            ("POST", "/api/v1/holds") => {
                let start = self.next_slot().to_string();
                (
                    template.to_owned(),
                    Some(json!({ "doctor_id": doctor, "start": start })),
                )
            }
            ("GET" | "DELETE", "/api/v1/holds/{id}") => {
                let hold = self.patient_hold().await;
                (format!("/api/v1/holds/{hold}"), None)
            }
            ("POST", "/api/v1/appointments") => {
                let hold = self.patient_hold().await;
                (
                    template.to_owned(),
                    Some(json!({ "hold_id": hold, "reason": "Check-up" })),
                )
            }
            ("GET", "/api/v1/appointments/{id}") => {
                let appointment = self.patient_appointment().await;
                (format!("/api/v1/appointments/{appointment}"), None)
            }
            ("GET", "/api/v1/appointments/{id}/ics") => {
                let appointment = self.patient_appointment().await;
                (format!("/api/v1/appointments/{appointment}/ics"), None)
            }
            ("DELETE", "/api/v1/me/calendar") => (template.to_owned(), None),
            ("POST", "/api/v1/appointments/{id}/cancel") => {
                let appointment = self.patient_appointment().await;
                (
                    format!("/api/v1/appointments/{appointment}/cancel"),
                    Some(json!({})),
                )
            }
            ("POST", "/api/v1/appointments/{id}/reschedule") => {
                let appointment = self.patient_appointment().await;
                let hold = self.patient_hold().await;
                (
                    format!("/api/v1/appointments/{appointment}/reschedule"),
                    Some(json!({ "hold_id": hold })),
                )
            }
            ("POST", "/api/v1/waitlist") => {
                let body = self.far_waitlist_body();
                (template.to_owned(), Some(body))
            }
            ("GET", "/api/v1/waitlist") => (template.to_owned(), None),
            ("GET" | "DELETE", "/api/v1/waitlist/{id}") => {
                let entry = self.patient_waitlist_entry().await;
                (format!("/api/v1/waitlist/{entry}"), None)
            }
            ("POST", "/api/v1/waitlist/offers/{id}/decline") => {
                let offer = self.patient_offer().await;
                (
                    format!("/api/v1/waitlist/offers/{offer}/decline"),
                    Some(json!({})),
                )
            }
            ("POST", "/api/v1/contact") => (
                template.to_owned(),
                Some(json!({
                    "name": "Matrix", "email": "matrix@example.org", "message": "Hello",
                })),
            ),
            ("GET", "/api/v1/doctor/schedule" | "/api/v1/doctor/time-off") => {
                (format!("{template}?doctor_id={doctor}"), None)
            }
            ("PUT", "/api/v1/doctor/schedule") => (
                format!("{template}?doctor_id={doctor}"),
                Some(test_doctor_schedule()),
            ),
            ("POST", "/api/v1/doctor/time-off") => (
                format!("{template}?doctor_id={doctor}"),
                Some(json!({
                    "start": "2028-01-10T00:00:00Z", "end": "2028-01-11T00:00:00Z",
                    "reason": "Matrix",
                })),
            ),
            ("DELETE", "/api/v1/doctor/time-off/{id}") => {
                let time_off = self.doctor_time_off().await;
                (format!("/api/v1/doctor/time-off/{time_off}"), None)
            }
            ("GET", "/api/v1/doctor/agenda") => (
                format!("{template}?from=2027-03-01&days=7&doctor_id={doctor}"),
                None,
            ),
            ("POST", "/api/v1/doctor/appointments/{id}/complete") => {
                let appointment = self.started_appointment().await;
                (
                    format!("/api/v1/doctor/appointments/{appointment}/complete"),
                    Some(json!({})),
                )
            }
            ("POST", "/api/v1/doctor/appointments/{id}/no-show") => {
                let appointment = self.started_appointment().await;
                (
                    format!("/api/v1/doctor/appointments/{appointment}/no-show"),
                    Some(json!({})),
                )
            }
            (
                "GET" | "POST",
                "/api/v1/doctor/appointments/{id}/patient"
                | "/api/v1/doctor/appointments/{id}/notes",
            ) => {
                let appointment = self.patient_appointment().await;
                let body = (method == "POST").then(|| json!({ "text": "Checked by the matrix." }));
                (template.replace("{id}", &appointment), body)
            }
            ("GET", "/api/v1/desk/patients") => (format!("{template}?q=patient"), None),
            ("POST", "/api/v1/desk/patients") => {
                self.serial += 1;
                let phone = format!("+4930555{:05}", self.serial);
                (
                    template.to_owned(),
                    Some(json!({
                        "name": "Matrix Caller", "phone": phone, "date_of_birth": "1970-01-01",
                    })),
                )
            }
            ("GET", "/api/v1/desk/patients/{id}/appointments") => {
                let patient = user_id(self.app, &self.patient()).await;
                (template.replace("{id}", &patient), None)
            }
            ("GET", "/api/v1/desk/day") => (format!("{template}?date=2027-03-02"), None),
            ("POST", "/api/v1/admin/contact-messages/{id}/reply") => {
                let message = self.contact_message().await;
                let body = json!({ "text": "Answered by the matrix." });
                (template.replace("{id}", &message), Some(body))
            }
            ("PUT", "/api/v1/admin/contact-messages/{id}/handled") => {
                let message = self.contact_message().await;
                (
                    template.replace("{id}", &message),
                    Some(json!({ "handled": true })),
                )
            }
            ("POST", "/api/v1/desk/appointments/{id}/arrived") => {
                let appointment = self.patient_appointment().await;
                (template.replace("{id}", &appointment), Some(json!({})))
            }
            ("POST", "/api/v1/admin/specialties") => {
                let name = self.unique("Specialty ");
                (template.to_owned(), Some(json!({ "name": name })))
            }
            ("PATCH", "/api/v1/admin/specialties/{id}") => {
                let specialty = medibook_core::clinic::Specialty {
                    id: SpecialtyId::generate(),
                    name: self.unique("Old specialty "),
                    keywords: Vec::new(),
                };
                self.app
                    .database
                    .add_specialty(&specialty)
                    .await
                    .expect("specialty");
                let name = self.unique("Renamed specialty ");
                (
                    format!("/api/v1/admin/specialties/{}", specialty.id),
                    Some(json!({ "name": name })),
                )
            }
            ("POST", "/api/v1/admin/doctors") => {
                let name = self.unique("Dr. Matrix ");
                let specialty = self.specialty_id.clone();
                (template.to_owned(), Some(doctor_body(&specialty, &name)))
            }
            ("PATCH", "/api/v1/admin/doctors/{id}") => (
                format!("/api/v1/admin/doctors/{}", self.app.limited_doctor),
                Some(json!({ "bio": "Checked by the matrix." })),
            ),
            ("GET", "/api/v1/admin/users") => (format!("{template}?q=example"), None),
            ("PUT", "/api/v1/admin/users/{id}/role") => {
                let email = self.fresh_email();
                let user = user_id(self.app, &self.app.sign_in(&email).await).await;
                (
                    format!("/api/v1/admin/users/{user}/role"),
                    Some(json!({ "role": "patient" })),
                )
            }
            (
                "GET",
                "/fhir/r4/metadata"
                | "/fhir/r4/Practitioner"
                | "/fhir/r4/PractitionerRole"
                | "/fhir/r4/HealthcareService"
                | "/fhir/r4/Schedule"
                | "/fhir/r4/Slot"
                | "/fhir/r4/Appointment"
                | "/fhir/r4/Patient",
            ) => (template.to_owned(), None),
            (
                "GET",
                "/fhir/r4/Practitioner/{id}"
                | "/fhir/r4/PractitionerRole/{id}"
                | "/fhir/r4/Schedule/{id}",
            ) => (template.replace("{id}", &doctor.to_string()), None),
            ("GET", "/fhir/r4/HealthcareService/{id}") => {
                (template.replace("{id}", &self.specialty_id), None)
            }
            ("GET", "/fhir/r4/Slot/{id}") => {
                let slot = fhir_slot_id(doctor, self.next_slot());
                (template.replace("{id}", &slot), None)
            }
            ("POST", "/fhir/r4/Appointment") => {
                let slot = fhir_slot_id(doctor, self.next_slot());
                // Each caller books for themselves (staff name the patient: themselves here).
                let mut participants = Vec::new();
                if let Some(token) = self.token(caller) {
                    let me = user_id(self.app, &token).await;
                    participants.push(json!({
                        "actor": { "reference": format!("Patient/{me}") }, "status": "accepted",
                    }));
                }
                let body = json!({
                    "resourceType": "Appointment",
                    "slot": [{ "reference": format!("Slot/{slot}") }],
                    "reasonCode": [{ "text": "Booked by the matrix" }],
                    "participant": participants,
                });
                (template.to_owned(), Some(body))
            }
            ("GET" | "PATCH" | "PUT", "/fhir/r4/Appointment/{id}") => {
                let appointment = self.patient_appointment().await;
                let body = match method {
                    "PATCH" => Some(json!([
                        { "op": "replace", "path": "/status", "value": "cancelled" }
                    ])),
                    "PUT" => Some(json!({
                        "resourceType": "Appointment", "id": appointment, "status": "cancelled",
                    })),
                    _ => None,
                };
                (template.replace("{id}", &appointment), body)
            }
            ("GET", "/fhir/r4/Patient/{id}") => {
                // On the test doctor's agenda.
                self.patient_appointment().await;
                let patient = user_id(self.app, &self.patient()).await;
                (template.replace("{id}", &patient), None)
            }
            _ => panic!(
                "no plausible request for {method} {template}: add one to \
                 tests/api/staff/access_matrix.rs"
            ),
        };
        Call {
            method: method.parse().expect("method"),
            path,
            body,
            form,
            token: token.or_else(|| self.token(caller)),
        }
    }

    /// Cancels the patient's appointments from the last call and lets every hold lapse.
    async fn tidy(&mut self) {
        let token = self.patient();
        for appointment in std::mem::take(&mut self.to_cancel) {
            let _ = self.app.cancel(&token, &appointment).await;
        }
        let entries = self.app.get(Some(&token), "/api/v1/waitlist").await;
        for entry in entries.body.as_array().cloned().unwrap_or_default() {
            let id = entry["id"].as_str().expect("entry id");
            self.app
                .delete(&token, &format!("/api/v1/waitlist/{id}"))
                .await;
        }
        self.app.advance(6);
    }
}

#[track_caller]
fn check(reply: &Reply, expected: Expected, what: &str) {
    // The FHIR door answers with OperationOutcomes carrying the same codes.
    let code = || match reply.body["resourceType"].as_str() {
        Some("OperationOutcome") => reply.body["issue"][0]["details"]["coding"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        _ => reply.problem_code().to_owned(),
    };
    match expected {
        Expected::Allowed => assert!(
            reply.status.is_success(),
            "{what}: expected 2xx, got {} {}",
            reply.status,
            reply.body
        ),
        Expected::Unauthorized => {
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{what}: {}",
                reply.body
            );
            assert_eq!(code(), "unauthorized", "{what}");
        }
        Expected::Forbidden => {
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{what}: {}",
                reply.body
            );
            assert_eq!(code(), "forbidden", "{what}");
        }
        Expected::NotFound => {
            assert_eq!(
                reply.status,
                StatusCode::NOT_FOUND,
                "{what}: {}",
                reply.body
            );
            assert!(
                ["not_found", "hold_not_found"].contains(&code().as_str()),
                "{what}: {}",
                reply.body
            );
        }
    }
}

/// Sends a form post, as the pages' forms do.
async fn send_form(
    app: &TestApp,
    method: Method,
    token: Option<&str>,
    path: &str,
    form: &[(&'static str, String)],
) -> Reply {
    let mut request = app.http.request(method, app.url(path)).form(form);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Reply::from(request.send().await.expect("request")).await
}

/// Routes that only speak WebSocket: a plain request never reaches their handler, so their
/// access is checked over real sockets instead (tests/api/feed.rs).
const WEBSOCKET_ROUTES: &[(&str, &str)] = &[("GET", "/api/v1/ws")];

/// Routes that check their own credential instead of a session: `/metrics` wants the metrics
/// bearer token (tested with the real binary in tests/instances.rs).
const SELF_GUARDED_ROUTES: &[(&str, &str)] = &[("GET", "/metrics")];

/// Calls every route of the table as every caller and checks each answer.
pub async fn check_every_route(app: &TestApp) {
    let mut world = World::new(app).await;
    let mut calls = 0;
    for (method, template, access) in ROUTE_ACCESS {
        if WEBSOCKET_ROUTES.contains(&(*method, *template))
            || SELF_GUARDED_ROUTES.contains(&(*method, *template))
        {
            continue;
        }
        for caller in CALLERS {
            let call = world.call(caller, method, template).await;
            let reply = match call.form {
                Some(form) => {
                    send_form(app, call.method, call.token.as_deref(), &call.path, &form).await
                }
                None => {
                    send(
                        app,
                        call.method,
                        call.token.as_deref(),
                        &call.path,
                        call.body,
                    )
                    .await
                }
            };
            let expected = expected(*access, caller, method, template);
            let what = format!("{caller:?} {method} {} ({access:?})", call.path);
            check(&reply, expected, &what);
            world.tidy().await;
            calls += 1;
        }
    }
    assert_eq!(
        calls,
        (ROUTE_ACCESS.len() - WEBSOCKET_ROUTES.len() - SELF_GUARDED_ROUTES.len()) * CALLERS.len()
    );
}

/// The FHIR id of the test doctor's slot starting at `start` (the doctor and the start in hex).
fn fhir_slot_id(doctor: medibook_core::ids::DoctorId, start: Timestamp) -> String {
    format!(
        "{:032x}{:016x}",
        doctor.as_uuid().as_u128(),
        start.as_second()
    )
}
