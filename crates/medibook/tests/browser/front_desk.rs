//! The clinic's day in Chromium: a receptionist (the demo admin, who works the desk) registers
//! a patient who phoned, books for them through the doctor's picker, finds them on the live
//! day and checks them in; a doctor opens a visit from her agenda and writes a note; and a
//! patient waiting for a time gets the offer live in a second tab, through the browser's one
//! shared feed socket.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::booking::sign_in;
use crate::harness::{Browser, Look, Rig, browser_test};

const DESK: &str = "admin@demo.medibook.test";
const ANNA: &str = "doctor01@demo.medibook.test";
const CONFIRM: &str = "form[action='/book/confirm'] button[type=submit]";

/// Sets a form field's value as typing would (date and time fields take keystrokes in a
/// locale-dependent order, so the value is set).
pub async fn set_value(browser: &Browser, css: &str, value: &str) {
    let script = format!(
        "const field = document.querySelector(\"{css}\"); field.value = '{value}'; \
         field.dispatchEvent(new Event('change', {{ bubbles: true }})); \
         return field.value === '{value}';"
    );
    assert_eq!(browser.eval(&script).await, true, "{css} takes {value:?}");
}

/// A time another patient booked through the API: who, which appointment, and the slot's
/// date and clock times in the doctor's zone.
pub struct Taken {
    /// The other patient's token.
    pub token: String,
    /// Their appointment.
    pub appointment: String,
    /// `YYYY-MM-DD` in the doctor's zone.
    pub date: String,
    /// `HH:MM` start.
    pub from: String,
    /// `HH:MM` end.
    pub until: String,
}

impl Taken {
    /// The other patient cancels, freeing the time.
    pub async fn cancel(&self, rig: &Rig) {
        let cancelled = reqwest::Client::new()
            .post(
                rig.server
                    .url(&format!("/api/v1/appointments/{}/cancel", self.appointment)),
            )
            .bearer_auth(&self.token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(cancelled.status(), StatusCode::OK);
    }
}

/// On the doctor's page shown, joins the waitlist for exactly the time `taken`.
pub async fn wait_for(browser: &Browser, taken: &Taken) {
    browser
        .eval("document.querySelector('.wait-form').open = true; return true;")
        .await;
    set_value(browser, "#wait-from", &taken.date).await;
    set_value(browser, "#wait-to", &taken.date).await;
    set_value(browser, "#wait-earliest", &taken.from).await;
    set_value(browser, "#wait-latest", &taken.until).await;
    browser.click(".wait-form button[type=submit]").await;
    browser
        .wait_for_path("the waitlist", |path| path == "/waitlist?notice=joined")
        .await;
}

/// Another patient books `doctor`'s first free time at least an hour ahead.
pub async fn taken_by_another(rig: &Rig, doctor: &str) -> Taken {
    let http = reqwest::Client::new();
    let token = rig.server.sign_in(&http, "another@example.org").await;
    let profile: Value = http
        .get(rig.server.url(&format!("/api/v1/doctors/{doctor}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tz = TimeZone::get(profile["time_zone"].as_str().unwrap()).unwrap();
    let today = Timestamp::now().to_zoned(tz.clone()).date();
    let slots: Vec<Value> = http
        .get(rig.server.url(&format!(
            "/api/v1/slots?doctor_id={doctor}&date={today}&days=14"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let soon = Timestamp::now() + jiff::SignedDuration::from_hours(1);
    let slot = slots
        .iter()
        .find(|slot| {
            slot["status"] == "available"
                && slot["start"]
                    .as_str()
                    .unwrap()
                    .parse::<Timestamp>()
                    .unwrap()
                    > soon
        })
        .expect("a free time within two weeks");
    let hold: Value = http
        .post(rig.server.url("/api/v1/holds"))
        .bearer_auth(&token)
        .json(&json!({ "doctor_id": doctor, "start": slot["start"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let booked = http
        .post(rig.server.url("/api/v1/appointments"))
        .bearer_auth(&token)
        .json(&json!({ "hold_id": hold["id"], "reason": "Check-up" }))
        .send()
        .await
        .unwrap();
    assert_eq!(booked.status(), StatusCode::CREATED);
    let appointment: Value = booked.json().await.unwrap();
    let local = |field: &str| {
        slot[field]
            .as_str()
            .unwrap()
            .parse::<Timestamp>()
            .unwrap()
            .to_zoned(tz.clone())
    };
    Taken {
        token,
        appointment: appointment["id"].as_str().unwrap().to_owned(),
        date: local("start").date().to_string(),
        from: local("start").strftime("%H:%M").to_string(),
        until: local("end").strftime("%H:%M").to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waitlist_offer_reaches_the_patient_in_a_second_tab() {
    browser_test("waitlist_second_tab", |rig| async move {
        let browser = rig.browser(Look::DESKTOP).await;
        let doctor = rig.server.doctor_id("Dr. Anna Schmidt").await;
        let taken = taken_by_another(&rig, &doctor).await;
        let week = format!("/doctors/{doctor}?week={}", taken.date);
        sign_in(&rig, &browser, "waiting@example.org", &week).await;

        // Wait for exactly the taken time: nothing free suits, so the patient is queued.
        wait_for(&browser, &taken).await;
        let entry = browser.find(".waitlist-entry").await.text().await.unwrap();
        assert!(entry.contains("Waiting"), "{entry}");
        assert!(entry.contains(&taken.from), "the times that suit: {entry}");

        // A second tab, on another page; both tabs share the browser's one feed socket.
        let first_tab = browser.client.window().await.unwrap();
        let second = browser.client.new_window(true).await.unwrap();
        browser
            .client
            .switch_to_window(second.handle)
            .await
            .unwrap();
        browser.open(&week).await;
        browser
            .wait_until(
                "the shared feed",
                "return document.documentElement.dataset.feed === 'shared' && \
                 document.querySelector('#slot-picker')?.dataset.live === 'subscribed';",
            )
            .await;

        // The other patient cancels: the freed time is offered to the waiting patient, live.
        taken.cancel(&rig).await;
        let banner = browser.find(".offer-banner").await.text().await.unwrap();
        assert!(banner.contains("Take this slot"), "{banner}");
        assert!(banner.contains("with Dr. Anna Schmidt"), "{banner}");

        // The first tab heard it too; the patient takes the offer there.
        browser.client.switch_to_window(first_tab).await.unwrap();
        browser.find(".offer-banner").await;
        browser.click(".offer-banner a").await;
        browser
            .wait_for_path("the offer's hold page", |path| path.starts_with("/holds/"))
            .await;
        browser.type_into("#reason", "From the waitlist").await;
        browser.click(CONFIRM).await;
        browser
            .wait_for_path("the booked offer", |path| path.ends_with("?notice=booked"))
            .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receptionist_books_for_a_patient_who_phoned_and_checks_them_in() {
    browser_test("desk_books_for_caller", |rig| async move {
        let browser = rig.browser(Look::DESKTOP).await;
        sign_in(&rig, &browser, DESK, "/desk").await;
        browser
            .wait_until(
                "the live day",
                "return document.getElementById('desk-live')?.dataset.live === 'subscribed';",
            )
            .await;

        // Register the caller.
        browser.type_into("#reg-name", "Grace Hopper").await;
        browser.type_into("#reg-phone", "+49 30 5550101").await;
        set_value(&browser, "#reg-born", "1946-12-09").await;
        browser
            .click("form[action='/desk/patients'] button[type=submit]")
            .await;
        let patient = browser
            .wait_for_path("the patient's page", |path| {
                path.starts_with("/desk/patients/")
            })
            .await;
        assert!(patient.ends_with("?notice=registered"), "{patient}");

        // Book with Dr. Anna Schmidt for her.
        let anna = rig.server.doctor_id("Dr. Anna Schmidt").await;
        browser
            .click(&format!("a[href^='/doctors/{anna}?for=']"))
            .await;
        let booking_for = browser.find(".acting-for").await.text().await.unwrap();
        assert!(booking_for.contains("Grace Hopper"), "{booking_for}");
        crate::booking::hold_first_free_slot(&browser).await;
        let heading = browser.find("main h1").await.text().await.unwrap();
        assert_eq!(heading, "Confirm the appointment for Grace Hopper");
        browser.type_into("#reason", "Phoned in: sore throat").await;
        browser.click(CONFIRM).await;
        browser
            .wait_for_path("the booked appointment", |path| {
                path.ends_with("?notice=booked")
            })
            .await;
        let notice = browser.find(".notice").await.text().await.unwrap();
        assert!(
            notice.contains("The patient has been sent the confirmation"),
            "{notice}"
        );
        let date = browser
            .eval(
                "return new Date(document.querySelector('main time').getAttribute('datetime')) \
                 .toLocaleDateString('en-CA', { timeZone: 'Europe/Berlin' });",
            )
            .await;
        let date = date.as_str().unwrap().to_owned();

        // Her visit is on the day, and she is checked in.
        browser.open(&format!("/desk?date={date}")).await;
        let row = "tr:has(a[href^='/desk/patients/'])";
        browser
            .wait_until(
                "Grace on the day",
                "return [...document.querySelectorAll('#desk-live tr')]\
                 .some((row) => row.textContent.includes('Grace Hopper'));",
            )
            .await;
        browser
            .eval(
                "const row = [...document.querySelectorAll('#desk-live tr')]\
                 .find((row) => row.textContent.includes('Grace Hopper')); \
                 row.querySelector('form button').click(); return true;",
            )
            .await;
        browser
            .wait_for_path("the day again", |path| path.contains("notice=arrived"))
            .await;
        let arrived = browser
            .eval(
                "return [...document.querySelectorAll('#desk-live tr')]\
                 .find((row) => row.textContent.includes('Grace Hopper'))?.className ?? '';",
            )
            .await;
        assert_eq!(arrived.as_str(), Some("check-in-arrived"), "{row}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doctor_opens_a_visit_from_her_agenda_and_writes_a_note() {
    browser_test("doctor_writes_a_note", |rig| async move {
        let browser = rig.browser(Look::DESKTOP).await;
        sign_in(&rig, &browser, ANNA, "/doctor").await;
        // Her demo visits are spread over the coming days: this week or the next has some.
        if browser
            .find_all(".agenda-grid a[href^='/doctor/appointments/']")
            .await
            .is_empty()
        {
            browser.click(".agenda-nav a[rel=next]").await;
            browser
                .wait_for_path("the next week", |path| path.contains("date="))
                .await;
        }
        browser
            .click(".agenda-grid a[href^='/doctor/appointments/']")
            .await;
        browser
            .wait_for_path("the visit", |path| {
                path.starts_with("/doctor/appointments/")
            })
            .await;
        browser
            .type_into(
                "#text",
                "Throat red, no fever. Rest and fluids; back if worse.",
            )
            .await;
        browser.click("#note button[type=submit]").await;
        browser
            .wait_for_path("the visit again", |path| path.contains("notice=note-saved"))
            .await;
        let main = browser.find("main").await.text().await.unwrap();
        assert!(main.contains("Note saved."), "{main}");
        assert!(main.contains("Throat red, no fever."), "{main}");
    })
    .await;
}
