//! Doctors and admins at work, and what keeps everyone honest: roles granted by admins (and the
//! first admin by the command line), the authorization matrix over every route, a doctor's
//! schedule, time off, agenda and visit outcomes, clinic management, the contact form, and the
//! append-only audit trail.

mod access_matrix;

use jiff::Timestamp;
use medibook_core::identity::{Email, Identifier, PhoneNumber};
use medibook_core::ids::DoctorId;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::harness::{Reply, TestApp, tuesday};

backend_tests!(
    every_route_in_the_openapi_document_has_an_access_rule,
    the_authorization_matrix_holds_for_every_route,
    a_doctor_changing_hours_changes_the_slots,
    an_invalid_schedule_is_refused_and_changes_nothing,
    a_doctor_adds_and_removes_time_off_and_the_slots_follow,
    a_doctor_marks_visits_completed_or_no_show_once_they_started,
    a_doctor_cannot_see_or_touch_another_doctors_agenda,
    admins_act_for_any_doctor_but_need_to_name_one,
    admin_creates_a_specialty_and_a_bookable_doctor,
    admin_grants_the_doctor_role_and_it_takes_effect_at_once,
    admin_finds_users_by_email_phone_or_name,
    the_command_line_creates_or_promotes_an_admin,
    the_contact_form_stores_messages_and_drops_the_honeypot_silently,
    the_contact_form_is_rate_limited_per_client,
    the_audit_trail_records_appointment_reads_and_changes_and_role_changes,
    the_audit_trail_never_holds_phone_numbers_and_filters_by_doctor_and_time,
    the_database_refuses_to_update_or_delete_audit_entries,
);

/// Schedule of the harness's test doctors: Mon–Fri 09:00–12:00 and 13:00–17:00, 30-minute slots.
pub fn test_doctor_schedule() -> Value {
    let day = json!([
        { "start": "09:00", "end": "12:00" },
        { "start": "13:00", "end": "17:00" },
    ]);
    json!({
        "hours": {
            "monday": day, "tuesday": day, "wednesday": day, "thursday": day, "friday": day,
        },
        "rules": { "slot_minutes": 30, "horizon_days": 60 },
    })
}

#[track_caller]
pub fn assert_status(reply: &Reply, status: StatusCode) {
    assert_eq!(reply.status, status, "{}", reply.body);
}

#[track_caller]
pub fn assert_problem(reply: &Reply, status: StatusCode, code: &str) {
    assert_status(reply, status);
    assert_eq!(reply.problem_code(), code, "{}", reply.body);
}

fn list(body: &Value) -> &[Value] {
    body.as_array()
        .unwrap_or_else(|| panic!("not a list: {body}"))
}

/// Any request, with an optional bearer token and JSON body.
pub async fn send(
    app: &TestApp,
    method: Method,
    token: Option<&str>,
    path: &str,
    body: Option<Value>,
) -> Reply {
    let mut request = app.http.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    Reply::from(request.send().await.expect("request")).await
}

/// Signs `email` in through the code flow and returns the whole session answer (tokens, user).
pub async fn sign_in_session(app: &TestApp, email: &str) -> Value {
    let sent = app
        .post(None, "/api/v1/auth/otp", json!({ "email": email }))
        .await;
    assert_status(&sent, StatusCode::ACCEPTED);
    let code = app.codes.last_code(email).expect("a code was sent");
    let session = app
        .post(
            None,
            "/api/v1/auth/verify",
            json!({ "email": email, "code": code }),
        )
        .await;
    assert_status(&session, StatusCode::OK);
    session.body
}

/// The user id behind a token.
pub async fn user_id(app: &TestApp, token: &str) -> String {
    let me = app.get(Some(token), "/api/v1/me").await;
    assert_status(&me, StatusCode::OK);
    me.id()
}

/// Sets a user's role directly in the database, as an operator could.
pub async fn set_role_in_database(
    app: &TestApp,
    email: &str,
    role: &str,
    doctor: Option<DoctorId>,
) {
    let result =
        medibook_store::sql::query("UPDATE users SET role = $1, doctor_id = $2 WHERE email = $3")
            .bind(role.to_owned())
            .bind(doctor.map(|d| d.to_string()))
            .bind(email.to_owned())
            .execute(&mut app.database.open_writing_connection().await.unwrap())
            .await
            .expect("role update");
    assert_eq!(result.rows_affected(), 1, "no user {email}");
}

/// Signs `email` in and makes them an admin; returns a bearer token.
pub async fn sign_in_as_admin(app: &TestApp, email: &str) -> String {
    let token = app.sign_in(email).await;
    set_role_in_database(app, email, "admin", None).await;
    token
}

/// Signs `email` in as the doctor of profile `doctor`; returns a bearer token.
pub async fn sign_in_as_doctor(app: &TestApp, email: &str, doctor: DoctorId) -> String {
    let token = app.sign_in(email).await;
    set_role_in_database(app, email, "doctor", Some(doctor)).await;
    token
}

/// The audit entries an admin sees for `query` (e.g. `patient_id=…`).
async fn audit(app: &TestApp, admin: &str, query: &str) -> Vec<Value> {
    let reply = app
        .get(Some(admin), &format!("/api/v1/admin/audit?{query}"))
        .await;
    assert_status(&reply, StatusCode::OK);
    list(&reply.body).to_vec()
}

fn actions(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["action"].as_str().expect("action").to_owned())
        .collect()
}

/// The listed slot starts of `doctor` on `date`.
async fn slot_starts(app: &TestApp, doctor: DoctorId, date: &str) -> Vec<Timestamp> {
    let reply = app
        .get(
            None,
            &format!("/api/v1/slots?doctor_id={doctor}&date={date}&days=1"),
        )
        .await;
    assert_status(&reply, StatusCode::OK);
    list(&reply.body)
        .iter()
        .map(|s| {
            s["start"]
                .as_str()
                .expect("start")
                .parse()
                .expect("instant")
        })
        .collect()
}

fn instant(text: &str) -> Timestamp {
    text.parse().expect("instant")
}

async fn every_route_in_the_openapi_document_has_an_access_rule(app: TestApp) {
    let document = app.get(None, "/api/v1/openapi.json").await;
    assert_status(&document, StatusCode::OK);
    let paths = document.body["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (path, item) in paths {
        for method in item.as_object().expect("path item").keys() {
            let method = method.to_uppercase();
            if ![
                "GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE",
            ]
            .contains(&method.as_str())
            {
                continue;
            }
            let row = medibook_web::shell::access::ROUTE_ACCESS
                .iter()
                .find(|(m, p, _)| *m == method && p == path);
            assert!(
                row.is_some(),
                "{method} {path} has no row in access::ROUTE_ACCESS"
            );
            checked += 1;
        }
    }
    assert!(checked >= 37, "only {checked} routes documented");
}

async fn the_authorization_matrix_holds_for_every_route(app: TestApp) {
    access_matrix::check_every_route(&app).await;
}

async fn a_doctor_changing_hours_changes_the_slots(app: TestApp) {
    let doctor = sign_in_as_doctor(&app, "house@example.org", app.doctor).await;
    let current = app.get(Some(&doctor), "/api/v1/doctor/schedule").await;
    assert_status(&current, StatusCode::OK);
    assert_eq!(current.body["rules"]["slot_minutes"], 30);
    assert_eq!(current.body["hours"]["tuesday"][0]["start"], "09:00:00");
    assert_eq!(slot_starts(&app, app.doctor, "2027-03-02").await.len(), 14);

    // Tuesdays only, 09:00–10:00, in 20-minute slots.
    let tuesday_mornings = json!({
        "hours": { "tuesday": [{ "start": "09:00", "end": "10:00" }] },
        "rules": { "slot_minutes": 20, "horizon_days": 30 },
    });
    let changed = send(
        &app,
        Method::PUT,
        Some(&doctor),
        "/api/v1/doctor/schedule",
        Some(tuesday_mornings),
    )
    .await;
    assert_status(&changed, StatusCode::OK);
    assert_eq!(changed.body["rules"]["slot_minutes"], 20);

    assert_eq!(
        slot_starts(&app, app.doctor, "2027-03-02").await,
        vec![
            instant(&tuesday("09:00")),
            instant(&tuesday("09:20")),
            instant(&tuesday("09:40")),
        ]
    );
    assert!(slot_starts(&app, app.doctor, "2027-03-03").await.is_empty());
    let profile = app
        .get(None, &format!("/api/v1/doctors/{}", app.doctor))
        .await;
    assert_eq!(profile.body["slot_minutes"], 20);
    // The new grid is bookable; the old one is not.
    let patient = app.sign_in("ada@example.org").await;
    assert_status(
        &app.hold(&patient, app.doctor, &tuesday("09:20")).await,
        StatusCode::CREATED,
    );
    assert_problem(
        &app.hold(&patient, app.doctor, &tuesday("09:30")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "slot_unavailable",
    );
}

async fn an_invalid_schedule_is_refused_and_changes_nothing(app: TestApp) {
    let doctor = sign_in_as_doctor(&app, "house@example.org", app.doctor).await;
    let overlapping = json!({
        "hours": { "monday": [
            { "start": "09:00", "end": "12:00" },
            { "start": "11:00", "end": "14:00" },
        ] },
        "rules": { "slot_minutes": 30, "horizon_days": 30 },
    });
    let too_short = json!({
        "hours": {},
        "rules": { "slot_minutes": 2, "horizon_days": 30 },
    });
    let backwards = json!({
        "hours": { "monday": [{ "start": "12:00", "end": "09:00" }] },
        "rules": { "slot_minutes": 30, "horizon_days": 30 },
    });
    for bad in [overlapping, too_short, backwards] {
        let reply = send(
            &app,
            Method::PUT,
            Some(&doctor),
            "/api/v1/doctor/schedule",
            Some(bad.clone()),
        )
        .await;
        assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    }
    let unknown_field = json!({
        "hours": {}, "rules": { "slot_minutes": 30, "horizon_days": 30 }, "colour": "red",
    });
    let reply = send(
        &app,
        Method::PUT,
        Some(&doctor),
        "/api/v1/doctor/schedule",
        Some(unknown_field),
    )
    .await;
    assert_eq!(reply.problem_code(), "validation", "{}", reply.body);
    assert_eq!(slot_starts(&app, app.doctor, "2027-03-02").await.len(), 14);
}

async fn a_doctor_adds_and_removes_time_off_and_the_slots_follow(app: TestApp) {
    let doctor = sign_in_as_doctor(&app, "house@example.org", app.doctor).await;
    let added = app
        .post(
            Some(&doctor),
            "/api/v1/doctor/time-off",
            json!({ "start": tuesday("09:00"), "end": tuesday("12:00"), "reason": "Conference" }),
        )
        .await;
    assert_status(&added, StatusCode::CREATED);
    assert_eq!(added.body["reason"], "Conference");
    let slots = slot_starts(&app, app.doctor, "2027-03-02").await;
    assert_eq!(slots.len(), 8, "only the afternoon is left");
    assert!(slots.iter().all(|s| *s >= instant(&tuesday("13:00"))));

    let listed = app.get(Some(&doctor), "/api/v1/doctor/time-off").await;
    assert_status(&listed, StatusCode::OK);
    assert_eq!(list(&listed.body).len(), 1);
    assert_eq!(listed.body[0]["id"], added.body["id"]);

    let backwards = app
        .post(
            Some(&doctor),
            "/api/v1/doctor/time-off",
            json!({ "start": tuesday("12:00"), "end": tuesday("09:00") }),
        )
        .await;
    assert_problem(&backwards, StatusCode::UNPROCESSABLE_ENTITY, "validation");

    let path = format!("/api/v1/doctor/time-off/{}", added.id());
    assert_status(&app.delete(&doctor, &path).await, StatusCode::NO_CONTENT);
    assert_problem(
        &app.delete(&doctor, &path).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(slot_starts(&app, app.doctor, "2027-03-02").await.len(), 14);
}

async fn a_doctor_marks_visits_completed_or_no_show_once_they_started(app: TestApp) {
    let doctor = sign_in_as_doctor(&app, "house@example.org", app.doctor).await;
    let patient = app.sign_in("ada@example.org").await;
    send(
        &app,
        Method::PATCH,
        Some(&patient),
        "/api/v1/me",
        Some(json!({ "name": "Ada Lovelace" })),
    )
    .await;
    let first = app.book(&patient, &tuesday("09:30")).await;
    let second = app.book(&patient, &tuesday("10:00")).await;
    let complete = |id: &str| format!("/api/v1/doctor/appointments/{id}/complete");
    let no_show = |id: &str| format!("/api/v1/doctor/appointments/{id}/no-show");

    let early = app.post(Some(&doctor), &complete(&first), json!({})).await;
    assert_problem(&early, StatusCode::CONFLICT, "invalid_state");

    // Tuesday 10:15 in Berlin: both visits have started.
    app.clock.set(instant(&tuesday("10:15")));
    let completed = app.post(Some(&doctor), &complete(&first), json!({})).await;
    assert_status(&completed, StatusCode::OK);
    assert_eq!(completed.body["status"], "completed");
    let missed = app.post(Some(&doctor), &no_show(&second), json!({})).await;
    assert_status(&missed, StatusCode::OK);
    assert_eq!(missed.body["status"], "no_show");

    let again = app.post(Some(&doctor), &complete(&first), json!({})).await;
    assert_status(&again, StatusCode::OK);
    assert_eq!(again.body["status"], "completed");
    let contradicting = app.post(Some(&doctor), &no_show(&first), json!({})).await;
    assert_problem(&contradicting, StatusCode::CONFLICT, "invalid_state");

    let seen = app
        .get(Some(&patient), &format!("/api/v1/appointments/{first}"))
        .await;
    assert_eq!(seen.body["status"], "completed");
    assert_problem(
        &app.cancel(&patient, &second).await,
        StatusCode::CONFLICT,
        "invalid_state",
    );

    let agenda = app
        .get(
            Some(&doctor),
            "/api/v1/doctor/agenda?from=2027-03-02&days=1",
        )
        .await;
    assert_status(&agenda, StatusCode::OK);
    let items = list(&agenda.body["appointments"]);
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], first.as_str());
    assert_eq!(items[0]["status"], "completed");
    assert_eq!(items[1]["status"], "no_show");
    assert_eq!(items[0]["patient"]["name"], "Ada Lovelace");
    assert_eq!(items[0]["patient"]["email"], "ada@example.org");
    assert_eq!(agenda.body["time_zone"], "Europe/Berlin");

    // Cancelled visits cannot be marked.
    app.clock.set(instant("2027-03-01T08:00:00Z"));
    let cancelled = app.book(&patient, &tuesday("11:00")).await;
    assert_status(&app.cancel(&patient, &cancelled).await, StatusCode::OK);
    app.clock.set(instant(&tuesday("11:10")));
    let refused = app
        .post(Some(&doctor), &complete(&cancelled), json!({}))
        .await;
    assert_problem(&refused, StatusCode::CONFLICT, "invalid_state");
}

async fn a_doctor_cannot_see_or_touch_another_doctors_agenda(app: TestApp) {
    let house = sign_in_as_doctor(&app, "house@example.org", app.doctor).await;
    let wilson = sign_in_as_doctor(&app, "wilson@example.org", app.limited_doctor).await;
    let patient = app.sign_in("ada@example.org").await;
    let appointment = app.book(&patient, &tuesday("09:30")).await;

    let own = app
        .get(Some(&house), "/api/v1/doctor/agenda?from=2027-03-02&days=7")
        .await;
    assert_eq!(list(&own.body["appointments"]).len(), 1);

    let theirs = app
        .get(
            Some(&wilson),
            "/api/v1/doctor/agenda?from=2027-03-02&days=7",
        )
        .await;
    assert_status(&theirs, StatusCode::OK);
    assert!(list(&theirs.body["appointments"]).is_empty());
    assert_eq!(theirs.body["doctor_id"], app.limited_doctor.to_string());

    let peek = app
        .get(
            Some(&wilson),
            &format!(
                "/api/v1/doctor/agenda?from=2027-03-02&days=7&doctor_id={}",
                app.doctor
            ),
        )
        .await;
    assert_problem(&peek, StatusCode::NOT_FOUND, "not_found");
    let schedule = app
        .get(
            Some(&wilson),
            &format!("/api/v1/doctor/schedule?doctor_id={}", app.doctor),
        )
        .await;
    assert_problem(&schedule, StatusCode::NOT_FOUND, "not_found");

    app.clock.set(instant(&tuesday("09:45")));
    let touch = app
        .post(
            Some(&wilson),
            &format!("/api/v1/doctor/appointments/{appointment}/complete"),
            json!({}),
        )
        .await;
    assert_problem(&touch, StatusCode::NOT_FOUND, "not_found");
    let as_patient = app
        .get(
            Some(&patient),
            "/api/v1/doctor/agenda?from=2027-03-02&days=7",
        )
        .await;
    assert_problem(&as_patient, StatusCode::FORBIDDEN, "forbidden");
    let seen = app
        .get(
            Some(&patient),
            &format!("/api/v1/appointments/{appointment}"),
        )
        .await;
    assert_eq!(seen.body["status"], "scheduled");
}

async fn admins_act_for_any_doctor_but_need_to_name_one(app: TestApp) {
    let admin = sign_in_as_admin(&app, "admin@example.org").await;
    let unnamed = app.get(Some(&admin), "/api/v1/doctor/schedule").await;
    assert_problem(&unnamed, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let named = app
        .get(
            Some(&admin),
            &format!("/api/v1/doctor/schedule?doctor_id={}", app.limited_doctor),
        )
        .await;
    assert_status(&named, StatusCode::OK);
    assert_eq!(named.body["rules"]["max_per_day"], 2);
    let unknown = app
        .get(
            Some(&admin),
            &format!("/api/v1/doctor/schedule?doctor_id={}", DoctorId::generate()),
        )
        .await;
    assert_problem(&unknown, StatusCode::NOT_FOUND, "not_found");

    let patient = app.sign_in("ada@example.org").await;
    let appointment = app.book(&patient, &tuesday("09:30")).await;
    app.clock.set(instant(&tuesday("09:35")));
    let done = app
        .post(
            Some(&admin),
            &format!("/api/v1/doctor/appointments/{appointment}/complete"),
            json!({}),
        )
        .await;
    assert_status(&done, StatusCode::OK);
    assert_eq!(done.body["status"], "completed");
}

fn doctor_body(specialty_id: &str, name: &str) -> Value {
    json!({
        "name": name,
        "specialty_id": specialty_id,
        "qualification": "MD, PhD",
        "years_experience": 9,
        "bio": "Headaches and sleep.",
        "fee": { "amount_minor": 9000, "currency": "EUR" },
        "photo_url": "https://example.org/vogel.jpg",
        "time_zone": "Europe/Berlin",
        "schedule": test_doctor_schedule(),
    })
}

async fn admin_creates_a_specialty_and_a_bookable_doctor(app: TestApp) {
    let admin = sign_in_as_admin(&app, "admin@example.org").await;
    let specialty = app
        .post(
            Some(&admin),
            "/api/v1/admin/specialties",
            json!({ "name": "Neurology" }),
        )
        .await;
    assert_status(&specialty, StatusCode::CREATED);
    let specialty_id = specialty.id();
    for taken in ["Neurology", " neurology ", "CARDIOLOGY"] {
        let duplicate = app
            .post(
                Some(&admin),
                "/api/v1/admin/specialties",
                json!({ "name": taken }),
            )
            .await;
        assert_problem(&duplicate, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    }
    let empty = app
        .post(
            Some(&admin),
            "/api/v1/admin/specialties",
            json!({ "name": "  " }),
        )
        .await;
    assert_problem(&empty, StatusCode::UNPROCESSABLE_ENTITY, "validation");

    let renamed = send(
        &app,
        Method::PATCH,
        Some(&admin),
        &format!("/api/v1/admin/specialties/{specialty_id}"),
        Some(json!({ "name": "Neurology & Sleep" })),
    )
    .await;
    assert_status(&renamed, StatusCode::OK);
    assert_eq!(renamed.body["name"], "Neurology & Sleep");

    let created = app
        .post(
            Some(&admin),
            "/api/v1/admin/doctors",
            doctor_body(&specialty_id, "Dr. Lena Vogel"),
        )
        .await;
    assert_status(&created, StatusCode::CREATED);
    assert_eq!(created.body["schedule"]["rules"]["slot_minutes"], 30);
    let doctor_id = created.id();

    let public = app.get(None, &format!("/api/v1/doctors/{doctor_id}")).await;
    assert_status(&public, StatusCode::OK);
    assert_eq!(public.body["specialty"], "Neurology & Sleep");
    assert_eq!(public.body["fee"]["amount_minor"], 9000);
    let specialties = app.get(None, "/api/v1/specialties").await;
    let neurology = list(&specialties.body)
        .iter()
        .find(|s| s["id"] == specialty_id.as_str())
        .expect("listed");
    assert_eq!(neurology["doctor_count"], 1);
    let found = app.get(None, "/api/v1/doctors?q=vogle").await;
    assert_eq!(found.body[0]["id"], doctor_id.as_str());

    // The words patients use find the specialty's doctors once the admin adds them.
    let before = app.get(None, "/api/v1/doctors?q=migraine").await;
    assert_eq!(list(&before.body).len(), 0, "{}", before.body);
    let keyworded = send(
        &app,
        Method::PATCH,
        Some(&admin),
        &format!("/api/v1/admin/specialties/{specialty_id}"),
        Some(json!({ "keywords": ["Migraine", " headache ", "migraine", "pins and needles"] })),
    )
    .await;
    assert_status(&keyworded, StatusCode::OK);
    assert_eq!(
        keyworded.body["name"], "Neurology & Sleep",
        "the name is kept"
    );
    assert_eq!(
        keyworded.body["keywords"],
        json!(["migraine", "headache", "pins and needles"])
    );
    for query in ["migraine", "headache", "migrane", "needles"] {
        let found = app.get(None, &format!("/api/v1/doctors?q={query}")).await;
        assert_eq!(
            found.body[0]["id"],
            doctor_id.as_str(),
            "{query}: {}",
            found.body
        );
    }
    let listed = app.get(None, "/api/v1/specialties").await;
    let neurology = list(&listed.body)
        .iter()
        .find(|s| s["id"] == specialty_id.as_str())
        .expect("listed");
    assert_eq!(neurology["keywords"][0], "migraine");
    let too_long = send(
        &app,
        Method::PATCH,
        Some(&admin),
        &format!("/api/v1/admin/specialties/{specialty_id}"),
        Some(json!({ "keywords": ["x".repeat(41)] })),
    )
    .await;
    assert_problem(&too_long, StatusCode::UNPROCESSABLE_ENTITY, "validation");

    let patient = app.sign_in("ada@example.org").await;
    let hold = app
        .post(
            Some(&patient),
            "/api/v1/holds",
            json!({ "doctor_id": doctor_id, "start": tuesday("09:00") }),
        )
        .await;
    assert_status(&hold, StatusCode::CREATED);

    let patched = send(
        &app,
        Method::PATCH,
        Some(&admin),
        &format!("/api/v1/admin/doctors/{doctor_id}"),
        Some(json!({ "bio": "Headaches, sleep and memory.", "photo_url": "" })),
    )
    .await;
    assert_status(&patched, StatusCode::OK);
    assert_eq!(patched.body["bio"], "Headaches, sleep and memory.");
    assert_eq!(patched.body["photo_url"], Value::Null);
    assert_eq!(patched.body["name"], "Dr. Lena Vogel");

    let mut bad_zone = doctor_body(&specialty_id, "Dr. Nowhere");
    bad_zone["time_zone"] = json!("Mars/Olympus");
    let bad_specialty = doctor_body(&uuid::Uuid::new_v4().to_string(), "Dr. Nobody");
    let mut bad_fee = doctor_body(&specialty_id, "Dr. Free");
    bad_fee["fee"] = json!({ "amount_minor": -1, "currency": "EUR" });
    for bad in [bad_zone, bad_specialty, bad_fee] {
        let reply = app.post(Some(&admin), "/api/v1/admin/doctors", bad).await;
        assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    }
    let missing = send(
        &app,
        Method::PATCH,
        Some(&admin),
        &format!("/api/v1/admin/doctors/{}", DoctorId::generate()),
        Some(json!({ "bio": "?" })),
    )
    .await;
    assert_problem(&missing, StatusCode::NOT_FOUND, "not_found");
}

async fn role(app: &TestApp, admin: &str, user_id: &str, body: Value) -> Reply {
    send(
        app,
        Method::PUT,
        Some(admin),
        &format!("/api/v1/admin/users/{user_id}/role"),
        Some(body),
    )
    .await
}

async fn admin_grants_the_doctor_role_and_it_takes_effect_at_once(app: TestApp) {
    let admin = sign_in_as_admin(&app, "admin@example.org").await;
    let admin_id = user_id(&app, &admin).await;
    let house = app.sign_in("house@example.org").await;
    let house_id = user_id(&app, &house).await;
    let before = app.get(Some(&house), "/api/v1/doctor/schedule").await;
    assert_problem(&before, StatusCode::FORBIDDEN, "forbidden");

    let without_profile = role(&app, &admin, &house_id, json!({ "role": "doctor" })).await;
    assert_problem(
        &without_profile,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    );
    let unknown_profile = role(
        &app,
        &admin,
        &house_id,
        json!({ "role": "doctor", "doctor_id": DoctorId::generate() }),
    )
    .await;
    assert_problem(
        &unknown_profile,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    );
    let unknown_role = role(&app, &admin, &house_id, json!({ "role": "surgeon" })).await;
    assert_eq!(unknown_role.problem_code(), "validation");

    let granted = role(
        &app,
        &admin,
        &house_id,
        json!({ "role": "doctor", "doctor_id": app.doctor }),
    )
    .await;
    assert_status(&granted, StatusCode::OK);
    assert_eq!(granted.body["role"], "doctor");
    assert_eq!(granted.body["doctor_id"], app.doctor.to_string());

    // The token House already holds works for the doctor routes at once.
    let after = app.get(Some(&house), "/api/v1/doctor/schedule").await;
    assert_status(&after, StatusCode::OK);
    let me = app.get(Some(&house), "/api/v1/me").await;
    assert_eq!(me.body["role"], "doctor");

    let wilson = app.sign_in("wilson@example.org").await;
    let wilson_id = user_id(&app, &wilson).await;
    let same_profile = role(
        &app,
        &admin,
        &wilson_id,
        json!({ "role": "doctor", "doctor_id": app.doctor }),
    )
    .await;
    assert_problem(
        &same_profile,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    );
    let own = role(&app, &admin, &admin_id, json!({ "role": "patient" })).await;
    assert_problem(&own, StatusCode::CONFLICT, "invalid_state");
    let nobody = role(
        &app,
        &admin,
        &uuid::Uuid::new_v4().to_string(),
        json!({ "role": "patient" }),
    )
    .await;
    assert_problem(&nobody, StatusCode::NOT_FOUND, "not_found");

    let demoted = role(&app, &admin, &house_id, json!({ "role": "patient" })).await;
    assert_status(&demoted, StatusCode::OK);
    assert_eq!(demoted.body["role"], "patient");
    assert_eq!(demoted.body["doctor_id"], Value::Null);
    let gone = app.get(Some(&house), "/api/v1/doctor/schedule").await;
    assert_problem(&gone, StatusCode::FORBIDDEN, "forbidden");

    // The profile is free again, and an admin may keep one too.
    let linked = role(
        &app,
        &admin,
        &wilson_id,
        json!({ "role": "admin", "doctor_id": app.doctor }),
    )
    .await;
    assert_status(&linked, StatusCode::OK);
    let wilson_agenda = app
        .get(
            Some(&wilson),
            "/api/v1/doctor/agenda?from=2027-03-02&days=1",
        )
        .await;
    assert_status(&wilson_agenda, StatusCode::OK);
    assert_eq!(wilson_agenda.body["doctor_id"], app.doctor.to_string());
}

async fn admin_finds_users_by_email_phone_or_name(app: TestApp) {
    let admin = sign_in_as_admin(&app, "admin@example.org").await;
    let ada = app.sign_in("ada@example.org").await;
    send(
        &app,
        Method::PATCH,
        Some(&ada),
        "/api/v1/me",
        Some(json!({ "name": "Ada Lovelace" })),
    )
    .await;
    let sent = app
        .post(
            None,
            "/api/v1/auth/otp",
            json!({ "phone": "+49 30 1234567" }),
        )
        .await;
    assert_status(&sent, StatusCode::ACCEPTED);
    let code = app.codes.last_code("+49301234567").expect("code");
    let phone_user = app
        .post(
            None,
            "/api/v1/auth/verify",
            json!({ "phone": "+49 30 1234567", "code": code }),
        )
        .await;
    assert_status(&phone_user, StatusCode::OK);

    let search = |q: &'static str| {
        let app = &app;
        let admin = &admin;
        async move {
            let reply = app
                .get(Some(admin), &format!("/api/v1/admin/users?q={q}"))
                .await;
            assert_status(&reply, StatusCode::OK);
            list(&reply.body).to_vec()
        }
    };
    let by_name = search("lovel").await;
    assert_eq!(by_name.len(), 1);
    assert_eq!(by_name[0]["email"], "ada@example.org");
    assert_eq!(by_name[0]["role"], "patient");
    let by_phone = search("30%20123").await;
    assert_eq!(by_phone.len(), 1);
    assert_eq!(by_phone[0]["phone"], "+49301234567");
    assert_eq!(search("EXAMPLE.ORG").await.len(), 2);
    assert!(search("%25").await.is_empty(), "% is not a wildcard");
    let everyone = app.get(Some(&admin), "/api/v1/admin/users").await;
    assert_eq!(list(&everyone.body).len(), 3);
}

async fn the_command_line_creates_or_promotes_an_admin(app: TestApp) {
    let ada = app.sign_in("ada@example.org").await;
    assert_problem(
        &app.get(Some(&ada), "/api/v1/admin/users").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let promoted = medibook::admin::add_admin(
        &app.database,
        &Identifier::Email(Email::parse("Ada@Example.org").unwrap()),
    )
    .await
    .expect("promoted");
    assert_eq!(promoted.role.as_str(), "admin");
    assert_status(
        &app.get(Some(&ada), "/api/v1/admin/users").await,
        StatusCode::OK,
    );

    let created = medibook::admin::add_admin(
        &app.database,
        &Identifier::Phone(PhoneNumber::parse("+44 20 7946 0000").unwrap()),
    )
    .await
    .expect("created");
    assert_eq!(created.role.as_str(), "admin");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE role = 'admin'")
            .await,
        2
    );
    // Twice is fine.
    medibook::admin::add_admin(
        &app.database,
        &Identifier::Email(Email::parse("ada@example.org").unwrap()),
    )
    .await
    .expect("idempotent");

    let entries = audit(&app, &ada, &format!("patient_id={}", created.id)).await;
    let grant = entries
        .iter()
        .find(|e| e["action"] == "role.change")
        .expect("the grant is audited");
    assert_eq!(grant["actor_user_id"], Value::Null);
    assert_eq!(grant["detail"], "patient -> admin (command line)");
}

async fn contact(app: &TestApp, body: Value) -> Reply {
    app.post(None, "/api/v1/contact", body).await
}

async fn the_contact_form_stores_messages_and_drops_the_honeypot_silently(app: TestApp) {
    let admin = sign_in_as_admin(&app, "admin@example.org").await;
    let sent = contact(
        &app,
        json!({
            "name": "Grace Hopper",
            "email": "Grace@Example.org",
            "message": "Do you offer evening appointments?\nThanks!",
            "website": "",
        }),
    )
    .await;
    assert_status(&sent, StatusCode::ACCEPTED);
    let bot = contact(
        &app,
        json!({
            "name": "Cheap pills",
            "email": "bot@spam.example",
            "message": "Buy now",
            "website": "https://spam.example",
        }),
    )
    .await;
    assert_status(&bot, StatusCode::ACCEPTED);
    assert_eq!(app.count("SELECT COUNT(*) FROM contact_messages").await, 1);

    for bad in [
        json!({ "name": "", "email": "a@example.org", "message": "Hi" }),
        json!({ "name": "A", "email": "not an email", "message": "Hi" }),
        json!({ "name": "A", "email": "a@example.org", "message": "x".repeat(5001) }),
        json!({ "name": "x".repeat(101), "email": "a@example.org", "message": "Hi" }),
    ] {
        assert_problem(
            &contact(&app, bad).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        );
    }

    let inbox = app
        .get(Some(&admin), "/api/v1/admin/contact-messages")
        .await;
    assert_status(&inbox, StatusCode::OK);
    let messages = list(&inbox.body);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["name"], "Grace Hopper");
    assert_eq!(messages[0]["email"], "grace@example.org");
    assert_eq!(
        messages[0]["message"],
        "Do you offer evening appointments?\nThanks!"
    );
}

async fn the_contact_form_is_rate_limited_per_client(app: TestApp) {
    let form = json!({ "name": "Grace", "email": "grace@example.org", "message": "Hello" });
    for _ in 0..10 {
        assert_status(&contact(&app, form.clone()).await, StatusCode::ACCEPTED);
    }
    let response = app
        .http
        .post(app.url("/api/v1/contact"))
        .json(&form)
        .send()
        .await
        .expect("request");
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .expect("Retry-After");
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    assert_problem(
        &Reply::from(response).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
    // Bots are limited too, before the honeypot.
    let mut bot = form.clone();
    bot["website"] = json!("https://spam.example");
    assert_problem(
        &contact(&app, bot).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM contact_messages").await, 10);
    app.advance(60);
    assert_status(&contact(&app, form).await, StatusCode::ACCEPTED);
}

async fn the_audit_trail_records_appointment_reads_and_changes_and_role_changes(app: TestApp) {
    let admin = sign_in_as_admin(&app, "admin@example.org").await;
    let admin_id = user_id(&app, &admin).await;
    let patient = app.sign_in("ada@example.org").await;
    let patient_id = user_id(&app, &patient).await;
    let other = app.sign_in("bob@example.org").await;

    let hold = app.hold(&patient, app.doctor, &tuesday("09:30")).await;
    let confirmed = app.confirm(&patient, &hold.id()).await;
    let appointment = confirmed.id();
    let read = app
        .get(
            Some(&patient),
            &format!("/api/v1/appointments/{appointment}"),
        )
        .await;
    assert_status(&read, StatusCode::OK);
    // A refused read by someone else is not a read of the patient's data.
    let refused = app
        .get(Some(&other), &format!("/api/v1/appointments/{appointment}"))
        .await;
    assert_status(&refused, StatusCode::NOT_FOUND);
    assert_status(&app.cancel(&patient, &appointment).await, StatusCode::OK);

    let entries = audit(&app, &admin, &format!("patient_id={patient_id}")).await;
    assert_eq!(
        actions(&entries),
        [
            "appointment.cancel",
            "appointment.read",
            "appointment.create",
            "hold.create",
        ],
        "newest first: {entries:?}"
    );
    for entry in &entries {
        assert_eq!(entry["actor_user_id"], patient_id.as_str());
        assert_eq!(entry["actor_role"], "patient");
        assert_eq!(entry["patient_id"], patient_id.as_str());
        assert_eq!(entry["doctor_id"], app.doctor.to_string());
        assert_eq!(entry["client_ip"], "127.0.0.1");
    }
    assert_eq!(entries[0]["subject_type"], "appointment");
    assert_eq!(entries[0]["subject_id"], appointment.as_str());

    let house = app.sign_in("house@example.org").await;
    let house_id = user_id(&app, &house).await;
    let granted = role(
        &app,
        &admin,
        &house_id,
        json!({ "role": "doctor", "doctor_id": app.doctor }),
    )
    .await;
    assert_status(&granted, StatusCode::OK);
    let agenda = app
        .get(Some(&house), "/api/v1/doctor/agenda?from=2027-03-02&days=1")
        .await;
    assert_status(&agenda, StatusCode::OK);

    let changes = audit(&app, &admin, &format!("patient_id={house_id}")).await;
    assert_eq!(actions(&changes), ["role.change"]);
    assert_eq!(changes[0]["actor_user_id"], admin_id.as_str());
    assert_eq!(changes[0]["actor_role"], "admin");
    assert_eq!(
        changes[0]["detail"],
        format!("patient -> doctor (doctor profile {})", app.doctor)
    );
    // The doctor's agenda read is on the patient's record too.
    let patient_entries = audit(&app, &admin, &format!("patient_id={patient_id}")).await;
    assert_eq!(patient_entries[0]["action"], "agenda.read");
    assert_eq!(patient_entries[0]["actor_user_id"], house_id.as_str());
    assert_eq!(patient_entries[0]["actor_role"], "doctor");
}

async fn the_audit_trail_never_holds_phone_numbers_and_filters_by_doctor_and_time(app: TestApp) {
    let admin = sign_in_as_admin(&app, "admin@example.org").await;
    let sent = app
        .post(
            None,
            "/api/v1/auth/otp",
            json!({ "phone": "+49 30 7654321" }),
        )
        .await;
    assert_status(&sent, StatusCode::ACCEPTED);
    let code = app.codes.last_code("+49307654321").expect("code");
    let session = app
        .post(
            None,
            "/api/v1/auth/verify",
            json!({ "phone": "+49 30 7654321", "code": code }),
        )
        .await;
    let token = session.body["token"].as_str().expect("token").to_owned();
    let phone_user = session.body["user"]["id"].as_str().expect("id").to_owned();
    app.book(&token, &tuesday("10:00")).await;
    app.get(Some(&admin), "/api/v1/admin/users?q=7654321").await;
    role(
        &app,
        &admin,
        &phone_user,
        json!({ "role": "doctor", "doctor_id": app.limited_doctor }),
    )
    .await;
    app.advance(120);
    let other = app.sign_in("ada@example.org").await;
    app.book(&other, &tuesday("11:00")).await;

    let everything = audit(&app, &admin, "").await;
    assert!(everything.len() >= 6, "{everything:?}");
    let text = serde_json::to_string(&everything).expect("json");
    assert!(
        !text.contains("7654321"),
        "a phone number in the trail: {text}"
    );
    assert!(!text.contains(&token), "a token in the trail");
    let times: Vec<Timestamp> = everything
        .iter()
        .map(|e| instant(e["at"].as_str().expect("at")))
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");

    let limited = audit(&app, &admin, &format!("doctor_id={}", app.limited_doctor)).await;
    assert_eq!(actions(&limited), ["role.change"]);
    let later = audit(&app, &admin, "from=2027-03-01T10:00:00Z").await;
    assert!(
        later
            .iter()
            .all(|e| instant(e["at"].as_str().unwrap()) >= instant("2027-03-01T10:00:00Z"))
    );
    assert!(actions(&later).contains(&"appointment.create".to_owned()));
    // Everything before 10:00 is what the first listing held, minus the two 10:00 bookings.
    let earlier = audit(&app, &admin, "to=2027-03-01T10:00:00Z").await;
    assert!(
        earlier
            .iter()
            .all(|e| instant(e["at"].as_str().unwrap()) < instant("2027-03-01T10:00:00Z"))
    );
    assert_eq!(earlier.len(), everything.len() - 2);
    let bad = app
        .get(Some(&admin), "/api/v1/admin/audit?from=yesterday")
        .await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "validation");
}

async fn the_database_refuses_to_update_or_delete_audit_entries(app: TestApp) {
    let patient = app.sign_in("ada@example.org").await;
    app.book(&patient, &tuesday("09:30")).await;
    let before = app.count("SELECT COUNT(*) FROM audit_log").await;
    assert!(before >= 2);

    for statement in [
        "UPDATE audit_log SET action = 'nothing.happened'",
        "UPDATE audit_log SET detail = NULL WHERE action = 'appointment.create'",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE action = 'hold.create'",
    ] {
        let result = medibook_store::sql::query(statement)
            .execute(&mut app.database.open_writing_connection().await.unwrap())
            .await;
        let error = result.expect_err(statement).to_string();
        assert!(
            error.contains("append-only"),
            "{statement}: unexpected error {error}"
        );
    }
    if app.backend == crate::harness::Backend::Postgres {
        let truncate = medibook_store::sql::query("TRUNCATE audit_log")
            .execute(app.database.pool())
            .await;
        assert!(truncate.is_err(), "TRUNCATE must fail");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log").await, before);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'nothing.happened'")
            .await,
        0
    );
}
