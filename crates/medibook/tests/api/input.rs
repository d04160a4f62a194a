//! Bad input, as a careless client or a hostile one sends it: every refusal is a 4xx problem
//! document with a stable code, never a 5xx, and a refused request writes nothing.

// Integration-test helpers are not `#[test]` functions, so clippy's `allow-expect-in-tests`
// does not reach them; a scenario that meets an unexpected reply should stop and say so.
#![allow(clippy::expect_used)]

use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::backend_tests;
use crate::harness::{Reply, TestApp, tuesday};

backend_tests!(
    malformed_or_mistyped_json_bodies_are_refused_without_writing,
    bodies_that_are_not_declared_json_get_415,
    bodies_over_64_kib_get_413,
    unknown_doctors_holds_and_appointments_get_404,
    path_ids_that_are_not_uuids_get_400,
    impossible_dates_are_refused,
    slot_listings_cover_1_to_31_days,
    times_that_are_not_bookable_slots_get_422_slot_unavailable,
    reasons_must_have_1_to_1000_characters,
    missing_or_forged_credentials_get_401_with_a_bearer_challenge,
    unknown_routes_and_wrong_methods_are_problems,
    doctor_search_refuses_long_queries_and_unknown_specialties,
    openapi_document_lists_the_booking_paths,
    health_probes_answer_200,
    every_response_carries_the_security_headers,
    cross_site_requests_carrying_our_cookies_are_refused,
);

/// The rows booking requests write. Refused requests must leave all of them as they were.
#[derive(Debug, PartialEq, Eq)]
struct Written {
    holds: i64,
    active_holds: i64,
    appointments: i64,
    scheduled: i64,
    claims: i64,
}

impl Written {
    async fn now(app: &TestApp) -> Self {
        Self {
            holds: app.count("SELECT COUNT(*) FROM holds").await,
            active_holds: app
                .count("SELECT COUNT(*) FROM holds WHERE state = 'active'")
                .await,
            appointments: app.count("SELECT COUNT(*) FROM appointments").await,
            scheduled: app
                .count("SELECT COUNT(*) FROM appointments WHERE status = 'scheduled'")
                .await,
            claims: app.count("SELECT COUNT(*) FROM slot_claims").await,
        }
    }
}

/// Asserts that `reply` is a problem with `status` and `code`, naming `what` on failure.
fn assert_problem(reply: &Reply, status: StatusCode, code: &str, what: &str) {
    assert_eq!(reply.status, status, "{what}: {}", reply.body);
    assert_eq!(reply.problem_code(), code, "{what}: {}", reply.body);
}

/// POSTs `body` as-is, with `content_type` if given, and a bearer token if given.
async fn post_raw(
    app: &TestApp,
    token: Option<&str>,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Reply {
    let mut request = app.http.post(app.url(path)).body(body);
    if let Some(content_type) = content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Reply::from(request.send().await.expect("request")).await
}

/// A hold on Tuesday 09:30 for `token`, to point the booking requests at.
async fn held_slot(app: &TestApp, token: &str) -> String {
    let hold = app.hold(token, app.doctor, &tuesday("09:30")).await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    hold.id()
}

async fn malformed_or_mistyped_json_bodies_are_refused_without_writing(app: TestApp) {
    let token = app.sign_in("ada@example.org").await;
    let hold_id = held_slot(&app, &token).await;
    let before = Written::now(&app).await;
    let json = Some("application/json");
    let doctor = app.doctor.to_string();

    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        (
            "/api/v1/holds",
            r#"{"doctor_id":"#.into(),
            StatusCode::BAD_REQUEST,
            "truncated JSON",
        ),
        (
            "/api/v1/holds",
            String::new(),
            StatusCode::BAD_REQUEST,
            "empty body",
        ),
        (
            "/api/v1/holds",
            "not json".into(),
            StatusCode::BAD_REQUEST,
            "not JSON at all",
        ),
        (
            "/api/v1/holds",
            r#"{"doctor_id": 5, "start": true}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong types",
        ),
        (
            "/api/v1/holds",
            json!({ "doctor_id": "dr-smith", "start": tuesday("10:00") }).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "doctor id that is not a UUID",
        ),
        (
            "/api/v1/holds",
            json!({ "doctor_id": doctor, "start": "next tuesday" }).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "start that is not RFC 3339",
        ),
        (
            "/api/v1/holds",
            json!({ "doctor_id": doctor }).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing start",
        ),
        (
            "/api/v1/holds",
            json!({ "start": tuesday("10:00") }).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing doctor_id",
        ),
        (
            "/api/v1/holds",
            "[]".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "an array",
        ),
        (
            "/api/v1/appointments",
            json!({ "hold_id": hold_id }).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing reason",
        ),
        (
            "/api/v1/appointments",
            json!({ "reason": "Check-up" }).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing hold_id",
        ),
        (
            "/api/v1/appointments",
            json!({ "hold_id": hold_id, "reason": 42 }).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "reason that is a number",
        ),
        (
            "/api/v1/auth/otp",
            r#"{"email": "#.into(),
            StatusCode::BAD_REQUEST,
            "truncated sign-in JSON",
        ),
        (
            "/api/v1/auth/verify",
            json!({ "email": "ada@example.org" }).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing code",
        ),
    ];
    for (path, body, status, what) in cases {
        let reply = post_raw(&app, Some(&token), path, json, body).await;
        assert_problem(&reply, status, "validation", what);
        assert_eq!(Written::now(&app).await, before, "{what} wrote something");
    }
    assert_eq!(
        app.slot_status(app.doctor, &tuesday("10:00"))
            .await
            .as_deref(),
        Some("available")
    );
}

async fn bodies_that_are_not_declared_json_get_415(app: TestApp) {
    let token = app.sign_in("ada@example.org").await;
    let before = Written::now(&app).await;
    let body =
        json!({ "doctor_id": app.doctor.to_string(), "start": tuesday("10:00") }).to_string();

    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let reply = post_raw(
            &app,
            Some(&token),
            "/api/v1/holds",
            content_type,
            body.clone(),
        )
        .await;
        assert_problem(
            &reply,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            &format!("Content-Type {content_type:?}"),
        );
    }
    assert_eq!(Written::now(&app).await, before);
    assert_eq!(
        app.slot_status(app.doctor, &tuesday("10:00"))
            .await
            .as_deref(),
        Some("available")
    );
}

async fn bodies_over_64_kib_get_413(app: TestApp) {
    let token = app.sign_in("ada@example.org").await;
    let hold_id = held_slot(&app, &token).await;
    let before = Written::now(&app).await;

    let huge = json!({ "hold_id": hold_id, "reason": "a".repeat(100 * 1024) }).to_string();
    let reply = post_raw(
        &app,
        Some(&token),
        "/api/v1/appointments",
        Some("application/json"),
        huge,
    )
    .await;
    assert_problem(
        &reply,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "100 KB reason",
    );
    assert_eq!(Written::now(&app).await, before);
    assert_eq!(
        app.slot_status(app.doctor, &tuesday("09:30"))
            .await
            .as_deref(),
        Some("held")
    );

    // The limit is on the body, not on the reason: a normal confirmation still goes through.
    let booked = app.confirm(&token, &hold_id).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
}

async fn unknown_doctors_holds_and_appointments_get_404(app: TestApp) {
    let token = app.sign_in("ada@example.org").await;
    let hold_id = held_slot(&app, &token).await;
    let before = Written::now(&app).await;
    let unknown = uuid::Uuid::new_v4();

    let reply = app
        .post(
            Some(&token),
            "/api/v1/holds",
            json!({ "doctor_id": unknown, "start": tuesday("10:00") }),
        )
        .await;
    assert_problem(
        &reply,
        StatusCode::NOT_FOUND,
        "not_found",
        "hold with an unknown doctor",
    );

    let reply = app.get(None, &format!("/api/v1/doctors/{unknown}")).await;
    assert_problem(
        &reply,
        StatusCode::NOT_FOUND,
        "not_found",
        "unknown doctor profile",
    );

    let reply = app
        .get(
            None,
            &format!("/api/v1/slots?doctor_id={unknown}&date=2027-03-02&days=1"),
        )
        .await;
    assert_problem(
        &reply,
        StatusCode::NOT_FOUND,
        "not_found",
        "slots of an unknown doctor",
    );

    let reply = app.confirm(&token, &unknown.to_string()).await;
    assert_problem(
        &reply,
        StatusCode::NOT_FOUND,
        "hold_not_found",
        "confirm an unknown hold",
    );

    let reply = app
        .get(Some(&token), &format!("/api/v1/holds/{unknown}"))
        .await;
    assert_problem(
        &reply,
        StatusCode::NOT_FOUND,
        "hold_not_found",
        "read an unknown hold",
    );

    let reply = app
        .get(Some(&token), &format!("/api/v1/appointments/{unknown}"))
        .await;
    assert_problem(
        &reply,
        StatusCode::NOT_FOUND,
        "not_found",
        "read an unknown appointment",
    );

    let reply = app.cancel(&token, &unknown.to_string()).await;
    assert_problem(
        &reply,
        StatusCode::NOT_FOUND,
        "not_found",
        "cancel an unknown appointment",
    );

    let reply = app.reschedule(&token, &unknown.to_string(), &hold_id).await;
    assert_problem(
        &reply,
        StatusCode::NOT_FOUND,
        "not_found",
        "reschedule an unknown appointment",
    );

    assert_eq!(Written::now(&app).await, before);
    assert_eq!(
        app.slot_status(app.doctor, &tuesday("09:30"))
            .await
            .as_deref(),
        Some("held")
    );
}

async fn path_ids_that_are_not_uuids_get_400(app: TestApp) {
    let token = app.sign_in("ada@example.org").await;
    let hold_id = held_slot(&app, &token).await;
    let before = Written::now(&app).await;

    for path in [
        "/api/v1/appointments/not-a-uuid",
        "/api/v1/holds/not-a-uuid",
        "/api/v1/doctors/not-a-uuid",
        "/api/v1/appointments/123",
    ] {
        let reply = app.get(Some(&token), path).await;
        assert_problem(&reply, StatusCode::BAD_REQUEST, "validation", path);
    }
    let reply = app.cancel(&token, "not-a-uuid").await;
    assert_problem(
        &reply,
        StatusCode::BAD_REQUEST,
        "validation",
        "cancel not-a-uuid",
    );
    let reply = app.reschedule(&token, "not-a-uuid", &hold_id).await;
    assert_problem(
        &reply,
        StatusCode::BAD_REQUEST,
        "validation",
        "reschedule not-a-uuid",
    );
    let reply = app.delete(&token, "/api/v1/holds/not-a-uuid").await;
    assert_problem(
        &reply,
        StatusCode::BAD_REQUEST,
        "validation",
        "release not-a-uuid",
    );

    assert_eq!(Written::now(&app).await, before);
}

async fn impossible_dates_are_refused(app: TestApp) {
    let token = app.sign_in("ada@example.org").await;
    let before = Written::now(&app).await;
    let doctor = app.doctor;

    for start in [
        "2027-02-30T10:00:00Z",
        "2027-03-02T25:00:00+01:00",
        "2027-03-02T10:00:00",
    ] {
        let reply = app.hold(&token, doctor, start).await;
        assert_problem(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            start,
        );
    }
    for date in ["2027-02-30", "2027-13-01", "tomorrow", ""] {
        let reply = app
            .get(
                None,
                &format!("/api/v1/slots?doctor_id={doctor}&date={date}&days=1"),
            )
            .await;
        assert_problem(
            &reply,
            StatusCode::BAD_REQUEST,
            "validation",
            &format!("date={date}"),
        );
    }
    let reply = app.get(None, "/api/v1/slots?date=2027-03-02").await;
    assert_problem(
        &reply,
        StatusCode::BAD_REQUEST,
        "validation",
        "slots without doctor_id",
    );
    let reply = app
        .get(None, "/api/v1/slots?doctor_id=nobody&date=2027-03-02")
        .await;
    assert_problem(
        &reply,
        StatusCode::BAD_REQUEST,
        "validation",
        "doctor_id=nobody",
    );

    assert_eq!(Written::now(&app).await, before);
}

async fn slot_listings_cover_1_to_31_days(app: TestApp) {
    let doctor = app.doctor;
    let listing =
        |days: &str| format!("/api/v1/slots?doctor_id={doctor}&date=2027-03-02&days={days}");

    for days in ["0", "32", "1000"] {
        let reply = app.get(None, &listing(days)).await;
        assert_problem(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            &format!("days={days}"),
        );
    }
    for days in ["-1", "70000", "seven"] {
        let reply = app.get(None, &listing(days)).await;
        assert_problem(
            &reply,
            StatusCode::BAD_REQUEST,
            "validation",
            &format!("days={days}"),
        );
    }
    for days in ["1", "31"] {
        let reply = app.get(None, &listing(days)).await;
        assert_eq!(reply.status, StatusCode::OK, "days={days}: {}", reply.body);
    }
}

async fn times_that_are_not_bookable_slots_get_422_slot_unavailable(app: TestApp) {
    let token = app.sign_in("ada@example.org").await;
    let before = Written::now(&app).await;

    for (start, what) in [
        ("2027-03-01T07:00:00Z".to_owned(), "before the clock"),
        (
            "2027-02-26T09:00:00+01:00".to_owned(),
            "a past slot on the grid",
        ),
        (tuesday("09:10"), "not on the 30-minute grid"),
        (tuesday("08:30"), "before opening"),
        (tuesday("12:30"), "in the lunch break"),
        (tuesday("17:00"), "at closing time"),
        ("2027-03-07T10:00:00+01:00".to_owned(), "a Sunday"),
        (
            "2027-06-01T09:00:00+02:00".to_owned(),
            "beyond the 60-day horizon",
        ),
    ] {
        let reply = app.hold(&token, app.doctor, &start).await;
        assert_problem(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "slot_unavailable",
            &format!("{what} ({start})"),
        );
    }
    assert_eq!(Written::now(&app).await, before);
}

async fn reasons_must_have_1_to_1000_characters(app: TestApp) {
    let token = app.sign_in("ada@example.org").await;
    let hold_id = held_slot(&app, &token).await;
    let before = Written::now(&app).await;

    for (reason, what) in [
        (String::new(), "empty"),
        ("  \n\t ".to_owned(), "whitespace only"),
        ("é".repeat(1001), "1001 characters"),
        ("Check-up\u{0007}".to_owned(), "a control character"),
    ] {
        let reply = app
            .post(
                Some(&token),
                "/api/v1/appointments",
                json!({ "hold_id": hold_id, "reason": reason }),
            )
            .await;
        assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation", what);
        assert_eq!(
            Written::now(&app).await,
            before,
            "{what} reason wrote something"
        );
    }
    assert_eq!(
        app.slot_status(app.doctor, &tuesday("09:30"))
            .await
            .as_deref(),
        Some("held")
    );

    // Exactly 1,000 characters (2,000 bytes) is still a reason.
    let longest = "é".repeat(1000);
    let reply = app
        .post(
            Some(&token),
            "/api/v1/appointments",
            json!({ "hold_id": hold_id, "reason": longest }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["reason"], longest);
}

/// Base64url without padding, as JWTs use it.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            let sextet = usize::try_from((n >> (18 - 6 * i)) & 63).expect("six bits");
            out.push(char::from(ALPHABET[sextet]));
        }
    }
    out
}

/// A JWT with the claims the server expects for `sub`, signed with HS256 under `key`.
fn token_signed_with(key: &[u8], sub: &str, now: i64) -> String {
    let header = base64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = json!({
        "sub": sub, "role": "admin", "iat": now, "exp": now + 3600,
        "aud": "medibook-api", "iss": "medibook",
    });
    let payload = base64url(claims.to_string().as_bytes());
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(format!("{header}.{payload}").as_bytes());
    let signature = base64url(&mac.finalize().into_bytes());
    format!("{header}.{payload}.{signature}")
}

async fn missing_or_forged_credentials_get_401_with_a_bearer_challenge(app: TestApp) {
    let real = app.sign_in("ada@example.org").await;
    let me = app.get(Some(&real), "/api/v1/appointments").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let (header, payload, signature) = {
        let mut parts = real.split('.');
        let parts: [&str; 3] = std::array::from_fn(|_| parts.next().expect("three JWT parts"));
        (parts[0], parts[1], parts[2])
    };
    let claims: Value = serde_json::from_slice(&decode_base64url(payload)).expect("claims");
    let sub = claims["sub"].as_str().expect("sub");
    let iat = claims["iat"].as_i64().expect("iat");

    let flipped = {
        let mut chars: Vec<char> = signature.chars().collect();
        chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect::<String>()
    };
    let unsigned_header = base64url(br#"{"alg":"none","typ":"JWT"}"#);
    let forged_claims = base64url(
        json!({
            "sub": sub, "role": "admin", "iat": iat, "exp": iat + 3600,
            "aud": "medibook-api", "iss": "medibook",
        })
        .to_string()
        .as_bytes(),
    );
    let credentials = [
        (None, "no Authorization header"),
        (Some("Bearer".to_owned()), "Bearer without a token"),
        (Some("Bearer garbage".to_owned()), "a garbage token"),
        (
            Some(format!("Basic {real}")),
            "the right token under the Basic scheme",
        ),
        (Some(real.clone()), "a token without the Bearer scheme"),
        (
            Some(format!("Bearer {header}.{payload}.{flipped}")),
            "a tampered signature",
        ),
        (
            Some(format!("Bearer {header}.{forged_claims}.{signature}")),
            "claims swapped under a real signature",
        ),
        (
            Some(format!(
                "Bearer {}",
                token_signed_with(b"some other secret that is long enough", sub, iat)
            )),
            "a token signed with another key",
        ),
        (
            Some(format!("Bearer {unsigned_header}.{forged_claims}.")),
            "an alg none token",
        ),
        (
            Some(format!("Bearer {unsigned_header}.{payload}.")),
            "an alg none copy of a real token",
        ),
    ];

    let token = app.sign_in("grace@example.org").await;
    let hold_id = held_slot(&app, &token).await;
    let before = Written::now(&app).await;
    for (authorization, what) in credentials {
        for (method, path, body) in [
            ("GET", "/api/v1/appointments".to_owned(), Value::Null),
            (
                "POST",
                "/api/v1/holds".to_owned(),
                json!({ "doctor_id": app.doctor.to_string(), "start": tuesday("10:00") }),
            ),
            (
                "POST",
                "/api/v1/appointments".to_owned(),
                json!({ "hold_id": hold_id, "reason": "x" }),
            ),
            ("DELETE", format!("/api/v1/holds/{hold_id}"), Value::Null),
        ] {
            let mut request = match method {
                "GET" => app.http.get(app.url(&path)),
                "DELETE" => app.http.delete(app.url(&path)),
                _ => app.http.post(app.url(&path)).json(&body),
            };
            if let Some(authorization) = &authorization {
                request = request.header(AUTHORIZATION, authorization);
            }
            let response = request.send().await.expect("request");
            let challenge = response
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let reply = Reply::from(response).await;
            let what = format!("{what} on {method} {path}");
            assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized", &what);
            assert_eq!(challenge.as_deref(), Some("Bearer"), "{what}");
        }
    }
    assert_eq!(Written::now(&app).await, before);
    assert_eq!(
        app.slot_status(app.doctor, &tuesday("09:30"))
            .await
            .as_deref(),
        Some("held")
    );
}

/// Decodes unpadded base64url (the inverse of [`base64url`]).
fn decode_base64url(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("not base64url: {c}"),
        }
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.as_bytes().chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &c)| n | (value(c) << (18 - 6 * i)));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

async fn unknown_routes_and_wrong_methods_are_problems(app: TestApp) {
    let token = app.sign_in("ada@example.org").await;
    let before = Written::now(&app).await;

    for path in [
        "/api/v1/nothing-here",
        "/api/v2/holds",
        "/api/v1/holds/extra/segments",
    ] {
        let reply = app.get(Some(&token), path).await;
        assert_problem(&reply, StatusCode::NOT_FOUND, "not_found", path);
    }

    let body = json!({ "doctor_id": app.doctor.to_string(), "start": tuesday("10:00") });
    for (method, path) in [
        (reqwest::Method::PUT, "/api/v1/holds"),
        (reqwest::Method::GET, "/api/v1/holds"),
        (reqwest::Method::DELETE, "/api/v1/appointments"),
        (reqwest::Method::PATCH, "/api/v1/slots"),
    ] {
        let reply = Reply::from(
            app.http
                .request(method.clone(), app.url(path))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .expect("request"),
        )
        .await;
        let what = format!("{method} {path}");
        assert_problem(
            &reply,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            &what,
        );
    }
    assert_eq!(Written::now(&app).await, before);
}

async fn doctor_search_refuses_long_queries_and_unknown_specialties(app: TestApp) {
    let longest = "s".repeat(100);
    let reply = app.get(None, &format!("/api/v1/doctors?q={longest}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    let too_long = "s".repeat(101);
    let reply = app
        .get(None, &format!("/api/v1/doctors?q={too_long}"))
        .await;
    assert_problem(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        "101-character q",
    );

    let unknown = uuid::Uuid::new_v4();
    let reply = app
        .get(None, &format!("/api/v1/doctors?specialty={unknown}"))
        .await;
    assert_problem(
        &reply,
        StatusCode::NOT_FOUND,
        "not_found",
        "unknown specialty",
    );

    let reply = app.get(None, "/api/v1/doctors?specialty=cardiology").await;
    assert_problem(
        &reply,
        StatusCode::BAD_REQUEST,
        "validation",
        "specialty that is not a UUID",
    );
}

async fn openapi_document_lists_the_booking_paths(app: TestApp) {
    let reply = app.get(None, "/api/v1/openapi.json").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(
        reply.content_type.starts_with("application/json"),
        "{}",
        reply.content_type
    );
    assert!(
        reply.body["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "openapi version: {}",
        reply.body["openapi"]
    );
    for path in [
        "/api/v1/holds",
        "/api/v1/appointments/{id}/reschedule",
        "/api/v1/slots",
        "/api/v1/auth/otp",
        "/api/v1/auth/verify",
        "/api/v1/appointments/{id}/ics",
        "/api/v1/me/calendar",
    ] {
        assert!(
            reply.body["paths"][path].is_object(),
            "{path} missing from the OpenAPI paths"
        );
    }
}

async fn health_probes_answer_200(app: TestApp) {
    for path in ["/healthz", "/readyz"] {
        let reply = app.get(None, path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        assert_eq!(reply.body["status"], "ok", "{path}");
    }
}

async fn every_response_carries_the_security_headers(app: TestApp) {
    let page = app.http.get(app.url("/")).send().await.unwrap();
    let headers = page.headers().clone();
    let html = page.text().await.unwrap();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    // Scripts are our own ES modules loaded from /assets, never inline; no inline style either.
    for tag in html.split("<script").skip(1) {
        let tag = tag.split('>').next().unwrap_or_default();
        assert!(
            tag.contains("src=\"/assets/") && tag.contains("type=\"module\""),
            "inline or foreign script: <script{tag}>"
        );
    }
    assert!(
        !html.contains("<style") && !html.contains(" style="),
        "no inline style"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    // Nothing to other sites; our own form posts keep a real Origin for the CSRF check.
    assert_eq!(headers["referrer-policy"], "same-origin");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(
        !headers.contains_key("strict-transport-security"),
        "HSTS only when served over HTTPS"
    );

    let css = app
        .http
        .get(app.url("/assets/medibook.css"))
        .send()
        .await
        .unwrap();
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );

    let problem = app
        .http
        .get(app.url("/api/v1/nowhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(problem.headers()["x-content-type-options"], "nosniff");

    let token = app.sign_in("ada@example.org").await;
    let private = app
        .http
        .get(app.url("/api/v1/appointments"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(private.headers()["cache-control"], "no-store");
}

async fn cross_site_requests_carrying_our_cookies_are_refused(app: TestApp) {
    let token = app.sign_in("ada@example.org").await;
    let holds_before = app.count("SELECT COUNT(*) FROM holds").await;
    let body = json!({ "doctor_id": app.doctor.to_string(), "start": tuesday("09:30") });
    let send = |origin: Option<&str>| {
        let mut request = app
            .http
            .post(app.url("/api/v1/holds"))
            .bearer_auth(&token)
            .header("cookie", "medibook_refresh=whatever")
            .json(&body);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };

    let forged = Reply::from(send(Some("https://evil.example")).await.unwrap()).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    assert_eq!(forged.problem_code(), "forbidden");
    let opaque = Reply::from(send(Some("null")).await.unwrap()).await;
    assert_eq!(opaque.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM holds").await,
        holds_before,
        "nothing written"
    );

    // From our own origin (as our pages send it), or with no cookie at all, it goes through.
    let own = Reply::from(send(Some(app.base.as_str())).await.unwrap()).await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.body);
    let api_client = app
        .post(
            Some(&token),
            "/api/v1/holds",
            json!({ "doctor_id": app.doctor.to_string(), "start": tuesday("10:00") }),
        )
        .await;
    assert_eq!(
        api_client.status,
        StatusCode::CREATED,
        "{}",
        api_client.body
    );
}
