//! The FHIR R4 door: a client finds practitioners, schedules and free slots, books one as an
//! Appointment, reads and cancels it, and sees only what its user may see. Every resource the
//! server emits in these scenarios is validated by the R4B models of the PyPI package
//! `fhir.resources` (tests/support/fhir_check.py), an implementation independent of ours;
//! install it with `python3 -m pip install fhir.resources` (.ci/run does).

use medibook::settings::Settings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::backend_tests_with;
use crate::fhir_client::{Client, assert_outcome, booking, entries, free_slot};
use crate::harness::{TestApp, tuesday};
use crate::staff::{sign_in_as_admin, sign_in_as_doctor, user_id};

backend_tests_with!(
    as_configured;
    the_capability_statement_and_the_clinic_are_valid_fhir_with_the_apis_ids,
    a_patient_books_a_free_slot_as_an_appointment_and_cancels_it,
    a_taken_slot_and_bad_requests_get_operation_outcomes,
    patients_doctors_and_the_desk_each_see_their_own_share,
    searches_are_paged_with_links_that_lead_on;
    behind_a_public_address;
    links_and_locations_name_the_public_address_not_the_requests_host,
);

fn as_configured(_: &mut Settings) {}

fn behind_a_public_address(settings: &mut Settings) {
    settings.public_url = Some("https://clinic.example/".to_owned());
}

async fn links_and_locations_name_the_public_address_not_the_requests_host(app: TestApp) {
    let mut client = Client::new(&app);
    let token = app.sign_in("fhir-public@example.org").await;
    let doctor = app.doctor.to_string();
    let slot = free_slot(&mut client, &doctor, &tuesday("10:00")).await;
    let (booked, location) = client.book(Some(&token), booking(&slot, "Check-up")).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let id = booked.body["id"].as_str().expect("id");
    assert_eq!(
        location.as_deref(),
        Some(format!("https://clinic.example/fhir/r4/Appointment/{id}").as_str())
    );
    let page = client.get(None, "Practitioner?_count=1").await;
    assert!(
        page.body["entry"][0]["fullUrl"]
            .as_str()
            .is_some_and(|url| url.starts_with("https://clinic.example/fhir/r4/Practitioner/")),
        "{}",
        page.body
    );
    for link in page.body["link"].as_array().expect("links") {
        assert!(
            link["url"]
                .as_str()
                .is_some_and(|url| url.starts_with("https://clinic.example/fhir/r4/")),
            "{link}"
        );
    }
    client.validate().await;
}

async fn the_capability_statement_and_the_clinic_are_valid_fhir_with_the_apis_ids(app: TestApp) {
    let mut client = Client::new(&app);
    let capability = client.get(None, "metadata").await;
    assert_eq!(capability.status, StatusCode::OK);
    assert_eq!(capability.body["resourceType"], "CapabilityStatement");
    assert_eq!(capability.body["fhirVersion"], "4.0.1");
    let kinds: Vec<&str> = capability.body["rest"][0]["resource"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["type"].as_str())
        .collect();
    for kind in [
        "Practitioner",
        "PractitionerRole",
        "HealthcareService",
        "Schedule",
        "Slot",
        "Appointment",
        "Patient",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }

    let doctor = app.doctor.to_string();
    let practitioners = client.search(None, "Practitioner").await;
    let ids: Vec<&str> = practitioners
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    let listed = app.get(None, "/api/v1/doctors").await;
    for listed_doctor in listed.body.as_array().expect("doctors") {
        assert!(ids.contains(&listed_doctor["id"].as_str().expect("id")));
    }
    let read = client.get(None, &format!("Practitioner/{doctor}")).await;
    assert_eq!(read.body["id"], doctor.as_str());
    let name = read.body["name"][0]["text"]
        .as_str()
        .expect("name")
        .to_owned();
    let by_name = client
        .search(
            None,
            &format!(
                "Practitioner?name={}",
                name.split(' ').next_back().unwrap_or_default()
            ),
        )
        .await;
    assert!(by_name.iter().any(|p| p["id"] == doctor.as_str()));

    let roles = client
        .search(
            None,
            &format!("PractitionerRole?practitioner=Practitioner/{doctor}"),
        )
        .await;
    assert_eq!(roles.len(), 1);
    let service = roles[0]["healthcareService"][0]["reference"]
        .as_str()
        .expect("service")
        .to_owned();
    let service = client.get(None, &service).await;
    assert_eq!(service.status, StatusCode::OK);
    assert_eq!(service.body["resourceType"], "HealthcareService");
    client.search(None, "HealthcareService").await;

    let schedules = client
        .search(None, &format!("Schedule?actor=Practitioner/{doctor}"))
        .await;
    assert_eq!(schedules.len(), 1);
    assert_eq!(schedules[0]["id"], doctor.as_str());

    // Tuesday 9:00–12:00 and 13:00–17:00 in Berlin, half-hour slots: 14, all free.
    let slot = free_slot(&mut client, &doctor, &tuesday("09:00")).await;
    let tuesday_slots = client
        .search(
            None,
            &format!("Slot?schedule=Schedule/{doctor}&start=2027-03-02&_count=100"),
        )
        .await;
    assert_eq!(tuesday_slots.len(), 14, "{tuesday_slots:#?}");
    let again = client
        .get(None, &format!("Slot/{}", slot["id"].as_str().expect("id")))
        .await;
    assert_eq!(again.body, slot, "a slot's id is stable");
    // By id, beyond the default week: the search looks where the id says.
    let later = format!(
        "{}{:016x}",
        &slot["id"].as_str().expect("id")[..32],
        "2027-03-16T08:00:00Z"
            .parse::<jiff::Timestamp>()
            .expect("instant")
            .as_second()
    );
    let by_id = client.search(None, &format!("Slot?_id={later}")).await;
    assert_eq!(by_id.len(), 1, "{by_id:?}");
    assert_eq!(by_id[0]["id"], later.as_str());
    let everyone = client
        .search(
            None,
            "Slot?start=ge2027-03-02T08:00:00Z&start=lt2027-03-02T09:00:00Z",
        )
        .await;
    assert!(everyone.iter().any(|s| s["id"] == slot["id"]));
    let (from, to) = ("2027-03-02T08:00:00Z", "2027-03-02T09:00:00Z");
    for slot in &everyone {
        let start = slot["start"].as_str().expect("start");
        assert!(from <= start && start < to, "{start} is outside the search");
    }
    let doctors: std::collections::BTreeSet<&str> = everyone
        .iter()
        .filter_map(|s| s["schedule"]["reference"].as_str())
        .collect();
    assert!(doctors.len() >= 2, "every doctor's slots: {doctors:?}");
    client.validate().await;
}

async fn a_patient_books_a_free_slot_as_an_appointment_and_cancels_it(app: TestApp) {
    let mut client = Client::new(&app);
    let token = app.sign_in("fhir-ada@example.org").await;
    let doctor = app.doctor.to_string();
    let slot = free_slot(&mut client, &doctor, &tuesday("10:00")).await;

    let (booked, location) = client
        .book(Some(&token), booking(&slot, "Palpitations"))
        .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let id = booked.body["id"].as_str().expect("id").to_owned();
    let location = location.expect("a Location header");
    assert!(
        location.ends_with(&format!("/fhir/r4/Appointment/{id}")),
        "{location}"
    );
    assert_eq!(booked.body["status"], "booked");
    assert_eq!(
        booked.body["slot"][0]["reference"],
        format!("Slot/{}", slot["id"].as_str().unwrap_or_default())
    );
    let me = user_id(&app, &token).await;
    assert_eq!(
        booked.body["participant"][0]["actor"]["reference"],
        format!("Patient/{me}")
    );

    // The same appointment through the JSON API, and the slot is taken everywhere.
    let through_api = app
        .get(Some(&token), &format!("/api/v1/appointments/{id}"))
        .await;
    assert_eq!(through_api.status, StatusCode::OK, "{}", through_api.body);
    assert_eq!(through_api.body["reason"], "Palpitations");
    assert_eq!(
        app.slot_status(app.doctor, &tuesday("10:00"))
            .await
            .as_deref(),
        Some("booked")
    );
    let taken = client
        .get(
            None,
            &format!("Slot/{}", slot["id"].as_str().unwrap_or_default()),
        )
        .await;
    assert_eq!(taken.body["status"], "busy");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'appointment.create'")
            .await,
        1,
        "booked through the same audited core"
    );

    let read = client.get(Some(&token), &format!("Appointment/{id}")).await;
    assert_eq!(read.body["id"], id.as_str());
    let mine = client
        .search(Some(&token), &format!("Appointment?patient=Patient/{me}"))
        .await;
    assert_eq!(mine.len(), 1);

    let patch = json!([{ "op": "replace", "path": "/status", "value": "cancelled" }]);
    let (cancelled, _) = client
        .send(
            Method::PATCH,
            Some(&token),
            &format!("Appointment/{id}"),
            Some(("application/json-patch+json", patch)),
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(
        app.slot_status(app.doctor, &tuesday("10:00"))
            .await
            .as_deref(),
        Some("available"),
        "the slot is free again"
    );
    // PUT with the same status changes nothing; any other change is refused.
    let mut same = cancelled.body.clone();
    let (put, _) = client
        .send(
            Method::PUT,
            Some(&token),
            &format!("Appointment/{id}"),
            Some(("application/fhir+json", same.clone())),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    same["status"] = json!("booked");
    let (refused, _) = client
        .send(
            Method::PUT,
            Some(&token),
            &format!("Appointment/{id}"),
            Some(("application/fhir+json", same)),
        )
        .await;
    assert_outcome(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "business-rule",
        "validation",
    );

    // A second booking, cancelled by PUT.
    let slot = free_slot(&mut client, &doctor, &tuesday("11:00")).await;
    let (second, _) = client.book(Some(&token), booking(&slot, "Follow-up")).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    let mut cancel = second.body.clone();
    cancel["status"] = json!("cancelled");
    let second_id = second.body["id"].as_str().expect("id").to_owned();
    let (put, _) = client
        .send(
            Method::PUT,
            Some(&token),
            &format!("Appointment/{second_id}"),
            Some(("application/fhir+json", cancel)),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.body["status"], "cancelled");
    let cancelled = client
        .search(Some(&token), "Appointment?status=cancelled")
        .await;
    assert_eq!(cancelled.len(), 2);
    client.validate().await;
}

async fn a_taken_slot_and_bad_requests_get_operation_outcomes(app: TestApp) {
    let mut client = Client::new(&app);
    let ada = app.sign_in("fhir-ada@example.org").await;
    let bob = app.sign_in("fhir-bob@example.org").await;
    let doctor = app.doctor.to_string();
    let slot = free_slot(&mut client, &doctor, &tuesday("09:30")).await;

    let (anonymous, _) = client.book(None, booking(&slot, "Check-up")).await;
    assert_outcome(
        &anonymous,
        StatusCode::UNAUTHORIZED,
        "login",
        "unauthorized",
    );
    let (first, _) = client.book(Some(&ada), booking(&slot, "Check-up")).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let (taken, _) = client.book(Some(&bob), booking(&slot, "Check-up")).await;
    assert_outcome(&taken, StatusCode::CONFLICT, "conflict", "slot_taken");
    assert_eq!(app.overlapping_claims().await, 0);

    let mut unknown = booking(&slot, "Check-up");
    unknown["slot"][0]["reference"] = json!("Slot/not-one-of-ours");
    let (unknown, _) = client.book(Some(&bob), unknown).await;
    assert_outcome(&unknown, StatusCode::NOT_FOUND, "not-found", "not_found");
    let mut no_slot = booking(&slot, "Check-up");
    no_slot["slot"] = json!([]);
    let (no_slot, _) = client.book(Some(&bob), no_slot).await;
    assert_outcome(&no_slot, StatusCode::BAD_REQUEST, "invalid", "validation");
    // A slot id of the doctor at a time they do not work (Sunday).
    let sunday = format!(
        "{}{:016x}",
        &slot["id"].as_str().expect("id")[..32],
        "2027-03-07T09:00:00Z"
            .parse::<jiff::Timestamp>()
            .expect("instant")
            .as_second()
    );
    let mut closed = booking(&slot, "Check-up");
    closed["slot"][0]["reference"] = json!(format!("Slot/{sunday}"));
    let (closed, _) = client.book(Some(&bob), closed).await;
    assert_outcome(
        &closed,
        StatusCode::UNPROCESSABLE_ENTITY,
        "business-rule",
        "slot_unavailable",
    );
    let other = free_slot(&mut client, &doctor, &tuesday("14:00")).await;
    let mut no_reason = booking(&other, "x");
    no_reason
        .as_object_mut()
        .expect("object")
        .remove("reasonCode");
    let (no_reason, _) = client.book(Some(&bob), no_reason).await;
    assert_outcome(
        &no_reason,
        StatusCode::UNPROCESSABLE_ENTITY,
        "business-rule",
        "validation",
    );
    let (not_json, _) = client
        .send(
            Method::POST,
            Some(&bob),
            "Appointment",
            Some(("application/fhir+json", json!("{"))),
        )
        .await;
    assert_outcome(&not_json, StatusCode::BAD_REQUEST, "invalid", "validation");
    assert_eq!(
        app.slot_status(app.doctor, &tuesday("14:00"))
            .await
            .as_deref(),
        Some("available"),
        "a refused booking holds nothing"
    );

    let id = first.body["id"].as_str().expect("id");
    let someone_elses = client.get(Some(&bob), &format!("Appointment/{id}")).await;
    assert_outcome(
        &someone_elses,
        StatusCode::NOT_FOUND,
        "not-found",
        "not_found",
    );
    let patch = json!([{ "op": "replace", "path": "/start", "value": "2027-03-02T10:00:00Z" }]);
    let (moved, _) = client
        .send(
            Method::PATCH,
            Some(&ada),
            &format!("Appointment/{id}"),
            Some(("application/json-patch+json", patch)),
        )
        .await;
    assert_outcome(
        &moved,
        StatusCode::UNPROCESSABLE_ENTITY,
        "business-rule",
        "validation",
    );
    let unknown_param = client.get(None, "Practitioner?colour=blue").await;
    assert_outcome(
        &unknown_param,
        StatusCode::BAD_REQUEST,
        "invalid",
        "validation",
    );
    let too_wide = client
        .get(None, "Slot?start=ge2027-03-01&start=lt2027-06-01")
        .await;
    assert_outcome(&too_wide, StatusCode::BAD_REQUEST, "invalid", "validation");
    let far = client.get(None, "Slot?start=9999-12-30").await;
    assert_outcome(&far, StatusCode::BAD_REQUEST, "invalid", "validation");
    let xml = client.get(None, "Practitioner?_format=xml").await;
    assert_outcome(
        &xml,
        StatusCode::NOT_ACCEPTABLE,
        "not-supported",
        "not_acceptable",
    );
    let shouting = client
        .get(None, &format!("Practitioner/{}", doctor.to_uppercase()))
        .await;
    assert_outcome(&shouting, StatusCode::NOT_FOUND, "not-found", "not_found");
    let two = client
        .get(Some(&ada), "Appointment?patient=Patient/a,Patient/b")
        .await;
    assert_outcome(&two, StatusCode::BAD_REQUEST, "invalid", "validation");
    // A patient cannot book for someone else, however the reference is written.
    let bob_id = crate::staff::user_id(&app, &bob).await;
    let mut for_bob = booking(&other, "Check-up");
    for_bob["participant"] = json!([{
        "actor": { "reference": format!("https://elsewhere.example/fhir/r4/Patient/{bob_id}") },
        "status": "accepted",
    }]);
    let (for_bob, _) = client.book(Some(&ada), for_bob).await;
    assert_outcome(&for_bob, StatusCode::FORBIDDEN, "forbidden", "forbidden");
    let mut renamed = first.body.clone();
    renamed["reasonCode"] = json!([{ "text": "Something else" }]);
    let (renamed, _) = client
        .send(
            Method::PUT,
            Some(&ada),
            &format!("Appointment/{id}"),
            Some(("application/fhir+json", renamed)),
        )
        .await;
    assert_outcome(
        &renamed,
        StatusCode::UNPROCESSABLE_ENTITY,
        "business-rule",
        "validation",
    );
    let nowhere = client.get(None, "Medication/1").await;
    assert_outcome(&nowhere, StatusCode::NOT_FOUND, "not-found", "not_found");
    let no_practitioner = client.get(None, "Practitioner/nobody").await;
    assert_outcome(
        &no_practitioner,
        StatusCode::NOT_FOUND,
        "not-found",
        "not_found",
    );
    client.validate().await;
}

async fn patients_doctors_and_the_desk_each_see_their_own_share(app: TestApp) {
    let mut client = Client::new(&app);
    let ada = app.sign_in("fhir-ada@example.org").await;
    let bob = app.sign_in("fhir-bob@example.org").await;
    let ada_id = user_id(&app, &ada).await;
    let bob_id = user_id(&app, &bob).await;
    let renamed = crate::staff::send(
        &app,
        Method::PATCH,
        Some(&ada),
        "/api/v1/me",
        Some(json!({ "name": "Ada Lovelace", "date_of_birth": "1990-12-10" })),
    )
    .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    let doctor = app.doctor.to_string();
    for (token, time) in [(&ada, "09:00"), (&bob, "09:30")] {
        let slot = free_slot(&mut client, &doctor, &tuesday(time)).await;
        let (booked, _) = client.book(Some(token), booking(&slot, "Check-up")).await;
        assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    }

    let own = client.search(Some(&ada), "Appointment").await;
    assert_eq!(own.len(), 1);
    let bobs = client
        .search(Some(&ada), &format!("Appointment?patient={bob_id}"))
        .await;
    assert!(bobs.is_empty(), "a patient never sees another's");
    let me = client.search(Some(&ada), "Patient").await;
    assert_eq!(me.len(), 1);
    assert_eq!(me[0]["id"], ada_id.as_str());
    assert_eq!(me[0]["birthDate"], "1990-12-10");
    let other = client.get(Some(&ada), &format!("Patient/{bob_id}")).await;
    assert_outcome(&other, StatusCode::NOT_FOUND, "not-found", "not_found");
    let anonymous = client.get(None, "Patient").await;
    assert_outcome(
        &anonymous,
        StatusCode::UNAUTHORIZED,
        "login",
        "unauthorized",
    );

    let treating = sign_in_as_doctor(&app, "fhir-doctor@example.org", app.doctor).await;
    let agenda = client
        .search(
            Some(&treating),
            "Appointment?date=ge2027-03-02&date=lt2027-03-03",
        )
        .await;
    assert_eq!(agenda.len(), 2);
    let patient = client
        .get(Some(&treating), &format!("Patient/{ada_id}"))
        .await;
    assert_eq!(patient.status, StatusCode::OK, "{}", patient.body);
    assert_eq!(patient.body["name"][0]["text"], "Ada Lovelace");
    let elsewhere = sign_in_as_doctor(&app, "fhir-other@example.org", app.limited_doctor).await;
    let none = client
        .search(
            Some(&elsewhere),
            "Appointment?date=ge2027-03-02&date=lt2027-03-03",
        )
        .await;
    assert!(none.is_empty(), "another doctor's agenda stays theirs");
    let refused = client
        .get(Some(&elsewhere), &format!("Patient/{ada_id}"))
        .await;
    assert_outcome(&refused, StatusCode::NOT_FOUND, "not-found", "not_found");
    let (cancel, _) = client
        .send(
            Method::PATCH,
            Some(&treating),
            &format!("Appointment/{}", own[0]["id"].as_str().expect("id")),
            Some((
                "application/json-patch+json",
                json!([{ "op": "replace", "path": "/status", "value": "cancelled" }]),
            )),
        )
        .await;
    assert_outcome(&cancel, StatusCode::FORBIDDEN, "forbidden", "forbidden");

    let admin = sign_in_as_admin(&app, "fhir-admin@example.org").await;
    // The front desk books for a patient who phoned, naming them; staff must name someone.
    let desk =
        crate::front_desk::sign_in_as_receptionist(&app, &admin, "fhir-desk@example.org").await;
    let slot = free_slot(&mut client, &doctor, &tuesday("15:00")).await;
    let mut for_ada = booking(&slot, "Phoned in");
    let (unnamed, _) = client.book(Some(&desk), for_ada.clone()).await;
    assert_outcome(
        &unnamed,
        StatusCode::UNPROCESSABLE_ENTITY,
        "business-rule",
        "validation",
    );
    for_ada["participant"] = json!([{
        "actor": { "reference": format!("{}/fhir/r4/Patient/{ada_id}", app.base) },
        "status": "accepted",
    }]);
    let (booked, _) = client.book(Some(&desk), for_ada).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    assert_eq!(
        booked.body["participant"][0]["actor"]["reference"],
        format!("Patient/{ada_id}")
    );
    let desk_found = client.search(Some(&desk), "Patient?name=Lovelace").await;
    assert_eq!(desk_found.len(), 1);
    let found = client.search(Some(&admin), "Patient?name=Lovelace").await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], ada_id.as_str());
    let clinic = client
        .search(Some(&admin), "Appointment?date=2027-03-02&status=booked")
        .await;
    assert_eq!(clinic.len(), 3);
    let for_ada = client
        .search(Some(&admin), &format!("Appointment?actor=Patient/{ada_id}"))
        .await;
    assert_eq!(for_ada.len(), 2);
    assert!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'patient_record.read'")
            .await
            >= 1,
        "reading someone else's record is audited"
    );
    client.validate().await;
}

async fn searches_are_paged_with_links_that_lead_on(app: TestApp) {
    let mut client = Client::new(&app);
    let doctor = app.doctor.to_string();
    let first = client
        .get(
            None,
            &format!("Slot?schedule.actor=Practitioner/{doctor}&start=2027-03-02&_count=5"),
        )
        .await;
    assert_eq!(first.body["total"], 14);
    let mut seen: Vec<Value> = entries(&first.body);
    assert_eq!(seen.len(), 5);
    let mut page = first.body;
    while let Some(next) = page["link"]
        .as_array()
        .and_then(|links| links.iter().find(|l| l["relation"] == "next"))
        .and_then(|l| l["url"].as_str())
        .map(str::to_owned)
    {
        let path = next
            .split("/fhir/r4/")
            .nth(1)
            .expect("a link to the FHIR base")
            .to_owned();
        page = client.get(None, &path).await.body;
        seen.extend(entries(&page));
    }
    assert_eq!(seen.len(), 14);
    let mut ids: Vec<&str> = seen.iter().filter_map(|s| s["id"].as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 14, "no slot twice, none left out");
    client.validate().await;
}
