//! Doctors and administrators at work: a doctor keeps their weekly schedule and time off, reads
//! their agenda and records how visits went; an admin manages specialties, doctor profiles and
//! who holds which role.
//!
//! Every use case takes the acting [`StaffMember`] and decides what it may touch, so the rules
//! hold whatever the HTTP layer does: a doctor acts only on their own profile and appointments
//! (anything else is `NotFound`, so ids of other doctors' records leak nothing), an admin may
//! do everything a doctor may, for any doctor.

use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::Date;

use crate::booking::{Appointment, AppointmentStatus};
use crate::booking_service::MAX_LISTING_DAYS;
use crate::clinic::{Doctor, Fee, Specialty, Zone};
use crate::clock::Clock;
use crate::contact::text_field;
use crate::error::{BookingError, BookingResult};
use crate::events::{DomainEvent, EventBus, publish_recorded};
use crate::identity::{Email, Identifier, PhoneNumber, Role, User};
use crate::ids::{AppointmentId, DoctorId, SpecialtyId, TimeOffId, UserId};
use crate::ports::{BookingRepository, ClinicRepository, IdentityRepository, Recorded};
use crate::schedule::{TimeOff, WeeklySchedule};
use crate::slots::{day_bounds, last_date};

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

/// A signed-in doctor or admin, with their role as stored now (not as their token says).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaffMember {
    /// Who.
    pub user_id: UserId,
    /// `Doctor` or `Admin`.
    pub role: Role,
    /// Their own doctor profile, if linked.
    pub doctor_id: Option<DoctorId>,
}

impl StaffMember {
    /// The staff member a user is, or `None` for a patient.
    pub fn of(user: &User) -> Option<Self> {
        match user.role {
            Role::Patient => None,
            Role::Doctor | Role::Admin => Some(Self {
                user_id: user.id,
                role: user.role,
                doctor_id: user.doctor_id,
            }),
        }
    }

    /// Whether they may manage the clinic.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether they may act on `doctor_id`'s agenda: their own, or any for an admin.
    pub fn may_act_for(&self, doctor_id: DoctorId) -> bool {
        self.is_admin() || (self.role == Role::Doctor && self.doctor_id == Some(doctor_id))
    }
}

/// How a visit went, as the doctor records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The visit took place.
    Completed,
    /// The patient did not come.
    NoShow,
}

impl Outcome {
    /// The appointment status it leads to.
    pub fn status(self) -> AppointmentStatus {
        match self {
            Self::Completed => AppointmentStatus::Completed,
            Self::NoShow => AppointmentStatus::NoShow,
        }
    }
}

/// Checks that `outcome` may be recorded for `appointment` at `now`: only a scheduled visit
/// that has started. Recording the same outcome again changes nothing (`Ok(false)`).
pub fn check_outcome(
    appointment: &Appointment,
    outcome: Outcome,
    now: Timestamp,
) -> BookingResult<bool> {
    match appointment.status {
        status if status == outcome.status() => Ok(false),
        AppointmentStatus::Scheduled if appointment.start <= now => Ok(true),
        AppointmentStatus::Scheduled => Err(BookingError::InvalidState(format!(
            "a visit can be marked {} only once it has started",
            outcome.status().as_str()
        ))),
        other => Err(BookingError::InvalidState(format!(
            "a {} appointment cannot be marked {}",
            other.as_str(),
            outcome.status().as_str()
        ))),
    }
}

/// A patient's record with the clinic (all doctors), as the doctor sees it in the agenda.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PatientHistory {
    /// Visits that took place.
    pub completed: u32,
    /// Visits the patient did not come to.
    pub no_shows: u32,
    /// Appointments the patient cancelled inside the late-cancellation window.
    pub late_cancellations: u32,
}

impl PatientHistory {
    /// Whether the patient missed or cancelled late at least once.
    pub fn has_missed(&self) -> bool {
        self.no_shows > 0 || self.late_cancellations > 0
    }
}

/// One appointment of a doctor's agenda with the patient's name and contact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgendaEntry {
    /// The appointment.
    pub appointment: Appointment,
    /// The patient's display name, if given.
    pub patient_name: Option<String>,
    /// The patient's email, if known.
    pub patient_email: Option<Email>,
    /// The patient's phone, if known.
    pub patient_phone: Option<PhoneNumber>,
    /// The patient's completed visits, no-shows and late cancellations with the clinic.
    pub patient_history: PatientHistory,
}

/// A doctor's agenda over some days.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agenda {
    /// Whose agenda.
    pub doctor: Doctor,
    /// First instant covered.
    pub from: Timestamp,
    /// First instant after the covered days.
    pub to: Timestamp,
    /// The appointments starting in `[from, to)`, every status, by start.
    pub entries: Vec<AgendaEntry>,
}

/// A doctor profile as an admin submits it, before checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DoctorProfile {
    /// Full display name.
    pub name: String,
    /// Main specialty.
    pub specialty_id: SpecialtyId,
    /// Degrees and titles.
    pub qualification: String,
    /// Years in practice.
    pub years_experience: u16,
    /// A few sentences for patients.
    pub bio: String,
    /// Fee in minor units.
    pub fee_minor: i64,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Picture URL.
    pub photo_url: Option<String>,
    /// IANA zone of the weekly hours.
    pub time_zone: String,
    /// Hours, breaks and booking rules.
    pub schedule: WeeklySchedule,
}

/// Changes to a doctor profile; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DoctorChanges {
    /// New display name.
    pub name: Option<String>,
    /// New specialty.
    pub specialty_id: Option<SpecialtyId>,
    /// New qualification line.
    pub qualification: Option<String>,
    /// New years in practice.
    pub years_experience: Option<u16>,
    /// New biography.
    pub bio: Option<String>,
    /// New fee amount.
    pub fee_minor: Option<i64>,
    /// New fee currency.
    pub currency: Option<String>,
    /// New picture URL (`Some(None)` removes it).
    pub photo_url: Option<Option<String>>,
    /// New zone.
    pub time_zone: Option<String>,
    /// New schedule.
    pub schedule: Option<WeeklySchedule>,
}

/// A role change: the account before and after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleChange {
    /// As it was.
    pub before: User,
    /// As it is now.
    pub after: User,
}

impl RoleChange {
    /// `patient -> doctor (doctor profile …)`: roles and profile ids only, never contact data,
    /// for the audit trail.
    pub fn describe(&self) -> String {
        let side = |user: &User| match user.doctor_id {
            Some(doctor) => format!("{} (doctor profile {doctor})", user.role.as_str()),
            None => user.role.as_str().to_owned(),
        };
        format!("{} -> {}", side(&self.before), side(&self.after))
    }
}

/// What the staff use cases need from storage beyond the catalogue and booking ports.
#[async_trait]
pub trait StaffRepository: Send + Sync + 'static {
    /// Replaces a doctor's weekly schedule; `None` if there is no such doctor, else the slots
    /// it opened and closed (and the waitlist offers of opened ones).
    async fn set_schedule(
        &self,
        doctor_id: DoctorId,
        schedule: &WeeklySchedule,
        now: Timestamp,
    ) -> BookingResult<Option<Recorded>>;
    /// Rewrites a doctor's profile; `None` if there is no such doctor, else the slots a changed
    /// schedule or time zone opened and closed.
    async fn update_doctor(
        &self,
        doctor: &Doctor,
        now: Timestamp,
    ) -> BookingResult<Option<Recorded>>;
    /// Adds time off; returns the free slots it closed.
    async fn insert_time_off(&self, time_off: &TimeOff, now: Timestamp) -> BookingResult<Recorded>;
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
    ) -> BookingResult<bool>;
    /// Adds a specialty; a taken name is a `Validation` error.
    async fn create_specialty(&self, specialty: &Specialty, now: Timestamp) -> BookingResult<()>;
    /// Renames a specialty; `false` if there is none; a taken name is a `Validation` error.
    async fn rename_specialty(&self, specialty: &Specialty) -> BookingResult<bool>;
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
            Role::Patient => return Err(BookingError::Forbidden),
        };
        self.clinic
            .doctor(id)
            .await?
            .ok_or(BookingError::NotFound("doctor"))
    }

    /// The weekly schedule of the doctor in scope.
    pub async fn schedule(
        &self,
        member: &StaffMember,
        requested: Option<DoctorId>,
    ) -> BookingResult<Doctor> {
        self.doctor_in_scope(member, requested).await
    }

    /// Replaces the weekly schedule of the doctor in scope; slots follow at once. Booked
    /// appointments keep their time.
    pub async fn set_schedule(
        &self,
        member: &StaffMember,
        requested: Option<DoctorId>,
        schedule: WeeklySchedule,
    ) -> BookingResult<Doctor> {
        let doctor = self.doctor_in_scope(member, requested).await?;
        let schedule = schedule.validate()?;
        let recorded = self
            .staff
            .set_schedule(doctor.id, &schedule, self.clock.now())
            .await?
            .ok_or(BookingError::NotFound("doctor"))?;
        publish_recorded(self.events.as_ref(), &recorded);
        Ok(Doctor { schedule, ..doctor })
    }

    /// The current and future time off of the doctor in scope.
    pub async fn time_off(
        &self,
        member: &StaffMember,
        requested: Option<DoctorId>,
    ) -> BookingResult<(DoctorId, Vec<TimeOff>)> {
        let doctor = self.doctor_in_scope(member, requested).await?;
        let list = self.staff.time_off_of(doctor.id, self.clock.now()).await?;
        Ok((doctor.id, list))
    }

    /// Adds time off `[start, end)` for the doctor in scope. Appointments already booked in it
    /// stay; no new slots are offered in it.
    pub async fn add_time_off(
        &self,
        member: &StaffMember,
        requested: Option<DoctorId>,
        start: Timestamp,
        end: Timestamp,
        reason: Option<&str>,
    ) -> BookingResult<TimeOff> {
        let doctor = self.doctor_in_scope(member, requested).await?;
        if end <= start {
            return Err(BookingError::validation("end must be later than start"));
        }
        if end.duration_since(start).as_hours() > 24 * MAX_TIME_OFF_DAYS {
            return Err(BookingError::validation(format!(
                "one period of time off may last at most {MAX_TIME_OFF_DAYS} days"
            )));
        }
        let reason = match reason.map(str::trim).filter(|r| !r.is_empty()) {
            Some(reason) => text_field("reason", reason, MAX_TIME_OFF_REASON_CHARS, false)?,
            None => String::new(),
        };
        let time_off = TimeOff {
            id: TimeOffId::generate(),
            doctor_id: doctor.id,
            start,
            end,
            reason,
        };
        let recorded = self
            .staff
            .insert_time_off(&time_off, self.clock.now())
            .await?;
        publish_recorded(self.events.as_ref(), &recorded);
        Ok(time_off)
    }

    /// Removes a period of time off of a doctor `member` may act for.
    pub async fn remove_time_off(
        &self,
        member: &StaffMember,
        id: TimeOffId,
    ) -> BookingResult<TimeOff> {
        let time_off = self
            .staff
            .time_off_by_id(id)
            .await?
            .filter(|t| member.may_act_for(t.doctor_id))
            .ok_or(BookingError::NotFound("time off"))?;
        let recorded = self
            .staff
            .delete_time_off(id, self.clock.now())
            .await?
            .ok_or(BookingError::NotFound("time off"))?;
        publish_recorded(self.events.as_ref(), &recorded);
        Ok(time_off)
    }

    /// The appointments of the doctor in scope on `days` dates from `first` (in the doctor's
    /// zone), with the patients' names and contacts.
    pub async fn agenda(
        &self,
        member: &StaffMember,
        requested: Option<DoctorId>,
        first: Date,
        days: u16,
    ) -> BookingResult<Agenda> {
        if !(1..=MAX_LISTING_DAYS).contains(&days) {
            return Err(BookingError::validation(format!(
                "days must be between 1 and {MAX_LISTING_DAYS}"
            )));
        }
        let doctor = self.doctor_in_scope(member, requested).await?;
        let tz = doctor.time_zone.tz();
        let out_of_range = || BookingError::validation("from is out of range");
        let (from, _) = day_bounds(tz, first).ok_or_else(out_of_range)?;
        let after = last_date(first, days).ok_or_else(out_of_range)?;
        let (to, _) = day_bounds(tz, after).ok_or_else(out_of_range)?;
        let entries = self.staff.agenda(doctor.id, from, to).await?;
        Ok(Agenda {
            doctor,
            from,
            to,
            entries,
        })
    }

    /// Records how a visit went. Only the appointment's own doctor (or an admin) may, and only
    /// once it has started; recording the same outcome twice changes nothing.
    pub async fn record_outcome(
        &self,
        member: &StaffMember,
        appointment_id: AppointmentId,
        outcome: Outcome,
    ) -> BookingResult<Appointment> {
        let appointment = self
            .bookings
            .appointment(appointment_id)
            .await?
            .filter(|a| member.may_act_for(a.doctor_id))
            .ok_or(BookingError::NotFound("appointment"))?;
        let now = self.clock.now();
        if !check_outcome(&appointment, outcome, now)? {
            return Ok(appointment);
        }
        if !self
            .staff
            .record_outcome(appointment_id, outcome.status(), now)
            .await?
        {
            // Someone changed it meanwhile: judge again against what is stored now.
            let current = self
                .bookings
                .appointment(appointment_id)
                .await?
                .ok_or(BookingError::NotFound("appointment"))?;
            check_outcome(&current, outcome, now)?;
            return Ok(current);
        }
        let updated = Appointment {
            status: outcome.status(),
            updated_at: now,
            ..appointment
        };
        self.events.publish(DomainEvent::Appointment {
            appointment_id: updated.id,
            doctor_id: updated.doctor_id,
            patient_id: updated.patient_id,
            status: updated.status,
        });
        Ok(updated)
    }

    /// Adds a specialty (admins only); names are unique regardless of case.
    pub async fn add_specialty(
        &self,
        member: &StaffMember,
        name: &str,
    ) -> BookingResult<Specialty> {
        require_admin(member)?;
        let specialty = Specialty {
            id: SpecialtyId::generate(),
            name: self.free_specialty_name(name, None).await?,
        };
        self.staff
            .create_specialty(&specialty, self.clock.now())
            .await?;
        Ok(specialty)
    }

    /// Renames a specialty (admins only).
    pub async fn rename_specialty(
        &self,
        member: &StaffMember,
        id: SpecialtyId,
        name: &str,
    ) -> BookingResult<Specialty> {
        require_admin(member)?;
        self.clinic
            .specialty(id)
            .await?
            .ok_or(BookingError::NotFound("specialty"))?;
        let specialty = Specialty {
            id,
            name: self.free_specialty_name(name, Some(id)).await?,
        };
        if !self.staff.rename_specialty(&specialty).await? {
            return Err(BookingError::NotFound("specialty"));
        }
        Ok(specialty)
    }

    /// `raw` trimmed and checked, if no other specialty has that name in any case.
    async fn free_specialty_name(
        &self,
        raw: &str,
        except: Option<SpecialtyId>,
    ) -> BookingResult<String> {
        let name = text_field("name", raw, MAX_NAME_CHARS, false)?;
        let lower = name.to_lowercase();
        let taken =
            self.clinic.specialties().await?.into_iter().any(|s| {
                Some(s.specialty.id) != except && s.specialty.name.to_lowercase() == lower
            });
        if taken {
            return Err(BookingError::validation(format!(
                "a specialty named {name:?} already exists"
            )));
        }
        Ok(name)
    }

    /// Creates a doctor profile with its schedule (admins only).
    pub async fn add_doctor(
        &self,
        member: &StaffMember,
        profile: DoctorProfile,
    ) -> BookingResult<Doctor> {
        require_admin(member)?;
        let doctor = self.checked_doctor(DoctorId::generate(), profile).await?;
        self.clinic.add_doctor(&doctor).await?;
        self.events.publish(DomainEvent::Doctor {
            doctor_id: doctor.id,
        });
        Ok(doctor)
    }

    /// Changes a doctor profile (admins only).
    pub async fn update_doctor(
        &self,
        member: &StaffMember,
        id: DoctorId,
        changes: DoctorChanges,
    ) -> BookingResult<Doctor> {
        require_admin(member)?;
        let current = self
            .clinic
            .doctor(id)
            .await?
            .ok_or(BookingError::NotFound("doctor"))?;
        let profile = DoctorProfile {
            name: changes.name.unwrap_or(current.name),
            specialty_id: changes.specialty_id.unwrap_or(current.specialty_id),
            qualification: changes.qualification.unwrap_or(current.qualification),
            years_experience: changes.years_experience.unwrap_or(current.years_experience),
            bio: changes.bio.unwrap_or(current.bio),
            fee_minor: changes.fee_minor.unwrap_or(current.fee.amount_minor),
            currency: changes.currency.unwrap_or(current.fee.currency),
            photo_url: changes.photo_url.unwrap_or(current.photo_url),
            time_zone: changes
                .time_zone
                .unwrap_or_else(|| current.time_zone.name().to_owned()),
            schedule: changes.schedule.unwrap_or(current.schedule),
        };
        let doctor = self.checked_doctor(id, profile).await?;
        let Some(recorded) = self.staff.update_doctor(&doctor, self.clock.now()).await? else {
            return Err(BookingError::NotFound("doctor"));
        };
        publish_recorded(self.events.as_ref(), &recorded);
        Ok(doctor)
    }

    async fn checked_doctor(&self, id: DoctorId, profile: DoctorProfile) -> BookingResult<Doctor> {
        if self.clinic.specialty(profile.specialty_id).await?.is_none() {
            return Err(BookingError::validation(
                "specialty_id does not name a specialty",
            ));
        }
        let qualification = profile.qualification.trim();
        let bio = profile.bio.trim();
        if qualification.chars().count() > MAX_QUALIFICATION_CHARS {
            return Err(BookingError::validation(format!(
                "qualification must be at most {MAX_QUALIFICATION_CHARS} characters"
            )));
        }
        if bio.chars().count() > MAX_BIO_CHARS {
            return Err(BookingError::validation(format!(
                "bio must be at most {MAX_BIO_CHARS} characters"
            )));
        }
        // Control characters have no place in a profile, and PostgreSQL cannot store NUL in text.
        if qualification.chars().any(char::is_control) {
            return Err(BookingError::validation(
                "qualification must not contain control characters",
            ));
        }
        let multiline = |c: char| matches!(c, '\n' | '\t' | '\r');
        if bio.chars().any(|c| c.is_control() && !multiline(c)) {
            return Err(BookingError::validation(
                "bio must not contain control characters",
            ));
        }
        if profile.years_experience > 80 {
            return Err(BookingError::validation(
                "years_experience must be at most 80",
            ));
        }
        let photo_url = match profile.photo_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(url) => {
                let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
                if !scheme_ok
                    || url.chars().count() > MAX_PHOTO_URL_CHARS
                    || url.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    return Err(BookingError::validation(format!(
                        "photo_url must be an http(s) URL of at most {MAX_PHOTO_URL_CHARS} characters"
                    )));
                }
                Some(url.to_owned())
            }
        };
        Ok(Doctor {
            id,
            name: text_field("name", &profile.name, MAX_NAME_CHARS, false)?,
            specialty_id: profile.specialty_id,
            qualification: qualification.to_owned(),
            years_experience: profile.years_experience,
            bio: bio.to_owned(),
            fee: Fee::new(profile.fee_minor, &profile.currency)?,
            photo_url,
            time_zone: Zone::parse(&profile.time_zone)?,
            schedule: profile.schedule.validate()?,
        })
    }

    /// Users whose email, phone or name contains `query` (admins only), newest first.
    pub async fn users(
        &self,
        member: &StaffMember,
        query: Option<&str>,
    ) -> BookingResult<Vec<User>> {
        require_admin(member)?;
        let query = query.map(str::trim).filter(|q| !q.is_empty());
        if query.is_some_and(|q| q.chars().count() > MAX_USER_QUERY_CHARS) {
            return Err(BookingError::validation(format!(
                "q must be at most {MAX_USER_QUERY_CHARS} characters"
            )));
        }
        self.staff.find_users(query, USER_SEARCH_LIMIT).await
    }

    /// Gives a user a role (admins only). The doctor role needs an existing doctor profile,
    /// linked to no other user; the patient role clears the link; admins may keep one. Admins
    /// cannot change their own role, so the clinic never loses its last admin by accident.
    pub async fn set_role(
        &self,
        member: &StaffMember,
        user_id: UserId,
        role: Role,
        doctor_id: Option<DoctorId>,
    ) -> BookingResult<RoleChange> {
        require_admin(member)?;
        if user_id == member.user_id {
            return Err(BookingError::InvalidState(
                "you cannot change your own role; ask another admin".into(),
            ));
        }
        self.change_role(user_id, role, doctor_id).await
    }

    /// Makes the user with `identifier` an admin, creating the account if needed. For the
    /// operator at the command line, who acts with the authority of the installation.
    pub async fn promote_to_admin(&self, identifier: &Identifier) -> BookingResult<RoleChange> {
        let user = self
            .identities
            .user_for(identifier, self.clock.now())
            .await?;
        self.change_role(user.id, Role::Admin, user.doctor_id).await
    }

    /// Gives the user with `identifier` a role (and doctor profile), creating the account if
    /// needed, with the same rules as [`Staff::set_role`]. For the installation itself (the
    /// demo clinic's staff accounts), never for a request.
    pub async fn grant(
        &self,
        identifier: &Identifier,
        role: Role,
        doctor_id: Option<DoctorId>,
    ) -> BookingResult<RoleChange> {
        let user = self
            .identities
            .user_for(identifier, self.clock.now())
            .await?;
        self.change_role(user.id, role, doctor_id).await
    }

    async fn change_role(
        &self,
        user_id: UserId,
        role: Role,
        doctor_id: Option<DoctorId>,
    ) -> BookingResult<RoleChange> {
        let before = self
            .identities
            .user(user_id)
            .await?
            .ok_or(BookingError::NotFound("user"))?;
        let doctor_id = match (role, doctor_id) {
            (Role::Patient, Some(_)) => {
                return Err(BookingError::validation(
                    "a patient has no doctor profile; leave doctor_id out",
                ));
            }
            (Role::Patient, None) => None,
            (Role::Doctor, None) => {
                return Err(BookingError::validation(
                    "the doctor role needs the doctor_id of a doctor profile",
                ));
            }
            (Role::Doctor | Role::Admin, Some(id)) => {
                if self.clinic.doctor(id).await?.is_none() {
                    return Err(BookingError::validation(
                        "doctor_id does not name a doctor profile",
                    ));
                }
                Some(id)
            }
            (Role::Admin, None) => None,
        };
        let after = self
            .staff
            .set_role(user_id, role, doctor_id)
            .await?
            .ok_or(BookingError::NotFound("user"))?;
        Ok(RoleChange { before, after })
    }
}

fn require_admin(member: &StaffMember) -> BookingResult<()> {
    if member.is_admin() {
        Ok(())
    } else {
        Err(BookingError::Forbidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::Reason;

    fn appointment(status: AppointmentStatus, start: Timestamp) -> Appointment {
        Appointment {
            id: AppointmentId::generate(),
            doctor_id: DoctorId::generate(),
            patient_id: UserId::generate(),
            start,
            end: start,
            status,
            reason: Reason::parse("check-up").unwrap(),
            notes: None,
            created_at: start,
            updated_at: start,
            sequence: 0,
            late_cancellation: false,
        }
    }

    #[test]
    fn outcomes_need_a_started_scheduled_visit() {
        let now: Timestamp = "2027-03-01T10:00:00Z".parse().unwrap();
        let earlier: Timestamp = "2027-03-01T09:30:00Z".parse().unwrap();
        let later: Timestamp = "2027-03-01T10:30:00Z".parse().unwrap();
        let started = appointment(AppointmentStatus::Scheduled, earlier);
        assert_eq!(check_outcome(&started, Outcome::Completed, now), Ok(true));
        assert_eq!(check_outcome(&started, Outcome::NoShow, now), Ok(true));
        let upcoming = appointment(AppointmentStatus::Scheduled, later);
        assert!(check_outcome(&upcoming, Outcome::NoShow, now).is_err());
        let done = appointment(AppointmentStatus::Completed, earlier);
        assert_eq!(check_outcome(&done, Outcome::Completed, now), Ok(false));
        assert!(check_outcome(&done, Outcome::NoShow, now).is_err());
        let cancelled = appointment(AppointmentStatus::Cancelled, earlier);
        assert!(check_outcome(&cancelled, Outcome::Completed, now).is_err());
    }

    #[test]
    fn doctors_act_only_for_themselves_and_admins_for_everyone() {
        let own = DoctorId::generate();
        let other = DoctorId::generate();
        let doctor = StaffMember {
            user_id: UserId::generate(),
            role: Role::Doctor,
            doctor_id: Some(own),
        };
        let admin = StaffMember {
            user_id: UserId::generate(),
            role: Role::Admin,
            doctor_id: None,
        };
        assert!(doctor.may_act_for(own));
        assert!(!doctor.may_act_for(other));
        assert!(admin.may_act_for(other));
    }
}
