//! The contact inbox worked by the front desk: a receptionist reads it, answers a message by
//! e-mail (queued in the outbox, the writer's address as recipient, the message quoted) and
//! marks messages handled or waiting again, through the API and on the pages; the reply's
//! text never reaches the audit trail; patients and doctors are refused.

#![allow(clippy::expect_used)]

use reqwest::header;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::front_desk::sign_in_as_receptionist;
use crate::harness::TestApp;
use crate::pages::{cookie_pair, get_page, post_form, sign_in_on_the_page};
use crate::staff::{assert_problem, assert_status, send, set_role_in_database, sign_in_as_admin};

backend_tests!(
    the_desk_answers_a_message_by_email_and_marks_it_handled,
    an_empty_reply_or_an_unknown_message_is_refused_and_patients_may_not_answer,
    the_inbox_page_answers_and_marks_messages,
);

/// Grace writes through the contact form; returns the message's id as the desk sees it.
async fn grace_writes(app: &TestApp, desk: &str) -> String {
    let sent = app
        .post(
            None,
            "/api/v1/contact",
            json!({
                "name": "Grace Hopper",
                "email": "grace@example.org",
                "message": "Do you offer evening appointments?\nThanks!",
            }),
        )
        .await;
    assert_status(&sent, StatusCode::ACCEPTED);
    let inbox = app.get(Some(desk), "/api/v1/admin/contact-messages").await;
    assert_status(&inbox, StatusCode::OK);
    let first = &inbox.body[0];
    assert_eq!(first["handled_at"], Value::Null);
    first["id"].as_str().expect("an id").to_owned()
}

async fn the_desk_answers_a_message_by_email_and_marks_it_handled(app: TestApp) {
    let admin = sign_in_as_admin(&app, "boss@example.org").await;
    let desk = sign_in_as_receptionist(&app, &admin, "desk@example.org").await;
    let id = grace_writes(&app, &desk).await;

    let answer = "Yes: Tuesdays until 20:00. Book online any time.";
    let replied = send(
        &app,
        Method::POST,
        Some(&desk),
        &format!("/api/v1/admin/contact-messages/{id}/reply"),
        Some(json!({ "text": answer })),
    )
    .await;
    assert_status(&replied, StatusCode::ACCEPTED);
    assert!(replied.body["handled_at"].is_string(), "{}", replied.body);
    assert!(replied.body["replied_at"].is_string(), "{}", replied.body);

    // One e-mail to the writer, with the answer and their message quoted.
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM outbox WHERE kind = 'contact_reply' \
             AND recipient_kind = 'email' AND recipient = 'grace@example.org' \
             AND body LIKE '%Tuesdays until 20:00%' AND body LIKE '%> Do you offer evening%'"
        )
        .await,
        1
    );
    // Audited with the receptionist as actor, without the reply's text.
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'contact.reply' \
             AND actor_role = 'receptionist'"
        )
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE detail LIKE '%Tuesdays%'")
            .await,
        0
    );

    // Back to waiting, then handled again.
    let path = format!("/api/v1/admin/contact-messages/{id}/handled");
    let reopened = send(
        &app,
        Method::PUT,
        Some(&desk),
        &path,
        Some(json!({ "handled": false })),
    )
    .await;
    assert_status(&reopened, StatusCode::OK);
    assert_eq!(reopened.body["handled_at"], Value::Null);
    assert!(reopened.body["replied_at"].is_string());
    let inbox = app.get(Some(&desk), "/api/v1/admin/contact-messages").await;
    assert_eq!(inbox.body[0]["handled_at"], Value::Null);
    let handled = send(
        &app,
        Method::PUT,
        Some(&admin),
        &path,
        Some(json!({ "handled": true })),
    )
    .await;
    assert_status(&handled, StatusCode::OK);
    assert!(handled.body["handled_at"].is_string());
}

async fn an_empty_reply_or_an_unknown_message_is_refused_and_patients_may_not_answer(app: TestApp) {
    let admin = sign_in_as_admin(&app, "boss@example.org").await;
    let desk = sign_in_as_receptionist(&app, &admin, "desk@example.org").await;
    let id = grace_writes(&app, &desk).await;
    let reply = |id: &str| format!("/api/v1/admin/contact-messages/{id}/reply");

    let empty = send(
        &app,
        Method::POST,
        Some(&desk),
        &reply(&id),
        Some(json!({ "text": "  " })),
    )
    .await;
    assert_problem(&empty, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let unknown = uuid::Uuid::now_v7().to_string();
    let missing = send(
        &app,
        Method::POST,
        Some(&desk),
        &reply(&unknown),
        Some(json!({ "text": "Hi" })),
    )
    .await;
    assert_problem(&missing, StatusCode::NOT_FOUND, "not_found");

    let patient = app.sign_in("pat@example.org").await;
    let refused = send(
        &app,
        Method::POST,
        Some(&patient),
        &reply(&id),
        Some(json!({ "text": "Hi" })),
    )
    .await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "forbidden");
    let listing = app
        .get(Some(&patient), "/api/v1/admin/contact-messages")
        .await;
    assert_problem(&listing, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox WHERE kind = 'contact_reply'")
            .await,
        0
    );
}

async fn the_inbox_page_answers_and_marks_messages(app: TestApp) {
    let signed_in = sign_in_on_the_page(&app, "desk@example.org", "/").await;
    set_role_in_database(&app, "desk@example.org", "receptionist", None).await;
    let cookie = cookie_pair(&signed_in);
    let admin = sign_in_as_admin(&app, "boss@example.org").await;
    let id = grace_writes(&app, &admin).await;

    let inbox = get_page(&app, "/desk/messages", Some(&cookie)).await;
    assert_eq!(inbox.status, StatusCode::OK, "{}", inbox.html);
    assert!(
        inbox.html.contains("1 waiting for an answer"),
        "{}",
        inbox.html
    );
    assert!(inbox.html.contains("Answer by e-mail"), "{}", inbox.html);

    let replied = post_form(
        &app,
        &format!("/desk/messages/{id}/reply"),
        &[
            ("text", "We open late on Tuesdays."),
            ("back", "/desk/messages"),
        ],
        Some(&cookie),
    )
    .await;
    assert_eq!(replied.status, StatusCode::SEE_OTHER, "{}", replied.html);
    let to = replied.header(header::LOCATION).to_owned();
    assert!(to.starts_with("/desk/messages?notice=replied"), "{to}");
    let after = get_page(&app, &to, Some(&cookie)).await;
    assert!(
        after.html.contains("0 waiting for an answer"),
        "{}",
        after.html
    );
    assert!(after.html.contains("answered by e-mail"), "{}", after.html);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox WHERE kind = 'contact_reply'")
            .await,
        1
    );

    let empty = post_form(
        &app,
        &format!("/desk/messages/{id}/reply"),
        &[("text", ""), ("back", "/desk/messages")],
        Some(&cookie),
    )
    .await;
    assert!(
        empty
            .header(header::LOCATION)
            .contains("notice=reply-empty")
    );

    let reopened = post_form(
        &app,
        &format!("/desk/messages/{id}/handled"),
        &[("handled", "false"), ("back", "/admin/messages")],
        Some(&cookie),
    )
    .await;
    assert!(
        reopened
            .header(header::LOCATION)
            .starts_with("/admin/messages?notice=reopened"),
        "{}",
        reopened.header(header::LOCATION)
    );
    let waiting = get_page(&app, "/desk/messages", Some(&cookie)).await;
    assert!(
        waiting.html.contains("1 waiting for an answer"),
        "{}",
        waiting.html
    );

    // The inbox is the desk's: a patient is refused the page and its forms.
    let patient = cookie_pair(&sign_in_on_the_page(&app, "pat@example.org", "/").await);
    assert_eq!(
        get_page(&app, "/desk/messages", Some(&patient))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let refused = post_form(
        &app,
        &format!("/desk/messages/{id}/handled"),
        &[("handled", "true"), ("back", "/desk/messages")],
        Some(&patient),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}
