//! The one-off commands beside `serve`: `medibook seed`, `medibook floor` and `medibook backup`.

use std::time::Duration;

use medibook_store::Database;

use crate::settings::Settings;

use super::{StartError, open_database};

/// `medibook seed`: loads a generated clinic of `shape` into the configured database (migrated
/// first) and prints what was loaded as one JSON line on standard output.
pub async fn seed(settings: &Settings, shape: &crate::seed::Shape) -> Result<(), StartError> {
    let database = open_database(settings).await?;
    let seeded = crate::seed::seed(&database, shape, jiff::Timestamp::now()).await;
    database.close().await;
    let seeded = seeded?;
    let line = serde_json::to_string(&seeded).map_err(|e| e.to_string())?;
    println!("{line}");
    Ok(())
}

/// `medibook floor`: the configured database's commit rate of single-row insert transactions
/// through this server's connection settings, alone and with `writers` at once, each for
/// `seconds`; one JSON line `{"serial_per_s":…,"concurrent_per_s":…,"writers":…}`.
pub async fn floor(settings: &Settings, writers: usize, seconds: u64) -> Result<(), StartError> {
    let database = open_database(settings).await?;
    let time = Duration::from_secs(seconds);
    let measured = async {
        let serial = database.commit_floor(1, time).await?;
        let concurrent = database.commit_floor(writers, time).await?;
        Ok::<_, medibook_store::StoreError>((serial, concurrent))
    }
    .await;
    database.close().await;
    let (serial, concurrent) = measured.map_err(|e| format!("cannot measure the floor: {e}"))?;
    let line = serde_json::json!({
        "serial_per_s": serial,
        "concurrent_per_s": concurrent,
        "writers": writers,
    });
    println!("{line}");
    Ok(())
}

/// `medibook backup FILE`: a consistent online copy of the SQLite database, checked with
/// `PRAGMA integrity_check`. Does not migrate, so it is safe beside a running server of any
/// version; PostgreSQL is refused with a pointer to `pg_dump`.
pub async fn backup(settings: &Settings, file: &std::path::Path) -> Result<(), StartError> {
    let url = settings.database_url();
    if !url.starts_with("sqlite:") {
        return Err(medibook_store::backup::BackupError::Postgres.to_string());
    }
    // Read-write but never create: a mistyped path must fail, not back up a new empty file.
    let existing = if url.contains("mode=") {
        url.clone()
    } else {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}mode=rw")
    };
    let database = Database::connect(&existing).await.map_err(|e| {
        format!(
            "cannot open database {} (a backup never creates one; check MEDIBOOK_DATA_DIR or \
             DATABASE_URL): {e}",
            medibook_store::redact(&url)
        )
    })?;
    let result = database.backup_to(file).await;
    database.close().await;
    let report = result.map_err(|e| e.to_string())?;
    tracing::info!(
        path = %report.path.display(),
        bytes = report.bytes,
        "backup written; integrity check ok"
    );
    Ok(())
}
