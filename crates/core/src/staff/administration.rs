//! What only an admin does: keep the specialties, add and edit doctor profiles, find users and
//! give them roles.

use super::trail;
use super::{
    MAX_BIO_CHARS, MAX_NAME_CHARS, MAX_PHOTO_URL_CHARS, MAX_QUALIFICATION_CHARS,
    MAX_USER_QUERY_CHARS, Staff, StaffMember, USER_SEARCH_LIMIT, require_admin,
};
use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::clinic::{Doctor, Fee, Specialty, Zone};
use crate::contact::text_field;
use crate::error::{BookingError, BookingResult};
use crate::events::DomainEvent;
use crate::identity::{Identifier, Role, User};
use crate::ids::{DoctorId, SpecialtyId, UserId};
use crate::ports::publish_recorded;
use crate::schedule::WeeklySchedule;

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

impl Staff {
    /// Adds a specialty (admins only); names are unique regardless of case.
    pub async fn add_specialty(
        &self,
        member: &StaffMember,
        actor: &Actor,
        name: &str,
        keywords: Option<&str>,
    ) -> BookingResult<Specialty> {
        require_admin(member)?;
        let specialty = Specialty {
            id: SpecialtyId::generate(),
            name: self.free_specialty_name(name, None).await?,
            keywords: Specialty::parse_keywords(keywords.unwrap_or_default())?,
        };
        let now = self.clock.now();
        let audit = trail::stamped(
            actor,
            now,
            vec![trail::specialty(AuditAction::SpecialtyCreate, &specialty)],
        );
        self.staff.create_specialty(&specialty, now, &audit).await?;
        Ok(specialty)
    }

    /// Renames a specialty and, when given, replaces its search keywords (comma-separated)
    /// (admins only). `name` `None` keeps the name.
    pub async fn rename_specialty(
        &self,
        member: &StaffMember,
        actor: &Actor,
        id: SpecialtyId,
        name: Option<&str>,
        keywords: Option<&str>,
    ) -> BookingResult<Specialty> {
        require_admin(member)?;
        let stored = self
            .clinic
            .specialty(id)
            .await?
            .ok_or(BookingError::NotFound("specialty"))?;
        let specialty = Specialty {
            id,
            name: match name {
                Some(name) => self.free_specialty_name(name, Some(id)).await?,
                None => stored.name,
            },
            keywords: match keywords {
                Some(raw) => Specialty::parse_keywords(raw)?,
                None => stored.keywords,
            },
        };
        let audit = trail::stamped(
            actor,
            self.clock.now(),
            vec![trail::specialty(AuditAction::SpecialtyUpdate, &specialty)],
        );
        if !self.staff.rename_specialty(&specialty, &audit).await? {
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
        actor: &Actor,
        profile: DoctorProfile,
    ) -> BookingResult<Doctor> {
        require_admin(member)?;
        let doctor = self.checked_doctor(DoctorId::generate(), profile).await?;
        let audit = trail::stamped(
            actor,
            self.clock.now(),
            vec![AuditEvent::doctor(AuditAction::DoctorCreate, doctor.id)],
        );
        self.staff.create_doctor(&doctor, &audit).await?;
        self.events.publish(DomainEvent::Doctor {
            doctor_id: doctor.id,
        });
        Ok(doctor)
    }

    /// Changes a doctor profile (admins only).
    pub async fn update_doctor(
        &self,
        member: &StaffMember,
        actor: &Actor,
        id: DoctorId,
        changes: DoctorChanges,
    ) -> BookingResult<Doctor> {
        require_admin(member)?;
        let schedule_changed = changes.schedule.is_some();
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
        let now = self.clock.now();
        let audit = trail::stamped(
            actor,
            now,
            trail::doctor_updated(doctor.id, schedule_changed),
        );
        let Some(recorded) = self.staff.update_doctor(&doctor, now, &audit).await? else {
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
        actor: &Actor,
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
        self.change_role(user_id, role, doctor_id, Some((actor, "")))
            .await
    }

    /// Makes the user with `identifier` an admin, creating the account if needed. For the
    /// operator at the command line, who acts with the authority of the installation.
    pub async fn promote_to_admin(&self, identifier: &Identifier) -> BookingResult<RoleChange> {
        let user = self
            .identities
            .user_for(identifier, self.clock.now())
            .await?;
        self.change_role(
            user.id,
            Role::Admin,
            user.doctor_id,
            Some((&Actor::operator(), " (command line)")),
        )
        .await
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
        self.change_role(user.id, role, doctor_id, None).await
    }

    /// Changes a role; `audited` is who did it and a note for the description, for an entry
    /// written with the change (the installation's own grants are not audited).
    async fn change_role(
        &self,
        user_id: UserId,
        role: Role,
        doctor_id: Option<DoctorId>,
        audited: Option<(&Actor, &str)>,
    ) -> BookingResult<RoleChange> {
        let before = self
            .identities
            .user(user_id)
            .await?
            .ok_or(BookingError::NotFound("user"))?;
        let doctor_id = match (role, doctor_id) {
            (Role::Patient | Role::Receptionist, Some(_)) => {
                return Err(BookingError::validation(format!(
                    "a {} has no doctor profile; leave doctor_id out",
                    role.as_str()
                )));
            }
            (Role::Patient | Role::Receptionist, None) => None,
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
        let expected = RoleChange {
            after: User {
                role,
                doctor_id,
                ..before.clone()
            },
            before,
        };
        let audit = match audited {
            Some((actor, via)) => trail::stamped(
                actor,
                self.clock.now(),
                vec![trail::role_changed(&expected, via)],
            ),
            None => Vec::new(),
        };
        let after = self
            .staff
            .set_role(user_id, role, doctor_id, &audit)
            .await?
            .ok_or(BookingError::NotFound("user"))?;
        Ok(RoleChange {
            before: expected.before,
            after,
        })
    }
}
