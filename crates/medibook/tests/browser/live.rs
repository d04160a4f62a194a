//! Two patients on the same doctor's page: a hold another patient makes through the JSON API
//! takes the slot off both pages live, without a reload, and its release brings it back.

use serde_json::json;

use crate::harness::{Browser, Look, browser_test};

/// Waits until the page's live picker has subscribed to the feed.
async fn wait_until_live(browser: &Browser) {
    browser
        .wait_until(
            "the live feed",
            "return document.getElementById('slot-picker').dataset.live === 'subscribed'",
        )
        .await;
}

/// Whether the slot button starting at `start` is shown (and so in the accessibility tree).
fn slot_shown(start: &str) -> String {
    format!(
        "const b = [...document.querySelectorAll('button[data-start]')]\
           .find(b => Date.parse(b.dataset.start) === Date.parse('{start}')); \
         return !!b && !b.disabled && b.offsetParent !== null;"
    )
}

fn slot_hidden(start: &str) -> String {
    format!(
        "const b = [...document.querySelectorAll('button[data-start]')]\
           .find(b => Date.parse(b.dataset.start) === Date.parse('{start}')); \
         return !!b && b.disabled && b.closest('li').hidden && b.offsetParent === null;"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_by_another_patient_removes_the_slot_from_open_pages_live() {
    browser_test("live_slots", |rig| async move {
        let doctor = rig.server.doctor_id("Dr. Anna Schmidt").await;
        let page = format!("/doctors/{doctor}");
        let desktop = rig.browser(Look::DESKTOP).await;
        let phone = rig.browser(Look::PHONE).await;
        for browser in [&desktop, &phone] {
            browser.open(&page).await;
            wait_until_live(browser).await;
            // A mark that a reload would wipe.
            browser.eval("window.notReloaded = true; return true").await;
        }
        let start = desktop
            .eval(
                "return [...document.querySelectorAll('button[data-start]')]\
                   .find(b => b.offsetParent !== null).dataset.start",
            )
            .await
            .as_str()
            .expect("a free slot on the page")
            .to_owned();
        let label = desktop
            .find(&format!("button[data-start='{start}']"))
            .await
            .attr("aria-label")
            .await
            .unwrap()
            .unwrap();

        let token = rig
            .server
            .sign_in(&reqwest::Client::new(), "bea@example.org")
            .await;
        let http = reqwest::Client::new();
        let hold: serde_json::Value = http
            .post(rig.server.url("/api/v1/holds"))
            .bearer_auth(&token)
            .json(&json!({ "doctor_id": doctor, "start": start }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let hold_id = hold["id"].as_str().expect("a hold").to_owned();

        for browser in [&desktop, &phone] {
            browser
                .wait_until("the held slot to disappear", &slot_hidden(&start))
                .await;
            browser
                .wait_until(
                    "the announcement",
                    &format!(
                        "return document.getElementById('status').textContent === \
                         'Slot {label} was just taken.'"
                    ),
                )
                .await;
            let same_page = browser.eval("return window.notReloaded === true").await;
            assert_eq!(same_page, true, "{}: no reload", browser.label);
        }

        // Released, it comes back.
        let released = http
            .delete(rig.server.url(&format!("/api/v1/holds/{hold_id}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(released.status(), reqwest::StatusCode::NO_CONTENT);
        for browser in [&desktop, &phone] {
            browser
                .wait_until("the slot to come back", &slot_shown(&start))
                .await;
        }
    })
    .await;
}
