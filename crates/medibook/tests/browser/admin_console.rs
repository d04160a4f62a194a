//! The admin console in Chromium: the demo clinic's administrator signs in, adds a specialty
//! and a doctor (photo, fee, time zone) through the forms, and patients then find that doctor
//! on the public pages; and an axe-core scan of every console page, in light and dark mode, on
//! a desktop and on a 360-pixel phone.
//!
//! Set `MEDIBOOK_SCREENSHOTS=<dir>` to keep a PNG of each scanned page there, for a look.

use serde_json::json;

use crate::accessibility::{EVERY_LOOK, assert_accessible, axe_source, violations};
use crate::booking::sign_in;
use crate::harness::{Browser, Look, Rig, browser_test, keep_screenshot};

const ADMIN: &str = "admin@demo.medibook.test";
const PHOTO: &str = "https://images.example.org/mira-okafor.jpg";

/// Fills the new-doctor form with `name` in `specialty`.
async fn fill_doctor_form(browser: &Browser, name: &str, specialty: &str) {
    browser.type_into("#name", name).await;
    browser
        .find("#specialty_id")
        .await
        .select_by_label(specialty)
        .await
        .unwrap();
    browser
        .type_into("#qualification", "MD, Sports medicine")
        .await;
    browser.type_into("#years_experience", "11").await;
    browser.type_into("#fee_amount", "95.50").await;
    browser.type_into("#currency", "EUR").await;
    browser
        .type_into("#bio", "Runners, climbers and weekend footballers.")
        .await;
    browser.type_into("#photo_url", PHOTO).await;
    browser.type_into("#time_zone", "Europe/Lisbon").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_admin_adds_a_specialty_and_a_doctor_whom_patients_then_find() {
    browser_test("admin_console", |rig| async move {
        let browser = rig.browser(Look::DESKTOP).await;
        sign_in(&rig, &browser, ADMIN, "/admin").await;
        let heading = browser.find("main h1").await.text().await.unwrap();
        assert_eq!(heading, "Clinic admin");

        // A specialty, through the console's navigation and the add form.
        browser
            .click(".console-nav a[href='/admin/specialties']")
            .await;
        browser
            .wait_for_path("the specialties", |path| path == "/admin/specialties")
            .await;
        browser.type_into("#new-specialty", "Sports Medicine").await;
        browser
            .click("form[action='/admin/specialties'] button[type=submit]")
            .await;
        browser
            .wait_for_path("the notice", |path| path.ends_with("?notice=added"))
            .await;
        let notice = browser.find(".notice").await.text().await.unwrap();
        assert!(notice.contains("added"), "{notice}");
        let list = browser.find(".admin-list").await.text().await.unwrap();
        assert!(list.contains("Sports Medicine"), "{list}");

        // A doctor in it, through the doctors table's "Add a doctor".
        browser.click(".console-nav a[href='/admin/doctors']").await;
        browser.click("main a[href='/admin/doctors/new']").await;
        browser
            .wait_for_path("the new doctor form", |path| path == "/admin/doctors/new")
            .await;
        fill_doctor_form(&browser, "Dr. Mira Okafor", "Sports Medicine").await;
        browser.click("form.admin-form button[type=submit]").await;
        let created = browser
            .wait_for_path("the new doctor's page", |path| {
                path.starts_with("/admin/doctors/") && path.ends_with("?notice=created")
            })
            .await;
        let id = created
            .trim_start_matches("/admin/doctors/")
            .trim_end_matches("?notice=created")
            .to_owned();
        let notice = browser.find(".notice").await.text().await.unwrap();
        assert!(notice.contains("The doctor is created"), "{notice}");
        let photo = browser.find("img.admin-photo").await;
        assert_eq!(photo.attr("src").await.unwrap().as_deref(), Some(PHOTO));
        assert_eq!(
            photo.attr("alt").await.unwrap().as_deref(),
            Some("Photo of Dr. Mira Okafor")
        );
        let fee = browser
            .find("#fee_amount")
            .await
            .prop("value")
            .await
            .unwrap();
        assert_eq!(fee.as_deref(), Some("95.50"));
        let zone = browser
            .find("#time_zone")
            .await
            .prop("value")
            .await
            .unwrap();
        assert_eq!(zone.as_deref(), Some("Europe/Lisbon"));

        // A patient's view: the home page's live search finds the doctor, whose page shows
        // the photo, the fee and bookable times.
        let patient = rig.browser(Look::DESKTOP).await;
        patient.open("/").await;
        patient.type_into("input[name=q]", "okafor").await;
        patient
            .wait_until(
                "the new doctor in the live results",
                "return [...document.querySelectorAll('#search-results .doctor-card')] \
                   .some(card => card.textContent.includes('Dr. Mira Okafor'))",
            )
            .await;
        patient
            .click(&format!("#search-results a[href='/doctors/{id}']"))
            .await;
        patient
            .wait_for_path("the doctor's page", |path| path == format!("/doctors/{id}"))
            .await;
        let name = patient.find("#doctor-name").await.text().await.unwrap();
        assert_eq!(name, "Dr. Mira Okafor");
        let picture = patient.find(".profile-head img").await;
        assert_eq!(picture.attr("src").await.unwrap().as_deref(), Some(PHOTO));
        assert_eq!(
            picture.attr("alt").await.unwrap().as_deref(),
            Some("Photo of Dr. Mira Okafor")
        );
        let facts = patient.find(".profile .facts").await.text().await.unwrap();
        assert!(facts.contains("€95.50"), "{facts}");
        let specialty = patient
            .find(".profile-head .lead")
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(specialty, "Sports Medicine");
        let zone = patient.find(".zone-note").await.text().await.unwrap();
        assert!(zone.contains("Europe/Lisbon"), "{zone}");

        // And the search page, as without JavaScript.
        patient.open("/search?q=sports+medicine").await;
        let results = patient.find("main").await.text().await.unwrap();
        assert!(results.contains("Dr. Mira Okafor"), "{results}");
    })
    .await;
}

/// Scans the page shown.
async fn scan(browser: &Browser, axe: &str, what: &str, problems: &mut Vec<String>) {
    browser.find("main h1").await;
    keep_screenshot(browser, what).await;
    problems.extend(violations(browser, axe, what).await);
}

/// Signs the admin in as `look` and scans every console page and its states.
async fn scan_the_console(rig: &Rig, look: Look, axe: &str) -> Vec<String> {
    let browser = rig.browser(look).await;
    let label = look.label();
    let mut problems = Vec::new();
    sign_in(rig, &browser, ADMIN, "/admin").await;
    scan(
        &browser,
        axe,
        &format!("admin overview [{label}]"),
        &mut problems,
    )
    .await;

    let doctor = rig.server.doctor_id("Dr. Anna Schmidt").await;
    for (path, what) in [
        ("/admin/doctors".to_owned(), "doctors"),
        ("/admin/doctors/new".to_owned(), "new doctor"),
        (format!("/admin/doctors/{doctor}"), "edit doctor"),
        ("/admin/specialties".to_owned(), "specialties"),
        ("/admin/people?q=demo".to_owned(), "people"),
        ("/admin/messages".to_owned(), "messages"),
        ("/admin/audit".to_owned(), "audit trail"),
        ("/admin/outbox".to_owned(), "outbox"),
        ("/desk".to_owned(), "front desk"),
        (
            "/desk?q=patient".to_owned(),
            "front desk with found patients",
        ),
        ("/desk/messages".to_owned(), "contact inbox"),
        (
            "/admin/audit?from=someday".to_owned(),
            "audit trail with an error",
        ),
    ] {
        browser.open(&path).await;
        scan(&browser, axe, &format!("{what} [{label}]"), &mut problems).await;
    }

    // A patient's page at the desk, and the picker booking for them.
    browser.open("/desk?q=patient01").await;
    browser.click(".patient-results a").await;
    browser
        .wait_for_path("the patient's desk page", |path| {
            path.starts_with("/desk/patients/")
        })
        .await;
    scan(
        &browser,
        axe,
        &format!("a patient at the desk [{label}]"),
        &mut problems,
    )
    .await;
    browser
        .click(&format!("a[href^='/doctors/{doctor}?for=']"))
        .await;
    browser.find(".acting-for").await;
    scan(
        &browser,
        axe,
        &format!("booking for a patient [{label}]"),
        &mut problems,
    )
    .await;

    // The people page lists accounts with their role forms.
    browser.open("/admin/people?q=demo").await;
    assert!(!browser.find_all(".role-form").await.is_empty());

    // The new-doctor form with every kind of mistake, as the server explains them.
    browser.open("/admin/doctors/new").await;
    fill_doctor_form(&browser, " ", "Cardiology").await;
    browser.type_into("#fee_amount", "lots").await;
    browser
        .type_into("#photo_url", "http://images.example.org/x.jpg")
        .await;
    browser.type_into("#time_zone", "Atlantis/Capital").await;
    browser.click("form.admin-form button[type=submit]").await;
    browser.find("#error-summary").await;
    let invalid = browser.find_all("[aria-invalid=true]").await.len();
    assert_eq!(invalid, 4, "name, fee, photo and zone are marked");
    scan(
        &browser,
        axe,
        &format!("new doctor with errors [{label}]"),
        &mut problems,
    )
    .await;

    // The edit page with a photo and the saved notice.
    browser.open(&format!("/admin/doctors/{doctor}")).await;
    browser.type_into("#photo_url", PHOTO).await;
    browser.click("form.admin-form button[type=submit]").await;
    browser
        .wait_for_path("the saved notice", |path| path.ends_with("?notice=saved"))
        .await;
    browser.find("img.admin-photo").await;
    scan(
        &browser,
        axe,
        &format!("edit doctor with photo [{label}]"),
        &mut problems,
    )
    .await;
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_page_passes_axe_in_light_and_dark_mode_on_desktop_and_phone() {
    let Some(axe) = axe_source() else {
        return;
    };
    browser_test("admin_accessibility", |rig| async move {
        // Something in the inbox, so the messages page shows a message.
        let sent = reqwest::Client::new()
            .post(rig.server.url("/api/v1/contact"))
            .json(&json!({
                "name": "Grace Hopper",
                "email": "grace@example.org",
                "message": "Do you have parking?\nThank you.",
            }))
            .send()
            .await
            .unwrap();
        assert!(sent.status().is_success(), "{}", sent.status());
        let mut problems = Vec::new();
        for look in EVERY_LOOK {
            problems.extend(scan_the_console(&rig, look, &axe).await);
        }
        assert_accessible(&problems);
    })
    .await;
}
