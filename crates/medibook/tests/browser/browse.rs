//! Finding a doctor: search as you type (typos tolerated), the search page without JavaScript,
//! and the doctor's week slot picker with its test hooks (`data-start`, full-date names).

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::harness::{Browser, Look, browser_test};

/// "Tuesday 2 March 2027, 09:30 to 09:50" for a slot of `minutes` from `start`, in `zone`.
fn expected_label(start: Timestamp, minutes: i64, zone: &str) -> String {
    let tz = TimeZone::get(zone).unwrap();
    let from = start.to_zoned(tz.clone());
    let to = (start + jiff::SignedDuration::from_mins(minutes)).to_zoned(tz);
    format!(
        "{}, {} to {}",
        from.strftime("%A %-d %B %Y"),
        from.strftime("%H:%M"),
        to.strftime("%H:%M")
    )
}

/// The names of the doctors in the live search results, once there are some.
async fn live_results(browser: &Browser) -> Vec<String> {
    browser
        .wait_until(
            "search results",
            "return document.querySelectorAll('#search-results .doctor-card').length > 0 \
             && !document.getElementById('search-results').hidden",
        )
        .await;
    let mut names = Vec::new();
    for card in browser.find_all("#search-results .doctor-card").await {
        names.push(card.text().await.unwrap());
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelled_search_finds_doctors_whose_slots_are_named_in_full() {
    browser_test("search_to_slots", |rig| async move {
        let browser = rig.browser(Look::DESKTOP).await;
        browser.open("/").await;

        // A misspelled specialty finds its doctors as the patient types.
        browser.type_into("input[name=q]", "cardiolgy").await;
        let cards = live_results(&browser).await;
        assert!(
            cards.iter().any(|card| card.contains("Cardiology")),
            "cardiologists for “cardiolgy”: {cards:?}"
        );

        // So does a misspelled name; its card leads to the doctor's profile.
        browser.type_into("input[name=q]", "Anna Shmidt").await;
        browser
            .wait_until(
                "Dr. Anna Schmidt first in the results",
                "const first = document.querySelector('#search-results .doctor-name a'); \
                 return !!first && first.textContent.includes('Anna Schmidt');",
            )
            .await;
        browser.click("#search-results .doctor-name a").await;
        browser
            .wait_for_path("the doctor's profile", |path| path.starts_with("/doctors/"))
            .await;
        let heading = browser.find("h1").await.text().await.unwrap();
        assert_eq!(heading, "Dr. Anna Schmidt");
        let page = browser.find("main").await.text().await.unwrap();
        for fact in [
            "General Practice",
            "18 years' experience",
            "€65.00",
            "Europe/Berlin",
        ] {
            assert!(page.contains(fact), "the profile shows {fact}");
        }

        // Every free slot is a button with an RFC 3339 start and a full-date name.
        let mut checked = 0;
        for button in browser.find_all("button[data-start]").await {
            if !button.is_displayed().await.unwrap() {
                continue;
            }
            let start: Timestamp = button
                .attr("data-start")
                .await
                .unwrap()
                .expect("data-start")
                .parse()
                .expect("an RFC 3339 start");
            let name = button.attr("aria-label").await.unwrap().expect("a name");
            assert_eq!(name, expected_label(start, 15, "Europe/Berlin"));
            let form = button
                .find(fantoccini::Locator::XPath("./ancestor::form"))
                .await
                .unwrap();
            assert_eq!(
                form.attr("action").await.unwrap().as_deref(),
                Some("/book/hold")
            );
            assert_eq!(form.attr("method").await.unwrap().as_deref(), Some("post"));
            checked += 1;
        }
        assert!(checked > 0, "Dr. Schmidt has free slots this week");

        // The next week is one link away.
        browser.click("a[rel=next]").await;
        browser
            .wait_for_path("the next week", |path| path.contains("week="))
            .await;
        browser.find("button[data-start]").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searching_works_without_javascript() {
    browser_test("search_without_javascript", |rig| async move {
        let browser = rig.browser(Look::DESKTOP.without_javascript()).await;
        browser.open("/").await;
        browser.type_into("input[name=q]", "dermatolgy").await;
        // Nothing draws results as one types: the form is all there is.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let live = browser
            .eval("return document.getElementById('search-results').hidden")
            .await;
        assert_eq!(live, serde_json::Value::Bool(true), "no script ran");
        browser.click("form.search-form button[type=submit]").await;
        let path = browser
            .wait_for_path("the search page", |path| path.starts_with("/search?"))
            .await;
        assert!(path.contains("q=dermatolgy"), "{path}");
        let summary = browser.find(".results .search-summary").await.text().await.unwrap();
        assert!(summary.contains("found for “dermatolgy”"), "{summary}");
        let results = browser.find(".results .doctor-list").await.text().await.unwrap();
        assert!(results.contains("Dermatology"), "{results}");

        // A doctor's slots are plain forms: the page is whole without scripts.
        browser.click(".results .doctor-name a").await;
        browser
            .wait_for_path("a profile", |path| path.starts_with("/doctors/"))
            .await;
        browser.find("#slot-picker").await;
        let forms = browser
            .eval("return document.querySelectorAll('form[action=\"/book/hold\"] button[data-start]').length")
            .await;
        assert!(forms.as_u64().unwrap_or(0) > 0, "slot forms without scripts");
    })
    .await;
}

/// The first date from which the doctor has no free slot for seven days (their holiday).
pub async fn first_week_without_free_slots(rig: &crate::harness::Rig, doctor: &str) -> String {
    // Weeks run Monday to Sunday: look at whole weeks from next Monday on.
    let today = jiff::Zoned::now()
        .with_time_zone(TimeZone::get("Europe/Berlin").unwrap())
        .date();
    let next_monday = today
        .checked_add(jiff::Span::new().days(7 - i64::from(today.weekday().to_monday_zero_offset())))
        .unwrap();
    for week in 0..9 {
        let date = next_monday
            .checked_add(jiff::Span::new().days(7 * week))
            .unwrap();
        let slots: Vec<serde_json::Value> = reqwest::get(rig.server.url(&format!(
            "/api/v1/slots?doctor_id={doctor}&date={date}&days=7"
        )))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        if slots.iter().all(|slot| slot["status"] != "available") {
            return date.to_string();
        }
    }
    panic!("the doctor has free slots in every week of the next two months");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_week_without_free_slots_offers_the_waitlist_and_unknown_pages_say_so() {
    browser_test("waitlist_and_not_found", |rig| async move {
        let browser = rig.browser(Look::PHONE).await;
        // Dr. Sofia Rossi of the demo clinic is on holiday for twelve days.
        let doctor = rig.server.doctor_id("Dr. Sofia Rossi").await;
        let week = first_week_without_free_slots(&rig, &doctor).await;
        browser.open(&format!("/doctors/{doctor}?week={week}")).await;
        let waitlist = browser.find(".waitlist").await;
        assert!(waitlist.is_displayed().await.unwrap(), "the empty week says so");
        let wait = browser.find(".wait-form").await;
        assert_eq!(wait.attr("open").await.unwrap().as_deref(), Some("true"), "open when full");
        let text = wait.text().await.unwrap();
        assert!(text.contains("Join the waitlist"), "{text}");
        let form = browser.find(".wait-form form").await;
        assert_eq!(form.attr("action").await.unwrap().as_deref(), Some("/book/waitlist"));
        let field = browser.find(".wait-form input[name=doctor_id]").await;
        assert_eq!(field.attr("value").await.unwrap(), Some(doctor.clone()));
        let shown = browser
            .eval("return [...document.querySelectorAll('button[data-start]')].filter(b => b.offsetParent !== null).length")
            .await;
        assert_eq!(shown.as_u64(), Some(0), "no slot is offered");

        // Mistakes in addresses get a page that says so, not a raw error.
        browser.open("/doctors/not-a-doctor").await;
        assert_eq!(browser.find("h1").await.text().await.unwrap(), "Page not found");
        browser.open("/no/such/page").await;
        assert_eq!(browser.find("h1").await.text().await.unwrap(), "Page not found");
        browser.open(&format!("/doctors/{doctor}?week=someday")).await;
        let message = browser.find("main").await.text().await.unwrap();
        assert!(message.contains("is not a date"), "{message}");
    })
    .await;
}

/// Types `query` into the home page's search box and waits for the results drawn as one types.
pub async fn type_a_search(browser: &crate::harness::Browser, query: &str) {
    browser.type_into("input[name=q]", query).await;
    browser
        .wait_until(
            "live results",
            "return document.querySelectorAll('#search-results .doctor-card').length > 0",
        )
        .await;
}
