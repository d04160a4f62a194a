//! What people are told about cancellations, missed visits and messages: the late-cancellation
//! window shown to patients (API and pages) and recorded when they cancel inside it, each
//! patient's no-shows and late cancellations in the doctor's agenda (API and page, never shown
//! to patients), and the outbox's status for admins (API and page: counts, filters, failure
//! reasons, masked recipients, never a body; everyone else refused).

use jiff::Timestamp;
use medibook_core::clock::Clock;
use medibook_core::delivery::OutboundMessage;
use medibook_core::identity::{Email, Identifier, PhoneNumber};
use medibook_core::outbox::{MessageKind, NewMessage, OutboxRepository};
use reqwest::header;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::harness::{Reply, TestApp, tuesday};
use crate::pages::{Page, cookie_pair, get_page, post_form, sign_in_on_the_page};
use crate::staff::{send, set_role_in_database, sign_in_as_admin, sign_in_as_doctor};

backend_tests!(
    the_api_tells_until_when_cancelling_is_free_and_records_late_cancellations,
    the_pages_warn_before_a_late_cancellation_and_say_it_was_late,
    the_doctors_agenda_shows_each_patients_no_shows_and_late_cancellations,
    patients_never_see_their_no_show_counts,
    admins_see_the_outbox_pending_after_booking_and_failed_with_the_reason,
    the_outbox_page_shows_counts_filters_and_failure_reasons,
    only_admins_read_the_outbox,
);

#[track_caller]
fn assert_status(reply: &Reply, status: StatusCode) {
    assert_eq!(reply.status, status, "{}", reply.body);
}

#[track_caller]
fn assert_page(page: &Page, status: StatusCode) {
    assert_eq!(page.status, status, "{}", page.html);
    page.assert_html();
}

#[track_caller]
fn assert_contains(page: &Page, text: &str) {
    assert!(page.html.contains(text), "{text:?} not in:\n{}", page.html);
}

fn list(body: &Value) -> &[Value] {
    body.as_array()
        .unwrap_or_else(|| panic!("not a list: {body}"))
}

fn instant(text: &str) -> Timestamp {
    text.parse().expect("an instant")
}

fn instant_of(value: &Value) -> Timestamp {
    instant(
        value
            .as_str()
            .unwrap_or_else(|| panic!("not an instant: {value}")),
    )
}

/// Signs `email` in on the pages and returns the session cookie.
async fn page_cookie(app: &TestApp, email: &str) -> String {
    let page = sign_in_on_the_page(app, email, "/").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    cookie_pair(&page)
}

/// Holds and confirms `start` with `doctor`; returns the appointment id.
async fn book_with(
    app: &TestApp,
    token: &str,
    doctor: medibook_core::ids::DoctorId,
    start: &str,
) -> String {
    let hold = app.hold(token, doctor, start).await;
    assert_status(&hold, StatusCode::CREATED);
    let booked = app.confirm(token, &hold.id()).await;
    assert_status(&booked, StatusCode::CREATED);
    booked.id()
}

async fn late_cancellations_in_database(app: &TestApp) -> i64 {
    app.count(
        "SELECT COUNT(*) FROM appointments WHERE status = 'cancelled' AND late_cancellation <> 0",
    )
    .await
}

async fn the_api_tells_until_when_cancelling_is_free_and_records_late_cancellations(app: TestApp) {
    // Monday 1 March, 08:00 UTC. The window is 24 hours (the default).
    let patient = app.sign_in("ada@example.org").await;
    let early = app.book(&patient, &tuesday("09:00")).await;
    let later = app.book(&patient, &tuesday("11:00")).await;

    let read = app
        .get(Some(&patient), &format!("/api/v1/appointments/{early}"))
        .await;
    assert_status(&read, StatusCode::OK);
    // Tuesday 09:00 in Berlin is 08:00 UTC: free until Monday 08:00 UTC.
    assert_eq!(
        instant_of(&read.body["free_cancellation_until"]),
        instant("2027-03-01T08:00:00Z")
    );
    assert_eq!(read.body["late_cancellation"], false);
    let listed = app.get(Some(&patient), "/api/v1/appointments").await;
    assert_status(&listed, StatusCode::OK);
    let of_later = list(&listed.body)
        .iter()
        .find(|a| a["id"] == later.as_str())
        .expect("listed");
    assert_eq!(
        instant_of(&of_later["free_cancellation_until"]),
        instant("2027-03-01T10:00:00Z")
    );

    // One minute later the first is inside its window, the second is not.
    app.advance(1);
    let late = app.cancel(&patient, &early).await;
    assert_status(&late, StatusCode::OK);
    assert_eq!(late.body["status"], "cancelled");
    assert_eq!(late.body["late_cancellation"], true);
    let free = app.cancel(&patient, &later).await;
    assert_status(&free, StatusCode::OK);
    assert_eq!(free.body["late_cancellation"], false);
    assert_eq!(late_cancellations_in_database(&app).await, 1);

    // Cancelling again changes nothing, and reading it back says the same.
    let again = app.cancel(&patient, &later).await;
    assert_eq!(again.body["late_cancellation"], false);
    let reread = app
        .get(Some(&patient), &format!("/api/v1/appointments/{early}"))
        .await;
    assert_eq!(reread.body["late_cancellation"], true);
    assert_eq!(late_cancellations_in_database(&app).await, 1);

    // The OpenAPI document describes both fields.
    let document = app.get(None, "/api/v1/openapi.json").await;
    let properties = &document.body["components"]["schemas"]["AppointmentResponse"]["properties"];
    assert!(
        properties["free_cancellation_until"].is_object(),
        "{properties}"
    );
    assert_eq!(properties["late_cancellation"]["type"], "boolean");
    let required = document.body["components"]["schemas"]["AppointmentResponse"]["required"]
        .as_array()
        .expect("required fields");
    assert!(required.iter().any(|f| f == "free_cancellation_until"));
}

async fn the_pages_warn_before_a_late_cancellation_and_say_it_was_late(app: TestApp) {
    let cookie = page_cookie(&app, "ada@example.org").await;
    let patient = app.sign_in("ada@example.org").await;
    let soon = app.book(&patient, &tuesday("09:00")).await;
    let later = app.book(&patient, &tuesday("11:00")).await;
    app.advance(1);

    // Outside the window: the time until which cancelling is free, in the doctor's zone.
    let page = get_page(&app, &format!("/appointments/{later}"), Some(&cookie)).await;
    assert_page(&page, StatusCode::OK);
    assert_contains(&page, "Free cancellation");
    assert_contains(&page, "Monday 1 March 2027, 11:00");
    assert!(
        !page.html.contains("late-cancellation-warning"),
        "{}",
        page.html
    );
    let asking = get_page(
        &app,
        &format!("/appointments/{later}/cancel"),
        Some(&cookie),
    )
    .await;
    assert_page(&asking, StatusCode::OK);
    assert_contains(&asking, "cancelling now is free");
    assert!(!asking.html.contains("late-cancellation-warning"));

    // Inside it: a warning before the button, on the appointment and the cancel page.
    let page = get_page(&app, &format!("/appointments/{soon}"), Some(&cookie)).await;
    assert_page(&page, StatusCode::OK);
    assert_contains(&page, "id=\"late-cancellation-warning\"");
    assert_contains(&page, "Cancelling now counts as a late cancellation.");
    assert_contains(&page, "Monday 1 March 2027, 09:00");
    let asking = get_page(&app, &format!("/appointments/{soon}/cancel"), Some(&cookie)).await;
    assert_page(&asking, StatusCode::OK);
    let warning = asking
        .html
        .find("late-cancellation-warning")
        .expect("a warning");
    let button = asking
        .html
        .find("Cancel the appointment</button>")
        .expect("the button");
    assert!(warning < button, "the warning comes before the button");
    let listing = get_page(&app, "/appointments", Some(&cookie)).await;
    assert_contains(&listing, "cancelling now is late");

    // Cancelling inside the window says it was late, and the appointment keeps saying so.
    let done = post_form(
        &app,
        &format!("/appointments/{soon}/cancel"),
        &[],
        Some(&cookie),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert_eq!(
        done.header(header::LOCATION),
        "/appointments?notice=cancelled-late"
    );
    let told = get_page(&app, "/appointments?notice=cancelled-late", Some(&cookie)).await;
    assert_contains(&told, "it counts as a late cancellation");
    assert_contains(&told, "<span class=\"late-mark\">late cancellation</span>");
    let page = get_page(&app, &format!("/appointments/{soon}"), Some(&cookie)).await;
    assert_contains(&page, "id=\"cancelled-late\"");
    assert_contains(&page, "less than 24 hours before its start");
    assert_eq!(late_cancellations_in_database(&app).await, 1);

    // Outside the window it is an ordinary cancellation.
    let done = post_form(
        &app,
        &format!("/appointments/{later}/cancel"),
        &[],
        Some(&cookie),
    )
    .await;
    assert_eq!(
        done.header(header::LOCATION),
        "/appointments?notice=cancelled"
    );
    let page = get_page(&app, &format!("/appointments/{later}"), Some(&cookie)).await;
    assert!(!page.html.contains("cancelled-late"), "{}", page.html);
    assert_eq!(late_cancellations_in_database(&app).await, 1);
}

/// Ada misses one visit, completes one and cancels one late with the test doctor; Bob books
/// once. Returns Ada's token, Bob's token and the ids of Ada's cancelled and upcoming visits.
async fn a_week_of_visits(app: &TestApp, doctor: &str) -> (String, String, String, String) {
    let ada = app.sign_in("ada@example.org").await;
    send(
        app,
        Method::PATCH,
        Some(&ada),
        "/api/v1/me",
        Some(json!({ "name": "Ada Lovelace" })),
    )
    .await;
    let bob = app.sign_in("bob@example.org").await;
    send(
        app,
        Method::PATCH,
        Some(&bob),
        "/api/v1/me",
        Some(json!({ "name": "Bob Baker" })),
    )
    .await;
    let missed = app.book(&ada, &tuesday("09:00")).await;
    let completed = app.book(&ada, &tuesday("09:30")).await;
    let cancelled = app.book(&ada, "2027-03-03T09:00:00+01:00").await;
    let upcoming = app.book(&ada, "2027-03-04T09:00:00+01:00").await;
    app.book(&bob, "2027-03-04T10:00:00+01:00").await;

    // Tuesday 09:35 in Berlin: both Tuesday visits have started, and Wednesday's 09:00 is
    // less than 24 hours away.
    app.clock.set(instant(&tuesday("09:35")));
    let no_show = app
        .post(
            Some(doctor),
            &format!("/api/v1/doctor/appointments/{missed}/no-show"),
            json!({}),
        )
        .await;
    assert_status(&no_show, StatusCode::OK);
    let done = app
        .post(
            Some(doctor),
            &format!("/api/v1/doctor/appointments/{completed}/complete"),
            json!({}),
        )
        .await;
    assert_status(&done, StatusCode::OK);
    let late = app.cancel(&ada, &cancelled).await;
    assert_status(&late, StatusCode::OK);
    assert_eq!(late.body["late_cancellation"], true);
    (ada, bob, cancelled, upcoming)
}

async fn the_doctors_agenda_shows_each_patients_no_shows_and_late_cancellations(app: TestApp) {
    let house = sign_in_as_doctor(&app, "house@example.org", app.doctor).await;
    let (ada, _bob, cancelled, upcoming) = a_week_of_visits(&app, &house).await;

    let agenda = app
        .get(Some(&house), "/api/v1/doctor/agenda?from=2027-03-01&days=7")
        .await;
    assert_status(&agenda, StatusCode::OK);
    let items = list(&agenda.body["appointments"]);
    assert_eq!(items.len(), 5, "{}", agenda.body);
    for item in items {
        let history = &item["patient_history"];
        if item["patient"]["email"] == "ada@example.org" {
            assert_eq!(history["completed"], 1, "{item}");
            assert_eq!(history["no_shows"], 1, "{item}");
            assert_eq!(history["late_cancellations"], 1, "{item}");
        } else {
            assert_eq!(item["patient"]["email"], "bob@example.org");
            assert_eq!(history["completed"], 0, "{item}");
            assert_eq!(history["no_shows"], 0, "{item}");
            assert_eq!(history["late_cancellations"], 0, "{item}");
        }
        assert_eq!(item["late_cancellation"], item["id"] == cancelled.as_str());
    }
    assert!(items.iter().any(|i| i["id"] == upcoming.as_str()));

    // The history is the patient's with the whole clinic: another doctor sees it too.
    let wilson = sign_in_as_doctor(&app, "wilson@example.org", app.limited_doctor).await;
    book_with(&app, &ada, app.limited_doctor, "2027-03-05T09:00:00+01:00").await;
    let theirs = app
        .get(
            Some(&wilson),
            "/api/v1/doctor/agenda?from=2027-03-05&days=1",
        )
        .await;
    assert_status(&theirs, StatusCode::OK);
    let items = list(&theirs.body["appointments"]);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["patient_history"]["no_shows"], 1);
    assert_eq!(items[0]["patient_history"]["late_cancellations"], 1);

    // The agenda page says the same on each visit.
    let cookie = page_cookie(&app, "house@example.org").await;
    let week = get_page(&app, "/doctor?view=week&date=2027-03-01", Some(&cookie)).await;
    assert_page(&week, StatusCode::OK);
    assert_contains(
        &week,
        "<p class=\"visit-history missed\">History: 1 visit, 1 no-show, 1 late cancellation</p>",
    );
    assert_contains(&week, "<p class=\"visit-history\">History: none yet</p>");
    assert_contains(
        &week,
        "<span class=\"visit-status\">Cancelled</span> <span class=\"visit-late\">late</span>",
    );
    assert_eq!(
        week.html
            .matches("History: 1 visit, 1 no-show, 1 late cancellation")
            .count(),
        4,
        "every one of Ada's visits carries her history"
    );
}

async fn patients_never_see_their_no_show_counts(app: TestApp) {
    let house = sign_in_as_doctor(&app, "house@example.org", app.doctor).await;
    let (ada, _, _, upcoming) = a_week_of_visits(&app, &house).await;
    let mine = app.get(Some(&ada), "/api/v1/appointments").await;
    assert_status(&mine, StatusCode::OK);
    let text = mine.body.to_string();
    for hidden in ["no_shows", "patient_history", "late_cancellations"] {
        assert!(!text.contains(hidden), "{hidden} in {text}");
    }
    let one = app
        .get(Some(&ada), &format!("/api/v1/appointments/{upcoming}"))
        .await;
    assert!(!one.body.to_string().contains("no_shows"));
    let refused = app
        .get(Some(&ada), "/api/v1/doctor/agenda?from=2027-03-01&days=7")
        .await;
    assert_status(&refused, StatusCode::FORBIDDEN);

    let cookie = page_cookie(&app, "ada@example.org").await;
    for path in [
        "/appointments".to_owned(),
        format!("/appointments/{upcoming}"),
    ] {
        let page = get_page(&app, &path, Some(&cookie)).await;
        assert_page(&page, StatusCode::OK);
        assert!(!page.html.contains("History:"), "{}", page.html);
        assert!(!page.html.contains("no-show"), "{}", page.html);
    }
}

/// Queues a message straight through the repository, as the services do.
async fn queue(
    app: &TestApp,
    key: &str,
    to: Identifier,
    kind: MessageKind,
    body: &str,
    sensitive: bool,
) {
    let message = NewMessage {
        idempotency_key: key.to_owned(),
        message: OutboundMessage {
            to,
            subject: format!("Subject of {key}"),
            body: body.to_owned(),
            attachment: None,
        },
        expires_at: None,
        sensitive,
        kind,
        appointment_id: None,
        due_at: None,
    };
    let queued = app
        .database
        .enqueue(&message, app.clock.now())
        .await
        .expect("queued");
    assert!(queued);
}

/// The outbox id of the only message of `kind`, through the admin API.
async fn only_id_of(app: &TestApp, admin: &str, kind: &str) -> String {
    let reply = app
        .get(Some(admin), &format!("/api/v1/admin/outbox?kind={kind}"))
        .await;
    assert_status(&reply, StatusCode::OK);
    let messages = list(&reply.body["messages"]);
    assert_eq!(messages.len(), 1, "{}", reply.body);
    messages[0]["id"].as_str().expect("id").to_owned()
}

fn phone(text: &str) -> Identifier {
    Identifier::Phone(PhoneNumber::parse(text).expect("a phone"))
}

fn email(text: &str) -> Identifier {
    Identifier::Email(Email::parse(text).expect("an email"))
}

async fn admins_see_the_outbox_pending_after_booking_and_failed_with_the_reason(app: TestApp) {
    let admin = sign_in_as_admin(&app, "admin@example.org").await;
    let empty = app.get(Some(&admin), "/api/v1/admin/outbox").await;
    assert_status(&empty, StatusCode::OK);
    assert_eq!(empty.body["summary"]["pending"], 0, "{}", empty.body);
    assert_eq!(empty.body["summary"]["oldest_pending_due"], Value::Null);

    // No worker runs in the harness: a booking's confirmation waits in the outbox.
    let patient = app.sign_in("ada@example.org").await;
    let appointment = app.book(&patient, &tuesday("09:00")).await;
    let reply = app
        .get(Some(&admin), "/api/v1/admin/outbox?kind=booked")
        .await;
    assert_status(&reply, StatusCode::OK);
    let messages = list(&reply.body["messages"]);
    assert_eq!(messages.len(), 1, "{}", reply.body);
    let booked = &messages[0];
    assert_eq!(booked["status"], "pending");
    assert_eq!(booked["kind"], "booked");
    assert_eq!(booked["channel"], "email");
    assert_eq!(booked["recipient"], "a•••@example.org");
    assert_eq!(booked["attempts"], 0);
    assert_eq!(booked["appointment_id"], appointment.as_str());
    assert_eq!(booked["finished_at"], Value::Null);
    assert!(booked.get("body").is_none(), "{booked}");
    let summary = &reply.body["summary"];
    assert!(
        summary["pending"].as_u64().expect("count") >= 1,
        "{summary}"
    );
    assert!(summary["oldest_pending_due"].is_string(), "{summary}");
    // Every message the filter returned is of that kind, and the summary covers them all.
    let all = app.get(Some(&admin), "/api/v1/admin/outbox").await;
    let total = list(&all.body["messages"]).len() as u64;
    assert_eq!(all.body["summary"]["pending"].as_u64(), Some(total));

    // A sign-in code and a text message that the gateway refused for good.
    queue(
        &app,
        "code-1",
        email("patient@example.com"),
        MessageKind::SignInCode,
        "Your MediBook one-time code is 493027.",
        true,
    )
    .await;
    queue(
        &app,
        "offer-1",
        phone("+49 30 1234578"),
        MessageKind::WaitlistOffer,
        "A slot is yours for 10 minutes.",
        false,
    )
    .await;
    let offer = only_id_of(&app, &admin, "waitlist_offer").await;
    app.database
        .mark_failed(&offer, app.clock.now(), "21211: not a valid phone number")
        .await
        .expect("marked");

    let failed = app
        .get(Some(&admin), "/api/v1/admin/outbox?status=failed")
        .await;
    assert_status(&failed, StatusCode::OK);
    let messages = list(&failed.body["messages"]);
    assert_eq!(messages.len(), 1, "{}", failed.body);
    assert_eq!(messages[0]["id"], offer.as_str());
    assert_eq!(messages[0]["status"], "failed");
    assert_eq!(messages[0]["channel"], "sms");
    assert_eq!(messages[0]["recipient"], "+49•••78");
    assert_eq!(messages[0]["last_error"], "21211: not a valid phone number");
    assert_eq!(messages[0]["attempts"], 1);
    assert!(messages[0]["finished_at"].is_string());
    assert_eq!(failed.body["summary"]["failed"], 1);

    // Newest first, and no body ever leaves the server.
    let all = app.get(Some(&admin), "/api/v1/admin/outbox").await;
    let text = all.body.to_string();
    assert!(!text.contains("493027"), "{text}");
    assert!(!text.contains("patient@example.com"), "{text}");
    assert!(!text.contains("301234578"), "{text}");
    assert!(text.contains("p•••@example.com"), "{text}");
    let created: Vec<Timestamp> = list(&all.body["messages"])
        .iter()
        .map(|m| instant_of(&m["created_at"]))
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "{created:?}");

    // Unknown filters are refused with a problem, not a 500.
    for query in ["status=lost", "kind=postcard", "page=0", "page=1001"] {
        let refused = app
            .get(Some(&admin), &format!("/api/v1/admin/outbox?{query}"))
            .await;
        assert_status(&refused, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(refused.problem_code(), "validation");
    }
    // Reads are in the audit trail.
    assert!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'outbox.read'")
            .await
            >= 4
    );
}

async fn the_outbox_page_shows_counts_filters_and_failure_reasons(app: TestApp) {
    let cookie = page_cookie(&app, "admin@example.org").await;
    set_role_in_database(&app, "admin@example.org", "admin", None).await;
    let admin = app.sign_in("admin@example.org").await;
    let patient = app.sign_in("ada@example.org").await;
    app.book(&patient, &tuesday("09:00")).await;
    queue(
        &app,
        "offer-1",
        phone("+49 30 1234578"),
        MessageKind::WaitlistOffer,
        "A slot is yours.",
        false,
    )
    .await;
    let offer = only_id_of(&app, &admin, "waitlist_offer").await;
    app.database
        .mark_failed(&offer, app.clock.now(), "gateway refused: blocked number")
        .await
        .expect("marked");

    let page = get_page(&app, "/admin/outbox", Some(&cookie)).await;
    assert_page(&page, StatusCode::OK);
    assert_contains(
        &page,
        "<a href=\"/admin/outbox\" aria-current=\"page\">Outbox</a>",
    );
    assert_contains(&page, "href=\"/admin/outbox?status=failed\"");
    assert_contains(&page, "<span class=\"console-count\">1</span> Failed");
    assert_contains(&page, "Oldest pending message due");
    assert_contains(&page, "Booking confirmation");
    assert_contains(&page, "a•••@example.org");
    assert_contains(&page, "+49•••78");
    assert_contains(&page, "gateway refused: blocked number");
    assert!(
        !page.html.contains("A slot is yours."),
        "bodies are never shown"
    );
    let rows = page.html.matches("<tr data-message-id=").count();
    assert!(rows >= 2, "{}", page.html);

    let failed = get_page(&app, "/admin/outbox?status=failed", Some(&cookie)).await;
    assert_page(&failed, StatusCode::OK);
    assert_eq!(failed.html.matches("<tr data-message-id=").count(), 1);
    assert_contains(&failed, &format!("data-message-id=\"{offer}\""));
    assert_contains(&failed, "<option value=\"failed\" selected>");

    let pending = get_page(
        &app,
        "/admin/outbox?status=pending&kind=booked",
        Some(&cookie),
    )
    .await;
    assert_page(&pending, StatusCode::OK);
    assert_eq!(pending.html.matches("<tr data-message-id=").count(), 1);
    assert!(!pending.html.contains("blocked number"));

    let wrong = get_page(&app, "/admin/outbox?status=lost", Some(&cookie)).await;
    assert_page(&wrong, StatusCode::UNPROCESSABLE_ENTITY);
    assert_contains(&wrong, "status must be one of");
    let wrong = get_page(&app, "/admin/outbox?page=many", Some(&cookie)).await;
    assert_page(&wrong, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn only_admins_read_the_outbox(app: TestApp) {
    let anonymous = app.get(None, "/api/v1/admin/outbox").await;
    assert_status(&anonymous, StatusCode::UNAUTHORIZED);
    let patient = app.sign_in("ada@example.org").await;
    let refused = app.get(Some(&patient), "/api/v1/admin/outbox").await;
    assert_status(&refused, StatusCode::FORBIDDEN);
    assert_eq!(refused.problem_code(), "forbidden");
    let doctor = sign_in_as_doctor(&app, "house@example.org", app.doctor).await;
    let refused = app.get(Some(&doctor), "/api/v1/admin/outbox").await;
    assert_status(&refused, StatusCode::FORBIDDEN);

    // The page: strangers go to sign-in, patients and doctors get the refusal page.
    let stranger = get_page(&app, "/admin/outbox", None).await;
    assert_eq!(stranger.status, StatusCode::SEE_OTHER);
    assert!(stranger.header(header::LOCATION).starts_with("/login"));
    let patient_cookie = page_cookie(&app, "ada@example.org").await;
    let page = get_page(&app, "/admin/outbox", Some(&patient_cookie)).await;
    assert_page(&page, StatusCode::FORBIDDEN);
    assert!(!page.html.contains("Oldest pending"));
    let doctor_cookie = page_cookie(&app, "house@example.org").await;
    let page = get_page(&app, "/admin/outbox", Some(&doctor_cookie)).await;
    assert_page(&page, StatusCode::FORBIDDEN);
}
