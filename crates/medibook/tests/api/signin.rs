//! Signing in with one-time codes: a code works once, for ten minutes, for five tries, and only
//! the latest one; emails and phones are normalised so one person is one user; the database
//! keeps a keyed hash, never the code.

// Integration-test helpers are not `#[test]` functions, so clippy's `allow-expect-in-tests`
// does not reach them; a scenario that meets an unexpected reply should stop and say so.
#![allow(clippy::expect_used)]

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::harness::{Reply, TOKEN_MINUTES, TestApp};

backend_tests!(
    an_email_code_signs_in_a_patient_once,
    wrong_codes_are_refused_and_five_of_them_kill_the_code,
    codes_expire_after_ten_minutes,
    requesting_a_new_code_invalidates_the_previous_one,
    phone_numbers_sign_in_in_e164_form,
    malformed_identifiers_and_codes_get_422_and_burn_no_attempts,
    the_same_email_in_any_case_is_the_same_user,
    the_database_stores_an_hmac_of_the_code_not_the_code,
    tokens_expire_by_the_application_clock,
);

async fn request_code(app: &TestApp, body: Value) -> Reply {
    app.post(None, "/api/v1/auth/otp", body).await
}

async fn verify(app: &TestApp, body: Value) -> Reply {
    app.post(None, "/api/v1/auth/verify", body).await
}

/// Sends a code to `email` and returns it as the recording sender saw it.
async fn code_for(app: &TestApp, email: &str) -> String {
    let sent = request_code(app, json!({ "email": email })).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
    app.codes.last_code(email).expect("a code was sent")
}

/// A six-digit code that is not `code`.
fn other_than(code: &str) -> String {
    let n: u32 = code.parse().expect("digits");
    format!("{:06}", (n + 1) % 1_000_000)
}

fn assert_otp_invalid(reply: &Reply, what: &str) {
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "{what}: {}",
        reply.body
    );
    assert_eq!(reply.problem_code(), "otp_invalid", "{what}");
}

fn assert_validation(reply: &Reply, what: &str) {
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{what}: {}",
        reply.body
    );
    assert_eq!(reply.problem_code(), "validation", "{what}");
}

async fn an_email_code_signs_in_a_patient_once(app: TestApp) {
    let sent = request_code(&app, json!({ "email": "ada@example.org" })).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
    let code = app
        .codes
        .last_code("ada@example.org")
        .expect("a code was sent");
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );

    let session = verify(&app, json!({ "email": "ada@example.org", "code": code })).await;
    assert_eq!(session.status, StatusCode::OK, "{}", session.body);
    let token = session.body["token"].as_str().expect("token");
    assert!(!token.is_empty());
    assert!(session.body["expires_at"].is_string(), "{}", session.body);
    let user = &session.body["user"];
    assert_eq!(user["role"], "patient");
    assert_eq!(user["email"], "ada@example.org");
    assert!(user["phone"].is_null(), "{user}");
    assert!(
        user["id"]
            .as_str()
            .is_some_and(|id| id.parse::<uuid::Uuid>().is_ok()),
        "{user}"
    );

    let mine = app.get(Some(token), "/api/v1/appointments").await;
    assert_eq!(
        mine.status,
        StatusCode::OK,
        "the token works: {}",
        mine.body
    );

    let replay = verify(&app, json!({ "email": "ada@example.org", "code": code })).await;
    assert_otp_invalid(&replay, "the same code a second time");
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
}

async fn wrong_codes_are_refused_and_five_of_them_kill_the_code(app: TestApp) {
    let never_sent = verify(
        &app,
        json!({ "email": "ada@example.org", "code": "123456" }),
    )
    .await;
    assert_otp_invalid(&never_sent, "a code that was never sent");

    let code = code_for(&app, "ada@example.org").await;
    let wrong = other_than(&code);
    for attempt in 1..=5 {
        let reply = verify(&app, json!({ "email": "ada@example.org", "code": wrong })).await;
        assert_otp_invalid(&reply, &format!("wrong attempt {attempt}"));
    }
    let right = verify(&app, json!({ "email": "ada@example.org", "code": code })).await;
    assert_otp_invalid(&right, "the right code after five wrong ones");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users").await,
        0,
        "nobody signed in"
    );

    // Four wrong attempts leave the code usable.
    let code = code_for(&app, "ada@example.org").await;
    let wrong = other_than(&code);
    for _ in 1..=4 {
        let reply = verify(&app, json!({ "email": "ada@example.org", "code": wrong })).await;
        assert_otp_invalid(&reply, "wrong attempt");
    }
    let right = verify(&app, json!({ "email": "ada@example.org", "code": code })).await;
    assert_eq!(right.status, StatusCode::OK, "{}", right.body);
}

async fn codes_expire_after_ten_minutes(app: TestApp) {
    let code = code_for(&app, "ada@example.org").await;
    app.advance(9);
    let fresh = verify(&app, json!({ "email": "ada@example.org", "code": code })).await;
    assert_eq!(
        fresh.status,
        StatusCode::OK,
        "nine minutes old: {}",
        fresh.body
    );

    let code = code_for(&app, "ada@example.org").await;
    app.advance(11);
    let stale = verify(&app, json!({ "email": "ada@example.org", "code": code })).await;
    assert_otp_invalid(&stale, "eleven minutes old");
}

async fn requesting_a_new_code_invalidates_the_previous_one(app: TestApp) {
    let first = code_for(&app, "ada@example.org").await;
    let mut second = code_for(&app, "ada@example.org").await;
    // Two random codes coincide once in a million; ask until they differ.
    while second == first {
        second = code_for(&app, "ada@example.org").await;
    }

    let old = verify(&app, json!({ "email": "ada@example.org", "code": first })).await;
    assert_otp_invalid(&old, "the replaced code");
    let new = verify(&app, json!({ "email": "ada@example.org", "code": second })).await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.body);
}

async fn phone_numbers_sign_in_in_e164_form(app: TestApp) {
    let sent = request_code(&app, json!({ "phone": "+49 30 1234567" })).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
    assert_eq!(
        app.codes.last_code("+49 30 1234567"),
        None,
        "recorded under the raw form"
    );
    let code = app
        .codes
        .last_code("+49301234567")
        .expect("recorded under E.164");

    // Any spelling of the same number finds the code.
    let session = verify(&app, json!({ "phone": "0049 (30) 123-4567", "code": code })).await;
    assert_eq!(session.status, StatusCode::OK, "{}", session.body);
    let user = &session.body["user"];
    assert_eq!(user["phone"], "+49301234567");
    assert!(user["email"].is_null(), "{user}");
    assert_eq!(user["role"], "patient");
}

async fn malformed_identifiers_and_codes_get_422_and_burn_no_attempts(app: TestApp) {
    let bad_identifiers = [
        (json!({ "email": "ada" }), "email without @"),
        (
            json!({ "email": "ada@example" }),
            "email without a dot in the domain",
        ),
        (json!({ "email": "" }), "empty email"),
        (json!({ "email": "a da@example.org" }), "email with a space"),
        (
            json!({ "phone": "030 1234567" }),
            "phone without country code",
        ),
        (json!({ "phone": "+12" }), "phone too short"),
        (json!({ "phone": "+49 30 abc" }), "phone with letters"),
        (
            json!({ "email": "ada@example.org", "phone": "+49301234567" }),
            "both email and phone",
        ),
        (json!({}), "neither email nor phone"),
        (
            json!({ "email": null, "phone": null }),
            "null email and phone",
        ),
    ];
    for (body, what) in &bad_identifiers {
        assert_validation(
            &request_code(&app, body.clone()).await,
            &format!("otp: {what}"),
        );
        let mut with_code = body.clone();
        with_code["code"] = json!("123456");
        assert_validation(&verify(&app, with_code).await, &format!("verify: {what}"));
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM one_time_codes").await,
        0,
        "no code was issued"
    );

    let code = code_for(&app, "ada@example.org").await;
    for (bad, what) in [
        (json!("12345"), "five digits"),
        (json!("1234567"), "seven digits"),
        (json!("abcdef"), "letters"),
        (json!("12 345"), "a space inside"),
        (json!(""), "empty"),
        (json!("١٢٣٤٥٦"), "non-ASCII digits"),
    ] {
        let reply = verify(&app, json!({ "email": "ada@example.org", "code": bad })).await;
        assert_validation(&reply, &format!("code of {what}"));
    }
    let reply = verify(&app, json!({ "email": "ada@example.org", "code": 123456 })).await;
    assert_validation(&reply, "code as a number");

    // Six malformed codes were not counted as wrong guesses: the real code still works.
    let session = verify(&app, json!({ "email": "ada@example.org", "code": code })).await;
    assert_eq!(session.status, StatusCode::OK, "{}", session.body);
}

async fn the_same_email_in_any_case_is_the_same_user(app: TestApp) {
    let sent = request_code(&app, json!({ "email": "Ada@Example.org" })).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
    let code = app
        .codes
        .last_code("ada@example.org")
        .expect("sent to the lower-cased address");
    let first = verify(&app, json!({ "email": "Ada@Example.org", "code": code })).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["user"]["email"], "ada@example.org");

    let code = code_for(&app, "ada@example.org").await;
    let second = verify(&app, json!({ "email": "  ADA@example.ORG ", "code": code })).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);

    assert_eq!(first.body["user"]["id"], second.body["user"]["id"]);
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);

    let other = app.sign_in("grace@example.org").await;
    let grace = app.get(Some(&other), "/api/v1/appointments").await;
    assert_eq!(grace.status, StatusCode::OK, "{}", grace.body);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users").await,
        2,
        "another email, another user"
    );
}

async fn the_database_stores_an_hmac_of_the_code_not_the_code(app: TestApp) {
    let code = code_for(&app, "ada@example.org").await;
    let phone_code = {
        let sent = request_code(&app, json!({ "phone": "+49 30 1234567" })).await;
        assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
        app.codes.last_code("+49301234567").expect("code")
    };

    let stored: Vec<(String, String)> = medibook_store::sql::query(
        "SELECT identifier_key, code_hash FROM one_time_codes ORDER BY identifier_key",
    )
    .fetch_all(app.database.pool())
    .await
    .expect("codes")
    .iter()
    .map(|row| (row.get("identifier_key"), row.get("code_hash")))
    .collect();
    assert_eq!(stored.len(), 2, "{stored:?}");
    for ((key, hash), plain) in stored.iter().zip([&code, &phone_code]) {
        assert_eq!(hash.len(), 64, "{key}: {hash}");
        assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{key}: {hash}");
        assert!(
            !hash.contains(plain.as_str()),
            "{key}: the hash {hash} contains the code {plain}"
        );
    }
    assert_ne!(stored[0].1, stored[1].1);
}

async fn tokens_expire_by_the_application_clock(app: TestApp) {
    let token = app.sign_in("ada@example.org").await;
    assert_eq!(
        app.get(Some(&token), "/api/v1/appointments").await.status,
        StatusCode::OK
    );

    // One minute before the end of its lifetime the token still works; one minute after, not.
    app.advance(i64::from(TOKEN_MINUTES) - 1);
    assert_eq!(
        app.get(Some(&token), "/api/v1/appointments").await.status,
        StatusCode::OK
    );

    app.advance(2);
    let expired = app.get(Some(&token), "/api/v1/appointments").await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.problem_code(), "unauthorized");
}
