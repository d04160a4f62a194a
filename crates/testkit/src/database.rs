//! Throw-away databases of either backend.

use std::path::Path;
use std::process::Command;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A throw-away database: a SQLite file in a temporary directory, or a fresh PostgreSQL
/// database. Its directory doubles as the data directory of an app under test. Removed when
/// dropped.
pub struct TestDatabase {
    /// Its `DATABASE_URL`.
    pub url: String,
    dir: tempfile::TempDir,
    _postgres: Option<FreshPostgres>,
}

impl TestDatabase {
    /// A new, empty database on `backend`, or `None` (outside CI) when PostgreSQL is asked for
    /// and none is configured.
    pub async fn create(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (url, postgres) = match backend {
            Backend::Sqlite => {
                let file = dir.path().join("medibook.db");
                (format!("sqlite://{}", file.display()), None)
            }
            Backend::Postgres => {
                let fresh = FreshPostgres::create().await?;
                (fresh.url.clone(), Some(fresh))
            }
        };
        Some(Self {
            url,
            dir,
            _postgres: postgres,
        })
    }

    /// A directory that lives as long as the database (the app's data directory).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A fresh database on the server of `MEDIBOOK_TEST_POSTGRES_URL`, dropped (with its
/// connections) when this is dropped.
pub struct FreshPostgres {
    /// URL of the new database.
    pub url: String,
    admin_url: String,
    name: String,
}

impl FreshPostgres {
    /// Creates the database, or returns `None` (outside CI) when no server is configured.
    pub async fn create() -> Option<Self> {
        tokio::task::spawn_blocking(Self::create_blocking)
            .await
            .expect("creating the database did not panic")
    }

    /// [`FreshPostgres::create`] for tests without an async runtime.
    pub fn create_blocking() -> Option<Self> {
        let Ok(admin_url) = std::env::var("MEDIBOOK_TEST_POSTGRES_URL") else {
            return crate::missing("MEDIBOOK_TEST_POSTGRES_URL is not set");
        };
        let name = format!("medibook_test_{}", uuid::Uuid::new_v4().simple());
        psql(&admin_url, &format!("CREATE DATABASE {name}"));
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(base, _)| base);
        Some(Self {
            url: format!("{base}/{name}"),
            admin_url,
            name,
        })
    }
}

impl Drop for FreshPostgres {
    fn drop(&mut self) {
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Never panic in drop (a test that already failed would abort instead of reporting).
        let _ = run_psql(&self.admin_url, &drop);
    }
}

/// Runs one statement on `url` with `psql` and returns what it printed (unaligned, tuples
/// only, trimmed), failing the test when the statement fails.
pub fn psql(url: &str, sql: &str) -> String {
    match run_psql(url, sql) {
        Ok(stdout) => stdout,
        Err(error) => panic!("psql {sql:?}: {error}"),
    }
}

fn run_psql(url: &str, sql: &str) -> Result<String, String> {
    let output = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-At",
            "-d",
            url,
            "-c",
            sql,
        ])
        .output()
        .map_err(|error| format!("psql does not run ({error}); it is installed with PostgreSQL"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
