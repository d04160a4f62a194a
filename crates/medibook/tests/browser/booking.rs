//! The patient journey in Chromium: sign in, book a slot from the picker (hold page with its
//! countdown, reason, Confirm), see it in `/appointments`, reschedule it through the same
//! picker and cancel it (the waitlist's offer, live in a second tab, is in `front_desk.rs`).
//! And the core booking path again with JavaScript disabled.

use crate::harness::{Browser, Look, Rig, browser_test};

/// The first free slot button of the picker shown.
const FREE_SLOT: &str = ".slot-picker button[data-start]:not([disabled])";
const CONFIRM: &str = "form[action='/book/confirm'] button[type=submit]";

/// Signs `email` in through `/login?next=…` and waits to be back at `next`.
pub async fn sign_in(rig: &Rig, browser: &Browser, email: &str, next: &str) {
    let encoded = next
        .replace('%', "%25")
        .replace('/', "%2F")
        .replace('?', "%3F")
        .replace('=', "%3D")
        .replace('&', "%26");
    browser.open(&format!("/login?next={encoded}")).await;
    let mark = rig.server.log_len();
    browser.type_into("input[name=email]", email).await;
    browser
        .click("form[action='/login'] button[type=submit]")
        .await;
    browser.find("input[name=code]").await;
    let code = rig.server.code_for(email, mark).await;
    browser.type_into("input[name=code]", &code).await;
    browser
        .click("form[action='/login/code'] button[type=submit]")
        .await;
    let landed = browser
        .wait_for_path(
            "the page signing in came from, or the welcome step",
            |path| path == next || path.starts_with("/welcome"),
        )
        .await;
    if landed.starts_with("/welcome") {
        complete_welcome(browser, "Journey Patient").await;
        browser
            .wait_for_path("the page signing in came from", |path| path == next)
            .await;
    }
}

/// Answers the welcome step of a new patient: `name`, and a date of birth set as the input's
/// value (which, unlike typing into a date field, does not depend on the browser's locale).
pub async fn complete_welcome(browser: &Browser, name: &str) {
    browser.type_into("input[name=name]", name).await;
    browser
        .eval("document.querySelector('input[name=date_of_birth]').value = '1980-01-01'; return true;")
        .await;
    browser
        .click("form[action='/welcome'] button[type=submit]")
        .await;
}

/// Clicks the picker's first free slot and waits for the hold page.
pub async fn hold_first_free_slot(browser: &Browser) -> String {
    // Weeks run Monday to Sunday: late in the week the current one may have nothing left.
    let here = format!("return document.querySelectorAll(\"{FREE_SLOT}\").length;");
    if browser.eval(&here).await.as_u64() == Some(0) {
        browser.click(".week-nav a[rel=next]").await;
        browser.find(".slot-picker").await;
    }
    browser.click(FREE_SLOT).await;
    browser
        .wait_for_path("the hold page", |path| path.starts_with("/holds/"))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_books_reschedules_and_cancels() {
    browser_test("booking_journey", |rig| async move {
        let browser = rig.browser(Look::PHONE).await;
        let doctor = rig.server.doctor_id("Dr. Anna Schmidt").await;
        let profile = format!("/doctors/{doctor}");
        sign_in(&rig, &browser, "journey@example.org", &profile).await;

        // Book: hold, the countdown runs, give a reason, Confirm.
        hold_first_free_slot(&browser).await;
        let main = browser.find("main").await.text().await.unwrap();
        assert!(main.contains("Dr. Anna Schmidt"), "{main}");
        browser
            .wait_until(
                "the countdown",
                "const c = document.querySelector('.countdown-clock'); \
                 return !!c && !c.closest('[hidden]') && /^[0-5]:[0-5][0-9]$/.test(c.textContent);",
            )
            .await;
        browser.type_into("#reason", "Back pain").await;
        let confirm = browser.find(CONFIRM).await;
        assert_eq!(confirm.text().await.unwrap(), "Confirm");
        confirm.click().await.unwrap();
        let booked = browser
            .wait_for_path("the confirmation", |path| {
                path.starts_with("/appointments/") && path.ends_with("?notice=booked")
            })
            .await;
        let appointment = booked.split('?').next().unwrap().to_owned();
        let calendar = browser.find("a[href$='/calendar.ics']").await;
        assert_eq!(calendar.text().await.unwrap(), "Add to calendar");

        // Listed with the doctor's name.
        browser.open("/appointments").await;
        let name = browser
            .find(".appointment .doctor-name")
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(name, "Dr. Anna Schmidt");

        // Reschedule through the same picker.
        browser
            .click(&format!("a[href='{appointment}/reschedule']"))
            .await;
        browser.find("#slot-picker").await;
        hold_first_free_slot(&browser).await;
        let heading = browser.find("main h1").await.text().await.unwrap();
        assert_eq!(heading, "Confirm the new time");
        browser.click(CONFIRM).await;
        browser
            .wait_for_path("the moved appointment", |path| {
                path == format!("{appointment}?notice=moved")
            })
            .await;
        let notice = browser.find(".notice").await.text().await.unwrap();
        assert!(notice.contains("moved"), "{notice}");

        // Cancel, with a confirmation step.
        browser.open("/appointments").await;
        browser
            .click(&format!("a[href='{appointment}/cancel']"))
            .await;
        browser.find("main h1").await;
        browser
            .click(&format!("form[action='{appointment}/cancel'] button"))
            .await;
        // The visit may start within the late-cancellation window (a day), depending on the
        // time of day the test runs: either notice is right, and says which it was.
        browser
            .wait_for_path("the list", |path| {
                path == "/appointments?notice=cancelled"
                    || path == "/appointments?notice=cancelled-late"
            })
            .await;
        let past = browser
            .find(".appointment.past .status")
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(past, "Cancelled");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booking_works_with_javascript_disabled() {
    browser_test("booking_without_javascript", |rig| async move {
        let browser = rig.browser(Look::DESKTOP.without_javascript()).await;
        let doctor = rig.server.doctor_id("Dr. Anna Schmidt").await;
        let profile = format!("/doctors/{doctor}");
        sign_in(&rig, &browser, "nojs@example.org", &profile).await;

        hold_first_free_slot(&browser).await;
        // Without the countdown script the hold's end is printed, and the live clock stays hidden.
        let countdown = browser.find("#countdown").await.text().await.unwrap();
        assert!(
            countdown.contains("We hold this time for you until"),
            "{countdown}"
        );
        browser.type_into("#reason", "Check-up").await;
        browser.click(CONFIRM).await;
        browser
            .wait_for_path("the confirmation", |path| path.ends_with("?notice=booked"))
            .await;
        browser.open("/appointments").await;
        let name = browser
            .find(".appointment .doctor-name")
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(name, "Dr. Anna Schmidt");
    })
    .await;
}
