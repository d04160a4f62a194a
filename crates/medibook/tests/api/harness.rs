//! Spawns the application on `127.0.0.1:0` with a fresh database, a manual clock and a
//! recording code sender, and offers the calls the scenarios make.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use medibook::app::App;
use medibook::settings::Settings;
use medibook_core::BookingResult;
use medibook_core::booking_service::BookingService;
use medibook_core::calendar_sync::GoogleCalendarSync;
use medibook_core::clinic::{Doctor, Fee, Specialty, Zone};
use medibook_core::clock::ManualClock;
use medibook_core::identity::Identifier;
use medibook_core::ids::{DoctorId, SpecialtyId};
use medibook_core::ports::{ClinicRepository, CodeSender};
use medibook_core::schedule::{BookingRules, TimeRange, WeeklyHours, WeeklySchedule};
use medibook_store::Database;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

/// Lifetime of the scenarios' access tokens and sessions: 30 days.
pub const TOKEN_MINUTES: u32 = 30 * 24 * 60;

/// Which database a scenario runs on.
pub use crate::common::Backend;

/// The instant the test clock starts at: Monday 1 March 2027, 08:00 UTC (09:00 in Berlin).
pub fn start_of_tests() -> Timestamp {
    "2027-03-01T08:00:00Z".parse().expect("valid instant")
}

/// A Tuesday slot of the test doctor: `"2027-03-02T<hh:mm>:00+01:00"`.
pub fn tuesday(hh_mm: &str) -> String {
    format!("2027-03-02T{hh_mm}:00+01:00")
}

/// Records one-time codes instead of delivering them, so scenarios can sign in.
#[derive(Default)]
pub struct RecordingSender {
    codes: Mutex<HashMap<String, String>>,
}

impl RecordingSender {
    pub fn last_code(&self, to: &str) -> Option<String> {
        self.codes.lock().expect("lock").get(to).cloned()
    }
}

#[async_trait]
impl CodeSender for RecordingSender {
    async fn send_code(&self, to: &Identifier, code: &str) -> BookingResult<()> {
        self.codes
            .lock()
            .expect("lock")
            .insert(to.to_string(), code.to_owned());
        Ok(())
    }
}

/// A running application and a client for it.
pub struct TestApp {
    pub backend: Backend,
    pub base: String,
    pub http: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub codes: Arc<RecordingSender>,
    pub database: Database,
    /// Mon–Fri 09:00–12:00 and 13:00–17:00 Europe/Berlin, 30-minute slots.
    pub doctor: DoctorId,
    /// Same hours, but at most 2 appointments a day and 15-minute buffers after each visit.
    pub limited_doctor: DoctorId,
    pub settings: Settings,
    /// The throw-away database (and the data directory), dropped with the app.
    _database: crate::common::TestDatabase,
    /// The first instance's booking service, for what the server does in the background
    /// (sweeping expired holds).
    pub bookings: BookingService,
    /// The first instance's Google Calendar sync (when configured), whose rounds the server
    /// runs in the background.
    pub calendar: Option<GoogleCalendarSync>,
}

fn working_week() -> WeeklyHours {
    let morning = TimeRange::new(
        "09:00".parse().expect("time"),
        "12:00".parse().expect("time"),
    )
    .expect("range");
    let afternoon = TimeRange::new(
        "13:00".parse().expect("time"),
        "17:00".parse().expect("time"),
    )
    .expect("range");
    let day = vec![morning, afternoon];
    WeeklyHours {
        monday: day.clone(),
        tuesday: day.clone(),
        wednesday: day.clone(),
        thursday: day.clone(),
        friday: day,
        ..WeeklyHours::default()
    }
}

fn doctor(name: &str, specialty: SpecialtyId, rules: BookingRules) -> Doctor {
    Doctor {
        id: DoctorId::generate(),
        name: name.to_owned(),
        specialty_id: specialty,
        qualification: "MD".into(),
        years_experience: 12,
        bio: "Test doctor.".into(),
        fee: Fee::new(6500, "EUR").expect("fee"),
        photo_url: None,
        time_zone: Zone::parse("Europe/Berlin").expect("zone"),
        schedule: WeeklySchedule {
            hours: working_week(),
            breaks: WeeklyHours::default(),
            rules,
        }
        .validate()
        .expect("schedule"),
    }
}

/// The server secret of every test app (tests that craft tokens derive its keys).
pub const TEST_SECRET: &[u8] = b"test secret that is long enough for hmac keys";

/// Starts the app on `backend`, or returns `None` when PostgreSQL is not configured (outside CI).
pub async fn launch(backend: Backend) -> Option<TestApp> {
    launch_with(backend, |_| {}).await
}

/// Like [`launch`], but `configure` may change the scenarios' settings (long sessions, high
/// code limits) before the app starts, e.g. back to production values.
pub async fn launch_with(
    backend: Backend,
    configure: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    let test_database = crate::common::TestDatabase::create(backend).await?;
    let mut settings = Settings {
        database_url: Some(test_database.url.clone()),
        data_dir: test_database.dir().to_path_buf(),
        // Scenarios move the clock by days; sessions outlive them, and nobody hits the code
        // limits by accident (sessions and limits have scenarios of their own).
        access_token_minutes: TOKEN_MINUTES,
        session_idle_minutes: TOKEN_MINUTES,
        session_max_hours: TOKEN_MINUTES / 60,
        codes_per_identifier_per_hour: 1000,
        codes_per_ip_per_hour: 100_000,
        ..Settings::default()
    };
    configure(&mut settings);
    let database = medibook::app::open_database(&settings)
        .await
        .expect("database opens and migrates");

    let specialty = Specialty {
        id: SpecialtyId::generate(),
        name: "Cardiology".into(),
        keywords: Vec::new(),
    };
    database.add_specialty(&specialty).await.expect("specialty");
    let rules = BookingRules {
        slot_minutes: 30,
        buffer_before_minutes: 0,
        buffer_after_minutes: 0,
        min_notice_minutes: 0,
        horizon_days: 60,
        max_per_day: None,
    };
    let regular = doctor("Dr. Anna Smith", specialty.id, rules);
    let limited = doctor(
        "Dr. Jörg Müller",
        specialty.id,
        BookingRules {
            buffer_after_minutes: 15,
            max_per_day: Some(2),
            ..rules
        },
    );
    database.add_doctor(&regular).await.expect("doctor");
    database.add_doctor(&limited).await.expect("doctor");

    let clock = Arc::new(ManualClock::new(start_of_tests()));
    let codes = Arc::new(RecordingSender::default());
    let (base, bookings, calendar) = start_server(&settings, &database, &clock, &codes).await;
    Some(TestApp {
        backend,
        base,
        http: reqwest::Client::new(),
        clock,
        codes,
        database,
        doctor: regular.id,
        limited_doctor: limited.id,
        settings,
        _database: test_database,
        bookings,
        calendar,
    })
}

/// Builds the app over `database` and serves it on a fresh port; returns its base URL, its
/// booking service and its Google Calendar sync.
async fn start_server(
    settings: &Settings,
    database: &Database,
    clock: &Arc<ManualClock>,
    codes: &Arc<RecordingSender>,
) -> (String, BookingService, Option<GoogleCalendarSync>) {
    let app = App::build(
        settings,
        database.clone(),
        TEST_SECRET,
        clock.clone(),
        codes.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(medibook_web::serve(
        listener,
        app.router,
        std::future::pending(),
    ));
    (format!("http://{address}"), app.bookings, app.calendar)
}

/// A response's status and JSON body (`Value::Null` when empty).
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Value,
}

impl Reply {
    pub async fn from(response: Response) -> Self {
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Self {
            status,
            content_type,
            body,
        }
    }

    /// The problem `code` of an error response, asserting the problem+json shape.
    pub fn problem_code(&self) -> &str {
        assert_eq!(
            self.content_type, "application/problem+json",
            "not a problem response: {} {}",
            self.status, self.body
        );
        assert_eq!(self.body["status"], self.status.as_u16(), "{}", self.body);
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
        assert!(
            self.body["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("urn:medibook:problem:"))
        );
        self.body["code"].as_str().expect("code")
    }

    pub fn id(&self) -> String {
        self.body["id"].as_str().expect("id").to_owned()
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Signs in `email` through the real code flow and returns a bearer token.
    pub async fn sign_in(&self, email: &str) -> String {
        let sent = self
            .http
            .post(self.url("/api/v1/auth/otp"))
            .json(&json!({ "email": email }))
            .send()
            .await
            .expect("request");
        assert_eq!(sent.status(), StatusCode::ACCEPTED);
        let code = self.codes.last_code(email).expect("a code was sent");
        let reply = Reply::from(
            self.http
                .post(self.url("/api/v1/auth/verify"))
                .json(&json!({ "email": email, "code": code }))
                .send()
                .await
                .expect("request"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["token"].as_str().expect("token").to_owned()
    }

    pub async fn get(&self, token: Option<&str>, path: &str) -> Reply {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Reply::from(request.send().await.expect("request")).await
    }

    pub async fn post(&self, token: Option<&str>, path: &str, body: Value) -> Reply {
        let mut request = self.http.post(self.url(path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Reply::from(request.send().await.expect("request")).await
    }

    pub async fn delete(&self, token: &str, path: &str) -> Reply {
        Reply::from(
            self.http
                .delete(self.url(path))
                .bearer_auth(token)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    pub async fn hold(&self, token: &str, doctor: DoctorId, start: &str) -> Reply {
        self.post(
            Some(token),
            "/api/v1/holds",
            json!({ "doctor_id": doctor.to_string(), "start": start }),
        )
        .await
    }

    pub async fn confirm(&self, token: &str, hold_id: &str) -> Reply {
        self.post(
            Some(token),
            "/api/v1/appointments",
            json!({ "hold_id": hold_id, "reason": "Check-up" }),
        )
        .await
    }

    pub async fn cancel(&self, token: &str, appointment_id: &str) -> Reply {
        self.post(
            Some(token),
            &format!("/api/v1/appointments/{appointment_id}/cancel"),
            json!({}),
        )
        .await
    }

    pub async fn reschedule(&self, token: &str, appointment_id: &str, hold_id: &str) -> Reply {
        self.post(
            Some(token),
            &format!("/api/v1/appointments/{appointment_id}/reschedule"),
            json!({ "hold_id": hold_id }),
        )
        .await
    }

    /// Holds and confirms `start` with the test doctor; returns the appointment id.
    pub async fn book(&self, token: &str, start: &str) -> String {
        let hold = self.hold(token, self.doctor, start).await;
        assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
        let appointment = self.confirm(token, &hold.id()).await;
        assert_eq!(
            appointment.status,
            StatusCode::CREATED,
            "{}",
            appointment.body
        );
        appointment.id()
    }

    /// The status of the slot of the test doctor starting at `start` on Tuesday 2 March 2027.
    pub async fn slot_status(&self, doctor: DoctorId, start: &str) -> Option<String> {
        let reply = self
            .get(
                None,
                &format!("/api/v1/slots?doctor_id={doctor}&date=2027-03-02&days=1"),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let wanted: Timestamp = start.parse().expect("instant");
        reply
            .body
            .as_array()
            .expect("list")
            .iter()
            .find_map(|slot| {
                let slot_start: Timestamp = slot["start"].as_str()?.parse().ok()?;
                (slot_start == wanted)
                    .then(|| slot["status"].as_str().unwrap_or_default().to_owned())
            })
    }

    /// Starts a second server over the same database, clock, code recorder and secret, as after
    /// a restart or behind a load balancer; returns its base URL (the first keeps running).
    pub async fn start_second_instance(&self) -> String {
        start_server(&self.settings, &self.database, &self.clock, &self.codes)
            .await
            .0
    }

    /// Moves the test clock.
    pub fn advance(&self, minutes: i64) {
        self.clock.advance(SignedDuration::from_mins(minutes));
    }

    /// Runs a counting query on the app's database.
    pub async fn count(&self, sql: &str) -> i64 {
        medibook_store::sql::query(medibook_store::sql::AssertSqlSafe(sql.to_owned()))
            .fetch_one(self.database.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .try_get::<i64, _>(0)
            .expect("count")
    }

    /// Pairs of occupying claims of one doctor that overlap: must always be zero.
    pub async fn overlapping_claims(&self) -> i64 {
        self.count(
            "SELECT COUNT(*) FROM slot_claims a JOIN slot_claims b
               ON a.doctor_id = b.doctor_id AND a.id < b.id
              AND a.claim_start < b.claim_end AND b.claim_start < a.claim_end",
        )
        .await
    }
}

/// One test per backend for an `async fn(TestApp)` scenario.
#[macro_export]
macro_rules! backend_tests {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    if let Some(app) = $crate::harness::launch($crate::harness::Backend::Sqlite).await {
                        super::$scenario(app).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    if let Some(app) = $crate::harness::launch($crate::harness::Backend::Postgres).await {
                        super::$scenario(app).await;
                    }
                }
            )*
        }
    };
}

/// Like [`backend_tests!`], but each group of scenarios starts with its settings changed by a
/// `fn(&mut Settings)`: `backend_tests_with!(production_sessions; a, b; three_codes_per_ip; c)`.
#[macro_export]
macro_rules! backend_tests_with {
    ($($configure:ident; $($scenario:ident),+ $(,)?);+ $(;)?) => {
        mod sqlite {
            $($(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    if let Some(app) = $crate::harness::launch_with(
                        $crate::harness::Backend::Sqlite,
                        super::$configure,
                    )
                    .await
                    {
                        super::$scenario(app).await;
                    }
                }
            )+)+
        }
        mod postgres {
            $($(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    if let Some(app) = $crate::harness::launch_with(
                        $crate::harness::Backend::Postgres,
                        super::$configure,
                    )
                    .await
                    {
                        super::$scenario(app).await;
                    }
                }
            )+)+
        }
    };
}

impl TestApp {
    /// Starts another instance over the same database, clock and code recorder (as
    /// [`Self::start_second_instance`]) whose connections get the smallest socket send buffer the
    /// OS allows, and makes it the instance this `TestApp` talks to and sweeps with. A client
    /// that stops reading then holds up the server after a few kilobytes instead of megabytes.
    /// Returns that send buffer's size in bytes, as the OS reports it.
    pub async fn switch_to_small_send_buffers(&mut self) -> usize {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        // Accepted connections inherit the listening socket's buffer sizes; the OS raises the
        // request to its minimum and locks the size, so it does not grow with the traffic.
        socket.set_send_buffer_size(1).expect("send buffer size");
        let send_buffer = socket.send_buffer_size().expect("send buffer size");
        socket
            .bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind");
        let listener = socket.listen(128).expect("listen");
        let (base, bookings) = serve_on(
            listener,
            &self.settings,
            &self.database,
            &self.clock,
            &self.codes,
        );
        self.base = base;
        self.bookings = bookings;
        usize::try_from(send_buffer).expect("a buffer size fits in usize")
    }
}

/// Builds the app over `database` and serves it on `listener`; returns its base URL and its
/// booking service.
fn serve_on(
    listener: tokio::net::TcpListener,
    settings: &Settings,
    database: &Database,
    clock: &Arc<ManualClock>,
    codes: &Arc<RecordingSender>,
) -> (String, BookingService) {
    let app = App::build(
        settings,
        database.clone(),
        TEST_SECRET,
        clock.clone(),
        codes.clone(),
    );
    let address = listener.local_addr().expect("address");
    tokio::spawn(medibook_web::serve(
        listener,
        app.router,
        std::future::pending(),
    ));
    (format!("http://{address}"), app.bookings)
}
