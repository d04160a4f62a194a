//! The patient's record and the doctor's visit notes.
//!
//! A patient keeps their own record (date of birth, sex, address, medical history). A doctor
//! reads the record of a patient only through an appointment the patient has with them, and
//! writes notes on that visit; notes are appended, never changed. Anyone else — another
//! doctor, a receptionist, an admin, another patient — is told the appointment is not found.
//!
//! Clinical text (the medical history and visit notes) is sealed here, through the
//! [`ClinicalVault`] port, before it reaches storage, and opened here after it is read back:
//! the store, its database, logs and the audit trail only ever see ciphertext.

pub mod record;
pub mod rekey;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;

use crate::audit::{Actor, AuditAction, AuditEntry, AuditEvent, AuditTrail};
use crate::booking::{Appointment, AppointmentStatus};
use crate::clock::Clock;
use crate::contact::text_field;
use crate::error::{BookingError, BookingResult};
use crate::ids::{AppointmentId, DoctorId, UserId, VisitNoteId};
use crate::ports::{BookingRepository, IdentityRepository};

pub use record::{PatientDetails, PatientRecord, ProfileChanges, RecordUpdate, Sex, StoredPatient};

/// Longest visit note, in characters.
pub const MAX_NOTE_CHARS: usize = 10_000;

/// Seals and opens clinical text (authenticated encryption). `context` names the row the text
/// belongs to and is bound to the ciphertext as associated data, so a sealed value copied to
/// another row does not open.
pub trait ClinicalVault: Send + Sync + 'static {
    /// Encrypts `plaintext` under the current key.
    fn seal(&self, context: &str, plaintext: &str) -> BookingResult<Vec<u8>>;
    /// Decrypts a value sealed under the current key or one of the previous keys.
    fn open(&self, context: &str, sealed: &[u8]) -> BookingResult<String>;
    /// Whether `sealed` was sealed under the current key (key rotation re-seals the others).
    fn is_current(&self, sealed: &[u8]) -> bool;
}

/// The associated data of a patient's medical history.
pub fn history_context(patient_id: UserId) -> String {
    format!("medical_history:{patient_id}")
}

/// The associated data of a visit note.
pub fn note_context(note_id: VisitNoteId) -> String {
    format!("visit_note:{note_id}")
}

/// A visit note as storage holds it (its text sealed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedNote {
    /// Identity.
    pub id: VisitNoteId,
    /// The visit.
    pub appointment_id: AppointmentId,
    /// Whose visit.
    pub patient_id: UserId,
    /// The treating doctor.
    pub doctor_id: DoctorId,
    /// Who wrote it.
    pub author_id: UserId,
    /// When.
    pub created_at: Timestamp,
    /// The sealed text.
    pub sealed: Vec<u8>,
}

/// A visit note, opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VisitNote {
    /// Identity.
    pub id: VisitNoteId,
    /// The visit.
    pub appointment_id: AppointmentId,
    /// Who wrote it.
    pub author_id: UserId,
    /// When.
    pub created_at: Timestamp,
    /// What the doctor wrote.
    pub text: String,
}

/// One of the patient's visits with the doctor, with its notes (oldest first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Visit {
    /// The appointment.
    pub appointment: Appointment,
    /// Its notes.
    pub notes: Vec<VisitNote>,
}

/// What a doctor sees when they open a visit: the patient's record and every visit the patient
/// had or has with them (newest first), with notes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VisitRecord {
    /// The visit opened.
    pub appointment: Appointment,
    /// The patient's record.
    pub patient: PatientRecord,
    /// The patient's visits with this doctor, this one included, newest first.
    pub visits: Vec<Visit>,
}

/// Storage of patient records and visit notes. Commands write their `audit` entries in their
/// own transaction.
#[async_trait]
pub trait PatientRepository: Send + Sync + 'static {
    /// The patient's account and record; `None` for an unknown id.
    async fn patient(&self, id: UserId) -> BookingResult<Option<StoredPatient>>;
    /// Applies `update`; `false` for an unknown id.
    async fn update_patient(
        &self,
        id: UserId,
        update: &RecordUpdate,
        audit: &[AuditEntry],
    ) -> BookingResult<bool>;
    /// Appends a note.
    async fn add_note(&self, note: &SealedNote, audit: &[AuditEntry]) -> BookingResult<()>;
    /// The notes of one visit, oldest first.
    async fn notes_of_appointment(
        &self,
        appointment_id: AppointmentId,
    ) -> BookingResult<Vec<SealedNote>>;
    /// Every appointment of `patient_id` with `doctor_id`, newest first.
    async fn visits_with(
        &self,
        patient_id: UserId,
        doctor_id: DoctorId,
    ) -> BookingResult<Vec<Appointment>>;
    /// Every note on visits of `patient_id` with `doctor_id`, oldest first.
    async fn notes_with(
        &self,
        patient_id: UserId,
        doctor_id: DoctorId,
    ) -> BookingResult<Vec<SealedNote>>;
    /// Stored values of `kind` whose row id sorts after `after`, by row id, at most `limit`
    /// (for key rotation).
    async fn sealed_page(
        &self,
        kind: rekey::SealedKind,
        after: Option<&str>,
        limit: u32,
    ) -> BookingResult<Vec<rekey::SealedValue>>;
    /// Replaces the sealed value of row `id` by `new` if it still is `old` (for key rotation;
    /// notes are otherwise never changed); `false` if it was not.
    async fn replace_sealed(
        &self,
        kind: rekey::SealedKind,
        id: &str,
        old: &[u8],
        new: &[u8],
    ) -> BookingResult<bool>;
}

/// The record and notes use cases.
#[derive(Clone)]
pub struct PatientRecords {
    patients: Arc<dyn PatientRepository>,
    bookings: Arc<dyn BookingRepository>,
    identities: Arc<dyn IdentityRepository>,
    vault: Arc<dyn ClinicalVault>,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
}

impl PatientRecords {
    /// A service over the given ports.
    pub fn new(
        patients: Arc<dyn PatientRepository>,
        bookings: Arc<dyn BookingRepository>,
        identities: Arc<dyn IdentityRepository>,
        vault: Arc<dyn ClinicalVault>,
        audit: AuditTrail,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            patients,
            bookings,
            identities,
            vault,
            audit,
            clock,
        }
    }

    /// The signed-in person's own record, history opened.
    pub async fn own(&self, user_id: UserId) -> BookingResult<PatientRecord> {
        let stored = self
            .patients
            .patient(user_id)
            .await?
            .ok_or(BookingError::Unauthorized)?;
        self.open(stored)
    }

    /// Changes the signed-in person's own record; the change (field names only) is audited in
    /// the same transaction.
    pub async fn update_own(
        &self,
        actor: &Actor,
        user_id: UserId,
        changes: ProfileChanges,
    ) -> BookingResult<PatientRecord> {
        if changes == ProfileChanges::default() {
            return Err(BookingError::validation(
                "give at least one of name, date_of_birth, sex, address, medical_history",
            ));
        }
        let now = self.clock.now();
        let update = self.checked(user_id, changes, now)?;
        let event = AuditEvent::new(
            AuditAction::PatientRecordUpdate,
            "patient",
            Some(user_id.to_string()),
        )
        .with_patient(user_id)
        .with_detail(format!("changed {}", update.fields().join(", ")));
        let audit = [AuditEntry::stamped(actor, now, event)];
        if !self
            .patients
            .update_patient(user_id, &update, &audit)
            .await?
        {
            return Err(BookingError::Unauthorized);
        }
        self.own(user_id).await
    }

    fn checked(
        &self,
        user_id: UserId,
        changes: ProfileChanges,
        now: Timestamp,
    ) -> BookingResult<RecordUpdate> {
        Ok(RecordUpdate {
            name: changes
                .name
                .as_deref()
                .map(record::patient_name)
                .transpose()?,
            date_of_birth: changes
                .date_of_birth
                .as_deref()
                .map(|raw| record::date_of_birth(raw, now))
                .transpose()?,
            sex: changes.sex,
            address: changes
                .address
                .as_deref()
                .map(|raw| record::optional_text("address", raw, record::MAX_ADDRESS_CHARS))
                .transpose()?,
            sealed_history: changes
                .medical_history
                .as_deref()
                .map(|raw| {
                    record::optional_text("medical_history", raw, record::MAX_HISTORY_CHARS)?
                        .map(|text| self.vault.seal(&history_context(user_id), &text))
                        .transpose()
                })
                .transpose()?,
        })
    }

    fn open(&self, stored: StoredPatient) -> BookingResult<PatientRecord> {
        let medical_history = stored
            .sealed_history
            .as_deref()
            .map(|sealed| self.vault.open(&history_context(stored.user.id), sealed))
            .transpose()?;
        Ok(PatientRecord {
            user: stored.user,
            details: stored.details,
            medical_history,
        })
    }

    fn open_note(&self, note: SealedNote) -> BookingResult<VisitNote> {
        let text = self.vault.open(&note_context(note.id), &note.sealed)?;
        Ok(VisitNote {
            id: note.id,
            appointment_id: note.appointment_id,
            author_id: note.author_id,
            created_at: note.created_at,
            text,
        })
    }

    /// The appointment, if `caller` is its treating doctor (the doctor profile linked to their
    /// account, whatever else their role); `NotFound` for anyone else.
    async fn treated_by(
        &self,
        caller: UserId,
        appointment_id: AppointmentId,
    ) -> BookingResult<(Appointment, DoctorId)> {
        let not_found = || BookingError::NotFound("appointment");
        let doctor_id = self
            .identities
            .user(caller)
            .await?
            .and_then(|user| user.doctor_id)
            .ok_or_else(not_found)?;
        let appointment = self
            .bookings
            .appointment(appointment_id)
            .await?
            .filter(|a| a.doctor_id == doctor_id)
            .ok_or_else(not_found)?;
        Ok((appointment, doctor_id))
    }

    /// The visit as its treating doctor opens it: the patient's record and their visits with
    /// this doctor, with notes. The read is audited.
    pub async fn visit(
        &self,
        actor: &Actor,
        caller: UserId,
        appointment_id: AppointmentId,
    ) -> BookingResult<VisitRecord> {
        let (appointment, doctor_id) = self.treated_by(caller, appointment_id).await?;
        let patient_id = appointment.patient_id;
        let (stored, visits, notes) = futures_util::future::join3(
            self.patients.patient(patient_id),
            self.patients.visits_with(patient_id, doctor_id),
            self.patients.notes_with(patient_id, doctor_id),
        )
        .await;
        let stored = stored?.ok_or(BookingError::NotFound("appointment"))?;
        let mut by_visit: BTreeMap<AppointmentId, Vec<VisitNote>> = BTreeMap::new();
        for note in notes? {
            by_visit
                .entry(note.appointment_id)
                .or_default()
                .push(self.open_note(note)?);
        }
        let visits = visits?
            .into_iter()
            .map(|appointment| Visit {
                notes: by_visit.remove(&appointment.id).unwrap_or_default(),
                appointment,
            })
            .collect();
        self.audit
            .record(
                actor,
                AuditEvent::appointment(AuditAction::PatientRecordRead, &appointment),
            )
            .await?;
        Ok(VisitRecord {
            patient: self.open(stored)?,
            appointment,
            visits,
        })
    }

    /// The notes on one visit, oldest first, for its treating doctor. The read is audited.
    pub async fn notes(
        &self,
        actor: &Actor,
        caller: UserId,
        appointment_id: AppointmentId,
    ) -> BookingResult<Vec<VisitNote>> {
        let (appointment, _) = self.treated_by(caller, appointment_id).await?;
        let notes = self
            .patients
            .notes_of_appointment(appointment_id)
            .await?
            .into_iter()
            .map(|note| self.open_note(note))
            .collect::<BookingResult<Vec<_>>>()?;
        self.audit
            .record(
                actor,
                AuditEvent::appointment(AuditAction::VisitNoteRead, &appointment),
            )
            .await?;
        Ok(notes)
    }

    /// Appends a note to a visit (not to a cancelled one), for its treating doctor; written
    /// sealed, with its audit entry, in one transaction.
    pub async fn add_note(
        &self,
        actor: &Actor,
        caller: UserId,
        appointment_id: AppointmentId,
        text: &str,
    ) -> BookingResult<VisitNote> {
        let (appointment, doctor_id) = self.treated_by(caller, appointment_id).await?;
        if appointment.status == AppointmentStatus::Cancelled {
            return Err(BookingError::InvalidState(
                "a cancelled appointment takes no notes".into(),
            ));
        }
        let text = text_field("text", text, MAX_NOTE_CHARS, true)?;
        let now = self.clock.now();
        let id = VisitNoteId::generate();
        let note = SealedNote {
            id,
            appointment_id,
            patient_id: appointment.patient_id,
            doctor_id,
            author_id: caller,
            created_at: now,
            sealed: self.vault.seal(&note_context(id), &text)?,
        };
        let event = AuditEvent::appointment(AuditAction::VisitNoteCreate, &appointment)
            .with_detail(format!("note {id}"));
        self.patients
            .add_note(&note, &[AuditEntry::stamped(actor, now, event)])
            .await?;
        Ok(VisitNote {
            id,
            appointment_id,
            author_id: caller,
            created_at: now,
            text,
        })
    }
}
