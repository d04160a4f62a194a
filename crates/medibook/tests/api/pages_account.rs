//! The profile and contact pages over plain HTTP: a person keeps their name and patient record
//! (with the same checks as `PATCH /api/v1/me`), and anyone writes to the clinic through the contact form,
//! whose mistakes are explained next to the fields, whose honeypot drops bots silently, and
//! whose rate limit is said on the page with what was typed kept.

#![allow(clippy::expect_used)]

use reqwest::StatusCode;
use reqwest::header;

use crate::backend_tests;
use crate::harness::TestApp;
use crate::pages::{get_page, post_form};
use crate::pages_booking::signed_in;

backend_tests!(
    the_profile_needs_sign_in_and_renames_the_person,
    the_profile_keeps_the_patient_record_and_explains_mistakes,
    the_contact_form_sends_a_message_and_explains_mistakes,
    the_contact_form_says_when_too_many_messages_were_sent,
);

async fn the_profile_needs_sign_in_and_renames_the_person(app: TestApp) {
    let stranger = get_page(&app, "/profile", None).await;
    assert_eq!(stranger.status, StatusCode::SEE_OTHER);
    assert_eq!(stranger.header(header::LOCATION), "/login?next=%2Fprofile");

    let cookie = signed_in(&app, "ada@example.org").await;
    let profile = get_page(&app, "/profile", Some(&cookie)).await;
    assert_eq!(profile.status, StatusCode::OK, "{}", profile.html);
    profile.assert_html();
    assert!(profile.html.contains("ada@example.org"));
    assert!(profile.html.contains(">Patient<"), "{}", profile.html);
    // The header's name leads to the profile, marked as the page shown.
    assert!(
        profile
            .html
            .contains("href=\"/profile\" aria-current=\"page\"")
    );

    let blank = post_form(&app, "/profile", &[("name", "   ")], Some(&cookie)).await;
    assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(blank.html.contains("Enter your name."), "{}", blank.html);
    assert!(blank.html.contains("aria-invalid=\"true\""));
    let long = "a".repeat(101);
    let too_long = post_form(&app, "/profile", &[("name", &long)], Some(&cookie)).await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(too_long.html.contains(&long), "what was typed stays");

    let saved = post_form(
        &app,
        "/profile",
        &[("name", "  Ada Lovelace ")],
        Some(&cookie),
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    assert_eq!(saved.header(header::LOCATION), "/profile?notice=saved");
    let profile = get_page(&app, "/profile?notice=saved", Some(&cookie)).await;
    assert!(profile.html.contains("Your profile is saved."));
    assert!(profile.html.contains("value=\"Ada Lovelace\""));
    let home = get_page(&app, "/", Some(&cookie)).await;
    assert!(
        home.html.contains("Ada Lovelace"),
        "the header names the person"
    );

    // A post from another site changes nothing.
    // (The cookie is refused by the site-wide check, which answers a page with a page.)
    let (forged, kind) = browser_post_from(&app, "https://evil.example", &cookie).await;
    assert_eq!(forged, StatusCode::FORBIDDEN);
    assert!(kind.starts_with("text/html"), "{kind}");
    let profile = get_page(&app, "/profile", Some(&cookie)).await;
    assert!(profile.html.contains("value=\"Ada Lovelace\""));
}

async fn browser_post_from(app: &TestApp, origin: &str, cookie: &str) -> (StatusCode, String) {
    let response = crate::pages::browser_like()
        .post(app.url("/profile"))
        .header(header::ORIGIN, origin)
        .header(header::COOKIE, cookie)
        .form(&[("name", "Mallory")])
        .send()
        .await
        .expect("a response");
    let kind = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (response.status(), kind)
}

async fn the_contact_form_sends_a_message_and_explains_mistakes(app: TestApp) {
    let form = get_page(&app, "/contact", None).await;
    assert_eq!(form.status, StatusCode::OK);
    form.assert_html();
    assert!(
        form.html.contains("name=\"website\""),
        "the honeypot is there"
    );

    let empty = post_form(
        &app,
        "/contact",
        &[("name", ""), ("email", "not an address"), ("message", " ")],
        None,
    )
    .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    for message in [
        "Enter your name.",
        "Enter an email address like name@example.org.",
        "Write your message.",
    ] {
        assert!(empty.html.contains(message), "{message}: {}", empty.html);
    }
    assert!(empty.html.contains("value=\"not an address\""));
    assert_eq!(app.count("SELECT COUNT(*) FROM contact_messages").await, 0);

    let sent = post_form(
        &app,
        "/contact",
        &[
            ("name", "Ada"),
            ("email", "ada@example.org"),
            ("message", "Is there parking near the clinic?"),
            ("website", ""),
        ],
        None,
    )
    .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.html);
    assert_eq!(sent.header(header::LOCATION), "/contact?notice=sent");
    assert_eq!(app.count("SELECT COUNT(*) FROM contact_messages").await, 1);
    let thanks = get_page(&app, "/contact?notice=sent", None).await;
    assert!(thanks.html.contains("your message is with the clinic"));

    // A bot that fills the hidden field is thanked the same way and stored nowhere.
    let bot = post_form(
        &app,
        "/contact",
        &[
            ("name", "Bot"),
            ("email", "bot@example.org"),
            ("message", "Buy now"),
            ("website", "https://spam.example"),
        ],
        None,
    )
    .await;
    assert_eq!(bot.status, StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT COUNT(*) FROM contact_messages").await, 1);

    // Signed-in people find their name and email filled in.
    let cookie = signed_in(&app, "bea@example.org").await;
    let form = get_page(&app, "/contact", Some(&cookie)).await;
    assert!(
        form.html.contains("value=\"bea@example.org\""),
        "{}",
        form.html
    );
}

async fn the_contact_form_says_when_too_many_messages_were_sent(app: TestApp) {
    let mut last = None;
    for n in 0..20 {
        let message = format!("Question number {n}");
        let page = post_form(
            &app,
            "/contact",
            &[
                ("name", "Ada"),
                ("email", "ada@example.org"),
                ("message", &message),
            ],
            None,
        )
        .await;
        if page.status != StatusCode::SEE_OTHER {
            last = Some((page, message));
            break;
        }
    }
    let (page, message) = last.expect("the contact limit is reached within 20 messages");
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS, "{}", page.html);
    page.assert_html();
    assert!(page.html.contains("Too many messages"), "{}", page.html);
    assert!(page.html.contains(&message), "what was typed stays");
}

async fn the_profile_keeps_the_patient_record_and_explains_mistakes(app: TestApp) {
    let cookie = signed_in(&app, "ada@example.org").await;
    let form = |born: &'static str| {
        vec![
            ("name", "Ada Lovelace"),
            ("date_of_birth", born),
            ("sex", "female"),
            ("address", "12 St James's Square\nLondon"),
            ("medical_history", "Allergic to penicillin"),
        ]
    };
    let future = post_form(&app, "/profile", &form("2999-01-01"), Some(&cookie)).await;
    assert_eq!(future.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        future
            .html
            .contains("Date of birth must not be in the future."),
        "{}",
        future.html
    );
    assert!(
        future
            .html
            .contains("id=\"date_of_birth\" name=\"date_of_birth\" aria-invalid=\"true\""),
        "{}",
        future.html
    );
    assert!(
        future.html.contains("Allergic to penicillin"),
        "what was typed stays"
    );

    let saved = post_form(&app, "/profile", &form("1815-12-10"), Some(&cookie)).await;
    assert_eq!(
        saved.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "before 1900"
    );
    let saved = post_form(&app, "/profile", &form("1985-12-10"), Some(&cookie)).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let profile = get_page(&app, "/profile", Some(&cookie)).await;
    profile.assert_html();
    assert!(profile.html.contains("value=\"1985-12-10\""));
    assert!(profile.html.contains("<option value=\"female\" selected>"));
    assert!(profile.html.contains("Allergic to penicillin"));
    // A form without the free-text fields leaves them as they are.
    let renamed = post_form(&app, "/profile", &[("name", "Ada King")], Some(&cookie)).await;
    assert_eq!(renamed.status, StatusCode::SEE_OTHER);
    let profile = get_page(&app, "/profile", Some(&cookie)).await;
    assert!(profile.html.contains("Allergic to penicillin"));
    assert!(profile.html.contains("value=\"Ada King\""));
}
