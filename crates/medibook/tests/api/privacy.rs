//! A person's copy of their data and the erasure of their account: the export holds everything
//! (and its FHIR form is valid FHIR), and after erasure the person's slots are free again, their
//! sign-ins are over, nothing of theirs is left in the database — on SQLite not even in the
//! file's free space or its write-ahead log — and the audit trail keeps only a pseudonym.

use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::fhir_client::validate;
use crate::harness::{Backend, TestApp, tuesday};
use crate::pages::{cookie_pair, get_page, post_form, sign_in_on_the_page};
use crate::staff::{
    assert_problem, assert_status, send, sign_in_as_admin, sign_in_as_doctor, user_id,
};

backend_tests!(
    a_patient_downloads_everything_held_about_them_as_json_and_fhir,
    erasure_frees_the_slots_ends_the_sign_ins_and_leaves_nothing_behind,
    staff_accounts_are_not_erased_by_themselves,
    the_profile_page_offers_the_download_and_a_confirmed_deletion,
    appointments_past_the_retention_period_are_pseudonymised,
    an_account_that_wrote_visit_notes_is_closed_by_an_admin,
);

const EMAIL: &str = "ada.erasable@example.org";
const NAME: &str = "Ada Quinterra";
const ADDRESS: &str = "12 Analytical Street, Engine Town";
const HISTORY: &str = "Allergic to penicillin";
const REASON: &str = "Recurring palpitations at night";
const CONTACT: &str = "Can I bring my own ECG strips?";

/// Ada with a full record, an upcoming appointment (10:00 Tuesday, with a doctor's note), a
/// hold (11:00), a waitlist entry and a contact-form message; returns her token and id.
async fn ada(app: &TestApp) -> (String, String, String) {
    let token = app.sign_in(EMAIL).await;
    let id = user_id(app, &token).await;
    let patched = send(
        app,
        Method::PATCH,
        Some(&token),
        "/api/v1/me",
        Some(json!({
            "name": NAME, "date_of_birth": "1985-12-10", "address": ADDRESS,
            "medical_history": HISTORY,
        })),
    )
    .await;
    assert_status(&patched, StatusCode::OK);
    let hold = app.hold(&token, app.doctor, &tuesday("10:00")).await;
    assert_status(&hold, StatusCode::CREATED);
    let booked = app
        .post(
            Some(&token),
            "/api/v1/appointments",
            json!({ "hold_id": hold.id(), "reason": REASON }),
        )
        .await;
    assert_status(&booked, StatusCode::CREATED);
    let appointment = booked.id();
    let held = app.hold(&token, app.doctor, &tuesday("11:00")).await;
    assert_status(&held, StatusCode::CREATED);
    let waiting = app
        .post(
            Some(&token),
            "/api/v1/waitlist",
            json!({ "doctor_id": app.doctor, "from": "2030-01-01", "to": "2030-01-02" }),
        )
        .await;
    assert_status(&waiting, StatusCode::CREATED);
    let wrote = app
        .post(
            None,
            "/api/v1/contact",
            json!({ "name": NAME, "email": EMAIL, "message": CONTACT }),
        )
        .await;
    assert_status(&wrote, StatusCode::ACCEPTED);
    let doctor = sign_in_as_doctor(app, "treating@example.org", app.doctor).await;
    let note = app
        .post(
            Some(&doctor),
            &format!("/api/v1/doctor/appointments/{appointment}/notes"),
            json!({ "text": "Holter monitor booked" }),
        )
        .await;
    assert_status(&note, StatusCode::CREATED);
    (token, id, appointment)
}

async fn a_patient_downloads_everything_held_about_them_as_json_and_fhir(app: TestApp) {
    let (token, id, appointment) = ada(&app).await;
    let response = app
        .http
        .get(app.url("/api/v1/me/export"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let disposition = response.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let copy: Value = response.json().await.expect("JSON");
    assert_eq!(copy["profile"]["id"], id.as_str());
    assert_eq!(copy["profile"]["name"], NAME);
    assert_eq!(copy["profile"]["address"], ADDRESS);
    assert_eq!(copy["profile"]["medical_history"], HISTORY);
    assert_eq!(copy["appointments"][0]["id"], appointment.as_str());
    assert_eq!(copy["appointments"][0]["reason"], REASON);
    assert_eq!(copy["waitlist_entries"].as_array().map(Vec::len), Some(1));
    assert!(!copy["sign_ins"].as_array().expect("sign-ins").is_empty());
    let messages = copy["notifications"].as_array().expect("messages");
    for code in messages.iter().filter(|m| m["kind"] == "sign_in_code") {
        assert!(code["body"].is_null(), "codes are secrets: {code}");
    }
    assert!(
        messages
            .iter()
            .any(|m| m["kind"] == "booked" && m["body"].as_str().is_some_and(|b| !b.is_empty())),
        "the confirmation is in the copy: {messages:?}"
    );

    let fhir = app.get(Some(&token), "/api/v1/me/export?format=fhir").await;
    assert_status(&fhir, StatusCode::OK);
    assert!(fhir.content_type.starts_with("application/fhir+json"));
    assert_eq!(fhir.body["resourceType"], "Bundle");
    assert_eq!(fhir.body["type"], "collection");
    let kinds: Vec<&str> = fhir.body["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["resource"]["resourceType"].as_str())
        .collect();
    assert_eq!(kinds, ["Patient", "Appointment"]);
    assert_eq!(fhir.body["entry"][0]["resource"]["id"], id.as_str());
    let problems = validate(vec![fhir.body.clone()]).await;
    assert!(problems.is_empty(), "{problems:#?}");

    let other = app.sign_in("someone.else@example.org").await;
    let theirs = app.get(Some(&other), "/api/v1/me/export").await;
    assert_status(&theirs, StatusCode::OK);
    assert_eq!(theirs.body["appointments"], json!([]));
    assert!(!theirs.body.to_string().contains(EMAIL));
    assert!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'personal_data.export'")
            .await
            >= 2,
        "exports are audited"
    );
    let anonymous = app.get(None, "/api/v1/me/export").await;
    assert_problem(&anonymous, StatusCode::UNAUTHORIZED, "unauthorized");
}

/// Whether `needle` occurs in the SQLite database file or its write-ahead log.
fn in_sqlite_files(app: &TestApp, needle: &str) -> bool {
    let url = app.settings.database_url.clone().unwrap_or_default();
    let path = url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    [path.clone(), format!("{path}-wal")].iter().any(|file| {
        std::fs::read(file)
            .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
            .unwrap_or(false)
    })
}

async fn erasure_frees_the_slots_ends_the_sign_ins_and_leaves_nothing_behind(app: TestApp) {
    let (token, id, appointment) = ada(&app).await;
    if app.backend == Backend::Sqlite {
        assert!(
            in_sqlite_files(&app, NAME),
            "the check can see what is there"
        );
    }
    let erased = app.delete(&token, "/api/v1/me").await;
    assert_status(&erased, StatusCode::OK);
    assert_eq!(erased.body["cancelled_appointments"], 1);
    assert_eq!(erased.body["released_holds"], 1);
    assert_eq!(erased.body["left_waitlist_entries"], 1);

    for time in ["10:00", "11:00"] {
        assert_eq!(
            app.slot_status(app.doctor, &tuesday(time)).await.as_deref(),
            Some("available"),
            "{time} is free again"
        );
        // …and the live feed said so: the slot's last event is `available`.
        let start: jiff::Timestamp = tuesday(time).parse().expect("instant");
        let announced = app
            .count(&format!(
                "SELECT COUNT(*) FROM slot_events e WHERE doctor_id = '{}' AND start_at = {}
                 AND status = 'available' AND seq = (SELECT MAX(seq) FROM slot_events
                     WHERE doctor_id = e.doctor_id AND start_at = e.start_at)",
                app.doctor,
                start.as_microsecond()
            ))
            .await;
        assert_eq!(announced, 1, "{time} announced free on the feed");
    }
    let after = app.get(Some(&token), "/api/v1/me").await;
    assert_problem(&after, StatusCode::UNAUTHORIZED, "unauthorized");

    for (table, column) in [
        ("users", "id"),
        ("appointments", "patient_id"),
        ("holds", "patient_id"),
        ("waitlist_entries", "patient_id"),
        ("visit_notes", "patient_id"),
        ("sessions", "user_id"),
    ] {
        let left = app
            .count(&format!(
                "SELECT COUNT(*) FROM {table} WHERE {column} = '{id}'"
            ))
            .await;
        assert_eq!(left, 0, "{table} still names the person");
    }
    for (table, column) in [
        ("outbox", "recipient"),
        ("contact_messages", "email"),
        ("one_time_codes", "identifier_key"),
    ] {
        let value = if table == "one_time_codes" {
            format!("email:{EMAIL}")
        } else {
            EMAIL.to_owned()
        };
        let left = app
            .count(&format!(
                "SELECT COUNT(*) FROM {table} WHERE {column} = '{value}'"
            ))
            .await;
        assert_eq!(left, 0, "{table} still has the address");
    }
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM outbox WHERE appointment_id = '{appointment}'"
        ))
        .await,
        0
    );
    // The audit trail keeps the account's id, a pseudonym now, and says what happened.
    assert!(
        app.count(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE patient_id = '{id}' AND action = 'account.erase'"
        ))
        .await
            == 1
    );
    if app.backend == Backend::Sqlite {
        for personal in [NAME, EMAIL, ADDRESS, REASON, CONTACT] {
            assert!(
                !in_sqlite_files(&app, personal),
                "{personal:?} is still in the database file or its log"
            );
        }
    }

    let again = app.sign_in(EMAIL).await;
    let me = app.get(Some(&again), "/api/v1/me").await;
    assert_status(&me, StatusCode::OK);
    assert_ne!(me.body["id"], id.as_str(), "a new account");
    assert!(me.body["name"].is_null());
    let appointments = app.get(Some(&again), "/api/v1/appointments").await;
    assert_eq!(appointments.body, json!([]));
}

async fn staff_accounts_are_not_erased_by_themselves(app: TestApp) {
    let admin = sign_in_as_admin(&app, "admin.keeps@example.org").await;
    let refused = app.delete(&admin, "/api/v1/me").await;
    assert_problem(&refused, StatusCode::CONFLICT, "invalid_state");
    let me = app.get(Some(&admin), "/api/v1/me").await;
    assert_status(&me, StatusCode::OK);
}

async fn the_profile_page_offers_the_download_and_a_confirmed_deletion(app: TestApp) {
    let page = sign_in_on_the_page(&app, "page.erasure@example.org", "/profile").await;
    let cookie = cookie_pair(&page);
    let profile = get_page(&app, "/profile", Some(&cookie)).await;
    assert_eq!(profile.status, StatusCode::OK);
    assert!(profile.html.contains("href=\"/api/v1/me/export\""));
    assert!(
        profile
            .html
            .contains("href=\"/api/v1/me/export?format=fhir\"")
    );
    assert!(profile.html.contains("href=\"/profile/delete\""));
    let download = app
        .http
        .get(app.url("/api/v1/me/export"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .expect("request");
    assert_eq!(
        download.status(),
        StatusCode::OK,
        "the link works with the page's sign-in"
    );

    let confirm = get_page(&app, "/profile/delete", Some(&cookie)).await;
    assert_eq!(confirm.status, StatusCode::OK);
    confirm.assert_html();
    assert!(confirm.html.contains("Delete my account"));
    let unticked = post_form(&app, "/profile/delete", &[], Some(&cookie)).await;
    assert_eq!(unticked.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unticked.html.contains("Tick the box"));
    let still = get_page(&app, "/profile", Some(&cookie)).await;
    assert_eq!(still.status, StatusCode::OK, "nothing was deleted");

    let done = post_form(
        &app,
        "/profile/delete",
        &[("confirm", "yes")],
        Some(&cookie),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.html);
    assert!(done.html.contains("Your account is deleted"));
    assert!(
        done.header(header::SET_COOKIE).contains("Max-Age=0"),
        "the cookie is cleared"
    );
    let gone = get_page(&app, "/profile", Some(&cookie)).await;
    assert_eq!(
        gone.status,
        StatusCode::SEE_OTHER,
        "signed out: sent to sign in"
    );
}

async fn appointments_past_the_retention_period_are_pseudonymised(app: TestApp) {
    use std::sync::Arc;

    use medibook_core::retention::Retention;

    let (ada, ada_id, old) = ada(&app).await;
    let bob = app.sign_in("bob.retained@example.org").await;
    let bobs = app.book(&bob, &tuesday("14:00")).await;
    let recent = app.book(&ada, "2027-03-04T10:00:00+01:00").await;
    let retention = Retention::new(
        Arc::new(app.database.clone()),
        [7; 32],
        jiff::SignedDuration::from_hours(24),
        app.clock.clone(),
    );
    assert_eq!(
        retention.pseudonymise_due().await.expect("a run"),
        0,
        "nothing is old yet"
    );

    // Thursday 11:00 Berlin: Tuesday's visits ended more than a day ago, Thursday's did not.
    app.clock
        .set("2027-03-04T10:00:00Z".parse().expect("instant"));
    assert_eq!(retention.pseudonymise_due().await.expect("a run"), 2);
    assert_eq!(
        retention.pseudonymise_due().await.expect("a run"),
        0,
        "done once"
    );

    for id in [&old, &bobs] {
        for table in ["appointments", "holds", "slot_claims"] {
            let column = if table == "appointments" {
                "id"
            } else {
                "appointment_id"
            };
            let left = app
                .count(&format!(
                    "SELECT COUNT(*) FROM {table} WHERE {column} = '{id}'"
                ))
                .await;
            assert_eq!(left, 0, "{table} still has {id}");
        }
        assert_eq!(
            app.count(&format!(
                "SELECT COUNT(*) FROM appointment_archive WHERE id = '{id}'"
            ))
            .await,
            0,
            "archived under a fresh id, not the one the audit trail names"
        );
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM appointment_archive").await,
        2
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM visit_notes WHERE appointment_id = '{old}'"
        ))
        .await,
        0,
        "the visit's notes are gone with it"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM outbox WHERE appointment_id = '{old}'"
        ))
        .await,
        0
    );
    let pseudonyms = app
        .count("SELECT COUNT(DISTINCT patient_pseudonym) FROM appointment_archive")
        .await;
    assert_eq!(pseudonyms, 2, "one pseudonym per patient");
    let named = app
        .count(&format!(
            "SELECT COUNT(*) FROM appointment_archive WHERE patient_pseudonym = '{ada_id}'"
        ))
        .await;
    assert_eq!(named, 0, "the pseudonym is not the id");
    let mine = app.get(Some(&ada), "/api/v1/appointments").await;
    let ids: Vec<&str> = mine
        .body
        .as_array()
        .expect("appointments")
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [recent.as_str()],
        "the recent appointment stays as it is"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'appointment.pseudonymise'")
            .await,
        1
    );
}

async fn an_account_that_wrote_visit_notes_is_closed_by_an_admin(app: TestApp) {
    let (_, _, appointment) = ada(&app).await;
    // The doctor who wrote ada's note is made a patient again, and tries to go.
    crate::staff::set_role_in_database(&app, "treating@example.org", "patient", None).await;
    let former = app.sign_in("treating@example.org").await;
    let refused = app.delete(&former, "/api/v1/me").await;
    assert_problem(&refused, StatusCode::CONFLICT, "invalid_state");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM visit_notes WHERE appointment_id = '{appointment}'"
        ))
        .await,
        1,
        "the note stays with the patient's record"
    );
    let me = app.get(Some(&former), "/api/v1/me").await;
    assert_status(&me, StatusCode::OK);
}
