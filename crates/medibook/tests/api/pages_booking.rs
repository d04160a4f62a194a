//! Booking on the pages over plain HTTP, as a browser without JavaScript does it: hold a slot
//! from the picker's form, confirm on the hold page, see the appointment listed, download it
//! for a calendar, cancel and reschedule it; what a taken slot and an expired hold say; and
//! that other people's holds and appointments are not found; the waitlist's join, offer and
//! leave.

#![allow(clippy::expect_used)]

use reqwest::StatusCode;
use reqwest::header;

use crate::backend_tests;
use crate::harness::{TestApp, tuesday};
use crate::pages::{Page, cookie_pair, get_page, post_form, sign_in_on_the_page};

backend_tests!(
    booking_on_the_pages_holds_confirms_lists_and_cancels,
    choosing_a_slot_before_signing_in_holds_it_right_after_sign_in,
    a_taken_slot_sends_back_to_the_picker_with_a_message,
    an_expired_hold_says_so_and_links_back_to_the_picker,
    a_lapsed_hold_whose_slot_is_still_free_can_still_be_confirmed,
    a_missing_reason_is_explained_on_the_hold_page,
    rescheduling_on_the_pages_moves_the_appointment,
    releasing_a_hold_frees_the_slot,
    other_peoples_holds_and_appointments_are_not_found,
    joining_the_waitlist_on_the_pages_shows_the_offer_to_take_or_decline,
    leaving_the_waitlist_on_the_pages,
);

/// Signs `email` in on the pages and returns the session cookie.
pub(crate) async fn signed_in(app: &TestApp, email: &str) -> String {
    let page = sign_in_on_the_page(app, email, "/").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    cookie_pair(&page)
}

fn location(page: &Page) -> String {
    page.header(header::LOCATION).to_owned()
}

/// Posts the picker's form for `start` and returns the hold page's path.
pub(crate) async fn hold_on_the_page(app: &TestApp, cookie: &str, start: &str) -> String {
    let doctor = app.doctor.to_string();
    let held = post_form(
        app,
        "/book/hold",
        &[("doctor_id", &doctor), ("start", start)],
        Some(cookie),
    )
    .await;
    assert_eq!(held.status, StatusCode::SEE_OTHER, "{}", held.html);
    let to = location(&held);
    assert!(to.starts_with("/holds/"), "{to}");
    to
}

fn hold_id(hold_path: &str) -> String {
    hold_path
        .trim_start_matches("/holds/")
        .split('?')
        .next()
        .expect("an id")
        .to_owned()
}

pub(crate) async fn confirm_on_the_page(
    app: &TestApp,
    cookie: &str,
    hold_path: &str,
    reason: &str,
) -> Page {
    post_form(
        app,
        "/book/confirm",
        &[("hold_id", &hold_id(hold_path)), ("reason", reason)],
        Some(cookie),
    )
    .await
}

async fn booking_on_the_pages_holds_confirms_lists_and_cancels(app: TestApp) {
    let cookie = signed_in(&app, "ada@example.org").await;
    let hold_path = hold_on_the_page(&app, &cookie, &tuesday("09:30")).await;

    let hold = get_page(&app, &hold_path, Some(&cookie)).await;
    assert_eq!(hold.status, StatusCode::OK, "{}", hold.html);
    hold.assert_html();
    assert!(
        hold.html.contains("Tuesday 2 March 2027, 09:30 to 10:00"),
        "{}",
        hold.html
    );
    assert!(
        hold.html
            .contains("data-expires-at=\"2027-03-01T08:05:00Z\""),
        "{}",
        hold.html
    );
    assert!(
        hold.html
            .contains("<button type=\"submit\">Confirm</button>")
    );
    assert!(hold.html.contains("<label for=\"reason\">"));
    assert!(hold.html.contains(">Release</button>"));
    assert!(hold.html.contains("/assets/countdown.js?v="));
    // Without JavaScript the hold's end is printed (09:05 in Berlin).
    assert!(hold.html.contains(">09:05</time>"), "{}", hold.html);

    let booked = confirm_on_the_page(&app, &cookie, &hold_path, "Cough for two weeks").await;
    assert_eq!(booked.status, StatusCode::SEE_OTHER, "{}", booked.html);
    let appointment_path = location(&booked);
    assert!(
        appointment_path.starts_with("/appointments/"),
        "{appointment_path}"
    );
    let appointment_path = appointment_path
        .split('?')
        .next()
        .expect("a path")
        .to_owned();

    let confirmation = get_page(
        &app,
        &format!("{appointment_path}?notice=booked"),
        Some(&cookie),
    )
    .await;
    assert_eq!(confirmation.status, StatusCode::OK);
    assert!(confirmation.html.contains("Your appointment is booked."));
    assert!(
        confirmation
            .html
            .contains(&format!("{appointment_path}/calendar.ics"))
    );
    assert!(confirmation.html.contains("Cough for two weeks"));

    let ics = get_page(
        &app,
        &format!("{appointment_path}/calendar.ics"),
        Some(&cookie),
    )
    .await;
    assert_eq!(ics.status, StatusCode::OK);
    assert!(
        ics.header(header::CONTENT_TYPE)
            .starts_with("text/calendar")
    );
    let id = appointment_path.trim_start_matches("/appointments/");
    assert!(
        ics.html
            .contains(&format!("UID:appointment-{id}@medibook\r\n")),
        "{}",
        ics.html
    );
    assert!(
        ics.html.contains("DTSTART:20270302T083000Z\r\n"),
        "{}",
        ics.html
    );
    assert!(
        ics.html.contains("DTEND:20270302T090000Z\r\n"),
        "{}",
        ics.html
    );
    assert!(ics.html.contains("BEGIN:VEVENT") && ics.html.contains("SUMMARY:Appointment with "));

    let list = get_page(&app, "/appointments", Some(&cookie)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.html.contains("class=\"doctor-name\""));
    assert!(list.html.contains("Tuesday 2 March 2027, 09:30 to 10:00"));
    assert!(list.html.contains(&format!("{appointment_path}/cancel")));
    assert!(
        list.html
            .contains(&format!("{appointment_path}/reschedule"))
    );

    let ask = get_page(&app, &format!("{appointment_path}/cancel"), Some(&cookie)).await;
    assert_eq!(ask.status, StatusCode::OK);
    assert!(ask.html.contains("Cancel this appointment?"));
    let cancelled = post_form(
        &app,
        &format!("{appointment_path}/cancel"),
        &[],
        Some(&cookie),
    )
    .await;
    assert_eq!(
        cancelled.status,
        StatusCode::SEE_OTHER,
        "{}",
        cancelled.html
    );
    assert_eq!(location(&cancelled), "/appointments?notice=cancelled");
    let list = get_page(&app, "/appointments?notice=cancelled", Some(&cookie)).await;
    assert!(list.html.contains("Your appointment is cancelled."));
    assert!(list.html.contains(">Cancelled</p>"), "{}", list.html);
    assert!(!list.html.contains(&format!("{appointment_path}/cancel")));
    assert_eq!(
        app.slot_status(app.doctor, &tuesday("09:30"))
            .await
            .as_deref(),
        Some("available")
    );
}

async fn choosing_a_slot_before_signing_in_holds_it_right_after_sign_in(app: TestApp) {
    let doctor = app.doctor.to_string();
    let chosen = post_form(
        &app,
        "/book/hold",
        &[("doctor_id", &doctor), ("start", &tuesday("09:30"))],
        None,
    )
    .await;
    assert_eq!(chosen.status, StatusCode::SEE_OTHER);
    let login = location(&chosen);
    assert!(
        login.starts_with("/login?next=%2Fbook%2Fresume%3F"),
        "{login}"
    );
    let next = percent_decode(login.trim_start_matches("/login?next="));
    // Looking at the address holds nothing: it shows the picker at that week.
    let looked = get_page(&app, &next, None).await;
    assert_eq!(
        location(&looked),
        format!("/doctors/{doctor}?week=2027-03-02")
    );
    assert_eq!(
        app.slot_status(app.doctor, &tuesday("09:30"))
            .await
            .as_deref(),
        Some("available")
    );

    // A new patient signs in, is welcomed, and lands on the hold of the chosen slot.
    let signed_in = sign_in_on_the_page(&app, "ada@example.org", &next).await;
    let hold_page = location(&signed_in);
    assert!(hold_page.starts_with("/holds/"), "{hold_page}");
    assert_eq!(
        app.slot_status(app.doctor, &tuesday("09:30"))
            .await
            .as_deref(),
        Some("held")
    );
    let cookie = cookie_pair(&signed_in);
    let page = get_page(&app, &hold_page, Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);

    // A returning patient goes straight from the code to the hold; a slot taken meanwhile
    // sends them to the picker saying so.
    let again = post_form(
        &app,
        "/book/hold",
        &[("doctor_id", &doctor), ("start", &tuesday("10:00"))],
        None,
    )
    .await;
    let next = percent_decode(location(&again).trim_start_matches("/login?next="));
    let back = sign_in_on_the_page(&app, "ada@example.org", &next).await;
    assert!(
        location(&back).starts_with("/holds/"),
        "{}",
        location(&back)
    );
    let bea_next = next.clone();
    let taken = sign_in_on_the_page(&app, "bea@example.org", &bea_next).await;
    assert_eq!(
        location(&taken),
        format!("/doctors/{doctor}?week=2027-03-02&notice=taken")
    );

    let list = get_page(&app, "/appointments", None).await;
    assert_eq!(list.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&list), "/login?next=%2Fappointments");
}

/// Decodes `%XX` escapes (the login link's `next`).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("utf-8")
}

async fn a_taken_slot_sends_back_to_the_picker_with_a_message(app: TestApp) {
    let first = signed_in(&app, "ada@example.org").await;
    let second = signed_in(&app, "bea@example.org").await;
    hold_on_the_page(&app, &first, &tuesday("09:30")).await;
    let doctor = app.doctor.to_string();
    let refused = post_form(
        &app,
        "/book/hold",
        &[("doctor_id", &doctor), ("start", &tuesday("09:30"))],
        Some(&second),
    )
    .await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
    let back = location(&refused);
    assert_eq!(
        back,
        format!("/doctors/{doctor}?week=2027-03-02&notice=taken")
    );
    let picker = get_page(&app, &back, Some(&second)).await;
    assert_eq!(picker.status, StatusCode::OK);
    assert!(picker.html.contains("role=\"status\""));
    assert!(
        picker
            .html
            .contains("someone else has just taken that time"),
        "{}",
        picker.html
    );
}

async fn an_expired_hold_says_so_and_links_back_to_the_picker(app: TestApp) {
    let cookie = signed_in(&app, "ada@example.org").await;
    let hold_path = hold_on_the_page(&app, &cookie, &tuesday("09:30")).await;
    app.advance(6);
    // Someone else takes the slot meanwhile.
    let other = signed_in(&app, "bea@example.org").await;
    hold_on_the_page(&app, &other, &tuesday("09:30")).await;

    let page = get_page(&app, &hold_path, Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::GONE);
    page.assert_html();
    assert!(page.html.contains("Your hold has run out"), "{}", page.html);
    let picker = format!("/doctors/{}?week=2027-03-02", app.doctor);
    assert!(page.html.contains(&picker), "{}", page.html);

    let confirmed = confirm_on_the_page(&app, &cookie, &hold_path, "Cough").await;
    assert_eq!(confirmed.status, StatusCode::GONE);
    assert!(confirmed.html.contains("Your hold has run out"));
}

async fn a_lapsed_hold_whose_slot_is_still_free_can_still_be_confirmed(app: TestApp) {
    let cookie = signed_in(&app, "ada@example.org").await;
    let hold_path = hold_on_the_page(&app, &cookie, &tuesday("09:30")).await;
    app.advance(6);

    // Nobody took the slot: the page says the hold ran out and still offers Confirm, as the
    // core books a lapsed hold whose slot is free.
    let page = get_page(&app, &hold_path, Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("Your hold has run out"), "{}", page.html);
    assert!(page.html.contains("Confirm now to try to book it"));
    assert!(
        !page.html.contains("data-expires-at"),
        "no countdown is left"
    );
    assert!(
        page.html
            .contains("<button type=\"submit\">Confirm</button>")
    );

    let confirmed = confirm_on_the_page(&app, &cookie, &hold_path, "Cough").await;
    assert_eq!(
        confirmed.status,
        StatusCode::SEE_OTHER,
        "{}",
        confirmed.html
    );
    assert!(location(&confirmed).starts_with("/appointments/"));
}

async fn a_missing_reason_is_explained_on_the_hold_page(app: TestApp) {
    let cookie = signed_in(&app, "ada@example.org").await;
    let hold_path = hold_on_the_page(&app, &cookie, &tuesday("09:30")).await;
    let page = confirm_on_the_page(&app, &cookie, &hold_path, "   ").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.html.contains("role=\"alert\""));
    assert!(page.html.contains("aria-invalid=\"true\""));
    assert!(
        page.html
            .contains("<button type=\"submit\">Confirm</button>")
    );
}

async fn rescheduling_on_the_pages_moves_the_appointment(app: TestApp) {
    let cookie = signed_in(&app, "ada@example.org").await;
    let hold_path = hold_on_the_page(&app, &cookie, &tuesday("09:30")).await;
    let booked = confirm_on_the_page(&app, &cookie, &hold_path, "Check-up").await;
    let appointment_path = location(&booked)
        .split('?')
        .next()
        .expect("a path")
        .to_owned();
    let appointment_id = appointment_path
        .trim_start_matches("/appointments/")
        .to_owned();

    let picker = get_page(
        &app,
        &format!("{appointment_path}/reschedule?week=2027-03-01"),
        Some(&cookie),
    )
    .await;
    assert_eq!(picker.status, StatusCode::OK, "{}", picker.html);
    assert!(picker.html.contains(&format!(
        "<input type=\"hidden\" name=\"reschedule\" value=\"{appointment_id}\">"
    )));

    let doctor = app.doctor.to_string();
    let held = post_form(
        &app,
        "/book/hold",
        &[
            ("doctor_id", &doctor),
            ("start", &tuesday("11:00")),
            ("reschedule", &appointment_id),
        ],
        Some(&cookie),
    )
    .await;
    assert_eq!(held.status, StatusCode::SEE_OTHER);
    let new_hold = location(&held);
    assert!(
        new_hold.ends_with(&format!("?reschedule={appointment_id}")),
        "{new_hold}"
    );
    let page = get_page(&app, &new_hold, Some(&cookie)).await;
    assert!(page.html.contains("Confirm the new time"), "{}", page.html);

    let moved = post_form(
        &app,
        "/book/confirm",
        &[
            ("hold_id", &hold_id(&new_hold)),
            ("reschedule", &appointment_id),
        ],
        Some(&cookie),
    )
    .await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER, "{}", moved.html);
    assert_eq!(location(&moved), format!("{appointment_path}?notice=moved"));
    let confirmation = get_page(&app, &location(&moved), Some(&cookie)).await;
    assert!(confirmation.html.contains("has moved"));
    assert!(
        confirmation
            .html
            .contains("Tuesday 2 March 2027, 11:00 to 11:30"),
        "{}",
        confirmation.html
    );
    assert_eq!(
        app.slot_status(app.doctor, &tuesday("09:30"))
            .await
            .as_deref(),
        Some("available")
    );
}

async fn releasing_a_hold_frees_the_slot(app: TestApp) {
    let cookie = signed_in(&app, "ada@example.org").await;
    let hold_path = hold_on_the_page(&app, &cookie, &tuesday("09:30")).await;
    let released = post_form(
        &app,
        "/book/release",
        &[("hold_id", &hold_id(&hold_path))],
        Some(&cookie),
    )
    .await;
    assert_eq!(released.status, StatusCode::SEE_OTHER);
    assert_eq!(
        location(&released),
        format!("/doctors/{}?week=2027-03-02&notice=released", app.doctor)
    );
    assert_eq!(
        app.slot_status(app.doctor, &tuesday("09:30"))
            .await
            .as_deref(),
        Some("available")
    );
}

async fn other_peoples_holds_and_appointments_are_not_found(app: TestApp) {
    let owner = signed_in(&app, "ada@example.org").await;
    let stranger = signed_in(&app, "eve@example.org").await;
    let hold_path = hold_on_the_page(&app, &owner, &tuesday("09:30")).await;

    let page = get_page(&app, &hold_path, Some(&stranger)).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    page.assert_html();
    let confirmed = confirm_on_the_page(&app, &stranger, &hold_path, "Mine now").await;
    assert_eq!(confirmed.status, StatusCode::NOT_FOUND);
    let released = post_form(
        &app,
        "/book/release",
        &[("hold_id", &hold_id(&hold_path))],
        Some(&stranger),
    )
    .await;
    assert_eq!(released.status, StatusCode::NOT_FOUND);

    let booked = confirm_on_the_page(&app, &owner, &hold_path, "Check-up").await;
    let appointment_path = location(&booked)
        .split('?')
        .next()
        .expect("a path")
        .to_owned();
    for path in [
        appointment_path.clone(),
        format!("{appointment_path}/calendar.ics"),
        format!("{appointment_path}/cancel"),
        format!("{appointment_path}/reschedule"),
    ] {
        let page = get_page(&app, &path, Some(&stranger)).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        page.assert_html();
    }
    let cancelled = post_form(
        &app,
        &format!("{appointment_path}/cancel"),
        &[],
        Some(&stranger),
    )
    .await;
    assert_eq!(cancelled.status, StatusCode::NOT_FOUND);
    let still = get_page(&app, &appointment_path, Some(&owner)).await;
    assert!(still.html.contains(">Booked</dd>"), "{}", still.html);
}

/// Books Tuesday 09:00 and 09:30 for another patient, then joins the test doctor's waitlist
/// on the page for a Tuesday time from 09:00 to 10:00 (nothing that suits is free); returns the
/// other patient's token, the two appointments, and the waitlist page.
async fn join_on_the_page(app: &TestApp, cookie: &str) -> (String, Vec<String>, Page) {
    let booker = app.sign_in("booker@example.org").await;
    let appointments = vec![
        app.book(&booker, &tuesday("09:00")).await,
        app.book(&booker, &tuesday("09:30")).await,
    ];
    let doctor = app.doctor.to_string();
    let joined = post_form(
        app,
        "/book/waitlist",
        &[
            ("doctor_id", &doctor),
            ("from", "2027-03-02"),
            ("to", "2027-03-02"),
            ("day-tuesday", "on"),
            ("earliest", "09:00"),
            ("latest", "10:00"),
        ],
        Some(cookie),
    )
    .await;
    assert_eq!(joined.status, StatusCode::SEE_OTHER, "{}", joined.html);
    assert_eq!(location(&joined), "/waitlist?notice=joined");
    let page = get_page(app, "/waitlist?notice=joined", Some(cookie)).await;
    (booker, appointments, page)
}

fn between<'a>(html: &'a str, before: &str, after: &str) -> &'a str {
    html.split(before)
        .nth(1)
        .and_then(|rest| rest.split(after).next())
        .expect("the marker is on the page")
}

async fn joining_the_waitlist_on_the_pages_shows_the_offer_to_take_or_decline(app: TestApp) {
    let doctor = app.doctor.to_string();
    let anonymous = post_form(&app, "/book/waitlist", &[("doctor_id", &doctor)], None).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(
        location(&anonymous),
        format!("/login?next=%2Fdoctors%2F{doctor}")
    );

    let cookie = signed_in(&app, "ada@example.org").await;
    // Free times that suit: no need to wait, the picker says so at that week.
    let free = post_form(
        &app,
        "/book/waitlist",
        &[
            ("doctor_id", &doctor),
            ("from", "2027-03-02"),
            ("to", "2027-03-02"),
        ],
        Some(&cookie),
    )
    .await;
    assert_eq!(free.status, StatusCode::SEE_OTHER, "{}", free.html);
    let picker = location(&free);
    assert!(picker.contains("notice=free-now"), "{picker}");
    let page = get_page(&app, &picker, Some(&cookie)).await;
    assert!(page.html.contains("free right now"), "{}", page.html);
    let bad = post_form(
        &app,
        "/book/waitlist",
        &[
            ("doctor_id", &doctor),
            ("earliest", "18:00"),
            ("latest", "08:00"),
        ],
        Some(&cookie),
    )
    .await;
    assert!(
        location(&bad).contains("notice=wait-invalid"),
        "{}",
        location(&bad)
    );

    let (booker, appointments, list) = join_on_the_page(&app, &cookie).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.html.contains("You are on the waitlist."),
        "{}",
        list.html
    );
    assert!(
        list.html
            .contains("Times that suit: Tuesdays, 09:00 to 10:00, on Tuesday 2 March 2027"),
        "{}",
        list.html
    );
    assert!(list.html.contains("Waiting"), "{}", list.html);

    // 09:00 frees: offered to Ada first.
    cancelled(&app, &booker, &appointments[0]).await;
    let list = get_page(&app, "/waitlist", Some(&cookie)).await;
    assert!(list.html.contains("A time is offered"), "{}", list.html);
    assert!(list.html.contains(">Take this slot</a>"));
    assert!(list.html.contains("/assets/offers.js?v="));

    // Declining keeps the place; the next time that frees is offered again.
    let offer_id = between(&list.html, "action=\"/waitlist/offers/", "/decline");
    let declined = post_form(
        &app,
        &format!("/waitlist/offers/{offer_id}/decline"),
        &[],
        Some(&cookie),
    )
    .await;
    assert_eq!(declined.status, StatusCode::SEE_OTHER, "{}", declined.html);
    assert_eq!(location(&declined), "/waitlist?notice=declined");
    let list = get_page(&app, "/waitlist?notice=declined", Some(&cookie)).await;
    assert!(list.html.contains("You keep your place"), "{}", list.html);

    // Taking an offer is confirming its hold.
    cancelled(&app, &booker, &appointments[1]).await;
    let offered = get_page(&app, "/waitlist", Some(&cookie)).await;
    let hold_path = format!("/holds/{}", between(&offered.html, "href=\"/holds/", "\""));
    let hold = get_page(&app, &hold_path, Some(&cookie)).await;
    assert_eq!(hold.status, StatusCode::OK, "{}", hold.html);
    assert!(
        hold.html
            .contains("<button type=\"submit\">Confirm</button>")
    );
    let booked = confirm_on_the_page(&app, &cookie, &hold_path, "From the waitlist").await;
    assert_eq!(booked.status, StatusCode::SEE_OTHER, "{}", booked.html);
    let list = get_page(&app, "/appointments", Some(&cookie)).await;
    assert!(list.html.contains("class=\"doctor-name\""), "{}", list.html);
    assert!(list.html.contains(">Booked</p>"), "{}", list.html);
}

/// `patient` cancels `appointment` through the API.
async fn cancelled(app: &TestApp, patient: &str, appointment: &str) {
    let cancelled = app.cancel(patient, appointment).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
}

async fn leaving_the_waitlist_on_the_pages(app: TestApp) {
    let cookie = signed_in(&app, "ada@example.org").await;
    let (_, _, list) = join_on_the_page(&app, &cookie).await;
    let entry_id = between(&list.html, "data-entry-id=\"", "\"");
    let stranger = signed_in(&app, "eve@example.org").await;
    let refused = post_form(
        &app,
        &format!("/waitlist/{entry_id}/leave"),
        &[],
        Some(&stranger),
    )
    .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    refused.assert_html();

    let left = post_form(
        &app,
        &format!("/waitlist/{entry_id}/leave"),
        &[],
        Some(&cookie),
    )
    .await;
    assert_eq!(left.status, StatusCode::SEE_OTHER, "{}", left.html);
    let list = get_page(&app, "/waitlist?notice=left", Some(&cookie)).await;
    assert!(list.html.contains("You have left the waitlist."));
    assert!(
        list.html.contains("You are not waiting for any doctor."),
        "{}",
        list.html
    );
}
