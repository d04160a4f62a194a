//! The API against its own OpenAPI document, fuzzed by an independent tool: schemathesis
//! (`pip install schemathesis`) reads `/api/v1/openapi.json` from the running app, generates
//! requests for every operation (the document's examples, boundary values, random data) and
//! follows the document's links (doctor → hold → appointment → cancel or reschedule) in its
//! stateful phase. Every response must be no 5xx and match the document: a declared status, the
//! declared content type, a body that validates against the declared schema.
//!
//! Runs as a patient and as an admin (who also reaches the doctor and admin operations), on
//! SQLite and PostgreSQL, with a fixed seed and a bounded number of examples per operation. A
//! finding fails the test and prints schemathesis' report. Without schemathesis installed the
//! test is skipped with a message, except under `CI=true`, where that fails.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use medibook_core::ids::DoctorId;

use crate::backend_tests;
use crate::harness::TestApp;
use crate::staff::sign_in_as_admin;

backend_tests!(
    schemathesis_finds_nothing_as_a_patient,
    schemathesis_finds_nothing_as_an_admin,
);

/// Test cases per operation and phase; the whole run stays within a few minutes per backend.
const MAX_EXAMPLES: &str = "25";

/// The seed of every run, so a finding can be replayed.
const SEED: &str = "20270301";

/// Settings the command line has no option for: longer stateful scenarios than the default
/// six steps, and a slot listing of a real doctor on a date with free slots, so the stateful
/// phase can follow the links from a listed slot to a hold, an appointment and its
/// cancellation or rescheduling (every other operation keeps fully generated input).
fn config(doctor: DoctorId) -> String {
    format!(
        "[phases.stateful]\nmax-steps = 12\n\n\
         [[operations]]\ninclude-operation-id = \"list_slots\"\n\
         parameters = {{ doctor_id = \"{doctor}\", date = \"2027-03-02\" }}\n"
    )
}

/// What schemathesis checks on every response.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance";

/// The schemathesis command (`MEDIBOOK_SCHEMATHESIS` or `schemathesis` on the `PATH`), or
/// `None` when it is not installed and the test may be skipped.
fn schemathesis() -> Option<String> {
    let program = std::env::var("MEDIBOOK_SCHEMATHESIS").unwrap_or_else(|_| "schemathesis".into());
    let installed = Command::new(&program)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if installed {
        return Some(program);
    }
    let message = format!(
        "schemathesis is not installed (`{program} --version` failed): \
         python3 -m pip install schemathesis"
    );
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true"),
        "{message}; under CI=true the API fuzzing must run"
    );
    eprintln!("skipping: {message}");
    None
}

/// Runs schemathesis against `base` with `token` as the bearer token and the [`config`] for
/// `doctor`, writing that configuration and the JUnit report into `report_dir`.
fn run(program: &str, base: &str, token: &str, doctor: DoctorId, report_dir: &Path) -> Output {
    let config_file = report_dir.join("schemathesis.toml");
    std::fs::write(&config_file, config(doctor)).expect("schemathesis config written");
    let mut command = Command::new(program);
    command
        .arg("--config-file")
        .arg(&config_file)
        .arg("run")
        .arg(format!("{base}/api/v1/openapi.json"))
        .args(["--url", base])
        .args(["--checks", CHECKS])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--seed", SEED])
        .args(["--generation-database", "none"])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        // Signing out would end the session whose token every request carries.
        .args(["--exclude-path", "/api/v1/auth/logout"])
        // So would erasing the account.
        .args(["--exclude-operation-id", "erase_me"])
        .args(["--workers", "1"])
        .args(["--request-timeout", "30"])
        .args(["--suppress-health-check", "all"])
        .args(["--report", "junit"])
        .arg("--report-junit-path")
        .arg(report_dir.join("junit.xml"))
        .arg("--no-color")
        .current_dir(report_dir)
        .env("SCHEMATHESIS_TELEMETRY", "false");
    command.output().expect("schemathesis runs")
}

async fn fuzz(app: &TestApp, token: String, role: &str) {
    let Some(program) = schemathesis() else {
        return;
    };
    let base = app.base.clone();
    let doctor = app.doctor;
    let started = Instant::now();
    let (output, report) = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().expect("report dir");
        let output = run(&program, &base, &token, doctor, dir.path());
        let report = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap_or_default();
        (output, report)
    })
    .await
    .expect("schemathesis task");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary: Vec<&str> = stdout
        .lines()
        .map(str::trim)
        .filter(|line| {
            [
                "Scenarios:",
                "API Links:",
                "generated,",
                "passed",
                "Tested:",
            ]
            .iter()
            .any(|key| line.contains(key))
        })
        .collect();
    eprintln!(
        "schemathesis as {role} on {:?}: {} in {:.0?}\n  {}",
        app.backend,
        output.status,
        started.elapsed(),
        summary.join("\n  ")
    );
    assert!(
        output.status.success(),
        "schemathesis found problems as {role} on {:?}:\n{stdout}\n{stderr}",
        app.backend
    );
    // A run that tested nothing must not pass: the report lists the operations it tested.
    assert!(
        report.contains("/api/v1/holds") && report.contains("/api/v1/appointments"),
        "schemathesis did not test the booking operations:\n{stdout}\n{report}"
    );
}

async fn schemathesis_finds_nothing_as_a_patient(app: TestApp) {
    let token = app.sign_in("fuzz-patient@example.org").await;
    fuzz(&app, token, "patient").await;
}

async fn schemathesis_finds_nothing_as_an_admin(app: TestApp) {
    let token = sign_in_as_admin(&app, "fuzz-admin@example.org").await;
    fuzz(&app, token, "admin").await;
}

/// The harness itself: against a server that answers 500 and breaks its own document, the run
/// must fail, or a passing run would prove nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_reports_a_server_error_and_an_undeclared_body() {
    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::get;

    let Some(program) = schemathesis() else {
        return;
    };
    let document = serde_json::json!({
        "openapi": "3.1.0",
        "info": { "title": "broken", "version": "1" },
        "paths": {
            "/boom": { "get": { "operationId": "boom", "responses": {
                "200": { "description": "ok" } } } },
            "/shape": { "get": { "operationId": "shape", "responses": {
                "200": { "description": "ok", "content": { "application/json": { "schema": {
                    "type": "object", "required": ["id"],
                    "properties": { "id": { "type": "string" } } } } } } } } },
        },
    });
    let router = Router::new()
        .route(
            "/openapi.json",
            get(move || async move { axum::Json(document) }),
        )
        .route("/boom", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .route(
            "/shape",
            get(|| async { axum::Json(serde_json::json!({ "id": 7 })) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    let output = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().expect("report dir");
        Command::new(&program)
            .arg("run")
            .arg(format!("{base}/openapi.json"))
            .args(["--url", &base])
            .args(["--checks", CHECKS])
            .args(["--max-examples", "5"])
            .args(["--seed", SEED])
            .args(["--generation-database", "none"])
            .arg("--no-color")
            .current_dir(dir.path())
            .env("SCHEMATHESIS_TELEMETRY", "false")
            .output()
            .expect("schemathesis runs")
    })
    .await
    .expect("schemathesis task");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !output.status.success(),
        "the broken server passed:\n{stdout}"
    );
    assert!(stdout.contains("Server error"), "{stdout}");
    assert!(stdout.contains("Response violates schema"), "{stdout}");
}
