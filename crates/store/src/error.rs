//! Storage errors and their mapping to domain errors at the boundary.

use medibook_core::BookingError;
use thiserror::Error;

/// A failure inside the storage layer.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database refused or failed a statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The shared commit of a batch of SQLite writes failed (or a statement aborted the
    /// batch's transaction), so this command's changes are not stored.
    #[error("database error in a batched commit: {0}")]
    Batch(std::sync::Arc<sqlx::Error>),
    /// Migrations could not be applied.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back into a domain value.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The connection URL or settings are unusable.
    #[error("configuration error: {0}")]
    Config(String),
}

impl From<StoreError> for BookingError {
    fn from(error: StoreError) -> Self {
        let outage = match &error {
            StoreError::Database(cause) => outage(cause),
            StoreError::Batch(cause) => outage(cause),
            _ => None,
        };
        match outage {
            Some(Outage::StorageFull) => {
                tracing::warn!(%error, "the database has no room for writes");
                BookingError::StorageFull
            }
            Some(Outage::Unreachable) => {
                tracing::warn!(%error, "the database is unreachable");
                BookingError::DatabaseUnavailable
            }
            None => BookingError::Storage(error.to_string()),
        }
    }
}

/// A failure that is the database's condition rather than this request's fault, and passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outage {
    /// No room for writes: SQLite's `SQLITE_FULL` (a full disk or a page limit), PostgreSQL's
    /// `disk_full` (53100).
    StorageFull,
    /// The database could not be reached or did not answer in time: no connection within the
    /// pool's timeout, a broken or timed-out socket, PostgreSQL shutting down or refusing
    /// connections (class 08, 57P01–57P03, 53300), SQLite's lock held by another process past
    /// the busy timeout.
    Unreachable,
}

/// What kind of outage `error` shows, if any.
pub(crate) fn outage(error: &sqlx::Error) -> Option<Outage> {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            Some(Outage::Unreachable)
        }
        sqlx::Error::Tls(_) => Some(Outage::Unreachable),
        sqlx::Error::Database(db) => {
            let code = db.code()?;
            if db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some()
            {
                return match code.as_ref() {
                    "53100" => Some(Outage::StorageFull),
                    "53300" | "57P01" | "57P02" | "57P03" => Some(Outage::Unreachable),
                    class if class.starts_with("08") => Some(Outage::Unreachable),
                    _ => None,
                };
            }
            // SQLite's extended result code: its low byte is the primary code.
            match code.parse::<i32>().map(|extended| extended & 0xff) {
                // SQLITE_FULL
                Ok(13) => Some(Outage::StorageFull),
                // SQLITE_BUSY, after the busy timeout
                Ok(5) => Some(Outage::Unreachable),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Whether `error` is the database refusing an overlapping or duplicate claim: PostgreSQL's
/// exclusion (23P01) or unique (23505) violation, SQLite's UNIQUE/PRIMARY KEY constraint.
pub(crate) fn is_conflict(error: &sqlx::Error) -> bool {
    let Some(db) = error.as_database_error() else {
        return false;
    };
    match db.code().as_deref() {
        Some("23P01" | "23505") => true,
        // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
        Some("2067" | "1555") => true,
        _ => false,
    }
}

/// Maps a database error from a claim: conflicts are `SlotTaken`, the rest storage failures.
pub(crate) fn claim_error(error: sqlx::Error) -> BookingError {
    if is_conflict(&error) {
        BookingError::SlotTaken
    } else {
        StoreError::Database(error).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_and_a_full_disk_are_outages_and_nothing_else_is() {
        assert_eq!(
            BookingError::from(StoreError::Database(sqlx::Error::PoolTimedOut)),
            BookingError::DatabaseUnavailable
        );
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(
            BookingError::from(StoreError::Batch(std::sync::Arc::new(sqlx::Error::Io(
                refused
            )))),
            BookingError::DatabaseUnavailable
        );
        assert!(matches!(
            BookingError::from(StoreError::Database(sqlx::Error::RowNotFound)),
            BookingError::Storage(_)
        ));
        assert!(matches!(
            BookingError::from(StoreError::Corrupt("bad".into())),
            BookingError::Storage(_)
        ));
    }
}
