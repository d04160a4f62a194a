//! Generated JSON bodies against every JSON endpoint of the running application: whatever a
//! client sends, the answer is a success or a 4xx RFC 9457 problem document, never a 5xx and
//! never a bare error.
//!
//! The endpoints are read from the served OpenAPI document (every operation with a request
//! body), so a new endpoint is fuzzed without being listed here; [`valid_body`] gives each a
//! body it accepts, which the generator mutates: a field removed, retyped, replaced by an edge
//! value (huge, empty, control characters, extreme numbers) or by arbitrary JSON, an unknown
//! field added, the text cut short, or raw bytes that are not JSON at all. Bodies are generated
//! by proptest from a fixed seed, so a run is repeatable; a failure prints the request.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::harness::{TestApp, tuesday};
use crate::staff::{sign_in_as_admin, sign_in_as_doctor, test_doctor_schedule, user_id};

backend_tests!(generated_json_bodies_get_a_success_or_a_4xx_problem_never_a_5xx);

/// Requests per backend: each JSON endpoint about 250 times, in under half a minute on a
/// small machine.
const CASES: usize = 4_000;

/// A request body as sent on the wire.
#[derive(Clone, Debug)]
enum Body {
    Json(Value),
    Raw(Vec<u8>),
}

impl Body {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Self::Json(value) => serde_json::to_vec(value).expect("JSON serialises"),
            Self::Raw(bytes) => bytes.clone(),
        }
    }
}

/// What to do to an endpoint's valid body.
#[derive(Clone, Debug)]
enum Mutation {
    /// Send it as it is.
    Keep,
    /// Drop one field.
    Remove(Index),
    /// Replace one field's value.
    Replace(Index, Value),
    /// Replace a field of a nested object (the fee, a schedule's rules or hours).
    ReplaceNested(Index, Index, Value),
    /// Add a field the endpoint does not know.
    AddField(String, Value),
    /// Send something else entirely.
    Whole(Value),
    /// Cut the JSON text short.
    Truncate(Index),
    /// Bytes that need not be JSON, nor UTF-8.
    Bytes(Vec<u8>),
}

/// Values chosen to hit the limits of the fields they replace.
fn edge_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("")),
        Just(json!("   ")),
        Just(json!("\u{0}")),
        Just(json!("a\u{7}b\r\nc")),
        Just(json!("x".repeat(1_001))),
        Just(json!("é".repeat(30_000))),
        Just(json!("+49 30 1234567")),
        Just(json!("0044 20 7946 0000")),
        Just(json!("ada@example.org")),
        Just(json!("A@B.C")),
        Just(json!("2027-03-02")),
        Just(json!("2027-02-30")),
        Just(json!("9999-12-31")),
        Just(json!("-009999-01-01")),
        Just(json!("2027-03-02T09:30:00+01:00")),
        Just(json!("2027-03-02T09:30:00")),
        Just(json!("9999-12-31T23:59:59Z")),
        Just(json!("-009999-01-01T00:00:00Z")),
        Just(json!("2027-03-28T02:30:00[Europe/Berlin]")),
        Just(json!("24:00")),
        Just(json!("09:00")),
        Just(json!("00000000-0000-0000-0000-000000000000")),
        Just(json!("Europe/Berlin")),
        Just(json!("../../etc/passwd")),
        Just(json!("admin")),
        Just(json!("EUR")),
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(65_535)),
        Just(json!(65_536)),
        Just(json!(i64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(u64::MAX)),
        Just(json!(1e308)),
        Just(json!(0.5)),
        Just(json!(true)),
        Just(Value::Null),
        Just(json!([])),
        Just(json!({})),
        Just(deeply_nested(200)),
    ]
}

fn deeply_nested(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| json!([inner]))
}

/// Arbitrary JSON, a few levels deep, with strings of any Unicode.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..5)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn replacement() -> impl Strategy<Value = Value> {
    prop_oneof![2 => edge_value(), 1 => any_json()]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => Just(Mutation::Keep),
        2 => any::<Index>().prop_map(Mutation::Remove),
        6 => (any::<Index>(), replacement()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        3 => (any::<Index>(), any::<Index>(), replacement())
            .prop_map(|(i, j, v)| Mutation::ReplaceNested(i, j, v)),
        1 => ("[a-z_]{1,12}", replacement()).prop_map(|(k, v)| Mutation::AddField(k, v)),
        2 => prop_oneof![any_json(), edge_value()].prop_map(Mutation::Whole),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            Just(b"{\"a\":".to_vec()),
            Just(vec![0xff, 0xfe, b'{', b'}']),
            Just(b"{\"name\": \"\xc3\x28\"}".to_vec()),
        ]
        .prop_map(Mutation::Bytes),
    ]
}

/// `valid` with `mutation` applied.
fn mutate(valid: &Value, mutation: &Mutation) -> Body {
    let mut value = valid.clone();
    let keys = |value: &Value| -> Vec<String> {
        value
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    match mutation {
        Mutation::Keep => {}
        Mutation::Remove(i) => {
            let keys = keys(&value);
            if let (false, Some(object)) = (keys.is_empty(), value.as_object_mut()) {
                object.remove(&keys[i.index(keys.len())]);
            }
        }
        Mutation::Replace(i, replacement) => {
            let keys = keys(&value);
            if let (false, Some(object)) = (keys.is_empty(), value.as_object_mut()) {
                object.insert(keys[i.index(keys.len())].clone(), replacement.clone());
            }
        }
        Mutation::ReplaceNested(i, j, replacement) => {
            let outer: Vec<String> = keys(&value)
                .into_iter()
                .filter(|k| value[k].is_object())
                .collect();
            if !outer.is_empty() {
                let nested = &mut value[&outer[i.index(outer.len())]];
                let inner = keys(nested);
                if let (false, Some(object)) = (inner.is_empty(), nested.as_object_mut()) {
                    object.insert(inner[j.index(inner.len())].clone(), replacement.clone());
                }
            }
        }
        Mutation::AddField(key, extra) => {
            if let Some(object) = value.as_object_mut() {
                object.insert(key.clone(), extra.clone());
            }
        }
        Mutation::Whole(other) => value = other.clone(),
        Mutation::Truncate(i) => {
            let text = value.to_string();
            let cut = i.index(text.len().max(1));
            return Body::Raw(text.as_bytes()[..cut].to_vec());
        }
        Mutation::Bytes(bytes) => return Body::Raw(bytes.clone()),
    }
    Body::Json(value)
}

/// What the fuzzer needs from the running app: tokens for each kind of caller and the ids of
/// real records, so mutated bodies reach the handlers' logic and not only the 404s.
struct Fixtures {
    patient: String,
    doctor: String,
    admin: String,
    doctor_id: String,
    specialty_id: String,
    patient_id: String,
    hold_id: String,
    appointment_id: String,
}

impl Fixtures {
    async fn new(app: &TestApp) -> Self {
        let patient = app.sign_in("fuzz-patient@example.org").await;
        let doctor = sign_in_as_doctor(app, "fuzz-doctor@example.org", app.doctor).await;
        let admin = sign_in_as_admin(app, "fuzz-admin@example.org").await;
        let appointment_id = app.book(&patient, &tuesday("09:00")).await;
        let hold = app.hold(&patient, app.doctor, &tuesday("10:00")).await;
        assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
        let doctors = app.get(None, "/api/v1/doctors").await;
        let specialty_id = doctors.body[0]["specialty_id"]
            .as_str()
            .expect("a specialty")
            .to_owned();
        Self {
            patient_id: user_id(app, &patient).await,
            patient,
            doctor,
            admin,
            doctor_id: app.doctor.to_string(),
            specialty_id,
            hold_id: hold.id(),
            appointment_id,
        }
    }

    /// A body `method path` accepts, for the generator to start from.
    fn valid_body(&self, method: &str, path: &str) -> Value {
        match (method, path) {
            ("POST", "/api/v1/auth/otp") => json!({ "email": "fuzz-other@example.org" }),
            ("POST", "/api/v1/auth/verify") => {
                json!({ "email": "fuzz-other@example.org", "code": "123456" })
            }
            ("POST", "/api/v1/auth/refresh") => json!({ "refresh_token": "not-a-token" }),
            ("PATCH", "/api/v1/me") => json!({ "name": "Ada Lovelace" }),
            ("POST", "/api/v1/holds") => {
                json!({ "doctor_id": self.doctor_id, "start": tuesday("11:00") })
            }
            ("POST", "/api/v1/appointments") => {
                json!({ "hold_id": self.hold_id, "reason": "Check-up" })
            }
            ("POST", "/api/v1/appointments/{id}/reschedule") => json!({ "hold_id": self.hold_id }),
            ("POST", "/api/v1/waitlist") => json!({
                "doctor_id": self.doctor_id, "from": "2027-03-02", "to": "2027-03-09",
            }),
            ("POST", "/api/v1/contact") => json!({
                "name": "Ada", "email": "ada@example.org", "message": "Hello", "website": "",
            }),
            ("PUT", "/api/v1/doctor/schedule") => test_doctor_schedule(),
            ("POST", "/api/v1/doctor/time-off") => json!({
                "start": "2027-04-01T00:00:00Z", "end": "2027-04-02T00:00:00Z",
                "reason": "Conference",
            }),
            ("POST", "/api/v1/admin/specialties") | ("PATCH", "/api/v1/admin/specialties/{id}") => {
                json!({ "name": "Neurology" })
            }
            ("POST", "/api/v1/admin/doctors") => json!({
                "name": "Dr. Lena Vogel", "specialty_id": self.specialty_id,
                "qualification": "MD", "years_experience": 3, "bio": "New here.",
                "fee": { "amount_minor": 5000, "currency": "EUR" },
                "photo_url": null, "time_zone": "Europe/Berlin",
                "schedule": test_doctor_schedule(),
            }),
            ("PATCH", "/api/v1/admin/doctors/{id}") => json!({
                "bio": "Still here.", "fee": { "amount_minor": 7000, "currency": "EUR" },
            }),
            ("PUT", "/api/v1/admin/users/{id}/role") => json!({ "role": "patient" }),
            _ => json!({}),
        }
    }

    /// The id a path's `{id}` gets: a real record's where one fits.
    fn path_id(&self, path: &str) -> &str {
        if path.starts_with("/api/v1/appointments/") {
            &self.appointment_id
        } else if path.starts_with("/api/v1/admin/doctors/") {
            &self.doctor_id
        } else if path.starts_with("/api/v1/admin/specialties/") {
            &self.specialty_id
        } else if path.starts_with("/api/v1/admin/users/") {
            &self.patient_id
        } else {
            &self.hold_id
        }
    }

    fn token(&self, path: &str) -> &str {
        if path.starts_with("/api/v1/admin/") {
            &self.admin
        } else if path.starts_with("/api/v1/doctor/") {
            &self.doctor
        } else {
            &self.patient
        }
    }
}

/// The operations of the served document that take a JSON body: `(method, path template)`.
fn json_operations(document: &Value) -> Vec<(String, String)> {
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            if operation["requestBody"]["content"]["application/json"].is_object() {
                operations.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

/// Why a reply breaks the contract, if it does: a 5xx, or a 4xx that is not a problem document
/// with the reply's own status and a stable code.
pub fn contract_breach(status: StatusCode, content_type: &str, body: &str) -> Option<String> {
    if status.is_server_error() {
        return Some(format!("server error {status}: {body}"));
    }
    if !status.is_client_error() {
        return None;
    }
    if content_type != "application/problem+json" {
        return Some(format!(
            "{status} with Content-Type {content_type:?}: {body}"
        ));
    }
    let Ok(problem) = serde_json::from_str::<Value>(body) else {
        return Some(format!("{status} with a body that is not JSON: {body}"));
    };
    let shaped = problem["status"] == status.as_u16()
        && problem["title"].is_string()
        && problem["detail"].is_string()
        && problem["code"].as_str().is_some_and(|c| !c.is_empty())
        && problem["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("urn:medibook:problem:"));
    (!shaped).then(|| format!("{status} with a malformed problem document: {body}"))
}

#[test]
fn the_contract_check_refuses_server_errors_and_bare_client_errors() {
    let problem = |status: u16| {
        json!({
            "type": "urn:medibook:problem:validation", "title": "Bad Request", "status": status,
            "detail": "no", "code": "validation",
        })
        .to_string()
    };
    let problem_json = "application/problem+json";
    assert!(contract_breach(StatusCode::BAD_REQUEST, problem_json, &problem(400)).is_none());
    assert!(contract_breach(StatusCode::CREATED, "application/json", "{}").is_none());
    assert!(
        contract_breach(
            StatusCode::INTERNAL_SERVER_ERROR,
            problem_json,
            &problem(500)
        )
        .is_some()
    );
    assert!(contract_breach(StatusCode::BAD_REQUEST, "text/plain", "Bad Request").is_some());
    assert!(
        contract_breach(
            StatusCode::UNPROCESSABLE_ENTITY,
            problem_json,
            &problem(400)
        )
        .is_some()
    );
    assert!(contract_breach(StatusCode::NOT_FOUND, problem_json, "{}").is_some());
}

async fn generated_json_bodies_get_a_success_or_a_4xx_problem_never_a_5xx(app: TestApp) {
    let fixtures = Fixtures::new(&app).await;
    let document = app.get(None, "/api/v1/openapi.json").await.body;
    let operations = json_operations(&document);
    // The discovery must find the JSON endpoints, or the test would pass by testing nothing.
    assert!(operations.len() >= 16, "JSON operations: {operations:?}");
    assert!(operations.contains(&("POST".to_owned(), "/api/v1/holds".to_owned())));

    // A fixed seed: every run sends the same requests.
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let strategy = (any::<Index>(), mutation(), 0..10_u8);
    let mut breaches = Vec::new();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for case in 0..CASES {
        let (pick, mutation, caller) = strategy
            .new_tree(&mut runner)
            .expect("a generated case")
            .current();
        let (method, template) = &operations[pick.index(operations.len())];
        let path = template.replace("{id}", fixtures.path_id(template));
        let body = mutate(&fixtures.valid_body(method, template), &mutation);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut request = app
            .http
            .request(method.clone(), app.url(&path))
            .header(CONTENT_TYPE, "application/json")
            .body(body.bytes());
        // One request in ten goes without credentials.
        if caller > 0 {
            request = request.bearer_auth(fixtures.token(template));
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.expect("a body");
        *statuses.entry(status.as_u16()).or_default() += 1;
        if let Some(breach) = contract_breach(status, &content_type, &text) {
            breaches.push(format!(
                "case {case}: {method} {path} {body:?}\n  → {breach}"
            ));
        }
    }
    eprintln!("statuses over {CASES} generated bodies: {statuses:?}");
    assert!(
        breaches.is_empty(),
        "{} of {CASES} requests broke the contract; the first ones:\n{}",
        breaches.len(),
        breaches
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The generator must reach the handlers, not stop at the door.
    let successes: usize = statuses
        .iter()
        .filter(|(s, _)| (200..300).contains(*s))
        .map(|(_, n)| n)
        .sum();
    assert!(
        successes > 0,
        "no generated body was accepted: {statuses:?}"
    );
    assert!(
        statuses.contains_key(&422),
        "no body reached validation: {statuses:?}"
    );
}
