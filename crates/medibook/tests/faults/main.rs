//! The server under faults of what it runs on, each made real: a full disk under SQLite (a
//! tmpfs that is filled), PostgreSQL away behind a TCP proxy that refuses or swallows packets.
//! Requests answer 503 with a stable code and `Retry-After` within seconds, reads go on where
//! they can, `/readyz` follows the fault both ways, and the server recovers without a restart
//! with nothing acknowledged lost.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;
mod connections;
mod database_away;
mod disk_full;
mod operator;
mod storm;

use std::time::{Duration, Instant};

use common::clinic::PlainDoctor;
use common::server::Server;
use jiff::Timestamp;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Limits raised so that only the faults decide what fails.
pub const OPEN_LIMITS: &[(&str, &str)] = &[
    ("MEDIBOOK_MAX_ACTIVE_APPOINTMENTS", "1000"),
    ("MEDIBOOK_MAX_HOLDS_PER_PATIENT", "1000"),
    ("MEDIBOOK_CODES_PER_IP_PER_HOUR", "10000"),
];

/// A signed-in patient of a running server.
pub struct Patient<'a> {
    pub server: &'a Server,
    pub http: reqwest::Client,
    pub token: String,
    pub doctor: &'a PlainDoctor,
}

/// What a request answered, and how long it took.
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub retry_after: Option<String>,
    pub took: Duration,
}

impl<'a> Patient<'a> {
    pub async fn sign_in(server: &'a Server, doctor: &'a PlainDoctor, email: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let token = server.sign_in(&http, email).await;
        Self {
            server,
            http,
            token,
            doctor,
        }
    }

    /// Holds the `index`-th slot of the plain doctor.
    pub async fn hold(&self, index: usize) -> Answer {
        let start = self.doctor.slot(index);
        self.send(
            self.http
                .post(self.server.url("/api/v1/holds"))
                .json(&json!({ "doctor_id": self.doctor.id, "start": start })),
        )
        .await
    }

    /// Holds and confirms the `index`-th slot; returns the confirmation's answer (or the
    /// hold's, when that failed).
    pub async fn book(&self, index: usize) -> Answer {
        let hold = self.hold(index).await;
        if hold.status != StatusCode::CREATED {
            return hold;
        }
        self.send(
            self.http
                .post(self.server.url("/api/v1/appointments"))
                .json(&json!({ "hold_id": hold.body["id"], "reason": "Fault check-up" })),
        )
        .await
    }

    /// The starts of the patient's scheduled appointments.
    pub async fn appointments(&self) -> Answer {
        self.send(self.http.get(self.server.url("/api/v1/appointments")))
            .await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let began = Instant::now();
        let response = request.bearer_auth(&self.token).send().await.unwrap();
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|value| value.to_str().unwrap().to_owned());
        let body = response.json().await.unwrap_or(Value::Null);
        Answer {
            status,
            body,
            retry_after,
            took: began.elapsed(),
        }
    }
}

/// `GET /readyz`'s status and how long it took.
pub async fn readiness(server: &Server) -> (StatusCode, Duration) {
    let began = Instant::now();
    let status = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status();
    (status, began.elapsed())
}

/// Waits (up to `patience`) until `/readyz` answers `want`.
pub async fn wait_for_readiness(server: &Server, want: StatusCode, patience: Duration) {
    let began = Instant::now();
    loop {
        let (status, _) = readiness(server).await;
        if status == want {
            return;
        }
        assert!(
            began.elapsed() < patience,
            "/readyz still answers {status} after {patience:?}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The starts of the scheduled appointments in a `GET /api/v1/appointments` answer.
pub fn scheduled_starts(listed: &Value) -> Vec<Timestamp> {
    let items = listed
        .get("items")
        .or(Some(listed))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    items
        .iter()
        .filter(|item| item["status"] == "scheduled")
        .map(|item| item["start"].as_str().unwrap().parse().unwrap())
        .collect()
}
