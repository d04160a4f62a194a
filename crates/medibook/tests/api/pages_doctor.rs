//! The doctor console on the pages over plain HTTP, as a browser without JavaScript uses it:
//! who may open it, the agenda grid with the patients' names, marking visits completed or
//! no-show, the hours editor's preview (which changes nothing) and save (which changes the
//! public slots at once), its 422 answer with what was typed, time off with its preview, save
//! and remove, cross-site posts refused, and admins acting for a doctor with `?doctor_id=`.

#![allow(clippy::expect_used)]

use jiff::Timestamp;
use medibook_core::ids::DoctorId;
use reqwest::header;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::harness::{TestApp, tuesday};
use crate::pages::{Page, browser_like, cookie_pair, get_page, post_form, sign_in_on_the_page};
use crate::staff::{send, set_role_in_database, sign_in_as_admin};

backend_tests!(
    copying_a_day_fills_the_other_weekdays_and_saves_nothing,
    strangers_go_to_sign_in_and_patients_are_refused_the_console,
    a_doctor_sees_their_agenda_grid_with_patients_but_not_another_doctors,
    visits_are_marked_completed_or_no_show_once_started_and_refused_politely_before,
    the_hours_preview_shows_added_and_removed_slots_and_changes_nothing,
    saving_hours_changes_the_public_slots_at_once,
    invalid_hours_are_answered_with_422_and_what_was_typed,
    time_off_is_previewed_saved_and_removed_and_the_slots_follow,
    a_time_the_clocks_skip_is_refused_on_the_time_off_form,
    console_forms_sent_from_other_sites_are_refused,
    an_admin_chooses_a_doctor_and_acts_for_them_with_doctor_id,
);

/// Signs `email` in on the pages and returns the session cookie.
async fn page_cookie(app: &TestApp, email: &str) -> String {
    let page = sign_in_on_the_page(app, email, "/").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    cookie_pair(&page)
}

/// Signs `email` in on the pages as the doctor of profile `doctor`; returns the cookie.
async fn doctor_cookie(app: &TestApp, email: &str, doctor: DoctorId) -> String {
    let cookie = page_cookie(app, email).await;
    set_role_in_database(app, email, "doctor", Some(doctor)).await;
    cookie
}

/// A patient named Ada Lovelace who books `starts` with the test doctor; returns the patient's
/// token and the appointment ids.
async fn ada_books(app: &TestApp, starts: &[&str]) -> (String, Vec<String>) {
    let patient = app.sign_in("ada@example.org").await;
    let named = send(
        app,
        Method::PATCH,
        Some(&patient),
        "/api/v1/me",
        Some(json!({ "name": "Ada Lovelace" })),
    )
    .await;
    assert_eq!(named.status, StatusCode::OK, "{}", named.body);
    let mut ids = Vec::new();
    for start in starts {
        ids.push(app.book(&patient, &tuesday(start)).await);
    }
    (patient, ids)
}

/// An appointment's status, as its patient sees it through the API.
async fn status_of(app: &TestApp, patient: &str, id: &str) -> Value {
    app.get(Some(patient), &format!("/api/v1/appointments/{id}"))
        .await
        .body["status"]
        .clone()
}

fn location(page: &Page) -> String {
    page.header(header::LOCATION).to_owned()
}

#[track_caller]
fn assert_page(page: &Page, status: StatusCode) {
    assert_eq!(page.status, status, "{}", page.html);
    page.assert_html();
}

#[track_caller]
fn assert_contains(page: &Page, text: &str) {
    assert!(page.html.contains(text), "{text:?} not in:\n{}", page.html);
}

/// Every listed slot start (any status) of the test doctor on `date`, from the public API.
async fn public_slots(app: &TestApp, doctor: DoctorId, date: &str) -> Vec<(Timestamp, String)> {
    let reply = app
        .get(
            None,
            &format!("/api/v1/slots?doctor_id={doctor}&date={date}&days=1"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply
        .body
        .as_array()
        .expect("a list")
        .iter()
        .map(|slot| {
            (
                slot["start"]
                    .as_str()
                    .expect("start")
                    .parse()
                    .expect("instant"),
                slot["status"].as_str().expect("status").to_owned(),
            )
        })
        .collect()
}

async fn free_slots(app: &TestApp, date: &str) -> usize {
    public_slots(app, app.doctor, date)
        .await
        .iter()
        .filter(|(_, status)| status == "available")
        .count()
}

/// The hours form of the test doctor, as `GET /doctor/hours` fills it, with `changes` applied.
fn hours_form(changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = Vec::new();
    for day in ["monday", "tuesday", "wednesday", "thursday", "friday"] {
        for (row, (start, end)) in [("09:00", "12:00"), ("13:00", "17:00")].iter().enumerate() {
            form.push((format!("{day}-hours-{row}-start"), (*start).to_owned()));
            form.push((format!("{day}-hours-{row}-end"), (*end).to_owned()));
        }
    }
    for (name, value) in [
        ("slot_minutes", "30"),
        ("buffer_before", "0"),
        ("buffer_after", "0"),
        ("notice_hours", "0"),
        ("notice_minutes", "0"),
        ("horizon_days", "60"),
        ("max_per_day", ""),
    ] {
        form.push((name.to_owned(), value.to_owned()));
    }
    for (name, value) in changes {
        form.retain(|(n, _)| n != name);
        form.push(((*name).to_owned(), (*value).to_owned()));
    }
    form
}

async fn post_pairs(app: &TestApp, path: &str, form: &[(String, String)], cookie: &str) -> Page {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    post_form(app, path, &pairs, Some(cookie)).await
}

/// The audit entries of `query` (e.g. `patient_id=…`), read by a fresh admin.
async fn audit_actions(app: &TestApp, query: &str) -> Vec<String> {
    let admin = sign_in_as_admin(app, "auditor@example.org").await;
    let reply = app
        .get(Some(&admin), &format!("/api/v1/admin/audit?{query}"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply
        .body
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| e["action"].as_str().expect("action").to_owned())
        .collect()
}

async fn strangers_go_to_sign_in_and_patients_are_refused_the_console(app: TestApp) {
    for path in ["/doctor", "/doctor/hours", "/doctor/time-off"] {
        let stranger = get_page(&app, path, None).await;
        assert_eq!(stranger.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(
            location(&stranger),
            format!("/login?next={}", path.replace('/', "%2F"))
        );
    }
    let patient = page_cookie(&app, "ada@example.org").await;
    for path in ["/doctor", "/doctor/hours", "/doctor/time-off"] {
        let refused = get_page(&app, path, Some(&patient)).await;
        assert_page(&refused, StatusCode::FORBIDDEN);
        assert_contains(&refused, "This page is for clinic staff");
    }
    let posted = post_pairs(&app, "/doctor/hours", &hours_form(&[]), &patient).await;
    assert_page(&posted, StatusCode::FORBIDDEN);
}

async fn a_doctor_sees_their_agenda_grid_with_patients_but_not_another_doctors(app: TestApp) {
    let (_, ids) = ada_books(&app, &["09:30"]).await;
    let house = doctor_cookie(&app, "house@example.org", app.doctor).await;

    let week = get_page(&app, "/doctor?view=week&date=2027-03-03", Some(&house)).await;
    assert_page(&week, StatusCode::OK);
    assert_contains(&week, "Week of 1 – 7 March 2027");
    assert_contains(&week, "<caption");
    assert_contains(&week, "<th scope=\"row\" class=\"time\">09:30</th>");
    assert_contains(&week, &format!("data-appointment-id=\"{}\"", ids[0]));
    assert_contains(&week, "Ada Lovelace");
    assert_contains(&week, "Check-up");
    assert_contains(&week, "09:30–10:00");
    assert_contains(&week, "Booked");
    assert_contains(&week, "Europe/Berlin");
    assert_contains(&week, "rowspan=");
    assert_contains(&week, "class=\"free\"");
    assert_contains(&week, "class=\"closed\"");
    // The sub-navigation, with the agenda as the current page.
    assert_contains(
        &week,
        "<a href=\"/doctor\" aria-current=\"page\">Agenda</a>",
    );
    assert_contains(&week, "<a href=\"/doctor/hours\">Hours</a>");
    assert_contains(&week, "<a href=\"/doctor/time-off\">Time off</a>");
    // Not started yet: nothing to mark.
    assert!(!week.html.contains("/complete\""), "{}", week.html);

    let day = get_page(&app, "/doctor?view=day&date=2027-03-02", Some(&house)).await;
    assert_page(&day, StatusCode::OK);
    assert_contains(&day, "Tuesday 2 March 2027");
    assert_contains(&day, "mailto:ada@example.org");
    let quiet = get_page(&app, "/doctor?view=day&date=2027-03-03", Some(&house)).await;
    assert!(!quiet.html.contains("Ada Lovelace"));

    // The read is in the audit trail under the patient, as for the API.
    let patient_id = {
        let token = app.sign_in("ada@example.org").await;
        app.get(Some(&token), "/api/v1/me").await.id()
    };
    let actions = audit_actions(&app, &format!("patient_id={patient_id}")).await;
    assert!(actions.iter().any(|a| a == "agenda.read"), "{actions:?}");

    // Another doctor sees their own (empty) agenda and cannot open this one.
    let wilson = doctor_cookie(&app, "wilson@example.org", app.limited_doctor).await;
    let own = get_page(&app, "/doctor?view=week&date=2027-03-02", Some(&wilson)).await;
    assert_page(&own, StatusCode::OK);
    assert!(!own.html.contains("Ada Lovelace"));
    assert_contains(&own, "Dr. Jörg Müller");
    for path in ["/doctor", "/doctor/hours", "/doctor/time-off"] {
        let peek = get_page(
            &app,
            &format!("{path}?doctor_id={}", app.doctor),
            Some(&wilson),
        )
        .await;
        assert_page(&peek, StatusCode::NOT_FOUND);
        assert!(!peek.html.contains("Ada Lovelace"));
    }
    let malformed = get_page(&app, "/doctor?date=someday", Some(&house)).await;
    assert_page(&malformed, StatusCode::BAD_REQUEST);
}

async fn visits_are_marked_completed_or_no_show_once_started_and_refused_politely_before(
    app: TestApp,
) {
    let (patient, ids) = ada_books(&app, &["09:30", "10:00"]).await;
    let house = doctor_cookie(&app, "house@example.org", app.doctor).await;
    let back = "/doctor?view=day&date=2027-03-02";
    let mark = |id: &str, what: &str| format!("/doctor/appointments/{id}/{what}");

    // Too early: the agenda says so, nothing changes.
    let early = post_form(
        &app,
        &mark(&ids[0], "complete"),
        &[("back", back)],
        Some(&house),
    )
    .await;
    assert_eq!(early.status, StatusCode::SEE_OTHER, "{}", early.html);
    assert_eq!(location(&early), format!("{back}&notice=not-started"));
    let said = get_page(&app, &location(&early), Some(&house)).await;
    assert_contains(&said, "role=\"status\"");
    assert_contains(&said, "has not started yet");

    // Tuesday 10:15 in Berlin: both visits have started and carry the two forms.
    app.clock
        .set("2027-03-02T09:15:00Z".parse().expect("instant"));
    let agenda = get_page(&app, back, Some(&house)).await;
    assert_contains(
        &agenda,
        &format!("action=\"{}\"", mark(&ids[0], "complete")),
    );
    assert_contains(&agenda, &format!("action=\"{}\"", mark(&ids[1], "no-show")));
    assert_contains(
        &agenda,
        "name=\"back\" value=\"/doctor?view=day&#38;date=2027-03-02\"",
    );

    let done = post_form(
        &app,
        &mark(&ids[0], "complete"),
        &[("back", back)],
        Some(&house),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    // The treating doctor goes on to the visit, asked for a note, and writes one.
    let visit = format!("/doctor/appointments/{}", ids[0]);
    assert_eq!(location(&done), format!("{visit}?notice=completed#note"));
    let said = get_page(&app, &format!("{visit}?notice=completed"), Some(&house)).await;
    assert_contains(&said, "Visit marked completed. Add a note");
    assert_contains(&said, "autofocus");
    let empty = post_form(
        &app,
        &format!("{visit}/notes"),
        &[("text", " ")],
        Some(&house),
    )
    .await;
    assert_eq!(
        empty.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        empty.html
    );
    let noted = post_form(
        &app,
        &format!("{visit}/notes"),
        &[("text", "Blood pressure fine.")],
        Some(&house),
    )
    .await;
    assert_eq!(location(&noted), format!("{visit}?notice=note-saved#notes"));
    let shown = get_page(&app, &format!("{visit}?notice=note-saved"), Some(&house)).await;
    assert_contains(&shown, "Note saved.");
    assert_contains(&shown, "Blood pressure fine.");
    let agenda = get_page(&app, back, Some(&house)).await;
    assert_contains(&agenda, &format!("href=\"{visit}\""));
    assert_contains(&agenda, "Completed");
    let missed = post_form(
        &app,
        &mark(&ids[1], "no-show"),
        &[("back", back)],
        Some(&house),
    )
    .await;
    assert_eq!(location(&missed), format!("{back}&notice=no-show"));

    assert_eq!(status_of(&app, &patient, &ids[0]).await, "completed");
    assert_eq!(status_of(&app, &patient, &ids[1]).await, "no_show");

    // Contradicting an outcome is refused with a message; a foreign back path is not followed.
    let contradicting = post_form(
        &app,
        &mark(&ids[0], "no-show"),
        &[("back", "https://evil.example/doctor")],
        Some(&house),
    )
    .await;
    assert_eq!(location(&contradicting), "/doctor?notice=not-changed");
    let said = get_page(&app, &location(&contradicting), Some(&house)).await;
    assert_contains(&said, "could not be marked");
    assert_eq!(status_of(&app, &patient, &ids[0]).await, "completed");

    // Another doctor cannot mark it.
    let wilson = doctor_cookie(&app, "wilson@example.org", app.limited_doctor).await;
    let touch = post_form(
        &app,
        &mark(&ids[0], "no-show"),
        &[("back", back)],
        Some(&wilson),
    )
    .await;
    assert_page(&touch, StatusCode::NOT_FOUND);
    assert_eq!(status_of(&app, &patient, &ids[0]).await, "completed");
}

async fn the_hours_preview_shows_added_and_removed_slots_and_changes_nothing(app: TestApp) {
    // A visit on Tuesday afternoon, which the new hours leave outside.
    ada_books(&app, &["14:00"]).await;
    let house = doctor_cookie(&app, "house@example.org", app.doctor).await;
    let shown = get_page(&app, "/doctor/hours", Some(&house)).await;
    assert_page(&shown, StatusCode::OK);
    assert_contains(
        &shown,
        "id=\"tuesday-hours-1-start\" name=\"tuesday-hours-1-start\" type=\"time\" value=\"13:00\"",
    );
    assert_contains(&shown, "id=\"slot_minutes\" name=\"slot_minutes\"");
    assert_contains(&shown, "value=\"30\"");
    assert_contains(&shown, "name=\"intent\" value=\"preview\"");
    assert_contains(&shown, "name=\"intent\" value=\"save\"");
    assert_contains(
        &shown,
        "<a href=\"/doctor/hours\" aria-current=\"page\">Hours</a>",
    );

    let before = public_slots(&app, app.doctor, "2027-03-02").await;
    assert_eq!(before.len(), 14);
    // Tuesdays end at 12:00 from now on; Saturdays 09:00–11:00 are new.
    let mut form = hours_form(&[
        ("tuesday-hours-1-start", ""),
        ("tuesday-hours-1-end", ""),
        ("saturday-hours-0-start", "09:00"),
        ("saturday-hours-0-end", "11:00"),
    ]);
    form.push(("intent".into(), "preview".into()));
    let preview = post_pairs(&app, "/doctor/hours", &form, &house).await;
    assert_page(&preview, StatusCode::OK);
    assert_contains(&preview, "What changes");
    assert_contains(
        &preview,
        "<li data-date=\"2027-03-06\"><strong>Saturday 6 March</strong> (0 → 4 free): <span class=\"adds\">adds 09:00, 09:30, 10:00, 10:30</span></li>",
    );
    // Tuesday loses its free afternoon slots (14:00 is booked, so not free before either).
    assert_contains(&preview, "<strong>Tuesday 2 March</strong> (13 → 6 free):");
    assert_contains(
        &preview,
        "<span class=\"removes\">removes 13:00, 13:30, 14:30, 15:00, 15:30, 16:00, 16:30</span>",
    );
    assert_contains(&preview, "Booked appointments outside the new hours");
    assert_contains(&preview, "Tuesday 2 March 2027, 14:00 to 14:30");
    assert_contains(&preview, "Ada Lovelace");
    assert_contains(&preview, "They keep their time");
    // The form keeps what was proposed.
    assert_contains(
        &preview,
        "name=\"saturday-hours-0-start\" type=\"time\" value=\"09:00\"",
    );

    // Nothing was saved.
    assert_eq!(public_slots(&app, app.doctor, "2027-03-02").await, before);
    assert!(
        public_slots(&app, app.doctor, "2027-03-06")
            .await
            .is_empty()
    );
    let doctor_page = get_page(
        &app,
        &format!("/doctors/{}?week=2027-03-06", app.doctor),
        None,
    )
    .await;
    assert!(
        !doctor_page
            .html
            .contains("data-start=\"2027-03-06T08:00:00Z\"")
    );
}

async fn saving_hours_changes_the_public_slots_at_once(app: TestApp) {
    let house = doctor_cookie(&app, "house@example.org", app.doctor).await;
    let mut form = hours_form(&[
        ("tuesday-hours-1-start", ""),
        ("tuesday-hours-1-end", ""),
        ("saturday-hours-0-start", "09:00"),
        ("saturday-hours-0-end", "11:00"),
        ("saturday-break-0-start", "10:00"),
        ("saturday-break-0-end", "10:30"),
        ("max_per_day", "20"),
    ]);
    form.push(("intent".into(), "save".into()));
    let saved = post_pairs(&app, "/doctor/hours", &form, &house).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    assert_eq!(location(&saved), "/doctor/hours?notice=saved");
    let shown = get_page(&app, "/doctor/hours?notice=saved", Some(&house)).await;
    assert_contains(
        &shown,
        "<div class=\"notice\" role=\"status\" id=\"hours-notice\"><p>Hours saved.",
    );
    assert_contains(
        &shown,
        "name=\"saturday-break-0-start\" type=\"time\" value=\"10:00\"",
    );
    assert_contains(
        &shown,
        "id=\"max_per_day\" name=\"max_per_day\" type=\"number\" inputmode=\"numeric\" min=\"1\" max=\"500\" value=\"20\"",
    );

    let saturday: Vec<String> = public_slots(&app, app.doctor, "2027-03-06")
        .await
        .iter()
        .map(|(start, _)| start.to_string())
        .collect();
    assert_eq!(
        saturday,
        [
            "2027-03-06T08:00:00Z",
            "2027-03-06T08:30:00Z",
            "2027-03-06T09:30:00Z"
        ]
    );
    assert_eq!(public_slots(&app, app.doctor, "2027-03-02").await.len(), 6);
    let doctor_page = get_page(
        &app,
        &format!("/doctors/{}?week=2027-03-06", app.doctor),
        None,
    )
    .await;
    assert_contains(&doctor_page, "data-start=\"2027-03-06T08:00:00Z\"");

    let schedule = app
        .get(
            Some(&app.sign_in("house@example.org").await),
            "/api/v1/doctor/schedule",
        )
        .await;
    assert_eq!(schedule.body["rules"]["max_per_day"], 20);
    let doctor_id = app.doctor.to_string();
    let admin = sign_in_as_admin(&app, "auditor@example.org").await;
    let trail = app
        .get(
            Some(&admin),
            &format!("/api/v1/admin/audit?doctor_id={doctor_id}"),
        )
        .await;
    let actions: Vec<&str> = trail
        .body
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"schedule.update"), "{actions:?}");
}

async fn invalid_hours_are_answered_with_422_and_what_was_typed(app: TestApp) {
    let house = doctor_cookie(&app, "house@example.org", app.doctor).await;
    let mut form = hours_form(&[
        ("monday-hours-0-start", "12:00"),
        ("monday-hours-0-end", "09:00"),
        ("wednesday-hours-1-start", "11:00"),
        ("slot_minutes", "2"),
    ]);
    form.push(("intent".into(), "save".into()));
    let refused = post_pairs(&app, "/doctor/hours", &form, &house).await;
    assert_page(&refused, StatusCode::UNPROCESSABLE_ENTITY);
    assert_contains(&refused, "id=\"error-summary\"");
    assert_contains(&refused, "Please correct these 3 things");
    assert_contains(
        &refused,
        "<a href=\"#monday-hours-0-start\">Monday working hours, row 1: The end must be later than the start.</a>",
    );
    assert_contains(&refused, "<a href=\"#slot_minutes\">");
    assert_contains(
        &refused,
        "id=\"monday-hours-0-start\" name=\"monday-hours-0-start\" type=\"time\" value=\"12:00\" aria-invalid=\"true\" aria-describedby=\"monday-hours-0-error\"",
    );
    assert_contains(
        &refused,
        "<p class=\"field-error\" id=\"monday-hours-0-error\">The end must be later than the start.</p>",
    );
    assert_contains(
        &refused,
        "This overlaps the working hours 09:00–12:00 of the same day.",
    );
    assert_contains(&refused, "value=\"2\"");
    assert_contains(&refused, "Enter a slot length between 5 and 480 minutes.");
    assert_eq!(public_slots(&app, app.doctor, "2027-03-01").await.len(), 14);

    // A preview of an invalid form is refused the same way.
    let mut form = hours_form(&[("horizon_days", "0")]);
    form.push(("intent".into(), "preview".into()));
    let refused = post_pairs(&app, "/doctor/hours", &form, &house).await;
    assert_page(&refused, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!refused.html.contains("What changes"));
    assert_contains(&refused, "1 to 730");
}

async fn time_off_is_previewed_saved_and_removed_and_the_slots_follow(app: TestApp) {
    ada_books(&app, &["10:00"]).await;
    let house = doctor_cookie(&app, "house@example.org", app.doctor).await;
    let empty = get_page(&app, "/doctor/time-off", Some(&house)).await;
    assert_page(&empty, StatusCode::OK);
    assert_contains(&empty, "None planned.");
    assert_contains(
        &empty,
        "<a href=\"/doctor/time-off\" aria-current=\"page\">Time off</a>",
    );

    let period = [
        ("start_date", "2027-03-02"),
        ("start_time", "09:00"),
        ("end_date", "2027-03-02"),
        ("end_time", "12:00"),
        ("reason", "Conference"),
    ];
    let mut previewing = period.to_vec();
    previewing.push(("intent", "preview"));
    let preview = post_form(&app, "/doctor/time-off", &previewing, Some(&house)).await;
    assert_page(&preview, StatusCode::OK);
    assert_contains(&preview, "What changes");
    assert_contains(
        &preview,
        "<span class=\"removes\">removes 09:00, 09:30, 10:30, 11:00, 11:30</span>",
    );
    assert_contains(&preview, "Booked appointments inside this time off");
    assert_contains(&preview, "Tuesday 2 March 2027, 10:00 to 10:30");
    assert_contains(&preview, "They stay booked");
    assert_contains(&preview, "value=\"Conference\"");
    assert_eq!(
        free_slots(&app, "2027-03-02").await,
        13,
        "preview saves nothing"
    );

    let mut saving = period.to_vec();
    saving.push(("intent", "save"));
    let saved = post_form(&app, "/doctor/time-off", &saving, Some(&house)).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    assert_eq!(location(&saved), "/doctor/time-off?notice=added");
    assert_eq!(free_slots(&app, "2027-03-02").await, 8);
    assert!(
        public_slots(&app, app.doctor, "2027-03-02")
            .await
            .iter()
            .all(|(start, _)| *start
                >= "2027-03-02T12:00:00Z"
                    .parse::<Timestamp>()
                    .expect("instant"))
    );

    let listed = get_page(&app, "/doctor/time-off?notice=added", Some(&house)).await;
    assert_contains(&listed, "Time off added.");
    assert_contains(&listed, "Tue 2 Mar, 09:00");
    assert_contains(&listed, "Tue 2 Mar, 12:00");
    assert_contains(&listed, "Conference");
    let id = listed
        .html
        .split("data-time-off-id=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a listed time off")
        .to_owned();
    // The agenda shows it as time off.
    let agenda = get_page(&app, "/doctor?view=day&date=2027-03-02", Some(&house)).await;
    assert_contains(&agenda, "class=\"off\"");

    let removed = post_form(
        &app,
        &format!("/doctor/time-off/{id}/remove"),
        &[],
        Some(&house),
    )
    .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.html);
    assert_eq!(location(&removed), "/doctor/time-off?notice=removed");
    assert_eq!(free_slots(&app, "2027-03-02").await, 13);
    let again = post_form(
        &app,
        &format!("/doctor/time-off/{id}/remove"),
        &[],
        Some(&house),
    )
    .await;
    assert_page(&again, StatusCode::NOT_FOUND);

    // Backwards periods are refused on the page.
    let backwards = post_form(
        &app,
        "/doctor/time-off",
        &[
            ("start_date", "2027-03-02"),
            ("start_time", "12:00"),
            ("end_date", "2027-03-02"),
            ("end_time", "09:00"),
            ("intent", "save"),
        ],
        Some(&house),
    )
    .await;
    assert_page(&backwards, StatusCode::UNPROCESSABLE_ENTITY);
    assert_contains(&backwards, "must end after it starts");
    assert_contains(&backwards, "value=\"12:00\"");
    assert_eq!(free_slots(&app, "2027-03-02").await, 13);
}

async fn a_time_the_clocks_skip_is_refused_on_the_time_off_form(app: TestApp) {
    let house = doctor_cookie(&app, "house@example.org", app.doctor).await;
    let skipped = post_form(
        &app,
        "/doctor/time-off",
        &[
            ("start_date", "2027-03-28"),
            ("start_time", "02:30"),
            ("end_date", "2027-03-29"),
            ("end_time", "00:00"),
            ("intent", "save"),
        ],
        Some(&house),
    )
    .await;
    assert_page(&skipped, StatusCode::UNPROCESSABLE_ENTITY);
    assert_contains(
        &skipped,
        "02:30 does not exist on Sunday 28 March 2027 in Europe/Berlin",
    );
    assert_contains(
        &skipped,
        "aria-describedby=\"time-off-hint start_time-error\" aria-invalid=\"true\"",
    );
    let listed = get_page(&app, "/doctor/time-off", Some(&house)).await;
    assert_contains(&listed, "None planned.");
}

async fn console_forms_sent_from_other_sites_are_refused(app: TestApp) {
    let (_, ids) = ada_books(&app, &["09:30"]).await;
    let house = doctor_cookie(&app, "house@example.org", app.doctor).await;
    let complete = format!("/doctor/appointments/{}/complete", ids[0]);
    for path in ["/doctor/hours", "/doctor/time-off", complete.as_str()] {
        let forged = browser_like()
            .post(app.url(path))
            .header(header::ORIGIN, "https://evil.example")
            .header(header::COOKIE, &house)
            .form(&[
                ("intent", "save"),
                ("start_date", "2027-03-02"),
                ("end_date", "2027-03-03"),
                ("slot_minutes", "30"),
                ("horizon_days", "60"),
            ])
            .send()
            .await
            .expect("a response");
        assert_eq!(forged.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(free_slots(&app, "2027-03-02").await, 13);
    let patient = app.sign_in("ada@example.org").await;
    let seen = app
        .get(Some(&patient), &format!("/api/v1/appointments/{}", ids[0]))
        .await;
    assert_eq!(seen.body["status"], "scheduled");
}

async fn an_admin_chooses_a_doctor_and_acts_for_them_with_doctor_id(app: TestApp) {
    ada_books(&app, &["09:30"]).await;
    let admin = page_cookie(&app, "admin@example.org").await;
    set_role_in_database(&app, "admin@example.org", "admin", None).await;

    let choose = get_page(&app, "/doctor", Some(&admin)).await;
    assert_page(&choose, StatusCode::OK);
    assert_contains(&choose, "Choose a doctor");
    assert_contains(
        &choose,
        &format!(
            "<a href=\"/doctor?doctor_id={}\">Dr. Anna Smith</a>",
            app.doctor
        ),
    );
    let choose = get_page(&app, "/doctor/hours", Some(&admin)).await;
    assert_contains(&choose, &format!("/doctor/hours?doctor_id={}", app.doctor));

    let scoped = |path: &str| format!("{path}doctor_id={}", app.doctor);
    let agenda = get_page(
        &app,
        &scoped("/doctor?view=week&date=2027-03-02&"),
        Some(&admin),
    )
    .await;
    assert_page(&agenda, StatusCode::OK);
    assert_contains(&agenda, "Acting for <strong>Dr. Anna Smith</strong>");
    assert_contains(&agenda, "Ada Lovelace");
    assert_contains(
        &agenda,
        &format!(
            "<a href=\"/doctor/hours?doctor_id={}\">Hours</a>",
            app.doctor
        ),
    );
    assert_contains(
        &agenda,
        &format!("name=\"doctor_id\" value=\"{}\"", app.doctor),
    );

    let mut form = hours_form(&[
        ("saturday-hours-0-start", "09:00"),
        ("saturday-hours-0-end", "10:00"),
    ]);
    form.push(("intent".into(), "save".into()));
    let saved = post_pairs(&app, &scoped("/doctor/hours?"), &form, &admin).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    assert_eq!(
        location(&saved),
        format!("/doctor/hours?notice=saved&doctor_id={}", app.doctor)
    );
    assert_eq!(public_slots(&app, app.doctor, "2027-03-06").await.len(), 2);
    let hours = get_page(&app, &location(&saved), Some(&admin)).await;
    assert_contains(&hours, "Hours saved.");
    assert_contains(
        &hours,
        &format!("action=\"/doctor/hours?doctor_id={}\"", app.doctor),
    );

    let time_off = get_page(&app, &scoped("/doctor/time-off?"), Some(&admin)).await;
    assert_page(&time_off, StatusCode::OK);
    let unknown = get_page(
        &app,
        &format!("/doctor?doctor_id={}", DoctorId::generate()),
        Some(&admin),
    )
    .await;
    assert_page(&unknown, StatusCode::NOT_FOUND);
}

async fn copying_a_day_fills_the_other_weekdays_and_saves_nothing(app: TestApp) {
    let doctor = doctor_cookie(&app, "doc@example.org", app.doctor).await;
    let free_before = free_slots(&app, "2027-03-02").await;
    let mut form = hours_form(&[
        ("monday-hours-0-start", "07:00"),
        ("monday-hours-0-end", "11:00"),
    ]);
    form.push(("intent".into(), "copy-monday".into()));
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let copied = post_form(&app, "/doctor/hours", &fields, Some(&doctor)).await;
    assert_page(&copied, StatusCode::OK);
    assert_contains(&copied, "Copied to the other weekdays");
    for day in ["tuesday", "wednesday", "thursday", "friday"] {
        assert_contains(
            &copied,
            &format!("name=\"{day}-hours-0-start\" type=\"time\" value=\"07:00\""),
        );
    }
    // Nothing saved: Tuesday keeps its slots.
    assert_eq!(free_slots(&app, "2027-03-02").await, free_before);
}
