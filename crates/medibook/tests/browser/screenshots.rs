//! The README's screenshots, taken in the same headless Chromium as the tests, from the demo
//! clinic: `cargo nextest run -p medibook --test browser --run-ignored only screenshots`
//! rewrites `docs/screenshots/*.png` (a phone 360 px wide and a 1280 px desktop). Ignored by
//! default: the pictures are documentation, not a check.

use std::path::PathBuf;

use crate::booking::{hold_first_free_slot, sign_in};
use crate::browse::type_a_search;
use crate::harness::{Browser, Look, browser_test};

fn screenshots_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
}

/// Saves what `browser` shows as `docs/screenshots/<name>.png`.
async fn shoot(browser: &Browser, name: &str) {
    // Let fonts, live results and the countdown settle.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let png = browser.client.screenshot().await.unwrap();
    std::fs::create_dir_all(screenshots_dir()).unwrap();
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes the README's screenshots; run with --run-ignored only"]
async fn screenshots() {
    browser_test("screenshots", |rig| async move {
        let doctor = rig.server.doctor_id("Dr. Anna Schmidt").await;
        for (look, suffix) in [(Look::PHONE, "phone"), (Look::DESKTOP, "desktop")] {
            let browser = rig.browser(look).await;
            browser.open("/").await;
            type_a_search(&browser, "cardiolgy").await;
            shoot(&browser, &format!("home-{suffix}")).await;

            let email = format!("screenshots-{suffix}@example.org");
            sign_in(&rig, &browser, &email, &format!("/doctors/{doctor}")).await;
            browser.find("#slot-picker").await;
            shoot(&browser, &format!("doctor-{suffix}")).await;

            hold_first_free_slot(&browser).await;
            browser.type_into("#reason", "Annual check-up").await;
            shoot(&browser, &format!("hold-{suffix}")).await;
            browser
                .click("form[action='/book/confirm'] button[type=submit]")
                .await;
            browser
                .wait_for_path("the confirmation", |path| path.ends_with("?notice=booked"))
                .await;
            browser.open("/appointments").await;
            browser.find("main h1").await;
            shoot(&browser, &format!("appointments-{suffix}")).await;

            // The doctor console: Dr. Anna Schmidt's week, and her hours with a change previewed.
            let doctor_browser = rig.browser(look).await;
            sign_in(
                &rig,
                &doctor_browser,
                "doctor01@demo.medibook.test",
                "/doctor",
            )
            .await;
            // The coming week (this one may be mostly past), scrolled to the grid.
            doctor_browser.click("a[rel=next]").await;
            doctor_browser.find(".agenda-grid").await;
            doctor_browser
                .eval("document.querySelector('.agenda-grid').scrollIntoView(); return true;")
                .await;
            shoot(&doctor_browser, &format!("agenda-{suffix}")).await;
            doctor_browser.open("/doctor/hours").await;
            doctor_browser
                .eval(
                    "for (const [id, v] of [['saturday-hours-0-start', '09:00'], \
                     ['saturday-hours-0-end', '12:00']]) \
                     document.getElementById(id).value = v; return true;",
                )
                .await;
            doctor_browser
                .click("button[name=intent][value=preview]")
                .await;
            doctor_browser.find("#preview").await;
            doctor_browser
                .eval("document.getElementById('preview').scrollIntoView(); return true;")
                .await;
            shoot(&doctor_browser, &format!("hours-preview-{suffix}")).await;

            // The admin console: the doctors, and the form that adds one.
            let admin = rig.browser(look).await;
            sign_in(&rig, &admin, "admin@demo.medibook.test", "/admin/doctors").await;
            admin.find("main h1").await;
            shoot(&admin, &format!("admin-doctors-{suffix}")).await;
            admin.open("/admin/doctors/new").await;
            admin.find("form.admin-form").await;
            shoot(&admin, &format!("admin-new-doctor-{suffix}")).await;

            // The front desk: the clinic's day (tomorrow, which has visits) and a patient's page.
            let tomorrow = jiff::Zoned::now().date().tomorrow().unwrap();
            admin.open(&format!("/desk?date={tomorrow}")).await;
            admin.find("#desk-live").await;
            shoot(&admin, &format!("desk-{suffix}")).await;

            // The doctor's visit page, with the patient's record and the note editor.
            doctor_browser.open("/doctor").await;
            if doctor_browser
                .find_all(".agenda-grid a[href^='/doctor/appointments/']")
                .await
                .is_empty()
            {
                doctor_browser.click("a[rel=next]").await;
                doctor_browser.find(".agenda-grid").await;
            }
            doctor_browser
                .click(".agenda-grid a[href^='/doctor/appointments/']")
                .await;
            doctor_browser.find("#note").await;
            shoot(&doctor_browser, &format!("visit-{suffix}")).await;
        }
    })
    .await;
}
