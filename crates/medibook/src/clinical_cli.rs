//! `medibook clinical rekey`: seal every medical history and visit note again under the current
//! clinical key, after a key rotation (docs/security.md).

use clap::Subcommand;

use crate::app::{StartError, open_database};
use crate::clinical::keyring;
use crate::secrets::{self, ServerKeys};
use crate::settings::Settings;

/// What to do with clinical text.
#[derive(Debug, Subcommand)]
pub enum ClinicalCommand {
    /// Seal every medical history and visit note again under the current clinical key (after
    /// a rotation, with the old key still in clinical_previous_keys); prints one JSON line.
    Rekey,
}

/// Runs `command` on the configured database.
pub async fn run(settings: &Settings, command: ClinicalCommand) -> Result<(), StartError> {
    let ClinicalCommand::Rekey = command;
    let secret = secrets::load_or_create(settings.secret.as_deref(), &settings.data_dir)?;
    let ring = keyring(settings, &ServerKeys::derive(&secret))?;
    let database = open_database(settings).await?;
    let result = medibook_core::patients::rekey::rekey(&database, &ring).await;
    database.close().await;
    let report = result.map_err(|e| format!("re-sealing clinical text failed: {e}"))?;
    println!(
        "{}",
        serde_json::json!({
            "checked": report.checked,
            "resealed": report.resealed,
            "current_key_id": ring.current_key_id(),
        })
    );
    Ok(())
}
