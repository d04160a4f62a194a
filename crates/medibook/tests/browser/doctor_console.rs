//! The doctor console in Chromium: Dr. Anna Schmidt (`doctor01@…`, Mon–Fri 08:00–18:00 with a
//! 12:30–13:30 break, 15-minute slots) opens her hours, adds Saturday mornings and drops
//! Wednesdays, previews the change, saves it, and her public page follows; her agenda on a
//! desktop and on a 360-pixel phone; and an axe-core scan of every console page and state, in
//! light and dark mode, on both screens.

use crate::accessibility::{EVERY_LOOK, assert_accessible, axe_source, violations};
use crate::booking::sign_in;
use crate::harness::{Browser, Look, Rig, browser_test, keep_screenshot};

/// Dr. Anna Schmidt's demo account.
const ANNA: &str = "doctor01@demo.medibook.test";

/// Sets a time field the way a person's typing does, firing the events a page may listen to.
/// (Chromium's time fields take keystrokes in a locale-dependent order, so the value is set.)
async fn set_field(browser: &Browser, id: &str, value: &str) {
    let script = format!(
        "const field = document.getElementById('{id}'); field.value = '{value}'; \
         field.dispatchEvent(new Event('input', {{ bubbles: true }})); \
         field.dispatchEvent(new Event('change', {{ bubbles: true }})); \
         return field.value === '{value}';"
    );
    assert_eq!(
        browser.eval(&script).await,
        true,
        "{id} should take {value:?}"
    );
}

async fn text_of(browser: &Browser, css: &str) -> String {
    browser.find(css).await.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doctor_previews_and_saves_new_hours_and_her_public_page_follows() {
    browser_test("doctor-hours", |rig| async move {
        let browser = rig.browser(Look::DESKTOP).await;
        let anna = rig.server.doctor_id("Dr. Anna Schmidt").await;
        sign_in(&rig, &browser, ANNA, "/doctor/hours").await;
        assert_eq!(
            browser
                .find("#saturday-hours-0-start")
                .await
                .prop("value")
                .await
                .unwrap()
                .unwrap_or_default(),
            ""
        );
        assert_eq!(
            browser
                .find("#wednesday-hours-0-start")
                .await
                .prop("value")
                .await
                .unwrap()
                .unwrap_or_default(),
            "08:00"
        );

        // Saturdays 09:00–12:00 are new; Wednesdays are dropped.
        set_field(&browser, "saturday-hours-0-start", "09:00").await;
        set_field(&browser, "saturday-hours-0-end", "12:00").await;
        for field in [
            "wednesday-hours-0-start",
            "wednesday-hours-0-end",
            "wednesday-break-0-start",
            "wednesday-break-0-end",
        ] {
            set_field(&browser, field, "").await;
        }
        browser
            .click("button[name=intent][value=preview]")
            .await;
        browser.find("#preview").await;
        keep_screenshot(&browser, "hours-preview-1280").await;
        let days: Vec<(String, String)> = {
            let mut days = Vec::new();
            for item in browser.find_all(".preview-days li").await {
                let date = item.attr("data-date").await.unwrap().unwrap_or_default();
                days.push((date, item.text().await.unwrap()));
            }
            days
        };
        // The first whole Saturday morning ahead (today's may be partly past the notice).
        let saturday = days
            .iter()
            .find(|(_, text)| {
                text.starts_with("Saturday") && text.contains("adds 09:00, 09:15, 09:30")
            })
            .unwrap_or_else(|| panic!("a Saturday with new slots in the preview: {days:?}"));
        assert!(!saturday.1.contains("removes"), "{saturday:?}");
        let wednesday = days
            .iter()
            .find(|(_, text)| text.starts_with("Wednesday"))
            .unwrap_or_else(|| panic!("a Wednesday in the preview: {days:?}"));
        assert!(wednesday.1.contains("removes"), "{wednesday:?}");
        assert!(
            text_of(&browser, ".preview").await.contains("nothing is saved"),
            "the preview says it saved nothing"
        );
        // The form still holds the proposal.
        assert_eq!(
            browser
                .find("#saturday-hours-0-end")
                .await
                .prop("value")
                .await
                .unwrap()
                .unwrap_or_default(),
            "12:00"
        );

        // Nothing is saved yet: the public page has no Saturday slots.
        let saturday_date = saturday.0.clone();
        let public = rig.browser(Look::DESKTOP).await;
        public
            .open(&format!("/doctors/{anna}?week={saturday_date}"))
            .await;
        public.find("#slot-picker").await;
        let before = public
            .find_all(&format!(".day[data-date='{saturday_date}'] [data-start]"))
            .await;
        assert!(before.is_empty(), "no Saturday slots before saving");

        browser.click("button[name=intent][value=save]").await;
        browser
            .wait_for_path("the saved hours", |path| {
                path == "/doctor/hours?notice=saved"
            })
            .await;
        assert!(text_of(&browser, "#hours-notice").await.contains("Hours saved"));
        assert_eq!(
            browser
                .find("#saturday-hours-0-start")
                .await
                .prop("value")
                .await
                .unwrap()
                .unwrap_or_default(),
            "09:00"
        );

        // The public page follows at once: slots on Saturday, none on the Wednesday after.
        public
            .open(&format!("/doctors/{anna}?week={saturday_date}"))
            .await;
        public.find("#slot-picker").await;
        let saturday_slots = public
            .find_all(&format!(".day[data-date='{saturday_date}'] [data-start]"))
            .await;
        assert_eq!(saturday_slots.len(), 12, "09:00–12:00 in 15-minute slots");
        let wednesday_date: String = public
            .eval(&format!(
                "const d = new Date('{saturday_date}T12:00:00Z'); d.setUTCDate(d.getUTCDate() + 4); \
                 return d.toISOString().slice(0, 10);"
            ))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned();
        // Weeks run Monday to Sunday: the Wednesday after is in the next week.
        public
            .open(&format!("/doctors/{anna}?week={wednesday_date}"))
            .await;
        public.find("#slot-picker").await;
        assert_eq!(
            public
                .eval(&format!(
                    "return document.querySelector(\".day[data-date='{wednesday_date}']\") !== null"
                ))
                .await,
            true,
            "the week shows {wednesday_date}"
        );
        let wednesday_slots = public
            .find_all(&format!(".day[data-date='{wednesday_date}'] [data-start]"))
            .await;
        assert!(wednesday_slots.is_empty(), "no slots on {wednesday_date}");
        keep_screenshot(&public, "public-after-save-1280").await;
    })
    .await;
}

/// Checks the agenda shown in `browser` (`width` pixels wide) and saves a screenshot.
async fn check_agenda(browser: &Browser, width: u32, name: &str) {
    browser.find(".agenda-grid").await;
    browser.find(".agenda-grid th.time").await;
    // The page never scrolls sideways; a wide grid scrolls inside its own box.
    let page_fits = browser
        .eval("return document.documentElement.scrollWidth <= window.innerWidth")
        .await;
    if page_fits != true {
        let wide = browser
            .eval(
                "return [...document.querySelectorAll('body *')] \
                   .filter(e => !e.closest('.agenda-scroll') && \
                     e.getBoundingClientRect().right > window.innerWidth + 1) \
                   .slice(0, 8) \
                   .map(e => e.tagName + '.' + e.className + ' ' + \
                     Math.round(e.getBoundingClientRect().right));",
            )
            .await;
        panic!("{name}: the page is wider than {width} pixels: {wide}");
    }
    // The time column is readable: in view, not squeezed.
    let time_width = browser
        .eval(
            "const th = document.querySelector('.agenda-grid tbody th.time'); \
             const box = th.getBoundingClientRect(); \
             return box.left >= 0 && box.width >= 40 && th.scrollWidth <= th.clientWidth + 1;",
        )
        .await;
    assert_eq!(time_width, true, "{name}: the time column is readable");
    browser
        .eval("document.querySelector('.agenda-scroll').scrollIntoView(); return true;")
        .await;
    keep_screenshot(browser, name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agenda_reads_well_on_a_desktop_and_on_a_phone() {
    browser_test("doctor-agenda", |rig| async move {
        let desktop = rig.browser(Look::DESKTOP).await;
        sign_in(&rig, &desktop, ANNA, "/doctor").await;
        check_agenda(&desktop, 1280, "agenda-week-1280").await;
        // Her demo visits are spread over the coming seven days: this week or the next has
        // some (a weekend today leaves this week empty).
        if desktop.find_all(".agenda-grid .visit").await.is_empty() {
            desktop.click(".agenda-nav a[rel=next]").await;
            desktop
                .wait_for_path("the next week", |path| path.contains("date="))
                .await;
            check_agenda(&desktop, 1280, "agenda-next-week-1280").await;
        }
        let visits = desktop.find_all(".agenda-grid .visit").await;
        assert!(!visits.is_empty(), "the demo weeks have visits");
        assert!(
            !desktop
                .find_all(".agenda-grid .visit .visit-patient")
                .await
                .is_empty()
        );
        let week = desktop.path().await;
        let columns = desktop.find_all(".agenda-grid thead th.day-head").await;
        assert_eq!(columns.len(), 7);
        // Monday's heading opens its day view (Mondays are working days).
        let monday = desktop
            .find(".agenda-grid thead th.day-head a")
            .await
            .attr("href")
            .await
            .unwrap()
            .expect("a link to the day");
        desktop.click(".agenda-grid thead th.day-head a").await;
        desktop
            .wait_for_path("the day view", |path| path.contains("view=day"))
            .await;
        check_agenda(&desktop, 1280, "agenda-day-1280").await;
        assert_eq!(
            desktop
                .find_all(".agenda-grid thead th.day-head")
                .await
                .len(),
            1
        );

        let phone = rig.browser(Look::PHONE).await;
        sign_in(&rig, &phone, ANNA, "/doctor").await;
        phone.open(&week).await;
        check_agenda(&phone, 360, "agenda-week-360").await;
        // The week scrolls inside its box, and the time column stays in view while it does.
        let scrolls = phone
            .eval(
                "const box = document.querySelector('.agenda-scroll'); \
                 return box.scrollWidth > box.clientWidth;",
            )
            .await;
        assert_eq!(scrolls, true, "the week scrolls sideways inside its box");
        let sticky = phone
            .eval(
                "const box = document.querySelector('.agenda-scroll'); box.scrollLeft = 300; \
                 const th = document.querySelector('.agenda-grid tbody th.time'); \
                 return th.getBoundingClientRect().left - box.getBoundingClientRect().left < 4;",
            )
            .await;
        assert_eq!(sticky, true, "the time column stays in view");
        keep_screenshot(&phone, "agenda-week-360-scrolled").await;
        phone.open(&monday).await;
        check_agenda(&phone, 360, "agenda-day-360").await;
    })
    .await;
}

/// Opens every console page and state as Dr. Schmidt and scans each.
async fn scan_the_console(rig: &Rig, look: Look, axe: &str) -> Vec<String> {
    let browser = rig.browser(look).await;
    let label = look.label();
    let mut problems = Vec::new();
    sign_in(rig, &browser, ANNA, "/doctor").await;
    for page in [
        "/doctor",
        "/doctor?view=day",
        "/doctor/hours",
        "/doctor/time-off",
    ] {
        browser.open(page).await;
        browser.find("main h1").await;
        problems.extend(violations(&browser, axe, &format!("{page} [{label}]")).await);
    }

    browser.open("/doctor/hours").await;
    set_field(&browser, "saturday-hours-0-start", "09:00").await;
    set_field(&browser, "saturday-hours-0-end", "11:00").await;
    browser.click("button[name=intent][value=preview]").await;
    browser.find("#preview").await;
    problems.extend(violations(&browser, axe, &format!("hours with a preview [{label}]")).await);
    set_field(&browser, "monday-hours-0-end", "07:00").await;
    set_field(&browser, "slot_minutes", "2").await;
    browser.click("button[name=intent][value=save]").await;
    browser.find("#error-summary").await;
    problems.extend(violations(&browser, axe, &format!("hours with errors [{label}]")).await);

    browser.open("/doctor/time-off").await;
    let next_week: String = browser
        .eval(
            "const d = new Date(); d.setDate(d.getDate() + 8); \
             return d.toISOString().slice(0, 10);",
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned();
    set_field(&browser, "start_date", &next_week).await;
    set_field(&browser, "end_date", &next_week).await;
    set_field(&browser, "start_time", "09:00").await;
    set_field(&browser, "end_time", "12:00").await;
    browser.click("button[name=intent][value=preview]").await;
    browser.find("#preview").await;
    problems.extend(violations(&browser, axe, &format!("time off with a preview [{label}]")).await);
    set_field(&browser, "end_time", "08:00").await;
    browser.click("button[name=intent][value=save]").await;
    browser.find("#error-summary").await;
    problems.extend(violations(&browser, axe, &format!("time off with errors [{label}]")).await);
    if look.width == 360 {
        keep_screenshot(&browser, &format!("time-off-errors-{label}")).await;
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doctor_console_passes_axe_in_light_and_dark_mode_on_desktop_and_phone() {
    let Some(axe) = axe_source() else {
        return;
    };
    browser_test("doctor-console-accessibility", |rig| async move {
        let mut problems = Vec::new();
        for look in EVERY_LOOK {
            problems.extend(scan_the_console(&rig, look, &axe).await);
        }
        assert_accessible(&problems);
    })
    .await;
}
