//! A person's rights over their data (GDPR Art. 15, 17 and 20): a copy of everything held about
//! them, and erasure of their account.
//!
//! Erasure first ends every sign-in of the person, so they book nothing more meanwhile.
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
use crate::waitlist::WaitlistEntry;
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
    /// Contact-form messages sent from the person's e-mail address.
    pub contact_messages: Vec<crate::contact::ContactMessage>,
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

/// How many times erasure gives up what was booked meanwhile before it reports a conflict.
const ERASE_ATTEMPTS: usize = 3;

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
    /// The person's holds that are still active, oldest first.
    async fn active_holds(&self, user: UserId) -> BookingResult<Vec<HoldId>>;
    /// Whether the account wrote visit notes about others (a former doctor's account).
    async fn wrote_notes(&self, user: UserId) -> BookingResult<bool>;
    /// Ends every sign-in of the person (their sessions are deleted).
    async fn end_sign_ins(&self, user: UserId) -> BookingResult<()>;
    /// Deletes the account and everything that names the person, with `audit`, in one
    /// transaction; `false` if the account was already gone. Refuses with `InvalidState` when,
    /// at `now`, the person holds a slot or has an upcoming appointment (something booked
    /// since they were given up: the caller gives them up and tries again), or wrote visit
    /// notes about others (a former doctor's notes stay with the clinic's records). On SQLite
    /// deleted content is overwritten and the write-ahead log emptied afterwards.
    async fn erase_account(
        &self,
        user: &User,
        now: Timestamp,
        audit: &[AuditEntry],
    ) -> BookingResult<bool>;
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

    /// Gives up what the person still has in the clinic's agenda through the services their
    /// own requests use (so freed slots are announced): waitlist entries, holds, upcoming
    /// appointments.
    async fn give_up(
        &self,
        actor: &Actor,
        user: &User,
        erasure: &mut Erasure,
    ) -> BookingResult<()> {
        let caller = user.id;
        for entry in self.waitlist.entries_of(caller).await? {
            self.waitlist.leave(caller, actor, entry.id).await?;
            erasure.left_waitlist += 1;
        }
        for hold in self.repository.active_holds(caller).await? {
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
        Ok(())
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
        if self.repository.wrote_notes(caller).await? {
            return Err(wrote_notes());
        }
        // Signed out everywhere first, so the person books nothing more meanwhile.
        self.repository.end_sign_ins(caller).await?;
        let mut erasure = Erasure::default();
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.give_up(actor, &user, &mut erasure).await?;
            let event =
                AuditEvent::new(AuditAction::AccountErase, "user", Some(caller.to_string()))
                    .with_patient(caller)
                    .with_detail(format!(
                        "{} cancelled, {} released, {} waitlist entries left",
                        erasure.cancelled, erasure.released, erasure.left_waitlist
                    ));
            let now = self.clock.now();
            let audit = [AuditEntry::stamped(actor, now, event)];
            match self.repository.erase_account(&user, now, &audit).await {
                // The desk booked for them in the meantime: give that up too.
                Err(BookingError::InvalidState(_)) if attempt < ERASE_ATTEMPTS => continue,
                other => {
                    other?;
                    break;
                }
            }
        }
        Ok(erasure)
    }
}

/// The refusal for an account that wrote visit notes about others.
pub fn wrote_notes() -> BookingError {
    BookingError::InvalidState(
        "this account wrote visit notes, which stay with the clinic's records: an admin closes it"
            .into(),
    )
}
