//! What the pages say about the clinic itself: the contact page's address, phone, opening
//! hours and map link, and the booking confirmation's address, what to bring and where the
//! confirmation was sent; nothing of it when the clinic has not configured it. And how pages
//! write dates and times: weeks from Monday, the time zone said once per page, and the API's
//! link for staff only.

#![allow(clippy::expect_used)]

use medibook::settings::Settings;
use reqwest::StatusCode;
use reqwest::header;

use crate::backend_tests_with;
use crate::harness::{TestApp, tuesday};
use crate::pages::get_page;
use crate::pages_booking::{confirm_on_the_page, hold_on_the_page, signed_in};

backend_tests_with!(
    a_configured_clinic;
    the_contact_page_shows_the_address_opening_hours_and_a_map,
    the_confirmation_says_where_what_to_bring_and_where_it_was_sent;
    unconfigured_clinic;
    without_clinic_details_the_pages_leave_them_out,
    weeks_start_on_monday_and_the_time_zone_is_said_once,
);

fn a_configured_clinic(settings: &mut Settings) {
    settings.clinic_name = "Praxis am Park".to_owned();
    settings.clinic_address = Some("Parkstraße 3, 10115 Berlin".to_owned());
    settings.clinic_phone = Some("+49 30 5550 100".to_owned());
    settings.clinic_opening_hours = Some("Monday to Friday 08:00–18:00".to_owned());
    settings.clinic_what_to_bring = Some("your insurance card and a photo ID".to_owned());
}

fn unconfigured_clinic(_: &mut Settings) {}

async fn the_contact_page_shows_the_address_opening_hours_and_a_map(app: TestApp) {
    let page = get_page(&app, "/contact", None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    for text in [
        "Parkstraße 3, 10115 Berlin",
        "href=\"tel:+49 30 5550 100\"",
        "Monday to Friday 08:00–18:00",
        "href=\"https://www.openstreetmap.org/search?query=Parkstra%C3%9Fe+3%2C+10115+Berlin\"",
    ] {
        assert!(page.html.contains(text), "{text:?} not in {}", page.html);
    }
}

async fn the_confirmation_says_where_what_to_bring_and_where_it_was_sent(app: TestApp) {
    let cookie = signed_in(&app, "ada@example.org").await;
    let hold = hold_on_the_page(&app, &cookie, &tuesday("10:00")).await;
    let booked = confirm_on_the_page(&app, &cookie, &hold, "Check-up").await;
    assert_eq!(booked.status, StatusCode::SEE_OTHER, "{}", booked.html);
    let to = booked.header(header::LOCATION).to_owned();
    let page = get_page(&app, &to, Some(&cookie)).await;
    for text in [
        "We sent the confirmation to ada@example.org.",
        "Praxis am Park, Parkstraße 3, 10115 Berlin",
        "<dt>Please bring</dt><dd>your insurance card and a photo ID</dd>",
    ] {
        assert!(page.html.contains(text), "{text:?} not in {}", page.html);
    }
    // Opened later, the page shows the visit without the "sent" notice.
    let later = get_page(&app, to.split('?').next().expect("path"), Some(&cookie)).await;
    assert!(!later.html.contains("We sent the confirmation"));
    assert!(later.html.contains("Please bring"));
}

async fn without_clinic_details_the_pages_leave_them_out(app: TestApp) {
    let contact = get_page(&app, "/contact", None).await;
    assert_eq!(contact.status, StatusCode::OK);
    assert!(!contact.html.contains("Opening hours"), "{}", contact.html);
    assert!(!contact.html.contains("openstreetmap"), "{}", contact.html);
    let cookie = signed_in(&app, "ada@example.org").await;
    let hold = hold_on_the_page(&app, &cookie, &tuesday("10:00")).await;
    let booked = confirm_on_the_page(&app, &cookie, &hold, "Check-up").await;
    let page = get_page(&app, booked.header(header::LOCATION), Some(&cookie)).await;
    assert!(
        page.html
            .contains("We sent the confirmation to ada@example.org.")
    );
    assert!(!page.html.contains("Please bring"), "{}", page.html);
    assert!(!page.html.contains("<dt>Where</dt>"), "{}", page.html);
}

async fn weeks_start_on_monday_and_the_time_zone_is_said_once(app: TestApp) {
    // Asked for Wednesday 10 March, the picker shows Monday 8 to Sunday 14 March.
    let doctor = format!("/doctors/{}", app.doctor);
    let week = get_page(&app, &format!("{doctor}?week=2027-03-10"), None).await;
    assert_eq!(week.status, StatusCode::OK, "{}", week.html);
    let first_day = week
        .html
        .split("class=\"day")
        .nth(1)
        .and_then(|rest| rest.split("data-date=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .expect("a day");
    assert_eq!(first_day, "2027-03-08");
    assert!(
        week.html.contains("8 – 14 March 2027") || week.html.contains("8–14 March 2027"),
        "{}",
        week.html
    );
    assert!(
        week.html
            .contains(&format!("href=\"{doctor}?week=2027-03-01\"")),
        "{}",
        week.html
    );
    // The current week (the tests' clock is Monday 1 March) has no previous week.
    let now = get_page(&app, &doctor, None).await;
    assert!(!now.html.contains("rel=\"prev\""), "{}", now.html);

    let cookie = signed_in(&app, "ada@example.org").await;
    let hold = hold_on_the_page(&app, &cookie, &tuesday("10:00")).await;
    let booked = confirm_on_the_page(&app, &cookie, &hold, "Check-up").await;
    let page = get_page(&app, booked.header(header::LOCATION), Some(&cookie)).await;
    assert_eq!(
        page.html.matches("Europe/Berlin").count(),
        1,
        "{}",
        page.html
    );
    assert!(page.html.contains("Times are in Europe/Berlin."));
    let list = get_page(&app, "/appointments", Some(&cookie)).await;
    assert_eq!(
        list.html.matches("Europe/Berlin").count(),
        1,
        "{}",
        list.html
    );
    // A patient's footer carries no developer link.
    assert!(!list.html.contains("openapi.json"), "{}", list.html);
}
