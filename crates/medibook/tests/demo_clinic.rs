//! `serve --demo`: the demo clinic seeds into an empty database, through the real booking
//! rules, and never into one that has data.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use medibook::app::{App, open_database};
use medibook::delivery::LogCodeSender;
use medibook::demo::seed_demo_clinic;
use medibook::settings::Settings;
use medibook_core::clock::SystemClock;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_clinic_seeds_an_empty_database_once() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        data_dir: dir.path().to_path_buf(),
        ..Settings::default()
    };
    let database = open_database(&settings).await.unwrap();
    let app = App::build(
        &settings,
        database.clone(),
        b"test secret that is long enough for hmac keys",
        Arc::new(SystemClock),
        Arc::new(LogCodeSender),
    );

    let summary = seed_demo_clinic(&database, &database, &app.bookings, &app.staff)
        .await
        .unwrap();
    assert!(summary.specialties >= 6, "{summary:?}");
    assert!(summary.doctors >= 12, "{summary:?}");
    assert!(summary.appointments > 0, "{summary:?}");
    assert_eq!(summary.staff, summary.doctors + 1, "{summary:?}");

    let catalogue = medibook_core::catalogue::Catalogue::new(Arc::new(database.clone()));
    let doctors = catalogue.search(None, None).await.unwrap();
    assert_eq!(doctors.len(), summary.doctors);
    // A patient's words find the right specialty: the demo clinic ships keywords.
    let specialties = catalogue.specialties().await.unwrap();
    for (words, specialty) in [
        ("heart", "Cardiology"),
        ("skin", "Dermatology"),
        ("chest pain", "Cardiology"),
        ("migraine", "Neurology"),
    ] {
        let found = catalogue.search(Some(words), None).await.unwrap();
        assert!(!found.is_empty(), "{words}: nobody");
        let first = specialties
            .iter()
            .find(|s| s.specialty.id == found[0].specialty_id)
            .expect("a specialty");
        assert_eq!(first.specialty.name, specialty, "{words}");
        assert!(
            found
                .iter()
                .all(|d| d.specialty_id == found[0].specialty_id),
            "{words}: only {specialty} doctors"
        );
    }
    // Some doctors are fully booked for the next days: days on which they work and every
    // listed slot is booked. Most doctors still have a free slot within four weeks.
    let mut fully_booked_doctors = 0;
    for doctor in &doctors {
        let today = doctor.time_zone.tz().to_datetime(app.bookings.now()).date();
        let slots = app.bookings.slots(doctor.id, today, 14).await.unwrap();
        let mut days = std::collections::BTreeMap::<_, (usize, usize)>::new();
        for slot in &slots {
            let day = doctor.time_zone.tz().to_datetime(slot.start).date();
            let entry = days.entry(day).or_default();
            entry.0 += 1;
            if slot.status == medibook_core::booking::SlotStatus::Booked {
                entry.1 += 1;
            }
        }
        let full_days = days.values().filter(|(all, booked)| all == booked).count();
        if full_days >= 2 {
            fully_booked_doctors += 1;
        }
    }
    assert!(
        fully_booked_doctors >= 2,
        "only {fully_booked_doctors} fully booked doctors"
    );
    let next = app.bookings.next_free_slots(&doctors).await.unwrap();
    assert!(next.len() >= doctors.len() / 2);

    let again = seed_demo_clinic(&database, &database, &app.bookings, &app.staff)
        .await
        .unwrap();
    assert_eq!(
        again.doctors, 0,
        "a database with data is never seeded again"
    );
    assert_eq!(again.appointments, 0);
}
