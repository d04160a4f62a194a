//! An accessibility scan of every page with axe-core, in light and dark mode, on a desktop and
//! on a 360-pixel phone: zero serious or critical violations (WCAG 2.0/2.1/2.2 A and AA rules
//! and axe's best practices).
//!
//! axe-core is a test-only npm package (`tests/browser-npm`, `npm ci` there); its
//! `axe.min.js` is injected into each page through WebDriver. Without it the scan is skipped
//! with a note, except under `CI=true`, where that is a failure.

use std::path::PathBuf;

use serde_json::Value;

use crate::booking::{complete_welcome, hold_first_free_slot};
use crate::browse::{first_week_without_free_slots, type_a_search};
use crate::harness::{Browser, Look, Rig, browser_test, missing};

/// The four ways every page is scanned: a desktop and a 360-pixel phone, light and dark.
pub(crate) const EVERY_LOOK: [Look; 4] = [
    Look::DESKTOP,
    Look::DESKTOP.dark(),
    Look::PHONE,
    Look::PHONE.dark(),
];

/// Fails with every serious or critical violation found.
#[track_caller]
pub(crate) fn assert_accessible(problems: &[String]) {
    assert!(
        problems.is_empty(),
        "serious or critical accessibility violations:\n{}",
        problems.join("\n")
    );
}

/// Impacts that fail the scan.
const FAILING_IMPACTS: [&str; 2] = ["serious", "critical"];

fn axe_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/browser-npm/node_modules/axe-core/axe.min.js")
}

/// The axe-core script, or `None` (a skip) when `npm ci` has not been run.
pub(crate) fn axe_source() -> Option<String> {
    match std::fs::read_to_string(axe_path()) {
        Ok(source) => Some(source),
        Err(_) => missing(&format!(
            "axe-core is not installed at {} (run `npm ci` in tests/browser-npm)",
            axe_path().display()
        )),
    }
}

/// The serious and critical violations on the page shown, described for a failure message,
/// and whether anything makes the page scroll sideways (wide tables and grids scroll inside
/// their own box instead).
pub(crate) async fn violations(browser: &Browser, axe: &str, what: &str) -> Vec<String> {
    let overflow = browser
        .eval(
            "const root = document.documentElement; const width = root.clientWidth; \
             if (root.scrollWidth <= width) { return ''; } \
             return root.scrollWidth + ' > ' + width + ': ' \
               + [...document.querySelectorAll('body *')] \
               .filter(e => e.getBoundingClientRect().right > width + 1 \
                 && !e.closest('.table-scroll')) \
               .slice(0, 5).map(e => e.tagName + '.' + e.className).join(', ');",
        )
        .await;
    let mut problems = Vec::new();
    if overflow != "" {
        problems.push(format!("{what}: wider than the screen: {overflow}"));
    }
    let loaded = browser
        .eval(&format!("{axe}\n;return typeof window.axe === 'object';"))
        .await;
    assert_eq!(loaded, true, "axe-core loads into {what}");
    let found = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             axe.run(document, { resultTypes: ['violations'] }) \
               .then(r => done({ violations: r.violations, passed: r.passes.length }), \
                     e => done({ error: String(e) }));",
            Vec::new(),
        )
        .await
        .unwrap();
    assert!(
        found.get("error").is_none(),
        "axe failed on {what}: {found}"
    );
    // A scan that checked nothing proves nothing.
    let passed = found["passed"].as_u64().unwrap_or(0);
    assert!(passed >= 10, "axe checked only {passed} rules on {what}");
    problems.extend(
        found["violations"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter(|v| FAILING_IMPACTS.contains(&v["impact"].as_str().unwrap_or_default()))
            .map(|v| describe(v, what)),
    );
    problems
}

fn describe(violation: &Value, what: &str) -> String {
    let targets: Vec<String> = violation["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .take(5)
        .map(|node| {
            format!(
                "{} {}",
                node["target"],
                node["failureSummary"].as_str().unwrap_or_default()
            )
        })
        .collect();
    format!(
        "{what}: {} ({}): {}\n    {}",
        violation["id"].as_str().unwrap_or_default(),
        violation["impact"].as_str().unwrap_or_default(),
        violation["help"].as_str().unwrap_or_default(),
        targets.join("\n    ")
    )
}

/// Opens every page (and the states a person reaches by typing) and scans each.
async fn scan_every_page(rig: &Rig, look: Look, axe: &str) -> Vec<String> {
    let browser = rig.browser(look).await;
    let doctors = rig.server.doctors().await;
    let doctor = rig.server.doctor_id("Dr. Anna Schmidt").await;
    let on_holiday = rig.server.doctor_id("Dr. Sofia Rossi").await;
    let holiday = first_week_without_free_slots(rig, &on_holiday).await;
    let specialty = doctors[0]["specialty_id"].as_str().unwrap().to_owned();
    let mut problems = Vec::new();
    let label = look.label();

    let pages = [
        "/".to_owned(),
        "/search?q=cardiolgy".to_owned(),
        "/search?q=zzzzzz".to_owned(),
        format!("/specialties/{specialty}"),
        format!("/doctors/{doctor}"),
        format!("/doctors/{on_holiday}?week={holiday}"),
        "/login?next=%2F".to_owned(),
        "/login?by=phone".to_owned(),
        "/no/such/page".to_owned(),
    ];
    for page in &pages {
        browser.open(page).await;
        browser.find("main h1").await;
        problems.extend(violations(&browser, axe, &format!("{page} [{label}]")).await);
    }

    // Results drawn as the patient types.
    browser.open("/").await;
    type_a_search(&browser, "cardiolgy").await;
    problems.extend(violations(&browser, axe, &format!("/ with live results [{label}]")).await);

    // The sign-in steps, with their error messages, and a page seen signed in.
    let email = format!("scan-{label}@example.org");
    browser.open("/login").await;
    browser
        .type_into("input[name=email]", "someone@example")
        .await;
    browser
        .click("form[action='/login'] button[type=submit]")
        .await;
    browser.find(".alert").await;
    problems.extend(violations(&browser, axe, &format!("/login with an error [{label}]")).await);
    let mark = rig.server.log_len();
    browser.type_into("input[name=email]", &email).await;
    browser
        .click("form[action='/login'] button[type=submit]")
        .await;
    browser.find("input[name=code]").await;
    problems.extend(violations(&browser, axe, &format!("the code step [{label}]")).await);
    let code = rig.server.code_for(&email, mark).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    browser.type_into("input[name=code]", wrong).await;
    browser
        .click("form[action='/login/code'] button[type=submit]")
        .await;
    browser.find(".alert").await;
    problems.extend(
        violations(
            &browser,
            axe,
            &format!("the code step with an error [{label}]"),
        )
        .await,
    );
    browser.type_into("input[name=code]", &code).await;
    browser
        .click("form[action='/login/code'] button[type=submit]")
        .await;
    browser
        .wait_for_path("the welcome step", |path| path.starts_with("/welcome"))
        .await;
    problems.extend(violations(&browser, axe, &format!("the welcome step [{label}]")).await);
    complete_welcome(&browser, "Axe Patient").await;
    browser
        .wait_for_path("home, signed in", |path| path == "/")
        .await;
    browser.find("form[action='/logout']").await;
    problems.extend(violations(&browser, axe, &format!("/ signed in [{label}]")).await);
    browser.open(&format!("/doctors/{doctor}")).await;
    browser.find("#slot-picker").await;
    problems.extend(violations(&browser, axe, &format!("a doctor signed in [{label}]")).await);

    // Booking: the hold page (and its error), the confirmation, the list, cancel, reschedule.
    hold_first_free_slot(&browser).await;
    browser.find("#countdown").await;
    problems.extend(violations(&browser, axe, &format!("the hold page [{label}]")).await);
    browser
        .eval("document.getElementById('reason').removeAttribute('required'); return true;")
        .await;
    browser.type_into("#reason", " ").await;
    browser
        .click("form[action='/book/confirm'] button[type=submit]")
        .await;
    browser.find(".alert").await;
    problems.extend(
        violations(
            &browser,
            axe,
            &format!("the hold page with an error [{label}]"),
        )
        .await,
    );
    browser.type_into("#reason", "Annual check-up").await;
    browser
        .click("form[action='/book/confirm'] button[type=submit]")
        .await;
    let booked = browser
        .wait_for_path("the confirmation", |path| path.ends_with("?notice=booked"))
        .await;
    let appointment = booked.split('?').next().unwrap_or_default().to_owned();
    problems.extend(violations(&browser, axe, &format!("the confirmation [{label}]")).await);
    for page in [
        "/appointments".to_owned(),
        format!("{appointment}/cancel"),
        format!("{appointment}/reschedule"),
    ] {
        browser.open(&page).await;
        browser.find("main h1").await;
        problems.extend(violations(&browser, axe, &format!("{page} [{label}]")).await);
    }
    // An offer on the waitlist page: wait for a time another patient holds, which they free.
    let taken = crate::front_desk::taken_by_another(rig, &doctor).await;
    browser
        .open(&format!("/doctors/{doctor}?week={}", taken.date))
        .await;
    crate::front_desk::wait_for(&browser, &taken).await;
    taken.cancel(rig).await;
    browser.find(".offer-banner").await;
    problems.extend(violations(&browser, axe, &format!("/waitlist with an offer [{label}]")).await);

    // The profile and the contact form, with their mistakes explained.
    browser.open("/profile").await;
    browser.find("main h1").await;
    problems.extend(violations(&browser, axe, &format!("/profile [{label}]")).await);
    browser
        .eval("document.getElementById('name').removeAttribute('required'); return true;")
        .await;
    browser.type_into("#name", " ").await;
    browser
        .click("form[action='/profile'] button[type=submit]")
        .await;
    browser.find(".alert").await;
    problems.extend(violations(&browser, axe, &format!("/profile with an error [{label}]")).await);
    browser.open("/contact").await;
    browser.find("main h1").await;
    problems.extend(violations(&browser, axe, &format!("/contact [{label}]")).await);
    browser.type_into("#contact-name", "").await;
    browser
        .click("form[action='/contact'] button[type=submit]")
        .await;
    browser.find("#contact-errors").await;
    problems.extend(violations(&browser, axe, &format!("/contact with errors [{label}]")).await);
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_passes_axe_in_light_and_dark_mode_on_desktop_and_phone() {
    let Some(axe) = axe_source() else {
        return;
    };
    browser_test("accessibility", |rig| async move {
        let mut problems = Vec::new();
        for look in EVERY_LOOK {
            problems.extend(scan_every_page(&rig, look, &axe).await);
        }
        assert_accessible(&problems);
    })
    .await;
}
