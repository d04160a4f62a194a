//! A FHIR client for the tests: it keeps every resource the server sends, to validate them all
//! with the PyPI package `fhir.resources` (tests/support/fhir_check.py), and the helpers the
//! FHIR scenarios share.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Reply, TestApp};

const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// A FHIR client that keeps every resource it is sent, to validate them all at the end.
pub(crate) struct Client<'a> {
    app: &'a TestApp,
    emitted: Vec<Value>,
}

impl<'a> Client<'a> {
    pub(crate) fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            emitted: Vec::new(),
        }
    }

    pub(crate) async fn send(
        &mut self,
        method: Method,
        token: Option<&str>,
        path: &str,
        body: Option<(&str, Value)>,
    ) -> (Reply, Option<String>) {
        let mut request = self
            .app
            .http
            .request(method, self.app.url(&format!("/fhir/r4/{path}")))
            .header("accept", "application/fhir+json");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some((content_type, body)) = body {
            request = request
                .header("content-type", content_type)
                .body(body.to_string());
        }
        let response = request.send().await.expect("request");
        let location = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        let reply = Reply::from(response).await;
        assert_eq!(
            reply.content_type, FHIR_JSON,
            "{} {}",
            reply.status, reply.body
        );
        self.emitted.push(reply.body.clone());
        (reply, location)
    }

    pub(crate) async fn get(&mut self, token: Option<&str>, path: &str) -> Reply {
        self.send(Method::GET, token, path, None).await.0
    }

    /// Every resource of a searchset Bundle's page.
    pub(crate) async fn search(&mut self, token: Option<&str>, path: &str) -> Vec<Value> {
        let reply = self.get(token, path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        assert_eq!(reply.body["resourceType"], "Bundle");
        assert_eq!(reply.body["type"], "searchset");
        entries(&reply.body)
    }

    pub(crate) async fn book(
        &mut self,
        token: Option<&str>,
        appointment: Value,
    ) -> (Reply, Option<String>) {
        self.send(
            Method::POST,
            token,
            "Appointment",
            Some(("application/fhir+json", appointment)),
        )
        .await
    }

    /// Checks every resource received with `fhir.resources`.
    pub(crate) async fn validate(self) {
        assert!(!self.emitted.is_empty());
        let problems = validate(self.emitted).await;
        assert!(problems.is_empty(), "invalid FHIR: {problems:#?}");
    }
}

pub(crate) fn entries(bundle: &Value) -> Vec<Value> {
    bundle["entry"]
        .as_array()
        .map(|entries| entries.iter().map(|e| e["resource"].clone()).collect())
        .unwrap_or_default()
}

/// The problems `fhir.resources` finds in `resources` (tests/support/fhir_check.py).
pub(crate) async fn validate(resources: Vec<Value>) -> Vec<String> {
    let document = Value::Array(resources).to_string().into_bytes();
    let stdout = crate::checkers::run("fhir_check.py", "fhir.resources", document).await;
    serde_json::from_slice(&stdout).expect("the validator's JSON")
}

#[track_caller]
pub(crate) fn assert_outcome(reply: &Reply, status: StatusCode, issue: &str, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(
        reply.body["resourceType"], "OperationOutcome",
        "{}",
        reply.body
    );
    assert_eq!(reply.body["issue"][0]["severity"], "error");
    assert_eq!(reply.body["issue"][0]["code"], issue, "{}", reply.body);
    assert_eq!(
        reply.body["issue"][0]["details"]["coding"][0]["code"], code,
        "{}",
        reply.body
    );
}

/// The test doctor's free Slot starting at `start` (a `tuesday(…)` time).
pub(crate) async fn free_slot(client: &mut Client<'_>, doctor: &str, start: &str) -> Value {
    let wanted: jiff::Timestamp = start.parse().expect("instant");
    let slots = client
        .search(
            None,
            &format!(
                "Slot?schedule.actor=Practitioner/{doctor}&start=ge2027-03-02&start=lt2027-03-03&status=free"
            ),
        )
        .await;
    slots
        .into_iter()
        .find(|s| s["start"].as_str().and_then(|t| t.parse().ok()) == Some(wanted))
        .unwrap_or_else(|| panic!("no free slot at {start}"))
}

pub(crate) fn booking(slot: &Value, reason: &str) -> Value {
    json!({
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{ "reference": format!("Slot/{}", slot["id"].as_str().expect("slot id")) }],
        "reasonCode": [{ "text": reason }],
        "participant": [{ "actor": { "reference": format!("Practitioner/{}", slot["schedule"]["reference"].as_str().expect("schedule").trim_start_matches("Schedule/")) }, "status": "accepted" }],
    })
}
