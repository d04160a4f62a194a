//! Sessions and code limits under production settings: access tokens live 15 minutes, sessions
//! end after 30 idle minutes, 12 hours after sign-in, or at once on logout; refresh tokens work
//! once; tampered tokens are refused; code requests are limited per identifier and per client
//! address, with counters in the database.

use hmac::{Hmac, Mac};
use jiff::{SignedDuration, Timestamp};
use medibook::secrets::ServerKeys;
use medibook::settings::Settings;
use medibook_core::clock::Clock;
use reqwest::header::{self, HeaderMap};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};
use sha2::{Sha256, Sha512};

use crate::backend_tests_with;
use crate::harness::{Reply, TEST_SECRET, TestApp, start_of_tests};

backend_tests_with!(
    production_sessions;
    access_tokens_expire_after_fifteen_minutes_and_refresh_issues_new_ones,
    a_session_ends_after_thirty_minutes_without_activity,
    refreshes_and_requests_keep_a_session_alive_past_thirty_minutes,
    a_session_ends_twelve_hours_after_sign_in_whatever_the_activity,
    logout_ends_the_session_at_once,
    a_refresh_token_works_once_from_the_body_or_a_same_site_cookie,
    reusing_a_spent_refresh_token_ends_the_session,
    forged_altered_expired_and_revoked_access_tokens_get_401,
    the_sixth_code_for_one_identifier_within_an_hour_gets_429,
    limits_and_sessions_hold_across_instances_sharing_the_database,
    a_patient_renames_themselves_and_bad_names_get_422;
    three_codes_per_ip;
    one_address_gets_three_codes_an_hour_whatever_it_forwards;
    three_codes_per_ip_behind_a_proxy;
    behind_a_trusted_proxy_the_address_limit_applies_per_forwarded_address;
    hour_long_access_tokens;
    an_unexpired_access_token_dies_with_its_idle_session,
);

// Settings of the groups above.

/// The production values of the session and code-limit settings (the harness relaxes them).
fn production_sessions(settings: &mut Settings) {
    let production = Settings::default();
    settings.access_token_minutes = production.access_token_minutes;
    settings.session_idle_minutes = production.session_idle_minutes;
    settings.session_max_hours = production.session_max_hours;
    settings.codes_per_identifier_per_hour = production.codes_per_identifier_per_hour;
    settings.codes_per_ip_per_hour = production.codes_per_ip_per_hour;
}

fn three_codes_per_ip(settings: &mut Settings) {
    production_sessions(settings);
    settings.codes_per_ip_per_hour = 3;
}

fn three_codes_per_ip_behind_a_proxy(settings: &mut Settings) {
    three_codes_per_ip(settings);
    settings.trust_proxy = true;
}

/// Access tokens that outlive the idle timeout, to see that the session check alone ends them.
fn hour_long_access_tokens(settings: &mut Settings) {
    production_sessions(settings);
    settings.access_token_minutes = 60;
}

// Requests.

/// A reply and the headers that came with it.
struct Answer {
    reply: Reply,
    headers: HeaderMap,
}

impl Answer {
    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn send(request: RequestBuilder) -> Answer {
    let response = request.send().await.expect("request");
    let headers = response.headers().clone();
    Answer {
        reply: Reply::from(response).await,
        headers,
    }
}

/// The tokens of a signed-in session.
struct Tokens {
    access: String,
    refresh: String,
    /// The whole answer of `verify` or `refresh`.
    answer: Answer,
}

impl Tokens {
    fn from(answer: Answer, what: &str) -> Self {
        assert_eq!(
            answer.reply.status,
            StatusCode::OK,
            "{what}: {}",
            answer.reply.body
        );
        let field = |name: &str| {
            answer.reply.body[name]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: no {name} in {}", answer.reply.body))
                .to_owned()
        };
        Self {
            access: field("token"),
            refresh: field("refresh_token"),
            answer,
        }
    }

    fn instant(&self, field: &str) -> Timestamp {
        self.answer.reply.body[field]
            .as_str()
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("{field} in {}", self.answer.reply.body))
    }

    /// The refresh cookie's attributes, asserting its fixed ones, and its `Max-Age`.
    fn cookie_max_age(&self) -> i64 {
        let cookie = self
            .answer
            .header(header::SET_COOKIE)
            .expect("a refresh cookie");
        let expected = format!(
            "medibook_refresh={}; Path=/api/v1/auth; HttpOnly; SameSite=Lax; Max-Age=",
            self.refresh
        );
        let max_age = cookie
            .strip_prefix(&expected)
            .unwrap_or_else(|| panic!("cookie {cookie:?} is not {expected:?}…"));
        max_age.parse().expect("Max-Age in seconds")
    }
}

async fn request_code_at(
    base: &str,
    app: &TestApp,
    email: &str,
    forwarded: Option<&str>,
) -> Answer {
    let mut request = app
        .http
        .post(format!("{base}/api/v1/auth/otp"))
        .json(&json!({ "email": email }));
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    send(request).await
}

async fn request_code(app: &TestApp, email: &str) -> Answer {
    request_code_at(&app.base, app, email, None).await
}

/// Signs in through `base` with a fresh code.
async fn sign_in_at(base: &str, app: &TestApp, email: &str) -> Tokens {
    let sent = request_code_at(base, app, email, None).await;
    assert_eq!(
        sent.reply.status,
        StatusCode::ACCEPTED,
        "{}",
        sent.reply.body
    );
    let code = app.codes.last_code(email).expect("a code was sent");
    let verified = send(
        app.http
            .post(format!("{base}/api/v1/auth/verify"))
            .json(&json!({ "email": email, "code": code })),
    )
    .await;
    Tokens::from(verified, "sign-in")
}

async fn sign_in(app: &TestApp, email: &str) -> Tokens {
    sign_in_at(&app.base, app, email).await
}

async fn refresh_at(base: &str, app: &TestApp, refresh_token: &str) -> Answer {
    send(
        app.http
            .post(format!("{base}/api/v1/auth/refresh"))
            .json(&json!({ "refresh_token": refresh_token })),
    )
    .await
}

async fn refresh(app: &TestApp, refresh_token: &str) -> Answer {
    refresh_at(&app.base, app, refresh_token).await
}

/// `POST /auth/refresh` with `{}`, the refresh cookie and, if given, an `Origin`.
async fn refresh_with_cookie(app: &TestApp, cookie: Option<&str>, origin: Option<&str>) -> Answer {
    let mut request = app
        .http
        .post(app.url("/api/v1/auth/refresh"))
        .json(&json!({}));
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, format!("medibook_refresh={cookie}"));
    }
    if let Some(origin) = origin {
        request = request.header(header::ORIGIN, origin);
    }
    send(request).await
}

async fn me_at(base: &str, app: &TestApp, token: &str) -> Answer {
    send(app.http.get(format!("{base}/api/v1/me")).bearer_auth(token)).await
}

async fn me(app: &TestApp, token: &str) -> Answer {
    me_at(&app.base, app, token).await
}

async fn rename(app: &TestApp, token: &str, body: Value) -> Answer {
    send(
        app.http
            .patch(app.url("/api/v1/me"))
            .bearer_auth(token)
            .json(&body),
    )
    .await
}

async fn logout_at(base: &str, app: &TestApp, token: &str) -> Answer {
    send(
        app.http
            .post(format!("{base}/api/v1/auth/logout"))
            .bearer_auth(token),
    )
    .await
}

fn assert_ok(answer: &Answer, what: &str) {
    assert_eq!(
        answer.reply.status,
        StatusCode::OK,
        "{what}: {}",
        answer.reply.body
    );
}

/// 401 `unauthorized` with `WWW-Authenticate: Bearer`.
fn assert_unauthorized(answer: &Answer, what: &str) {
    assert_eq!(
        answer.reply.status,
        StatusCode::UNAUTHORIZED,
        "{what}: {}",
        answer.reply.body
    );
    assert_eq!(answer.reply.problem_code(), "unauthorized", "{what}");
    assert_eq!(
        answer.header(header::WWW_AUTHENTICATE),
        Some("Bearer"),
        "{what}"
    );
}

/// 429 `rate_limited`; returns `Retry-After` in seconds.
fn assert_rate_limited(answer: &Answer, what: &str) -> u64 {
    assert_eq!(
        answer.reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{what}: {}",
        answer.reply.body
    );
    assert_eq!(answer.reply.problem_code(), "rate_limited", "{what}");
    let seconds: u64 = answer
        .header(header::RETRY_AFTER)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{what}: Retry-After in seconds"));
    assert!(
        (1..=3600).contains(&seconds),
        "{what}: Retry-After {seconds}"
    );
    seconds
}

fn assert_accepted(answer: &Answer, what: &str) {
    assert_eq!(
        answer.reply.status,
        StatusCode::ACCEPTED,
        "{what}: {}",
        answer.reply.body
    );
}

fn minutes_after_start(minutes: i64) -> Timestamp {
    start_of_tests() + SignedDuration::from_mins(minutes)
}

// Sessions.

async fn access_tokens_expire_after_fifteen_minutes_and_refresh_issues_new_ones(app: TestApp) {
    let signed_in = sign_in(&app, "ada@example.org").await;
    assert_eq!(signed_in.instant("expires_at"), minutes_after_start(15));
    assert_eq!(
        signed_in.instant("session_expires_at"),
        minutes_after_start(12 * 60)
    );
    assert_eq!(signed_in.cookie_max_age(), 12 * 60 * 60);
    assert_eq!(
        signed_in.answer.header(header::CACHE_CONTROL),
        Some("no-store")
    );

    app.advance(14);
    assert_ok(&me(&app, &signed_in.access).await, "a 14-minute-old token");
    app.advance(2);
    assert_unauthorized(&me(&app, &signed_in.access).await, "a 16-minute-old token");

    let refreshed = Tokens::from(
        refresh(&app, &signed_in.refresh).await,
        "refresh within the session",
    );
    assert_ne!(refreshed.access, signed_in.access);
    assert_ne!(refreshed.refresh, signed_in.refresh);
    assert_eq!(
        refreshed.instant("expires_at"),
        minutes_after_start(16 + 15)
    );
    assert_eq!(
        refreshed.instant("session_expires_at"),
        minutes_after_start(12 * 60),
        "refreshing does not extend the session's absolute end"
    );
    assert_eq!(refreshed.cookie_max_age(), 12 * 60 * 60 - 16 * 60);
    let mine = me(&app, &refreshed.access).await;
    assert_ok(&mine, "the refreshed token");
    assert_eq!(mine.reply.body["email"], "ada@example.org");
    assert_eq!(
        mine.reply.body["id"],
        signed_in.answer.reply.body["user"]["id"]
    );
}

async fn a_session_ends_after_thirty_minutes_without_activity(app: TestApp) {
    let idle = sign_in(&app, "ada@example.org").await;
    let active = sign_in(&app, "grace@example.org").await;

    app.advance(29);
    let active = Tokens::from(refresh(&app, &active.refresh).await, "29 minutes idle");

    app.advance(2);
    assert_unauthorized(&refresh(&app, &idle.refresh).await, "31 minutes idle");
    assert_unauthorized(
        &refresh_with_cookie(&app, Some(&idle.refresh), None).await,
        "31 minutes idle, by cookie",
    );
    let active = Tokens::from(
        refresh(&app, &active.refresh).await,
        "31 minutes after sign-in, 2 minutes idle",
    );
    assert_ok(&me(&app, &active.access).await, "the other session");

    // The boundary: a session idle for exactly 30 minutes has ended.
    app.advance(30);
    assert_unauthorized(
        &refresh(&app, &active.refresh).await,
        "exactly 30 minutes idle",
    );
}

async fn refreshes_and_requests_keep_a_session_alive_past_thirty_minutes(app: TestApp) {
    // Refreshing every ten minutes, using each new token.
    let mut tokens = sign_in(&app, "ada@example.org").await;
    for minute in (10..=60).step_by(10) {
        app.advance(10);
        tokens = Tokens::from(
            refresh(&app, &tokens.refresh).await,
            &format!("refresh at minute {minute}"),
        );
        assert_ok(
            &me(&app, &tokens.access).await,
            &format!("request at minute {minute}"),
        );
    }

    // A request with the access token counts as activity too: 30 minutes after sign-in but
    // 16 after the last request, the session is alive.
    let requester = sign_in(&app, "grace@example.org").await;
    app.advance(14);
    assert_ok(&me(&app, &requester.access).await, "request at minute 14");
    app.advance(16);
    let requester = Tokens::from(
        refresh(&app, &requester.refresh).await,
        "refresh at minute 30, 16 after the last request",
    );

    // Without activity, both end.
    app.advance(31);
    assert_unauthorized(&refresh(&app, &tokens.refresh).await, "31 minutes idle");
    assert_unauthorized(&refresh(&app, &requester.refresh).await, "31 minutes idle");
}

async fn a_session_ends_twelve_hours_after_sign_in_whatever_the_activity(app: TestApp) {
    let mut tokens = sign_in(&app, "ada@example.org").await;
    let session_end = minutes_after_start(12 * 60);
    for minute in (10..12 * 60).step_by(10) {
        app.advance(10);
        tokens = Tokens::from(
            refresh(&app, &tokens.refresh).await,
            &format!("refresh at minute {minute}"),
        );
        assert_eq!(tokens.instant("session_expires_at"), session_end);
        assert_ok(
            &me(&app, &tokens.access).await,
            &format!("request at minute {minute}"),
        );
    }
    // Refreshed at 11:50: the cookie goes with the session, the token would live till 12:05.
    assert_eq!(tokens.cookie_max_age(), 10 * 60);
    assert_eq!(
        tokens.instant("expires_at"),
        minutes_after_start(12 * 60 + 5)
    );

    app.advance(10);
    assert_unauthorized(
        &me(&app, &tokens.access).await,
        "an unexpired token of a session at its end",
    );
    assert_unauthorized(
        &refresh(&app, &tokens.refresh).await,
        "refresh 12 hours after sign-in",
    );
}

async fn logout_ends_the_session_at_once(app: TestApp) {
    let phone = sign_in(&app, "ada@example.org").await;
    let laptop = sign_in(&app, "ada@example.org").await;

    let out = logout_at(&app.base, &app, &phone.access).await;
    assert_eq!(
        out.reply.status,
        StatusCode::NO_CONTENT,
        "{}",
        out.reply.body
    );
    let cleared = out
        .header(header::SET_COOKIE)
        .expect("the cookie is cleared");
    assert!(
        cleared.starts_with("medibook_refresh=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );

    assert_unauthorized(
        &me(&app, &phone.access).await,
        "the access token after logout",
    );
    assert_unauthorized(
        &refresh(&app, &phone.refresh).await,
        "the refresh token after logout",
    );
    assert_unauthorized(
        &logout_at(&app.base, &app, &phone.access).await,
        "a second logout",
    );

    // Logging out ends that session, not the person's others.
    assert_ok(
        &me(&app, &laptop.access).await,
        "another session of the same person",
    );
    Tokens::from(
        refresh(&app, &laptop.refresh).await,
        "refresh in the other session",
    );
}

async fn reusing_a_spent_refresh_token_ends_the_session(app: TestApp) {
    let signed_in = sign_in(&app, "ada@example.org").await;
    let rotated = Tokens::from(refresh(&app, &signed_in.refresh).await, "first refresh");
    assert_ok(&me(&app, &rotated.access).await, "the rotated token");

    // Someone presents the spent token again: one of two holders stole it, so nobody keeps
    // the session.
    assert_unauthorized(&refresh(&app, &signed_in.refresh).await, "the spent token");
    assert_unauthorized(&me(&app, &rotated.access).await, "the rotated access token");
    assert_unauthorized(
        &refresh(&app, &rotated.refresh).await,
        "the rotated refresh token",
    );

    // Other sessions of the same person are untouched.
    let other = sign_in(&app, "ada@example.org").await;
    assert_ok(&me(&app, &other.access).await, "a fresh session");
}

async fn a_refresh_token_works_once_from_the_body_or_a_same_site_cookie(app: TestApp) {
    let signed_in = sign_in(&app, "ada@example.org").await;
    let first = signed_in.refresh.clone();

    let cross_site = refresh_with_cookie(&app, Some(&first), Some("https://evil.example")).await;
    assert_eq!(
        cross_site.reply.status,
        StatusCode::FORBIDDEN,
        "{}",
        cross_site.reply.body
    );
    assert_eq!(cross_site.reply.problem_code(), "forbidden");
    assert_eq!(cross_site.header(header::SET_COOKIE), None);

    // The refused request did not use up the token.
    let own_origin = app.base.clone();
    let by_cookie = Tokens::from(
        refresh_with_cookie(&app, Some(&first), Some(&own_origin)).await,
        "cookie with our own Origin",
    );
    let second = by_cookie.refresh.clone();
    assert_ne!(second, first);
    by_cookie.cookie_max_age();
    assert_ok(
        &me(&app, &by_cookie.access).await,
        "token from a cookie refresh",
    );

    let by_cookie_without_origin = Tokens::from(
        refresh_with_cookie(&app, Some(&second), None).await,
        "cookie without Origin",
    );
    let by_body = Tokens::from(
        refresh(&app, &by_cookie_without_origin.refresh).await,
        "token in the body",
    );
    assert_ok(
        &me(&app, &by_body.access).await,
        "token from a body refresh",
    );

    assert_unauthorized(&refresh(&app, &first).await, "the first token again");
    assert_unauthorized(
        &refresh_with_cookie(&app, Some(&second), None).await,
        "the second token again, by cookie",
    );
    assert_unauthorized(
        &refresh_with_cookie(&app, None, None).await,
        "neither body token nor cookie",
    );
    assert_unauthorized(&refresh(&app, &"ab".repeat(32)).await, "an unknown token");
    assert_unauthorized(&refresh(&app, "").await, "an empty token");
}

// Access tokens.

/// Base64url without padding, as JWTs use it.
const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64url_encode(bytes: &[u8]) -> String {
    let mut text = String::new();
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| usize::from(chunk.get(i).copied().unwrap_or(0));
        let bits = byte(0) << 16 | byte(1) << 8 | byte(2);
        for i in 0..=chunk.len() {
            text.push(char::from(BASE64URL[(bits >> (18 - 6 * i)) & 63]));
        }
    }
    text
}

fn base64url_decode(text: &str) -> Vec<u8> {
    let sextets: Vec<usize> = text
        .bytes()
        .map(|c| BASE64URL.iter().position(|&a| a == c).expect("base64url"))
        .collect();
    let mut bytes = Vec::new();
    for chunk in sextets.chunks(4) {
        let bits = chunk
            .iter()
            .enumerate()
            .fold(0, |bits, (i, sextet)| bits | sextet << (18 - 6 * i));
        for i in 0..chunk.len() - 1 {
            bytes.push(u8::try_from((bits >> (16 - 8 * i)) & 0xff).expect("a byte"));
        }
    }
    bytes
}

/// The claims of a compact JWT, unverified.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a payload");
    serde_json::from_slice(&base64url_decode(payload)).expect("JSON claims")
}

/// A compact JWT: `header.claims.signature`, the signature made by `sign` over `header.claims`.
fn jwt(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let signed = format!(
        "{}.{}",
        base64url_encode(header.to_string().as_bytes()),
        base64url_encode(claims.to_string().as_bytes())
    );
    let signature = base64url_encode(&sign(signed.as_bytes()));
    format!("{signed}.{signature}")
}

fn hs256(key: &[u8]) -> impl FnOnce(&[u8]) -> Vec<u8> + '_ {
    move |message| {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }
}

fn hs512(key: &[u8]) -> impl FnOnce(&[u8]) -> Vec<u8> + '_ {
    move |message| {
        let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("any key length");
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }
}

/// `claims` with `name` set to `value` (or removed, for `Value::Null`).
fn with_claim(claims: &Value, name: &str, value: Value) -> Value {
    let mut claims = claims.clone();
    let object = claims.as_object_mut().expect("claims object");
    if value.is_null() {
        object.remove(name);
    } else {
        object.insert(name.to_owned(), value);
    }
    claims
}

async fn forged_altered_expired_and_revoked_access_tokens_get_401(app: TestApp) {
    let ada = sign_in(&app, "ada@example.org").await;
    let grace = sign_in(&app, "grace@example.org").await;
    let claims = claims_of(&ada.access);
    let hs256_header = json!({ "alg": "HS256", "typ": "JWT" });
    let keys = ServerKeys::derive(TEST_SECRET);
    let key = keys.token_key.as_slice();
    let [header_part, _, signature_part] = ada.access.split('.').collect::<Vec<_>>()[..] else {
        panic!("a compact JWT: {}", ada.access);
    };

    // The control: the same claims, signed here with the server's key, are accepted, so each
    // refusal below is for the one thing changed.
    let resigned = jwt(&hs256_header, &claims, hs256(key));
    assert_ok(
        &me(&app, &resigned).await,
        "the token re-signed with the server key",
    );

    let now = app.clock.now().as_second();
    let tampered = [
        ("not a JWT", "not-a-jwt".to_owned()),
        (
            "signed with another key",
            jwt(
                &hs256_header,
                &claims,
                hs256(b"not the server's key at all, no"),
            ),
        ),
        (
            "alg none, no signature",
            jwt(&json!({ "alg": "none", "typ": "JWT" }), &claims, |_| {
                Vec::new()
            }),
        ),
        (
            "alg none, the original signature",
            format!(
                "{}.{}.{signature_part}",
                base64url_encode(json!({ "alg": "none" }).to_string().as_bytes()),
                base64url_encode(claims.to_string().as_bytes()),
            ),
        ),
        (
            "HS256 without its signature",
            format!(
                "{header_part}.{}.",
                base64url_encode(claims.to_string().as_bytes())
            ),
        ),
        (
            "HS512 with the server key",
            jwt(
                &json!({ "alg": "HS512", "typ": "JWT" }),
                &claims,
                hs512(key),
            ),
        ),
        (
            "audience changed, signature kept",
            format!(
                "{header_part}.{}.{signature_part}",
                base64url_encode(
                    with_claim(&claims, "aud", json!("other"))
                        .to_string()
                        .as_bytes()
                ),
            ),
        ),
        (
            "another audience, validly signed",
            jwt(
                &hs256_header,
                &with_claim(&claims, "aud", json!("other")),
                hs256(key),
            ),
        ),
        (
            "another issuer, validly signed",
            jwt(
                &hs256_header,
                &with_claim(&claims, "iss", json!("elsewhere")),
                hs256(key),
            ),
        ),
        (
            "expired a second ago, validly signed",
            jwt(
                &hs256_header,
                &with_claim(&claims, "exp", json!(now - 1)),
                hs256(key),
            ),
        ),
        (
            "without exp, validly signed",
            jwt(
                &hs256_header,
                &with_claim(&claims, "exp", Value::Null),
                hs256(key),
            ),
        ),
        (
            "another user's session, validly signed",
            jwt(
                &hs256_header,
                &with_claim(&claims, "sid", claims_of(&grace.access)["sid"].clone()),
                hs256(key),
            ),
        ),
        (
            "a session that does not exist, validly signed",
            jwt(
                &hs256_header,
                &with_claim(&claims, "sid", json!(uuid::Uuid::new_v4().to_string())),
                hs256(key),
            ),
        ),
    ];
    for (what, token) in &tampered {
        assert_unauthorized(&me(&app, token).await, what);
    }
    let basic = send(
        app.http
            .get(app.url("/api/v1/me"))
            .header(header::AUTHORIZATION, format!("Basic {}", ada.access)),
    )
    .await;
    assert_unauthorized(&basic, "the token under another scheme");
    assert_unauthorized(&send(app.http.get(app.url("/api/v1/me"))).await, "no token");
    assert_ok(&me(&app, &ada.access).await, "the original token still");

    app.advance(16);
    assert_unauthorized(&me(&app, &ada.access).await, "expired");

    let revoked = sign_in(&app, "ada@example.org").await;
    let out = logout_at(&app.base, &app, &revoked.access).await;
    assert_eq!(
        out.reply.status,
        StatusCode::NO_CONTENT,
        "{}",
        out.reply.body
    );
    assert_unauthorized(&me(&app, &revoked.access).await, "revoked by logout");
}

async fn an_unexpired_access_token_dies_with_its_idle_session(app: TestApp) {
    let idle = sign_in(&app, "ada@example.org").await;
    let busy = sign_in(&app, "grace@example.org").await;
    assert_eq!(busy.instant("expires_at"), minutes_after_start(60));

    // Requests alone, without refreshing, keep a session alive.
    app.advance(20);
    assert_ok(&me(&app, &busy.access).await, "request at minute 20");
    app.advance(20);
    assert_ok(&me(&app, &busy.access).await, "request at minute 40");

    assert_unauthorized(
        &me(&app, &idle.access).await,
        "a 40-minute-old token of an hour, its session idle for 40 minutes",
    );
}

// Code limits.

async fn the_sixth_code_for_one_identifier_within_an_hour_gets_429(app: TestApp) {
    for attempt in 1..=5 {
        assert_accepted(
            &request_code(&app, "ada@example.org").await,
            &format!("code {attempt}"),
        );
        app.advance(5);
    }
    let fifth_code = app.codes.last_code("ada@example.org").expect("a code");

    // 08:25: the hour's first code was asked for at 08:00, so the wait ends by 09:00.
    let sixth = request_code(&app, "ada@example.org").await;
    let wait = assert_rate_limited(&sixth, "the sixth code within the hour");
    assert!(wait <= 35 * 60, "Retry-After {wait} beyond 09:00");
    assert_rate_limited(
        &request_code(&app, "ADA@example.org").await,
        "the same email in other case",
    );
    assert_accepted(
        &request_code(&app, "grace@example.org").await,
        "another email",
    );

    // The refused requests neither sent nor replaced a code: the fifth still signs in.
    let verified = send(
        app.http
            .post(app.url("/api/v1/auth/verify"))
            .json(&json!({ "email": "ada@example.org", "code": fifth_code })),
    )
    .await;
    Tokens::from(verified, "the fifth code after the refusals");

    app.advance(35);
    assert_accepted(
        &request_code(&app, "ada@example.org").await,
        "the first code of the next hour",
    );
}

async fn one_address_gets_three_codes_an_hour_whatever_it_forwards(app: TestApp) {
    for email in ["a@example.org", "b@example.org", "c@example.org"] {
        assert_accepted(&request_code(&app, email).await, email);
    }
    assert_rate_limited(
        &request_code(&app, "d@example.org").await,
        "a fourth email from the same address",
    );
    // Without trust_proxy, X-Forwarded-For is the client's word and is ignored.
    assert_rate_limited(
        &request_code_at(&app.base, &app, "e@example.org", Some("203.0.113.9")).await,
        "a fourth email claiming to be forwarded",
    );

    app.advance(60);
    assert_accepted(&request_code(&app, "d@example.org").await, "the next hour");
}

async fn behind_a_trusted_proxy_the_address_limit_applies_per_forwarded_address(app: TestApp) {
    let first = "198.51.100.7";
    for email in ["a@example.org", "b@example.org", "c@example.org"] {
        assert_accepted(
            &request_code_at(&app.base, &app, email, Some(first)).await,
            email,
        );
    }
    assert_rate_limited(
        &request_code_at(&app.base, &app, "d@example.org", Some(first)).await,
        "a fourth email from the first address",
    );
    // The proxy appends the address it saw; what came before is the client's own claim.
    assert_rate_limited(
        &request_code_at(
            &app.base,
            &app,
            "d@example.org",
            Some("203.0.113.99, 198.51.100.7"),
        )
        .await,
        "a forged first entry does not hide the address the proxy appended",
    );
    assert_accepted(
        &request_code_at(&app.base, &app, "d@example.org", Some("198.51.100.8")).await,
        "another forwarded address",
    );
    assert_accepted(
        &request_code(&app, "e@example.org").await,
        "the proxy's own address, forwarding nothing",
    );
}

async fn limits_and_sessions_hold_across_instances_sharing_the_database(app: TestApp) {
    let first = sign_in(&app, "ada@example.org").await;
    for attempt in 2..=5 {
        assert_accepted(
            &request_code(&app, "ada@example.org").await,
            &format!("code {attempt}"),
        );
    }

    let second = app.start_second_instance().await;
    assert_rate_limited(
        &request_code_at(&second, &app, "ada@example.org", None).await,
        "the sixth code, asked of the second instance",
    );

    // A token from one instance works on the other, and so does logging out.
    assert_ok(
        &me_at(&second, &app, &first.access).await,
        "the first instance's token",
    );
    let refreshed = Tokens::from(
        refresh_at(&second, &app, &first.refresh).await,
        "refresh on the second instance",
    );
    assert_unauthorized(
        &refresh(&app, &first.refresh).await,
        "the used refresh token on the first instance",
    );
    assert_unauthorized(
        &me_at(&second, &app, &refreshed.access).await,
        "reuse seen by one instance ends the session on the other",
    );

    let again = sign_in(&app, "grace@example.org").await;
    let out = logout_at(&second, &app, &again.access).await;
    assert_eq!(
        out.reply.status,
        StatusCode::NO_CONTENT,
        "{}",
        out.reply.body
    );
    assert_unauthorized(
        &me(&app, &again.access).await,
        "logged out on the second instance",
    );
}

// Profile.

async fn a_patient_renames_themselves_and_bad_names_get_422(app: TestApp) {
    let ada = sign_in(&app, "ada@example.org").await;
    let before = me(&app, &ada.access).await;
    assert_ok(&before, "profile");
    assert!(before.reply.body["name"].is_null(), "{}", before.reply.body);

    let renamed = rename(&app, &ada.access, json!({ "name": "  Ada Lovelace " })).await;
    assert_ok(&renamed, "rename");
    assert_eq!(renamed.reply.body["name"], "Ada Lovelace");
    let after = me(&app, &ada.access).await;
    assert_eq!(after.reply.body["name"], "Ada Lovelace");
    assert_eq!(after.reply.body["email"], "ada@example.org");

    let longest = "ü".repeat(100);
    let renamed = rename(&app, &ada.access, json!({ "name": longest })).await;
    assert_ok(&renamed, "100 characters of two bytes each");
    assert_eq!(renamed.reply.body["name"], longest.as_str());

    for (body, what) in [
        (json!({ "name": "" }), "empty"),
        (json!({ "name": "   " }), "only spaces"),
        (json!({ "name": "a".repeat(101) }), "101 characters"),
        (json!({ "name": "Ada\nLovelace" }), "a line break"),
        (json!({ "name": "Ada\u{0}" }), "a NUL"),
        (json!({ "name": 42 }), "a number"),
        (json!({}), "no name"),
    ] {
        let refused = rename(&app, &ada.access, body).await;
        assert_eq!(
            refused.reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            refused.reply.body
        );
        assert_eq!(refused.reply.problem_code(), "validation", "{what}");
    }
    assert_eq!(
        me(&app, &ada.access).await.reply.body["name"],
        longest.as_str(),
        "refused names changed nothing"
    );

    let anonymous = send(
        app.http
            .patch(app.url("/api/v1/me"))
            .json(&json!({ "name": "Mallory" })),
    )
    .await;
    assert_unauthorized(&anonymous, "rename without a token");
}
