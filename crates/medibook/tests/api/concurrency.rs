//! Many patients at once, over real HTTP: the database, not luck, keeps a doctor from being
//! double-booked. Each scenario races requests against the running server and then checks the
//! stored rows for the invariants of DESIGN §3 (no overlapping occupying claims or
//! appointments, every scheduled appointment holding exactly its own claim).

use std::collections::BTreeMap;
use std::sync::Arc;

use medibook_core::ids::DoctorId;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use medibook::settings::Settings;

use crate::backend_tests_with;
use crate::harness::{Backend, Reply, TestApp, tuesday};

backend_tests_with!(with_metrics;
    fifty_concurrent_holds_on_one_slot_have_exactly_one_winner,
    the_winner_of_a_race_asking_again_gets_their_hold_back,
    a_listing_kept_in_memory_shows_each_change_at_once,
    a_slot_released_after_a_race_is_free_for_the_next_patient_at_once,
    random_concurrent_patients_never_double_book_or_fail_with_5xx,
    racing_confirm_against_release_of_one_hold_keeps_the_booking_claimed,
    racing_cancel_against_reschedule_of_one_appointment_stays_consistent,
);

/// The bearer token `/metrics` wants in these scenarios.
const METRICS_TOKEN: &str = "a scraper's token";

fn with_metrics(settings: &mut Settings) {
    settings.metrics_token = Some(METRICS_TOKEN.into());
}

/// The value of one of the server's Prometheus counters (0 before it counted anything).
async fn counter(app: &TestApp, name: &str) -> u64 {
    let exposition = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text");
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map_or(0, |value| value.trim().parse().expect("a count"))
}

/// The patients of `tokens` ask for the slot at `start` at the same instant; returns their
/// replies, in the order of `tokens`.
async fn race_for_slot(app: &Arc<TestApp>, tokens: &[String], start: &str) -> Vec<Reply> {
    let barrier = Arc::new(Barrier::new(tokens.len()));
    let mut requests = JoinSet::new();
    for (i, token) in tokens.iter().enumerate() {
        let (app, barrier, start, token) = (
            app.clone(),
            barrier.clone(),
            start.to_owned(),
            token.clone(),
        );
        requests.spawn(async move {
            barrier.wait().await;
            (i, app.hold(&token, app.doctor, &start).await)
        });
    }
    let mut replies = requests.join_all().await;
    replies.sort_by_key(|(i, _)| *i);
    replies.into_iter().map(|(_, reply)| reply).collect()
}

/// Signs in `count` patients (`patient0@…`, `patient1@…`), one after the other, and returns
/// their tokens.
async fn sign_in_patients(app: &TestApp, count: usize) -> Vec<String> {
    let mut tokens = Vec::with_capacity(count);
    for i in 0..count {
        tokens.push(app.sign_in(&format!("patient{i}@example.org")).await);
    }
    tokens
}

/// Checks that a reply is a 2xx, or a 4xx problem document with a code; never a 5xx.
#[track_caller]
fn assert_handled(what: &str, reply: &Reply) {
    assert!(
        reply.status.as_u16() < 500,
        "{what}: {} {}",
        reply.status,
        reply.body
    );
    if reply.status.is_client_error() {
        reply.problem_code();
    }
}

/// The invariants of DESIGN §3, read straight from the tables.
async fn assert_bookings_consistent(app: &TestApp) {
    assert_eq!(app.overlapping_claims().await, 0, "overlapping claims");
    let checks = [
        (
            "occupying appointments of one doctor that overlap",
            "SELECT COUNT(*) FROM appointments a JOIN appointments b
               ON a.doctor_id = b.doctor_id AND a.id < b.id
              AND a.status <> 'cancelled' AND b.status <> 'cancelled'
              AND a.start_at < b.end_at AND b.start_at < a.end_at",
        ),
        (
            "scheduled appointments without a claim",
            "SELECT COUNT(*) FROM appointments a WHERE a.status = 'scheduled'
               AND NOT EXISTS (SELECT 1 FROM slot_claims c WHERE c.appointment_id = a.id)",
        ),
        (
            "claims of cancelled appointments (a slot lost for good)",
            "SELECT COUNT(*) FROM slot_claims c JOIN appointments a ON a.id = c.appointment_id
              WHERE a.status = 'cancelled'",
        ),
        (
            "claims that do not cover their appointment's time",
            "SELECT COUNT(*) FROM slot_claims c JOIN appointments a ON a.id = c.appointment_id
              WHERE c.claim_start > a.start_at OR c.claim_end < a.end_at",
        ),
        (
            "hold claims whose hold is not active",
            "SELECT COUNT(*) FROM slot_claims c WHERE c.appointment_id IS NULL
               AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.id = c.hold_id AND h.state = 'active')",
        ),
        (
            "confirmed holds without their appointment",
            "SELECT COUNT(*) FROM holds h WHERE h.state = 'confirmed'
               AND NOT EXISTS (SELECT 1 FROM appointments a WHERE a.id = h.appointment_id)",
        ),
        (
            "patients over the limit of five scheduled appointments",
            "SELECT COUNT(*) FROM (SELECT patient_id FROM appointments
              WHERE status = 'scheduled' GROUP BY patient_id HAVING COUNT(*) > 5) over_limit",
        ),
    ];
    for (what, sql) in checks {
        assert_eq!(app.count(sql).await, 0, "{what}");
    }
}

async fn fifty_concurrent_holds_on_one_slot_have_exactly_one_winner(app: TestApp) {
    let tokens = sign_in_patients(&app, 50).await;
    let app = Arc::new(app);
    let start = tuesday("09:30");
    // Every request waits at a barrier, so all fifty reach the server together.
    let replies = race_for_slot(&app, &tokens, &start).await;

    let winners = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    assert_eq!(winners, 1, "exactly one patient gets the slot");
    for reply in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
        assert_eq!(reply.problem_code(), "slot_taken");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM holds").await, 1);
    assert_eq!(app.overlapping_claims().await, 0);
    assert_eq!(
        app.slot_status(app.doctor, &start).await.as_deref(),
        Some("held")
    );
}

/// Racing patients all get a clean answer, and the winner asking again gets their hold back
/// rather than a refusal (requests for one slot take turns, and what one learnt answers the
/// others: it must never refuse the holder).
async fn the_winner_of_a_race_asking_again_gets_their_hold_back(app: TestApp) {
    let tokens = sign_in_patients(&app, 50).await;
    let app = Arc::new(app);
    let replies = race_for_slot(&app, &tokens, &tuesday("10:00")).await;

    let conflicts = replies
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .count();
    assert_eq!(conflicts, 49, "everyone but the winner is refused");
    let winner = replies
        .iter()
        .position(|r| r.status == StatusCode::CREATED)
        .expect("a winner");
    let again = app
        .hold(&tokens[winner], app.doctor, &tuesday("10:00"))
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.id(), replies[winner].id());
}

/// A lone instance (SQLite without Redis) serves listings of a doctor's coming weeks from
/// memory, and every hold, booking, release and cancellation shows in the next listing all the
/// same (the clock stands still, so nothing kept lapses on its own). On PostgreSQL, where other
/// instances may change claims, every listing reads the database.
async fn a_listing_kept_in_memory_shows_each_change_at_once(app: TestApp) {
    let from_memory = "medibook_listings_from_memory_total";
    let ada = app.sign_in("ada@example.org").await;
    let (nine, ten) = (tuesday("09:00"), tuesday("10:00"));
    assert_eq!(
        app.slot_status(app.doctor, &nine).await.as_deref(),
        Some("available")
    );
    let before = counter(&app, from_memory).await;
    assert_eq!(
        app.slot_status(app.doctor, &nine).await.as_deref(),
        Some("available")
    );
    let served_from_memory = counter(&app, from_memory).await - before;
    match app.backend {
        Backend::Sqlite => assert_eq!(served_from_memory, 1, "the second listing came from memory"),
        Backend::Postgres => assert_eq!(served_from_memory, 0, "listings read the database"),
    }

    let hold = app.hold(&ada, app.doctor, &nine).await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    assert_eq!(
        app.slot_status(app.doctor, &nine).await.as_deref(),
        Some("held")
    );
    let released = app
        .delete(&ada, &format!("/api/v1/holds/{}", hold.id()))
        .await;
    assert!(released.status.is_success(), "{}", released.body);
    assert_eq!(
        app.slot_status(app.doctor, &nine).await.as_deref(),
        Some("available")
    );

    let appointment = app.book(&ada, &ten).await;
    assert_eq!(
        app.slot_status(app.doctor, &ten).await.as_deref(),
        Some("booked")
    );
    let cancelled = app.cancel(&ada, &appointment).await;
    assert!(cancelled.status.is_success(), "{}", cancelled.body);
    assert_eq!(
        app.slot_status(app.doctor, &ten).await.as_deref(),
        Some("available")
    );
}

/// What the instance learnt in a race never outlives the hold: released, the slot goes to the
/// next patient who asks.
async fn a_slot_released_after_a_race_is_free_for_the_next_patient_at_once(app: TestApp) {
    let tokens = sign_in_patients(&app, 10).await;
    let app = Arc::new(app);
    let start = tuesday("10:30");
    let replies = race_for_slot(&app, &tokens, &start).await;
    let winner = replies
        .iter()
        .position(|r| r.status == StatusCode::CREATED)
        .expect("a winner");
    let hold_id = replies[winner].id();
    let released = app
        .delete(&tokens[winner], &format!("/api/v1/holds/{hold_id}"))
        .await;
    assert!(released.status.is_success(), "{}", released.body);

    let next = &tokens[(winner + 1) % tokens.len()];
    let reply = app.hold(next, app.doctor, &start).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
}

/// What a patient of the random workload remembers: ids it was given, fresh or stale.
struct Patient {
    token: String,
    holds: Vec<String>,
    appointments: Vec<String>,
}

impl Patient {
    fn remember_hold(&mut self, id: String) {
        if !self.holds.contains(&id) {
            self.holds.push(id);
        }
        // Old ids stay around for a while so that stale tokens get used too.
        if self.holds.len() > 6 {
            self.holds.remove(0);
        }
    }
}

/// The slots the workload fights over: few, so that patients collide often.
fn contested_slots(app: &TestApp) -> Vec<(DoctorId, String)> {
    let mut slots = Vec::new();
    for day in ["2027-03-02", "2027-03-03"] {
        for time in ["09:00", "09:30", "10:00", "10:30", "11:00"] {
            slots.push((app.doctor, format!("{day}T{time}:00+01:00")));
        }
    }
    // The limited doctor's buffers and daily maximum get exercised too.
    for time in ["09:00", "09:45", "10:30"] {
        slots.push((app.limited_doctor, tuesday(time)));
    }
    slots
}

/// A random element of a non-empty slice.
fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// Runs `operations` random steps for one patient; returns how often each outcome happened.
async fn random_patient(
    app: Arc<TestApp>,
    token: String,
    seed: u64,
    operations: usize,
) -> BTreeMap<String, usize> {
    let mut rng = StdRng::seed_from_u64(seed);
    let slots = contested_slots(&app);
    let mut me = Patient {
        token,
        holds: Vec::new(),
        appointments: Vec::new(),
    };
    let mut outcomes = BTreeMap::new();
    for _ in 0..operations {
        let roll = rng.random_range(0..100);
        let (what, reply) = if roll < 35 || me.holds.is_empty() {
            let (doctor, start) = pick(&mut rng, &slots).clone();
            let reply = app.hold(&me.token, doctor, &start).await;
            if reply.status.is_success() {
                me.remember_hold(reply.id());
            }
            ("hold", reply)
        } else if roll < 60 {
            let hold = pick(&mut rng, &me.holds).clone();
            let reply = app.confirm(&me.token, &hold).await;
            if reply.status.is_success() && !me.appointments.contains(&reply.id()) {
                me.appointments.push(reply.id());
            }
            ("confirm", reply)
        } else if roll < 70 {
            let hold = pick(&mut rng, &me.holds).clone();
            (
                "release",
                app.delete(&me.token, &format!("/api/v1/holds/{hold}"))
                    .await,
            )
        } else if roll < 80 && !me.appointments.is_empty() {
            let appointment = pick(&mut rng, &me.appointments);
            ("cancel", app.cancel(&me.token, appointment).await)
        } else if roll < 93 && !me.appointments.is_empty() {
            let appointment = pick(&mut rng, &me.appointments);
            let hold = pick(&mut rng, &me.holds);
            (
                "reschedule",
                app.reschedule(&me.token, appointment, hold).await,
            )
        } else if roll < 96 {
            // Lets every live hold lapse; the clock is shared by all patients.
            app.advance(6);
            continue;
        } else {
            (
                "list",
                app.get(Some(&me.token), "/api/v1/appointments").await,
            )
        };
        assert_handled(what, &reply);
        let outcome = if reply.status.is_client_error() {
            format!("{what} {}", reply.problem_code())
        } else {
            format!("{what} {}", reply.status.as_u16())
        };
        *outcomes.entry(outcome).or_insert(0) += 1;
    }
    outcomes
}

async fn random_concurrent_patients_never_double_book_or_fail_with_5xx(app: TestApp) {
    const PATIENTS: usize = 12;
    const OPERATIONS: usize = 30;
    let tokens = sign_in_patients(&app, PATIENTS).await;
    let app = Arc::new(app);
    let mut patients = JoinSet::new();
    for (seed, token) in (0x5eed_u64..).zip(tokens) {
        patients.spawn(random_patient(app.clone(), token, seed, OPERATIONS));
    }
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for tally in patients.join_all().await {
        for (outcome, n) in tally {
            *outcomes.entry(outcome).or_insert(0) += n;
        }
    }
    eprintln!("{:?} outcomes: {outcomes:#?}", app.backend);

    // The workload really collided and really booked; otherwise it proves little.
    let seen = |outcome: &str| outcomes.get(outcome).copied().unwrap_or(0);
    assert!(seen("hold slot_taken") > 0, "no hold ever collided");
    assert!(seen("confirm 201") > 0, "nothing was ever booked");
    assert_bookings_consistent(&app).await;
    assert_slot_events_replay_to_the_final_state(&app).await;
}

/// Every slot change was recorded exactly once, in order: each doctor's stream is numbered
/// 1..=N without gaps, and the last event of every slot names its status now.
async fn assert_slot_events_replay_to_the_final_state(app: &TestApp) {
    assert!(
        app.count("SELECT COUNT(*) FROM slot_events").await > 0,
        "no events recorded"
    );
    let gaps = app
        .count(
            "SELECT COUNT(*) FROM (SELECT doctor_id FROM slot_events GROUP BY doctor_id
                                   HAVING COUNT(*) <> MAX(seq) OR MIN(seq) <> 1) g",
        )
        .await;
    assert_eq!(gaps, 0, "a doctor's event stream has gaps or duplicates");
    let disagreeing = app
        .count(
            "SELECT COUNT(*) FROM slot_events l
             WHERE l.seq = (SELECT MAX(e.seq) FROM slot_events e
                            WHERE e.doctor_id = l.doctor_id AND e.start_at = l.start_at)
               AND ((CASE WHEN l.status = 'booked' THEN 1 ELSE 0 END) <>
                    (SELECT COUNT(*) FROM slot_claims c JOIN appointments a
                       ON a.id = c.appointment_id
                     WHERE a.doctor_id = l.doctor_id AND a.start_at = l.start_at)
                 OR (CASE WHEN l.status = 'held' THEN 1 ELSE 0 END) <>
                    (SELECT COUNT(*) FROM slot_claims c JOIN holds h ON h.id = c.hold_id
                     WHERE c.appointment_id IS NULL AND h.doctor_id = l.doctor_id
                       AND h.start_at = l.start_at))",
        )
        .await;
    assert_eq!(
        disagreeing, 0,
        "replaying the events does not give the slots' state"
    );
}

/// The 14 slot times of the test doctor's working day.
const SLOT_TIMES: [&str; 14] = [
    "09:00", "09:30", "10:00", "10:30", "11:00", "11:30", "13:00", "13:30", "14:00", "14:30",
    "15:00", "15:30", "16:00", "16:30",
];

/// Requests a patient may fire at the same moment (a double click, a retry beside the
/// original, two open tabs).
#[derive(Clone, Copy, Debug)]
enum Own {
    Confirm,
    Release,
    Cancel,
    Reschedule,
}

/// One round of a patient racing their own requests: books `booked_at`, holds `hold_at`, then
/// sends all of `race` at once.
async fn race_own_requests(
    app: &Arc<TestApp>,
    token: &str,
    booked_at: &str,
    hold_at: &str,
    race: &[Own],
) {
    let appointment = app.book(token, booked_at).await;
    let hold = app.hold(token, app.doctor, hold_at).await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    let hold = hold.id();

    let barrier = Arc::new(Barrier::new(race.len()));
    let mut requests = JoinSet::new();
    for &request in race {
        let (app, barrier) = (app.clone(), barrier.clone());
        let (token, appointment, hold) = (token.to_owned(), appointment.clone(), hold.clone());
        requests.spawn(async move {
            barrier.wait().await;
            let reply = match request {
                Own::Confirm => app.confirm(&token, &hold).await,
                Own::Release => app.delete(&token, &format!("/api/v1/holds/{hold}")).await,
                Own::Cancel => app.cancel(&token, &appointment).await,
                Own::Reschedule => app.reschedule(&token, &appointment, &hold).await,
            };
            (request, reply)
        });
    }
    for (request, reply) in requests.join_all().await {
        assert_handled(&format!("{request:?}"), &reply);
    }
}

/// Six patients, each racing `race` on a Tuesday and then a Wednesday pair of their own slots,
/// all at the same time; then the stored bookings must still be consistent.
async fn race_own_requests_of_six_patients(app: TestApp, race: &'static [Own]) {
    const PATIENTS: usize = 6;
    let tokens = sign_in_patients(&app, PATIENTS).await;
    let app = Arc::new(app);
    let mut patients = JoinSet::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let app = app.clone();
        patients.spawn(async move {
            // A morning slot booked, an afternoon slot held, on each day.
            for day in ["2027-03-02", "2027-03-03"] {
                let booked_at = format!("{day}T{}:00+01:00", SLOT_TIMES[i]);
                let hold_at = format!("{day}T{}:00+01:00", SLOT_TIMES[i + 7]);
                race_own_requests(&app, &token, &booked_at, &hold_at, race).await;
            }
        });
    }
    patients.join_all().await;
    assert_bookings_consistent(&app).await;
}

async fn racing_confirm_against_release_of_one_hold_keeps_the_booking_claimed(app: TestApp) {
    race_own_requests_of_six_patients(app, &[Own::Confirm, Own::Release]).await;
}

async fn racing_cancel_against_reschedule_of_one_appointment_stays_consistent(app: TestApp) {
    race_own_requests_of_six_patients(app, &[Own::Cancel, Own::Reschedule]).await;
}
