//! Sign-in under attack: a burst of guesses written at once gets five of them and no more; a
//! stranger asking for codes for someone else's address uses up their own allowance, not the
//! victim's; a phone number is refused up front when no SMS channel could deliver its code.

#![allow(clippy::expect_used)]

use futures_util::future::join_all;
use medibook::settings::Settings;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests_with;
use crate::harness::TestApp;

backend_tests_with!(
    guessing;
    a_burst_of_twenty_guesses_written_at_once_gets_five_of_them_and_no_more;
    production_code_limits;
    a_stranger_requesting_codes_for_a_victim_does_not_lock_the_victim_out;
    email_only;
    phone_sign_in_without_an_sms_channel_is_refused_up_front_with_422;
);

/// The scenarios' defaults (limits out of the way).
fn guessing(_: &mut Settings) {}

/// Five codes an hour per address and client; the client address from `X-Forwarded-For`.
fn production_code_limits(settings: &mut Settings) {
    settings.codes_per_identifier_per_hour = 5;
    settings.trust_proxy = true;
}

/// An email channel and no SMS.
fn email_only(settings: &mut Settings) {
    settings.smtp_url = Some("smtp://127.0.0.1:9".into());
    settings.mail_from = Some("clinic@example.org".into());
}

async fn request_code(app: &TestApp, body: Value, client: &str) -> (StatusCode, Value) {
    let response = app
        .http
        .post(app.url("/api/v1/auth/otp"))
        .header("x-forwarded-for", client)
        .json(&body)
        .send()
        .await
        .expect("an answer");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn verify(http: &reqwest::Client, app: &TestApp, email: &str, code: &str) -> StatusCode {
    http.post(app.url("/api/v1/auth/verify"))
        .json(&json!({ "email": email, "code": code }))
        .send()
        .await
        .expect("an answer")
        .status()
}

async fn a_burst_of_twenty_guesses_written_at_once_gets_five_of_them_and_no_more(app: TestApp) {
    for round in 0..4 {
        let email = format!("burst{round}@example.org");
        let (status, body) = request_code(&app, json!({ "email": email }), "192.0.2.1").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let code = app.codes.last_code(&email).expect("a code was sent");
        let right: u32 = code.parse().expect("digits");
        // Twenty guesses on twenty connections of their own, opened beforehand, the right
        // code among the last ten.
        let clients: Vec<reqwest::Client> = (0..20).map(|_| reqwest::Client::new()).collect();
        join_all(
            clients
                .iter()
                .map(|http| http.get(app.url("/healthz")).send()),
        )
        .await;
        let guesses: Vec<String> = (0..20_u32)
            .map(|index| {
                if index == 12 + round {
                    code.clone()
                } else {
                    format!("{:06}", (right + 1 + index) % 1_000_000)
                }
            })
            .collect();
        let answers = join_all(
            clients
                .iter()
                .zip(&guesses)
                .map(|(http, guess)| verify(http, &app, &email, guess)),
        )
        .await;
        let signed_in = answers.iter().filter(|s| **s == StatusCode::OK).count();
        assert!(signed_in <= 1, "round {round}: {answers:?}");
        let attempts = app
            .count(&format!(
                "SELECT CAST(attempts AS BIGINT) FROM one_time_codes WHERE identifier_key = 'email:{email}'"
            ))
            .await;
        // Every compared guess claimed an attempt first: never more than five were compared,
        // and all five unless the right code was among them (then it was used, and the rest
        // found no live code).
        if signed_in == 0 {
            assert_eq!(
                attempts, 5,
                "round {round}: five guesses were compared, no more"
            );
        } else {
            assert!(
                attempts <= 5,
                "round {round}: {attempts} guesses were compared"
            );
        }
        // Whatever the burst did, the right code is refused now.
        assert_eq!(
            verify(&app.http, &app, &email, &code).await,
            StatusCode::BAD_REQUEST,
            "round {round}"
        );
    }
}

async fn a_stranger_requesting_codes_for_a_victim_does_not_lock_the_victim_out(app: TestApp) {
    let victim = "victim@example.org";
    for _ in 0..5 {
        let (status, body) = request_code(&app, json!({ "email": victim }), "203.0.113.9").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let (status, body) = request_code(&app, json!({ "email": victim }), "203.0.113.9").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "rate_limited");

    // The victim, from their own address, still gets a code and signs in with it.
    let (status, body) = request_code(&app, json!({ "email": victim }), "198.51.100.7").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let code = app.codes.last_code(victim).expect("a code was sent");
    assert_eq!(verify(&app.http, &app, victim, &code).await, StatusCode::OK);

    // Strangers on many addresses (and a whole IPv6 /64 counted as one) use up only their
    // own allowances: the victim still gets a code and signs in.
    for client in 0..6 {
        for _ in 0..5 {
            request_code(
                &app,
                json!({ "email": victim }),
                &format!("198.51.100.{}", 20 + client),
            )
            .await;
        }
    }
    for host in 1..=6 {
        let (status, _) = request_code(
            &app,
            json!({ "email": victim }),
            &format!("2001:db8:7:7::{host}"),
        )
        .await;
        let expected = if host <= 5 {
            StatusCode::ACCEPTED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(status, expected, "IPv6 host {host} of one /64");
    }
    let (status, body) = request_code(&app, json!({ "email": victim }), "198.51.100.7").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let code = app.codes.last_code(victim).expect("a code was sent");
    assert_eq!(verify(&app.http, &app, victim, &code).await, StatusCode::OK);
}

async fn phone_sign_in_without_an_sms_channel_is_refused_up_front_with_422(app: TestApp) {
    let (status, body) =
        request_code(&app, json!({ "phone": "+49 30 1234567" }), "192.0.2.1").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "validation");
    assert!(
        body["detail"].as_str().expect("a detail").contains("email"),
        "{body}"
    );
    assert_eq!(
        app.codes.last_code("+49301234567"),
        None,
        "no code was made"
    );
    let (status, body) =
        request_code(&app, json!({ "email": "ada@example.org" }), "192.0.2.1").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}
