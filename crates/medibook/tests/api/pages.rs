//! The web app's pages over plain HTTP (the browser tests in `tests/browser` drive the same
//! pages in Chromium): sign-in with the page session cookie and what it may do, redirects only
//! to local paths, cross-site sign-in refused, friendly HTML errors, the slot picker's markup,
//! and the static assets' caching.

// Integration-test helpers are not `#[test]` functions, so clippy's `allow-expect-in-tests`
// does not reach them; a scenario that meets an unexpected reply should stop and say so.
#![allow(clippy::expect_used)]

use medibook::settings::Settings;
use reqwest::header::{self, HeaderMap};
use reqwest::{Response, StatusCode};

use crate::backend_tests_with;
use crate::harness::{TestApp, tuesday};

backend_tests_with!(
    production_sessions;
    page_sign_in_sets_a_session_cookie_that_works_until_sign_out,
    the_page_session_ends_with_the_idle_timeout,
    wrong_codes_and_bad_addresses_are_explained_on_the_page,
    only_local_paths_are_followed_after_sign_in,
    sign_in_forms_sent_from_other_sites_are_refused,
    pages_answer_mistakes_with_html_and_the_api_with_problems,
    the_slot_picker_names_every_slot_and_hides_taken_ones,
    assets_are_versioned_and_cacheable_even_for_signed_in_people;
    two_codes_per_identifier;
    too_many_code_requests_are_explained_on_the_page;
    production_sessions;
    in_development_without_a_channel_the_code_page_shows_the_code,
    a_new_patient_is_welcomed_for_name_and_birth_date_then_goes_on;
    an_email_channel;
    with_a_delivery_channel_the_code_page_never_shows_the_code,
);

/// An email channel configured (the harness's recorder still catches the codes).
fn an_email_channel(settings: &mut Settings) {
    production_sessions(settings);
    settings.smtp_url = Some("smtp://127.0.0.1:2525".into());
    settings.mail_from = Some("clinic@example.org".into());
}

/// The production values of the session and code-limit settings (the harness relaxes them).
fn production_sessions(settings: &mut Settings) {
    let production = Settings::default();
    settings.access_token_minutes = production.access_token_minutes;
    settings.session_idle_minutes = production.session_idle_minutes;
    settings.session_max_hours = production.session_max_hours;
    settings.codes_per_identifier_per_hour = production.codes_per_identifier_per_hour;
    settings.codes_per_ip_per_hour = production.codes_per_ip_per_hour;
}

fn two_codes_per_identifier(settings: &mut Settings) {
    production_sessions(settings);
    settings.codes_per_identifier_per_hour = 2;
}

/// A client that shows redirects instead of following them, as a test must see them.
pub(crate) fn browser_like() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// A page's answer: status, headers, body.
pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) html: String,
}

impl Page {
    async fn from(response: Response) -> Self {
        Self {
            status: response.status(),
            headers: response.headers().clone(),
            html: response.text().await.expect("a body"),
        }
    }

    pub(crate) fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    #[track_caller]
    pub(crate) fn assert_html(&self) {
        assert!(
            self.header(header::CONTENT_TYPE).starts_with("text/html"),
            "{} {}",
            self.status,
            self.html
        );
    }
}

/// Posts a page form as a browser on our own origin does.
pub(crate) async fn post_form(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
    cookie: Option<&str>,
) -> Page {
    let mut request = browser_like()
        .post(app.url(path))
        .header(header::ORIGIN, app.base.as_str())
        .form(form);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    Page::from(request.send().await.expect("a response")).await
}

pub(crate) async fn get_page(app: &TestApp, path: &str, cookie: Option<&str>) -> Page {
    let mut request = browser_like().get(app.url(path));
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    Page::from(request.send().await.expect("a response")).await
}

/// Asks for a code for `email` on the page and answers it: the sign-in's answer (a redirect
/// carrying the session cookie).
pub(crate) async fn answer_code(app: &TestApp, email: &str, next: &str) -> Page {
    let asked = post_form(app, "/login", &[("email", email), ("next", next)], None).await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.html);
    assert!(asked.html.contains("name=\"code\""), "{}", asked.html);
    let code = app.codes.last_code(email).expect("a code was sent");
    post_form(
        app,
        "/login/code",
        &[("email", email), ("code", &code), ("next", next)],
        None,
    )
    .await
}

/// Signs `email` in through `/login` (and the welcome step, for a new patient) and returns the
/// sign-in's answer: its `Set-Cookie`, and where it finally leads.
pub(crate) async fn sign_in_on_the_page(app: &TestApp, email: &str, next: &str) -> Page {
    let mut signed_in = answer_code(app, email, next).await;
    // A new patient is welcomed first (name and date of birth), then sent on to `next`: the
    // answer returned is the sign-in's (its cookie) with the welcome step's destination.
    if signed_in.header(header::LOCATION).starts_with("/welcome") {
        let cookie = cookie_pair(&signed_in);
        // The address as the name, so pages name the person as before the step existed.
        let name = email;
        let welcomed = post_form(
            app,
            "/welcome",
            &[
                ("name", name),
                ("date_of_birth", "1980-01-01"),
                ("next", next),
            ],
            Some(&cookie),
        )
        .await;
        assert_eq!(welcomed.status, StatusCode::SEE_OTHER, "{}", welcomed.html);
        if let Some(location) = welcomed.headers.get(header::LOCATION) {
            signed_in.headers.insert(header::LOCATION, location.clone());
        }
    }
    signed_in
}

/// `medibook_session=<token>` from a `Set-Cookie`.
pub(crate) fn cookie_pair(page: &Page) -> String {
    page.header(header::SET_COOKIE)
        .split(';')
        .next()
        .expect("a cookie")
        .to_owned()
}

async fn me_status(app: &TestApp, cookie: &str) -> StatusCode {
    browser_like()
        .get(app.url("/api/v1/me"))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .expect("a response")
        .status()
}

async fn page_sign_in_sets_a_session_cookie_that_works_until_sign_out(app: TestApp) {
    let next = format!("/doctors/{}?week=2027-03-01", app.doctor);
    let signed_in = sign_in_on_the_page(&app, "ada@example.org", &next).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.html
    );
    assert_eq!(signed_in.header(header::LOCATION), next);
    let set_cookie = signed_in.header(header::SET_COOKIE).to_owned();
    assert!(set_cookie.starts_with("medibook_session="), "{set_cookie}");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"] {
        assert!(set_cookie.contains(flag), "{flag} in {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "Secure only over HTTPS");
    let cookie = cookie_pair(&signed_in);

    // The cookie alone signs API calls in (same-origin scripts) and shows the person.
    let me: serde_json::Value = browser_like()
        .get(app.url("/api/v1/me"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .expect("a response")
        .json()
        .await
        .expect("json");
    assert_eq!(me["email"], "ada@example.org");
    let home = get_page(&app, "/", Some(&cookie)).await;
    assert!(home.html.contains("ada@example.org") && home.html.contains("Sign out"));
    assert_eq!(home.header(header::CACHE_CONTROL), "no-store");
    // A bearer token still wins over the cookie.
    let bearer = browser_like()
        .get(app.url("/api/v1/me"))
        .header(header::COOKIE, &cookie)
        .bearer_auth("not-a-token")
        .send()
        .await
        .expect("a response");
    assert_eq!(bearer.status(), StatusCode::UNAUTHORIZED);

    // Signing out ends the session: the same cookie is worthless at once.
    let signed_out = post_form(&app, "/logout", &[], Some(&cookie)).await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_out.header(header::LOCATION), "/");
    assert!(
        signed_out
            .header(header::SET_COOKIE)
            .starts_with("medibook_session=;")
            && signed_out.header(header::SET_COOKIE).contains("Max-Age=0")
    );
    assert_eq!(me_status(&app, &cookie).await, StatusCode::UNAUTHORIZED);
    let home = get_page(&app, "/", Some(&cookie)).await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.html.contains("Sign in") && !home.html.contains("ada@example.org"));
}

async fn the_page_session_ends_with_the_idle_timeout(app: TestApp) {
    let signed_in = sign_in_on_the_page(&app, "ada@example.org", "/").await;
    let cookie = cookie_pair(&signed_in);
    app.advance(20);
    assert_eq!(me_status(&app, &cookie).await, StatusCode::OK);
    app.advance(31);
    assert_eq!(
        me_status(&app, &cookie).await,
        StatusCode::UNAUTHORIZED,
        "31 idle minutes end the session, whatever the cookie's own expiry"
    );
}

async fn wrong_codes_and_bad_addresses_are_explained_on_the_page(app: TestApp) {
    let bad = post_form(&app, "/login", &[("email", "ada@example")], None).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    bad.assert_html();
    assert!(bad.html.contains("email address like name@example.org"));
    assert!(
        bad.html.contains("value=\"ada@example\""),
        "kept: {}",
        bad.html
    );
    assert!(bad.html.contains("aria-invalid=\"true\""));

    let phone = post_form(&app, "/login", &[("phone", "12")], None).await;
    assert_eq!(phone.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(phone.html.contains("international form"), "{}", phone.html);

    let asked = post_form(&app, "/login", &[("email", "ada@example.org")], None).await;
    assert_eq!(asked.status, StatusCode::OK);
    let code = app.codes.last_code("ada@example.org").expect("a code");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = post_form(
        &app,
        "/login/code",
        &[("email", "ada@example.org"), ("code", wrong)],
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    refused.assert_html();
    assert!(refused.html.contains("not right"), "{}", refused.html);
    assert!(refused.html.contains("value=\"ada@example.org\""));
    assert!(refused.header(header::SET_COOKIE).is_empty());

    let short = post_form(
        &app,
        "/login/code",
        &[("email", "ada@example.org"), ("code", "12")],
        None,
    )
    .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.html.contains("6-digit code"), "{}", short.html);

    // Five wrong tries kill the code; the page says to ask for a new one.
    for _ in 0..5 {
        post_form(
            &app,
            "/login/code",
            &[("email", "ada@example.org"), ("code", wrong)],
            None,
        )
        .await;
    }
    let locked = post_form(
        &app,
        "/login/code",
        &[("email", "ada@example.org"), ("code", &code)],
        None,
    )
    .await;
    assert_eq!(locked.status, StatusCode::BAD_REQUEST);
    assert!(
        locked.html.contains("ask for a new code"),
        "{}",
        locked.html
    );
}

async fn too_many_code_requests_are_explained_on_the_page(app: TestApp) {
    for _ in 0..2 {
        let asked = post_form(&app, "/login", &[("email", "ada@example.org")], None).await;
        assert_eq!(asked.status, StatusCode::OK);
    }
    let limited = post_form(&app, "/login", &[("email", "ada@example.org")], None).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    limited.assert_html();
    assert!(limited.html.contains("Too many codes"), "{}", limited.html);
    assert!(limited.html.contains("value=\"ada@example.org\""));
}

async fn only_local_paths_are_followed_after_sign_in(app: TestApp) {
    for (i, (next, expected)) in [
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("/search?q=cardiology", "/search?q=cardiology"),
    ]
    .into_iter()
    .enumerate()
    {
        let email = format!("next{i}@example.org");
        let signed_in = sign_in_on_the_page(&app, &email, next).await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{next}");
        assert_eq!(signed_in.header(header::LOCATION), expected, "{next}");
    }
}

async fn sign_in_forms_sent_from_other_sites_are_refused(app: TestApp) {
    for path in ["/login", "/login/code"] {
        let forged = browser_like()
            .post(app.url(path))
            .header(header::ORIGIN, "https://evil.example")
            .form(&[("email", "victim@example.org"), ("code", "123456")])
            .send()
            .await
            .expect("a response");
        let page = Page::from(forged).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        page.assert_html();
        assert!(page.header(header::SET_COOKIE).is_empty());
    }
    assert_eq!(
        app.codes.last_code("victim@example.org"),
        None,
        "no code sent"
    );
}

async fn pages_answer_mistakes_with_html_and_the_api_with_problems(app: TestApp) {
    for (path, status, says) in [
        ("/no/such/page", StatusCode::NOT_FOUND, "Page not found"),
        (
            "/doctors/not-a-uuid",
            StatusCode::NOT_FOUND,
            "Page not found",
        ),
        (
            "/doctors/01890a5d-ac96-774b-bcce-b302099a8057",
            StatusCode::NOT_FOUND,
            "Doctor not found",
        ),
        (
            "/specialties/01890a5d-ac96-774b-bcce-b302099a8057",
            StatusCode::NOT_FOUND,
            "Specialty not found",
        ),
        (
            "/doctors/{doctor}?week=soon",
            StatusCode::BAD_REQUEST,
            "is not a date",
        ),
    ] {
        let path = path.replace("{doctor}", &app.doctor.to_string());
        let page = get_page(&app, &path, None).await;
        assert_eq!(page.status, status, "{path}");
        page.assert_html();
        assert!(page.html.contains(says), "{path}: {}", page.html);
    }
    let reload = get_page(&app, "/logout", None).await;
    assert_eq!(reload.status, StatusCode::METHOD_NOT_ALLOWED);
    reload.assert_html();
    let long = get_page(&app, &format!("/search?q={}", "x".repeat(101)), None).await;
    assert_eq!(long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(long.html.contains("at most 100 characters"));

    let api = get_page(&app, "/api/v1/nowhere", None).await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert_eq!(api.header(header::CONTENT_TYPE), "application/problem+json");
}

async fn the_slot_picker_names_every_slot_and_hides_taken_ones(app: TestApp) {
    let token = app.sign_in("bea@example.org").await;
    let held = app.hold(&token, app.doctor, &tuesday("09:30")).await;
    assert_eq!(held.status, StatusCode::CREATED, "{}", held.body);

    let page = get_page(
        &app,
        &format!("/doctors/{}?week=2027-03-01", app.doctor),
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = &page.html;
    assert!(html.contains("Europe/Berlin"), "the zone is named");
    assert!(html.contains("1 – 7 March 2027"), "the week is named");
    // A free slot: a button in a plain form, with its start and full name.
    let free = "<button type=\"submit\" class=\"slot-button\" \
                data-start=\"2027-03-02T08:00:00Z\" \
                aria-label=\"Tuesday 2 March 2027, 09:00 to 09:30\">09:00</button>";
    assert!(html.contains(free), "{html}");
    assert!(html.contains("action=\"/book/hold\""));
    // The held slot is on the page but hidden and disabled, ready to come back live.
    let taken = "aria-label=\"Tuesday 2 March 2027, 09:30 to 10:00\" disabled>09:30</button>";
    assert!(html.contains(taken), "{html}");
    let item = html
        .split("<li class=\"slot\"")
        .find(|item| item.contains("2027-03-02T08:30:00Z"))
        .expect("the held slot's item");
    assert!(item.starts_with(" hidden>"), "{item}");
    // The live picker starts from the event number the page was drawn at.
    assert!(html.contains("data-seq=\"1\""), "one change so far: {html}");
    assert!(html.contains("/assets/slots.js?v="));
    assert!(
        html.contains("class=\"waitlist\" hidden"),
        "no waitlist offer while slots are free"
    );
}

async fn assets_are_versioned_and_cacheable_even_for_signed_in_people(app: TestApp) {
    let home = get_page(&app, "/", None).await;
    let link = home
        .html
        .split("href=\"/assets/medibook.css?v=")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a versioned stylesheet link")
        .to_owned();
    let token = app.sign_in("ada@example.org").await;
    let versioned = browser_like()
        .get(app.url(&format!("/assets/medibook.css?v={link}")))
        .header(header::COOKIE, "medibook_session=whatever")
        .bearer_auth(&token)
        .send()
        .await
        .expect("a response");
    assert_eq!(versioned.status(), StatusCode::OK);
    assert_eq!(
        versioned.headers()[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert!(
        versioned.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("text")
            .starts_with("text/css")
    );
    let etag = versioned.headers()[header::ETAG].clone();

    let module = get_page(&app, "/assets/announce.js", None).await;
    assert_eq!(module.header(header::CACHE_CONTROL), "public, no-cache");
    assert!(
        module
            .header(header::CONTENT_TYPE)
            .starts_with("text/javascript")
    );

    let unchanged = browser_like()
        .get(app.url("/assets/medibook.css"))
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .expect("a response");
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);

    let missing = get_page(&app, "/assets/nothing.js", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

async fn in_development_without_a_channel_the_code_page_shows_the_code(app: TestApp) {
    let asked = post_form(&app, "/login", &[("email", "ada@example.org")], None).await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.html);
    let code = app.codes.last_code("ada@example.org").expect("a code");
    assert!(asked.html.contains("Development mode"), "{}", asked.html);
    assert!(
        asked.html.contains(&format!("data-dev-code>{code}<")),
        "{}",
        asked.html
    );
}

async fn with_a_delivery_channel_the_code_page_never_shows_the_code(app: TestApp) {
    let asked = post_form(&app, "/login", &[("email", "ada@example.org")], None).await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.html);
    let code = app.codes.last_code("ada@example.org").expect("a code");
    assert!(!asked.html.contains("Development mode"), "{}", asked.html);
    assert!(!asked.html.contains(&code), "{}", asked.html);
}

async fn a_new_patient_is_welcomed_for_name_and_birth_date_then_goes_on(app: TestApp) {
    let next = format!("/doctors/{}?week=2027-03-01", app.doctor);
    let signed_in = answer_code(&app, "ada@example.org", &next).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    let welcome = signed_in.header(header::LOCATION).to_owned();
    assert!(welcome.starts_with("/welcome?next="), "{welcome}");
    let cookie = cookie_pair(&signed_in);
    let page = get_page(&app, &welcome, Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    page.assert_html();
    assert!(
        page.html.contains("name=\"date_of_birth\""),
        "{}",
        page.html
    );

    for (name, born, says) in [
        ("Ada Lovelace", "", "date of birth"),
        ("Ada Lovelace", "2999-01-01", "future"),
        ("", "1985-12-10", "name"),
    ] {
        let refused = post_form(
            &app,
            "/welcome",
            &[("name", name), ("date_of_birth", born), ("next", &next)],
            Some(&cookie),
        )
        .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{born}");
        assert!(refused.html.contains(says), "{says}: {}", refused.html);
        assert!(refused.html.contains(&next.replace('&', "&amp;")) || refused.html.contains(&next));
    }
    let welcomed = post_form(
        &app,
        "/welcome",
        &[
            ("name", "Ada Lovelace"),
            ("date_of_birth", "1985-12-10"),
            ("next", &next),
        ],
        Some(&cookie),
    )
    .await;
    assert_eq!(welcomed.status, StatusCode::SEE_OTHER);
    assert_eq!(welcomed.header(header::LOCATION), next);
    let me = get_page(&app, "/profile", Some(&cookie)).await;
    assert!(me.html.contains("value=\"1985-12-10\""), "{}", me.html);

    // The next sign-in goes straight on.
    let again = answer_code(&app, "ada@example.org", &next).await;
    assert_eq!(again.header(header::LOCATION), next);
}
