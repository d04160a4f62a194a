//! A disk that fills, on both backends: the database lives on a small tmpfs mounted for the
//! test (SQLite's file; a PostgreSQL tablespace), and a filler file takes the rest of its
//! space, so the next write that needs room meets a real `ENOSPC` (`SQLITE_FULL`; PostgreSQL's
//! `disk_full`, 53100). Mounting needs root (CI runs as root) and the PostgreSQL server on
//! this machine; elsewhere the tests are skipped with a note.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use medibook_store::Database;
use reqwest::StatusCode;

use crate::common::clinic::PlainDoctor;
use crate::common::missing;
use crate::common::server::{Server, medibook};
use crate::{OPEN_LIMITS, Patient, readiness, scheduled_starts, wait_for_readiness};
use medibook_testkit::psql;

/// A tmpfs mounted on a temporary directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        Self::mount_with(&format!("size={size},mode=0700"))
    }

    fn mount_with(options: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|status| status.success());
        if !mounted {
            return missing("a tmpfs of our own for the full-disk test (mounting needs root)");
        }
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Takes every free byte of the file system holding `dir` with a file of its own.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    for chunk in [1 << 20, 4096, 512, 1] {
        let block = vec![0xA5_u8; chunk];
        while file.write_all(&block).and_then(|()| file.flush()).is_ok() {}
    }
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_with_503_keeps_reads_and_recovers_without_a_restart() {
    let Some(tmpfs) = Tmpfs::mount("24m") else {
        return;
    };
    let url = format!("sqlite://{}", tmpfs.path().join("medibook.db").display());
    let doctor = PlainDoctor::seed(&url).await;
    let server = Server::start(&url, medibook("full-disk", OPEN_LIMITS, false)).await;
    let patient = Patient::sign_in(&server, &doctor, "full.disk@example.org").await;
    let before = patient.book(0).await;
    assert_eq!(before.status, StatusCode::CREATED, "{}", before.body);

    // The WAL emptied into the database file, then every free byte taken: the next commit
    // has to grow the WAL and cannot.
    let database = Database::connect(&url).await.unwrap();
    let mut conn = database.open_writing_connection().await.unwrap();
    conn.execute_script("PRAGMA wal_checkpoint(TRUNCATE)")
        .await
        .unwrap();
    conn.close().await.unwrap();
    database.close().await;
    let filler = fill(tmpfs.path());

    let refused = patient.book(1).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a write on a full disk: {}",
        refused.body
    );
    assert_eq!(refused.body["code"], "storage_full", "{}", refused.body);
    assert_eq!(refused.retry_after.as_deref(), Some("30"));
    // Reads go on where nothing must be recorded: the doctors and their slots. A patient's
    // own appointments are an audited read, refused the same way while the audit trail cannot
    // be written (no unrecorded access to patient data).
    let listed = patient.appointments().await;
    assert_eq!(listed.body["code"], "storage_full", "{}", listed.body);
    let doctors = reqwest::get(server.url("/api/v1/doctors")).await.unwrap();
    assert_eq!(doctors.status(), StatusCode::OK);
    let slots = reqwest::get(server.url(&format!(
        "/api/v1/slots?doctor_id={}&date={}&days=1",
        doctor.id, doctor.first_day
    )))
    .await
    .unwrap();
    assert_eq!(slots.status(), StatusCode::OK);
    // Not ready while writes fail, and a second try fails the same way.
    let (status, _) = readiness(&server).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let again = patient.book(2).await;
    assert_eq!(again.body["code"], "storage_full", "{}", again.body);

    // Space comes back: ready again and writing, without a restart.
    std::fs::remove_file(filler).unwrap();
    wait_for_readiness(&server, StatusCode::OK, Duration::from_secs(10)).await;
    let after = patient.book(3).await;
    assert_eq!(after.status, StatusCode::CREATED, "{}", after.body);

    // Nothing acknowledged is lost, nothing refused was kept, and the file is whole.
    let listed = patient.appointments().await;
    assert_eq!(
        scheduled_starts(&listed.body),
        vec![doctor.slot(0), doctor.slot(3)]
    );
    let database = Database::connect(&url).await.unwrap();
    let check: String = medibook_store::sql::query("PRAGMA integrity_check")
        .fetch_one(database.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(check, "ok");
    database.close().await;
    server.assert_not_logged("non-zero transaction depth");
}

/// The operating-system user the local PostgreSQL server runs as, if it runs here.
fn postgres_user_ids() -> Option<(String, String)> {
    let id = |flag: &str| {
        Command::new("id")
            .args([flag, "postgres"])
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    Some((id("-u")?, id("-g")?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_tablespace_refuses_postgres_writes_with_503_and_they_resume_when_space_returns() {
    let Ok(admin_url) = std::env::var("MEDIBOOK_TEST_POSTGRES_URL") else {
        missing::<()>("MEDIBOOK_TEST_POSTGRES_URL is not set");
        return;
    };
    let Some((uid, gid)) = postgres_user_ids() else {
        missing::<()>("a local PostgreSQL server (its `postgres` user) for the full-disk test");
        return;
    };
    let Some(tmpfs) = Tmpfs::mount_with(&format!("size=24m,mode=0700,uid={uid},gid={gid}")) else {
        return;
    };
    let space = Tablespace::create(&admin_url, tmpfs.path());
    full_tablespace(&space.url, tmpfs.path()).await;
}

/// A database in a tablespace of its own on the test's tmpfs; both dropped when this is
/// dropped (before the tmpfs is unmounted), whether the test passed or not.
struct Tablespace {
    admin_url: String,
    name: String,
    url: String,
}

impl Tablespace {
    fn create(admin_url: &str, dir: &Path) -> Self {
        let name = format!("medibook_full_{}", uuid::Uuid::new_v4().simple());
        psql(
            admin_url,
            &format!("CREATE TABLESPACE {name} LOCATION '{}'", dir.display()),
        );
        let space = Self {
            admin_url: admin_url.to_owned(),
            name: name.clone(),
            url: format!(
                "{}/{name}",
                admin_url
                    .rsplit_once('/')
                    .map_or(admin_url, |(base, _)| base)
            ),
        };
        psql(
            admin_url,
            &format!("CREATE DATABASE {name} TABLESPACE {name}"),
        );
        space
    }
}

impl Drop for Tablespace {
    fn drop(&mut self) {
        // Never panic in drop: a failed test must report its own failure.
        for statement in [
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            format!("DROP TABLESPACE IF EXISTS {}", self.name),
        ] {
            let _ = Command::new("psql")
                .args(["-X", "-q", "-d", &self.admin_url, "-c", &statement])
                .output();
        }
    }
}

async fn full_tablespace(url: &str, dir: &Path) {
    let doctor = PlainDoctor::seed(url).await;
    let server = Server::start(url, medibook("full-tablespace", OPEN_LIMITS, false)).await;
    let patient = Patient::sign_in(&server, &doctor, "full.tablespace@example.org").await;
    let before = patient.book(0).await;
    assert_eq!(before.status, StatusCode::CREATED, "{}", before.body);
    let filler = fill(dir);
    let _filler = Removed(filler.clone());

    // Bookings go on while the tables' pages have room; the first one that needs a new page
    // is refused.
    let mut refused = None;
    let mut booked = vec![doctor.slot(0)];
    for index in 1..400 {
        let answer = patient.book(index).await;
        match answer.status {
            StatusCode::CREATED => booked.push(doctor.slot(index)),
            StatusCode::SERVICE_UNAVAILABLE => {
                refused = Some(answer);
                break;
            }
            other => panic!("booking {index}: {other} {}", answer.body),
        }
    }
    let refused = refused.expect("a booking meets the full tablespace");
    assert_eq!(refused.body["code"], "storage_full", "{}", refused.body);
    assert_eq!(refused.retry_after.as_deref(), Some("30"));
    let doctors = reqwest::get(server.url("/api/v1/doctors")).await.unwrap();
    assert_eq!(doctors.status(), StatusCode::OK, "reads go on");

    std::fs::remove_file(filler).unwrap();
    let next = doctor.slot(booked.len() + 500);
    let mut after = None;
    for attempt in 0..50 {
        let answer = patient.book(booked.len() + 500 + attempt).await;
        if answer.status == StatusCode::CREATED {
            after = Some(doctor.slot(booked.len() + 500 + attempt));
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = after.unwrap_or_else(|| panic!("no booking after space returned (from {next})"));
    booked.push(after);
    let listed = patient.appointments().await;
    let mut stored = scheduled_starts(&listed.body);
    stored.sort();
    booked.sort();
    assert_eq!(stored, booked, "what was acknowledged, and only that");
}

/// Removes a file when dropped (the filler, so that the tablespace can be dropped).
struct Removed(PathBuf);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
