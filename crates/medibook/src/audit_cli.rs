//! `medibook audit`: verify the audit trail's hash chain, and prune entries past a retention.

use clap::Subcommand;
use jiff::{SignedDuration, Timestamp};
use medibook_store::Database;

use crate::app::{StartError, open_database};
use crate::settings::Settings;

/// What to do with the audit trail.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain and every sealed window; exit 1 if anything was changed,
    /// removed or added out of order.
    Verify,
    /// Seal what settled, then delete sealed entries older than DAYS (their seals stay, so
    /// the chain still verifies).
    Prune {
        /// Keep entries from the last DAYS days.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36_500))]
        older_than: u32,
    },
}

/// Runs `command` on the configured database.
pub async fn run(settings: &Settings, command: AuditCommand) -> Result<(), StartError> {
    let database = open_database(settings).await?;
    let result = match command {
        AuditCommand::Verify => verify(&database).await,
        AuditCommand::Prune { older_than } => prune(&database, older_than).await,
    };
    database.close().await;
    result
}

async fn verify(database: &Database) -> Result<(), StartError> {
    let report = database
        .verify_audit()
        .await
        .map_err(|e| format!("cannot read the audit trail: {e}"))?;
    println!(
        "{}",
        serde_json::json!({
            "intact": report.intact(),
            "seals": report.seals,
            "pruned_seals": report.pruned_seals,
            "entries_checked": report.entries,
            "unsealed_entries": report.unsealed,
            "head_hash": report.head_hash,
            "pruned_through": report.pruned_through.map(|at| at.to_string()),
            "problems": report.problems,
        })
    );
    if report.intact() {
        Ok(())
    } else {
        Err(format!(
            "the audit trail does not verify: {}",
            report.problems.join("; ")
        ))
    }
}

async fn prune(database: &Database, days: u32) -> Result<(), StartError> {
    let now = Timestamp::now();
    while database
        .seal_audit(now, crate::app::workers::AUDIT_SETTLE)
        .await
        .map_err(|e| format!("cannot seal the audit trail: {e}"))?
        .is_some()
    {}
    let before = now
        .saturating_sub(SignedDuration::from_hours(i64::from(days) * 24))
        .unwrap_or(now);
    let deleted = database
        .prune_audit(before, now)
        .await
        .map_err(|e| format!("cannot prune the audit trail: {e}"))?;
    println!("{}", serde_json::json!({ "deleted_entries": deleted }));
    Ok(())
}
