//! The live slot feed over a real WebSocket: every kind of slot change reaches a subscriber in
//! order, numbered without gaps or repeats; a reconnect resumes where it left off; subscribers
//! see only the doctors they asked for.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use jiff::Timestamp;
use medibook_core::ids::DoctorId;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::backend_tests;
use crate::harness::{TestApp, tuesday};

/// How long a scenario waits for a message that should come.
const PATIENCE: Duration = Duration::from_secs(10);
/// How long a scenario listens to be sure nothing more comes.
const QUIET: Duration = Duration::from_millis(300);

/// A client of the feed.
struct Feed {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Feed {
    async fn connect(app: &TestApp) -> Self {
        Self::connect_with(app, None).await
    }

    /// Connects, sending `token` as a bearer token when given.
    async fn connect_with(app: &TestApp, token: Option<&str>) -> Self {
        let url = format!("{}/api/v1/ws", app.base.replacen("http://", "ws://", 1));
        let mut request = url.into_client_request().expect("a WebSocket request");
        if let Some(token) = token {
            let value = format!("Bearer {token}").parse().expect("header value");
            request.headers_mut().insert("authorization", value);
        }
        let (socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("the feed accepts the client");
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        Self { socket }
    }

    async fn send(&mut self, message: Value) {
        self.send_text(message.to_string()).await;
    }

    async fn send_text(&mut self, text: String) {
        self.socket
            .send(Message::text(text))
            .await
            .expect("the feed takes messages");
    }

    /// The next JSON message, or `None` when none comes within `wait`.
    async fn within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()?
                .expect("the feed stays open")
                .expect("a frame");
            match frame {
                Message::Text(text) => return Some(serde_json::from_str(&text).expect("JSON")),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    async fn next(&mut self) -> Value {
        self.within(PATIENCE)
            .await
            .expect("a message from the feed in time")
    }

    async fn expect_nothing_more(&mut self) {
        if let Some(message) = self.within(QUIET).await {
            panic!("unexpected message {message}");
        }
    }

    /// Subscribes and returns the acknowledgement.
    async fn subscribe(&mut self, doctors: &[DoctorId], after_seq: Option<Value>) -> Value {
        let ids: Vec<String> = doctors.iter().map(ToString::to_string).collect();
        let mut message = json!({ "type": "subscribe", "doctor_ids": ids });
        if let Some(after_seq) = after_seq {
            message["after_seq"] = after_seq;
        }
        self.send(message).await;
        let ack = self.next().await;
        assert_eq!(ack["type"], "subscribed", "{ack}");
        ack
    }

    /// The next `count` slot changes, checked to be of `doctor` and numbered `after + 1, …`.
    async fn slot_changes(&mut self, doctor: DoctorId, after: i64, count: usize) -> Vec<Change> {
        let mut changes = Vec::with_capacity(count);
        let mut expected_seq = after;
        for _ in 0..count {
            let message = self.next().await;
            assert_eq!(message["type"], "slot", "{message}");
            assert_eq!(message["doctor_id"], doctor.to_string(), "{message}");
            expected_seq += 1;
            assert_eq!(
                message["seq"], expected_seq,
                "out of order or repeated: {message}"
            );
            changes.push(Change::from(&message));
        }
        changes
    }
}

/// One slot change as the scenarios compare it.
#[derive(Debug, PartialEq, Eq)]
struct Change {
    start: Timestamp,
    status: String,
}

impl Change {
    fn of(start: &str, status: &str) -> Self {
        Self {
            start: start.parse().expect("instant"),
            status: status.to_owned(),
        }
    }

    fn from(message: &Value) -> Self {
        Self {
            start: message["start"]
                .as_str()
                .expect("start")
                .parse()
                .expect("instant"),
            status: message["status"].as_str().expect("status").to_owned(),
        }
    }
}

/// The doctor's latest number as the acknowledgement reports it.
fn latest_seq(ack: &Value, doctor: DoctorId) -> i64 {
    ack["latest_seq"][doctor.to_string()]
        .as_i64()
        .expect("latest_seq")
}

async fn holding_booking_and_cancelling_are_seen_in_order(app: TestApp) {
    let token = app.sign_in("pat@example.com").await;
    let mut feed = Feed::connect(&app).await;
    let ack = feed.subscribe(&[app.doctor], None).await;
    let start = latest_seq(&ack, app.doctor);

    let hold = app.hold(&token, app.doctor, &tuesday("09:00")).await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    let appointment = app.confirm(&token, &hold.id()).await;
    assert_eq!(
        appointment.status,
        StatusCode::CREATED,
        "{}",
        appointment.body
    );
    let cancelled = app.cancel(&token, &appointment.id()).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);

    let slot = tuesday("09:00");
    assert_eq!(
        feed.slot_changes(app.doctor, start, 3).await,
        [
            Change::of(&slot, "held"),
            Change::of(&slot, "booked"),
            Change::of(&slot, "available"),
        ]
    );
    feed.expect_nothing_more().await;
}

async fn released_and_expired_holds_free_their_slots(app: TestApp) {
    let token = app.sign_in("pat@example.com").await;
    let mut feed = Feed::connect(&app).await;
    let ack = feed.subscribe(&[app.doctor], None).await;
    let start = latest_seq(&ack, app.doctor);

    let released = app.hold(&token, app.doctor, &tuesday("09:00")).await;
    assert_eq!(released.status, StatusCode::CREATED, "{}", released.body);
    let gone = app
        .delete(&token, &format!("/api/v1/holds/{}", released.id()))
        .await;
    assert!(gone.status.is_success(), "{} {}", gone.status, gone.body);

    let expiring = app.hold(&token, app.doctor, &tuesday("10:00")).await;
    assert_eq!(expiring.status, StatusCode::CREATED, "{}", expiring.body);
    app.advance(60);
    let swept = app.bookings.sweep_expired_holds().await.expect("sweep");
    assert_eq!(swept, 1);

    assert_eq!(
        feed.slot_changes(app.doctor, start, 4).await,
        [
            Change::of(&tuesday("09:00"), "held"),
            Change::of(&tuesday("09:00"), "available"),
            Change::of(&tuesday("10:00"), "held"),
            Change::of(&tuesday("10:00"), "available"),
        ]
    );
    feed.expect_nothing_more().await;
}

async fn rescheduling_frees_the_old_slot_and_books_the_new(app: TestApp) {
    let token = app.sign_in("pat@example.com").await;
    let appointment = app.book(&token, &tuesday("09:00")).await;
    let mut feed = Feed::connect(&app).await;
    let ack = feed.subscribe(&[app.doctor], None).await;
    let start = latest_seq(&ack, app.doctor);

    let hold = app.hold(&token, app.doctor, &tuesday("11:00")).await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    let moved = app.reschedule(&token, &appointment, &hold.id()).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);

    assert_eq!(
        feed.slot_changes(app.doctor, start, 3).await,
        [
            Change::of(&tuesday("11:00"), "held"),
            Change::of(&tuesday("09:00"), "available"),
            Change::of(&tuesday("11:00"), "booked"),
        ]
    );
    feed.expect_nothing_more().await;
}

async fn a_reconnect_with_after_seq_receives_exactly_what_it_missed(app: TestApp) {
    let token = app.sign_in("pat@example.com").await;
    let mut feed = Feed::connect(&app).await;
    let ack = feed.subscribe(&[app.doctor], None).await;
    let start = latest_seq(&ack, app.doctor);
    let hold = app.hold(&token, app.doctor, &tuesday("09:00")).await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    feed.slot_changes(app.doctor, start, 1).await;
    drop(feed);

    // Missed while away: booked, cancelled, and a hold elsewhere.
    let appointment = app.confirm(&token, &hold.id()).await;
    assert_eq!(appointment.status, StatusCode::CREATED);
    let cancelled = app.cancel(&token, &appointment.id()).await;
    assert_eq!(cancelled.status, StatusCode::OK);
    let later = app.hold(&token, app.doctor, &tuesday("10:00")).await;
    assert_eq!(later.status, StatusCode::CREATED);

    // One number for all doctors…
    let mut feed = Feed::connect(&app).await;
    let ack = feed.subscribe(&[app.doctor], Some(json!(start + 1))).await;
    assert_eq!(latest_seq(&ack, app.doctor), start + 4);
    assert_eq!(
        feed.slot_changes(app.doctor, start + 1, 3).await,
        [
            Change::of(&tuesday("09:00"), "booked"),
            Change::of(&tuesday("09:00"), "available"),
            Change::of(&tuesday("10:00"), "held"),
        ]
    );
    feed.expect_nothing_more().await;
    // …then live, without a gap or a repeat.
    let released = app
        .delete(&token, &format!("/api/v1/holds/{}", later.id()))
        .await;
    assert!(released.status.is_success());
    assert_eq!(
        feed.slot_changes(app.doctor, start + 4, 1).await,
        [Change::of(&tuesday("10:00"), "available")]
    );

    // …or one per doctor.
    let mut feed = Feed::connect(&app).await;
    let mut per_doctor = json!({});
    per_doctor[app.doctor.to_string()] = json!(start + 3);
    feed.subscribe(&[app.doctor], Some(per_doctor)).await;
    assert_eq!(
        feed.slot_changes(app.doctor, start + 3, 2).await,
        [
            Change::of(&tuesday("10:00"), "held"),
            Change::of(&tuesday("10:00"), "available"),
        ]
    );
    feed.expect_nothing_more().await;
}

async fn a_resume_from_beyond_the_log_is_told_to_resync(app: TestApp) {
    let mut feed = Feed::connect(&app).await;
    let ack = feed.subscribe(&[app.doctor], Some(json!(1_000_000))).await;
    let latest = latest_seq(&ack, app.doctor);
    let resync = feed.next().await;
    assert_eq!(resync["type"], "resync", "{resync}");
    assert_eq!(resync["doctor_id"], app.doctor.to_string());
    assert_eq!(resync["latest_seq"], latest);

    // Then live from the latest number on.
    let token = app.sign_in("pat@example.com").await;
    let hold = app.hold(&token, app.doctor, &tuesday("09:00")).await;
    assert_eq!(hold.status, StatusCode::CREATED);
    feed.slot_changes(app.doctor, latest, 1).await;
}

async fn a_subscriber_sees_only_the_doctors_it_watches(app: TestApp) {
    let token = app.sign_in("pat@example.com").await;
    let mut feed = Feed::connect(&app).await;
    let ack = feed.subscribe(&[app.doctor], None).await;
    let start = latest_seq(&ack, app.doctor);

    let elsewhere = app
        .hold(&token, app.limited_doctor, &tuesday("09:00"))
        .await;
    assert_eq!(elsewhere.status, StatusCode::CREATED, "{}", elsewhere.body);
    let here = app.hold(&token, app.doctor, &tuesday("10:00")).await;
    assert_eq!(here.status, StatusCode::CREATED, "{}", here.body);

    // The other doctor's change was published first; the next message is this doctor's.
    assert_eq!(
        feed.slot_changes(app.doctor, start, 1).await,
        [Change::of(&tuesday("10:00"), "held")]
    );
    feed.expect_nothing_more().await;

    // After unsubscribing, nothing at all.
    feed.send(json!({ "type": "unsubscribe", "doctor_ids": [app.doctor.to_string()] }))
        .await;
    assert_eq!(feed.next().await["type"], "unsubscribed");
    let released = app
        .delete(&token, &format!("/api/v1/holds/{}", here.id()))
        .await;
    assert!(released.status.is_success());
    feed.expect_nothing_more().await;
}

async fn bad_messages_get_an_error_and_the_connection_stays_open(app: TestApp) {
    let mut feed = Feed::connect(&app).await;
    feed.send_text("not json".into()).await;
    let error = feed.next().await;
    assert_eq!(error["type"], "error", "{error}");
    assert!(error["message"].is_string());

    feed.send(json!({ "type": "subscribe", "doctor_ids": ["not-an-id"] }))
        .await;
    assert_eq!(feed.next().await["type"], "error");

    let too_many: Vec<DoctorId> = (0..201).map(|_| DoctorId::generate()).collect();
    let ids: Vec<String> = too_many.iter().map(ToString::to_string).collect();
    feed.send(json!({ "type": "subscribe", "doctor_ids": ids }))
        .await;
    let refused = feed.next().await;
    assert_eq!(refused["type"], "error", "{refused}");

    // Unknown doctors are accepted and simply never change.
    let unknown = DoctorId::generate();
    let ack = feed.subscribe(&[unknown], None).await;
    assert_eq!(latest_seq(&ack, unknown), 0);
}

async fn anyone_may_watch_slots_signed_in_or_not(app: TestApp) {
    let token = app.sign_in("pat@example.com").await;
    for token in [None, Some(token.as_str()), Some("not a token")] {
        let mut feed = Feed::connect_with(&app, token).await;
        feed.subscribe(&[app.doctor], None).await;
    }
}

backend_tests!(
    anyone_may_watch_slots_signed_in_or_not,
    holding_booking_and_cancelling_are_seen_in_order,
    released_and_expired_holds_free_their_slots,
    rescheduling_frees_the_old_slot_and_books_the_new,
    a_reconnect_with_after_seq_receives_exactly_what_it_missed,
    a_resume_from_beyond_the_log_is_told_to_resync,
    a_subscriber_sees_only_the_doctors_it_watches,
    bad_messages_get_an_error_and_the_connection_stays_open,
);
