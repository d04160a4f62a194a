//! Online backups of a SQLite database: `VACUUM INTO` a new file while the server keeps
//! running, then a check that the copy opens and is intact.
//!
//! `VACUUM INTO` reads the database inside one read transaction, so the copy is a consistent
//! snapshot of a single moment even while other connections (or processes) write; in WAL mode
//! those writers are not blocked. PostgreSQL is backed up with its own tools (`pg_dump`), see
//! `docs/operations.md`.

use std::path::{Path, PathBuf};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::{Backend, Database, StoreError};

/// What a finished backup holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupReport {
    /// Where the copy was written.
    pub path: PathBuf,
    /// Size of the copy in bytes.
    pub bytes: u64,
}

/// Why a backup was not made.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The database is PostgreSQL: use `pg_dump`.
    #[error(
        "`medibook backup` copies SQLite databases; back up PostgreSQL with pg_dump \
         (for example `pg_dump --format=custom --file=medibook.dump \"$DATABASE_URL\"`), \
         see docs/operations.md"
    )]
    Postgres,
    /// The target exists: a backup never overwrites a file.
    #[error("{0} already exists; choose a new file name (a backup never overwrites)")]
    TargetExists(PathBuf),
    /// The target path is not UTF-8, so it cannot be handed to SQLite.
    #[error("the backup path {0:?} is not valid UTF-8")]
    PathNotUtf8(PathBuf),
    /// The copy was written but fails SQLite's integrity check.
    #[error("the backup {path} fails its integrity check: {problems}")]
    Corrupt {
        /// The copy.
        path: PathBuf,
        /// What `PRAGMA integrity_check` reported.
        problems: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The copy could not be inspected on disk.
    #[error("cannot read the backup {path}: {source}")]
    Io {
        /// The copy.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
}

impl Database {
    /// Writes a consistent copy of this SQLite database to `target` (which must not exist) and
    /// checks the copy with `PRAGMA integrity_check`. Safe while the server runs.
    pub async fn backup_to(&self, target: &Path) -> Result<BackupReport, BackupError> {
        if self.backend != Backend::Sqlite {
            return Err(BackupError::Postgres);
        }
        if target.exists() {
            return Err(BackupError::TargetExists(target.to_owned()));
        }
        let name = target
            .to_str()
            .ok_or_else(|| BackupError::PathNotUtf8(target.to_owned()))?;
        // The file name is bound as a parameter (VACUUM INTO takes an expression), so no quoting
        // of the path is needed and none can go wrong. It runs on a connection of its own: the
        // readers' connections are `query_only`, which refuses `VACUUM INTO`; it only reads
        // this database, so the writer goes on meanwhile.
        // The copy holds patients' data: it is made owner-only (0600) as an empty file first,
        // which `VACUUM INTO` accepts and fills.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(target).map_err(|source| BackupError::Io {
            path: target.to_owned(),
            source,
        })?;
        let mut conn = self.open_writing_connection().await?;
        let copied = crate::sql::query("VACUUM INTO $1")
            .bind(name)
            .execute(&mut conn)
            .await;
        let _ = conn.close().await;
        if let Err(error) = copied {
            let _ = std::fs::remove_file(target);
            return Err(StoreError::from(error).into());
        }
        let problems = integrity_problems(target).await?;
        if !problems.is_empty() {
            return Err(BackupError::Corrupt {
                path: target.to_owned(),
                problems,
            });
        }
        let bytes = std::fs::metadata(target)
            .map_err(|source| BackupError::Io {
                path: target.to_owned(),
                source,
            })?
            .len();
        Ok(BackupReport {
            path: target.to_owned(),
            bytes,
        })
    }
}

/// Opens `path` read-only and returns what `PRAGMA integrity_check` finds wrong (empty: intact).
pub async fn integrity_problems(path: &Path) -> Result<String, StoreError> {
    let mut connection = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .create_if_missing(false)
        .connect()
        .await?;
    let rows: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check")
        .fetch_all(&mut connection)
        .await?;
    connection.close().await?;
    let findings: Vec<String> = rows
        .into_iter()
        .map(|(line,)| line)
        .filter(|line| line != "ok")
        .collect();
    Ok(findings.join("; "))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    async fn database(dir: &Path) -> Database {
        let url = format!("sqlite://{}", dir.join("live.db").display());
        let database = Database::connect(&url).await.unwrap();
        database.migrate().await.unwrap();
        database
    }

    #[tokio::test]
    async fn a_backup_is_an_intact_copy_holding_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let database = database(dir.path()).await;
        crate::sql::query(
            "INSERT INTO specialties (id, name, created_at) VALUES ('s1', 'Cardiology', 0)",
        )
        .execute(&mut database.open_writing_connection().await.unwrap())
        .await
        .unwrap();
        // A quote in the name would break a naively quoted `VACUUM INTO '...'`.
        let target = dir.path().join("it's a backup.db");
        let report = database.backup_to(&target).await.unwrap();
        assert_eq!(report.path, target);
        assert!(report.bytes > 0);
        assert_eq!(integrity_problems(&target).await.unwrap(), "");
        let copy = Database::connect(&format!("sqlite://{}", target.display()))
            .await
            .unwrap();
        let name: String = crate::sql::query("SELECT name FROM specialties WHERE id = 's1'")
            .fetch_one(copy.pool())
            .await
            .unwrap()
            .get("name");
        assert_eq!(name, "Cardiology");
    }

    #[tokio::test]
    async fn a_backup_never_overwrites_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let database = database(dir.path()).await;
        let target = dir.path().join("taken.db");
        std::fs::write(&target, b"precious").unwrap();
        let refusal = database.backup_to(&target).await.unwrap_err();
        assert!(matches!(refusal, BackupError::TargetExists(_)), "{refusal}");
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    }

    #[tokio::test]
    async fn a_damaged_file_fails_the_integrity_check() {
        let dir = tempfile::tempdir().unwrap();
        let database = database(dir.path()).await;
        let target = dir.path().join("copy.db");
        database.backup_to(&target).await.unwrap();
        // Overwrite the start of every page but the first with garbage (a page in the middle
        // alone may be a free one, which the check rightly ignores).
        let mut bytes = std::fs::read(&target).unwrap();
        let page = 4096;
        for start in (page..bytes.len()).step_by(page) {
            let end = (start + 64).min(bytes.len());
            for byte in &mut bytes[start..end] {
                *byte = 0xAB;
            }
        }
        std::fs::write(&target, bytes).unwrap();
        let outcome = integrity_problems(&target).await;
        assert!(
            outcome
                .as_ref()
                .map_or(true, |problems| !problems.is_empty()),
            "{outcome:?}"
        );
    }
}
