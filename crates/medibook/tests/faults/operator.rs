//! What a careless operator might do, made safe: an in-memory database for a try-out works;
//! the database files and their directories are created owner-only; `RUST_LOG=debug` logs no
//! secret (one-time codes, bearer and refresh tokens, calendar-feed tokens, OAuth codes).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use medibook_integrations::test_smtp::spawn_smtp_server;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::server::{Server, medibook};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_memory_database_serves_a_try_out() {
    for url in ["sqlite::memory:", "sqlite://:memory:"] {
        let server = Server::start(url, medibook("in-memory", &[], true)).await;
        let ready = reqwest::get(server.url("/readyz")).await.unwrap();
        assert_eq!(ready.status(), StatusCode::OK, "{url}");
        assert!(
            !server.doctors().await.is_empty(),
            "{url}: the demo clinic is there"
        );
        let http = reqwest::Client::new();
        let token = server.sign_in(&http, "try.out@example.org").await;
        let me: Value = get_json(&http, &server, "/api/v1/me", &token).await;
        assert_eq!(me["email"], "try.out@example.org", "{url}: {me}");
    }
}

/// `GET path` with a bearer token, as JSON.
async fn get_json(http: &reqwest::Client, server: &Server, path: &str, token: &str) -> Value {
    http.get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_its_wal_and_its_directories_are_created_owner_only() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("clinic").join("data");
    let file = dir.join("medibook.db");
    let url = format!("sqlite://{}", file.display());
    let server = Server::start(&url, medibook("modes", &[], true)).await;
    let http = reqwest::Client::new();
    server.sign_in(&http, "modes@example.org").await;
    assert_eq!(mode(&root.path().join("clinic")), 0o700);
    assert_eq!(mode(&dir), 0o700);
    for name in ["medibook.db", "medibook.db-wal", "medibook.db-shm"] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_hold_no_codes_tokens_or_feed_secrets() {
    let (smtp, mut inbox) = spawn_smtp_server("250 OK").await;
    let smtp_url = format!("smtp://{smtp}");
    let database = crate::common::TestDatabase::create(crate::common::Backend::Sqlite)
        .await
        .unwrap();
    let server = Server::start(
        &database.url,
        medibook(
            "debug-logs",
            &[
                ("RUST_LOG", "debug"),
                ("MEDIBOOK_SMTP_URL", &smtp_url),
                ("MEDIBOOK_MAIL_FROM", "clinic@example.org"),
                ("MEDIBOOK_OUTBOX_SECONDS", "1"),
            ],
            false,
        ),
    )
    .await;
    let http = reqwest::Client::new();
    let email = "secretive@example.org";
    let sent = http
        .post(server.url("/api/v1/auth/otp"))
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let mail = tokio::time::timeout(Duration::from_secs(30), inbox.recv())
        .await
        .expect("the code is mailed")
        .expect("a message");
    let body = mail.decoded_body();
    let code: String = body
        .split("code is ")
        .nth(1)
        .expect("a code in the mail")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let session: Value = http
        .post(server.url("/api/v1/auth/verify"))
        .json(&json!({ "email": email, "code": code }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = session["token"].as_str().expect("a token").to_owned();
    let refresh = session["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let feeds: Value = get_json(&http, &server, "/api/v1/me/calendar", &token).await;
    let feed_url = feeds["feed_url"].as_str().expect("a feed URL");
    let feed_path = &feed_url[feed_url.find("/calendar/").expect("a feed path")..];
    let feed_token = feed_path
        .trim_start_matches("/calendar/")
        .trim_end_matches(".ics")
        .to_owned();
    let feed = http.get(server.url(feed_path)).send().await.unwrap();
    assert_eq!(feed.status(), StatusCode::OK);
    http.get(
        server.url("/profile/google/callback?code=oauth-code-4f1d9e&state=oauth-state-77ab2c"),
    )
    .bearer_auth(&token)
    .send()
    .await
    .unwrap();
    // The requests were logged, with their addresses redacted.
    server
        .wait_for_line(
            |line| line.contains("/calendar/[redacted]"),
            Duration::from_secs(10),
        )
        .await;
    let log = server.log_text();
    assert!(log.contains("DEBUG"), "the server logs at debug level");
    for (what, secret) in [
        ("one-time code", code.as_str()),
        ("access token", token.as_str()),
        ("refresh token", refresh.as_str()),
        ("calendar-feed token", feed_token.as_str()),
        ("OAuth code", "oauth-code-4f1d9e"),
        ("OAuth state", "oauth-state-77ab2c"),
    ] {
        assert!(secret.len() >= 6, "{what}: {secret:?}");
        let leaks: Vec<&str> = log.lines().filter(|line| line.contains(secret)).collect();
        assert!(
            leaks.is_empty(),
            "the {what} is in the debug log: {leaks:#?}"
        );
    }
}
