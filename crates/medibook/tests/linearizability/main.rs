//! Linearizability of booking across two server processes on one PostgreSQL database, with
//! their events crossing through PostgreSQL `NOTIFY`, or through Redis (where the instances
//! also share the doctors' agendas their listings read).
//!
//! Two `medibook serve` processes of the real binary share a database; each has its own
//! connection pool and event bus, exactly as two instances behind a load balancer (a process
//! each, rather than two apps in the test's runtime, so nothing is shared that production would
//! not share). Six patients each issue twenty random operations (holds, releases, confirmations,
//! cancellations, reschedules, slot listings) on four adjacent slots of one doctor, each sending its
//! requests alternately to the two instances, with no pause between them. Every operation is
//! recorded with the moment it was sent, the moment its answer arrived and the answer. The
//! history is then checked ([`checker`]) against the sequential rules ([`model`]): some order of
//! the operations that respects real time must produce exactly the observed answers. Six
//! rounds with different seeds, each on fresh slots. As a check of the check, each recorded
//! history with one forged answer added (a second patient winning a held slot) must be refused.
//!
//! Holds last an hour and patient limits are raised, so neither expiry nor limits play a part.
//! The checker and the model have their own tests on hand-written histories, including ones
//! that must be refused (two winners for one slot, a stale read, a reschedule seen half done).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod checker;
mod model;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::clinic::PlainDoctor;
use common::server::{Server, medibook};
use common::{Backend, TestDatabase};
use jiff::Timestamp;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{Value, json};

use checker::{Operation, check};
use model::{Action, Agenda, Outcome, Request, Shown};

/// Concurrent patients.
const CLIENTS: usize = 6;
/// Operations each patient issues per round.
const OPERATIONS: usize = 20;
/// Adjacent slots of the doctor per round.
const SLOTS: usize = 4;
/// One seed per round.
const SEEDS: [u64; 6] = [7, 1_001, 4_242, 31_337, 65_521, 424_242];
/// A request that takes longer than this fails the test instead of hanging it.
const REQUEST_PATIENCE: Duration = Duration::from_secs(30);
/// Holds outlive the test; only the slots decide who wins.
const SETTINGS: &[(&str, &str)] = &[
    ("MEDIBOOK_MAX_ACTIVE_APPOINTMENTS", "1000"),
    ("MEDIBOOK_MAX_HOLDS_PER_PATIENT", "1000"),
    ("MEDIBOOK_CODES_PER_IP_PER_HOUR", "10000"),
    ("MEDIBOOK_HOLD_MINUTES", "60"),
];

type Op = Operation<Request, Outcome>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_bookings_through_two_instances_are_linearizable() {
    two_instances_are_linearizable(SETTINGS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_bookings_through_two_instances_sharing_agendas_in_redis_are_linearizable()
 {
    let Some(redis_url) = common::redis_url() else {
        return;
    };
    let channel = common::fresh_redis_channel();
    let mut settings = SETTINGS.to_vec();
    settings.push(("MEDIBOOK_REDIS_URL", &redis_url));
    settings.push(("MEDIBOOK_REDIS_CHANNEL", &channel));
    two_instances_are_linearizable(&settings).await;
}

/// Six rounds of random operations through two instances started with `settings`, each
/// history checked.
async fn two_instances_are_linearizable(settings: &[(&str, &str)]) {
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let doctor = PlainDoctor::seed(&database.url).await;
    let a = Server::start(&database.url, medibook("a", settings, false)).await;
    let http = reqwest::Client::builder()
        .timeout(REQUEST_PATIENCE)
        .build()
        .unwrap();
    // Signed in before B starts: codes go out through the shared outbox, and B's worker could
    // deliver (log) one that A's log is searched for.
    let mut tokens = Vec::new();
    for patient in 0..CLIENTS {
        tokens.push(
            a.sign_in(&http, &format!("linear{patient}@example.org"))
                .await,
        );
    }
    let b = Server::start(&database.url, medibook("b", settings, false)).await;
    let world = Arc::new(World {
        http,
        bases: [a.base.clone(), b.base.clone()],
        doctor: doctor.id.clone(),
        tokens,
    });

    let mut totals = Tally::default();
    for (round, seed) in SEEDS.into_iter().enumerate() {
        // Fresh slots each round, on a day of their own (20 slots a day).
        let slots: Vec<Timestamp> = (0..SLOTS)
            .map(|i| doctor.slot(round * common::clinic::SLOTS_PER_DAY + 4 + i))
            .collect();
        let started = Instant::now();
        let history = run_round(&world, &slots, seed).await;
        let ran = started.elapsed();
        let checking = Instant::now();
        if let Err(refusal) = check(&Agenda::new(SLOTS), &history) {
            panic!(
                "round {round} (seed {seed}) is not linearizable; longest linearizable \
                 prefix: {:?}\nhistory:\n{}\nserver a:\n{}\nserver b:\n{}",
                refusal.longest_prefix,
                show(&history),
                a.log_text(),
                b.log_text()
            );
        }
        assert!(
            check(&Agenda::new(SLOTS), &with_a_second_winner(&history)).is_err(),
            "round {round}: a forged second winner of a slot went unnoticed"
        );
        let tally = Tally::of(&history);
        eprintln!(
            "round {round} (seed {seed}): {} operations in {ran:?}, linearizable (checked in \
             {:?}); {tally:?}",
            history.len(),
            checking.elapsed()
        );
        totals.add(&tally);
    }
    // The runs exercised what they are meant to: winners, conflicts, bookings and moves.
    assert!(totals.holds > 0 && totals.taken > 0, "{totals:?}");
    assert!(totals.bookings > 0 && totals.reads > 0, "{totals:?}");
}

/// What all clients share.
struct World {
    http: reqwest::Client,
    bases: [String; 2],
    doctor: String,
    tokens: Vec<String>,
}

/// Runs every client's operations concurrently; returns the history.
async fn run_round(world: &Arc<World>, slots: &[Timestamp], seed: u64) -> Vec<Op> {
    let epoch = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|patient| {
            let world = Arc::clone(world);
            let slots = slots.to_vec();
            let seed = seed
                .wrapping_mul(31)
                .wrapping_add(u64::try_from(patient).unwrap());
            tokio::spawn(async move { run_client(&world, &slots, patient, seed, epoch).await })
        })
        .collect();
    let mut history = Vec::new();
    for client in clients {
        history.extend(client.await.expect("a client panicked"));
    }
    history
}

/// One patient's operations, one at a time, alternating between the instances.
async fn run_client(
    world: &World,
    slots: &[Timestamp],
    patient: usize,
    seed: u64,
    epoch: Instant,
) -> Vec<Op> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut holds: Vec<String> = Vec::new();
    let mut appointments: Vec<String> = Vec::new();
    let mut history = Vec::new();
    for step in 0..OPERATIONS {
        let action = choose(&mut rng, slots.len(), &holds, &appointments);
        let base = &world.bases[(patient + step) % 2];
        let invoked = epoch.elapsed();
        let outcome = perform(world, base, slots, patient, &action).await;
        let returned = epoch.elapsed();
        match &outcome {
            Outcome::Held { hold, .. } if !holds.contains(hold) => holds.push(hold.clone()),
            Outcome::Appointment { id, .. } if !appointments.contains(id) => {
                appointments.push(id.clone());
            }
            _ => {}
        }
        history.push(Operation {
            client: patient,
            invoked,
            returned,
            call: Request { patient, action },
            outcome,
        });
    }
    history
}

/// A random next action, using the ids this patient has been given so far.
fn choose(rng: &mut StdRng, slots: usize, holds: &[String], appointments: &[String]) -> Action {
    let hold = holds.choose(rng).cloned();
    let appointment = appointments.choose(rng).cloned();
    match (rng.random_range(0..100), hold, appointment) {
        (0..30, _, _) | (30..85, None, _) => Action::Hold(rng.random_range(0..slots)),
        (30..48, Some(hold), _) => Action::Confirm(hold),
        (48..58, Some(hold), _) => Action::Release(hold),
        (58..70, _, Some(appointment)) => Action::Cancel(appointment),
        (58..85, Some(hold), Some(appointment)) => Action::Reschedule { appointment, hold },
        (58..85, Some(hold), None) => Action::Confirm(hold),
        _ => Action::ReadSlots,
    }
}

/// Sends `action` to the instance at `base` and reads the answer into an [`Outcome`].
async fn perform(
    world: &World,
    base: &str,
    slots: &[Timestamp],
    patient: usize,
    action: &Action,
) -> Outcome {
    let token = &world.tokens[patient];
    let http = &world.http;
    let request = match action {
        Action::Hold(slot) => http
            .post(format!("{base}/api/v1/holds"))
            .json(&json!({ "doctor_id": world.doctor, "start": slots[*slot] })),
        Action::Release(hold) => http.delete(format!("{base}/api/v1/holds/{hold}")),
        Action::Confirm(hold) => http
            .post(format!("{base}/api/v1/appointments"))
            .json(&json!({ "hold_id": hold, "reason": "Linearizability check" })),
        Action::Cancel(appointment) => http
            .post(format!("{base}/api/v1/appointments/{appointment}/cancel"))
            .json(&json!({})),
        Action::Reschedule { appointment, hold } => http
            .post(format!(
                "{base}/api/v1/appointments/{appointment}/reschedule"
            ))
            .json(&json!({ "hold_id": hold })),
        Action::ReadSlots => {
            let date = &slots[0].to_string()[..10];
            http.get(format!(
                "{base}/api/v1/slots?doctor_id={}&date={date}&days=1",
                world.doctor
            ))
        }
    };
    let response = request
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{action:?}: {e}"));
    let status = response.status();
    let body: Value = match response.bytes().await.unwrap() {
        bytes if bytes.is_empty() => Value::Null,
        bytes => serde_json::from_slice(&bytes).unwrap(),
    };
    assert!(
        !status.is_server_error(),
        "{action:?} on {base}: {status} {body}"
    );
    if status.is_client_error() {
        let code = body["code"]
            .as_str()
            .unwrap_or_else(|| panic!("{status} {body}"));
        return Outcome::Refused(code.to_owned());
    }
    let slot_of = |value: &Value| -> usize {
        let start: Timestamp = value.as_str().unwrap().parse().unwrap();
        slots
            .iter()
            .position(|slot| *slot == start)
            .unwrap_or_else(|| panic!("{start} is not a slot of this round: {body}"))
    };
    match action {
        Action::Hold(slot) => {
            assert_eq!(slot_of(&body["start"]), *slot, "{body}");
            Outcome::Held {
                hold: body["id"].as_str().unwrap().to_owned(),
                created: status == StatusCode::CREATED,
            }
        }
        Action::Release(_) => {
            assert_eq!(status, StatusCode::NO_CONTENT);
            Outcome::Released
        }
        Action::Confirm(_) | Action::Cancel(_) | Action::Reschedule { .. } => {
            let state = body["status"].as_str().unwrap();
            assert!(matches!(state, "scheduled" | "cancelled"), "{body}");
            Outcome::Appointment {
                id: body["id"].as_str().unwrap().to_owned(),
                slot: slot_of(&body["start"]),
                cancelled: state == "cancelled",
                created: status == StatusCode::CREATED,
            }
        }
        Action::ReadSlots => {
            let listed = body.as_array().unwrap();
            let shown = slots
                .iter()
                .map(|slot| {
                    let entry = listed
                        .iter()
                        .find(|entry| {
                            entry["start"].as_str().and_then(|s| s.parse().ok()) == Some(*slot)
                        })
                        .unwrap_or_else(|| panic!("{slot} is not listed: {body}"));
                    match entry["status"].as_str().unwrap() {
                        "available" => Shown::Available,
                        "held" => Shown::Held,
                        "booked" => Shown::Booked,
                        other => panic!("status {other} of {slot}"),
                    }
                })
                .collect();
            Outcome::Slots(shown)
        }
    }
}

/// `history` plus a forged operation: a patient who issued nothing else is given a new hold of
/// the slot of the first hold created, over exactly the same interval. Two patients holding one
/// slot at once can never be linearized, so the checker must refuse this history.
fn with_a_second_winner(history: &[Op]) -> Vec<Op> {
    let won = history
        .iter()
        .find(|op| matches!(op.outcome, Outcome::Held { created: true, .. }))
        .expect("some hold was created");
    let mut forged = history.to_vec();
    forged.push(Operation {
        client: CLIENTS,
        call: Request {
            patient: CLIENTS,
            action: won.call.action.clone(),
        },
        outcome: Outcome::Held {
            hold: "forged".to_owned(),
            created: true,
        },
        ..won.clone()
    });
    forged
}

/// The history in invocation order, one operation a line.
fn show(history: &[Op]) -> String {
    let mut order: Vec<usize> = (0..history.len()).collect();
    order.sort_by_key(|&i| history[i].invoked);
    order
        .into_iter()
        .map(|i| {
            let op = &history[i];
            format!(
                "#{i:<3} client {} {:>9.3?}..{:>9.3?} {:?} -> {:?}",
                op.client, op.invoked, op.returned, op.call.action, op.outcome
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// How many operations of a history succeeded or were refused, by kind.
#[derive(Debug, Default)]
struct Tally {
    holds: usize,
    taken: usize,
    bookings: usize,
    moves: usize,
    cancellations: usize,
    releases: usize,
    reads: usize,
    other_refusals: usize,
}

impl Tally {
    fn of(history: &[Op]) -> Self {
        let mut tally = Self::default();
        for op in history {
            match (&op.call.action, &op.outcome) {
                (_, Outcome::Refused(code)) if code == "slot_taken" => tally.taken += 1,
                (_, Outcome::Refused(_)) => tally.other_refusals += 1,
                (Action::Hold(_), _) => tally.holds += 1,
                (Action::Confirm(_), _) => tally.bookings += 1,
                (Action::Reschedule { .. }, _) => tally.moves += 1,
                (Action::Cancel(_), _) => tally.cancellations += 1,
                (Action::Release(_), _) => tally.releases += 1,
                (Action::ReadSlots, _) => tally.reads += 1,
            }
        }
        tally
    }

    fn add(&mut self, other: &Self) {
        self.holds += other.holds;
        self.taken += other.taken;
        self.bookings += other.bookings;
        self.moves += other.moves;
        self.cancellations += other.cancellations;
        self.releases += other.releases;
        self.reads += other.reads;
        self.other_refusals += other.other_refusals;
    }
}
