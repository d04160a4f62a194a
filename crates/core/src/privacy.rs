//! A person's rights over their data (GDPR Art. 15, 17 and 20): a copy of everything held about
//! them, and erasure of their account.
//!
//! Erasure first undoes what the person still has in the clinic's agenda through the same
//! services as their own requests: waitlist entries are left (an open offer passes on), holds
//! are released and upcoming appointments cancelled, so every slot is freed and announced on the
//! live feed. Then one transaction deletes their rows — account, record, appointments and their
//! notes, holds, waitlist, sessions (which ends their live-feed sign-in within seconds), calendar
//! links, messages, sign-in codes and contact-form messages — with the audit entry. The audit
//! trail keeps the account's id, which no longer leads to anyone: a pseudonym. Each step can be
//! repeated, so an erasure interrupted by a crash completes when asked again.

use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;

use crate::audit::{Actor, AuditAction, AuditEntry, AuditEvent, AuditTrail};
use crate::booking::{Appointment, AppointmentStatus};
use crate::booking_service::BookingService;
use crate::clock::Clock;
use crate::error::{BookingError, BookingResult};
use crate::identity::{Role, User};
use crate::ids::{HoldId, SessionId, UserId};
use crate::patients::{PatientRecord, PatientRecords};
use crate::ports::IdentityRepository;
use crate::waitlist::{EntryState, WaitlistEntry};
use crate::waitlist_service::WaitlistService;

/// A message the clinic sent (or is about to send) to the person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMessage {
    /// What it was about (`booked`, `reminder`, `sign_in_code`, …).
    pub kind: String,
    /// `email` or `phone`.
    pub channel: String,
    /// The address or number.
    pub recipient: String,
    /// Its subject.
    pub subject: String,
    /// Its text; `None` for sign-in codes, which are secrets even after use.
    pub body: Option<String>,
    /// `pending`, `sent`, `failed` or `cancelled`.
    pub status: String,
    /// When it was queued.
    pub created_at: Timestamp,
    /// When it was sent or given up.
    pub finished_at: Option<Timestamp>,
}

/// One sign-in: a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInRecord {
    /// The session.
    pub session_id: SessionId,
    /// When the person signed in.
    pub signed_in_at: Timestamp,
    /// Last activity.
    pub last_seen_at: Timestamp,
    /// When it lapses.
    pub expires_at: Timestamp,
    /// When they signed out, if they did.
    pub signed_out_at: Option<Timestamp>,
}

/// A private calendar link (its secret address is stored only as a hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalendarLink {
    /// `appointments` or `agenda`.
    pub kind: String,
    /// Whether a link is issued now.
    pub active: bool,
    /// When it was first issued.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
}

/// The person's Google Calendar connection (its token is not exported).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoogleLink {
    /// The calendar written to.
    pub calendar_id: String,
    /// `active` or `revoked`.
    pub status: String,
    /// When it was connected.
    pub connected_at: Timestamp,
}

/// What storage holds about an account besides its record and appointments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountRecords {
    /// Waitlist entries, every state, oldest first.
    pub waitlist: Vec<WaitlistEntry>,
    /// Messages to the person's e-mail address or phone, or about their appointments.
    pub messages: Vec<SentMessage>,
    /// Sessions, newest first.
    pub sign_ins: Vec<SignInRecord>,
    /// Private calendar links.
    pub calendar_links: Vec<CalendarLink>,
    /// Google Calendar connection.
    pub google: Option<GoogleLink>,
    /// Holds not yet confirmed, released or expired.
    pub active_holds: Vec<HoldId>,
}

/// Everything held about a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonalData {
    /// Account and record, medical history opened.
    pub record: PatientRecord,
    /// Every appointment, soonest first.
    pub appointments: Vec<Appointment>,
    /// The rest.
    pub records: AccountRecords,
    /// When the copy was made.
    pub exported_at: Timestamp,
}

/// What an erasure undid before deleting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Erasure {
    /// Upcoming appointments cancelled (their slots freed).
    pub cancelled: usize,
    /// Holds released.
    pub released: usize,
    /// Waitlist entries left.
    pub left_waitlist: usize,
}

/// Storage for exports and erasures.
#[async_trait]
pub trait PrivacyRepository: Send + Sync + 'static {
    /// What is held about `user` besides the record and appointments.
    async fn account_records(&self, user: &User) -> BookingResult<AccountRecords>;
    /// Deletes the account and everything that names the person, with `audit`, in one
    /// transaction; `false` if the account was already gone. On SQLite deleted content is
    /// overwritten and the write-ahead log emptied afterwards.
    async fn erase_account(&self, user: &User, audit: &[AuditEntry]) -> BookingResult<bool>;
}

/// Export and erasure.
#[derive(Clone)]
pub struct Privacy {
    repository: Arc<dyn PrivacyRepository>,
    identities: Arc<dyn IdentityRepository>,
    records: PatientRecords,
    bookings: BookingService,
    waitlist: WaitlistService,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
}

impl Privacy {
    /// A service over the given ports and the services erasure acts through.
    pub fn new(
        repository: Arc<dyn PrivacyRepository>,
        identities: Arc<dyn IdentityRepository>,
        records: PatientRecords,
        bookings: BookingService,
        waitlist: WaitlistService,
        audit: AuditTrail,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            repository,
            identities,
            records,
            bookings,
            waitlist,
            audit,
            clock,
        }
    }

    async fn account(&self, caller: UserId) -> BookingResult<User> {
        self.identities
            .user(caller)
            .await?
            .ok_or(BookingError::Unauthorized)
    }

    /// Everything held about the caller. The export is audited.
    pub async fn export(&self, actor: &Actor, caller: UserId) -> BookingResult<PersonalData> {
        let user = self.account(caller).await?;
        let (record, appointments, records) = futures_util::future::join3(
            self.records.own(caller),
            self.bookings.appointments_of(caller),
            self.repository.account_records(&user),
        )
        .await;
        let event = AuditEvent::new(
            AuditAction::PersonalDataExport,
            "user",
            Some(caller.to_string()),
        )
        .with_patient(caller);
        self.audit.record(actor, event).await?;
        Ok(PersonalData {
            record: record?,
            appointments: appointments?,
            records: records?,
            exported_at: self.clock.now(),
        })
    }

    /// Erases the caller's account (patients only: a staff account is closed by an admin, who
    /// first makes it a patient's). See the module documentation for the steps.
    pub async fn erase(&self, actor: &Actor, caller: UserId) -> BookingResult<Erasure> {
        let user = self.account(caller).await?;
        if user.role != Role::Patient {
            return Err(BookingError::InvalidState(
                "a staff account is closed by an admin: ask them to make it a patient's first"
                    .into(),
            ));
        }
        let mut erasure = Erasure::default();
        let records = self.repository.account_records(&user).await?;
        for entry in &records.waitlist {
            if matches!(entry.state, EntryState::Waiting | EntryState::Offered) {
                self.waitlist.leave(caller, actor, entry.id).await?;
                erasure.left_waitlist += 1;
            }
        }
        for hold in self.repository.account_records(&user).await?.active_holds {
            self.bookings.release(actor, caller, hold).await?;
            erasure.released += 1;
        }
        let now = self.clock.now();
        for appointment in self.bookings.appointments_of(caller).await? {
            if appointment.status == AppointmentStatus::Scheduled && appointment.start > now {
                self.bookings.cancel(actor, caller, appointment.id).await?;
                erasure.cancelled += 1;
            }
        }
        let event = AuditEvent::new(AuditAction::AccountErase, "user", Some(caller.to_string()))
            .with_patient(caller)
            .with_detail(format!(
                "{} cancelled, {} released, {} waitlist entries left",
                erasure.cancelled, erasure.released, erasure.left_waitlist
            ));
        let audit = [AuditEntry::stamped(actor, self.clock.now(), event)];
        self.repository.erase_account(&user, &audit).await?;
        Ok(erasure)
    }
}
