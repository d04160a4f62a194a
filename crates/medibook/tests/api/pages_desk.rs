//! The front desk on the pages, as a receptionist uses it without JavaScript: who may open
//! it, registering a caller, finding them, booking for them through the doctor's picker and
//! the ordinary hold and confirm pages, checking them in on the clinic's day, cancelling for
//! them, and a patient who tries to book in someone else's name.

#![allow(clippy::expect_used)]

use reqwest::StatusCode;
use reqwest::header;

use crate::backend_tests;
use crate::harness::{TestApp, tuesday};
use crate::pages::{Page, cookie_pair, get_page, post_form, sign_in_on_the_page};
use crate::staff::set_role_in_database;

backend_tests!(
    the_desk_is_for_receptionists_and_admins,
    a_receptionist_registers_a_caller_books_for_them_and_checks_them_in,
    a_caller_is_found_by_name_or_phone_and_a_bad_registration_keeps_what_was_typed,
    the_desk_cancels_for_a_patient_and_returns_to_their_page,
    a_patient_cannot_book_in_someone_elses_name,
);

/// Signs `email` in on the pages with `role` (set in the database, then signed in again so
/// the session carries it); returns the session cookie.
async fn cookie_with_role(app: &TestApp, email: &str, role: &str) -> String {
    let first = sign_in_on_the_page(app, email, "/").await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.html);
    if role == "patient" {
        return cookie_pair(&first);
    }
    set_role_in_database(app, email, role, None).await;
    let again = sign_in_on_the_page(app, email, "/").await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.html);
    cookie_pair(&again)
}

fn location(page: &Page) -> String {
    page.header(header::LOCATION).to_owned()
}

#[track_caller]
fn assert_page(page: &Page, status: StatusCode, text: &str) {
    assert_eq!(page.status, status, "{}", page.html);
    page.assert_html();
    assert!(page.html.contains(text), "{text:?} not in:\n{}", page.html);
}

/// Registers Grace Hopper at the desk; returns her page's path.
async fn register_grace(app: &TestApp, desk: &str) -> String {
    let registered = post_form(
        app,
        "/desk/patients",
        &[
            ("name", "Grace Hopper"),
            ("phone", "+49 30 5550101"),
            ("date_of_birth", "1946-12-09"),
            ("email", ""),
        ],
        Some(desk),
    )
    .await;
    assert_eq!(
        registered.status,
        StatusCode::SEE_OTHER,
        "{}",
        registered.html
    );
    let to = location(&registered);
    assert!(to.starts_with("/desk/patients/"), "{to}");
    to.split('?').next().expect("a path").to_owned()
}

/// The desk books `start` (a Tuesday time) with the test doctor for the patient at
/// `patient_page`, through the picker's form and the hold page; returns the appointment page.
async fn book_for(app: &TestApp, desk: &str, patient_page: &str, start: &str) -> String {
    let patient_id = patient_page.trim_start_matches("/desk/patients/");
    let picker = get_page(
        app,
        &format!("/doctors/{}?for={patient_id}&week=2027-03-02", app.doctor),
        Some(desk),
    )
    .await;
    assert_page(&picker, StatusCode::OK, "Booking for");
    assert!(
        picker
            .html
            .contains(&format!("name=\"patient_id\" value=\"{patient_id}\"")),
        "{}",
        picker.html
    );
    let start = tuesday(start);
    let held = post_form(
        app,
        "/book/hold",
        &[
            ("doctor_id", &app.doctor.to_string()),
            ("start", &start),
            ("patient_id", patient_id),
        ],
        Some(desk),
    )
    .await;
    assert_eq!(held.status, StatusCode::SEE_OTHER, "{}", held.html);
    let hold_page = location(&held);
    assert!(hold_page.starts_with("/holds/"), "{hold_page}");
    let hold = get_page(app, &hold_page, Some(desk)).await;
    assert_page(
        &hold,
        StatusCode::OK,
        "Confirm the appointment for Grace Hopper",
    );
    let hold_id = hold_page.trim_start_matches("/holds/");
    let confirmed = post_form(
        app,
        "/book/confirm",
        &[("hold_id", hold_id), ("reason", "Phoned in: cough")],
        Some(desk),
    )
    .await;
    assert_eq!(
        confirmed.status,
        StatusCode::SEE_OTHER,
        "{}",
        confirmed.html
    );
    location(&confirmed)
}

async fn the_desk_is_for_receptionists_and_admins(app: TestApp) {
    let stranger = get_page(&app, "/desk", None).await;
    assert_eq!(stranger.status, StatusCode::SEE_OTHER);
    assert!(location(&stranger).starts_with("/login?next=%2Fdesk"));

    let patient = cookie_with_role(&app, "pat@example.org", "patient").await;
    assert_page(
        &get_page(&app, "/desk", Some(&patient)).await,
        StatusCode::FORBIDDEN,
        "receptionists and administrators",
    );
    let home = get_page(&app, "/", Some(&patient)).await;
    assert!(!home.html.contains("Front desk"), "{}", home.html);

    let doctor = cookie_with_role(&app, "doc@example.org", "doctor").await;
    assert_eq!(
        get_page(&app, "/desk", Some(&doctor)).await.status,
        StatusCode::FORBIDDEN
    );

    for (email, role) in [
        ("desk@example.org", "receptionist"),
        ("boss@example.org", "admin"),
    ] {
        let cookie = cookie_with_role(&app, email, role).await;
        let desk = get_page(&app, "/desk?date=2027-03-02", Some(&cookie)).await;
        assert_page(&desk, StatusCode::OK, "Tuesday 2 March 2027");
        assert!(desk.html.contains("href=\"/desk\""), "nav: {}", desk.html);
        assert!(desk.html.contains("desk.js"), "{}", desk.html);
    }
    let desk = cookie_with_role(&app, "desk2@example.org", "receptionist").await;
    // A receptionist never opens the doctors' console.
    assert_eq!(
        get_page(&app, "/doctor", Some(&desk)).await.status,
        StatusCode::FORBIDDEN
    );
    let bad = get_page(&app, "/desk?date=tuesday", Some(&desk)).await;
    assert_page(&bad, StatusCode::BAD_REQUEST, "is not a date");
}

async fn a_receptionist_registers_a_caller_books_for_them_and_checks_them_in(app: TestApp) {
    let desk = cookie_with_role(&app, "desk@example.org", "receptionist").await;
    let patient_page = register_grace(&app, &desk).await;
    let page = get_page(&app, &patient_page, Some(&desk)).await;
    assert_page(&page, StatusCode::OK, "Grace Hopper");
    assert!(page.html.contains("9 December 1946"), "{}", page.html);

    let appointment_page = book_for(&app, &desk, &patient_page, "10:00").await;
    assert!(
        appointment_page.starts_with("/appointments/"),
        "{appointment_page}"
    );
    let appointment = get_page(&app, &appointment_page, Some(&desk)).await;
    assert_page(&appointment, StatusCode::OK, "Grace Hopper");
    assert!(
        appointment
            .html
            .contains("All appointments of Grace Hopper")
    );

    // Booked in Grace's name, by the receptionist, and Grace is told by SMS.
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM appointments a JOIN users u ON u.id = a.patient_id
             WHERE u.name = 'Grace Hopper' AND a.status = 'scheduled'"
        )
        .await,
        1
    );
    assert!(
        app.count("SELECT COUNT(*) FROM outbox WHERE recipient_kind = 'phone'")
            .await
            >= 1,
        "the patient is told"
    );
    let listed = get_page(&app, &patient_page, Some(&desk)).await;
    assert_page(&listed, StatusCode::OK, "Upcoming appointments");
    assert!(listed.html.contains("/reschedule"), "{}", listed.html);

    // The day shows her, and she is checked in.
    let day = get_page(&app, "/desk?date=2027-03-02", Some(&desk)).await;
    assert_page(&day, StatusCode::OK, "Grace Hopper");
    assert!(day.html.contains("Check in"), "{}", day.html);
    let appointment_id = appointment_page
        .trim_start_matches("/appointments/")
        .split('?')
        .next()
        .expect("an id")
        .to_owned();
    let arrived = post_form(
        &app,
        &format!("/desk/appointments/{appointment_id}/arrived"),
        &[("date", "2027-03-02")],
        Some(&desk),
    )
    .await;
    assert_eq!(arrived.status, StatusCode::SEE_OTHER, "{}", arrived.html);
    assert!(location(&arrived).contains("notice=arrived"));
    let day = get_page(&app, &location(&arrived), Some(&desk)).await;
    assert_page(&day, StatusCode::OK, "Checked in.");
    assert!(day.html.contains("check-in-arrived"), "{}", day.html);
    assert!(!day.html.contains("Check in<"), "{}", day.html);
}

async fn a_caller_is_found_by_name_or_phone_and_a_bad_registration_keeps_what_was_typed(
    app: TestApp,
) {
    let desk = cookie_with_role(&app, "desk@example.org", "receptionist").await;
    let patient_page = register_grace(&app, &desk).await;
    for query in ["grace", "5550101"] {
        let found = get_page(&app, &format!("/desk?q={query}"), Some(&desk)).await;
        assert_page(&found, StatusCode::OK, &format!("href=\"{patient_page}\""));
    }
    let nobody = get_page(&app, "/desk?q=zzzz", Some(&desk)).await;
    assert_page(&nobody, StatusCode::OK, "Nobody matches");
    let short = get_page(&app, "/desk?q=g", Some(&desk)).await;
    assert_page(&short, StatusCode::OK, "at least 2 characters");

    let refused = post_form(
        &app,
        "/desk/patients",
        &[
            ("name", "Alan Turing"),
            ("phone", "not a phone"),
            ("date_of_birth", "1912-06-23"),
            ("email", ""),
        ],
        Some(&desk),
    )
    .await;
    assert_page(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "We could not register the patient",
    );
    assert!(
        refused.html.contains("value=\"Alan Turing\""),
        "{}",
        refused.html
    );
    assert!(
        refused.html.contains("value=\"1912-06-23\""),
        "{}",
        refused.html
    );
}

async fn the_desk_cancels_for_a_patient_and_returns_to_their_page(app: TestApp) {
    let desk = cookie_with_role(&app, "desk@example.org", "receptionist").await;
    let patient_page = register_grace(&app, &desk).await;
    let appointment_page = book_for(&app, &desk, &patient_page, "11:00").await;
    let appointment = appointment_page.split('?').next().expect("a path");
    let ask = get_page(&app, &format!("{appointment}/cancel"), Some(&desk)).await;
    assert_eq!(ask.status, StatusCode::OK, "{}", ask.html);
    let cancelled = post_form(&app, &format!("{appointment}/cancel"), &[], Some(&desk)).await;
    assert_eq!(
        cancelled.status,
        StatusCode::SEE_OTHER,
        "{}",
        cancelled.html
    );
    assert_eq!(
        location(&cancelled),
        format!("{patient_page}?notice=cancelled")
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM appointments WHERE status = 'cancelled'")
            .await,
        1
    );
}

async fn a_patient_cannot_book_in_someone_elses_name(app: TestApp) {
    let desk = cookie_with_role(&app, "desk@example.org", "receptionist").await;
    let patient_page = register_grace(&app, &desk).await;
    let grace = patient_page.trim_start_matches("/desk/patients/");
    let patient = cookie_with_role(&app, "pat@example.org", "patient").await;
    let refused = post_form(
        &app,
        "/book/hold",
        &[
            ("doctor_id", &app.doctor.to_string()),
            ("start", &tuesday("10:00")),
            ("patient_id", grace),
        ],
        Some(&patient),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    assert_eq!(app.count("SELECT COUNT(*) FROM holds").await, 0);
    let picker = get_page(
        &app,
        &format!("/doctors/{}?for={grace}", app.doctor),
        Some(&patient),
    )
    .await;
    assert_eq!(picker.status, StatusCode::FORBIDDEN, "{}", picker.html);
    assert_eq!(
        get_page(&app, &patient_page, Some(&patient)).await.status,
        StatusCode::FORBIDDEN
    );
}
