//! Crash safety of the real binary: a booking storm, `kill -9` while requests are in flight,
//! a restart on the same database, and nothing acknowledged is lost (DESIGN.md invariants 1
//! and 6), on a SQLite file and on PostgreSQL.
//!
//! Sixteen signed-in patients book concurrently, each through its own loop of hold + confirm
//! over a plan of slots: three slots of its own and six slots every patient races for, in an
//! order of its own. When the storm has acknowledged a given number of bookings the server is
//! killed with `SIGKILL`, with most clients waiting for an answer. A new process is started on
//! the same database, and then:
//!
//! - every appointment whose confirmation was answered with 201 is in the database, scheduled,
//!   with the patient and start that client asked for, and the restarted server lists it to
//!   that patient over the API;
//! - what was not acknowledged is either absent or whole: no two claims of the doctor overlap,
//!   no two scheduled appointments overlap, every scheduled appointment has its claim at its
//!   own time and came from a confirmed hold, no claim belongs to a cancelled appointment or a
//!   hold that is not live, and every appointment is one its patient asked for;
//! - the database is intact: SQLite's `PRAGMA integrity_check` says `ok` and
//!   `PRAGMA foreign_key_check` finds nothing; on PostgreSQL `amcheck`'s `bt_index_check` (with
//!   `heapallindexed`) passes on every B-tree index of the app's tables (skipped with a message
//!   when the extension is not installed, a failure under `CI=true`).
//!
//! Three rounds on one database, each on fresh slots and killed at a different point (after 1,
//! 10 and 30 acknowledged bookings); the checks after each restart cover all rounds so far.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::clinic::PlainDoctor;
use common::server::{Server, medibook};
use common::{Backend, TestDatabase};
use jiff::Timestamp;
use medibook_store::Database;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Notify;

/// Concurrent patients in the storm.
const CLIENTS: usize = 16;
/// Slots every patient races for, per round.
const SHARED_SLOTS: usize = 6;
/// Slots only one patient asks for, per patient and round.
const OWN_SLOTS: usize = 3;
/// Acknowledged bookings after which each round's server is killed.
const KILL_AFTER_ACKS: [usize; 3] = [1, 10, 30];
/// Slot indices each round may use (three days of the plain doctor).
const SLOTS_PER_ROUND: usize = 60;
/// A request that takes longer than this fails the test instead of hanging it.
const REQUEST_PATIENCE: Duration = Duration::from_secs(30);

/// The patients' limits and the code limits are raised so only the slots decide who wins;
/// holds outlive the test.
const SETTINGS: &[(&str, &str)] = &[
    ("MEDIBOOK_MAX_ACTIVE_APPOINTMENTS", "1000"),
    ("MEDIBOOK_MAX_HOLDS_PER_PATIENT", "1000"),
    ("MEDIBOOK_CODES_PER_IP_PER_HOUR", "10000"),
    ("MEDIBOOK_HOLD_MINUTES", "60"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_every_acknowledged_booking_survives_kill_9_in_a_storm() {
    let Some(database) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let url = database.url.clone();
    storm_kill_and_restart(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_every_acknowledged_booking_survives_kill_9_in_a_storm() {
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    storm_kill_and_restart(&database.url).await;
}

/// A signed-in patient of the storm.
struct Patient {
    token: String,
    id: String,
}

/// A booking the server acknowledged with 201.
#[derive(Clone, Debug)]
struct Acknowledged {
    appointment: String,
    patient: usize,
    start: Timestamp,
}

/// How one client's part of a round ended.
struct ClientEnd {
    /// Its last request got no answer (the connection failed or was cut).
    cut_off: bool,
    /// When it sent its last request.
    last_sent: Instant,
}

/// What all clients of a round share.
struct Storm {
    base: String,
    doctor: String,
    acknowledged: Mutex<Vec<Acknowledged>>,
    count: AtomicUsize,
    kill_after: usize,
    enough: Notify,
}

async fn storm_kill_and_restart(database_url: &str) {
    let doctor = PlainDoctor::seed(database_url).await;
    let mut server = Server::start(database_url, medibook("storm-0", SETTINGS, false)).await;
    let http = reqwest::Client::new();
    let mut patients = Vec::new();
    for index in 0..CLIENTS {
        let (token, id) = server
            .sign_in_user(&http, &format!("storm{index}@example.org"))
            .await;
        patients.push(Patient { token, id });
    }
    let patients = Arc::new(patients);

    let mut acknowledged: Vec<Acknowledged> = Vec::new();
    let mut asked: BTreeSet<(String, Timestamp)> = BTreeSet::new();
    let mut summary = Vec::new();
    for (round, &kill_after) in KILL_AFTER_ACKS.iter().enumerate() {
        let started = Instant::now();
        let plans = plans(&doctor, round);
        for (patient, plan) in patients.iter().zip(&plans) {
            asked.extend(plan.iter().map(|start| (patient.id.clone(), *start)));
        }
        let storm = Arc::new(Storm {
            base: server.base.clone(),
            doctor: doctor.id.clone(),
            acknowledged: Mutex::new(Vec::new()),
            count: AtomicUsize::new(0),
            kill_after,
            enough: Notify::new(),
        });
        // A new client per round: no pooled connection to a dead server.
        let http = reqwest::Client::builder()
            .timeout(REQUEST_PATIENCE)
            .build()
            .unwrap();
        let clients: Vec<_> = plans
            .into_iter()
            .enumerate()
            .map(|(index, plan)| {
                let (http, storm, patients) =
                    (http.clone(), Arc::clone(&storm), Arc::clone(&patients));
                tokio::spawn(async move {
                    book_plan(&http, &storm, index, &patients[index].token, plan).await
                })
            })
            .collect();

        tokio::time::timeout(Duration::from_secs(60), storm.enough.notified())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "round {round}: {kill_after} bookings were not acknowledged in time; log:\n{}",
                    server.log_text()
                )
            });
        server.kill();
        let killed_at = Instant::now();

        let mut in_flight = 0;
        for client in clients {
            let end = client.await.expect("a client panicked");
            if end.cut_off && end.last_sent < killed_at {
                in_flight += 1;
            }
        }
        let round_acks = storm.acknowledged.lock().unwrap().clone();
        assert!(round_acks.len() >= kill_after);
        assert!(
            in_flight > 0,
            "round {round}: no request was in flight when the server was killed"
        );
        acknowledged.extend(round_acks.iter().cloned());

        server = Server::start(database_url, medibook("storm-restarted", SETTINGS, false)).await;
        let findings =
            database_findings(database_url, &doctor.id, &patients, &acknowledged, &asked).await;
        assert!(
            findings.is_empty(),
            "after round {round}:\n{}",
            findings.join("\n")
        );
        check_api(&server, &patients, &acknowledged).await;
        summary.push(format!(
            "round {round}: killed after {} acknowledged bookings with {in_flight} requests \
             in flight; {} acknowledged in all; round took {:?}",
            round_acks.len(),
            acknowledged.len(),
            started.elapsed()
        ));
    }
    eprintln!("{}", summary.join("\n"));

    // The checks can fail: a forged acknowledgement, and an appointment whose claim is gone.
    let mut forged = acknowledged.clone();
    forged.push(Acknowledged {
        appointment: uuid::Uuid::new_v4().to_string(),
        ..acknowledged[0].clone()
    });
    let findings = database_findings(database_url, &doctor.id, &patients, &forged, &asked).await;
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(findings[0].contains("is missing"), "{findings:?}");
    drop(server);
    let database = Database::connect(database_url).await.unwrap();
    medibook_store::sql::query("DELETE FROM slot_claims WHERE appointment_id = $1")
        .bind(&acknowledged[0].appointment)
        .execute(&mut database.open_writing_connection().await.unwrap())
        .await
        .unwrap();
    database.close().await;
    let findings =
        database_findings(database_url, &doctor.id, &patients, &acknowledged, &asked).await;
    assert_eq!(
        findings,
        ["1 scheduled appointments without their claim at their own time"]
    );

    // A change written without its audit entry is caught too (the trail itself refuses deletes,
    // so the stray change is written beside it).
    let database = Database::connect(database_url).await.unwrap();
    let stray = uuid::Uuid::now_v7().to_string();
    medibook_store::sql::query(
        "INSERT INTO holds (id, doctor_id, patient_id, start_at, end_at, claim_start, claim_end,
                            expires_at, state, appointment_id, created_at)
         VALUES ($1, $2, $3, 0, 1, 0, 1, 1, 'released', NULL, 0)",
    )
    .bind(&stray)
    .bind(&doctor.id)
    .bind(&patients[0].id)
    .execute(&mut database.open_writing_connection().await.unwrap())
    .await
    .unwrap();
    database.close().await;
    let findings =
        database_findings(database_url, &doctor.id, &patients, &acknowledged, &asked).await;
    assert_eq!(
        findings,
        [
            "1 scheduled appointments without their claim at their own time",
            "1 holds without their hold.create audit entry",
            "1 released holds without their hold.release audit entry",
        ]
    );
}

/// Each patient's slots for `round`: its own and the shared ones, in an order drawn from a
/// seed of its own.
fn plans(doctor: &PlainDoctor, round: usize) -> Vec<Vec<Timestamp>> {
    let base = round * SLOTS_PER_ROUND;
    (0..CLIENTS)
        .map(|client| {
            let mut plan: Vec<Timestamp> = (0..SHARED_SLOTS)
                .map(|i| doctor.slot(base + i))
                .chain(
                    (0..OWN_SLOTS)
                        .map(|i| doctor.slot(base + SHARED_SLOTS + client * OWN_SLOTS + i)),
                )
                .collect();
            let seed = u64::try_from(round * CLIENTS + client).unwrap();
            plan.shuffle(&mut StdRng::seed_from_u64(seed));
            plan
        })
        .collect()
}

/// Holds and confirms each slot of `plan` in turn until the plan ends or the server stops
/// answering.
async fn book_plan(
    http: &reqwest::Client,
    storm: &Storm,
    patient: usize,
    token: &str,
    plan: Vec<Timestamp>,
) -> ClientEnd {
    let mut last_sent = Instant::now();
    for start in plan {
        last_sent = Instant::now();
        let hold = http
            .post(format!("{}/api/v1/holds", storm.base))
            .bearer_auth(token)
            .json(&json!({ "doctor_id": storm.doctor, "start": start }))
            .send()
            .await;
        let Some((status, hold)) = answer(hold).await else {
            return ClientEnd {
                cut_off: true,
                last_sent,
            };
        };
        match status {
            StatusCode::CREATED => {}
            StatusCode::CONFLICT => {
                assert_eq!(hold["code"], "slot_taken", "{hold}");
                continue;
            }
            other => panic!("holding {start}: {other} {hold}"),
        }
        last_sent = Instant::now();
        if gives_back(start) {
            // Some holds are given back: releases race the crash too, and must be audited.
            let released = http
                .delete(format!(
                    "{}/api/v1/holds/{}",
                    storm.base,
                    hold["id"].as_str().unwrap()
                ))
                .bearer_auth(token)
                .send()
                .await;
            match answer(released).await {
                None => {
                    return ClientEnd {
                        cut_off: true,
                        last_sent,
                    };
                }
                Some((status, body)) => {
                    assert_eq!(status, StatusCode::NO_CONTENT, "releasing {start}: {body}");
                }
            }
            continue;
        }
        let booked = http
            .post(format!("{}/api/v1/appointments", storm.base))
            .bearer_auth(token)
            .json(&json!({ "hold_id": hold["id"], "reason": "Storm check-up" }))
            .send()
            .await;
        let Some((status, booked)) = answer(booked).await else {
            return ClientEnd {
                cut_off: true,
                last_sent,
            };
        };
        assert_eq!(status, StatusCode::CREATED, "confirming {start}: {booked}");
        assert_eq!(booked["status"], "scheduled", "{booked}");
        storm.acknowledged.lock().unwrap().push(Acknowledged {
            appointment: booked["id"].as_str().expect("an id").to_owned(),
            patient,
            start,
        });
        if storm.count.fetch_add(1, Ordering::SeqCst) + 1 == storm.kill_after {
            storm.enough.notify_one();
        }
    }
    ClientEnd {
        cut_off: false,
        last_sent,
    }
}

/// Whether the storm gives the hold of the slot at `start` back instead of booking it (one in
/// five of the doctor's half-hour slots, the same for every patient, so contested slots are
/// freed and retaken).
fn gives_back(start: Timestamp) -> bool {
    (start.as_second() / 1800) % 5 == 2
}

/// The status and JSON body of a response, or `None` when no whole answer arrived.
async fn answer(response: reqwest::Result<reqwest::Response>) -> Option<(StatusCode, Value)> {
    let response = response.ok()?;
    let status = response.status();
    let body = response.bytes().await.ok()?;
    Some((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// What is wrong with the database after a restart: acknowledged bookings missing or changed,
/// appointments nobody asked for, half-written changes, damage. Empty when all is well.
async fn database_findings(
    url: &str,
    doctor: &str,
    patients: &[Patient],
    acknowledged: &[Acknowledged],
    asked: &BTreeSet<(String, Timestamp)>,
) -> Vec<String> {
    let database = Database::connect(url).await.expect("the database opens");
    let rows = medibook_store::sql::query(
        "SELECT id, patient_id, start_at, status FROM appointments WHERE doctor_id = $1",
    )
    .bind(doctor)
    .fetch_all(database.pool())
    .await
    .unwrap();
    let stored: BTreeMap<String, (String, i64, String)> = rows
        .iter()
        .map(|row| {
            (
                row.get::<String, _>(0),
                (row.get(1), row.get::<i64, _>(2), row.get(3)),
            )
        })
        .collect();
    let mut findings = Vec::new();
    for ack in acknowledged {
        match stored.get(&ack.appointment) {
            None => findings.push(format!("acknowledged {ack:?} is missing")),
            Some((patient, start_at, status)) => {
                if patient != &patients[ack.patient].id
                    || *start_at != micros(ack.start)
                    || status != "scheduled"
                {
                    findings.push(format!(
                        "acknowledged {ack:?} is stored as {status} at {start_at} for {patient}"
                    ));
                }
            }
        }
    }
    for (id, (patient, start_at, _)) in &stored {
        let start = Timestamp::from_microsecond(*start_at).unwrap();
        if !asked.contains(&(patient.clone(), start)) {
            findings.push(format!(
                "appointment {id} at {start} was never asked for by its patient"
            ));
        }
    }
    for (what, sql) in HALF_PRESENT {
        let found: i64 = medibook_store::sql::query(*sql)
            .fetch_one(database.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .get(0);
        if found != 0 {
            findings.push(format!("{found} {what}"));
        }
    }
    findings.extend(match database.backend() {
        medibook_store::Backend::Sqlite => sqlite_integrity(&database).await,
        medibook_store::Backend::Postgres => postgres_index_check(&database).await,
    });
    database.close().await;
    findings
}

/// Counts of what must never be found, whatever the moment of the crash.
const HALF_PRESENT: &[(&str, &str)] = &[
    (
        "overlapping claims of one doctor",
        "SELECT COUNT(*) FROM slot_claims a JOIN slot_claims b
           ON a.doctor_id = b.doctor_id AND a.id < b.id
          AND a.claim_start < b.claim_end AND b.claim_start < a.claim_end",
    ),
    (
        "overlapping scheduled appointments of one doctor",
        "SELECT COUNT(*) FROM appointments a JOIN appointments b
           ON a.doctor_id = b.doctor_id AND a.id < b.id
          AND a.status = 'scheduled' AND b.status = 'scheduled'
          AND a.start_at < b.end_at AND b.start_at < a.end_at",
    ),
    (
        "scheduled appointments without their claim at their own time",
        "SELECT COUNT(*) FROM appointments a
          WHERE a.status = 'scheduled' AND NOT EXISTS (
                SELECT 1 FROM slot_claims c WHERE c.appointment_id = a.id
                   AND c.claim_start = a.start_at AND c.claim_end = a.end_at)",
    ),
    (
        "claims of cancelled appointments",
        "SELECT COUNT(*) FROM slot_claims c JOIN appointments a ON a.id = c.appointment_id
          WHERE a.status = 'cancelled'",
    ),
    (
        "claims of holds that are not live",
        "SELECT COUNT(*) FROM slot_claims c JOIN holds h ON h.id = c.hold_id
          WHERE c.appointment_id IS NULL AND h.state <> 'active'",
    ),
    (
        "live holds without a claim",
        "SELECT COUNT(*) FROM holds h WHERE h.state = 'active'
            AND NOT EXISTS (SELECT 1 FROM slot_claims c WHERE c.hold_id = h.id)",
    ),
    (
        "appointments whose hold is not confirmed as that appointment",
        "SELECT COUNT(*) FROM appointments a JOIN holds h ON h.id = a.origin_hold_id
          WHERE h.state <> 'confirmed' OR h.appointment_id IS NULL OR h.appointment_id <> a.id",
    ),
    (
        "confirmed holds without their appointment",
        "SELECT COUNT(*) FROM holds h WHERE h.state = 'confirmed'
            AND NOT EXISTS (SELECT 1 FROM appointments a WHERE a.id = h.appointment_id)",
    ),
    // Every change commits with its audit entry, and no entry without its change.
    (
        "holds without their hold.create audit entry",
        "SELECT COUNT(*) FROM holds h
          WHERE NOT EXISTS (SELECT 1 FROM audit_log l
                             WHERE l.action = 'hold.create' AND l.subject_id = h.id)
            AND NOT EXISTS (SELECT 1 FROM waitlist_offers o WHERE o.hold_id = h.id)",
    ),
    (
        "released holds without their hold.release audit entry",
        "SELECT COUNT(*) FROM holds h WHERE h.state = 'released'
            AND NOT EXISTS (SELECT 1 FROM audit_log l
                             WHERE l.action = 'hold.release' AND l.subject_id = h.id)",
    ),
    (
        "appointments without their appointment.create audit entry",
        "SELECT COUNT(*) FROM appointments a
          WHERE NOT EXISTS (SELECT 1 FROM audit_log l
                             WHERE l.action = 'appointment.create' AND l.subject_id = a.id)",
    ),
    (
        "cancelled appointments without their appointment.cancel audit entry",
        "SELECT COUNT(*) FROM appointments a WHERE a.status = 'cancelled'
            AND NOT EXISTS (SELECT 1 FROM audit_log l
                             WHERE l.action = 'appointment.cancel' AND l.subject_id = a.id)",
    ),
    (
        "hold.create audit entries of holds that were never stored",
        "SELECT COUNT(*) FROM audit_log l WHERE l.action = 'hold.create'
            AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.id = l.subject_id)",
    ),
    (
        "appointment.create audit entries of appointments that were never stored",
        "SELECT COUNT(*) FROM audit_log l WHERE l.action = 'appointment.create'
            AND NOT EXISTS (SELECT 1 FROM appointments a WHERE a.id = l.subject_id)",
    ),
];

/// What `PRAGMA integrity_check` and `PRAGMA foreign_key_check` find.
async fn sqlite_integrity(database: &Database) -> Vec<String> {
    let rows = medibook_store::sql::query("PRAGMA integrity_check")
        .fetch_all(database.pool())
        .await
        .unwrap();
    let mut findings: Vec<String> = rows
        .iter()
        .map(|row| row.get::<String, _>(0))
        .filter(|line| line != "ok")
        .map(|line| format!("integrity_check: {line}"))
        .collect();
    let rows = medibook_store::sql::query("PRAGMA foreign_key_check")
        .fetch_all(database.pool())
        .await
        .unwrap();
    findings.extend(
        rows.iter()
            .map(|row| format!("foreign_key_check: {}", row.get::<String, _>(0))),
    );
    findings
}

/// What `bt_index_check` with `heapallindexed` finds on the B-tree indexes of the public schema,
/// when `amcheck` is available (required under `CI=true`).
async fn postgres_index_check(database: &Database) -> Vec<String> {
    let available: i64 = medibook_store::sql::query(
        "SELECT COUNT(*) FROM pg_available_extensions WHERE name = 'amcheck'",
    )
    .fetch_one(database.pool())
    .await
    .unwrap()
    .get(0);
    if available == 0 {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "the amcheck extension (postgresql-contrib) must be installed under CI=true"
        );
        eprintln!("skipping the index check: the amcheck extension is not installed");
        return Vec::new();
    }
    medibook_store::sql::query("CREATE EXTENSION IF NOT EXISTS amcheck")
        .execute(database.pool())
        .await
        .unwrap();
    let checked = medibook_store::sql::query(
        "SELECT i.relname::text, bt_index_check(i.oid::regclass, true)::text
           FROM pg_index x
           JOIN pg_class i ON i.oid = x.indexrelid
           JOIN pg_class t ON t.oid = x.indrelid
           JOIN pg_namespace n ON n.oid = t.relnamespace
           JOIN pg_am am ON am.oid = i.relam
          WHERE n.nspname = 'public' AND am.amname = 'btree'",
    )
    .fetch_all(database.pool())
    .await;
    let checked: Vec<String> = match checked {
        Ok(rows) => rows.iter().map(|row| row.get::<String, _>(0)).collect(),
        Err(e) => return vec![format!("amcheck: {e}")],
    };
    ["appointments_pkey", "holds_pkey", "slot_claims_pkey"]
        .into_iter()
        .filter(|index| !checked.iter().any(|name| name == index))
        .map(|index| format!("amcheck: {index} was not checked ({checked:?})"))
        .collect()
}

/// The restarted server lists each acknowledged appointment to its patient, scheduled, at its
/// time.
async fn check_api(server: &Server, patients: &[Patient], acknowledged: &[Acknowledged]) {
    let http = reqwest::Client::builder()
        .timeout(REQUEST_PATIENCE)
        .build()
        .unwrap();
    for (index, patient) in patients.iter().enumerate() {
        let response = http
            .get(format!("{}/api/v1/appointments", server.base))
            .bearer_auth(&patient.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let listed: Vec<Value> = response.json().await.unwrap();
        for ack in acknowledged.iter().filter(|ack| ack.patient == index) {
            let found = listed
                .iter()
                .find(|a| a["id"] == ack.appointment.as_str())
                .unwrap_or_else(|| panic!("{ack:?} is not listed to its patient: {listed:?}"));
            assert_eq!(found["status"], "scheduled", "{found}");
            let start: Timestamp = found["start"].as_str().unwrap().parse().unwrap();
            assert_eq!(start, ack.start, "{found}");
        }
    }
}

/// Microseconds since the Unix epoch, as the tables store instants.
fn micros(instant: Timestamp) -> i64 {
    instant.as_microsecond()
}
