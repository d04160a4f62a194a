//! The few calls of the MediBook HTTP API the benchmarks make, with the shapes they read.
//!
//! Only the fields a benchmark uses are declared; the server may send more.

use std::time::Instant;

use jiff::Timestamp;
use jiff::civil::Date;
use reqwest::{Client, RequestBuilder, StatusCode};
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::json;

use crate::error::{BenchError, BenchResult};

/// A client of one server's API.
#[derive(Clone, Debug)]
pub struct Api {
    http: Client,
    base: String,
}

/// A doctor as the catalogue lists them.
#[derive(Clone, Debug, Deserialize)]
pub struct Doctor {
    /// Identity (a UUID).
    pub id: String,
    /// Full name.
    pub name: String,
    /// The next free slot within four weeks, if any (only its presence matters here).
    pub next_free_slot: Option<IgnoredAny>,
}

/// A slot as listed, with its live status.
#[derive(Clone, Debug, Deserialize)]
pub struct Slot {
    /// Start.
    pub start: Timestamp,
    /// `available`, `held` or `booked`.
    pub status: String,
}

/// A hold the server granted.
#[derive(Clone, Debug, Deserialize)]
pub struct Hold {
    /// The hold's id, needed to release it.
    pub id: String,
    /// The held slot's start.
    pub start: Timestamp,
    /// `active`, `released`, `confirmed` or `expired`.
    pub state: String,
}

/// What came of confirming a hold.
#[derive(Debug)]
pub enum ConfirmAttempt {
    /// Booked (201).
    Booked,
    /// Refused with a problem document (409 limit, 410 lapsed, 422).
    Refused {
        /// The HTTP status.
        status: u16,
        /// The problem document.
        body: String,
    },
}

/// What came of asking for a hold.
#[derive(Debug)]
pub enum HoldAttempt {
    /// Held (201), with the instant the whole response had arrived.
    Held {
        /// The hold.
        hold: Hold,
        /// When the response was received.
        answered_at: Instant,
    },
    /// The slot cannot be held (taken, not bookable, day full, limit reached).
    Refused {
        /// 409 or 422.
        status: u16,
        /// The problem document.
        body: String,
    },
}

/// A session's bearer token, as `/api/v1/auth/verify` returns it.
#[derive(Debug, Deserialize)]
struct Session {
    token: String,
}

impl Api {
    /// A client of the server at `base` (e.g. `http://127.0.0.1:8080`, no trailing slash).
    pub fn new(base: &str) -> BenchResult<Self> {
        let http = Client::builder()
            // The benchmark talks to the server directly, whatever proxy the shell names.
            .no_proxy()
            .build()
            .map_err(|source| BenchError::Http {
                call: "client set-up".into(),
                source,
            })?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// Whether `/readyz` answers 200 (an unreachable server is simply not ready).
    pub async fn is_ready(&self) -> bool {
        matches!(
            self.http.get(format!("{}/readyz", self.base)).send().await,
            Ok(response) if response.status() == StatusCode::OK
        )
    }

    /// Asks for a one-time code for `email` (202).
    pub async fn request_code(&self, email: &str) -> BenchResult<()> {
        let request = self
            .http
            .post(format!("{}/api/v1/auth/otp", self.base))
            .json(&json!({ "email": email }));
        self.send(request, "POST /api/v1/auth/otp", StatusCode::ACCEPTED)
            .await
            .map(drop)
    }

    /// Trades `code` for a bearer token.
    pub async fn verify(&self, email: &str, code: &str) -> BenchResult<String> {
        let call = "POST /api/v1/auth/verify";
        let request = self
            .http
            .post(format!("{}/api/v1/auth/verify", self.base))
            .json(&json!({ "email": email, "code": code }));
        let body = self.send(request, call, StatusCode::OK).await?;
        Ok(parse::<Session>(call, &body)?.token)
    }

    /// Every doctor of the catalogue.
    pub async fn doctors(&self) -> BenchResult<Vec<Doctor>> {
        let call = "GET /api/v1/doctors";
        let request = self.http.get(format!("{}/api/v1/doctors", self.base));
        let body = self.send(request, call, StatusCode::OK).await?;
        parse(call, &body)
    }

    /// A doctor's slots over `days` dates from `from` (in the doctor's zone).
    pub async fn slots(&self, doctor_id: &str, from: Date, days: u16) -> BenchResult<Vec<Slot>> {
        let call = "GET /api/v1/slots";
        let mut url = url::Url::parse(&format!("{}/api/v1/slots", self.base))
            .map_err(|e| BenchError::Usage(format!("not a server URL: {} ({e})", self.base)))?;
        url.query_pairs_mut()
            .append_pair("doctor_id", doctor_id)
            .append_pair("date", &from.to_string())
            .append_pair("days", &days.to_string());
        let request = self.http.get(url);
        let body = self.send(request, call, StatusCode::OK).await?;
        parse(call, &body)
    }

    /// Tries to hold the slot of `doctor_id` at `start`.
    pub async fn hold(
        &self,
        token: &str,
        doctor_id: &str,
        start: Timestamp,
    ) -> BenchResult<HoldAttempt> {
        let call = "POST /api/v1/holds";
        let request = self
            .http
            .post(format!("{}/api/v1/holds", self.base))
            .bearer_auth(token)
            .json(&json!({ "doctor_id": doctor_id, "start": start }));
        let (status, body, answered_at) = self.exchange(request, call).await?;
        match status {
            StatusCode::CREATED => Ok(HoldAttempt::Held {
                hold: parse(call, &body)?,
                answered_at,
            }),
            StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY => Ok(HoldAttempt::Refused {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body).into_owned(),
            }),
            _ => Err(unexpected(call, status, &body)),
        }
    }

    /// One of the patient's holds, as the server has it now.
    pub async fn hold_of(&self, token: &str, hold_id: &str) -> BenchResult<Hold> {
        let call = "GET /api/v1/holds/{id}";
        let request = self
            .http
            .get(format!("{}/api/v1/holds/{hold_id}", self.base))
            .bearer_auth(token);
        let body = self.send(request, call, StatusCode::OK).await?;
        parse(call, &body)
    }

    /// Books the slot of the patient's hold.
    pub async fn confirm(
        &self,
        token: &str,
        hold_id: &str,
        reason: &str,
    ) -> BenchResult<ConfirmAttempt> {
        let call = "POST /api/v1/appointments";
        let request = self
            .http
            .post(format!("{}/api/v1/appointments", self.base))
            .bearer_auth(token)
            .json(&json!({ "hold_id": hold_id, "reason": reason }));
        let (status, body, _) = self.exchange(request, call).await?;
        match status {
            StatusCode::CREATED => Ok(ConfirmAttempt::Booked),
            StatusCode::CONFLICT | StatusCode::GONE | StatusCode::UNPROCESSABLE_ENTITY => {
                Ok(ConfirmAttempt::Refused {
                    status: status.as_u16(),
                    body: String::from_utf8_lossy(&body).into_owned(),
                })
            }
            _ => Err(unexpected(call, status, &body)),
        }
    }

    /// Releases a hold (204), returning the instant the response arrived.
    pub async fn release(&self, token: &str, hold_id: &str) -> BenchResult<Instant> {
        let call = "DELETE /api/v1/holds/{id}";
        let request = self
            .http
            .delete(format!("{}/api/v1/holds/{hold_id}", self.base))
            .bearer_auth(token);
        let (status, body, answered_at) = self.exchange(request, call).await?;
        if status == StatusCode::NO_CONTENT {
            Ok(answered_at)
        } else {
            Err(unexpected(call, status, &body))
        }
    }

    /// Sends `request` and insists on `expected`, returning the body.
    async fn send(
        &self,
        request: RequestBuilder,
        call: &str,
        expected: StatusCode,
    ) -> BenchResult<Vec<u8>> {
        let (status, body, _) = self.exchange(request, call).await?;
        if status == expected {
            Ok(body)
        } else {
            Err(unexpected(call, status, &body))
        }
    }

    /// Sends `request` and reads the whole response, noting when it was complete.
    async fn exchange(
        &self,
        request: RequestBuilder,
        call: &str,
    ) -> BenchResult<(StatusCode, Vec<u8>, Instant)> {
        let http_error = |source| BenchError::Http {
            call: call.to_owned(),
            source,
        };
        let response = request.send().await.map_err(http_error)?;
        let status = response.status();
        let body = response.bytes().await.map_err(http_error)?;
        Ok((status, body.to_vec(), Instant::now()))
    }
}

fn parse<T: DeserializeOwned>(call: &str, body: &[u8]) -> BenchResult<T> {
    serde_json::from_slice(body).map_err(|e| {
        BenchError::Data(format!(
            "{call}: unexpected response ({e}): {}",
            String::from_utf8_lossy(body)
        ))
    })
}

fn unexpected(call: &str, status: StatusCode, body: &[u8]) -> BenchError {
    BenchError::Unexpected {
        call: call.to_owned(),
        status: status.as_u16(),
        body: String::from_utf8_lossy(body).into_owned(),
    }
}
