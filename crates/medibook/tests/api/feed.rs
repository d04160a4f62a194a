//! The live slot feed over a real WebSocket: every kind of slot change reaches a subscriber in
//! order, numbered without gaps or repeats; a reconnect resumes where it left off; subscribers
//! see only the doctors they asked for; a client that stops reading is told to resync without
//! slowing anyone else; the heartbeat keeps answering clients open and closes silent ones.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use jiff::Timestamp;
use medibook::settings::Settings;
use medibook_core::ids::DoctorId;
use medibook_core::ports::ClinicRepository;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::backend_tests_with;
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

    /// Connects over a socket with the smallest receive buffer the OS allows, so that when this
    /// client stops reading the server's writes stall after a few kilobytes. Returns the client
    /// and that buffer's size in bytes, as the OS reports it.
    async fn connect_with_small_receive_buffer(app: &TestApp) -> (Self, usize) {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(1).expect("receive buffer size");
        let receive_buffer = socket.recv_buffer_size().expect("receive buffer size");
        let stream = socket
            .connect(server_address(app))
            .await
            .expect("the server accepts connections");
        let (socket, response) =
            tokio_tungstenite::client_async(feed_url(app), MaybeTlsStream::Plain(stream))
                .await
                .expect("the feed accepts the client");
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        let receive_buffer = usize::try_from(receive_buffer).expect("a buffer size fits in usize");
        (Self { socket }, receive_buffer)
    }

    /// Connects, sending `token` as a bearer token when given.
    async fn connect_with(app: &TestApp, token: Option<&str>) -> Self {
        let mut request = feed_url(app)
            .into_client_request()
            .expect("a WebSocket request");
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

    /// Connects with a `Cookie` header, as a page's script does.
    async fn connect_with_cookie(app: &TestApp, cookie: &str) -> Self {
        let mut request = feed_url(app)
            .into_client_request()
            .expect("a WebSocket request");
        request
            .headers_mut()
            .insert("cookie", cookie.parse().expect("header value"));
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

    /// Listens for `wait`, answering the server's pings (the client library does when it reads),
    /// and returns how many came; panics on any other frame or if the connection ends.
    async fn pings_within(&mut self, wait: Duration) -> usize {
        let deadline = Instant::now() + wait;
        let mut pings = 0;
        while let Ok(frame) = tokio::time::timeout_at(deadline, self.socket.next()).await {
            match frame.expect("the feed stays open").expect("a frame") {
                Message::Ping(_) => pings += 1,
                other => panic!("unexpected frame {other:?}"),
            }
        }
        pings
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

/// The feed's WebSocket URL on `app`.
fn feed_url(app: &TestApp) -> String {
    format!("{}/api/v1/ws", app.base.replacen("http://", "ws://", 1))
}

/// The address `app` listens on.
fn server_address(app: &TestApp) -> SocketAddr {
    app.base
        .trim_start_matches("http://")
        .parse()
        .expect("the server's address")
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
    for token in [None, Some(token.as_str())] {
        let mut feed = Feed::connect_with(&app, token).await;
        feed.subscribe(&[app.doctor], None).await;
    }
}

async fn a_token_that_is_not_valid_is_refused(app: TestApp) {
    let mut request = feed_url(&app)
        .into_client_request()
        .expect("a WebSocket request");
    request.headers_mut().insert(
        "authorization",
        "Bearer not-a-token".parse().expect("header value"),
    );
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        other => panic!("expected 401, got {other:?}"),
    }
    // In-band, a bad token is refused and the connection stays open for slots.
    let mut feed = Feed::connect(&app).await;
    feed.send(json!({ "type": "authenticate", "token": "not-a-token" }))
        .await;
    assert_eq!(feed.next().await["type"], "error");
    feed.subscribe(&[app.doctor], None).await;
}

async fn an_upgrade_from_another_sites_page_is_refused_with_403(app: TestApp) {
    let token = app.sign_in("pat@example.com").await;
    let cookie = format!("medibook_session={token}");
    let upgrade = |origin: &str| {
        let mut request = feed_url(&app)
            .into_client_request()
            .expect("a WebSocket request");
        let headers = request.headers_mut();
        headers.insert("cookie", cookie.parse().expect("header value"));
        headers.insert("origin", origin.parse().expect("header value"));
        request
    };
    for foreign in [
        "https://evil.example",
        "http://evil.example:8080",
        "null",
        // Same host, another port: another origin.
        "http://127.0.0.1:1",
    ] {
        match tokio_tungstenite::connect_async(upgrade(foreign)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), StatusCode::FORBIDDEN, "{foreign}");
            }
            other => panic!("{foreign}: expected 403, got {other:?}"),
        }
    }
    // Our own pages, and clients that are not pages (no Origin), still connect.
    let (mut own, response) = tokio_tungstenite::connect_async(upgrade(&app.base))
        .await
        .expect("our own origin connects");
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    own.send(Message::text(
        json!({ "type": "subscribe", "doctor_ids": [app.doctor.to_string()] }).to_string(),
    ))
    .await
    .expect("the feed takes messages");
    let mut native = Feed::connect_with(&app, Some(&token)).await;
    native.subscribe(&[app.doctor], None).await;
}

async fn signing_out_signs_the_sessions_sockets_out_within_seconds(app: TestApp) {
    let token = app.sign_in("pat@example.com").await;
    let mut by_header = Feed::connect_with(&app, Some(&token)).await;
    let mut by_message = Feed::connect(&app).await;
    by_message
        .send(json!({ "type": "authenticate", "token": token }))
        .await;
    assert_eq!(by_message.next().await["type"], "authenticated");
    let other = app.sign_in("other@example.com").await;
    let mut bystander = Feed::connect_with(&app, Some(&other)).await;

    let began = Instant::now();
    let logout = app
        .http
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("an answer");
    assert!(logout.status().is_success(), "{}", logout.status());
    for feed in [&mut by_header, &mut by_message] {
        let message = feed.next().await;
        assert_eq!(message["type"], "signed_out", "{message}");
    }
    assert!(
        began.elapsed() < Duration::from_secs(6),
        "{:?}",
        began.elapsed()
    );
    // Still watching slots, anonymously; the other patient's socket is untouched.
    by_header.subscribe(&[app.doctor], None).await;
    bystander.subscribe(&[app.doctor], None).await;
}

async fn erasing_an_account_signs_its_sockets_out_and_closes_them(app: TestApp) {
    let token = app.sign_in("erased@example.com").await;
    let mut feed = Feed::connect_with(&app, Some(&token)).await;
    let erased = app.delete(&token, "/api/v1/me").await;
    assert_eq!(erased.status, StatusCode::OK, "{}", erased.body);
    assert_eq!(feed.next().await["type"], "signed_out");
    let close = loop {
        match tokio::time::timeout(PATIENCE, feed.socket.next())
            .await
            .expect("the close frame in time")
        {
            Some(Ok(Message::Close(frame))) => break frame.expect("a close code"),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(close.code), 1008);
    assert_eq!(close.reason.as_str(), "account erased");
}

/// Books both open slots of the test doctor's Tuesday morning after taking the rest of the day
/// off, and puts `waiters` on the Tuesday waitlist in order; returns the booker's token, the
/// appointments and the waiters' tokens.
async fn full_tuesday_with_waiters(
    app: &TestApp,
    waiters: &[&str],
) -> (String, Vec<String>, Vec<String>) {
    let start: Timestamp = tuesday("10:00").parse().expect("instant");
    app.database
        .add_time_off(&medibook_core::schedule::TimeOff {
            id: medibook_core::ids::TimeOffId::generate(),
            doctor_id: app.doctor,
            start,
            end: start + jiff::SignedDuration::from_hours(8),
            reason: "Training".into(),
        })
        .await
        .expect("time off");
    let booker = app.sign_in("booker@example.org").await;
    let appointments = vec![
        app.book(&booker, &tuesday("09:00")).await,
        app.book(&booker, &tuesday("09:30")).await,
    ];
    let mut tokens = Vec::new();
    for email in waiters {
        let token = app.sign_in(email).await;
        let joined = app
            .post(
                Some(&token),
                "/api/v1/waitlist",
                json!({ "doctor_id": app.doctor, "from": "2027-03-02", "to": "2027-03-02" }),
            )
            .await;
        assert_eq!(joined.status, StatusCode::CREATED, "{}", joined.body);
        tokens.push(token);
    }
    (booker, appointments, tokens)
}

async fn a_waitlist_offer_reaches_only_its_patient(app: TestApp) {
    let (booker, appointments, waiters) =
        full_tuesday_with_waiters(&app, &["first@example.org", "second@example.org"]).await;
    // The first waiter signs in with the upgrade request, the second in-band.
    let mut first = Feed::connect_with(&app, Some(&waiters[0])).await;
    let mut second = Feed::connect(&app).await;
    second
        .send(json!({ "type": "authenticate", "token": waiters[1] }))
        .await;
    assert_eq!(second.next().await["type"], "authenticated");
    let mut anonymous = Feed::connect(&app).await;
    for feed in [&mut first, &mut second, &mut anonymous] {
        feed.subscribe(&[app.doctor], None).await;
    }

    app.cancel(&booker, &appointments[0]).await;

    let entries = app.get(Some(&waiters[0]), "/api/v1/waitlist").await;
    let offer = &entries.body[0]["offer"];
    // Everyone sees the slot free and then held by the offer; only the first waiter the offer.
    for feed in [&mut first, &mut second, &mut anonymous] {
        let freed = feed.next().await;
        assert_eq!(
            (freed["type"].as_str(), freed["status"].as_str()),
            (Some("slot"), Some("available"))
        );
        let held = feed.next().await;
        assert_eq!(
            (held["type"].as_str(), held["status"].as_str()),
            (Some("slot"), Some("held"))
        );
        assert_eq!(held["seq"], freed["seq"].as_i64().expect("seq") + 1);
    }
    let message = first.next().await;
    assert_eq!(message["type"], "waitlist_offer", "{message}");
    for field in ["hold_id", "doctor_id", "start", "end", "expires_at"] {
        assert_eq!(message[field], offer[field], "{field}");
    }
    assert_eq!(message["offer_id"], offer["offer_id"]);
    first.expect_nothing_more().await;
    second.expect_nothing_more().await;
    anonymous.expect_nothing_more().await;
}

async fn the_page_session_cookie_signs_the_feed_in_and_a_stale_one_watches_anonymously(
    app: TestApp,
) {
    let (booker, appointments, waiters) =
        full_tuesday_with_waiters(&app, &["first@example.org"]).await;
    let mut signed_in =
        Feed::connect_with_cookie(&app, &format!("medibook_session={}", waiters[0])).await;
    let mut stale = Feed::connect_with_cookie(&app, "medibook_session=not-a-token").await;
    for feed in [&mut signed_in, &mut stale] {
        feed.subscribe(&[app.doctor], None).await;
    }

    app.cancel(&booker, &appointments[0]).await;

    for feed in [&mut signed_in, &mut stale] {
        for status in ["available", "held"] {
            let change = feed.next().await;
            assert_eq!(change["status"], status, "{change}");
        }
    }
    let offer = signed_in.next().await;
    assert_eq!(offer["type"], "waitlist_offer", "{offer}");
    signed_in.expect_nothing_more().await;
    stale.expect_nothing_more().await;
}

async fn an_offer_made_while_away_is_sent_when_the_patient_signs_in(app: TestApp) {
    let (booker, appointments, waiters) =
        full_tuesday_with_waiters(&app, &["first@example.org"]).await;
    app.cancel(&booker, &appointments[0]).await;

    let mut feed = Feed::connect(&app).await;
    feed.send(json!({ "type": "authenticate", "token": waiters[0] }))
        .await;
    assert_eq!(feed.next().await["type"], "authenticated");
    let offer = feed.next().await;
    assert_eq!(offer["type"], "waitlist_offer", "{offer}");
    let start: Timestamp = offer["start"]
        .as_str()
        .expect("start")
        .parse()
        .expect("instant");
    assert_eq!(
        start,
        tuesday("09:00").parse::<Timestamp>().expect("instant")
    );
    feed.expect_nothing_more().await;
}

async fn time_off_closes_and_reopens_slots_on_the_feed(app: TestApp) {
    let doctor = crate::staff::sign_in_as_doctor(&app, "doc@example.org", app.doctor).await;
    let waiter = app.sign_in("waiter@example.org").await;
    let mut feed = Feed::connect(&app).await;
    feed.subscribe(&[app.doctor], None).await;

    // Taking Tuesday 09:00-10:00 off closes its two free slots.
    let added = app
        .post(
            Some(&doctor),
            "/api/v1/doctor/time-off",
            json!({
                "start": tuesday("09:00"), "end": tuesday("10:00"), "reason": "Dentist",
            }),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    let closed = feed.slot_changes(app.doctor, 0, 2).await;
    assert_eq!(
        closed,
        vec![
            Change::of(&tuesday("09:00"), "unavailable"),
            Change::of(&tuesday("09:30"), "unavailable"),
        ]
    );
    assert_eq!(app.slot_status(app.doctor, &tuesday("09:00")).await, None);

    // A patient waits for that morning (nothing else suits them); removing the time off
    // reopens both slots, and the first is offered to the waiter at once, held for them.
    let joined = app
        .post(
            Some(&waiter),
            "/api/v1/waitlist",
            json!({
                "doctor_id": app.doctor, "from": "2027-03-02", "to": "2027-03-02",
                "earliest": "09:00", "latest": "10:00",
            }),
        )
        .await;
    assert_eq!(joined.status, StatusCode::CREATED, "{}", joined.body);
    assert_eq!(joined.body["state"], "waiting", "{}", joined.body);
    let id = added.body["id"].as_str().expect("time off id");
    let removed = app
        .delete(&doctor, &format!("/api/v1/doctor/time-off/{id}"))
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    let reopened = feed.slot_changes(app.doctor, 2, 3).await;
    assert_eq!(
        reopened,
        vec![
            Change::of(&tuesday("09:00"), "available"),
            Change::of(&tuesday("09:30"), "available"),
            Change::of(&tuesday("09:00"), "held"),
        ]
    );
    feed.expect_nothing_more().await;

    // Saving the schedule unchanged changes no slot.
    let schedule = app.get(Some(&doctor), "/api/v1/doctor/schedule").await;
    assert_eq!(schedule.status, StatusCode::OK, "{}", schedule.body);
    let saved = crate::staff::send(
        &app,
        reqwest::Method::PUT,
        Some(&doctor),
        "/api/v1/doctor/schedule",
        Some(crate::staff::test_doctor_schedule()),
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    feed.expect_nothing_more().await;
}

backend_tests_with!(
    default_feed;
    anyone_may_watch_slots_signed_in_or_not,
    an_upgrade_from_another_sites_page_is_refused_with_403,
    signing_out_signs_the_sessions_sockets_out_within_seconds,
    erasing_an_account_signs_its_sockets_out_and_closes_them,
    a_token_that_is_not_valid_is_refused,
    a_waitlist_offer_reaches_only_its_patient,
    the_page_session_cookie_signs_the_feed_in_and_a_stale_one_watches_anonymously,
    an_offer_made_while_away_is_sent_when_the_patient_signs_in,
    time_off_closes_and_reopens_slots_on_the_feed,
    holding_booking_and_cancelling_are_seen_in_order,
    released_and_expired_holds_free_their_slots,
    rescheduling_frees_the_old_slot_and_books_the_new,
    a_reconnect_with_after_seq_receives_exactly_what_it_missed,
    a_resume_from_beyond_the_log_is_told_to_resync,
    a_subscriber_sees_only_the_doctors_it_watches,
    bad_messages_get_an_error_and_the_connection_stays_open;
    small_queue;
    a_client_that_stops_reading_is_told_to_resync_and_slows_no_one_else;
    quick_heartbeat;
    a_client_answering_pings_stays_open_past_the_idle_timeout,
    a_client_that_never_answers_is_closed_after_the_idle_timeout,
);

// Settings of the groups above.

/// The feed as the server runs it by default.
fn default_feed(_settings: &mut Settings) {}

/// Messages queued for one client in [`small_queue`].
const SMALL_QUEUE: usize = 8;

/// A queue that a client which stops reading overflows after a few changes.
fn small_queue(settings: &mut Settings) {
    settings.feed_queue_capacity = u16::try_from(SMALL_QUEUE).expect("a small queue");
}

/// The ping interval of [`quick_heartbeat`].
const QUICK_PING: Duration = Duration::from_millis(200);
/// The idle timeout of [`quick_heartbeat`].
const QUICK_IDLE: Duration = Duration::from_secs(1);

/// A heartbeat fast enough to watch several idle periods within seconds.
fn quick_heartbeat(settings: &mut Settings) {
    settings.feed_ping_ms = u64::try_from(QUICK_PING.as_millis()).expect("milliseconds");
    settings.feed_idle_ms = u64::try_from(QUICK_IDLE.as_millis()).expect("milliseconds");
}

// Back-pressure.

/// Fewer bytes than any slot message takes on the wire (a type, a number, a doctor's UUID, two
/// instants and a status come to about 150).
const SLOT_MESSAGE_MIN_BYTES: usize = 140;

async fn a_client_that_stops_reading_is_told_to_resync_and_slows_no_one_else(mut app: TestApp) {
    // Small socket buffers on both ends bound what the OS holds for a client that stops
    // reading, so a known number of changes is sure to overflow its queue.
    let send_buffer = app.switch_to_small_send_buffers().await;
    let token = app.sign_in("pat@example.com").await;
    let mut fast = Feed::connect(&app).await;
    let (mut slow, receive_buffer) = Feed::connect_with_small_receive_buffer(&app).await;
    let start = latest_seq(&fast.subscribe(&[app.doctor], None).await, app.doctor);
    assert_eq!(
        latest_seq(&slow.subscribe(&[app.doctor], None).await, app.doctor),
        start
    );

    // The slow client reads nothing now. The OS counts its own overhead against the buffer
    // sizes, so fewer messages than this fill both buffers; then come the queue, the message
    // the server is stuck writing, and one more change that finds the queue full.
    let overflow = (send_buffer + receive_buffer) / SLOT_MESSAGE_MIN_BYTES + SMALL_QUEUE + 2;
    let mut latest = start;
    while latest - start < i64::try_from(overflow).expect("a count") {
        latest = hold_and_release(&app, &token, &mut fast, latest).await;
    }

    // Reading again, it gets the changes that fit, in order, then a resync at the latest number.
    let mut delivered = start;
    let resync = loop {
        let message = slow.next().await;
        if message["type"] != "slot" {
            break message;
        }
        delivered += 1;
        assert_eq!(
            message["seq"], delivered,
            "out of order or repeated: {message}"
        );
    };
    assert_eq!(resync["type"], "resync", "{resync}");
    assert_eq!(resync["doctor_id"], app.doctor.to_string(), "{resync}");
    assert_eq!(resync["latest_seq"], latest, "{resync}");
    assert!(
        delivered < latest,
        "the slow client missed nothing, yet was told to resync"
    );

    // Then both continue live after that number, without a gap or a repeat.
    let after = hold_and_release(&app, &token, &mut fast, latest).await;
    assert_eq!(
        slow.slot_changes(app.doctor, latest, 2).await,
        [
            Change::of(&tuesday("09:00"), "held"),
            Change::of(&tuesday("09:00"), "available"),
        ]
    );
    assert_eq!(after, latest + 2);
    slow.expect_nothing_more().await;
    fast.expect_nothing_more().await;
}

/// Holds and releases the 09:00 slot through the API, checking that `fast` sees both changes
/// at once, numbered after `last`; returns the new last number.
async fn hold_and_release(app: &TestApp, token: &str, fast: &mut Feed, last: i64) -> i64 {
    let slot = tuesday("09:00");
    let hold = app.hold(token, app.doctor, &slot).await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    assert_eq!(
        fast.slot_changes(app.doctor, last, 1).await,
        [Change::of(&slot, "held")]
    );
    let released = app
        .delete(token, &format!("/api/v1/holds/{}", hold.id()))
        .await;
    assert!(
        released.status.is_success(),
        "{} {}",
        released.status,
        released.body
    );
    assert_eq!(
        fast.slot_changes(app.doctor, last + 1, 1).await,
        [Change::of(&slot, "available")]
    );
    last + 2
}

// Heartbeat.

async fn a_client_answering_pings_stays_open_past_the_idle_timeout(app: TestApp) {
    let mut feed = Feed::connect(&app).await;
    let pings = feed.pings_within(3 * QUICK_IDLE).await;
    // About one every QUICK_PING; a busy machine may delay some.
    assert!(pings >= 3, "only {pings} pings in three idle periods");
    // Still open, and still serving.
    let ack = feed.subscribe(&[app.doctor], None).await;
    assert_eq!(latest_seq(&ack, app.doctor), 0);
}

async fn a_client_that_never_answers_is_closed_after_the_idle_timeout(app: TestApp) {
    let started = Instant::now();
    let mut client = SilentClient::connect(&app).await;
    let mut pings = 0;
    let close = loop {
        match client.next_frame().await {
            Some(Frame::Ping) => pings += 1,
            Some(Frame::Close(payload)) => break payload,
            None => panic!("the connection ended without a close frame"),
        }
    };
    let closed_after = started.elapsed();
    assert!(pings >= 1, "the server closed without pinging first");
    assert_eq!(
        close.get(..2),
        Some(&1001_u16.to_be_bytes()[..]),
        "going away"
    );
    assert_eq!(close.get(2..), Some(&b"idle"[..]));
    assert!(
        closed_after >= QUICK_IDLE,
        "closed after {closed_after:?}, within the idle timeout"
    );
    assert!(
        closed_after < 3 * QUICK_IDLE,
        "closed only after {closed_after:?}"
    );
    assert_eq!(
        client.next_frame().await,
        None,
        "the server hangs up after its close frame"
    );
}

/// A server frame to a client that subscribed to nothing, as [`SilentClient`] reads it.
#[derive(Debug, PartialEq, Eq)]
enum Frame {
    Ping,
    /// The close frame's payload: a status code and a reason.
    Close(Vec<u8>),
}

/// A feed client that completes the handshake and then only listens: it reads the raw frames
/// itself, so nothing ever answers a ping or sends anything else.
struct SilentClient {
    stream: TcpStream,
    /// Bytes read but not yet parsed into frames.
    unread: Vec<u8>,
}

impl SilentClient {
    async fn connect(app: &TestApp) -> Self {
        let address = server_address(app);
        let mut stream = TcpStream::connect(address).await.expect("connect");
        let handshake = format!(
            "GET /api/v1/ws HTTP/1.1\r\nHost: {address}\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        stream
            .write_all(handshake.as_bytes())
            .await
            .expect("send the handshake");
        let mut client = Self {
            stream,
            unread: Vec::new(),
        };
        let end = loop {
            if let Some(at) = client.unread.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            assert!(
                client.fill().await,
                "the server hung up during the handshake"
            );
        };
        let response: Vec<u8> = client.unread.drain(..end).collect();
        let response = String::from_utf8_lossy(&response);
        assert!(
            response.starts_with("HTTP/1.1 101"),
            "not switching protocols: {response}"
        );
        client
    }

    /// Reads more bytes; `false` at the end of the stream. Panics if none come in time.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0_u8; 1024];
        let read = tokio::time::timeout(PATIENCE, self.stream.read(&mut chunk))
            .await
            .expect("the server writes or hangs up in time")
            .expect("the connection stays readable");
        self.unread.extend_from_slice(&chunk[..read]);
        read > 0
    }

    /// The next frame, or `None` when the server hung up. The server's frames are unmasked and
    /// short (under 126 bytes) here; anything but a ping or a close is a failure.
    async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let [first, length, rest @ ..] = self.unread.as_slice() {
                let (opcode, length) = (first & 0x0f, usize::from(*length));
                assert!(length < 126, "a long or masked frame from the server");
                if rest.len() >= length {
                    let payload = rest[..length].to_vec();
                    self.unread.drain(..2 + length);
                    return Some(match opcode {
                        0x8 => Frame::Close(payload),
                        0x9 => Frame::Ping,
                        other => panic!("unexpected frame {other:#x}: {payload:?}"),
                    });
                }
            }
            if !self.fill().await {
                assert!(self.unread.is_empty(), "the server hung up mid-frame");
                return None;
            }
        }
    }
}
