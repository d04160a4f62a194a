//! Key rotation for clinical text: every value sealed under a key other than the current one is
//! opened and sealed again under the current key, one row at a time, each replaced only if it
//! is still what was read (so a concurrent change is never overwritten). Safe to stop and run
//! again.

use super::{ClinicalVault, PatientRepository, history_context, note_context};
use crate::error::{BookingError, BookingResult};
use crate::ids::{UserId, VisitNoteId};

/// Rows read per page.
const PAGE: u32 = 200;

/// Which kind of clinical text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealedKind {
    /// A patient's medical history (`users.medical_history`).
    History,
    /// A visit note (`visit_notes.sealed`).
    Note,
}

/// One stored sealed value and the id of its row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedValue {
    /// The row's id (a user id or a note id).
    pub id: String,
    /// The sealed bytes.
    pub sealed: Vec<u8>,
}

/// What a rotation did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RekeyReport {
    /// Values looked at.
    pub checked: u64,
    /// Values sealed again under the current key.
    pub resealed: u64,
}

fn context(kind: SealedKind, id: &str) -> BookingResult<String> {
    let corrupt = || BookingError::Storage(format!("a stored clinical row id is not a UUID: {id}"));
    Ok(match kind {
        SealedKind::History => history_context(id.parse::<UserId>().map_err(|_| corrupt())?),
        SealedKind::Note => note_context(id.parse::<VisitNoteId>().map_err(|_| corrupt())?),
    })
}

/// Seals every history and note not under the current key again under it.
pub async fn rekey(
    patients: &dyn PatientRepository,
    vault: &dyn ClinicalVault,
) -> BookingResult<RekeyReport> {
    let mut report = RekeyReport::default();
    for kind in [SealedKind::History, SealedKind::Note] {
        let mut after: Option<String> = None;
        loop {
            let page = patients.sealed_page(kind, after.as_deref(), PAGE).await?;
            let Some(last) = page.last() else {
                break;
            };
            after = Some(last.id.clone());
            for value in page {
                report.checked += 1;
                if vault.is_current(&value.sealed) {
                    continue;
                }
                let context = context(kind, &value.id)?;
                let plain = vault.open(&context, &value.sealed)?;
                let resealed = vault.seal(&context, &plain)?;
                if patients
                    .replace_sealed(kind, &value.id, &value.sealed, &resealed)
                    .await?
                {
                    report.resealed += 1;
                }
            }
        }
    }
    Ok(report)
}
