//! One round: every client sends its hold at the barrier's release, and the answers are
//! classified and tallied.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Method;
use hyper::body::Bytes;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use super::ERRORS_SHOWN;
use super::wire::*;
use crate::api::Doctor;
use crate::error::{BenchError, BenchResult};

/// One client's hold request and what came of it.
#[derive(Debug)]
pub(super) struct Outcome {
    pub(super) client: usize,
    pub(super) sent_at: Instant,
    pub(super) answered_at: Instant,
    pub(super) answer: Answer,
}

/// How the server answered one hold request.
#[derive(Debug)]
pub(super) enum Answer {
    /// 201, with the hold's id.
    Won(String),
    /// A clean `409 slot_taken` problem document.
    Taken,
    /// Anything else, described.
    Failed(String),
}

/// One round: every client holds `start` at once. Returns every outcome and the instant the
/// barrier let them go.
pub(super) async fn contend(
    connections: &mut Vec<Connection>,
    tokens: &[String],
    address: &str,
    doctor: &Doctor,
    start: Timestamp,
    timeout: Duration,
) -> BenchResult<(Vec<Outcome>, Instant)> {
    let body = Bytes::from(
        serde_json::to_vec(&json!({ "doctor_id": doctor.id, "start": start }))
            .map_err(|e| BenchError::Data(format!("cannot encode a hold request: {e}")))?,
    );
    let barrier = Arc::new(Barrier::new(connections.len() + 1));
    let mut tasks = JoinSet::new();
    for (client, (mut connection, token)) in connections.drain(..).zip(tokens).enumerate() {
        let hold = request(
            Method::POST,
            address,
            "/api/v1/holds",
            Some(token),
            body.clone(),
        )?;
        let warm_up = request(
            Method::GET,
            address,
            "/api/v1/me",
            Some(token),
            Bytes::new(),
        )?;
        let barrier = Arc::clone(&barrier);
        tasks.spawn(async move {
            // A patient who is about to click "hold" has just loaded a page: their session was
            // seen within the minute, so the hold does not also refresh it (a write). The answer
            // also proves the connection is live before joining the others.
            let ready = match exchange(&mut connection, warm_up).await {
                Ok((200, _)) => Ok(()),
                Ok((status, body)) => Err(format!(
                    "GET /api/v1/me answered {status}: {}",
                    String::from_utf8_lossy(&body)
                )),
                Err(e) => Err(e.to_string()),
            };
            barrier.wait().await;
            let sent_at = Instant::now();
            let answer = match ready {
                Err(e) => Answer::Failed(format!("before sending: {e}")),
                Ok(()) => {
                    match tokio::time::timeout(timeout, exchange(&mut connection, hold)).await {
                        Err(_) => Answer::Failed(format!("no answer within {timeout:?}")),
                        Ok(Err(e)) => Answer::Failed(e.to_string()),
                        Ok(Ok((status, body))) => classify(status, &body),
                    }
                }
            };
            let outcome = Outcome {
                client,
                sent_at,
                answered_at: Instant::now(),
                answer,
            };
            (outcome, connection)
        });
    }
    barrier.wait().await;
    let released_at = Instant::now();

    let mut outcomes = Vec::with_capacity(tokens.len());
    let mut returned = Vec::with_capacity(tokens.len());
    while let Some(joined) = tasks.join_next().await {
        let (outcome, connection) =
            joined.map_err(|e| BenchError::Data(format!("a client task failed: {e}")))?;
        returned.push((outcome.client, connection));
        outcomes.push(outcome);
    }
    // Give every client its own connection back, in client order, for the next round.
    returned.sort_by_key(|(client, _)| *client);
    connections.extend(returned.into_iter().map(|(_, connection)| connection));
    // The barrier's release is noted after waking; a client may have sent a little earlier.
    let released_at = outcomes
        .iter()
        .map(|outcome| outcome.sent_at)
        .min()
        .map_or(released_at, |first| first.min(released_at));
    Ok((outcomes, released_at))
}

/// The fields of a hold or problem answer the benchmark reads.
#[derive(Debug, Deserialize)]
pub(super) struct Answered {
    #[serde(default)]
    pub(super) id: Option<String>,
    #[serde(default)]
    pub(super) code: Option<String>,
}

/// What a hold answer means: 201 wins, a `409` problem with `slot_taken` is a clean conflict,
/// anything else is an error.
pub(super) fn classify(status: u16, body: &[u8]) -> Answer {
    let parsed = serde_json::from_slice::<Answered>(body).ok();
    match (status, parsed) {
        (201, Some(Answered { id: Some(id), .. })) => Answer::Won(id),
        (
            409,
            Some(Answered {
                code: Some(code), ..
            }),
        ) if code == "slot_taken" => Answer::Taken,
        _ => Answer::Failed(format!(
            "{status}: {}",
            String::from_utf8_lossy(body)
                .chars()
                .take(200)
                .collect::<String>()
        )),
    }
}

/// Outcomes and latencies over the rounds.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub(super) winners: usize,
    pub(super) conflicts: usize,
    pub(super) errors: usize,
    pub(super) latencies: Vec<Duration>,
    pub(super) since_release: Vec<Duration>,
    pub(super) slowest_round: Duration,
    pub(super) error_samples: Vec<String>,
}

impl Tally {
    /// Counts one round; returns its winner, if exactly one client won.
    pub(super) fn add(
        &mut self,
        outcomes: &[Outcome],
        released_at: Instant,
    ) -> Option<(usize, String)> {
        let mut winners = Vec::new();
        for outcome in outcomes {
            self.latencies.push(
                outcome
                    .answered_at
                    .saturating_duration_since(outcome.sent_at),
            );
            let since_release = outcome.answered_at.saturating_duration_since(released_at);
            self.since_release.push(since_release);
            self.slowest_round = self.slowest_round.max(since_release);
            match &outcome.answer {
                Answer::Won(hold_id) => {
                    self.winners += 1;
                    winners.push((outcome.client, hold_id.clone()));
                }
                Answer::Taken => self.conflicts += 1,
                Answer::Failed(reason) => {
                    self.errors += 1;
                    if self.error_samples.len() < ERRORS_SHOWN {
                        self.error_samples.push(reason.clone());
                    }
                }
            }
        }
        match winners.as_slice() {
            [winner] => Some(winner.clone()),
            _ => None,
        }
    }
}
