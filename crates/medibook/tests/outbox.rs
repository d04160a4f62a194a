//! One-time codes go out through the outbox and the real SMTP client: a provider outage delays
//! a code but never loses it or fails the request, and a sent code's text is erased from the
//! database. Runs on SQLite, and on PostgreSQL when `MEDIBOOK_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use medibook::app::{App, open_database};
use medibook::settings::Settings;
use medibook_core::clock::Clock;
use medibook_core::clock::ManualClock;
use medibook_core::delivery::OutboundMessage;
use medibook_core::identity::{Email, Identifier};
use medibook_core::outbox::{
    MessageKind, NewMessage, OutboxCodeSender, OutboxRepository, OutboxWorker, RetryPolicy,
};
use medibook_integrations::test_smtp::spawn_smtp_server_on;
use medibook_integrations::{Channels, SmtpSettings};
use serde_json::json;

/// A migrated database, a test clock, the outbox over them, and an SMTP channel pointing at a
/// port where no server listens yet (the provider is down until a test starts one there).
struct Rig {
    _database: common::TestDatabase,
    settings: Settings,
    database: medibook_store::Database,
    clock: Arc<ManualClock>,
    outbox: Arc<dyn OutboxRepository>,
    smtp_port: u16,
    worker: OutboxWorker,
}

async fn rig(postgres: bool) -> Option<Rig> {
    let backend = if postgres {
        common::Backend::Postgres
    } else {
        common::Backend::Sqlite
    };
    let test_database = common::TestDatabase::create(backend).await?;
    let settings = Settings {
        database_url: Some(test_database.url.clone()),
        data_dir: test_database.dir().to_path_buf(),
        ..Settings::default()
    };
    let database = open_database(&settings).await.unwrap();
    let clock = Arc::new(ManualClock::new(
        "2027-03-01T08:00:00Z".parse::<Timestamp>().unwrap(),
    ));
    let outbox: Arc<dyn OutboxRepository> = Arc::new(database.clone());
    let smtp_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let channels = Channels::from_settings(
        Some(&SmtpSettings {
            url: format!("smtp://127.0.0.1:{smtp_port}"),
            from: "MediBook <no-reply@clinic.example>".into(),
        }),
        None,
    )
    .unwrap();
    let worker = OutboxWorker::new(
        outbox.clone(),
        Arc::new(channels),
        clock.clone(),
        RetryPolicy::default(),
    );
    Some(Rig {
        _database: test_database,
        settings,
        database,
        clock,
        outbox,
        smtp_port,
        worker,
    })
}

async fn codes_survive_an_smtp_outage(postgres: bool) {
    let Some(Rig {
        _database: _keep_the_database,
        settings,
        database,
        clock,
        outbox,
        smtp_port: port,
        worker,
        ..
    }) = rig(postgres).await
    else {
        return;
    };
    let app = App::build(
        &settings,
        database.clone(),
        b"test secret that is long enough for hmac keys",
        clock.clone(),
        Arc::new(OutboxCodeSender::new(outbox, clock.clone())),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(medibook_web::serve(
        listener,
        app.router,
        std::future::pending(),
    ));
    let http = reqwest::Client::new();

    let requested = http
        .post(format!("{base}/api/v1/auth/otp"))
        .json(&json!({ "email": "ada@example.org" }))
        .send()
        .await
        .unwrap();
    assert_eq!(requested.status(), 202, "an outage never fails the request");

    let round = worker.deliver_due().await.unwrap();
    assert_eq!((round.sent, round.retried, round.failed), (0, 1, 0));
    let row = medibook_store::sql::query("SELECT status, attempts, last_error, body FROM outbox")
        .fetch_one(database.pool())
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("status"), "pending");
    assert_eq!(row.get::<i64, _>("attempts"), 1);
    assert!(
        !row.get::<Option<String>, _>("last_error")
            .unwrap_or_default()
            .is_empty()
    );

    // Not due again before its backoff.
    assert_eq!(worker.deliver_due().await.unwrap().sent, 0);

    // The provider comes back; after the backoff the code goes out, once.
    let (_, mut received) = spawn_smtp_server_on(&format!("127.0.0.1:{port}"), "250 OK").await;
    clock.advance(SignedDuration::from_secs(6));
    let round = worker.deliver_due().await.unwrap();
    assert_eq!((round.sent, round.retried, round.failed), (1, 0, 0));
    assert_eq!(
        worker.deliver_due().await.unwrap().sent,
        0,
        "sent exactly once"
    );

    let email = received.recv().await.unwrap();
    assert_eq!(email.rcpt_to, vec!["ada@example.org".to_owned()]);
    assert_eq!(
        email.header("Subject").as_deref(),
        Some("Your MediBook one-time code")
    );
    let body = email.body();
    let code: String = body
        .split_whitespace()
        .find(|word| {
            word.trim_end_matches('.').len() == 6
                && word
                    .trim_end_matches('.')
                    .bytes()
                    .all(|b| b.is_ascii_digit())
        })
        .map(|word| word.trim_end_matches('.').to_owned())
        .expect("the email carries the code");

    let row = medibook_store::sql::query("SELECT status, body FROM outbox")
        .fetch_one(database.pool())
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("status"), "sent");
    assert_eq!(
        row.get::<String, _>("body"),
        "",
        "the code's text is erased once sent"
    );

    let verified = http
        .post(format!("{base}/api/v1/auth/verify"))
        .json(&json!({ "email": "ada@example.org", "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), 200);
}

async fn undeliverable_codes_are_given_up_when_they_expire(postgres: bool) {
    let Some(Rig {
        _database: _keep_the_database,
        database,
        clock,
        outbox,
        worker,
        ..
    }) = rig(postgres).await
    else {
        return;
    };
    let sender = OutboxCodeSender::new(outbox.clone(), clock.clone());
    use medibook_core::ports::CodeSender;
    let to = medibook_core::identity::Identifier::Email(
        medibook_core::identity::Email::parse("ada@example.org").unwrap(),
    );
    sender.send_code(&to, "123456").await.unwrap();

    assert_eq!(worker.deliver_due().await.unwrap().retried, 1);
    clock.advance(SignedDuration::from_mins(11));
    let round = worker.deliver_due().await.unwrap();
    assert_eq!(
        round.failed, 1,
        "a code past its lifetime is given up, not sent late"
    );
    let row = medibook_store::sql::query("SELECT status, body, last_error FROM outbox")
        .fetch_one(database.pool())
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("status"), "failed");
    assert_eq!(row.get::<String, _>("body"), "");
    assert!(row.get::<String, _>("last_error").contains("expired"));
}

/// A message to `to` of `kind`, due at `due_at` (now when `None`).
fn message(key: &str, to: &str, due_at: Option<Timestamp>) -> NewMessage {
    NewMessage {
        idempotency_key: key.to_owned(),
        message: OutboundMessage {
            to: Identifier::Email(Email::parse(to).unwrap()),
            subject: "Your appointment".to_owned(),
            body: "See you soon.".to_owned(),
            attachment: None,
        },
        expires_at: None,
        sensitive: false,
        kind: MessageKind::Booked,
        appointment_id: None,
        due_at,
    }
}

async fn finished_messages_are_purged_after_the_retention_and_pending_ones_never(postgres: bool) {
    let Some(Rig {
        _database: _keep_the_database,
        database,
        clock,
        outbox,
        smtp_port,
        worker,
        ..
    }) = rig(postgres).await
    else {
        return;
    };
    let (_smtp, _received) =
        spawn_smtp_server_on(&format!("127.0.0.1:{smtp_port}"), "250 OK").await;
    let start = clock.now();
    for key in ["sent-1", "sent-2"] {
        outbox
            .enqueue(&message(key, "ada@example.org", None), start)
            .await
            .unwrap();
    }
    let much_later = start
        .checked_add(SignedDuration::from_hours(24 * 100))
        .unwrap();
    outbox
        .enqueue(
            &message("later", "ada@example.org", Some(much_later)),
            start,
        )
        .await
        .unwrap();
    assert_eq!(worker.deliver_due().await.unwrap().sent, 2);
    let retained = worker.with_retention(Some(SignedDuration::from_hours(24 * 30)));
    let rows = |status: &'static str| {
        let pool = database.pool().clone();
        async move {
            medibook_store::sql::query("SELECT COUNT(*) AS n FROM outbox WHERE status = $1")
                .bind(status)
                .fetch_one(&pool)
                .await
                .unwrap()
                .get::<i64, _>("n")
        }
    };

    clock.advance(SignedDuration::from_hours(24 * 29));
    assert_eq!(retained.purge_finished().await.unwrap(), 0, "kept 30 days");
    clock.advance(SignedDuration::from_hours(24 * 2));
    outbox
        .enqueue(&message("recent", "ada@example.org", None), clock.now())
        .await
        .unwrap();
    assert_eq!(retained.deliver_due().await.unwrap().sent, 1);

    assert_eq!(retained.purge_finished().await.unwrap(), 2);
    assert_eq!(rows("sent").await, 1, "the recent message is kept");
    assert_eq!(
        rows("pending").await,
        1,
        "a pending message is never purged"
    );
    assert_eq!(retained.purge_finished().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_finished_messages_are_purged_after_the_retention() {
    finished_messages_are_purged_after_the_retention_and_pending_ones_never(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_finished_messages_are_purged_after_the_retention() {
    finished_messages_are_purged_after_the_retention_and_pending_ones_never(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_codes_survive_an_smtp_outage() {
    codes_survive_an_smtp_outage(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_codes_survive_an_smtp_outage() {
    codes_survive_an_smtp_outage(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_undeliverable_codes_are_given_up_when_they_expire() {
    undeliverable_codes_are_given_up_when_they_expire(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_undeliverable_codes_are_given_up_when_they_expire() {
    undeliverable_codes_are_given_up_when_they_expire(true).await;
}
