//! A booking storm with faults, on PostgreSQL: two instances behind one TCP proxy to the
//! database; sixteen patients book for a minute (`MEDIBOOK_STORM_SECONDS`), racing for the same
//! slots; the proxy is restarted twice (every connection cut, refused for two seconds) and one
//! instance is killed with SIGKILL. Afterwards every acknowledged booking is in the database,
//! scheduled, with its patient and time; no slot is booked twice; and the surviving instance
//! still books. The figures are printed (run with `--no-capture` to read them).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use medibook_testkit::proxy::{Fault, FaultyProxy};
use medibook_testkit::psql;
use rand::Rng;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::OPEN_LIMITS;
use crate::common::clinic::PlainDoctor;
use crate::common::server::{Server, medibook};
use crate::common::{Backend, TestDatabase};

/// Patients booking at once.
const CLIENTS: usize = 16;
/// Slots the storm books, from the first on: at any moment the patients race for a window of
/// [`WINDOW`] of them that moves along as the storm goes on, so that the race never ends.
const SLOTS: usize = 1100;
/// Slots raced for at once.
const WINDOW: usize = 12;

/// What the storm saw.
#[derive(Debug, Default)]
struct Tally {
    /// Appointment id, patient id, start, and when (since the storm began) it was answered.
    acknowledged: Vec<(String, String, String, Duration)>,
    attempts: usize,
    taken: usize,
    unavailable: usize,
    cut_off: usize,
    other: BTreeMap<String, usize>,
}

fn storm_seconds() -> u64 {
    std::env::var("MEDIBOOK_STORM_SECONDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(60)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_storm_survives_proxy_restarts_and_a_killed_instance() {
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let doctor = PlainDoctor::seed(&database.url).await;
    let (proxy, through) = FaultyProxy::to_postgres(&database.url).await;
    let a = Server::start(&through, medibook("storm-a", OPEN_LIMITS, false)).await;
    let mut b = Server::start(&through, medibook("storm-b", OPEN_LIMITS, false)).await;
    let bases = [a.base.clone(), b.base.clone()];
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut tokens = Vec::new();
    for client in 0..CLIENTS {
        let server = if client % 2 == 0 { &a } else { &b };
        let (token, user) = server
            .sign_in_user(&http, &format!("storm{client}@example.org"))
            .await;
        tokens.push((token, user));
    }
    let slots: Vec<String> = (0..SLOTS).map(|i| doctor.slot(i).to_string()).collect();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let seconds = storm_seconds();
    let began = Instant::now();
    let deadline = began + Duration::from_secs(seconds);

    let mut clients = Vec::new();
    for (client, (token, user)) in tokens.into_iter().enumerate() {
        let (http, tally, slots, bases) = (
            http.clone(),
            Arc::clone(&tally),
            slots.clone(),
            bases.clone(),
        );
        let doctor_id = doctor.id.clone();
        let total = Duration::from_secs(seconds);
        clients.push(tokio::spawn(async move {
            // Half the patients book through b until it stops answering.
            let mut on_b = client % 2 == 1;
            while Instant::now() < deadline {
                let base = &bases[usize::from(on_b)];
                let progress = began.elapsed().as_secs_f64() / total.as_secs_f64();
                let first = ((slots.len() - WINDOW) as f64 * progress.min(1.0)) as usize;
                let start = slots[first + rand::rng().random_range(0..WINDOW)].clone();
                let outcome = book(&http, base, &token, &doctor_id, &start).await;
                let mut tally = tally.lock().await;
                tally.attempts += 1;
                match outcome {
                    Ok(id) => tally
                        .acknowledged
                        .push((id, user.clone(), start, began.elapsed())),
                    Err(Outcome::Taken) => tally.taken += 1,
                    Err(Outcome::Unavailable) => tally.unavailable += 1,
                    Err(Outcome::CutOff) => {
                        tally.cut_off += 1;
                        if on_b && b_gone(&http, &bases[1]).await {
                            on_b = false;
                        }
                    }
                    Err(Outcome::Other(what)) => *tally.other.entry(what).or_default() += 1,
                }
                drop(tally);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }

    // The faults, spread over the storm.
    let at = |fraction: f64| began + Duration::from_secs_f64(seconds as f64 * fraction);
    for restart in [0.2, 0.45] {
        tokio::time::sleep_until(at(restart).into()).await;
        proxy.set(Fault::Refuse);
        tokio::time::sleep(Duration::from_secs(2)).await;
        proxy.set(Fault::None);
        eprintln!("storm: proxy restarted at {:?}", began.elapsed());
    }
    tokio::time::sleep_until(at(0.7).into()).await;
    b.kill();
    let killed_at = began.elapsed();
    eprintln!("storm: instance b killed at {:?}", began.elapsed());
    for client in clients {
        client.await.unwrap();
    }
    let elapsed = began.elapsed();

    // The survivor serves.
    let (status, _) = crate::readiness(&a).await;
    assert_eq!(status, StatusCode::OK, "the survivor is ready");
    let (token, _) = a.sign_in_user(&http, "after.storm@example.org").await;
    let after = book(
        &http,
        &a.base,
        &token,
        &doctor.id,
        &doctor.slot(SLOTS + 10).to_string(),
    )
    .await;
    assert!(after.is_ok(), "the survivor books after the storm");

    let tally = tally.lock().await;
    eprintln!(
        "storm: {:.1} s, {} attempts ({:.0}/s), {} acknowledged, {} slot_taken, {} 503, {} cut off, other {:?}",
        elapsed.as_secs_f64(),
        tally.attempts,
        tally.attempts as f64 / elapsed.as_secs_f64(),
        tally.acknowledged.len(),
        tally.taken,
        tally.unavailable,
        tally.cut_off,
        tally.other
    );
    let after_kill = tally
        .acknowledged
        .iter()
        .filter(|(.., when)| *when > killed_at)
        .count();
    eprintln!("storm: {after_kill} acknowledged after instance b was killed");
    assert!(after_kill > 0, "the survivor kept booking after the kill");
    assert!(
        tally.other.is_empty(),
        "only slot_taken, 503 and cut-offs fail: {:?}",
        tally.other
    );

    // Every acknowledged booking is there, whole; no slot is booked twice.
    let stored: BTreeMap<String, String> = psql(
        &database.url,
        "SELECT id || '=' || status || '|' || patient_id || '|' || start_at FROM appointments",
    )
    .lines()
    .filter_map(|line| line.split_once('='))
    .map(|(id, rest)| (id.to_owned(), rest.to_owned()))
    .collect();
    for (id, patient, start, _) in &tally.acknowledged {
        let expected_start = start
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_microsecond()
            .to_string();
        assert_eq!(
            stored.get(id).map(String::as_str),
            Some(format!("scheduled|{patient}|{expected_start}").as_str()),
            "acknowledged appointment {id}"
        );
    }
    let overlapping = psql(
        &database.url,
        "SELECT COUNT(*) FROM appointments a JOIN appointments b
           ON a.doctor_id = b.doctor_id AND a.id < b.id
          AND a.status = 'scheduled' AND b.status = 'scheduled'
          AND a.start_at < b.end_at AND b.start_at < a.end_at",
    );
    assert_eq!(overlapping.trim(), "0", "no slot is booked twice");
}

/// Whether the instance at `base` no longer answers at all.
async fn b_gone(http: &reqwest::Client, base: &str) -> bool {
    http.get(format!("{base}/healthz")).send().await.is_err()
}

enum Outcome {
    Taken,
    Unavailable,
    CutOff,
    Other(String),
}

/// Holds and confirms `start`; the appointment's id, or why not.
async fn book(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    doctor: &str,
    start: &str,
) -> Result<String, Outcome> {
    let hold = answer(
        http.post(format!("{base}/api/v1/holds"))
            .bearer_auth(token)
            .json(&json!({ "doctor_id": doctor, "start": start })),
    )
    .await?;
    let booked = answer(
        http.post(format!("{base}/api/v1/appointments"))
            .bearer_auth(token)
            .json(&json!({ "hold_id": hold["id"], "reason": "Storm" })),
    )
    .await?;
    Ok(booked["id"].as_str().unwrap_or_default().to_owned())
}

async fn answer(request: reqwest::RequestBuilder) -> Result<Value, Outcome> {
    let response = request.send().await.map_err(|_| Outcome::CutOff)?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|_| Outcome::CutOff)?;
    match status {
        StatusCode::CREATED | StatusCode::OK => Ok(body),
        StatusCode::SERVICE_UNAVAILABLE => Err(Outcome::Unavailable),
        StatusCode::CONFLICT if body["code"] == "slot_taken" => Err(Outcome::Taken),
        other => Err(Outcome::Other(format!(
            "{other} {}",
            body["code"].as_str().unwrap_or_default()
        ))),
    }
}
