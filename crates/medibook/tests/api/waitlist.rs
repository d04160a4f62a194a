//! The waitlist over HTTP: joining, the offer made to the first waiter when a slot frees, what
//! everyone else sees meanwhile, confirming, declining, lapsing and leaving.

use jiff::{SignedDuration, Timestamp};
use medibook_core::ids::{DoctorId, TimeOffId};
use medibook_core::ports::ClinicRepository;
use medibook_core::schedule::TimeOff;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::harness::{Reply, TestApp, tuesday};

backend_tests!(
    a_cancellation_offers_the_slot_to_the_first_waiter_only,
    others_get_409_on_an_offered_slot_and_see_it_held,
    an_offer_is_confirmed_with_the_normal_appointment_call,
    a_lapsed_offer_passes_to_the_next_waiter,
    a_lapsed_offer_cannot_be_booked_even_while_its_slot_is_free,
    a_declined_offer_passes_on_and_the_decliner_keeps_their_place,
    leaving_with_an_open_offer_passes_it_on,
    a_slot_offered_to_everyone_in_turn_becomes_free,
    joining_when_a_time_that_suits_is_free_points_to_it_instead,
    only_freed_times_that_suit_the_waiter_are_offered,
    joining_twice_returns_the_same_entry,
    a_specialty_waitlist_takes_any_doctor_of_the_specialty,
    nobody_holds_two_offers_at_once,
    a_rescheduled_appointment_offers_its_old_slot,
    an_offer_is_queued_for_email_in_the_outbox,
    waitlist_input_is_checked,
    patients_cannot_see_or_leave_each_others_entries,
);

const TUESDAY: &str = "2027-03-02";

#[track_caller]
fn assert_status(reply: &Reply, status: StatusCode) {
    assert_eq!(reply.status, status, "{}", reply.body);
}

/// Takes every slot of the test doctor's Tuesday off except 09:00 and 09:30, and books both
/// for a patient; returns that patient's token and the two appointment ids.
async fn fully_booked_tuesday(app: &TestApp) -> (String, Vec<String>) {
    let start: Timestamp = tuesday("10:00").parse().expect("instant");
    app.database
        .add_time_off(&TimeOff {
            id: TimeOffId::generate(),
            doctor_id: app.doctor,
            start,
            end: start + SignedDuration::from_hours(8),
            reason: "Clinic training".into(),
        })
        .await
        .expect("time off");
    let booker = app.sign_in("booker@example.org").await;
    let first = app.book(&booker, &tuesday("09:00")).await;
    let second = app.book(&booker, &tuesday("09:30")).await;
    (booker, vec![first, second])
}

/// Signs in and joins the test doctor's Tuesday waitlist; returns the token and the entry.
async fn waiter(app: &TestApp, email: &str) -> (String, Value) {
    let token = app.sign_in(email).await;
    let entry = join(app, &token, app.doctor, Some(TUESDAY)).await;
    assert_status(&entry, StatusCode::CREATED);
    (token, entry.body)
}

async fn join(app: &TestApp, token: &str, doctor: DoctorId, day: Option<&str>) -> Reply {
    let mut body = json!({ "doctor_id": doctor });
    if let Some(day) = day {
        body["from"] = json!(day);
        body["to"] = json!(day);
    }
    app.post(Some(token), "/api/v1/waitlist", body).await
}

/// The open offer of the patient's only active entry, if any.
async fn offer_of(app: &TestApp, token: &str) -> Option<Value> {
    let entries = app.get(Some(token), "/api/v1/waitlist").await;
    assert_status(&entries, StatusCode::OK);
    let offers: Vec<Value> = entries
        .body
        .as_array()
        .expect("list")
        .iter()
        .filter(|e| !e["offer"].is_null())
        .map(|e| e["offer"].clone())
        .collect();
    assert!(offers.len() <= 1, "two open offers: {offers:?}");
    offers.into_iter().next()
}

fn start_of(offer: &Value) -> Timestamp {
    offer["start"]
        .as_str()
        .expect("start")
        .parse()
        .expect("instant")
}

fn instant(text: &str) -> Timestamp {
    text.parse().expect("instant")
}

async fn a_cancellation_offers_the_slot_to_the_first_waiter_only(app: TestApp) {
    let (booker, appointments) = fully_booked_tuesday(&app).await;
    let (first, entry) = waiter(&app, "first@example.org").await;
    assert_eq!(entry["state"], "waiting");
    assert!(entry["offer"].is_null(), "nothing is free yet: {entry}");
    let (second, _) = waiter(&app, "second@example.org").await;
    let (third, _) = waiter(&app, "third@example.org").await;

    assert_status(&app.cancel(&booker, &appointments[0]).await, StatusCode::OK);

    let offer = offer_of(&app, &first)
        .await
        .expect("the first waiter has an offer");
    assert_eq!(start_of(&offer), instant(&tuesday("09:00")));
    assert_eq!(offer["state"], "open");
    assert_eq!(
        instant(offer["expires_at"].as_str().expect("expiry")),
        app.bookings.now() + SignedDuration::from_mins(10)
    );
    assert!(offer_of(&app, &second).await.is_none());
    assert!(offer_of(&app, &third).await.is_none());
    let entries = app.get(Some(&first), "/api/v1/waitlist").await;
    assert_eq!(entries.body[0]["state"], "offered");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM waitlist_offers").await,
        1,
        "exactly one offer"
    );
}

async fn others_get_409_on_an_offered_slot_and_see_it_held(app: TestApp) {
    let (booker, appointments) = fully_booked_tuesday(&app).await;
    let (_first, _) = waiter(&app, "first@example.org").await;
    let (second, _) = waiter(&app, "second@example.org").await;
    app.cancel(&booker, &appointments[0]).await;

    let taken = app.hold(&second, app.doctor, &tuesday("09:00")).await;
    assert_status(&taken, StatusCode::CONFLICT);
    assert_eq!(taken.problem_code(), "slot_taken");
    let stranger = app.sign_in("stranger@example.org").await;
    let taken = app.hold(&stranger, app.doctor, &tuesday("09:00")).await;
    assert_eq!(taken.problem_code(), "slot_taken");
    assert_eq!(
        app.slot_status(app.doctor, &tuesday("09:00"))
            .await
            .as_deref(),
        Some("held")
    );
}

async fn an_offer_is_confirmed_with_the_normal_appointment_call(app: TestApp) {
    let (booker, appointments) = fully_booked_tuesday(&app).await;
    let (first, entry) = waiter(&app, "first@example.org").await;
    app.cancel(&booker, &appointments[0]).await;
    let offer = offer_of(&app, &first).await.expect("offer");

    let booked = app
        .confirm(&first, offer["hold_id"].as_str().expect("hold id"))
        .await;
    assert_status(&booked, StatusCode::CREATED);
    assert_eq!(
        instant(booked.body["start"].as_str().expect("start")),
        instant(&tuesday("09:00"))
    );
    assert_eq!(
        app.slot_status(app.doctor, &tuesday("09:00"))
            .await
            .as_deref(),
        Some("booked")
    );
    // The entry is fulfilled: off the active list, and readable as such.
    let entries = app.get(Some(&first), "/api/v1/waitlist").await;
    assert_eq!(entries.body, json!([]));
    let id = entry["id"].as_str().expect("id");
    let fulfilled = app
        .get(Some(&first), &format!("/api/v1/waitlist/{id}"))
        .await;
    assert_status(&fulfilled, StatusCode::OK);
    assert_eq!(fulfilled.body["state"], "fulfilled");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM waitlist_offers WHERE state = 'accepted'")
            .await,
        1
    );
}

async fn a_lapsed_offer_passes_to_the_next_waiter(app: TestApp) {
    let (booker, appointments) = fully_booked_tuesday(&app).await;
    let (first, _) = waiter(&app, "first@example.org").await;
    let (second, _) = waiter(&app, "second@example.org").await;
    app.cancel(&booker, &appointments[0]).await;
    let lapsed = offer_of(&app, &first).await.expect("offer");

    app.advance(11);
    app.bookings.sweep_expired_holds().await.expect("sweep");

    let offer = offer_of(&app, &second).await.expect("passed on");
    assert_eq!(start_of(&offer), instant(&tuesday("09:00")));
    // The first waiter is back in the queue, without an offer, and cannot use the lapsed hold.
    assert!(offer_of(&app, &first).await.is_none());
    let entries = app.get(Some(&first), "/api/v1/waitlist").await;
    assert_eq!(entries.body[0]["state"], "waiting");
    let late = app
        .confirm(&first, lapsed["hold_id"].as_str().expect("hold id"))
        .await;
    assert_status(&late, StatusCode::GONE);
    assert_eq!(late.problem_code(), "hold_expired");
}

async fn a_lapsed_offer_cannot_be_booked_even_while_its_slot_is_free(app: TestApp) {
    let (booker, appointments) = fully_booked_tuesday(&app).await;
    let (first, _) = waiter(&app, "first@example.org").await;
    app.cancel(&booker, &appointments[0]).await;
    let lapsed = offer_of(&app, &first).await.expect("offer");
    app.advance(11);
    app.bookings.sweep_expired_holds().await.expect("sweep");

    // Nobody else waits, so the slot is free; the lapsed offer still cannot be booked.
    let late = app
        .confirm(&first, lapsed["hold_id"].as_str().expect("hold id"))
        .await;
    assert_status(&late, StatusCode::GONE);
    assert_eq!(late.problem_code(), "hold_expired");
    let entries = app.get(Some(&first), "/api/v1/waitlist").await;
    assert_eq!(entries.body[0]["state"], "waiting");
}

async fn a_declined_offer_passes_on_and_the_decliner_keeps_their_place(app: TestApp) {
    let (booker, appointments) = fully_booked_tuesday(&app).await;
    let (first, _) = waiter(&app, "first@example.org").await;
    let (second, _) = waiter(&app, "second@example.org").await;
    app.cancel(&booker, &appointments[0]).await;
    let offer = offer_of(&app, &first).await.expect("offer");
    let id = offer["offer_id"].as_str().expect("offer id");

    let declined = app
        .post(
            Some(&first),
            &format!("/api/v1/waitlist/offers/{id}/decline"),
            json!({}),
        )
        .await;
    assert_status(&declined, StatusCode::NO_CONTENT);
    let again = app
        .post(
            Some(&first),
            &format!("/api/v1/waitlist/offers/{id}/decline"),
            json!({}),
        )
        .await;
    assert_status(&again, StatusCode::NO_CONTENT);

    assert_eq!(
        start_of(&offer_of(&app, &second).await.expect("passed on")),
        instant(&tuesday("09:00"))
    );
    // The decliner still waits, first in line, and gets the next slot that frees.
    assert!(offer_of(&app, &first).await.is_none());
    app.cancel(&booker, &appointments[1]).await;
    assert_eq!(
        start_of(&offer_of(&app, &first).await.expect("next slot")),
        instant(&tuesday("09:30"))
    );
}

async fn leaving_with_an_open_offer_passes_it_on(app: TestApp) {
    let (booker, appointments) = fully_booked_tuesday(&app).await;
    let (first, entry) = waiter(&app, "first@example.org").await;
    let (second, _) = waiter(&app, "second@example.org").await;
    app.cancel(&booker, &appointments[0]).await;
    assert!(offer_of(&app, &first).await.is_some());

    let id = entry["id"].as_str().expect("id");
    assert_status(
        &app.delete(&first, &format!("/api/v1/waitlist/{id}")).await,
        StatusCode::NO_CONTENT,
    );
    assert_status(
        &app.delete(&first, &format!("/api/v1/waitlist/{id}")).await,
        StatusCode::NO_CONTENT,
    );
    assert_eq!(
        app.get(Some(&first), "/api/v1/waitlist").await.body,
        json!([])
    );
    assert!(offer_of(&app, &second).await.is_some(), "passed on");
}

async fn a_slot_offered_to_everyone_in_turn_becomes_free(app: TestApp) {
    let (booker, appointments) = fully_booked_tuesday(&app).await;
    let (first, _) = waiter(&app, "first@example.org").await;
    app.cancel(&booker, &appointments[0]).await;
    assert!(offer_of(&app, &first).await.is_some());
    app.advance(11);
    app.bookings.sweep_expired_holds().await.expect("sweep");

    // The only waiter had this slot already: it is free for anyone now.
    assert!(offer_of(&app, &first).await.is_none());
    assert_eq!(
        app.slot_status(app.doctor, &tuesday("09:00"))
            .await
            .as_deref(),
        Some("available")
    );
    let stranger = app.sign_in("stranger@example.org").await;
    assert_status(
        &app.hold(&stranger, app.doctor, &tuesday("09:00")).await,
        StatusCode::CREATED,
    );
}

async fn joining_when_a_time_that_suits_is_free_points_to_it_instead(app: TestApp) {
    let token = app.sign_in("eager@example.org").await;
    let refused = join(&app, &token, app.doctor, Some(TUESDAY)).await;
    assert_status(&refused, StatusCode::CONFLICT);
    assert_eq!(refused.body["code"], "slot_free_now");
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("2027-03-02T08:00:00Z")),
        "names the free time: {}",
        refused.body
    );
    // Nothing is held, nothing is queued: the patient books the free time like anyone.
    assert_eq!(
        app.slot_status(app.doctor, &tuesday("09:00"))
            .await
            .as_deref(),
        Some("available")
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM waitlist_entries").await, 0);

    // Only times that suit count: with every free Tuesday time before 16:00 and the patient
    // wanting the evening, they wait.
    let evening = app
        .post(
            Some(&token),
            "/api/v1/waitlist",
            json!({
                "doctor_id": app.doctor, "from": TUESDAY, "to": TUESDAY,
                "weekdays": ["tuesday"], "earliest": "17:00", "latest": "20:00",
            }),
        )
        .await;
    assert_status(&evening, StatusCode::CREATED);
    assert_eq!(evening.body["state"], "waiting");
    assert_eq!(evening.body["weekdays"], json!(["tuesday"]));
    assert_eq!(evening.body["earliest"], "17:00:00");
    assert_eq!(evening.body["latest"], "20:00:00");
}

async fn only_freed_times_that_suit_the_waiter_are_offered(app: TestApp) {
    let (booker, appointments) = fully_booked_tuesday(&app).await;
    // The first waiter only suits 09:30 or later; the second anything on Tuesday.
    let picky = app.sign_in("picky@example.org").await;
    let joined = app
        .post(
            Some(&picky),
            "/api/v1/waitlist",
            json!({ "doctor_id": app.doctor, "from": TUESDAY, "to": TUESDAY, "earliest": "09:30" }),
        )
        .await;
    assert_status(&joined, StatusCode::CREATED);
    let (anyone, _) = waiter(&app, "anyone@example.org").await;

    // 09:00 frees: it does not suit the first waiter, so it goes to the second.
    app.cancel(&booker, &appointments[0]).await;
    assert!(offer_of(&app, &picky).await.is_none());
    let offered = offer_of(&app, &anyone)
        .await
        .expect("the second waiter's turn");
    assert_eq!(start_of(&offered), instant(&tuesday("09:00")));

    // 09:30 frees: it suits the first waiter, who gets it before anyone else.
    app.cancel(&booker, &appointments[1]).await;
    let offered = offer_of(&app, &picky)
        .await
        .expect("suits the first waiter");
    assert_eq!(start_of(&offered), instant(&tuesday("09:30")));
}

async fn joining_twice_returns_the_same_entry(app: TestApp) {
    fully_booked_tuesday(&app).await;
    let (token, entry) = waiter(&app, "first@example.org").await;
    let again = join(&app, &token, app.doctor, Some(TUESDAY)).await;
    assert_status(&again, StatusCode::OK);
    assert_eq!(again.body["id"], entry["id"]);
    assert_eq!(app.count("SELECT COUNT(*) FROM waitlist_entries").await, 1);
    // The same dates with other times that suit are another entry, not the old one.
    let mornings = app
        .post(
            Some(&token),
            "/api/v1/waitlist",
            json!({ "doctor_id": app.doctor, "from": TUESDAY, "to": TUESDAY, "latest": "10:00" }),
        )
        .await;
    assert_status(&mornings, StatusCode::CREATED);
    assert_eq!(mornings.body["latest"], "10:00:00");
    assert_eq!(app.count("SELECT COUNT(*) FROM waitlist_entries").await, 2);
}

async fn a_specialty_waitlist_takes_any_doctor_of_the_specialty(app: TestApp) {
    let (booker, appointments) = fully_booked_tuesday(&app).await;
    let doctor = app
        .get(None, &format!("/api/v1/doctors/{}", app.doctor))
        .await;
    let specialty = doctor.body["specialty"]["id"]
        .as_str()
        .or_else(|| doctor.body["specialty_id"].as_str())
        .unwrap_or_else(|| panic!("no specialty in {}", doctor.body))
        .to_owned();
    let token = app.sign_in("anyone@example.org").await;
    // The other doctor of the specialty is free on Tuesday: the patient is pointed to it.
    let body = json!({ "specialty_id": specialty, "from": TUESDAY, "to": TUESDAY });
    let refused = app
        .post(Some(&token), "/api/v1/waitlist", body.clone())
        .await;
    assert_status(&refused, StatusCode::CONFLICT);
    assert_eq!(refused.body["code"], "slot_free_now");

    // Once that doctor's day is full too (two visits at most), the patient waits …
    let other_booker = app.sign_in("other-booker@example.org").await;
    let slots = app
        .get(
            None,
            &format!(
                "/api/v1/slots?doctor_id={}&date={TUESDAY}&days=1",
                app.limited_doctor
            ),
        )
        .await;
    let starts: Vec<String> = slots
        .body
        .as_array()
        .expect("slots")
        .iter()
        .take(2)
        .map(|slot| slot["start"].as_str().expect("start").to_owned())
        .collect();
    for start in &starts {
        let hold = app.hold(&other_booker, app.limited_doctor, start).await;
        assert_status(&hold, StatusCode::CREATED);
        assert_status(
            &app.confirm(&other_booker, &hold.id()).await,
            StatusCode::CREATED,
        );
    }
    let entry = app.post(Some(&token), "/api/v1/waitlist", body).await;
    assert_status(&entry, StatusCode::CREATED);
    assert!(entry.body["doctor_id"].is_null());
    assert_eq!(entry.body["specialty_id"], json!(specialty));
    assert_eq!(entry.body["state"], "waiting", "{}", entry.body);
    // … and a time freed at either doctor of the specialty is offered to them first.
    let (other, _) = waiter(&app, "other@example.org").await;
    app.cancel(&booker, &appointments[0]).await;
    let offer = offer_of(&app, &token).await.expect("offer");
    assert_eq!(offer["doctor_id"], json!(app.doctor));
    assert!(offer_of(&app, &other).await.is_none(), "queued later");
}

async fn nobody_holds_two_offers_at_once(app: TestApp) {
    let (booker, appointments) = fully_booked_tuesday(&app).await;
    let (first, _) = waiter(&app, "first@example.org").await;
    let (second, _) = waiter(&app, "second@example.org").await;
    app.cancel(&booker, &appointments[0]).await;
    assert!(offer_of(&app, &first).await.is_some());
    app.cancel(&booker, &appointments[1]).await;
    // The second slot skips the first waiter, who has an open offer.
    assert_eq!(
        start_of(&offer_of(&app, &second).await.expect("second waiter")),
        instant(&tuesday("09:30"))
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM waitlist_offers WHERE state = 'open' GROUP BY patient_id \
             ORDER BY COUNT(*) DESC LIMIT 1"
        )
        .await,
        1
    );
}

async fn a_rescheduled_appointment_offers_its_old_slot(app: TestApp) {
    let (booker, appointments) = fully_booked_tuesday(&app).await;
    let (first, _) = waiter(&app, "first@example.org").await;
    let hold = app
        .hold(&booker, app.doctor, &tuesday("09:00").replace("02T", "03T"))
        .await;
    assert_status(&hold, StatusCode::CREATED);
    let moved = app.reschedule(&booker, &appointments[0], &hold.id()).await;
    assert_status(&moved, StatusCode::OK);
    assert_eq!(
        start_of(&offer_of(&app, &first).await.expect("offer")),
        instant(&tuesday("09:00"))
    );
}

async fn an_offer_is_queued_for_email_in_the_outbox(app: TestApp) {
    let (booker, appointments) = fully_booked_tuesday(&app).await;
    let (_first, _) = waiter(&app, "first@example.org").await;
    app.cancel(&booker, &appointments[0]).await;
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM outbox WHERE recipient = 'first@example.org' \
             AND idempotency_key LIKE 'waitlist-offer:%' AND subject LIKE '%Dr. Anna Smith%'"
        )
        .await,
        1
    );
}

async fn waitlist_input_is_checked(app: TestApp) {
    let token = app.sign_in("careful@example.org").await;
    let cases = [
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({ "doctor_id": app.doctor, "specialty_id": app.doctor }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "doctor_id": app.doctor, "from": "2027-03-05", "to": "2027-03-04" }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "doctor_id": app.doctor, "to": "2020-01-01" }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "doctor_id": app.doctor, "weekdays": ["funday"] }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "doctor_id": app.doctor, "earliest": "18:00", "latest": "09:00" }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "doctor_id": app.doctor, "earliest": "25:00" }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "doctor_id": DoctorId::generate() }),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({ "specialty_id": DoctorId::generate() }),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (body, status) in cases {
        let reply = app
            .post(Some(&token), "/api/v1/waitlist", body.clone())
            .await;
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
        assert!(reply.problem_code() != "internal", "{body}");
    }
    for body in [
        json!({ "doctor_id": app.doctor, "from": "2027-02-30" }),
        json!({ "doctor_id": "not-a-uuid" }),
        json!({ "doctor_id": app.doctor, "colour": "blue" }),
    ] {
        let reply = app
            .post(Some(&token), "/api/v1/waitlist", body.clone())
            .await;
        assert!(reply.status.is_client_error(), "{body}: {}", reply.body);
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM waitlist_entries").await,
        0,
        "nothing written"
    );
    // At most five active entries per patient.
    for day in 10..15 {
        let to = format!("2030-01-{day}");
        let reply = app
            .post(
                Some(&token),
                "/api/v1/waitlist",
                json!({ "doctor_id": app.doctor, "from": "2030-01-01", "to": to }),
            )
            .await;
        assert_status(&reply, StatusCode::CREATED);
    }
    let sixth = app
        .post(
            Some(&token),
            "/api/v1/waitlist",
            json!({ "doctor_id": app.doctor, "from": "2030-01-01", "to": "2030-01-20" }),
        )
        .await;
    assert_status(&sixth, StatusCode::CONFLICT);
    assert_eq!(sixth.problem_code(), "limit_reached");
}

async fn patients_cannot_see_or_leave_each_others_entries(app: TestApp) {
    fully_booked_tuesday(&app).await;
    let (_owner, entry) = waiter(&app, "owner@example.org").await;
    let other = app.sign_in("other@example.org").await;
    let id = entry["id"].as_str().expect("id");
    let path = format!("/api/v1/waitlist/{id}");
    assert_status(&app.get(Some(&other), &path).await, StatusCode::NOT_FOUND);
    assert_status(&app.delete(&other, &path).await, StatusCode::NOT_FOUND);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM waitlist_entries WHERE state = 'waiting'")
            .await,
        1
    );
    let unknown = format!("/api/v1/waitlist/offers/{}/decline", DoctorId::generate());
    assert_status(
        &app.post(Some(&other), &unknown, json!({})).await,
        StatusCode::NOT_FOUND,
    );
    assert_status(
        &app.get(None, "/api/v1/waitlist").await,
        StatusCode::UNAUTHORIZED,
    );
}
