//! Several instances on one database: a slot change made through one instance reaches the event
//! bus of another, in order and without gaps, through PostgreSQL NOTIFY or Redis pub/sub and the
//! event log; a Redis subscriber that lost its connection catches up from the log; listings
//! stay linearizable across instances, also when they share agendas through Redis. (Two
//! connection pools are two instances as far as the database can tell.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;
mod shared_agendas;
mod world;

use std::time::Duration;

use jiff::Timestamp;
use medibook::app::App;
use medibook_core::audit::Actor;
use medibook_core::booking::SlotStatus;
use medibook_core::booking_service::HoldPurpose;
use medibook_core::events::DomainEvent;
use medibook_core::identity::{Email, Identifier};
use medibook_core::ids::DoctorId;
use medibook_integrations::redis_bus::RedisSettings;
use medibook_web::shell::events::Published;
use tokio::sync::{broadcast, watch};

use world::{PostgresPair, PrivateRedis, RedisPair, SharedSqlite};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_on_one_instance_reaches_the_bus_of_another() {
    let Some(pair) = PostgresPair::start().await else {
        return;
    };
    let PostgresPair {
        a,
        doctor,
        patient,
        mut received,
        ..
    } = pair;

    let start: Timestamp = "2027-03-02T09:30:00+01:00".parse().unwrap();
    let claimed = a
        .bookings
        .hold(
            &Actor::operator(),
            patient.id,
            doctor,
            start,
            HoldPurpose::NewAppointment,
        )
        .await
        .unwrap();
    a.bookings
        .release(&Actor::operator(), patient.id, claimed.hold.id)
        .await
        .unwrap();

    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = tokio::time::timeout(Duration::from_secs(10), received.recv())
            .await
            .expect("the event crossed instances within 10 s")
            .unwrap();
        if let DomainEvent::Slot(slot) = event.event() {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waitlist_offer_made_on_one_instance_reaches_the_bus_of_another() {
    let Some(pair) = PostgresPair::start().await else {
        return;
    };
    let PostgresPair {
        a,
        doctor,
        patient,
        mut received,
        ..
    } = pair;

    // The patient holds Tuesday 09:30, waits for a Tuesday time between 09:30 and 10:00 (the
    // held one is the only one, so nothing free suits), then gives the hold back: the slot is
    // offered to the waiter on A before anyone else sees it, and B's bus hears the offer.
    let tuesday: jiff::civil::Date = "2027-03-02".parse().unwrap();
    let start: Timestamp = "2027-03-02T09:30:00+01:00".parse().unwrap();
    let held = a
        .bookings
        .hold(
            &Actor::operator(),
            patient.id,
            doctor,
            start,
            HoldPurpose::NewAppointment,
        )
        .await
        .unwrap();
    let (entry, _) = a
        .waitlist
        .join(
            patient.id,
            &Actor::system(),
            medibook_core::waitlist_service::JoinRequest {
                target: medibook_core::waitlist::WaitTarget::Doctor(doctor),
                from: Some(tuesday),
                to: Some(tuesday),
                preference: medibook_core::waitlist::WaitPreference::parse(
                    &[],
                    Some("09:30"),
                    Some("10:00"),
                )
                .unwrap(),
            },
        )
        .await
        .unwrap();
    assert!(entry.offer.is_none(), "nothing that suits is free");
    a.bookings
        .release(&Actor::operator(), patient.id, held.hold.id)
        .await
        .unwrap();
    let entries = a.waitlist.entries_of(patient.id).await.unwrap();
    let made = entries[0].offer.expect("the released slot is offered");

    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), received.recv())
            .await
            .expect("the offer crossed instances within 10 s")
            .unwrap();
        if let DomainEvent::WaitlistOffer(offer) = event.event() {
            assert_eq!(offer, &made);
            break;
        }
    }
    drop(a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_on_one_instance_reaches_the_bus_of_another_through_redis() {
    let Some(RedisPair {
        world, a, b, _stop, ..
    }) = RedisPair::start().await
    else {
        return;
    };
    let mut received = b.events.subscribe();

    let start: Timestamp = "2027-03-02T09:30:00+01:00".parse().unwrap();
    let claimed = a
        .bookings
        .hold(
            &Actor::operator(),
            world.patient,
            world.doctor,
            start,
            HoldPurpose::NewAppointment,
        )
        .await
        .unwrap();
    a.bookings
        .release(&Actor::operator(), world.patient, claimed.hold.id)
        .await
        .unwrap();

    assert_eq!(
        slot_changes(&mut received, 2).await,
        vec![
            (1, SlotStatus::Held, start),
            (2, SlotStatus::Available, start)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_subscriber_that_reconnects_catches_up_from_the_log() {
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
    // An instance that announces nothing: what it changes, B can only learn from the log.
    let silent = world.instance_in_process().await;
    let mut received = b.events.subscribe();

    let start: Timestamp = "2027-03-02T09:30:00+01:00".parse().unwrap();
    let claimed = a
        .bookings
        .hold(
            &Actor::operator(),
            world.patient,
            world.doctor,
            start,
            HoldPurpose::NewAppointment,
        )
        .await
        .unwrap();
    assert_eq!(
        slot_changes(&mut received, 1).await,
        vec![(1, SlotStatus::Held, start)]
    );
    silent
        .bookings
        .release(&Actor::operator(), world.patient, claimed.hold.id)
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(500), received.recv())
            .await
            .is_err(),
        "nothing announced the release"
    );

    // Redis goes away and comes back: B reconnects and reads what it may have missed.
    server.restart().await;
    assert_eq!(
        slot_changes(&mut received, 1).await,
        vec![(2, SlotStatus::Available, start)]
    );
}

/// The next `count` slot changes on `received`, as `(seq, status, start)`.
async fn slot_changes(
    received: &mut broadcast::Receiver<Published>,
    count: usize,
) -> Vec<(i64, SlotStatus, Timestamp)> {
    let mut seen = Vec::new();
    while seen.len() < count {
        let event = tokio::time::timeout(Duration::from_secs(20), received.recv())
            .await
            .expect("the event crossed instances within 20 s")
            .unwrap();
        if let DomainEvent::Slot(slot) = event.event() {
            seen.push((slot.seq, slot.status, slot.start));
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_off_added_on_one_instance_closes_the_slots_another_lists() {
    let Some(pair) = PostgresPair::start().await else {
        return;
    };
    time_off_reaches_the_other_listing(&pair.a, &pair._b, pair.doctor).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_off_added_on_one_instance_closes_the_slots_another_lists_through_redis() {
    let Some(RedisPair {
        world, a, b, _stop, ..
    }) = RedisPair::start().await
    else {
        return;
    };
    time_off_reaches_the_other_listing(&a, &b, world.doctor).await;
}

/// B lists the doctor's Tuesday (and so caches the doctor and their time off); A adds time off
/// over its morning; B's listing shows it without any cache lifetime passing (the clock
/// stands still), because the change's event crossed to B and made it forget.
async fn time_off_reaches_the_other_listing(a: &App, b: &App, doctor: DoctorId) {
    let tuesday: jiff::civil::Date = "2027-03-02".parse().unwrap();
    let listed = |app: &App| {
        let bookings = app.bookings.clone();
        async move { bookings.slots(doctor, tuesday, 1).await.unwrap().len() }
    };
    assert_eq!(listed(b).await, 6, "09:00 to 12:00 in half hours");
    assert_eq!(listed(b).await, 6);

    let admin = a
        .staff
        .promote_to_admin(&Identifier::Email(
            Email::parse("admin@example.org").unwrap(),
        ))
        .await
        .unwrap();
    let member = a.staff.member(admin.after.id).await.unwrap();
    a.staff
        .add_time_off(
            &member,
            &Actor::operator(),
            Some(doctor),
            "2027-03-02T09:00:00+01:00".parse().unwrap(),
            "2027-03-02T10:00:00+01:00".parse().unwrap(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        listed(a).await,
        4,
        "the instance that changed it sees it at once"
    );

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let slots = listed(b).await;
        if slots == 4 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the other instance still lists {slots} slots after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_released_on_one_instance_is_free_at_once_on_another_that_refused_it() {
    let Some(pair) = PostgresPair::start().await else {
        return;
    };
    let patients = (pair.patient.id, pair.other);
    release_reaches_the_other_fast_path(&pair.a, &pair._b, pair.doctor, patients).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_released_on_one_instance_is_free_at_once_on_another_that_refused_it_through_redis()
{
    let Some(RedisPair {
        world, a, b, _stop, ..
    }) = RedisPair::start().await
    else {
        return;
    };
    let patients = (world.patient, world.other);
    release_reaches_the_other_fast_path(&a, &b, world.doctor, patients).await;
}

/// Ada holds a slot through A; Grace, asking through B, is refused (three times, so B's queue
/// for the slot has learnt it is taken). Ada releases through A; the moment that answer is in,
/// Grace gets the slot through B: nothing B learnt outlives the requests that were waiting for
/// it, so B never answers from a stale "taken", even before the release's event reaches it.
async fn release_reaches_the_other_fast_path(
    a: &App,
    b: &App,
    doctor: DoctorId,
    (ada, grace): (medibook_core::ids::UserId, medibook_core::ids::UserId),
) {
    let start: Timestamp = "2027-03-02T10:00:00+01:00".parse().unwrap();
    let actor = Actor::operator();
    let held = a
        .bookings
        .hold(&actor, ada, doctor, start, HoldPurpose::NewAppointment)
        .await
        .unwrap();
    for _ in 0..3 {
        let refused = b
            .bookings
            .hold(&actor, grace, doctor, start, HoldPurpose::NewAppointment)
            .await;
        assert!(
            matches!(refused, Err(medibook_core::BookingError::SlotTaken)),
            "{refused:?}"
        );
    }
    a.bookings.release(&actor, ada, held.hold.id).await.unwrap();
    let claimed = b
        .bookings
        .hold(&actor, grace, doctor, start, HoldPurpose::NewAppointment)
        .await
        .unwrap();
    assert!(claimed.created);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_on_one_instance_shows_at_once_in_the_listing_of_another() {
    let Some(pair) = PostgresPair::start().await else {
        return;
    };
    hold_reaches_the_other_listing(&pair.a, &pair._b, pair.doctor, pair.patient.id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_on_one_instance_shows_at_once_in_the_listing_of_another_through_redis() {
    let Some(RedisPair {
        world, a, b, _stop, ..
    }) = RedisPair::start().await
    else {
        return;
    };
    hold_reaches_the_other_listing(&a, &b, world.doctor, world.patient).await;
}

/// B lists the doctor's Tuesday; a hold made through A, and its release, show in B's very next
/// listing: with several instances, listings read the database (only a lone instance keeps the
/// doctors' claims in memory), so they stay linearizable across instances.
async fn hold_reaches_the_other_listing(
    a: &App,
    b: &App,
    doctor: DoctorId,
    patient: medibook_core::ids::UserId,
) {
    let tuesday: jiff::civil::Date = "2027-03-02".parse().unwrap();
    let start: Timestamp = "2027-03-02T11:00:00+01:00".parse().unwrap();
    let status_on_b = || {
        let bookings = b.bookings.clone();
        async move {
            let slots = bookings.slots(doctor, tuesday, 1).await.unwrap();
            slots.iter().find(|s| s.start == start).map(|s| s.status)
        }
    };
    assert_eq!(status_on_b().await, Some(SlotStatus::Available));
    assert_eq!(status_on_b().await, Some(SlotStatus::Available));

    let actor = Actor::operator();
    let held = a
        .bookings
        .hold(&actor, patient, doctor, start, HoldPurpose::NewAppointment)
        .await
        .unwrap();
    assert_eq!(status_on_b().await, Some(SlotStatus::Held));
    a.bookings
        .release(&actor, patient, held.hold.id)
        .await
        .unwrap();
    assert_eq!(status_on_b().await, Some(SlotStatus::Available));
}
