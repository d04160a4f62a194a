//! Several instances on one PostgreSQL database: a slot change made through one instance reaches
//! the event bus of another, through NOTIFY and the event log, in order and without gaps. (Two
//! connection pools are two instances as far as PostgreSQL can tell.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use medibook::app::{App, open_database};
use medibook::delivery::LogCodeSender;
use medibook::settings::Settings;
use medibook_core::booking::SlotStatus;
use medibook_core::clinic::{Doctor, Fee, Specialty, Zone};
use medibook_core::clock::ManualClock;
use medibook_core::events::{DomainEvent, EventBus};
use medibook_core::identity::{Email, Identifier};
use medibook_core::ids::{DoctorId, SpecialtyId};
use medibook_core::ports::{ClinicRepository, IdentityRepository};
use medibook_core::schedule::{BookingRules, TimeRange, WeeklyHours, WeeklySchedule};
use medibook_store::relay::EventRelay;
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_on_one_instance_reaches_the_bus_of_another() {
    let Some(postgres) = common::FreshPostgres::create().await else {
        return;
    };
    let url = postgres.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        database_url: Some(url.clone()),
        data_dir: dir.path().to_path_buf(),
        ..Settings::default()
    };
    let clock = Arc::new(ManualClock::new(
        "2027-03-01T08:00:00Z".parse::<Timestamp>().unwrap(),
    ));
    let secret = b"test secret that is long enough for hmac keys";

    // Instance A makes the change; instance B only listens.
    let database_a = open_database(&settings).await.unwrap();
    let database_b = open_database(&settings).await.unwrap();
    let doctor = seed_doctor(&database_a).await;
    let patient = database_a
        .user_for(
            &Identifier::Email(Email::parse("ada@example.org").unwrap()),
            medibook_core::clock::Clock::now(clock.as_ref()),
        )
        .await
        .unwrap();
    let a = App::build(
        &settings,
        database_a,
        secret,
        clock.clone(),
        Arc::new(LogCodeSender),
    );
    let b = App::build(
        &settings,
        database_b.clone(),
        secret,
        clock.clone(),
        Arc::new(LogCodeSender),
    );
    let (_stop, stopped) = watch::channel(false);
    let bus: Arc<dyn EventBus> = Arc::new(b.events.clone());
    let mut received = b.events.subscribe();
    EventRelay::spawn(database_b, &url, bus, stopped)
        .await
        .unwrap();

    let start: Timestamp = "2027-03-02T09:30:00+01:00".parse().unwrap();
    let claimed = a.bookings.hold(patient.id, doctor, start).await.unwrap();
    a.bookings
        .release(patient.id, claimed.hold.id)
        .await
        .unwrap();

    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = tokio::time::timeout(Duration::from_secs(10), received.recv())
            .await
            .expect("the event crossed instances within 10 s")
            .unwrap();
        if let DomainEvent::Slot(slot) = event {
            seen.push((slot.seq, slot.status, slot.start));
        }
    }
    assert_eq!(
        seen,
        vec![
            (1, SlotStatus::Held, start),
            (2, SlotStatus::Available, start)
        ]
    );

    drop(a);
}

async fn seed_doctor(database: &medibook_store::Database) -> DoctorId {
    let specialty = Specialty {
        id: SpecialtyId::generate(),
        name: "Cardiology".into(),
    };
    database.add_specialty(&specialty).await.unwrap();
    let day = vec![TimeRange::new("09:00".parse().unwrap(), "12:00".parse().unwrap()).unwrap()];
    let doctor = Doctor {
        id: DoctorId::generate(),
        name: "Dr. Anna Smith".into(),
        specialty_id: specialty.id,
        qualification: "MD".into(),
        years_experience: 10,
        bio: "Test doctor.".into(),
        fee: Fee::new(6500, "EUR").unwrap(),
        photo_url: None,
        time_zone: Zone::parse("Europe/Berlin").unwrap(),
        schedule: WeeklySchedule {
            hours: WeeklyHours {
                tuesday: day,
                ..WeeklyHours::default()
            },
            breaks: WeeklyHours::default(),
            rules: BookingRules {
                slot_minutes: 30,
                buffer_before_minutes: 0,
                buffer_after_minutes: 0,
                min_notice_minutes: 0,
                horizon_days: 60,
                max_per_day: None,
            },
        }
        .validate()
        .unwrap(),
    };
    database.add_doctor(&doctor).await.unwrap();
    doctor.id
}
