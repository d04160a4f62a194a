//! The clinic's front desk through the API: a patient's record with its encrypted medical
//! history, a treating doctor's view of it and their visit notes, and a receptionist who
//! registers a patient who phoned, books, moves and cancels for them, and runs the day.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::harness::{Backend, Reply, TestApp, tuesday};
use crate::staff::{
    assert_problem, assert_status, send, sign_in_as_admin, sign_in_as_doctor, user_id,
};

backend_tests!(
    a_patient_keeps_their_record_and_the_history_is_stored_encrypted,
    a_date_of_birth_in_the_future_or_malformed_is_refused,
    only_the_treating_doctor_reads_the_record_and_writes_notes,
    notes_are_encrypted_append_only_and_audited_without_their_text,
    a_receptionist_books_moves_and_cancels_for_a_phoned_in_patient,
    only_the_front_desk_may_hold_for_someone_else,
    the_desk_sees_the_clinics_day_and_checks_patients_in,
    rotating_the_clinical_key_reseals_everything_and_the_text_still_opens,
);

const HISTORY: &str = "Allergic to penicillin; takes metformin 500 mg";
const NOTE: &str = "Auscultation normal; repeat ECG in six weeks";

async fn patch_me(app: &TestApp, token: &str, body: Value) -> Reply {
    send(app, Method::PATCH, Some(token), "/api/v1/me", Some(body)).await
}

/// Signs `email` in and gives them the receptionist role through the admin API.
pub(crate) async fn sign_in_as_receptionist(app: &TestApp, admin: &str, email: &str) -> String {
    let token = app.sign_in(email).await;
    let id = user_id(app, &token).await;
    let granted = send(
        app,
        Method::PUT,
        Some(admin),
        &format!("/api/v1/admin/users/{id}/role"),
        Some(json!({ "role": "receptionist" })),
    )
    .await;
    assert_status(&granted, StatusCode::OK);
    assert_eq!(granted.body["role"], "receptionist");
    token
}

/// Every stored value of `column` in `table`, as bytes.
async fn stored_bytes(app: &TestApp, table: &str, column: &str) -> Vec<Vec<u8>> {
    let sql = format!("SELECT {column} FROM {table} WHERE {column} IS NOT NULL");
    medibook_store::sql::query(medibook_store::sql::AssertSqlSafe(sql))
        .fetch_all(app.database.pool())
        .await
        .expect("read")
        .iter()
        .map(|row| row.try_get::<Vec<u8>, _>(0).expect("bytes"))
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// Asserts `secret` is nowhere in the SQLite database file or its WAL (PostgreSQL: nowhere in
/// the rows read back as bytes, checked by the caller).
fn assert_not_in_sqlite_files(app: &TestApp, secret: &str) {
    if app.backend != Backend::Sqlite {
        return;
    }
    let url = app.settings.database_url.clone().expect("database url");
    let path = url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .expect("path")
        .to_owned();
    for file in [path.clone(), format!("{path}-wal")] {
        if let Ok(bytes) = std::fs::read(&file) {
            assert!(!contains(&bytes, secret), "{secret:?} found in {file}");
        }
    }
}

async fn audit_mentions(app: &TestApp, text: &str) -> i64 {
    app.count(&format!(
        "SELECT COUNT(*) FROM audit_log WHERE detail LIKE '%{text}%'"
    ))
    .await
}

async fn a_patient_keeps_their_record_and_the_history_is_stored_encrypted(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let updated = patch_me(
        &app,
        &ada,
        json!({
            "name": "Ada Lovelace",
            "date_of_birth": "1985-12-10",
            "sex": "female",
            "address": "12 St James's Square\nLondon",
            "medical_history": HISTORY,
        }),
    )
    .await;
    assert_status(&updated, StatusCode::OK);
    let me = app.get(Some(&ada), "/api/v1/me").await;
    assert_status(&me, StatusCode::OK);
    assert_eq!(me.body["name"], "Ada Lovelace");
    assert_eq!(me.body["date_of_birth"], "1985-12-10");
    assert_eq!(me.body["sex"], "female");
    assert_eq!(me.body["address"], "12 St James's Square\nLondon");
    assert_eq!(me.body["medical_history"], HISTORY);

    // Fields left out stay; an empty history removes it.
    let partial = patch_me(&app, &ada, json!({ "medical_history": "" })).await;
    assert_status(&partial, StatusCode::OK);
    assert_eq!(partial.body["medical_history"], Value::Null);
    assert_eq!(partial.body["date_of_birth"], "1985-12-10");
    let again = patch_me(&app, &ada, json!({ "medical_history": HISTORY })).await;
    assert_eq!(again.body["medical_history"], HISTORY);

    // Stored sealed: the column holds no plaintext, nor do the files or the audit trail.
    let stored = stored_bytes(&app, "users", "medical_history").await;
    assert_eq!(stored.len(), 1);
    assert!(!contains(&stored[0], "penicillin"));
    assert_not_in_sqlite_files(&app, "penicillin");
    assert_eq!(audit_mentions(&app, "penicillin").await, 0);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'patient_record.update' \
             AND detail LIKE '%medical_history%'"
        )
        .await,
        3
    );

    // Another patient never sees it.
    let bob = app.sign_in("bob@example.org").await;
    let theirs = app.get(Some(&bob), "/api/v1/me").await;
    assert_eq!(theirs.body["medical_history"], Value::Null);
    assert_ne!(theirs.body["id"], me.body["id"]);
}

async fn a_date_of_birth_in_the_future_or_malformed_is_refused(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    for bad in ["2027-03-03", "1985-02-29", "10/12/1985", "1899-12-31", ""] {
        let refused = patch_me(&app, &ada, json!({ "date_of_birth": bad })).await;
        assert_problem(&refused, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    }
    let bad_sex = patch_me(&app, &ada, json!({ "sex": "robot" })).await;
    assert_problem(&bad_sex, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let long = patch_me(&app, &ada, json!({ "medical_history": "x".repeat(10_001) })).await;
    assert_problem(&long, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    // Nothing was changed by the refusals.
    let me = app.get(Some(&ada), "/api/v1/me").await;
    assert_eq!(me.body["date_of_birth"], Value::Null);
}

async fn only_the_treating_doctor_reads_the_record_and_writes_notes(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    patch_me(
        &app,
        &ada,
        json!({ "name": "Ada Lovelace", "date_of_birth": "1985-12-10", "medical_history": HISTORY }),
    )
    .await;
    let earlier = app.book(&ada, &tuesday("09:00")).await;
    let appointment = app.book(&ada, &tuesday("10:00")).await;

    let doctor = sign_in_as_doctor(&app, "smith@example.org", app.doctor).await;
    let written = app
        .post(
            Some(&doctor),
            &format!("/api/v1/doctor/appointments/{earlier}/notes"),
            json!({ "text": "First visit" }),
        )
        .await;
    assert_status(&written, StatusCode::CREATED);
    let record = app
        .get(
            Some(&doctor),
            &format!("/api/v1/doctor/appointments/{appointment}/patient"),
        )
        .await;
    assert_status(&record, StatusCode::OK);
    assert_eq!(record.body["name"], "Ada Lovelace");
    assert_eq!(record.body["date_of_birth"], "1985-12-10");
    assert_eq!(record.body["email"], "ada@example.org");
    assert_eq!(record.body["medical_history"], HISTORY);
    assert_eq!(record.body["appointment"]["id"], appointment);
    let visits = record.body["visits"].as_array().expect("visits");
    assert_eq!(visits.len(), 2);
    assert_eq!(visits[0]["id"], appointment, "newest first");
    assert_eq!(visits[1]["notes"][0]["text"], "First visit");

    // Another doctor, an admin, a receptionist and the patient: not found.
    let other = sign_in_as_doctor(&app, "mueller@example.org", app.limited_doctor).await;
    let admin = sign_in_as_admin(&app, "admin@example.org").await;
    let desk = sign_in_as_receptionist(&app, &admin, "desk@example.org").await;
    for token in [&other, &admin, &desk, &ada] {
        for path in ["patient", "notes"] {
            let refused = app
                .get(
                    Some(token),
                    &format!("/api/v1/doctor/appointments/{appointment}/{path}"),
                )
                .await;
            assert_problem(&refused, StatusCode::NOT_FOUND, "not_found");
        }
        let write = app
            .post(
                Some(token),
                &format!("/api/v1/doctor/appointments/{appointment}/notes"),
                json!({ "text": "not mine" }),
            )
            .await;
        assert_problem(&write, StatusCode::NOT_FOUND, "not_found");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM visit_notes").await, 1);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'patient_record.read'")
            .await,
        1
    );
}

async fn notes_are_encrypted_append_only_and_audited_without_their_text(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let appointment = app.book(&ada, &tuesday("09:00")).await;
    let doctor = sign_in_as_doctor(&app, "smith@example.org", app.doctor).await;
    let path = format!("/api/v1/doctor/appointments/{appointment}/notes");
    for text in [NOTE, "Correction: ECG in four weeks"] {
        let written = app
            .post(Some(&doctor), &path, json!({ "text": text }))
            .await;
        assert_status(&written, StatusCode::CREATED);
        assert_eq!(written.body["text"], text);
    }
    let empty = app
        .post(Some(&doctor), &path, json!({ "text": "  " }))
        .await;
    assert_problem(&empty, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let notes = app.get(Some(&doctor), &path).await;
    assert_status(&notes, StatusCode::OK);
    let texts: Vec<&str> = notes
        .body
        .as_array()
        .expect("list")
        .iter()
        .map(|n| n["text"].as_str().expect("text"))
        .collect();
    assert_eq!(texts, vec![NOTE, "Correction: ECG in four weeks"]);

    for sealed in stored_bytes(&app, "visit_notes", "sealed").await {
        assert!(!contains(&sealed, "Auscultation"));
    }
    assert_not_in_sqlite_files(&app, "Auscultation");
    assert_eq!(audit_mentions(&app, "Auscultation").await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'visit_note.create'")
            .await,
        2
    );

    // The database itself refuses to change a note.
    let mut conn = app.database.open_writing_connection().await.expect("conn");
    let changed = medibook_store::sql::query("UPDATE visit_notes SET created_at = 0")
        .execute(&mut conn)
        .await;
    assert!(changed.is_err(), "a note was changed");

    // A cancelled visit takes no notes.
    let cancelled = app.book(&ada, &tuesday("11:00")).await;
    assert_status(&app.cancel(&ada, &cancelled).await, StatusCode::OK);
    let refused = app
        .post(
            Some(&doctor),
            &format!("/api/v1/doctor/appointments/{cancelled}/notes"),
            json!({ "text": NOTE }),
        )
        .await;
    assert_problem(&refused, StatusCode::CONFLICT, "invalid_state");
}

/// Registers the caller as a patient through the desk; returns their id.
async fn register(app: &TestApp, desk: &str, name: &str, phone: &str) -> String {
    let created = app
        .post(
            Some(desk),
            "/api/v1/desk/patients",
            json!({ "name": name, "phone": phone, "date_of_birth": "1941-05-20" }),
        )
        .await;
    assert_status(&created, StatusCode::CREATED);
    created.id()
}

async fn hold_for(app: &TestApp, token: &str, patient: &str, start: &str) -> Reply {
    app.post(
        Some(token),
        "/api/v1/holds",
        json!({ "doctor_id": app.doctor.to_string(), "start": start, "patient_id": patient }),
    )
    .await
}

async fn a_receptionist_books_moves_and_cancels_for_a_phoned_in_patient(app: TestApp) {
    let admin = sign_in_as_admin(&app, "admin@example.org").await;
    let desk = sign_in_as_receptionist(&app, &admin, "desk@example.org").await;
    let desk_id = user_id(&app, &desk).await;
    let patient = register(&app, &desk, "Grace Hopper", "+1 202 555 0147").await;
    let twice = app
        .post(
            Some(&desk),
            "/api/v1/desk/patients",
            json!({ "name": "Grace H.", "phone": "+12025550147", "date_of_birth": "1941-05-20" }),
        )
        .await;
    assert_problem(&twice, StatusCode::UNPROCESSABLE_ENTITY, "validation");

    for query in ["hopper", "555 01", "Grace"] {
        let found = app
            .get(
                Some(&desk),
                &format!("/api/v1/desk/patients?q={}", query.replace(' ', "%20")),
            )
            .await;
        assert_status(&found, StatusCode::OK);
        let found = found.body.as_array().expect("list");
        assert_eq!(found.len(), 1, "{query}");
        assert_eq!(found[0]["id"], patient);
        assert_eq!(found[0]["date_of_birth"], "1941-05-20");
    }

    let hold = hold_for(&app, &desk, &patient, &tuesday("09:00")).await;
    assert_status(&hold, StatusCode::CREATED);
    let booked = app.confirm(&desk, &hold.id()).await;
    assert_status(&booked, StatusCode::CREATED);
    assert_eq!(booked.body["patient_id"], patient);
    let appointment = booked.id();
    assert_eq!(
        app.slot_status(app.doctor, &tuesday("09:00"))
            .await
            .as_deref(),
        Some("booked")
    );
    // The audit trail names both the receptionist and the patient.
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'appointment.create' \
             AND actor_user_id = '{desk_id}' AND actor_role = 'receptionist' \
             AND patient_id = '{patient}'"
        ))
        .await,
        1
    );
    // The patient is told, by SMS as they have no e-mail, as if they had booked.
    assert!(
        app.count(
            "SELECT COUNT(*) FROM outbox WHERE recipient_kind = 'phone' \
             AND recipient = '+12025550147'"
        )
        .await
            >= 1
    );

    // Moving and cancelling for them.
    let listed = app
        .get(
            Some(&desk),
            &format!("/api/v1/desk/patients/{patient}/appointments"),
        )
        .await;
    assert_status(&listed, StatusCode::OK);
    assert_eq!(listed.body[0]["id"], appointment);
    let new_hold = hold_for(&app, &desk, &patient, &tuesday("14:00")).await;
    assert_status(&new_hold, StatusCode::CREATED);
    let moved = app.reschedule(&desk, &appointment, &new_hold.id()).await;
    assert_status(&moved, StatusCode::OK);
    assert_eq!(
        moved.body["start"]
            .as_str()
            .map(|s| s.parse::<jiff::Timestamp>().unwrap()),
        Some(tuesday("14:00").parse().unwrap())
    );
    let cancelled = app.cancel(&desk, &appointment).await;
    assert_status(&cancelled, StatusCode::OK);
    assert_eq!(cancelled.body["status"], "cancelled");
    let released = hold_for(&app, &desk, &patient, &tuesday("15:00")).await;
    let gone = app
        .delete(&desk, &format!("/api/v1/holds/{}", released.id()))
        .await;
    assert_status(&gone, StatusCode::NO_CONTENT);

    // The receptionist never reaches clinical text or a doctor's workspace.
    let record = app
        .get(
            Some(&desk),
            &format!("/api/v1/doctor/appointments/{appointment}/patient"),
        )
        .await;
    assert_problem(&record, StatusCode::NOT_FOUND, "not_found");
    let agenda = app
        .get(Some(&desk), "/api/v1/doctor/agenda?from=2027-03-02")
        .await;
    assert_problem(&agenda, StatusCode::FORBIDDEN, "forbidden");
}

async fn only_the_front_desk_may_hold_for_someone_else(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    let ada_id = user_id(&app, &ada).await;
    let bob = app.sign_in("bob@example.org").await;
    let bob_id = user_id(&app, &bob).await;
    let doctor = sign_in_as_doctor(&app, "smith@example.org", app.doctor).await;
    for token in [&bob, &doctor] {
        let refused = hold_for(&app, token, &ada_id, &tuesday("09:00")).await;
        assert_problem(&refused, StatusCode::FORBIDDEN, "forbidden");
    }
    // Naming oneself is the ordinary hold.
    let own = hold_for(&app, &bob, &bob_id, &tuesday("09:30")).await;
    assert_status(&own, StatusCode::CREATED);
    // Nobody but the holder (or the desk) confirms a hold.
    let ada_hold = app.hold(&ada, app.doctor, &tuesday("10:00")).await;
    let stolen = app.confirm(&bob, &ada_hold.id()).await;
    assert_problem(&stolen, StatusCode::NOT_FOUND, "hold_not_found");
    // Patients and doctors do not see the desk.
    for token in [&ada, &doctor] {
        let day = app
            .get(Some(token), "/api/v1/desk/day?date=2027-03-02")
            .await;
        assert_problem(&day, StatusCode::FORBIDDEN, "forbidden");
        let search = app.get(Some(token), "/api/v1/desk/patients?q=ada").await;
        assert_problem(&search, StatusCode::FORBIDDEN, "forbidden");
    }
    // The desk holding for an unknown patient.
    let admin = sign_in_as_admin(&app, "admin@example.org").await;
    let unknown = hold_for(
        &app,
        &admin,
        &uuid::Uuid::now_v7().to_string(),
        &tuesday("11:00"),
    )
    .await;
    assert_problem(&unknown, StatusCode::NOT_FOUND, "not_found");
    // … or for a staff member's account: only patients are booked for.
    let doctor_id = user_id(&app, &doctor).await;
    let staff = hold_for(&app, &admin, &doctor_id, &tuesday("11:00")).await;
    assert_problem(&staff, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM holds WHERE patient_id IN (SELECT id FROM users WHERE role <> 'patient')")
            .await,
        0
    );
}

async fn the_desk_sees_the_clinics_day_and_checks_patients_in(app: TestApp) {
    let admin = sign_in_as_admin(&app, "admin@example.org").await;
    let desk = sign_in_as_receptionist(&app, &admin, "desk@example.org").await;
    let ada = app.sign_in("ada@example.org").await;
    patch_me(&app, &ada, json!({ "name": "Ada Lovelace" })).await;
    let first = app.book(&ada, &tuesday("09:00")).await;
    let limited = app.hold(&ada, app.limited_doctor, &tuesday("09:45")).await;
    assert_status(&limited, StatusCode::CREATED);
    let second = app.confirm(&ada, &limited.id()).await.id();
    let cancelled = app.book(&ada, &tuesday("11:00")).await;
    app.cancel(&ada, &cancelled).await;
    // Another day's visit stays off this day.
    app.book(&ada, "2027-03-03T09:00:00+01:00").await;

    let day = app
        .get(Some(&desk), "/api/v1/desk/day?date=2027-03-02")
        .await;
    assert_status(&day, StatusCode::OK);
    let entries = day.body["appointments"].as_array().expect("list");
    let ids: Vec<&str> = entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![first.as_str(), second.as_str()]);
    assert_eq!(entries[0]["patient_name"], "Ada Lovelace");
    assert_eq!(entries[0]["doctor_name"], "Dr. Anna Smith");
    assert_eq!(entries[1]["doctor_name"], "Dr. Jörg Müller");
    assert!(entries.iter().all(|e| e["check_in"] == "expected"));
    assert!(entries.iter().all(|e| e.get("medical_history").is_none()));

    let path = format!("/api/v1/desk/appointments/{first}/arrived");
    let arrived = app.post(Some(&desk), &path, json!({})).await;
    assert_status(&arrived, StatusCode::OK);
    assert_eq!(arrived.body["check_in"], "arrived");
    let again = app.post(Some(&desk), &path, json!({})).await;
    assert_eq!(again.body["arrived_at"], arrived.body["arrived_at"]);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'appointment.arrived'")
            .await,
        1
    );
    let refused = app
        .post(
            Some(&desk),
            &format!("/api/v1/desk/appointments/{cancelled}/arrived"),
            json!({}),
        )
        .await;
    assert_problem(&refused, StatusCode::CONFLICT, "invalid_state");

    // The doctor records the visit; the desk sees it completed.
    app.advance(26 * 60 + 30);
    let doctor = sign_in_as_doctor(&app, "smith@example.org", app.doctor).await;
    let done = app
        .post(
            Some(&doctor),
            &format!("/api/v1/doctor/appointments/{first}/complete"),
            json!({}),
        )
        .await;
    assert_status(&done, StatusCode::OK);
    let day = app
        .get(Some(&desk), "/api/v1/desk/day?date=2027-03-02")
        .await;
    assert_eq!(day.body["appointments"][0]["check_in"], "completed");
    let bad = app.get(Some(&desk), "/api/v1/desk/day?date=tomorrow").await;
    assert_eq!(bad.status.as_u16() / 100, 4, "{}", bad.body);
}

async fn rotating_the_clinical_key_reseals_everything_and_the_text_still_opens(app: TestApp) {
    use medibook::clinical::ClinicalKeyring;
    use medibook_core::patients::ClinicalVault;
    use medibook_core::patients::rekey::rekey;

    let ada = app.sign_in("ada@example.org").await;
    let ada_id = user_id(&app, &ada).await;
    patch_me(&app, &ada, json!({ "medical_history": HISTORY })).await;
    let appointment = app.book(&ada, &tuesday("09:00")).await;
    let doctor = sign_in_as_doctor(&app, "smith@example.org", app.doctor).await;
    let path = format!("/api/v1/doctor/appointments/{appointment}/notes");
    app.post(Some(&doctor), &path, json!({ "text": NOTE }))
        .await;

    let old = medibook::secrets::ServerKeys::derive(crate::harness::TEST_SECRET).clinical_key;
    let new = [42u8; 32];
    let rotated = ClinicalKeyring::new(&new, &[old]);
    let report = rekey(&app.database, &rotated).await.expect("rekey");
    assert_eq!((report.checked, report.resealed), (2, 2));
    let again = rekey(&app.database, &rotated).await.expect("rekey again");
    assert_eq!(
        (again.checked, again.resealed),
        (2, 0),
        "nothing left to re-seal"
    );

    // Everything is now sealed under the new key alone, and opens to the same text.
    let new_only = ClinicalKeyring::new(&new, &[]);
    let history = stored_bytes(&app, "users", "medical_history").await;
    let notes = stored_bytes(&app, "visit_notes", "sealed").await;
    for sealed in history.iter().chain(&notes) {
        assert!(new_only.is_current(sealed));
    }
    assert_eq!(
        new_only
            .open(&format!("medical_history:{ada_id}"), &history[0])
            .unwrap(),
        HISTORY
    );
    let note_id: String = medibook_store::sql::query("SELECT id FROM visit_notes")
        .fetch_one(app.database.pool())
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(
        new_only
            .open(&format!("visit_note:{note_id}"), &notes[0])
            .unwrap(),
        NOTE
    );
    // The old key alone no longer opens anything.
    let old_only = ClinicalKeyring::new(&old, &[]);
    assert!(
        old_only
            .open(&format!("visit_note:{note_id}"), &notes[0])
            .is_err()
    );
}
