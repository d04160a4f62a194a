//! Server *processes* of the real binary.
//!
//! - Two on one PostgreSQL database: a hold made through one reaches a live-feed subscriber
//!   connected to the other, and so does its release. Once with events crossing through
//!   PostgreSQL `LISTEN/NOTIFY`, once through Redis pub/sub (`REDIS_URL`).
//! - One killed (`SIGKILL`) after acknowledging a booking and before delivering its
//!   confirmation: the next process on the same database delivers it, exactly once, on SQLite
//!   and PostgreSQL.
//! - `medibook backup FILE` run beside a SQLite server that is taking bookings: the copy passes
//!   SQLite's integrity check and holds every appointment confirmed before it started; an
//!   existing FILE and a PostgreSQL database are refused.
//! - `/metrics` after a booking, a conflict and a live-feed connection: the Prometheus series
//!   and their values, labelled by route template; refused without the bearer token.
//! - `SIGTERM`: a request in flight is answered, a live-feed client is sent a close frame with
//!   code 1001 (going away), and the process exits with status 0 within seconds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use jiff::Timestamp;
use medibook_integrations::test_smtp::spawn_smtp_server;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use common::server::{Server, medibook};
use common::{Backend, TestDatabase};

/// How long a change may take to reach the other instance's subscriber.
const EVENT_PATIENCE: Duration = Duration::from_secs(15);
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_through_one_process_reaches_a_subscriber_of_another_through_postgres() {
    let Some(postgres) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let servers = Pair::start(&postgres.url, &[]).await;
    servers
        .b
        .assert_logged("other instances' events arrive through PostgreSQL LISTEN/NOTIFY");
    hold_and_release_cross_instances(&servers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_through_one_process_reaches_a_subscriber_of_another_through_redis() {
    let Some(postgres) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let Some(redis) = common::redis_url() else {
        return;
    };
    let channel = common::fresh_redis_channel();
    let servers = Pair::start(
        &postgres.url,
        &[
            ("REDIS_URL", redis.as_str()),
            ("MEDIBOOK_REDIS_CHANNEL", &channel),
        ],
    )
    .await;
    for server in [&servers.a, &servers.b] {
        server.assert_logged("other instances' events arrive through Redis pub/sub");
        server.assert_not_logged("LISTEN/NOTIFY");
    }
    hold_and_release_cross_instances(&servers).await;
}

/// Signs a patient in on A, watches the doctor's slots on B, and holds and releases a slot on A.
async fn hold_and_release_cross_instances(servers: &Pair) {
    let http = reqwest::Client::new();
    let (doctor, start) = a_free_slot(&http, &servers.a).await;
    let token = servers.a.sign_in(&http, "ada@example.org").await;

    let mut feed = Feed::connect(&servers.b).await;
    let latest = feed.subscribe(&doctor).await;

    let response = http
        .post(format!("{}/api/v1/holds", servers.a.base))
        .bearer_auth(&token)
        .json(&json!({ "doctor_id": doctor, "start": start.to_string() }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED, "holding on A");
    let hold: Value = response.json().await.unwrap();
    let held = feed.next_change_of(start, &servers.b).await;
    assert_eq!(held["status"], "held", "{held}");
    assert_eq!(held["doctor_id"], doctor, "{held}");
    assert_eq!(held["seq"], latest + 1, "{held}");

    let response = http
        .delete(format!(
            "{}/api/v1/holds/{}",
            servers.a.base,
            hold["id"].as_str().unwrap()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT, "releasing on A");
    let released = feed.next_change_of(start, &servers.b).await;
    assert_eq!(released["status"], "available", "{released}");
    assert_eq!(released["seq"], latest + 2, "{released}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_confirmation_committed_before_a_crash_is_delivered_after_restart_once() {
    let Some(database) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let url = database.url.clone();
    confirmation_survives_a_crash(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_confirmation_committed_before_a_crash_is_delivered_after_restart_once() {
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    confirmation_survives_a_crash(&database.url).await;
}

async fn confirmation_survives_a_crash(database_url: &str) {
    let http = reqwest::Client::new();
    let (smtp, mut inbox) = spawn_smtp_server("250 OK").await;
    let smtp_url = format!("smtp://{smtp}");
    let mail = |outbox_seconds: &'static str| {
        [
            ("MEDIBOOK_SMTP_URL", smtp_url.clone()),
            (
                "MEDIBOOK_MAIL_FROM",
                "MediBook <no-reply@clinic.example>".to_owned(),
            ),
            ("MEDIBOOK_OUTBOX_SECONDS", outbox_seconds.to_owned()),
        ]
    };

    // Seed the demo clinic and sign in (the code is logged: no channel configured yet).
    let first = Server::start(database_url, medibook("first", &[], true)).await;
    let token = first.sign_in(&http, "crash@example.org").await;
    let (doctor, start) = a_free_slot(&http, &first).await;
    drop(first);

    // This process would deliver only after an hour: it is killed long before.
    let env = mail("3600");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut second = Server::start(database_url, medibook("second", &env, false)).await;
    let hold = http
        .post(format!("{}/api/v1/holds", second.base))
        .bearer_auth(&token)
        .json(&json!({ "doctor_id": doctor, "start": start }))
        .send()
        .await
        .unwrap();
    assert_eq!(hold.status(), StatusCode::CREATED, "holding on the second");
    let hold: Value = hold.json().await.unwrap();
    let booked = http
        .post(format!("{}/api/v1/appointments", second.base))
        .bearer_auth(&token)
        .json(&json!({ "hold_id": hold["id"], "reason": "Check-up" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        booked.status(),
        StatusCode::CREATED,
        "booking is acknowledged"
    );
    second.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        inbox.try_recv().is_err(),
        "nothing was delivered before the crash"
    );

    // The next process delivers the confirmation, once.
    let env = mail("1");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let third = Server::start(database_url, medibook("third", &env, false)).await;
    let email = tokio::time::timeout(EVENT_PATIENCE, inbox.recv())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the confirmation was not delivered after the restart; log:\n{}",
                third.log_text()
            )
        })
        .unwrap();
    assert_eq!(email.rcpt_to, vec!["crash@example.org".to_owned()]);
    let subject = email.header("Subject").unwrap_or_default();
    assert!(subject.starts_with("Booked: "), "{subject}");
    // Several more delivery rounds: nothing else goes out.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(inbox.try_recv().is_err(), "delivered exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_backup_taken_while_booking_is_intact_and_holds_the_appointments() {
    let Some(database) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let url = database.url.clone();
    let server = Server::start(
        &url,
        medibook("live", &[("MEDIBOOK_MAX_ACTIVE_APPOINTMENTS", "100")], true),
    )
    .await;
    let http = reqwest::Client::new();
    let token = server.sign_in(&http, "backup@example.org").await;
    let (doctor, first) = a_free_slot(&http, &server).await;
    let date = &first.to_string()[..10];
    let slots: Vec<Value> = http
        .get(format!(
            "{}/api/v1/slots?doctor_id={doctor}&date={date}&days=14",
            server.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let free: Vec<String> = slots
        .iter()
        .filter(|slot| slot["status"] == "available")
        .filter_map(|slot| slot["start"].as_str().map(str::to_owned))
        .take(25)
        .collect();
    assert!(free.len() >= 10, "enough free slots to book: {slots:?}");

    let before = book(&http, &server, &token, &doctor, &free[0]).await;
    // Keep booking while the backup runs.
    let booking = {
        let (http, base) = (http.clone(), server.base.clone());
        let (token, doctor) = (token.clone(), doctor.clone());
        let rest = free[1..].to_vec();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for start in rest {
                ids.push(book_at(&http, &base, &token, &doctor, &start).await);
            }
            ids
        })
    };
    let target = database.dir().join("copy of live.db");
    let output = backup_command(&url, &target).output().unwrap();
    assert!(
        output.status.success(),
        "backup failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let during = booking.await.unwrap();

    assert_eq!(
        medibook_store::backup::integrity_problems(&target)
            .await
            .unwrap(),
        ""
    );
    let saved = appointment_ids(&format!("sqlite://{}", target.display())).await;
    let live = appointment_ids(&url).await;
    assert!(saved.contains(&before), "{before} missing from {saved:?}");
    // A snapshot of one moment: the demo's and ours up to some point, nothing unknown.
    assert!(
        saved.iter().all(|id| live.contains(id)),
        "{saved:?} ⊄ {live:?}"
    );
    assert!(during.iter().all(|id| live.contains(id)));
    let missing = during.iter().filter(|id| !saved.contains(id)).count();
    assert_eq!(
        saved.len() + missing,
        live.len(),
        "the copy is the live database minus some of the latest bookings"
    );

    // A second backup to the same file is refused and leaves the copy alone.
    let size = std::fs::metadata(&target).unwrap().len();
    let again = backup_command(&url, &target).output().unwrap();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(std::fs::metadata(&target).unwrap().len(), size);
}

#[test]
fn backup_of_a_postgres_database_points_to_pg_dump() {
    let dir = tempfile::tempdir().unwrap();
    let output = backup_command(
        "postgres://nobody@127.0.0.1:1/none",
        &dir.path().join("copy.db"),
    )
    .output()
    .unwrap();
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("pg_dump"), "{message}");
    assert!(!dir.path().join("copy.db").exists());
}

#[test]
fn backup_of_a_missing_database_fails_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo.db");
    let target = dir.path().join("copy.db");
    let output = backup_command(&format!("sqlite://{}", missing.display()), &target)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("never creates"), "{message}");
    assert!(!missing.exists(), "no empty database was created");
    assert!(!target.exists(), "no backup was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_bookings_conflicts_sockets_and_latency_by_route() {
    let Some(database) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let url = database.url.clone();
    let token_for_metrics = "a scraper's token";
    let server = Server::start(
        &url,
        medibook(
            "metrics",
            &[("MEDIBOOK_METRICS_TOKEN", token_for_metrics)],
            true,
        ),
    )
    .await;
    let http = reqwest::Client::new();
    let refused = http
        .get(format!("{}/metrics", server.base))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    let token = server.sign_in(&http, "metrics@example.org").await;
    let (doctor, start) = a_free_slot(&http, &server).await;
    let appointment = book(&http, &server, &token, &doctor, &start.to_string()).await;
    let conflict = http
        .post(format!("{}/api/v1/holds", server.base))
        .bearer_auth(&token)
        .json(&json!({ "doctor_id": doctor, "start": start.to_string() }))
        .send()
        .await
        .unwrap();
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
    let cancelled = http
        .post(format!(
            "{}/api/v1/appointments/{appointment}/cancel",
            server.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), StatusCode::OK);
    let mut feed = Feed::connect(&server).await;
    // The socket is counted once its task runs, which the client's handshake does not wait
    // for; an acknowledged subscription does.
    feed.subscribe(&doctor).await;

    let text = http
        .get(format!("{}/metrics", server.base))
        .bearer_auth(token_for_metrics)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
    };
    assert_eq!(value("medibook_holds_total"), 1.0);
    assert_eq!(value("medibook_bookings_total"), 1.0);
    assert_eq!(value("medibook_hold_conflicts_total"), 1.0);
    assert_eq!(value("medibook_cancellations_total"), 1.0);
    assert_eq!(value("medibook_websocket_connections"), 1.0);
    // The confirmation is queued in the outbox (delivered to the log within a second or so).
    assert!(value("medibook_outbox_pending") >= 0.0);
    assert_eq!(
        value(
            "medibook_http_request_duration_seconds_count{method=\"POST\",\
             route=\"/api/v1/holds\",status=\"4xx\"}"
        ),
        1.0
    );
    assert!(
        text.contains("route=\"/api/v1/doctors\""),
        "listing doctors is recorded:\n{text}"
    );
    assert!(!text.contains(&appointment), "no ids in labels:\n{text}");
    drop(feed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_requests_in_flight_closes_feeds_with_going_away_and_exits_cleanly() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let Some(database) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let url = database.url.clone();
    let mut server = Server::start(&url, medibook("stopping", &[], false)).await;
    let mut feed = Feed::connect(&server).await;

    // A request in flight: its head is sent, its body not yet.
    let body = json!({ "email": "late@example.org" }).to_string();
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut request = TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /api/v1/auth/otp HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    request.write_all(head.as_bytes()).await.unwrap();
    // Let the server read the head before it is told to stop.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let stopped_at = std::time::Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    let close = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match feed.socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                other => panic!("the feed ended without a close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("a close frame soon after SIGTERM")
    .expect("a close code");
    assert_eq!(u16::from(close.code), 1001, "{close:?}");

    request.write_all(body.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(5),
        request.read_to_string(&mut response),
    )
    .await
    .expect("the request in flight is answered")
    .unwrap();
    assert!(
        response.starts_with("HTTP/1.1 202"),
        "{response}\nserver log:\n{}",
        server.log_text()
    );

    let exit = loop {
        if let Some(exit) = server.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            stopped_at.elapsed() < Duration::from_secs(8),
            "still running 8 s after SIGTERM; log:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit:?}; log:\n{}", server.log_text());
    server.assert_logged("shutting down");
}

/// The ids of all appointments in the database at `url`.
async fn appointment_ids(url: &str) -> Vec<String> {
    let database = medibook_store::Database::connect(url).await.unwrap();
    let rows = medibook_store::sql::query("SELECT id FROM appointments")
        .fetch_all(database.pool())
        .await
        .unwrap();
    database.close().await;
    rows.iter().map(|row| row.get("id")).collect()
}

/// `medibook backup target` on `database_url`.
fn backup_command(database_url: &str, target: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_medibook"));
    command
        .arg("backup")
        .arg(target)
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    command
}

/// Holds and confirms the slot at `start`; returns the appointment's id.
async fn book(
    http: &reqwest::Client,
    server: &Server,
    token: &str,
    doctor: &str,
    start: &str,
) -> String {
    book_at(http, &server.base, token, doctor, start).await
}

async fn book_at(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    doctor: &str,
    start: &str,
) -> String {
    let response = http
        .post(format!("{base}/api/v1/holds"))
        .bearer_auth(token)
        .json(&json!({ "doctor_id": doctor, "start": start }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED, "holding {start}");
    let hold: Value = response.json().await.unwrap();
    let response = http
        .post(format!("{base}/api/v1/appointments"))
        .bearer_auth(token)
        .json(&json!({ "hold_id": hold["id"], "reason": "check-up" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED, "confirming {start}");
    let appointment: Value = response.json().await.unwrap();
    appointment["id"].as_str().unwrap().to_owned()
}

/// A doctor of the demo clinic with a free slot, and that slot's start.
async fn a_free_slot(http: &reqwest::Client, server: &Server) -> (String, Timestamp) {
    let doctors: Vec<Value> = http
        .get(format!("{}/api/v1/doctors", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    doctors
        .iter()
        .find_map(|doctor| {
            let start = doctor["next_free_slot"]["start"].as_str()?;
            Some((
                doctor["id"].as_str()?.to_owned(),
                start.parse().expect("an instant"),
            ))
        })
        .expect("a demo doctor with a free slot")
}

/// Instance A (which seeded the demo clinic) and instance B, on one database.
struct Pair {
    a: Server,
    b: Server,
}

impl Pair {
    /// Starts A with `--demo`, waits until it listens (so migrations and seeding are done),
    /// then starts B; both get `extra` in their environment.
    async fn start(database_url: &str, extra: &[(&str, &str)]) -> Self {
        let a = Server::start(database_url, medibook("a", extra, true)).await;
        let b = Server::start(database_url, medibook("b", extra, false)).await;
        Self { a, b }
    }
}

/// A client of an instance's live feed.
struct Feed {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Feed {
    async fn connect(server: &Server) -> Self {
        let url = format!("{}/api/v1/ws", server.base.replacen("http://", "ws://", 1));
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("the feed accepts the client");
        Self { socket }
    }

    /// Subscribes to `doctor` and returns its latest sequence number.
    async fn subscribe(&mut self, doctor: &str) -> i64 {
        let message = json!({ "type": "subscribe", "doctor_ids": [doctor] });
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
        let ack = self.next().await.expect("an acknowledgement");
        assert_eq!(ack["type"], "subscribed", "{ack}");
        ack["latest_seq"][doctor].as_i64().expect("a number")
    }

    /// The next slot change of the slot starting at `start`.
    async fn next_change_of(&mut self, start: Timestamp, server: &Server) -> Value {
        let deadline = tokio::time::Instant::now() + EVENT_PATIENCE;
        loop {
            let message = tokio::time::timeout_at(deadline, self.next())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no change of {start} reached instance {} in time; its log:\n{}",
                        server.name,
                        server.log_text()
                    )
                })
                .expect("the feed stays open");
            let starts_then = message["start"]
                .as_str()
                .and_then(|s| s.parse::<Timestamp>().ok())
                == Some(start);
            if message["type"] == "slot" && starts_then {
                return message;
            }
            assert_ne!(message["type"], "resync", "{message}");
        }
    }

    /// The next JSON message, `None` when the feed closes.
    async fn next(&mut self) -> Option<Value> {
        loop {
            match self.socket.next().await? {
                Ok(Message::Text(text)) => return Some(serde_json::from_str(&text).unwrap()),
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                Ok(other) => panic!("unexpected frame {other:?}"),
                Err(_) => return None,
            }
        }
    }
}
