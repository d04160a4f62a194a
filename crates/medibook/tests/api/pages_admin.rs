//! The admin console's pages over plain HTTP, as a browser without JavaScript uses them: who may
//! open them, creating a specialty and a doctor that patients then find, editing a doctor,
//! what mistakes say, giving roles and the core's refusals, the contact inbox, searching the
//! audit trail, and forms from other sites refused.

#![allow(clippy::expect_used)]

use reqwest::StatusCode;
use reqwest::header;
use serde_json::json;

use crate::backend_tests;
use crate::harness::TestApp;
use crate::pages::{Page, cookie_pair, get_page, post_form, sign_in_on_the_page};
use crate::staff::{set_role_in_database, user_id};

backend_tests!(
    strangers_sign_in_and_patients_and_doctors_are_refused,
    an_admin_creates_a_specialty_and_a_doctor_whom_patients_find,
    editing_a_doctor_saves_and_mistakes_are_explained_by_their_fields,
    specialty_names_must_be_given_and_unique,
    admins_give_roles_and_the_refusals_are_explained,
    the_messages_page_lists_what_the_contact_form_received,
    the_audit_search_finds_the_admins_own_actions_and_filters_work,
    admin_forms_sent_from_other_sites_are_refused,
);

/// Every page of the console, as a `GET` path.
const ADMIN_PAGES: [&str; 9] = [
    "/admin",
    "/admin/doctors",
    "/admin/doctors/new",
    "/admin/specialties",
    "/admin/people",
    "/admin/people?q=example",
    "/admin/messages",
    "/admin/audit",
    "/admin/outbox",
];

const PHOTO: &str = "https://images.example.org/lena-vogel.jpg";

/// Signs `email` in on the pages and returns the session cookie.
async fn signed_in(app: &TestApp, email: &str) -> String {
    let page = sign_in_on_the_page(app, email, "/").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    cookie_pair(&page)
}

/// Signs `email` in on the pages as an admin (the role as stored, which the console reads).
async fn admin_cookie(app: &TestApp, email: &str) -> String {
    let cookie = signed_in(app, email).await;
    set_role_in_database(app, email, "admin", None).await;
    cookie
}

fn location(page: &Page) -> String {
    page.header(header::LOCATION).to_owned()
}

#[track_caller]
fn assert_page(page: &Page, status: StatusCode) {
    assert_eq!(page.status, status, "{}", page.html);
    page.assert_html();
}

/// The id of the specialty named `name`, from the public API.
async fn specialty_id(app: &TestApp, name: &str) -> String {
    let specialties = app.get(None, "/api/v1/specialties").await;
    specialties
        .body
        .as_array()
        .expect("a list")
        .iter()
        .find(|s| s["name"] == name)
        .and_then(|s| s["id"].as_str())
        .unwrap_or_else(|| panic!("no specialty {name}: {}", specialties.body))
        .to_owned()
}

async fn doctor_count(app: &TestApp) -> usize {
    let doctors = app.get(None, "/api/v1/doctors").await;
    doctors.body.as_array().expect("a list").len()
}

/// A complete, valid doctor form.
fn doctor_form<'a>(specialty: &'a str, name: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", name),
        ("specialty_id", specialty),
        ("qualification", "MD, Dermatology board"),
        ("years_experience", "9"),
        ("fee_amount", "80.00"),
        ("currency", "EUR"),
        ("bio", "Skin, hair and nails."),
        ("photo_url", PHOTO),
        ("time_zone", "Europe/Vienna"),
    ]
}

async fn strangers_sign_in_and_patients_and_doctors_are_refused(app: TestApp) {
    for path in ADMIN_PAGES {
        let page = get_page(&app, path, None).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert!(
            location(&page).starts_with("/login?next=%2Fadmin"),
            "{path}"
        );
    }
    let posted = post_form(&app, "/admin/specialties", &[("name", "Sneaky")], None).await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER);
    assert!(location(&posted).starts_with("/login?next="));

    let patient = signed_in(&app, "pat@example.org").await;
    let doctor = signed_in(&app, "doc@example.org").await;
    set_role_in_database(&app, "doc@example.org", "doctor", Some(app.doctor)).await;
    for cookie in [&patient, &doctor] {
        for path in ADMIN_PAGES {
            let page = get_page(&app, path, Some(cookie)).await;
            assert_page(&page, StatusCode::FORBIDDEN);
            assert!(page.html.contains("administrators"), "{}", page.html);
        }
        let posted = post_form(
            &app,
            "/admin/specialties",
            &[("name", "Sneaky")],
            Some(cookie),
        )
        .await;
        assert_eq!(posted.status, StatusCode::FORBIDDEN);
    }
    let specialties = app.get(None, "/api/v1/specialties").await;
    assert!(!specialties.body.to_string().contains("Sneaky"));

    // The role is read as stored now: the same session becomes an admin's.
    set_role_in_database(&app, "pat@example.org", "admin", None).await;
    for path in ADMIN_PAGES {
        let page = get_page(&app, path, Some(&patient)).await;
        assert_page(&page, StatusCode::OK);
        assert!(
            page.html
                .contains("<nav class=\"console-nav\" aria-label=\"Admin console\">"),
            "{path}"
        );
    }
    let overview = get_page(&app, "/admin", Some(&patient)).await;
    assert!(overview.html.contains("2 doctors"), "{}", overview.html);
    assert!(overview.html.contains("1 specialty"), "{}", overview.html);
    assert!(overview.html.contains("0 messages"), "{}", overview.html);
}

async fn an_admin_creates_a_specialty_and_a_doctor_whom_patients_find(app: TestApp) {
    let admin = admin_cookie(&app, "boss@example.org").await;

    let added = post_form(
        &app,
        "/admin/specialties",
        &[("name", "Dermatology")],
        Some(&admin),
    )
    .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
    assert_eq!(location(&added), "/admin/specialties?notice=added");
    let list = get_page(&app, "/admin/specialties?notice=added", Some(&admin)).await;
    assert_page(&list, StatusCode::OK);
    assert!(list.html.contains("The specialty is added."));
    assert!(list.html.contains(">Dermatology</a>"), "{}", list.html);
    let dermatology = specialty_id(&app, "Dermatology").await;

    let new_form = get_page(&app, "/admin/doctors/new", Some(&admin)).await;
    assert_page(&new_form, StatusCode::OK);
    assert!(new_form.html.contains(&format!(
        "<option value=\"{dermatology}\">Dermatology</option>"
    )));
    assert!(new_form.html.contains("<datalist id=\"time-zone-list\">"));
    assert!(new_form.html.contains("hours in the doctor console"));

    let created = post_form(
        &app,
        "/admin/doctors/new",
        &doctor_form(&dermatology, "Dr. Lena Vogel"),
        Some(&admin),
    )
    .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.html);
    let edit_path = location(&created);
    assert!(
        edit_path.starts_with("/admin/doctors/") && edit_path.ends_with("?notice=created"),
        "{edit_path}"
    );
    let id = edit_path
        .trim_start_matches("/admin/doctors/")
        .trim_end_matches("?notice=created")
        .to_owned();

    let edit = get_page(&app, &edit_path, Some(&admin)).await;
    assert_page(&edit, StatusCode::OK);
    assert!(edit.html.contains("The doctor is created"), "{}", edit.html);
    assert!(
        edit.html.contains(&format!(
            "<img class=\"admin-photo\" src=\"{PHOTO}\" alt=\"Photo of Dr. Lena Vogel\""
        )),
        "{}",
        edit.html
    );
    assert!(edit.html.contains(&format!("/doctor/hours?doctor_id={id}")));
    assert!(edit.html.contains(&format!("/doctor?doctor_id={id}")));

    // Stored as typed, with the default hours.
    let stored = app.get(None, &format!("/api/v1/doctors/{id}")).await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.body);
    assert_eq!(stored.body["name"], "Dr. Lena Vogel");
    assert_eq!(stored.body["specialty_id"], dermatology.as_str());
    assert_eq!(stored.body["fee"]["amount_minor"], 8000);
    assert_eq!(stored.body["fee"]["currency"], "EUR");
    assert_eq!(stored.body["photo_url"], PHOTO);
    assert_eq!(stored.body["time_zone"], "Europe/Vienna");
    // Tuesday 2 March 2027 09:00 Vienna opens with the default schedule.
    assert_eq!(
        app.slot_status(
            medibook_core::ids::DoctorId::from_uuid(id.parse().expect("uuid")),
            "2027-03-02T09:00:00+01:00"
        )
        .await
        .as_deref(),
        Some("available")
    );

    // Patients find the new doctor on the public pages, with the photo.
    let search = get_page(&app, "/search?q=vogel", None).await;
    assert_page(&search, StatusCode::OK);
    assert!(search.html.contains("Dr. Lena Vogel"), "{}", search.html);
    assert!(search.html.contains(&format!("src=\"{PHOTO}\"")));
    let profile = get_page(&app, &format!("/doctors/{id}"), None).await;
    assert_page(&profile, StatusCode::OK);
    assert!(
        profile
            .html
            .contains(&format!("src=\"{PHOTO}\" alt=\"Photo of Dr. Lena Vogel\"")),
        "{}",
        profile.html
    );
    assert!(profile.html.contains("€80.00"));
    assert!(profile.html.contains("Dermatology"));

    // The doctors table lists them with their console links.
    let doctors = get_page(&app, "/admin/doctors", Some(&admin)).await;
    assert_page(&doctors, StatusCode::OK);
    assert!(doctors.html.contains("Dr. Lena Vogel"));
    assert!(doctors.html.contains("Europe/Vienna"));
    assert!(
        doctors
            .html
            .contains(&format!("href=\"/doctor/hours?doctor_id={id}\""))
    );
    assert!(
        doctors
            .html
            .contains(&format!("href=\"/doctor?doctor_id={id}\""))
    );

    // Audited as the API does it.
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'doctor.create' \
             AND doctor_id = '{id}' AND actor_role = 'admin'"
        ))
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'specialty.create'")
            .await,
        1
    );
}

async fn editing_a_doctor_saves_and_mistakes_are_explained_by_their_fields(app: TestApp) {
    let admin = admin_cookie(&app, "boss@example.org").await;
    let cardiology = specialty_id(&app, "Cardiology").await;
    let path = format!("/admin/doctors/{}", app.doctor);

    let form = get_page(&app, &path, Some(&admin)).await;
    assert_page(&form, StatusCode::OK);
    assert!(form.html.contains("value=\"Dr. Anna Smith\""));
    assert!(form.html.contains("value=\"65.00\""), "{}", form.html);
    assert!(!form.html.contains("class=\"admin-photo\""));

    let mut changed = doctor_form(&cardiology, "Dr. Anna Smith-Jones");
    changed.retain(|(name, _)| *name != "fee_amount" && *name != "time_zone");
    changed.push(("fee_amount", "72.5"));
    changed.push(("time_zone", "Europe/Berlin"));
    let saved = post_form(&app, &path, &changed, Some(&admin)).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    assert_eq!(location(&saved), format!("{path}?notice=saved"));
    let shown = get_page(&app, &location(&saved), Some(&admin)).await;
    assert!(shown.html.contains("Your changes are saved."));
    assert!(shown.html.contains("value=\"72.50\""));
    assert!(shown.html.contains(&format!("src=\"{PHOTO}\"")));
    let stored = app
        .get(None, &format!("/api/v1/doctors/{}", app.doctor))
        .await;
    assert_eq!(stored.body["name"], "Dr. Anna Smith-Jones");
    assert_eq!(stored.body["fee"]["amount_minor"], 7250);
    assert_eq!(stored.body["photo_url"], PHOTO);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'doctor.update' AND doctor_id = '{}'",
            app.doctor
        ))
        .await,
        1
    );

    // Removing the photo: an empty field.
    let mut without_photo = changed.clone();
    without_photo.retain(|(name, _)| *name != "photo_url");
    without_photo.push(("photo_url", ""));
    let saved = post_form(&app, &path, &without_photo, Some(&admin)).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let stored = app
        .get(None, &format!("/api/v1/doctors/{}", app.doctor))
        .await;
    assert!(stored.body["photo_url"].is_null(), "{}", stored.body);

    // Mistakes: 422, every value kept, a message by each field and a summary at the top.
    let before = doctor_count(&app).await;
    let bad = [
        ("name", " "),
        ("specialty_id", cardiology.as_str()),
        ("qualification", "MD"),
        ("years_experience", "81"),
        ("fee_amount", "eighty"),
        ("currency", "EURO"),
        ("bio", "Kept bio"),
        ("photo_url", "http://images.example.org/plain.jpg"),
        ("time_zone", "Mars/Olympus"),
    ];
    for target in ["/admin/doctors/new", path.as_str()] {
        let refused = post_form(&app, target, &bad, Some(&admin)).await;
        assert_page(&refused, StatusCode::UNPROCESSABLE_ENTITY);
        let html = &refused.html;
        assert!(html.contains("Please check the form"), "{html}");
        for field in [
            "name",
            "years_experience",
            "fee_amount",
            "currency",
            "photo_url",
            "time_zone",
        ] {
            assert!(
                html.contains(&format!("id=\"{field}-error\"")),
                "{field}: {html}"
            );
            assert!(html.contains(&format!("<a href=\"#{field}\">")), "{field}");
        }
        assert_eq!(html.matches("aria-invalid=\"true\"").count(), 6, "{html}");
        assert!(html.contains("aria-describedby=\"time_zone-hint time_zone-error\""));
        assert!(!html.contains("id=\"bio-error\""));
        assert!(
            html.contains("Enter the doctor&#39;s full name.")
                || html.contains("Enter the doctor's full name.")
        );
        assert!(html.contains("starting with https://"));
        assert!(html.contains("We do not know the time zone “Mars/Olympus”"));
        for kept in [
            "value=\"eighty\"",
            "value=\"EURO\"",
            "value=\"81\"",
            "value=\"http://images.example.org/plain.jpg\"",
            "value=\"Mars/Olympus\"",
            ">Kept bio</textarea>",
        ] {
            assert!(html.contains(kept), "{kept}: {html}");
        }
        assert!(html.contains(&format!("<option value=\"{cardiology}\" selected>")));
    }
    assert_eq!(doctor_count(&app).await, before);
    let stored = app
        .get(None, &format!("/api/v1/doctors/{}", app.doctor))
        .await;
    assert_eq!(stored.body["name"], "Dr. Anna Smith-Jones");

    // An unknown doctor is the 404 page.
    let missing = get_page(
        &app,
        &format!("/admin/doctors/{}", uuid::Uuid::now_v7()),
        Some(&admin),
    )
    .await;
    assert_page(&missing, StatusCode::NOT_FOUND);
}

async fn specialty_names_must_be_given_and_unique(app: TestApp) {
    let admin = admin_cookie(&app, "boss@example.org").await;
    let taken = post_form(
        &app,
        "/admin/specialties",
        &[("name", "cardiology")],
        Some(&admin),
    )
    .await;
    assert_page(&taken, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        taken
            .html
            .contains("There is already a specialty called “cardiology”"),
        "{}",
        taken.html
    );
    assert!(taken.html.contains("value=\"cardiology\""));
    assert!(
        taken
            .html
            .contains("aria-describedby=\"new-specialty-error\"")
    );
    let empty = post_form(&app, "/admin/specialties", &[("name", "  ")], Some(&admin)).await;
    assert_page(&empty, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.html.contains("Enter a name for the specialty."));

    let cardiology = specialty_id(&app, "Cardiology").await;
    let renamed = post_form(
        &app,
        &format!("/admin/specialties/{cardiology}"),
        &[("name", "Heart medicine")],
        Some(&admin),
    )
    .await;
    assert_eq!(renamed.status, StatusCode::SEE_OTHER, "{}", renamed.html);
    assert_eq!(location(&renamed), "/admin/specialties?notice=renamed");
    assert_eq!(specialty_id(&app, "Heart medicine").await, cardiology);
    let list = get_page(&app, "/admin/specialties", Some(&admin)).await;
    assert!(list.html.contains("2 doctors"), "{}", list.html);

    let added = post_form(
        &app,
        "/admin/specialties",
        &[("name", "Neurology")],
        Some(&admin),
    )
    .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    let clash = post_form(
        &app,
        &format!("/admin/specialties/{cardiology}"),
        &[("name", "NEUROLOGY")],
        Some(&admin),
    )
    .await;
    assert_page(&clash, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        clash.html.contains("Heart medicine was not renamed"),
        "{}",
        clash.html
    );
    assert!(clash.html.contains("value=\"NEUROLOGY\""));
    assert!(
        clash
            .html
            .contains(&format!("id=\"rename-{cardiology}-error\""))
    );
    assert_eq!(specialty_id(&app, "Heart medicine").await, cardiology);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'specialty.update'")
            .await,
        1
    );
}

async fn admins_give_roles_and_the_refusals_are_explained(app: TestApp) {
    let admin = admin_cookie(&app, "boss@example.org").await;
    let dana_token = app.sign_in("dana@example.org").await;
    let dana = user_id(&app, &dana_token).await;
    let eve_token = app.sign_in("eve@example.org").await;
    let eve = user_id(&app, &eve_token).await;
    let doctor = app.doctor.to_string();

    let found = get_page(&app, "/admin/people?q=dana", Some(&admin)).await;
    assert_page(&found, StatusCode::OK);
    assert!(
        found.html.contains("1 person found for “dana”"),
        "{}",
        found.html
    );
    assert!(found.html.contains("dana@example.org"));
    assert!(!found.html.contains("eve@example.org"));
    assert!(
        found
            .html
            .contains(&format!("action=\"/admin/people/{dana}/role\""))
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'user.search' \
             AND detail = '1 users found'"
        )
        .await,
        1
    );

    let role_path = |id: &str| format!("/admin/people/{id}/role");
    let granted = post_form(
        &app,
        &role_path(&dana),
        &[("role", "doctor"), ("doctor_id", &doctor), ("q", "dana")],
        Some(&admin),
    )
    .await;
    assert_eq!(granted.status, StatusCode::SEE_OTHER, "{}", granted.html);
    let back = location(&granted);
    assert_eq!(
        back,
        format!("/admin/people?q=dana&notice=role-saved&user={dana}")
    );
    let shown = get_page(&app, &back, Some(&admin)).await;
    assert!(
        shown.html.contains("dana@example.org is now a doctor."),
        "{}",
        shown.html
    );
    assert!(shown.html.contains(">Dr. Anna Smith</a>"));
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM users WHERE email = 'dana@example.org' AND role = 'doctor' \
             AND doctor_id = '{doctor}'"
        ))
        .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'role.change' \
             AND detail = 'patient -> doctor (doctor profile {doctor})' AND doctor_id = '{doctor}'"
        ))
        .await,
        1
    );

    // The doctor role needs a profile; a profile belongs to one account.
    let no_profile = post_form(
        &app,
        &role_path(&eve),
        &[("role", "doctor"), ("doctor_id", ""), ("q", "eve")],
        Some(&admin),
    )
    .await;
    assert_page(&no_profile, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        no_profile.html.contains("Choose the doctor profile"),
        "{}",
        no_profile.html
    );
    assert!(
        no_profile
            .html
            .contains(&format!("id=\"role-{eve}-error\""))
    );
    let taken = post_form(
        &app,
        &role_path(&eve),
        &[("role", "doctor"), ("doctor_id", &doctor), ("q", "eve")],
        Some(&admin),
    )
    .await;
    assert_page(&taken, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        taken.html.contains("already belongs to another account"),
        "{}",
        taken.html
    );
    assert!(taken.html.contains("eve@example.org"));

    // Nobody changes their own role.
    let me = app
        .count("SELECT COUNT(*) FROM users WHERE email = 'boss@example.org' AND role = 'admin'")
        .await;
    assert_eq!(me, 1);
    let boss_token = app.sign_in("boss@example.org").await;
    let boss = user_id(&app, &boss_token).await;
    let own = post_form(
        &app,
        &role_path(&boss),
        &[("role", "patient"), ("q", "boss")],
        Some(&admin),
    )
    .await;
    assert_page(&own, StatusCode::CONFLICT);
    assert!(
        own.html.contains("You cannot change your own role."),
        "{}",
        own.html
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE email = 'boss@example.org' AND role = 'admin'")
            .await,
        1
    );

    // Admin, then back to patient (the form still names the old profile, which goes).
    let admin_grant = post_form(
        &app,
        &role_path(&dana),
        &[("role", "admin"), ("doctor_id", ""), ("q", "dana")],
        Some(&admin),
    )
    .await;
    assert_eq!(
        admin_grant.status,
        StatusCode::SEE_OTHER,
        "{}",
        admin_grant.html
    );
    let shown = get_page(&app, &location(&admin_grant), Some(&admin)).await;
    assert!(shown.html.contains("is now an administrator."));
    let demoted = post_form(
        &app,
        &role_path(&dana),
        &[("role", "patient"), ("doctor_id", &doctor), ("q", "dana")],
        Some(&admin),
    )
    .await;
    assert_eq!(demoted.status, StatusCode::SEE_OTHER, "{}", demoted.html);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM users WHERE email = 'dana@example.org' AND role = 'patient' \
             AND doctor_id IS NULL"
        )
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'role.change'")
            .await,
        3
    );
}

async fn the_messages_page_lists_what_the_contact_form_received(app: TestApp) {
    let admin = admin_cookie(&app, "boss@example.org").await;
    let empty = get_page(&app, "/admin/messages", Some(&admin)).await;
    assert_page(&empty, StatusCode::OK);
    assert!(empty.html.contains("The inbox is empty"));

    for (name, message) in [
        ("Grace Hopper", "Do you have parking?\nA second line."),
        ("Alan Turing", "Is the clinic open on Saturdays?"),
    ] {
        let sent = app
            .post(
                None,
                "/api/v1/contact",
                json!({ "name": name, "email": "writer@example.org", "message": message }),
            )
            .await;
        assert!(sent.status.is_success(), "{}", sent.body);
    }
    let inbox = get_page(&app, "/admin/messages", Some(&admin)).await;
    assert_page(&inbox, StatusCode::OK);
    let html = &inbox.html;
    assert!(html.contains("2 messages, newest first"), "{html}");
    assert!(html.contains("Grace Hopper") && html.contains("Alan Turing"));
    assert!(
        html.contains("Do you have parking?\nA second line."),
        "{html}"
    );
    assert!(html.contains("href=\"mailto:writer@example.org\""));
    assert!(html.contains("Mon 1 Mar 2027, 08:00 UTC"), "{html}");
    let overview = get_page(&app, "/admin", Some(&admin)).await;
    assert!(overview.html.contains("2 messages"));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'contact.read'")
            .await,
        2
    );
}

async fn the_audit_search_finds_the_admins_own_actions_and_filters_work(app: TestApp) {
    let admin = admin_cookie(&app, "boss@example.org").await;
    let added = post_form(
        &app,
        "/admin/specialties",
        &[("name", "Dermatology")],
        Some(&admin),
    )
    .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    let cardiology = specialty_id(&app, "Cardiology").await;
    let saved = post_form(
        &app,
        &format!("/admin/doctors/{}", app.doctor),
        &doctor_form(&cardiology, "Dr. Anna Smith"),
        Some(&admin),
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);

    let all = get_page(&app, "/admin/audit", Some(&admin)).await;
    assert_page(&all, StatusCode::OK);
    assert!(
        all.html.contains("<code>specialty.create</code>"),
        "{}",
        all.html
    );
    assert!(all.html.contains("<code>doctor.update</code>"));
    assert!(
        all.html
            .contains("You <span class=\"muted\">(admin)</span>")
    );
    assert!(all.html.contains("<caption id=\"audit-caption\">"));
    // The newest first: the doctor's update above the specialty.
    let update_at = all.html.find("doctor.update").expect("update");
    let create_at = all.html.find("specialty.create").expect("create");
    assert!(update_at < create_at);

    let by_doctor = get_page(
        &app,
        &format!("/admin/audit?doctor_id={}", app.doctor),
        Some(&admin),
    )
    .await;
    assert_page(&by_doctor, StatusCode::OK);
    assert!(by_doctor.html.contains("doctor.update"));
    assert!(!by_doctor.html.contains("specialty.create"));
    assert!(
        by_doctor
            .html
            .contains(&format!("<option value=\"{}\" selected>", app.doctor))
    );

    let later = get_page(&app, "/admin/audit?from=2027-03-02", Some(&admin)).await;
    assert_page(&later, StatusCode::OK);
    assert!(later.html.contains("No entries match these filters."));
    assert!(!later.html.contains("<code>"));
    let that_day = get_page(
        &app,
        "/admin/audit?from=2027-03-01&to=2027-03-01",
        Some(&admin),
    )
    .await;
    assert!(that_day.html.contains("doctor.update"));

    // Searches are audited like the API's, naming the doctor filtered on.
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'audit.read' AND doctor_id = '{}'",
            app.doctor
        ))
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'audit.read'")
            .await,
        4
    );

    // Bad filters are explained by their fields, and nothing is read.
    let bad = get_page(
        &app,
        "/admin/audit?patient_id=ada&from=yesterday&to=2027-03-01",
        Some(&admin),
    )
    .await;
    assert_page(&bad, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.html.contains("Please check the filters"));
    assert!(bad.html.contains("id=\"patient_id-error\""));
    assert!(bad.html.contains("id=\"from-error\""));
    assert!(bad.html.contains("Enter a date like 2027-03-01."));
    assert!(bad.html.contains("value=\"yesterday\""));
    assert!(!bad.html.contains("<code>"));
    let backwards = get_page(
        &app,
        "/admin/audit?from=2027-03-05&to=2027-03-01",
        Some(&admin),
    )
    .await;
    assert_page(&backwards, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(backwards.html.contains("on or after the first date"));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'audit.read'")
            .await,
        4
    );

    // More than a page: previous and next links keep the filters.
    for _ in 0..50 {
        let inbox = get_page(&app, "/admin/messages", Some(&admin)).await;
        assert_eq!(inbox.status, StatusCode::OK);
    }
    let first = get_page(&app, "/admin/audit?from=2027-03-01", Some(&admin)).await;
    assert!(first.html.contains("Entries 1–50 of "), "{}", first.html);
    let unescaped = first.html.replace("&#38;", "&").replace("&amp;", "&");
    assert!(
        unescaped.contains("href=\"/admin/audit?from=2027-03-01&page=2\" rel=\"next\""),
        "{}",
        first.html
    );
    assert!(!first.html.contains("rel=\"prev\""));
    let second = get_page(&app, "/admin/audit?from=2027-03-01&page=2", Some(&admin)).await;
    assert!(second.html.contains("Entries 51–"), "{}", second.html);
    assert!(second.html.contains("rel=\"prev\""));
    assert!(second.html.contains("specialty.create"));
}

async fn admin_forms_sent_from_other_sites_are_refused(app: TestApp) {
    let admin = admin_cookie(&app, "boss@example.org").await;
    let cardiology = specialty_id(&app, "Cardiology").await;
    let client = crate::pages::browser_like();
    let attempts: Vec<(String, Vec<(&str, String)>)> = vec![
        ("/admin/specialties".into(), vec![("name", "Forged".into())]),
        (
            format!("/admin/specialties/{cardiology}"),
            vec![("name", "Forged".into())],
        ),
        (
            "/admin/doctors/new".into(),
            doctor_form(&cardiology, "Dr. Forged")
                .into_iter()
                .map(|(k, v)| (k, v.to_owned()))
                .collect(),
        ),
    ];
    for (path, form) in attempts {
        // With the admin's cookie (what a forged form in their browser sends), the site-wide
        // cross-site check refuses it before any page runs.
        let response = client
            .post(app.url(&path))
            .header(header::ORIGIN, "https://evil.example")
            .header(header::COOKIE, &admin)
            .form(&form)
            .send()
            .await
            .expect("a response");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        // Without a cookie, the console's own form check refuses it with a page saying why.
        let response = client
            .post(app.url(&path))
            .header(header::ORIGIN, "https://evil.example")
            .form(&form)
            .send()
            .await
            .expect("a response");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        let html = response.text().await.expect("a body");
        assert!(html.contains("sent from another website"), "{html}");
    }
    assert!(
        !app.get(None, "/api/v1/specialties")
            .await
            .body
            .to_string()
            .contains("Forged")
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_log \
             WHERE action LIKE 'specialty.%' OR action = 'doctor.create'"
        )
        .await,
        0
    );
}
