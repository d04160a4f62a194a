//! Instances on Redis share the doctors' agendas for slot listings: what one instance read from
//! the database, another lists from Redis; an entry is used only while it is current (its slot
//! event is the doctor's latest in the database), and a listing works without Redis.

use jiff::Timestamp;
use jiff::civil::Date;
use medibook::app::{App, open_database};
use medibook_core::audit::Actor;
use medibook_core::booking::{AgendaClaim, SlotStatus};
use medibook_core::booking_service::HoldPurpose;
use medibook_core::booking_service::listing_window;
use medibook_core::events::SlotEventLog;
use medibook_core::ids::DoctorId;
use medibook_core::shared_agendas::{SharedAgendaStore, agenda_key, decode_agenda, encode_agenda};
use medibook_integrations::redis_agendas::RedisAgendaStore;
use medibook_integrations::redis_bus::RedisSettings;
use tokio::sync::watch;

use crate::common;
use crate::world::{PrivateRedis, RedisPair, SharedSqlite};

fn tuesday() -> Date {
    "2027-03-02".parse().unwrap()
}

fn at(time: &str) -> Timestamp {
    format!("2027-03-02T{time}:00+01:00").parse().unwrap()
}

/// The status `app` lists for the doctor's slot at `start` on Tuesday.
async fn listed(app: &App, doctor: DoctorId, start: Timestamp) -> Option<SlotStatus> {
    let slots = app.bookings.slots(doctor, tuesday(), 1).await.unwrap();
    slots.iter().find(|s| s.start == start).map(|s| s.status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_lists_from_the_agenda_another_stored_and_never_from_an_outdated_one() {
    let Some(RedisPair {
        redis,
        world,
        a,
        b,
        _stop,
    }) = RedisPair::start().await
    else {
        return;
    };
    let doctor = world.doctor;
    assert_eq!(
        listed(&a, doctor, at("09:30")).await,
        Some(SlotStatus::Available)
    );

    // A stored the agenda it read under the doctor's current event number. Doctor it to say
    // that 09:30 is booked: only a listing that reads the shared entry can show that.
    let (_stop_store, stop) = watch::channel(false);
    let store = RedisAgendaStore::connect(&redis, stop).await.unwrap();
    let database = open_database(&world.settings).await.unwrap();
    let mark = database.latest_slot_mark(doctor).await.unwrap();
    let key = agenda_key(doctor, listing_window(tuesday(), 1).unwrap(), mark);
    let stored = store.get(&key).await.expect("A stored the agenda it read");
    let mut agenda = decode_agenda(&stored).unwrap();
    assert_eq!((agenda.seq, agenda.latest_at), (mark.seq, mark.recorded_at));
    agenda.claims.push(AgendaClaim {
        start: at("09:30"),
        end: at("10:00"),
        status: SlotStatus::Booked,
        expires_at: None,
    });
    store.put(&key, encode_agenda(&agenda)).await;
    assert_eq!(
        listed(&b, doctor, at("09:30")).await,
        Some(SlotStatus::Booked),
        "B lists from the entry A stored"
    );

    // A hold through A records the doctor's next event: B's very next listing is current.
    let held = a
        .bookings
        .hold(
            &Actor::operator(),
            world.patient,
            doctor,
            at("11:00"),
            HoldPurpose::NewAppointment,
        )
        .await
        .unwrap();
    assert_eq!(
        listed(&b, doctor, at("11:00")).await,
        Some(SlotStatus::Held)
    );
    assert_eq!(
        listed(&b, doctor, at("09:30")).await,
        Some(SlotStatus::Available),
        "the doctored entry is outdated and never used again"
    );
    a.bookings
        .release(&Actor::operator(), world.patient, held.hold.id)
        .await
        .unwrap();
    assert_eq!(
        listed(&b, doctor, at("11:00")).await,
        Some(SlotStatus::Available)
    );
    database.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_read_the_database_while_redis_is_away() {
    let Some(mut server) = PrivateRedis::start().await else {
        return;
    };
    let redis = RedisSettings {
        url: server.url(),
        channel: common::fresh_redis_channel(),
    };
    let world = SharedSqlite::new().await;
    let (_stop, stopped) = watch::channel(false);
    let a = world.instance_on_redis(&redis, stopped.clone()).await;
    let b = world.instance_on_redis(&redis, stopped).await;
    let doctor = world.doctor;
    assert_eq!(
        listed(&b, doctor, at("10:00")).await,
        Some(SlotStatus::Available)
    );

    server.stop();
    let held = a
        .bookings
        .hold(
            &Actor::operator(),
            world.patient,
            doctor,
            at("10:00"),
            HoldPurpose::NewAppointment,
        )
        .await
        .unwrap();
    assert_eq!(
        listed(&b, doctor, at("10:00")).await,
        Some(SlotStatus::Held),
        "without Redis, B lists what the database holds"
    );
    // An outage costs one listing Redis's timeout, not every listing (ten listings would
    // take at least 2.5 s if each waited for Redis).
    let started = std::time::Instant::now();
    for _ in 0..10 {
        assert_eq!(
            listed(&b, doctor, at("10:00")).await,
            Some(SlotStatus::Held)
        );
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "ten listings without Redis took {:?}",
        started.elapsed()
    );

    server.restart().await;
    a.bookings
        .release(&Actor::operator(), world.patient, held.hold.id)
        .await
        .unwrap();
    assert_eq!(
        listed(&b, doctor, at("10:00")).await,
        Some(SlotStatus::Available)
    );
}
