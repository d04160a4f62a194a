//! Holding, confirming, cancelling and rescheduling, as a patient does it: every rule of a
//! hold's and an appointment's life, and what the slot listing shows after each step.

use jiff::Timestamp;
use medibook_core::ids::DoctorId;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::harness::{Reply, TestApp, start_of_tests, tuesday};

backend_tests!(
    hold_confirm_cancel_returns_the_slot_to_the_doctor,
    holding_a_slot_held_by_another_patient_returns_409_slot_taken,
    holding_a_slot_booked_by_another_patient_returns_409_slot_taken,
    a_hold_claims_the_visit_and_its_buffer_and_only_grid_times_can_be_held,
    confirming_another_patients_hold_returns_404_and_writes_nothing,
    confirming_a_hold_twice_returns_the_same_appointment,
    repeating_a_hold_request_returns_the_same_hold,
    rescheduling_moves_the_appointment_and_frees_the_old_slot,
    rescheduling_with_another_patients_hold_changes_nothing,
    rescheduling_with_a_lapsed_hold_whose_slot_was_taken_changes_nothing,
    rescheduling_to_another_doctor_is_refused_and_changes_nothing,
    expired_hold_frees_its_slot_without_a_sweeper,
    expired_hold_can_still_be_confirmed_while_its_slot_is_free,
    releasing_a_hold_frees_the_slot_at_once_and_is_idempotent,
    cancelling_twice_returns_the_cancelled_appointment_unchanged,
    cancelling_an_appointment_that_has_started_returns_409_invalid_state,
    patients_cannot_see_or_change_each_others_bookings,
    a_fourth_live_hold_returns_409_limit_reached,
    a_sixth_upcoming_appointment_is_refused_409_appointment_limit_at_hold_and_confirm,
    a_full_day_refuses_holds_and_hides_its_free_slots,
    confirming_a_lapsed_hold_on_a_day_that_filled_meanwhile_is_refused,
    rescheduling_onto_a_lapsed_hold_on_a_day_that_filled_meanwhile_is_refused,
    slot_listing_shows_available_held_and_booked,
    slots_that_have_started_are_not_listed_or_holdable,
    doctor_search_tolerates_a_typo,
    doctor_profile_shows_the_next_free_slot,
);

const APPOINTMENTS: &str = "SELECT COUNT(*) FROM appointments";

/// A Wednesday slot of the test doctors: `"2027-03-03T<hh:mm>:00+01:00"`.
fn wednesday(hh_mm: &str) -> String {
    format!("2027-03-03T{hh_mm}:00+01:00")
}

fn instant(text: &str) -> Timestamp {
    text.parse()
        .unwrap_or_else(|e| panic!("{text:?} is not an RFC 3339 instant: {e}"))
}

/// The elements of a JSON array.
fn list(body: &Value) -> &[Value] {
    body.as_array()
        .unwrap_or_else(|| panic!("not a list: {body}"))
}

/// The `status` of a listed slot.
fn status_of(slot: &Value) -> String {
    slot["status"]
        .as_str()
        .unwrap_or_else(|| panic!("no status: {slot}"))
        .to_owned()
}

/// The instant in field `field` of a JSON object.
fn instant_at(body: &Value, field: &str) -> Timestamp {
    instant(
        body[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} in {body}")),
    )
}

#[track_caller]
fn assert_status(reply: &Reply, status: StatusCode) {
    assert_eq!(reply.status, status, "{}", reply.body);
}

#[track_caller]
fn assert_problem(reply: &Reply, status: StatusCode, code: &str) {
    assert_status(reply, status);
    assert_eq!(reply.problem_code(), code, "{}", reply.body);
}

/// Holds and confirms `start` with `doctor`; returns the appointment id.
async fn book_with(app: &TestApp, token: &str, doctor: DoctorId, start: &str) -> String {
    let hold = app.hold(token, doctor, start).await;
    assert_status(&hold, StatusCode::CREATED);
    let appointment = app.confirm(token, &hold.id()).await;
    assert_status(&appointment, StatusCode::CREATED);
    appointment.id()
}

/// The listed slots of `doctor` on `date` (YYYY-MM-DD) as `(start, status)`.
async fn slots_on(app: &TestApp, doctor: DoctorId, date: &str) -> Vec<(Timestamp, String)> {
    let reply = app
        .get(
            None,
            &format!("/api/v1/slots?doctor_id={doctor}&date={date}&days=1"),
        )
        .await;
    assert_status(&reply, StatusCode::OK);
    list(&reply.body)
        .iter()
        .map(|slot| (instant_at(slot, "start"), status_of(slot)))
        .collect()
}

async fn hold_stub(app: &TestApp, token: &str, hold_id: &str) -> Reply {
    app.get(Some(token), &format!("/api/v1/holds/{hold_id}"))
        .await
}

async fn appointment(app: &TestApp, token: &str, appointment_id: &str) -> Reply {
    app.get(
        Some(token),
        &format!("/api/v1/appointments/{appointment_id}"),
    )
    .await
}

async fn hold_confirm_cancel_returns_the_slot_to_the_doctor(app: TestApp) {
    let token = app.sign_in("ada@example.org").await;
    let start = tuesday("09:30");
    assert_eq!(
        app.slot_status(app.doctor, &start).await.as_deref(),
        Some("available")
    );

    let hold = app.hold(&token, app.doctor, &start).await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    assert_eq!(
        app.slot_status(app.doctor, &start).await.as_deref(),
        Some("held")
    );

    let appointment = app.confirm(&token, &hold.id()).await;
    assert_eq!(
        appointment.status,
        StatusCode::CREATED,
        "{}",
        appointment.body
    );
    assert_eq!(appointment.body["status"], "scheduled");
    assert_eq!(appointment.body["doctor_name"], "Dr. Anna Smith");
    assert_eq!(
        app.slot_status(app.doctor, &start).await.as_deref(),
        Some("booked")
    );

    let cancelled = app.cancel(&token, &appointment.id()).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(
        app.slot_status(app.doctor, &start).await.as_deref(),
        Some("available")
    );
}

async fn holding_a_slot_held_by_another_patient_returns_409_slot_taken(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let bob = app.sign_in("bob@example.org").await;
    let start = tuesday("09:30");

    let held = app.hold(&ada, app.doctor, &start).await;
    assert_status(&held, StatusCode::CREATED);
    assert_eq!(held.body["state"], "active");
    assert_eq!(instant_at(&held.body, "start"), instant(&start));

    let refused = app.hold(&bob, app.doctor, &start).await;
    assert_problem(&refused, StatusCode::CONFLICT, "slot_taken");
    assert_eq!(app.count("SELECT COUNT(*) FROM holds").await, 1);
    assert_eq!(
        app.slot_status(app.doctor, &start).await.as_deref(),
        Some("held")
    );

    // The neighbouring slots stay free.
    let next = app.hold(&bob, app.doctor, &tuesday("10:00")).await;
    assert_status(&next, StatusCode::CREATED);
}

async fn holding_a_slot_booked_by_another_patient_returns_409_slot_taken(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let bob = app.sign_in("bob@example.org").await;
    let start = tuesday("09:30");
    app.book(&ada, &start).await;

    let refused = app.hold(&bob, app.doctor, &start).await;
    assert_problem(&refused, StatusCode::CONFLICT, "slot_taken");
    // Not even the patient who booked it can hold it a second time.
    let again = app.hold(&ada, app.doctor, &start).await;
    assert_problem(&again, StatusCode::CONFLICT, "slot_taken");
    assert_eq!(
        app.slot_status(app.doctor, &start).await.as_deref(),
        Some("booked")
    );
    assert_eq!(app.overlapping_claims().await, 0);
}

async fn a_hold_claims_the_visit_and_its_buffer_and_only_grid_times_can_be_held(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let bob = app.sign_in("bob@example.org").await;
    let doctor = app.limited_doctor;

    // 30-minute visits plus a 15-minute buffer: a slot every 45 minutes, each ending (buffer
    // included) by the end of its working period.
    let listed: Vec<Timestamp> = slots_on(&app, doctor, "2027-03-02")
        .await
        .into_iter()
        .map(|(start, _)| start)
        .collect();
    let expected: Vec<Timestamp> = [
        "09:00", "09:45", "10:30", "11:15", "13:00", "13:45", "14:30", "15:15", "16:00",
    ]
    .into_iter()
    .map(|time| instant(&tuesday(time)))
    .collect();
    assert_eq!(listed, expected);

    let held = app.hold(&ada, doctor, &tuesday("09:00")).await;
    assert_status(&held, StatusCode::CREATED);
    assert_eq!(instant_at(&held.body, "end"), instant(&tuesday("09:30")));
    // The claim in the agenda covers the visit and the buffer after it: 45 minutes.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM slot_claims WHERE claim_end - claim_start = 2700000000")
            .await,
        1
    );

    // A time inside the visit or its buffer is not a slot of this doctor.
    for inside in ["09:15", "09:30"] {
        let refused = app.hold(&bob, doctor, &tuesday(inside)).await;
        assert_problem(
            &refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "slot_unavailable",
        );
    }
    let taken = app.hold(&bob, doctor, &tuesday("09:00")).await;
    assert_problem(&taken, StatusCode::CONFLICT, "slot_taken");
    // The next slot starts where the buffer ends, and is free.
    assert_eq!(
        app.slot_status(doctor, &tuesday("09:45")).await.as_deref(),
        Some("available")
    );
    let next = app.hold(&bob, doctor, &tuesday("09:45")).await;
    assert_status(&next, StatusCode::CREATED);
    assert_eq!(app.overlapping_claims().await, 0);
}

async fn confirming_another_patients_hold_returns_404_and_writes_nothing(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let mallory = app.sign_in("mallory@example.org").await;
    let start = tuesday("09:30");
    let hold = app.hold(&ada, app.doctor, &start).await;
    assert_status(&hold, StatusCode::CREATED);

    let stolen = app.confirm(&mallory, &hold.id()).await;
    assert_problem(&stolen, StatusCode::NOT_FOUND, "hold_not_found");
    assert_eq!(app.count(APPOINTMENTS).await, 0);
    assert_eq!(
        app.slot_status(app.doctor, &start).await.as_deref(),
        Some("held")
    );
    let peek = hold_stub(&app, &mallory, &hold.id()).await;
    assert_problem(&peek, StatusCode::NOT_FOUND, "hold_not_found");
    let own = hold_stub(&app, &ada, &hold.id()).await;
    assert_status(&own, StatusCode::OK);
    assert_eq!(own.body["state"], "active");

    // The rightful holder still books it.
    let booked = app.confirm(&ada, &hold.id()).await;
    assert_status(&booked, StatusCode::CREATED);
    assert_eq!(app.count(APPOINTMENTS).await, 1);
}

async fn confirming_a_hold_twice_returns_the_same_appointment(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let hold = app.hold(&ada, app.doctor, &tuesday("09:30")).await;
    assert_status(&hold, StatusCode::CREATED);

    let first = app.confirm(&ada, &hold.id()).await;
    assert_status(&first, StatusCode::CREATED);
    let second = app.confirm(&ada, &hold.id()).await;
    assert_status(&second, StatusCode::OK);
    assert_eq!(second.id(), first.id());
    assert_eq!(second.body["status"], "scheduled");
    assert_eq!(second.body["created_at"], first.body["created_at"]);

    assert_eq!(app.count(APPOINTMENTS).await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM slot_claims").await, 1);
    let confirmed = hold_stub(&app, &ada, &hold.id()).await;
    assert_eq!(confirmed.body["state"], "confirmed");
    assert_eq!(confirmed.body["appointment_id"], first.body["id"]);
}

async fn repeating_a_hold_request_returns_the_same_hold(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let start = tuesday("09:30");
    let first = app.hold(&ada, app.doctor, &start).await;
    assert_status(&first, StatusCode::CREATED);

    app.advance(2);
    let repeat = app.hold(&ada, app.doctor, &start).await;
    assert_status(&repeat, StatusCode::OK);
    assert_eq!(repeat.id(), first.id());
    // A repeat does not extend the hold.
    assert_eq!(repeat.body["expires_at"], first.body["expires_at"]);
    assert_eq!(app.count("SELECT COUNT(*) FROM holds").await, 1);

    // Once it has lapsed, asking again makes a new hold.
    app.advance(4);
    let fresh = app.hold(&ada, app.doctor, &start).await;
    assert_status(&fresh, StatusCode::CREATED);
    assert_ne!(fresh.id(), first.id());
}

async fn rescheduling_moves_the_appointment_and_frees_the_old_slot(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let (old, new) = (tuesday("09:30"), tuesday("11:00"));
    let booked = app.book(&ada, &old).await;
    let hold = app.hold(&ada, app.doctor, &new).await;
    assert_status(&hold, StatusCode::CREATED);

    let moved = app.reschedule(&ada, &booked, &hold.id()).await;
    assert_status(&moved, StatusCode::OK);
    assert_eq!(moved.id(), booked);
    assert_eq!(moved.body["status"], "scheduled");
    assert_eq!(instant_at(&moved.body, "start"), instant(&new));
    assert_eq!(instant_at(&moved.body, "end"), instant(&tuesday("11:30")));
    assert_eq!(
        app.slot_status(app.doctor, &old).await.as_deref(),
        Some("available")
    );
    assert_eq!(
        app.slot_status(app.doctor, &new).await.as_deref(),
        Some("booked")
    );
    let read = appointment(&app, &ada, &booked).await;
    assert_eq!(instant_at(&read.body, "start"), instant(&new));
    assert_eq!(
        hold_stub(&app, &ada, &hold.id()).await.body["state"],
        "confirmed"
    );

    // Repeating the request (a retry after a lost response) changes nothing.
    app.advance(1);
    let repeat = app.reschedule(&ada, &booked, &hold.id()).await;
    assert_status(&repeat, StatusCode::OK);
    assert_eq!(repeat.id(), booked);
    assert_eq!(instant_at(&repeat.body, "start"), instant(&new));
    assert_eq!(repeat.body["updated_at"], moved.body["updated_at"]);
    assert_eq!(app.count(APPOINTMENTS).await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM slot_claims").await, 1);
    assert_eq!(
        app.slot_status(app.doctor, &old).await.as_deref(),
        Some("available")
    );
    assert_eq!(
        app.slot_status(app.doctor, &new).await.as_deref(),
        Some("booked")
    );

    // The old slot really is free: someone else can book it.
    let bob = app.sign_in("bob@example.org").await;
    app.book(&bob, &old).await;
    assert_eq!(app.overlapping_claims().await, 0);
}

/// Asserts that `appointment_id` of `token` is still scheduled at `start` and its slot booked.
async fn assert_untouched(app: &TestApp, token: &str, appointment_id: &str, start: &str) {
    let read = appointment(app, token, appointment_id).await;
    assert_status(&read, StatusCode::OK);
    assert_eq!(read.body["status"], "scheduled");
    assert_eq!(instant_at(&read.body, "start"), instant(start));
    assert_eq!(
        app.slot_status(app.doctor, start).await.as_deref(),
        Some("booked")
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM slot_claims WHERE appointment_id = '{appointment_id}'"
        ))
        .await,
        1
    );
}

async fn rescheduling_with_another_patients_hold_changes_nothing(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let bob = app.sign_in("bob@example.org").await;
    let old = tuesday("09:30");
    let booked = app.book(&ada, &old).await;
    let bobs_hold = app.hold(&bob, app.doctor, &tuesday("11:00")).await;
    assert_status(&bobs_hold, StatusCode::CREATED);

    let refused = app.reschedule(&ada, &booked, &bobs_hold.id()).await;
    assert_problem(&refused, StatusCode::NOT_FOUND, "hold_not_found");
    assert_untouched(&app, &ada, &booked, &old).await;
    assert_eq!(
        app.slot_status(app.doctor, &tuesday("11:00"))
            .await
            .as_deref(),
        Some("held")
    );
    assert_eq!(
        hold_stub(&app, &bob, &bobs_hold.id()).await.body["state"],
        "active"
    );
}

async fn rescheduling_with_a_lapsed_hold_whose_slot_was_taken_changes_nothing(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let bob = app.sign_in("bob@example.org").await;
    let (old, new) = (tuesday("09:30"), tuesday("11:00"));
    let booked = app.book(&ada, &old).await;
    let hold = app.hold(&ada, app.doctor, &new).await;
    assert_status(&hold, StatusCode::CREATED);
    app.advance(6);
    let bobs_hold = app.hold(&bob, app.doctor, &new).await;
    assert_status(&bobs_hold, StatusCode::CREATED);

    let refused = app.reschedule(&ada, &booked, &hold.id()).await;
    assert_problem(&refused, StatusCode::GONE, "hold_expired");
    assert_untouched(&app, &ada, &booked, &old).await;
    assert_eq!(
        app.slot_status(app.doctor, &new).await.as_deref(),
        Some("held")
    );
    assert_eq!(app.count(APPOINTMENTS).await, 1);
    assert_eq!(app.overlapping_claims().await, 0);
}

async fn rescheduling_to_another_doctor_is_refused_and_changes_nothing(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let old = tuesday("09:30");
    let booked = app.book(&ada, &old).await;
    let elsewhere = app.hold(&ada, app.limited_doctor, &tuesday("09:00")).await;
    assert_status(&elsewhere, StatusCode::CREATED);

    let refused = app.reschedule(&ada, &booked, &elsewhere.id()).await;
    assert_problem(&refused, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_untouched(&app, &ada, &booked, &old).await;
    assert_eq!(
        hold_stub(&app, &ada, &elsewhere.id()).await.body["state"],
        "active"
    );
}

async fn expired_hold_frees_its_slot_without_a_sweeper(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let bob = app.sign_in("bob@example.org").await;
    let start = tuesday("09:30");
    let hold = app.hold(&ada, app.doctor, &start).await;
    assert_status(&hold, StatusCode::CREATED);

    app.advance(6);
    // No sweeper has run: the hold is still stored as active, yet no longer occupies.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM holds WHERE state = 'active'")
            .await,
        1
    );
    assert_eq!(
        app.slot_status(app.doctor, &start).await.as_deref(),
        Some("available")
    );
    let taken = app.hold(&bob, app.doctor, &start).await;
    assert_status(&taken, StatusCode::CREATED);

    let late = app.confirm(&ada, &hold.id()).await;
    assert_problem(&late, StatusCode::GONE, "hold_expired");
    assert_eq!(app.count(APPOINTMENTS).await, 0);
    assert_eq!(
        hold_stub(&app, &ada, &hold.id()).await.body["state"],
        "expired"
    );
    assert_eq!(
        app.slot_status(app.doctor, &start).await.as_deref(),
        Some("held")
    );
    assert_eq!(app.overlapping_claims().await, 0);
}

async fn expired_hold_can_still_be_confirmed_while_its_slot_is_free(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let start = tuesday("09:30");
    let hold = app.hold(&ada, app.doctor, &start).await;
    assert_status(&hold, StatusCode::CREATED);

    app.advance(6);
    let late = app.confirm(&ada, &hold.id()).await;
    assert_status(&late, StatusCode::CREATED);
    assert_eq!(late.body["status"], "scheduled");
    assert_eq!(instant_at(&late.body, "start"), instant(&start));
    assert_eq!(
        app.slot_status(app.doctor, &start).await.as_deref(),
        Some("booked")
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM slot_claims").await, 1);
}

async fn releasing_a_hold_frees_the_slot_at_once_and_is_idempotent(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let bob = app.sign_in("bob@example.org").await;
    let start = tuesday("09:30");
    let hold = app.hold(&ada, app.doctor, &start).await;
    assert_status(&hold, StatusCode::CREATED);

    let path = format!("/api/v1/holds/{}", hold.id());
    let released = app.delete(&ada, &path).await;
    assert_status(&released, StatusCode::NO_CONTENT);
    assert_eq!(
        app.slot_status(app.doctor, &start).await.as_deref(),
        Some("available")
    );
    assert_eq!(
        hold_stub(&app, &ada, &hold.id()).await.body["state"],
        "released"
    );
    let again = app.delete(&ada, &path).await;
    assert_status(&again, StatusCode::NO_CONTENT);
    // A released hold is no token any more.
    let confirm = app.confirm(&ada, &hold.id()).await;
    assert_problem(&confirm, StatusCode::NOT_FOUND, "hold_not_found");

    // The slot is free for the next patient at once, without waiting for expiry.
    let bobs = app.hold(&bob, app.doctor, &start).await;
    assert_status(&bobs, StatusCode::CREATED);
    // Only the holder can release it.
    let foreign = app
        .delete(&ada, &format!("/api/v1/holds/{}", bobs.id()))
        .await;
    assert_problem(&foreign, StatusCode::NOT_FOUND, "hold_not_found");
    assert_eq!(
        app.slot_status(app.doctor, &start).await.as_deref(),
        Some("held")
    );

    let booked = app.confirm(&bob, &bobs.id()).await;
    assert_status(&booked, StatusCode::CREATED);
    let too_late = app
        .delete(&bob, &format!("/api/v1/holds/{}", bobs.id()))
        .await;
    assert_problem(&too_late, StatusCode::CONFLICT, "invalid_state");
    assert_eq!(
        app.slot_status(app.doctor, &start).await.as_deref(),
        Some("booked")
    );
    assert_eq!(
        appointment(&app, &bob, &booked.id()).await.body["status"],
        "scheduled"
    );
}

async fn cancelling_twice_returns_the_cancelled_appointment_unchanged(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let start = tuesday("09:30");
    let booked = app.book(&ada, &start).await;

    let first = app.cancel(&ada, &booked).await;
    assert_status(&first, StatusCode::OK);
    assert_eq!(first.body["status"], "cancelled");
    app.advance(1);
    let second = app.cancel(&ada, &booked).await;
    assert_status(&second, StatusCode::OK);
    assert_eq!(second.body["status"], "cancelled");
    assert_eq!(second.body["updated_at"], first.body["updated_at"]);
    assert_eq!(app.count(APPOINTMENTS).await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM slot_claims").await, 0);
    assert_eq!(
        app.slot_status(app.doctor, &start).await.as_deref(),
        Some("available")
    );

    // A cancelled appointment cannot be moved.
    let hold = app.hold(&ada, app.doctor, &tuesday("11:00")).await;
    assert_status(&hold, StatusCode::CREATED);
    let moved = app.reschedule(&ada, &booked, &hold.id()).await;
    assert_problem(&moved, StatusCode::CONFLICT, "invalid_state");
    assert_eq!(
        appointment(&app, &ada, &booked).await.body["status"],
        "cancelled"
    );
}

async fn cancelling_an_appointment_that_has_started_returns_409_invalid_state(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let start = tuesday("09:30");
    let booked = app.book(&ada, &start).await;

    // From Monday 08:00 UTC to Tuesday 08:31 UTC, one minute into the visit.
    let minutes = instant(&start).duration_since(start_of_tests()).as_mins() + 1;
    app.advance(minutes);
    let refused = app.cancel(&ada, &booked).await;
    assert_problem(&refused, StatusCode::CONFLICT, "invalid_state");
    let read = appointment(&app, &ada, &booked).await;
    assert_eq!(read.body["status"], "scheduled");
    assert_eq!(app.count("SELECT COUNT(*) FROM slot_claims").await, 1);
}

async fn patients_cannot_see_or_change_each_others_bookings(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let mallory = app.sign_in("mallory@example.org").await;
    let start = tuesday("09:30");
    let booked = app.book(&ada, &start).await;

    let read = appointment(&app, &mallory, &booked).await;
    assert_problem(&read, StatusCode::NOT_FOUND, "not_found");
    let cancel = app.cancel(&mallory, &booked).await;
    assert_problem(&cancel, StatusCode::NOT_FOUND, "not_found");
    let hold = app.hold(&mallory, app.doctor, &tuesday("11:00")).await;
    assert_status(&hold, StatusCode::CREATED);
    let moved = app.reschedule(&mallory, &booked, &hold.id()).await;
    assert_problem(&moved, StatusCode::NOT_FOUND, "not_found");

    let own_list = app.get(Some(&mallory), "/api/v1/appointments").await;
    assert_status(&own_list, StatusCode::OK);
    assert_eq!(own_list.body, Value::Array(vec![]));
    let adas_list = app.get(Some(&ada), "/api/v1/appointments").await;
    assert_eq!(adas_list.body.as_array().map(Vec::len), Some(1));
    assert_eq!(adas_list.body[0]["id"], booked.as_str());

    let untouched = appointment(&app, &ada, &booked).await;
    assert_eq!(untouched.body["status"], "scheduled");
    assert_eq!(instant_at(&untouched.body, "start"), instant(&start));
    assert_eq!(
        app.slot_status(app.doctor, &start).await.as_deref(),
        Some("booked")
    );
}

async fn a_fourth_live_hold_returns_409_limit_reached(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let mut holds = Vec::new();
    for time in ["09:00", "09:30", "10:00"] {
        let hold = app.hold(&ada, app.doctor, &tuesday(time)).await;
        assert_status(&hold, StatusCode::CREATED);
        holds.push(hold.id());
    }
    // The limit is per patient, across doctors.
    let fourth = app.hold(&ada, app.limited_doctor, &tuesday("09:00")).await;
    assert_problem(&fourth, StatusCode::CONFLICT, "limit_reached");
    assert_eq!(app.count("SELECT COUNT(*) FROM holds").await, 3);
    // Repeating one of the three is still fine.
    let repeat = app.hold(&ada, app.doctor, &tuesday("09:00")).await;
    assert_status(&repeat, StatusCode::OK);

    // Releasing one, or letting them lapse, makes room.
    let released = app
        .delete(&ada, &format!("/api/v1/holds/{}", holds[0]))
        .await;
    assert_status(&released, StatusCode::NO_CONTENT);
    let fourth = app.hold(&ada, app.limited_doctor, &tuesday("09:00")).await;
    assert_status(&fourth, StatusCode::CREATED);
    let fifth = app.hold(&ada, app.doctor, &tuesday("10:30")).await;
    assert_problem(&fifth, StatusCode::CONFLICT, "limit_reached");
    app.advance(6);
    let fifth = app.hold(&ada, app.doctor, &tuesday("10:30")).await;
    assert_status(&fifth, StatusCode::CREATED);
}

async fn a_sixth_upcoming_appointment_is_refused_409_appointment_limit_at_hold_and_confirm(
    app: TestApp,
) {
    let ada = app.sign_in("ada@example.org").await;
    let mut booked = Vec::new();
    for start in [
        tuesday("09:00"),
        tuesday("09:30"),
        tuesday("10:00"),
        wednesday("09:00"),
    ] {
        booked.push(app.book(&ada, &start).await);
    }
    // Two holds while there is room for one more: the fifth books, the sixth is refused at
    // confirm (the check that holds under races), its hold kept.
    let fifth = app.hold(&ada, app.doctor, &wednesday("09:30")).await;
    let sixth = app.hold(&ada, app.doctor, &wednesday("10:00")).await;
    assert_status(&sixth, StatusCode::CREATED);
    assert_status(&app.confirm(&ada, &fifth.id()).await, StatusCode::CREATED);
    let refused = app.confirm(&ada, &sixth.id()).await;
    assert_problem(&refused, StatusCode::CONFLICT, "appointment_limit");
    assert_eq!(app.count(APPOINTMENTS).await, 5);
    assert_eq!(
        hold_stub(&app, &ada, &sixth.id()).await.body["state"],
        "active"
    );
    // At the limit, a new hold is refused at once: nobody holds a time they cannot book.
    let seventh = app.hold(&ada, app.doctor, &wednesday("10:30")).await;
    assert_problem(&seventh, StatusCode::CONFLICT, "appointment_limit");
    // A hold to move an appointment is not a new one.
    let moving = app
        .post(
            Some(&ada),
            "/api/v1/holds",
            json!({
                "doctor_id": app.doctor.to_string(),
                "start": wednesday("11:00"),
                "rescheduling": booked[3],
            }),
        )
        .await;
    assert_status(&moving, StatusCode::CREATED);
    let moved = app.reschedule(&ada, &booked[3], &moving.id()).await;
    assert_status(&moved, StatusCode::OK);

    // Cancelling one makes room, and the kept hold can then be confirmed.
    let cancelled = app.cancel(&ada, &booked[0]).await;
    assert_status(&cancelled, StatusCode::OK);
    let sixth_again = app.confirm(&ada, &sixth.id()).await;
    assert_status(&sixth_again, StatusCode::CREATED);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM appointments WHERE status = 'scheduled'")
            .await,
        5
    );
}

async fn a_full_day_refuses_holds_and_hides_its_free_slots(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let bob = app.sign_in("bob@example.org").await;
    let cleo = app.sign_in("cleo@example.org").await;
    let doctor = app.limited_doctor;
    assert_eq!(slots_on(&app, doctor, "2027-03-02").await.len(), 9);

    let adas = book_with(&app, &ada, doctor, &tuesday("09:00")).await;
    book_with(&app, &bob, doctor, &tuesday("10:30")).await;

    let third = app.hold(&cleo, doctor, &tuesday("13:00")).await;
    assert_problem(&third, StatusCode::CONFLICT, "day_full");
    let listed = slots_on(&app, doctor, "2027-03-02").await;
    assert_eq!(
        listed,
        [
            (instant(&tuesday("09:00")), "booked".to_owned()),
            (instant(&tuesday("10:30")), "booked".to_owned()),
        ],
        "a full day lists only its taken slots"
    );
    // Other days are not affected.
    let wednesday_hold = app.hold(&cleo, doctor, &wednesday("09:00")).await;
    assert_status(&wednesday_hold, StatusCode::CREATED);
    assert_eq!(slots_on(&app, doctor, "2027-03-03").await.len(), 9);

    // A cancellation reopens the day.
    let cancelled = app.cancel(&ada, &adas).await;
    assert_status(&cancelled, StatusCode::OK);
    assert_eq!(slots_on(&app, doctor, "2027-03-02").await.len(), 9);
    let third = app.hold(&cleo, doctor, &tuesday("13:00")).await;
    assert_status(&third, StatusCode::CREATED);
}

/// How many occupying appointments the limited doctor has on Tuesday (its maximum is two).
async fn occupying_appointments_on_limited_tuesday(app: &TestApp) -> i64 {
    let from = instant(&tuesday("00:00")).as_microsecond();
    let to = instant(&wednesday("00:00")).as_microsecond();
    app.count(&format!(
        "SELECT COUNT(*) FROM appointments WHERE doctor_id = '{}' AND status <> 'cancelled'
           AND start_at >= {from} AND start_at < {to}",
        app.limited_doctor
    ))
    .await
}

/// Two other patients book the limited doctor's Tuesday full at 09:45 and 10:30.
async fn fill_limited_tuesday(app: &TestApp) {
    let bob = app.sign_in("bob@example.org").await;
    let cleo = app.sign_in("cleo@example.org").await;
    book_with(app, &bob, app.limited_doctor, &tuesday("09:45")).await;
    book_with(app, &cleo, app.limited_doctor, &tuesday("10:30")).await;
    assert_eq!(occupying_appointments_on_limited_tuesday(app).await, 2);
}

#[track_caller]
fn assert_refused_as_taken(reply: &Reply) {
    assert!(
        matches!(reply.status, StatusCode::CONFLICT | StatusCode::GONE),
        "{} {}",
        reply.status,
        reply.body
    );
    let code = reply.problem_code();
    assert!(
        matches!(code, "day_full" | "hold_expired"),
        "{}",
        reply.body
    );
}

async fn confirming_a_lapsed_hold_on_a_day_that_filled_meanwhile_is_refused(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let hold = app.hold(&ada, app.limited_doctor, &tuesday("09:00")).await;
    assert_status(&hold, StatusCode::CREATED);
    app.advance(6);
    fill_limited_tuesday(&app).await;
    // 09:00 itself is free (its claim ends where 09:45 begins), but the day is full.
    assert_eq!(
        app.slot_status(app.limited_doctor, &tuesday("09:00")).await,
        None
    );

    let late = app.confirm(&ada, &hold.id()).await;
    assert_refused_as_taken(&late);
    assert_eq!(occupying_appointments_on_limited_tuesday(&app).await, 2);
}

async fn rescheduling_onto_a_lapsed_hold_on_a_day_that_filled_meanwhile_is_refused(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let original = wednesday("09:00");
    let booked = book_with(&app, &ada, app.limited_doctor, &original).await;
    let hold = app.hold(&ada, app.limited_doctor, &tuesday("09:00")).await;
    assert_status(&hold, StatusCode::CREATED);
    app.advance(6);
    fill_limited_tuesday(&app).await;

    let late = app.reschedule(&ada, &booked, &hold.id()).await;
    assert_refused_as_taken(&late);
    assert_eq!(occupying_appointments_on_limited_tuesday(&app).await, 2);
    let read = appointment(&app, &ada, &booked).await;
    assert_eq!(instant_at(&read.body, "start"), instant(&original));
}

async fn slot_listing_shows_available_held_and_booked(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let bob = app.sign_in("bob@example.org").await;
    app.book(&ada, &tuesday("09:30")).await;
    let held = app.hold(&bob, app.doctor, &tuesday("10:00")).await;
    assert_status(&held, StatusCode::CREATED);

    let reply = app
        .get(
            None,
            &format!(
                "/api/v1/slots?doctor_id={}&date=2027-03-02&days=1",
                app.doctor
            ),
        )
        .await;
    assert_status(&reply, StatusCode::OK);
    let slots = list(&reply.body);
    // 09:00–12:00 and 13:00–17:00 in 30-minute slots.
    assert_eq!(slots.len(), 14);
    for slot in slots {
        let length = instant_at(slot, "end").duration_since(instant_at(slot, "start"));
        assert_eq!(length.as_mins(), 30, "{slot}");
    }
    let status_at = |time: &str| {
        let wanted = instant(&tuesday(time));
        slots
            .iter()
            .find(|slot| instant_at(slot, "start") == wanted)
            .map(status_of)
    };
    assert_eq!(status_at("09:00").as_deref(), Some("available"));
    assert_eq!(status_at("09:30").as_deref(), Some("booked"));
    assert_eq!(status_at("10:00").as_deref(), Some("held"));
    assert_eq!(status_at("12:00"), None, "the lunch break has no slots");
    let count = |status: &str| slots.iter().filter(|s| s["status"] == status).count();
    assert_eq!(
        (count("available"), count("held"), count("booked")),
        (12, 1, 1)
    );

    // A week from Tuesday: five working days, nothing at the weekend.
    let week = app
        .get(
            None,
            &format!(
                "/api/v1/slots?doctor_id={}&date=2027-03-02&days=7",
                app.doctor
            ),
        )
        .await;
    assert_eq!(week.body.as_array().map(Vec::len), Some(14 * 5));
}

async fn slots_that_have_started_are_not_listed_or_holdable(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    // Tuesday 10:10 in Berlin.
    let minutes = instant("2027-03-02T10:10:00+01:00")
        .duration_since(start_of_tests())
        .as_mins();
    app.advance(minutes);

    let tuesday_slots = slots_on(&app, app.doctor, "2027-03-02").await;
    assert_eq!(
        tuesday_slots.first().map(|s| s.0),
        Some(instant(&tuesday("10:30")))
    );
    assert_eq!(tuesday_slots.len(), 11);
    assert!(slots_on(&app, app.doctor, "2027-03-01").await.is_empty());

    let started = app.hold(&ada, app.doctor, &tuesday("10:00")).await;
    assert_problem(
        &started,
        StatusCode::UNPROCESSABLE_ENTITY,
        "slot_unavailable",
    );
    let next = app.hold(&ada, app.doctor, &tuesday("10:30")).await;
    assert_status(&next, StatusCode::CREATED);
}

async fn doctor_search_tolerates_a_typo(app: TestApp) {
    let found = app.get(None, "/api/v1/doctors?q=smiht").await;
    assert_status(&found, StatusCode::OK);
    let doctors = list(&found.body);
    assert_eq!(doctors.len(), 1, "{}", found.body);
    assert_eq!(doctors[0]["name"], "Dr. Anna Smith");
    assert_eq!(doctors[0]["id"], app.doctor.to_string());

    let accents = app.get(None, "/api/v1/doctors?q=muller").await;
    assert_eq!(
        accents.body[0]["name"], "Dr. Jörg Müller",
        "{}",
        accents.body
    );
    let nobody = app.get(None, "/api/v1/doctors?q=zzyzx").await;
    assert_eq!(nobody.body, Value::Array(vec![]));
}

async fn doctor_profile_shows_the_next_free_slot(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let path = format!("/api/v1/doctors/{}", app.doctor);
    let profile = app.get(None, &path).await;
    assert_status(&profile, StatusCode::OK);
    assert_eq!(profile.body["name"], "Dr. Anna Smith");
    assert_eq!(profile.body["slot_minutes"], 30);
    // The clock shows Monday 09:00 in Berlin: the first slot of the day is free.
    let next = &profile.body["next_free_slot"];
    assert_eq!(instant_at(next, "start"), start_of_tests());
    assert_eq!(
        instant_at(next, "end"),
        instant("2027-03-01T09:30:00+01:00")
    );

    let hold = app
        .hold(&ada, app.doctor, "2027-03-01T09:00:00+01:00")
        .await;
    assert_status(&hold, StatusCode::CREATED);
    let profile = app.get(None, &path).await;
    let next = &profile.body["next_free_slot"];
    assert_eq!(
        instant_at(next, "start"),
        instant("2027-03-01T09:30:00+01:00")
    );
}
