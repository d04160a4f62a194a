//! Doctors and administrators at work: a doctor keeps their weekly schedule and time off, reads
//! their agenda and records how visits went; an admin manages specialties, doctor profiles and
//! who holds which role.
//!
//! Every use case takes the acting [`StaffMember`] and decides what it may touch, so the rules
//! hold whatever the HTTP layer does: a doctor acts only on their own profile and appointments
//! (anything else is `NotFound`, so ids of other doctors' records leak nothing), an admin may
//! do everything a doctor may, for any doctor.

mod administration;
mod agenda;
mod member;
mod trail;

use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;

use crate::audit::AuditEntry;
use crate::booking::AppointmentStatus;
use crate::clinic::{Doctor, Specialty};
use crate::clock::Clock;
use crate::error::{BookingError, BookingResult};
use crate::events::EventBus;
use crate::identity::{Role, User};
use crate::ids::{AppointmentId, DoctorId, TimeOffId, UserId};
use crate::ports::{BookingRepository, ClinicRepository, IdentityRepository, Recorded};
use crate::schedule::{TimeOff, WeeklySchedule};

pub use administration::{DoctorChanges, DoctorProfile, RoleChange};
pub use agenda::{Agenda, AgendaEntry, Outcome, PatientHistory, check_outcome};
pub use member::StaffMember;

/// Longest doctor or specialty name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest qualification line, in characters.
pub const MAX_QUALIFICATION_CHARS: usize = 200;
/// Longest doctor biography, in characters.
pub const MAX_BIO_CHARS: usize = 2000;
/// Longest photo URL, in characters.
pub const MAX_PHOTO_URL_CHARS: usize = 500;
/// Longest time-off reason, in characters.
pub const MAX_TIME_OFF_REASON_CHARS: usize = 200;
/// Longest single period of time off, in days.
pub const MAX_TIME_OFF_DAYS: i64 = 366;
/// Most users one search returns.
pub const USER_SEARCH_LIMIT: u32 = 100;
/// Longest user search query, in characters.
pub const MAX_USER_QUERY_CHARS: usize = 100;

/// What the staff use cases need from storage beyond the catalogue and booking ports.
///
/// Every command takes the `audit` entries that describe it and writes them in its own
/// transaction when (and only when) the change is made.
#[async_trait]
pub trait StaffRepository: Send + Sync + 'static {
    /// Replaces a doctor's weekly schedule; `None` if there is no such doctor, else the slots
    /// it opened and closed (and the waitlist offers of opened ones).
    async fn set_schedule(
        &self,
        doctor_id: DoctorId,
        schedule: &WeeklySchedule,
        now: Timestamp,
        audit: &[AuditEntry],
    ) -> BookingResult<Option<Recorded>>;
    /// Rewrites a doctor's profile; `None` if there is no such doctor, else the slots a changed
    /// schedule or time zone opened and closed.
    async fn update_doctor(
        &self,
        doctor: &Doctor,
        now: Timestamp,
        audit: &[AuditEntry],
    ) -> BookingResult<Option<Recorded>>;
    /// Adds a doctor profile.
    async fn create_doctor(&self, doctor: &Doctor, audit: &[AuditEntry]) -> BookingResult<()>;
    /// Adds time off; returns the free slots it closed.
    async fn insert_time_off(
        &self,
        time_off: &TimeOff,
        now: Timestamp,
        audit: &[AuditEntry],
    ) -> BookingResult<Recorded>;
    /// A doctor's time off that ends after `ending_after`, by start.
    async fn time_off_of(
        &self,
        doctor_id: DoctorId,
        ending_after: Timestamp,
    ) -> BookingResult<Vec<TimeOff>>;
    /// One period of time off.
    async fn time_off_by_id(&self, id: TimeOffId) -> BookingResult<Option<TimeOff>>;
    /// Removes a period of time off; `None` if it was already gone, else the slots it opened
    /// (and the waitlist offers of them).
    async fn delete_time_off(
        &self,
        id: TimeOffId,
        now: Timestamp,
        audit: &[AuditEntry],
    ) -> BookingResult<Option<Recorded>>;
    /// A doctor's appointments starting in `[from, to)` with their patients' contacts and
    /// histories with the clinic (read for all patients at once), by start.
    async fn agenda(
        &self,
        doctor_id: DoctorId,
        from: Timestamp,
        to: Timestamp,
    ) -> BookingResult<Vec<AgendaEntry>>;
    /// Sets a scheduled appointment that started by `now` to `status`; `false` if it was no
    /// longer scheduled (someone else changed it first).
    async fn record_outcome(
        &self,
        appointment_id: AppointmentId,
        status: AppointmentStatus,
        now: Timestamp,
        audit: &[AuditEntry],
    ) -> BookingResult<bool>;
    /// Adds a specialty; a taken name is a `Validation` error.
    async fn create_specialty(
        &self,
        specialty: &Specialty,
        now: Timestamp,
        audit: &[AuditEntry],
    ) -> BookingResult<()>;
    /// Renames a specialty; `false` if there is none; a taken name is a `Validation` error.
    async fn rename_specialty(
        &self,
        specialty: &Specialty,
        audit: &[AuditEntry],
    ) -> BookingResult<bool>;
    /// Users whose email, phone or name contains `query` (all users without one), newest
    /// first, at most `limit`.
    async fn find_users(&self, query: Option<&str>, limit: u32) -> BookingResult<Vec<User>>;
    /// Sets a user's role and doctor profile link; `None` if there is no such user. A doctor
    /// profile already linked to another user is a `Validation` error.
    async fn set_role(
        &self,
        user_id: UserId,
        role: Role,
        doctor_id: Option<DoctorId>,
        audit: &[AuditEntry],
    ) -> BookingResult<Option<User>>;
}

/// The doctor and admin use cases.
#[derive(Clone)]
pub struct Staff {
    clinic: Arc<dyn ClinicRepository>,
    staff: Arc<dyn StaffRepository>,
    bookings: Arc<dyn BookingRepository>,
    identities: Arc<dyn IdentityRepository>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventBus>,
}

impl Staff {
    /// A service over the given ports.
    pub fn new(
        clinic: Arc<dyn ClinicRepository>,
        staff: Arc<dyn StaffRepository>,
        bookings: Arc<dyn BookingRepository>,
        identities: Arc<dyn IdentityRepository>,
        clock: Arc<dyn Clock>,
        events: Arc<dyn EventBus>,
    ) -> Self {
        Self {
            clinic,
            staff,
            bookings,
            identities,
            clock,
            events,
        }
    }

    /// The staff member `user_id` is now, from storage: `Unauthorized` for an unknown user,
    /// `Forbidden` for a patient.
    pub async fn member(&self, user_id: UserId) -> BookingResult<StaffMember> {
        let user = self
            .identities
            .user(user_id)
            .await?
            .ok_or(BookingError::Unauthorized)?;
        StaffMember::of(&user).ok_or(BookingError::Forbidden)
    }

    /// The doctor whose agenda `member` acts on: `requested` (admins: any; doctors: only their
    /// own, another is `NotFound`), or else their own profile.
    pub async fn doctor_in_scope(
        &self,
        member: &StaffMember,
        requested: Option<DoctorId>,
    ) -> BookingResult<Doctor> {
        let id = match member.role {
            Role::Admin => requested.or(member.doctor_id).ok_or_else(|| {
                BookingError::validation("give doctor_id: your account has no doctor profile")
            })?,
            Role::Doctor => {
                let own = member.doctor_id.ok_or(BookingError::Forbidden)?;
                if requested.is_some_and(|r| r != own) {
                    return Err(BookingError::NotFound("doctor"));
                }
                own
            }
            Role::Patient | Role::Receptionist => return Err(BookingError::Forbidden),
        };
        self.clinic
            .doctor(id)
            .await?
            .ok_or(BookingError::NotFound("doctor"))
    }
}

fn require_admin(member: &StaffMember) -> BookingResult<()> {
    if member.is_admin() {
        Ok(())
    } else {
        Err(BookingError::Forbidden)
    }
}
