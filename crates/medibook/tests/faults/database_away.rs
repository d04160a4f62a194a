//! PostgreSQL away, behind a TCP proxy between the server and the database: one that refuses
//! connections (the database stopped) and one that swallows packets (the route to it dropped).
//! Requests answer 503 `database_unavailable` with `Retry-After` within 3 s, `/readyz` says
//! 503 within 3 s, and once the database is back the server serves again within seconds,
//! without a restart.

use std::time::Duration;

use medibook_testkit::proxy::{Fault, FaultyProxy};
use reqwest::StatusCode;

use crate::common::clinic::PlainDoctor;
use crate::common::server::{Server, medibook};
use crate::common::{Backend, TestDatabase};
use crate::{OPEN_LIMITS, Patient, readiness, scheduled_starts, wait_for_readiness};

/// The longest a request may take to say that the database is away.
const PATIENCE: Duration = Duration::from_secs(3);

async fn database_away(fault: Fault) {
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let doctor = PlainDoctor::seed(&database.url).await;
    let (proxy, through) = FaultyProxy::to_postgres(&database.url).await;
    let server = Server::start(&through, medibook("database-away", OPEN_LIMITS, false)).await;
    let patient = Patient::sign_in(&server, &doctor, "away@example.org").await;
    let before = patient.book(0).await;
    assert_eq!(before.status, StatusCode::CREATED, "{}", before.body);

    proxy.set(fault);
    for attempt in 1..=3 {
        let refused = patient.book(attempt).await;
        assert_eq!(
            refused.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{fault:?}, attempt {attempt}: {}",
            refused.body
        );
        assert_eq!(refused.body["code"], "database_unavailable");
        assert_eq!(refused.retry_after.as_deref(), Some("5"));
        assert!(
            refused.took < PATIENCE,
            "{fault:?}: the answer took {:?}",
            refused.took
        );
        let listed = patient.appointments().await;
        assert_eq!(listed.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            listed.took < PATIENCE,
            "{fault:?}: a read took {:?}",
            listed.took
        );
        let (status, took) = readiness(&server).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{fault:?}");
        assert!(took < PATIENCE, "{fault:?}: /readyz took {took:?}");
    }

    proxy.set(Fault::None);
    wait_for_readiness(&server, StatusCode::OK, Duration::from_secs(10)).await;
    let after = patient.book(5).await;
    assert_eq!(
        after.status,
        StatusCode::CREATED,
        "{fault:?}: {}",
        after.body
    );
    let listed = patient.appointments().await;
    assert_eq!(
        scheduled_starts(&listed.body),
        vec![doctor.slot(0), doctor.slot(5)],
        "{fault:?}: what was acknowledged, and only that"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_refuses_connections_is_a_prompt_503_and_the_server_recovers() {
    database_away(Fault::Refuse).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_whose_packets_are_swallowed_is_a_prompt_503_and_the_server_recovers() {
    database_away(Fault::Swallow).await;
}
