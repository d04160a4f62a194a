//! Prometheus metrics: what the HTTP layer records, and the `/metrics` endpoint.
//!
//! Recording goes through the `metrics` facade (a no-op until the binary installs a recorder),
//! so this crate names no exporter. Series:
//!
//! - `medibook_http_request_duration_seconds` (histogram) by `method`, `route` (the matched
//!   route template such as `/api/v1/appointments/{id}`, never the raw path, so no ids end up in
//!   labels; `unmatched` for the fallback) and `status` class (`2xx` …);
//! - `medibook_holds_total`, `medibook_bookings_total`, `medibook_cancellations_total`,
//!   `medibook_reschedules_total` (counted as their audit entries commit: the booking commands
//!   write theirs in their own transaction and tell [`BookingCounters`]; other entries pass
//!   through [`CountingAuditLog`]; so bookings through the API, the web pages and the staff
//!   consoles all count, and a repeated request that changed nothing does not);
//! - `medibook_hold_conflicts_total` (any response with the problem code `slot_taken`, and the
//!   pages' "taken" outcome);
//! - `medibook_websocket_connections` (gauge of open live-feed connections);
//! - whatever the binary's exporter adds at scrape time (the outbox depth).

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use medibook_core::BookingResult;
use medibook_core::audit::{AuditEntry, AuditLog, AuditObserver, AuditQuery};

use crate::shell::AppState;
use crate::shell::error::ProblemCode;

/// The request-latency histogram.
pub const REQUEST_DURATION: &str = "medibook_http_request_duration_seconds";
/// Open live-feed connections.
pub const WEBSOCKET_CONNECTIONS: &str = "medibook_websocket_connections";

/// Renders the recorded metrics in the Prometheus text format.
#[async_trait]
pub trait MetricsExport: Send + Sync {
    /// The exposition text (refreshing scrape-time gauges first).
    async fn render(&self) -> String;
}

/// `/metrics`: the exporter and the bearer token a scraper must present.
#[derive(Clone)]
pub struct MetricsEndpoint {
    /// The bearer token; requests without it are refused.
    pub token: String,
    /// The exporter.
    pub export: Arc<dyn MetricsExport>,
}

/// Records every request's latency, and the booking outcomes, under its matched route.
pub async fn record_request(request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    metrics::histogram!(
        REQUEST_DURATION,
        "method" => method,
        "route" => route.clone(),
        "status" => status_class(status),
    )
    .record(started.elapsed().as_secs_f64());
    if response.extensions().get::<ProblemCode>() == Some(&ProblemCode("slot_taken")) {
        slot_taken();
    }
    response
}

/// Counts one request refused because its slot was taken (the API's `slot_taken` problems are
/// counted by [`record_request`]; pages that show a friendly message call this).
pub fn slot_taken() {
    metrics::counter!("medibook_hold_conflicts_total").increment(1);
}

/// The counter an audit action adds to, if it is one of the booking outcomes.
fn booking_outcome(action: &str) -> Option<&'static str> {
    match action {
        "hold.create" => Some("medibook_holds_total"),
        "appointment.create" => Some("medibook_bookings_total"),
        "appointment.cancel" => Some("medibook_cancellations_total"),
        "appointment.reschedule" => Some("medibook_reschedules_total"),
        _ => None,
    }
}

/// Adds the booking outcomes among `entries` to their counters.
fn count_outcomes(entries: &[AuditEntry]) {
    for counter in entries
        .iter()
        .filter_map(|entry| booking_outcome(&entry.action))
    {
        metrics::counter!(counter).increment(1);
    }
}

/// Counts holds, bookings, cancellations and moves as the booking commands commit their audit
/// entries (the booking service tells it after each commit).
#[derive(Clone, Copy, Debug, Default)]
pub struct BookingCounters;

impl AuditObserver for BookingCounters {
    fn committed(&self, entries: &[AuditEntry]) {
        count_outcomes(entries);
    }
}

/// The audit log, counting the booking outcomes among the entries written through it, once
/// they are stored.
pub struct CountingAuditLog {
    inner: Arc<dyn AuditLog>,
}

impl CountingAuditLog {
    /// Counts what `inner` stores.
    pub fn new(inner: Arc<dyn AuditLog>) -> Self {
        Self { inner }
    }
}

#[async_trait]
impl AuditLog for CountingAuditLog {
    async fn append(&self, entries: &[AuditEntry]) -> BookingResult<()> {
        self.inner.append(entries).await?;
        count_outcomes(entries);
        Ok(())
    }

    async fn entries(&self, query: &AuditQuery) -> BookingResult<Vec<AuditEntry>> {
        self.inner.entries(query).await
    }
}

/// The method as a label; unusual methods share one value so labels stay few.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Counts an open live-feed connection until dropped.
pub struct OpenConnection(());

impl OpenConnection {
    /// Counts one more open connection.
    pub fn open() -> Self {
        metrics::gauge!(WEBSOCKET_CONNECTIONS).increment(1.0);
        Self(())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!(WEBSOCKET_CONNECTIONS).decrement(1.0);
    }
}

/// `GET /metrics`: the Prometheus exposition, for a scraper presenting the configured bearer
/// token; 404 when metrics are off, 401 without the right token.
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(endpoint) = &state.metrics else {
        return crate::shell::error::ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "metrics are off (set MEDIBOOK_METRICS_TOKEN)",
        )
        .into_response();
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !same_secret(presented.as_bytes(), endpoint.token.as_bytes()) {
        return crate::shell::error::ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "/metrics needs the metrics bearer token",
        )
        .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        endpoint.export.render().await,
    )
        .into_response()
}

/// Compares two secrets in time independent of where they differ.
fn same_secret(presented: &[u8], expected: &[u8]) -> bool {
    presented.len() == expected.len()
        && presented
            .iter()
            .zip(expected)
            .fold(0u8, |differ, (a, b)| differ | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use medibook_core::audit::AuditAction;

    use super::*;

    #[test]
    fn booking_outcomes_are_told_by_audit_action() {
        assert_eq!(
            booking_outcome(AuditAction::HoldCreate.as_str()),
            Some("medibook_holds_total")
        );
        assert_eq!(booking_outcome(AuditAction::HoldRead.as_str()), None);
        assert_eq!(
            booking_outcome(AuditAction::AppointmentCreate.as_str()),
            Some("medibook_bookings_total")
        );
        assert_eq!(booking_outcome(AuditAction::AppointmentRead.as_str()), None);
        assert_eq!(
            booking_outcome(AuditAction::AppointmentCancel.as_str()),
            Some("medibook_cancellations_total")
        );
        assert_eq!(
            booking_outcome(AuditAction::AppointmentReschedule.as_str()),
            Some("medibook_reschedules_total")
        );
    }

    #[test]
    fn secrets_must_match_exactly() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abd", b"abc"));
        assert!(!same_secret(b"ab", b"abc"));
        assert!(!same_secret(b"", b"abc"));
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(StatusCode::CREATED), "2xx");
        assert_eq!(status_class(StatusCode::CONFLICT), "4xx");
        assert_eq!(status_class(StatusCode::INTERNAL_SERVER_ERROR), "5xx");
    }
}
