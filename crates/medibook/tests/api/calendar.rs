//! Calendar files and private feeds, read back by an independent parser: every `.ics` the app
//! serves is parsed by the Python `icalendar` package (tests/support/ics_check.py), and the
//! scenarios check the exact instants it finds, across the DST change of 28 March 2027 too.
//!
//! The parser must be installed (`python3 -m pip install icalendar`); without it these tests
//! fail and say so.

#![allow(clippy::expect_used)]

use medibook::settings::Settings;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::backend_tests_with;
use crate::harness::TestApp;
use crate::pages::{browser_like, get_page, post_form};
use crate::pages_booking::signed_in;
use crate::staff::{set_role_in_database, sign_in_as_doctor};

backend_tests_with!(
    public_site;
    an_appointment_file_follows_booking_reschedule_and_cancel,
    the_feed_carries_exact_instants_across_the_dst_change,
    a_revoked_feed_answers_404_at_once_and_the_new_link_works,
    a_doctors_agenda_feed_has_their_appointments_only,
    the_profile_shows_the_feed_and_resets_it,
);

/// Where people reach the site, as the feed URLs must say.
const PUBLIC_URL: &str = "https://clinic.example";

fn public_site(settings: &mut Settings) {
    settings.public_url = Some(PUBLIC_URL.to_owned());
    settings.clinic_name = "Lindenhof Clinic".to_owned();
}

/// What the independent parser read from a calendar.
struct Parsed(Value);

impl Parsed {
    fn events(&self) -> &[Value] {
        self.0["events"].as_array().expect("events")
    }

    #[track_caller]
    fn only_event(&self) -> &Value {
        let events = self.events();
        assert_eq!(events.len(), 1, "{}", self.0);
        &events[0]
    }

    #[track_caller]
    fn event(&self, appointment: &str) -> &Value {
        let uid = format!("appointment-{appointment}@medibook");
        self.events()
            .iter()
            .find(|e| e["uid"] == uid.as_str())
            .unwrap_or_else(|| panic!("no event {uid} in {}", self.0))
    }
}

/// Parses `text` with Python's `icalendar` (tests/support/ics_check.py).
async fn parse_ics(text: String) -> Parsed {
    let stdout = crate::checkers::run("ics_check.py", "icalendar", text.into_bytes()).await;
    let parsed: Value = serde_json::from_slice(&stdout).expect("the parser's JSON");
    assert_eq!(parsed["errors"], json!([]), "{parsed}");
    assert_eq!(parsed["version"], "2.0");
    Parsed(parsed)
}

/// A GET's status, headers and body text.
struct Fetched {
    status: StatusCode,
    headers: header::HeaderMap,
    body: String,
}

impl Fetched {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

async fn fetch(app: &TestApp, token: Option<&str>, path: &str) -> Fetched {
    let mut request = app.http.get(app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("a response");
    Fetched {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.text().await.expect("a body"),
    }
}

/// The path of a feed URL on the test server (the URL names the public site).
#[track_caller]
fn feed_path(url: &str) -> String {
    let path = url
        .strip_prefix(PUBLIC_URL)
        .unwrap_or_else(|| panic!("{url} is not on {PUBLIC_URL}"));
    assert!(
        path.starts_with("/calendar/") && path.ends_with(".ics"),
        "{url}"
    );
    path.to_owned()
}

/// The person's feed URLs (`GET /api/v1/me/calendar`).
async fn feeds_of(app: &TestApp, token: &str) -> Value {
    let reply = app.get(Some(token), "/api/v1/me/calendar").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

/// Fetches and parses a feed, checking the headers every feed has.
async fn read_feed(app: &TestApp, url: &str) -> Parsed {
    let feed = fetch(app, None, &feed_path(url)).await;
    assert_eq!(feed.status, StatusCode::OK, "{}", feed.body);
    assert_eq!(feed.header("content-type"), "text/calendar; charset=utf-8");
    assert_eq!(feed.header("cache-control"), "no-store");
    assert!(feed.header("x-robots-tag").contains("noindex"));
    assert_eq!(feed.header("referrer-policy"), "no-referrer");
    parse_ics(feed.body).await
}

/// Books `start` with `doctor` for `reason`; returns the appointment id.
async fn book_with(
    app: &TestApp,
    token: &str,
    doctor: medibook_core::ids::DoctorId,
    start: &str,
    reason: &str,
) -> String {
    let hold = app.hold(token, doctor, start).await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    let booked = app
        .post(
            Some(token),
            "/api/v1/appointments",
            json!({ "hold_id": hold.id(), "reason": reason }),
        )
        .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    booked.id()
}

async fn an_appointment_file_follows_booking_reschedule_and_cancel(app: TestApp) {
    let token = app.sign_in("ada@example.org").await;
    // Tuesday 2 March 2027, 09:30 in Berlin (UTC+1).
    let id = book_with(
        &app,
        &token,
        app.doctor,
        "2027-03-02T09:30:00+01:00",
        "Chest pain, since Monday",
    )
    .await;
    let path = format!("/api/v1/appointments/{id}/ics");

    let file = fetch(&app, Some(&token), &path).await;
    assert_eq!(file.status, StatusCode::OK, "{}", file.body);
    assert_eq!(file.header("content-type"), "text/calendar; charset=utf-8");
    assert_eq!(
        file.header("content-disposition"),
        format!("attachment; filename=\"appointment-{id}.ics\"")
    );
    assert_eq!(file.header("cache-control"), "no-store");
    let parsed = parse_ics(file.body).await;
    let event = parsed.only_event();
    assert_eq!(event["uid"], format!("appointment-{id}@medibook"));
    assert_eq!(event["dtstart"], "2027-03-02T08:30:00Z");
    assert_eq!(event["dtend"], "2027-03-02T09:00:00Z");
    assert_eq!(event["sequence"], 0);
    assert_eq!(event["status"], "CONFIRMED");
    assert_eq!(event["summary"], "Appointment with Dr. Anna Smith");
    assert_eq!(event["location"], "Lindenhof Clinic");
    let description = event["description"].as_str().expect("description");
    assert!(
        description.contains("Dr. Anna Smith at Lindenhof Clinic (Cardiology)"),
        "{description}"
    );
    assert!(
        description.contains("Reason: Chest pain, since Monday"),
        "{description}"
    );
    assert_eq!(event["url"], format!("{PUBLIC_URL}/appointments/{id}"));
    assert_eq!(event["alarms"], json!([-3600]), "a reminder an hour before");

    // Moved to 11:00: the same event (UID), a higher SEQUENCE, the new instants.
    let hold = app
        .hold(&token, app.doctor, "2027-03-02T11:00:00+01:00")
        .await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    let moved = app.reschedule(&token, &id, &hold.id()).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let parsed = parse_ics(fetch(&app, Some(&token), &path).await.body).await;
    let event = parsed.only_event();
    assert_eq!(event["uid"], format!("appointment-{id}@medibook"));
    assert_eq!(event["sequence"], 1);
    assert_eq!(event["dtstart"], "2027-03-02T10:00:00Z");
    assert_eq!(event["dtend"], "2027-03-02T10:30:00Z");
    assert_eq!(event["status"], "CONFIRMED");

    // Cancelled: still the same event, now CANCELLED, with a higher SEQUENCE and no reminder.
    let cancelled = app.cancel(&token, &id).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    let parsed = parse_ics(fetch(&app, Some(&token), &path).await.body).await;
    let event = parsed.only_event();
    assert_eq!(event["uid"], format!("appointment-{id}@medibook"));
    assert_eq!(event["status"], "CANCELLED");
    assert_eq!(event["sequence"], 2);
    assert_eq!(event["dtstart"], "2027-03-02T10:00:00Z");
    assert_eq!(event["alarms"], json!([]));

    // Nobody else gets the file, and nothing says it exists.
    let other = app.sign_in("eve@example.org").await;
    let refused = app.get(Some(&other), &path).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert_eq!(refused.problem_code(), "not_found");
    let unknown = app
        .get(
            Some(&other),
            &format!("/api/v1/appointments/{}/ics", uuid::Uuid::now_v7()),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body["detail"], refused.body["detail"]);
    let anonymous = app.get(None, &path).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let malformed = app.get(Some(&token), "/api/v1/appointments/nope/ics").await;
    assert!(malformed.status.is_client_error(), "{}", malformed.status);
}

async fn the_feed_carries_exact_instants_across_the_dst_change(app: TestApp) {
    let token = app.sign_in("ada@example.org").await;
    // Berlin moves from UTC+1 to UTC+2 on Sunday 28 March 2027: 10:00 on the Friday before is
    // 09:00 UTC, 10:00 on the Monday after is 08:00 UTC.
    let before = book_with(
        &app,
        &token,
        app.doctor,
        "2027-03-26T10:00:00+01:00",
        "Before",
    )
    .await;
    let after = book_with(
        &app,
        &token,
        app.doctor,
        "2027-03-29T10:00:00+02:00",
        "After",
    )
    .await;
    let other_doctor = book_with(
        &app,
        &token,
        app.limited_doctor,
        "2027-03-30T13:00:00+02:00",
        "Second opinion",
    )
    .await;
    let cancelled = book_with(
        &app,
        &token,
        app.doctor,
        "2027-03-31T09:00:00+02:00",
        "Cancelled later",
    )
    .await;
    assert_eq!(app.cancel(&token, &cancelled).await.status, StatusCode::OK);
    // Someone else's appointment stays out of Ada's feed.
    let eve = app.sign_in("eve@example.org").await;
    let eves = book_with(&app, &eve, app.doctor, "2027-03-29T11:00:00+02:00", "Eve").await;

    let feeds = feeds_of(&app, &token).await;
    let url = feeds["feed_url"].as_str().expect("feed_url").to_owned();
    assert!(url.starts_with(&format!("{PUBLIC_URL}/calendar/")), "{url}");
    assert_eq!(
        feeds["webcal_url"],
        url.replacen("https://", "webcal://", 1)
    );
    assert!(
        feeds.get("agenda_feed_url").is_none(),
        "patients have no agenda: {feeds}"
    );
    // The same URL every time, so the profile can show it again.
    assert_eq!(feeds_of(&app, &token).await["feed_url"], url.as_str());
    // Only a hash of the token is stored.
    let token_part = url
        .rsplit('/')
        .next()
        .expect("file")
        .trim_end_matches(".ics");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM calendar_feeds WHERE token_hash = '{token_part}'"
        ))
        .await,
        0
    );

    let parsed = read_feed(&app, &url).await;
    assert_eq!(parsed.events().len(), 4, "{}", parsed.0);
    assert_eq!(parsed.0["name"], "Lindenhof Clinic appointments");
    let first = parsed.event(&before);
    assert_eq!(first["dtstart"], "2027-03-26T09:00:00Z");
    assert_eq!(first["dtend"], "2027-03-26T09:30:00Z");
    assert_eq!(first["status"], "CONFIRMED");
    let second = parsed.event(&after);
    assert_eq!(second["dtstart"], "2027-03-29T08:00:00Z");
    assert_eq!(second["dtend"], "2027-03-29T08:30:00Z");
    let third = parsed.event(&other_doctor);
    assert_eq!(third["dtstart"], "2027-03-30T11:00:00Z");
    assert_eq!(third["summary"], "Appointment with Dr. Jörg Müller");
    let gone = parsed.event(&cancelled);
    assert_eq!(gone["status"], "CANCELLED");
    assert_eq!(gone["sequence"], 1);
    assert_eq!(gone["dtstart"], "2027-03-31T07:00:00Z");
    assert!(
        parsed
            .events()
            .iter()
            .all(|e| e["uid"] != format!("appointment-{eves}@medibook").as_str())
    );

    // Thirty days after an appointment it leaves the feed; future ones stay.
    app.advance(60 * 24 * 70);
    let parsed = read_feed(&app, &url).await;
    assert_eq!(parsed.events().len(), 0, "{}", parsed.0);
}

async fn a_revoked_feed_answers_404_at_once_and_the_new_link_works(app: TestApp) {
    let token = app.sign_in("ada@example.org").await;
    let id = app.book(&token, "2027-03-02T10:00:00+01:00").await;
    let old = feeds_of(&app, &token).await["feed_url"]
        .as_str()
        .expect("feed_url")
        .to_owned();
    assert_eq!(
        read_feed(&app, &old).await.only_event()["uid"],
        format!("appointment-{id}@medibook")
    );

    let unknown_feed = app
        .delete(&token, "/api/v1/me/calendar?feed=calendars")
        .await;
    assert_eq!(unknown_feed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown_feed.problem_code(), "validation");
    let revoked = app.delete(&token, "/api/v1/me/calendar").await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.body);

    let gone = fetch(&app, None, &feed_path(&old)).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert!(gone.header("content-type").starts_with("text/plain"));
    assert_eq!(gone.body.trim(), "Not found");

    let new = feeds_of(&app, &token).await["feed_url"]
        .as_str()
        .expect("feed_url")
        .to_owned();
    assert_ne!(new, old);
    assert_eq!(read_feed(&app, &new).await.events().len(), 1);
    assert_eq!(
        fetch(&app, None, &feed_path(&old)).await.status,
        StatusCode::NOT_FOUND
    );

    // Malformed and made-up tokens: the same bare 404.
    let made_up = format!("/calendar/{}.ics", "0".repeat(64));
    let without_suffix = feed_path(&new).trim_end_matches(".ics").to_owned();
    let upper = feed_path(&new)
        .to_uppercase()
        .replace("/CALENDAR/", "/calendar/")
        .replace(".ICS", ".ics");
    for path in [
        "/calendar/nothing.ics".to_owned(),
        made_up,
        without_suffix,
        upper,
        "/calendar/%00.ics".to_owned(),
    ] {
        let answer = fetch(&app, None, &path).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.body.trim(), "Not found", "{path}");
    }
}

async fn a_doctors_agenda_feed_has_their_appointments_only(app: TestApp) {
    let patient = app.sign_in("ada@example.org").await;
    let renamed = app
        .http
        .patch(app.url("/api/v1/me"))
        .bearer_auth(&patient)
        .json(&json!({ "name": "Ada Lovelace" }))
        .send()
        .await
        .expect("a response");
    assert_eq!(renamed.status(), StatusCode::OK);
    let mine = book_with(
        &app,
        &patient,
        app.doctor,
        "2027-03-02T09:00:00+01:00",
        "Palpitations",
    )
    .await;
    let others = book_with(
        &app,
        &patient,
        app.limited_doctor,
        "2027-03-02T09:00:00+01:00",
        "Elsewhere",
    )
    .await;

    let doctor = sign_in_as_doctor(&app, "anna.smith@example.org", app.doctor).await;
    let feeds = feeds_of(&app, &doctor).await;
    let agenda = feeds["agenda_feed_url"]
        .as_str()
        .expect("a doctor has an agenda feed")
        .to_owned();
    assert_ne!(feeds["feed_url"], agenda.as_str());
    assert_eq!(
        feeds["agenda_webcal_url"],
        agenda.replacen("https://", "webcal://", 1)
    );

    let reads_before = app
        .count("SELECT COUNT(*) FROM audit_log WHERE action = 'agenda.read'")
        .await;
    let parsed = read_feed(&app, &agenda).await;
    let event = parsed.only_event();
    assert_eq!(event["uid"], format!("appointment-{mine}@medibook"));
    assert_eq!(event["summary"], "Ada Lovelace — Palpitations");
    assert_eq!(event["dtstart"], "2027-03-02T08:00:00Z");
    assert!(
        parsed
            .events()
            .iter()
            .all(|e| e["uid"] != format!("appointment-{others}@medibook").as_str())
    );
    // The fetch is in the audit trail as the doctor reading their agenda, naming the patient.
    let reads = app
        .count("SELECT COUNT(*) FROM audit_log WHERE action = 'agenda.read'")
        .await;
    assert_eq!(reads, reads_before + 1);
    let patient_id = crate::staff::user_id(&app, &patient).await;
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'agenda.read' \
             AND patient_id = '{patient_id}' AND detail LIKE 'calendar feed%'"
        ))
        .await,
        1
    );

    // Revoking the agenda leaves the personal feed alone.
    let personal = feeds["feed_url"].as_str().expect("feed_url").to_owned();
    let revoked = app.delete(&doctor, "/api/v1/me/calendar?feed=agenda").await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(
        fetch(&app, None, &feed_path(&agenda)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        fetch(&app, None, &feed_path(&personal)).await.status,
        StatusCode::OK
    );

    // No longer a doctor: the agenda feed closes, even with a fresh link.
    let fresh = feeds_of(&app, &doctor).await["agenda_feed_url"]
        .as_str()
        .expect("agenda_feed_url")
        .to_owned();
    assert_eq!(
        fetch(&app, None, &feed_path(&fresh)).await.status,
        StatusCode::OK
    );
    set_role_in_database(&app, "anna.smith@example.org", "patient", None).await;
    assert_eq!(
        fetch(&app, None, &feed_path(&fresh)).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(
        feeds_of(&app, &doctor)
            .await
            .get("agenda_feed_url")
            .is_none()
    );
}

/// The value of the profile's feed field for `kind`.
#[track_caller]
fn feed_field(html: &str, kind: &str) -> String {
    let marker = format!("id=\"feed-{kind}-url\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker}: {html}"));
    let rest = &html[at..];
    let start = rest.find("value=\"").expect("a value") + "value=\"".len();
    let end = rest[start..].find('"').expect("the value's end");
    rest[start..start + end].to_owned()
}

async fn the_profile_shows_the_feed_and_resets_it(app: TestApp) {
    let cookie = signed_in(&app, "ada@example.org").await;
    let token = app.sign_in("ada@example.org").await;
    let api_url = feeds_of(&app, &token).await["feed_url"]
        .as_str()
        .expect("feed_url")
        .to_owned();

    let profile = get_page(&app, "/profile", Some(&cookie)).await;
    assert_eq!(profile.status, StatusCode::OK, "{}", profile.html);
    profile.assert_html();
    let shown = feed_field(&profile.html, "appointments");
    assert_eq!(shown, api_url, "the page and the API show the same link");
    assert!(profile.html.contains("readonly"));
    let webcal = shown.replacen("https://", "webcal://", 1);
    assert!(
        profile.html.contains(&format!("href=\"{webcal}\"")),
        "{}",
        profile.html
    );
    assert!(profile.html.contains("data-copy=\"feed-appointments-url\""));
    assert!(profile.html.contains("/assets/copy.js"));
    assert!(
        !profile.html.contains("id=\"feed-agenda-url\""),
        "patients have no agenda"
    );

    let reset = post_form(
        &app,
        "/profile/calendar/reset",
        &[("feed", "appointments")],
        Some(&cookie),
    )
    .await;
    assert_eq!(reset.status, StatusCode::SEE_OTHER, "{}", reset.html);
    assert_eq!(
        reset.header(header::LOCATION),
        "/profile?calendar=reset#calendar"
    );
    let profile = get_page(&app, "/profile?calendar=reset", Some(&cookie)).await;
    assert!(
        profile
            .html
            .contains("The old calendar link no longer works.")
    );
    let new = feed_field(&profile.html, "appointments");
    assert_ne!(new, shown);
    assert_eq!(
        fetch(&app, None, &feed_path(&shown)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        fetch(&app, None, &feed_path(&new)).await.status,
        StatusCode::OK
    );

    // A reset posted from another site is refused and changes nothing.
    let forged = browser_like()
        .post(app.url("/profile/calendar/reset"))
        .header(header::ORIGIN, "https://evil.example")
        .header(header::COOKIE, &cookie)
        .form(&[("feed", "appointments")])
        .send()
        .await
        .expect("a response");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let profile = get_page(&app, "/profile", Some(&cookie)).await;
    assert_eq!(feed_field(&profile.html, "appointments"), new);

    // Doctors see their agenda feed there too.
    set_role_in_database(&app, "ada@example.org", "doctor", Some(app.doctor)).await;
    let profile = get_page(&app, "/profile", Some(&cookie)).await;
    let agenda = feed_field(&profile.html, "agenda");
    assert_eq!(
        fetch(&app, None, &feed_path(&agenda)).await.status,
        StatusCode::OK
    );
}
