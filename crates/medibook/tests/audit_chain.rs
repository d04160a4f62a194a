//! The audit trail's hash chain and retention, on both backends: sealed entries verify; an
//! entry changed, removed or slipped into a sealed window, or a seal removed, is reported
//! (also by `medibook audit verify`, which then exits non-zero); pruning deletes only sealed
//! entries past the retention and the chain still verifies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::server::MEDIBOOK;
use common::{Backend, TestDatabase};
use jiff::{SignedDuration, Timestamp};
use medibook_core::audit::{AuditEntry, AuditLog};
use medibook_store::Database;
use medibook_store::sql::{AssertSqlSafe, query};

/// Entries a day apart, the first `days` days ago.
async fn entries(database: &Database, days: i64) -> Vec<AuditEntry> {
    let now = Timestamp::now();
    let mut written = Vec::new();
    for day in (1..=days).rev() {
        let at = now - SignedDuration::from_hours(24 * day);
        let entry = AuditEntry {
            id: uuid::Uuid::now_v7(),
            at,
            actor_user_id: None,
            actor_role: None,
            action: "appointment.read".into(),
            subject_type: "appointment".into(),
            subject_id: Some(format!("appointment-{day}")),
            patient_id: None,
            doctor_id: None,
            client_ip: Some("192.0.2.1".into()),
            detail: Some(format!("day {day}")),
        };
        database.append(std::slice::from_ref(&entry)).await.unwrap();
        written.push(entry);
    }
    written
}

async fn seal_all(database: &Database) -> i64 {
    let mut seals = 0;
    while let Some(seal) = database
        .seal_audit(Timestamp::now(), SignedDuration::from_secs(60))
        .await
        .unwrap()
    {
        seals += seal.entries;
    }
    seals
}

/// Seals the entries of the last `days` days one day at a time, as a server would have while
/// they settled: one seal a day.
async fn seal_day_by_day(database: &Database, days: i64) {
    for day in (1..=days).rev() {
        database
            .seal_audit(
                Timestamp::now() - SignedDuration::from_hours(24 * day - 1),
                SignedDuration::ZERO,
            )
            .await
            .unwrap()
            .expect("a seal");
    }
}

/// Runs `sql` on the seals table as the database's owner could.
async fn write_seals(database: &Database, sql: &'static str) {
    let mut conn = database.open_writing_connection().await.unwrap();
    query(sql).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

/// Runs `sql` with the append-only guard off, as someone with the database's own rights could.
async fn tamper(database: &Database, backend: Backend, sql: &str) {
    let mut conn = database.open_writing_connection().await.unwrap();
    let statements: Vec<String> = match backend {
        Backend::Sqlite => vec![
            "DROP TRIGGER IF EXISTS audit_log_no_update".into(),
            "DROP TRIGGER IF EXISTS audit_log_no_delete".into(),
            sql.to_owned(),
        ],
        Backend::Postgres => vec![
            "ALTER TABLE audit_log DISABLE TRIGGER USER".into(),
            sql.to_owned(),
            "ALTER TABLE audit_log ENABLE TRIGGER USER".into(),
        ],
    };
    for statement in statements {
        query(AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();
}

/// `medibook audit verify` on `url`: whether it exited 0, and what it printed.
fn cli_verify(url: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(MEDIBOOK)
        .args(["audit", "verify"])
        .env_clear()
        .env("DATABASE_URL", url)
        .env("MEDIBOOK_DATA_DIR", dir.path())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

async fn fresh(backend: Backend) -> Option<(TestDatabase, Database)> {
    let test = TestDatabase::create(backend).await?;
    let database = Database::connect(&test.url).await.unwrap();
    database.migrate().await.unwrap();
    Some((test, database))
}

async fn any_tampering_is_reported(backend: Backend) {
    let Some((test, database)) = fresh(backend).await else {
        return;
    };
    entries(&database, 10).await;
    assert_eq!(seal_all(&database).await, 10);
    let report = database.verify_audit().await.unwrap();
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.entries, 10);
    let (ok, printed) = cli_verify(&test.url);
    assert!(ok, "{printed}");
    assert!(printed.contains("\"intact\":true"), "{printed}");

    // An entry changed.
    tamper(
        &database,
        backend,
        "UPDATE audit_log SET detail = 'nothing to see' WHERE detail = 'day 5'",
    )
    .await;
    let report = database.verify_audit().await.unwrap();
    assert!(
        report.problems.iter().any(|p| p.contains("was changed")),
        "{report:?}"
    );
    let (ok, printed) = cli_verify(&test.url);
    assert!(!ok, "{printed}");
    assert!(printed.contains("\"intact\":false"), "{printed}");
}

async fn removed_and_slipped_in_entries_and_removed_seals_are_reported(backend: Backend) {
    let Some((_test, database)) = fresh(backend).await else {
        return;
    };
    let written = entries(&database, 6).await;
    seal_all(&database).await;
    tamper(
        &database,
        backend,
        &format!("DELETE FROM audit_log WHERE id = '{}'", written[2].id),
    )
    .await;
    let report = database.verify_audit().await.unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("removed or added")),
        "{report:?}"
    );

    let Some((_test, database)) = fresh(backend).await else {
        return;
    };
    let written = entries(&database, 6).await;
    seal_all(&database).await;
    // An entry back-dated into a sealed window, inserted the normal way.
    let mut late = written[1].clone();
    late.id = uuid::Uuid::now_v7();
    late.detail = Some("slipped in".into());
    database.append(&[late]).await.unwrap();
    let report = database.verify_audit().await.unwrap();
    assert!(!report.intact(), "{report:?}");

    let Some((_test, database)) = fresh(backend).await else {
        return;
    };
    entries(&database, 3).await;
    seal_day_by_day(&database, 3).await;
    write_seals(&database, "DELETE FROM audit_seals WHERE seq = 2").await;
    let report = database.verify_audit().await.unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("missing") || p.contains("does not follow")),
        "{report:?}"
    );
}

async fn pruning_deletes_only_sealed_entries_past_the_retention_and_the_chain_verifies(
    backend: Backend,
) {
    let Some((_test, database)) = fresh(backend).await else {
        return;
    };
    entries(&database, 3).await;
    seal_day_by_day(&database, 3).await;
    // Five more, unsealed (one per hour, the last an hour ago).
    let now = Timestamp::now();
    for hour in 1..=5 {
        let entry = AuditEntry {
            at: now - SignedDuration::from_hours(hour),
            detail: Some(format!("hour {hour}")),
            ..entries_template()
        };
        database.append(&[entry]).await.unwrap();
    }
    // The normal path still refuses deletes.
    let refused = query("DELETE FROM audit_log")
        .execute(&mut database.open_writing_connection().await.unwrap())
        .await;
    assert!(refused.is_err(), "audit_log stays append-only");

    let deleted = database
        .prune_audit(now - SignedDuration::from_hours(36), now)
        .await
        .unwrap();
    assert_eq!(deleted, 2, "the two sealed days older than 36 hours");
    let report = database.verify_audit().await.unwrap();
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.pruned_seals, 2);
    assert_eq!(report.entries, 1);
    assert_eq!(report.unsealed, 5);
    assert!(report.head_hash.is_some());
    assert!(report.pruned_through.is_some());
    // Marking a seal pruned does not hide its entries from verification.
    write_seals(
        &database,
        "UPDATE audit_seals SET pruned_at = 1 WHERE seq = 3",
    )
    .await;
    let marked = database.verify_audit().await.unwrap();
    assert!(
        marked.problems.iter().any(|p| p.contains("still there")),
        "{marked:?}"
    );
    write_seals(
        &database,
        "UPDATE audit_seals SET pruned_at = NULL WHERE seq = 3",
    )
    .await;
    // Pruning never reaches unsealed entries, however old the cut.
    let deleted = database.prune_audit(now, now).await.unwrap();
    assert_eq!(deleted, 1);
    assert_eq!(database.verify_audit().await.unwrap().unsealed, 5);
}

fn entries_template() -> AuditEntry {
    AuditEntry {
        id: uuid::Uuid::now_v7(),
        at: Timestamp::now(),
        actor_user_id: None,
        actor_role: None,
        action: "appointment.read".into(),
        subject_type: "appointment".into(),
        subject_id: None,
        patient_id: None,
        doctor_id: None,
        client_ip: None,
        detail: None,
    }
}

macro_rules! on_both_backends {
    ($($scenario:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Backend::Postgres).await;
                }
            )+
        }
    };
}

on_both_backends!(
    any_tampering_is_reported,
    removed_and_slipped_in_entries_and_removed_seals_are_reported,
    pruning_deletes_only_sealed_entries_past_the_retention_and_the_chain_verifies,
);
