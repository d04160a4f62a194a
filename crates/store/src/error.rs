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
        BookingError::Storage(error.to_string())
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
