//! Retention: appointments that ended longer ago than the clinic keeps them are pseudonymised
//! by a scheduled job. Each moves to the appointment archive with its doctor, times, status and
//! a pseudonym of its patient — an HMAC of the patient's id under a key derived from the server
//! secret, the same for all of one patient's appointments so the clinic can still count returning
//! patients, but not leading back to them without that key. Its reason, its visit notes, the
//! messages about it and its hold are deleted, in one transaction per batch with the audit entry.

use std::sync::Arc;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use jiff::{SignedDuration, Timestamp};
use sha2::Sha256;

use crate::audit::{Actor, AuditAction, AuditEntry, AuditEvent};
use crate::clock::Clock;
use crate::error::BookingResult;
use crate::ids::{AppointmentId, UserId};

/// Appointments pseudonymised per transaction.
pub const BATCH: u32 = 500;

/// One appointment to archive, with its patient's pseudonym.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pseudonymised {
    /// The appointment.
    pub appointment_id: AppointmentId,
    /// What stands for its patient in the archive.
    pub pseudonym: String,
}

/// Storage for the retention job.
#[async_trait]
pub trait RetentionRepository: Send + Sync + 'static {
    /// Up to `limit` appointments that ended before `before`, with their patients, oldest
    /// first.
    async fn ended_before(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> BookingResult<Vec<(AppointmentId, UserId)>>;
    /// Moves `appointments` to the archive under their pseudonyms and deletes what named the
    /// patient (reason, notes, messages, hold), with `audit`, in one transaction; how many
    /// moved.
    async fn archive(
        &self,
        appointments: &[Pseudonymised],
        now: Timestamp,
        audit: &[AuditEntry],
    ) -> BookingResult<usize>;
}

/// The retention job.
#[derive(Clone)]
pub struct Retention {
    repository: Arc<dyn RetentionRepository>,
    key: [u8; 32],
    period: SignedDuration,
    clock: Arc<dyn Clock>,
}

impl Retention {
    /// Keeps appointments for `period` after they end; pseudonyms are keyed by `key`.
    pub fn new(
        repository: Arc<dyn RetentionRepository>,
        key: [u8; 32],
        period: SignedDuration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            repository,
            key,
            period,
            clock,
        }
    }

    /// The pseudonym of `patient`: 32 hex digits of an HMAC-SHA256 of their id.
    pub fn pseudonym(&self, patient: UserId) -> String {
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(patient.to_string().as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Pseudonymises every appointment past the retention period, a batch at a time; how many.
    pub async fn pseudonymise_due(&self) -> BookingResult<usize> {
        let mut total = 0;
        loop {
            let moved = self.pseudonymise_batch().await?;
            if moved == 0 {
                return Ok(total);
            }
            total += moved;
        }
    }

    /// Pseudonymises up to [`BATCH`] appointments past the retention period in one
    /// transaction; how many (0 when none is left).
    pub async fn pseudonymise_batch(&self) -> BookingResult<usize> {
        let now = self.clock.now();
        let before = now.saturating_sub(self.period).unwrap_or(now);
        let due = self.repository.ended_before(before, BATCH).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let batch: Vec<Pseudonymised> = due
            .into_iter()
            .map(|(appointment_id, patient)| Pseudonymised {
                appointment_id,
                pseudonym: self.pseudonym(patient),
            })
            .collect();
        let event =
            AuditEvent::new(AuditAction::AppointmentPseudonymise, "appointment", None).with_detail(
                format!("{} appointments that ended before {before}", batch.len()),
            );
        let audit = [AuditEntry::stamped(&Actor::system(), now, event)];
        self.repository.archive(&batch, now, &audit).await
    }
}
