//! Clinic management for admins: specialties, doctor profiles, user roles, the contact-form
//! inbox and the audit trail.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use jiff::civil::Date;
use medibook_core::BookingError;
use medibook_core::audit::{Actor, AuditAction, AuditEntry, AuditEvent, AuditQuery};
use medibook_core::clinic::{Doctor, Specialty};
use medibook_core::contact::ContactMessage;
use medibook_core::identity::{Role, User};
use medibook_core::ids::{DoctorId, SpecialtyId, UserId};
use medibook_core::schedule::WeeklySchedule;
use medibook_core::staff::{DoctorChanges, DoctorProfile};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::access::AdminCaller;
use crate::api::catalogue::FeeResponse;
use crate::api::doctor::WeeklyScheduleDoc;
use crate::client::ClientIp;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};

pub(crate) fn actor(caller: &AdminCaller, client: &ClientIp) -> Actor {
    Actor::user(caller.0.auth.id, caller.0.member.role, client.key())
}

/// A specialty's name.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SpecialtyRequest {
    /// 1 to 100 characters, unique regardless of case.
    #[schema(example = "Neurology")]
    pub name: String,
}

/// A specialty.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpecialtyView {
    /// Identity.
    pub id: Uuid,
    /// Name.
    pub name: String,
}

impl From<Specialty> for SpecialtyView {
    fn from(specialty: Specialty) -> Self {
        Self {
            id: specialty.id.as_uuid(),
            name: specialty.name,
        }
    }
}

/// A consultation fee.
#[derive(Debug, Deserialize, ToSchema)]
pub struct FeeRequest {
    /// Amount in minor units (cents), not negative.
    pub amount_minor: i64,
    /// ISO 4217 code, e.g. `EUR`.
    pub currency: String,
}

/// A new doctor profile with its weekly schedule.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DoctorRequest {
    /// Full display name, 1 to 100 characters.
    #[schema(example = "Dr. Lena Vogel")]
    pub name: String,
    /// Main specialty.
    pub specialty_id: Uuid,
    /// Degrees and titles (at most 200 characters).
    #[serde(default)]
    pub qualification: String,
    /// Years in practice (0 to 80).
    #[serde(default)]
    pub years_experience: u16,
    /// A few sentences for patients (at most 2,000 characters).
    #[serde(default)]
    pub bio: String,
    /// Price of a consultation.
    pub fee: FeeRequest,
    /// Picture URL (http or https).
    pub photo_url: Option<String>,
    /// IANA zone of the weekly hours.
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
    /// Working hours, breaks and booking rules.
    #[schema(value_type = WeeklyScheduleDoc)]
    pub schedule: WeeklySchedule,
}

/// Changes to a doctor profile; fields left out stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DoctorPatch {
    /// Full display name.
    pub name: Option<String>,
    /// Main specialty.
    pub specialty_id: Option<Uuid>,
    /// Degrees and titles.
    pub qualification: Option<String>,
    /// Years in practice.
    pub years_experience: Option<u16>,
    /// About the doctor.
    pub bio: Option<String>,
    /// Price of a consultation.
    pub fee: Option<FeeRequest>,
    /// Picture URL; an empty string removes the picture.
    pub photo_url: Option<String>,
    /// IANA zone of the weekly hours.
    pub time_zone: Option<String>,
    /// Working hours, breaks and booking rules.
    #[schema(value_type = Option<WeeklyScheduleDoc>)]
    pub schedule: Option<WeeklySchedule>,
}

/// A doctor profile as admins see it, with the full schedule.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminDoctorResponse {
    /// Identity.
    pub id: Uuid,
    /// Full name.
    pub name: String,
    /// Specialty id.
    pub specialty_id: Uuid,
    /// Degrees and titles.
    pub qualification: String,
    /// Years in practice.
    pub years_experience: u16,
    /// About the doctor.
    pub bio: String,
    /// Price of a consultation.
    pub fee: FeeResponse,
    /// Picture, if any.
    pub photo_url: Option<String>,
    /// IANA zone of the hours.
    pub time_zone: String,
    /// Working hours, breaks and booking rules.
    #[schema(value_type = WeeklyScheduleDoc)]
    pub schedule: WeeklySchedule,
}

impl From<Doctor> for AdminDoctorResponse {
    fn from(doctor: Doctor) -> Self {
        Self {
            id: doctor.id.as_uuid(),
            name: doctor.name,
            specialty_id: doctor.specialty_id.as_uuid(),
            qualification: doctor.qualification,
            years_experience: doctor.years_experience,
            bio: doctor.bio,
            fee: FeeResponse {
                amount_minor: doctor.fee.amount_minor,
                currency: doctor.fee.currency,
            },
            photo_url: doctor.photo_url,
            time_zone: doctor.time_zone.name().to_owned(),
            schedule: doctor.schedule,
        }
    }
}

/// User search.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserSearch {
    /// Part of an email, phone number or name, or a user id; leave out to list the newest.
    pub q: Option<String>,
}

/// A user account as admins see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserResponse {
    /// Identity.
    pub id: Uuid,
    /// Email, if known.
    pub email: Option<String>,
    /// Phone (E.164), if known.
    pub phone: Option<String>,
    /// Display name, if given.
    pub name: Option<String>,
    /// `patient`, `doctor` or `admin`.
    #[schema(value_type = String, example = "doctor")]
    pub role: Role,
    /// The linked doctor profile, if any.
    pub doctor_id: Option<Uuid>,
    /// When the account was created.
    pub created_at: Timestamp,
}

impl From<User> for AdminUserResponse {
    fn from(user: User) -> Self {
        Self {
            id: user.id.as_uuid(),
            email: user.email.map(|e| e.as_str().to_owned()),
            phone: user.phone.map(|p| p.as_str().to_owned()),
            name: user.name,
            role: user.role,
            doctor_id: user.doctor_id.map(|d| d.as_uuid()),
            created_at: user.created_at,
        }
    }
}

/// A role to give.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// `patient`, `doctor` or `admin`.
    #[schema(value_type = String, example = "doctor")]
    pub role: Role,
    /// The doctor profile to link: required for `doctor`, optional for `admin`, not allowed
    /// for `patient` (demoting clears the link).
    pub doctor_id: Option<Uuid>,
}

/// A contact-form message.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactMessageResponse {
    /// Identity.
    pub id: Uuid,
    /// Who wrote.
    pub name: String,
    /// Where to answer.
    pub email: String,
    /// What they wrote.
    pub message: String,
    /// When it arrived.
    pub received_at: Timestamp,
}

impl From<ContactMessage> for ContactMessageResponse {
    fn from(message: ContactMessage) -> Self {
        Self {
            id: message.id,
            name: message.name,
            email: message.email.as_str().to_owned(),
            message: message.message,
            received_at: message.received_at,
        }
    }
}

/// Which audit entries to read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Only entries concerning this patient.
    pub patient_id: Option<Uuid>,
    /// Only entries concerning this doctor.
    pub doctor_id: Option<Uuid>,
    /// From this instant (RFC 3339) or date (YYYY-MM-DD, UTC), inclusive.
    pub from: Option<String>,
    /// Until this instant (RFC 3339, exclusive) or date (YYYY-MM-DD, UTC, inclusive).
    pub to: Option<String>,
}

/// One entry of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryResponse {
    /// Identity.
    pub id: Uuid,
    /// When it happened.
    pub at: Timestamp,
    /// Who acted (none for the operator at the command line).
    pub actor_user_id: Option<Uuid>,
    /// Their role at the time.
    #[schema(value_type = Option<String>, example = "doctor")]
    pub actor_role: Option<Role>,
    /// What was done, e.g. `appointment.read`.
    pub action: String,
    /// The kind of record, e.g. `appointment`.
    pub subject_type: String,
    /// The record's id.
    pub subject_id: Option<String>,
    /// The patient concerned.
    pub patient_id: Option<Uuid>,
    /// The doctor concerned.
    pub doctor_id: Option<Uuid>,
    /// Where the request came from.
    pub client_ip: Option<String>,
    /// A short note.
    pub detail: Option<String>,
}

impl From<AuditEntry> for AuditEntryResponse {
    fn from(entry: AuditEntry) -> Self {
        Self {
            id: entry.id,
            at: entry.at,
            actor_user_id: entry.actor_user_id.map(|id| id.as_uuid()),
            actor_role: entry.actor_role,
            action: entry.action,
            subject_type: entry.subject_type,
            subject_id: entry.subject_id,
            patient_id: entry.patient_id.map(|id| id.as_uuid()),
            doctor_id: entry.doctor_id.map(|id| id.as_uuid()),
            client_ip: entry.client_ip,
            detail: entry.detail,
        }
    }
}

/// Adds a specialty.
#[utoipa::path(post, path = "/api/v1/admin/specialties", tag = "admin",
    request_body = SpecialtyRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, body = SpecialtyView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty, too long or taken", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_specialty(
    State(state): State<AppState>,
    caller: AdminCaller,
    client: ClientIp,
    ApiJson(body): ApiJson<SpecialtyRequest>,
) -> ApiResult<(StatusCode, Json<SpecialtyView>)> {
    let specialty = state
        .staff
        .add_specialty(&caller.0.member, &body.name)
        .await?;
    state
        .audit
        .record(
            &actor(&caller, &client),
            AuditEvent::new(
                AuditAction::SpecialtyCreate,
                "specialty",
                Some(specialty.id.to_string()),
            ),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(specialty.into())))
}

/// Renames a specialty.
#[utoipa::path(patch, path = "/api/v1/admin/specialties/{id}", tag = "admin",
    params(("id" = Uuid, Path, description = "Specialty id")),
    request_body = SpecialtyRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, body = SpecialtyView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn rename_specialty(
    State(state): State<AppState>,
    caller: AdminCaller,
    client: ClientIp,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<SpecialtyRequest>,
) -> ApiResult<Json<SpecialtyView>> {
    let specialty = state
        .staff
        .rename_specialty(&caller.0.member, SpecialtyId::from_uuid(id), &body.name)
        .await?;
    state
        .audit
        .record(
            &actor(&caller, &client),
            AuditEvent::new(
                AuditAction::SpecialtyUpdate,
                "specialty",
                Some(specialty.id.to_string()),
            ),
        )
        .await?;
    Ok(Json(specialty.into()))
}

/// Creates a doctor profile with its weekly schedule. Link it to a user account with
/// `PUT /api/v1/admin/users/{id}/role`.
#[utoipa::path(post, path = "/api/v1/admin/doctors", tag = "admin",
    request_body = DoctorRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, body = AdminDoctorResponse),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_doctor(
    State(state): State<AppState>,
    caller: AdminCaller,
    client: ClientIp,
    ApiJson(body): ApiJson<DoctorRequest>,
) -> ApiResult<(StatusCode, Json<AdminDoctorResponse>)> {
    let profile = DoctorProfile {
        name: body.name,
        specialty_id: SpecialtyId::from_uuid(body.specialty_id),
        qualification: body.qualification,
        years_experience: body.years_experience,
        bio: body.bio,
        fee_minor: body.fee.amount_minor,
        currency: body.fee.currency,
        photo_url: body.photo_url,
        time_zone: body.time_zone,
        schedule: body.schedule,
    };
    let doctor = state.staff.add_doctor(&caller.0.member, profile).await?;
    state
        .audit
        .record(
            &actor(&caller, &client),
            AuditEvent::doctor(AuditAction::DoctorCreate, doctor.id),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(doctor.into())))
}

/// Changes a doctor profile.
#[utoipa::path(patch, path = "/api/v1/admin/doctors/{id}", tag = "admin",
    params(("id" = Uuid, Path, description = "Doctor id")),
    request_body = DoctorPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, body = AdminDoctorResponse),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_doctor(
    State(state): State<AppState>,
    caller: AdminCaller,
    client: ClientIp,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<DoctorPatch>,
) -> ApiResult<Json<AdminDoctorResponse>> {
    let schedule_changed = body.schedule.is_some();
    let (fee_minor, currency) = match body.fee {
        Some(fee) => (Some(fee.amount_minor), Some(fee.currency)),
        None => (None, None),
    };
    let changes = DoctorChanges {
        name: body.name,
        specialty_id: body.specialty_id.map(SpecialtyId::from_uuid),
        qualification: body.qualification,
        years_experience: body.years_experience,
        bio: body.bio,
        fee_minor,
        currency,
        photo_url: body
            .photo_url
            .map(|url| Some(url).filter(|u| !u.trim().is_empty())),
        time_zone: body.time_zone,
        schedule: body.schedule,
    };
    let doctor = state
        .staff
        .update_doctor(&caller.0.member, DoctorId::from_uuid(id), changes)
        .await?;
    let mut events = vec![AuditEvent::doctor(AuditAction::DoctorUpdate, doctor.id)];
    if schedule_changed {
        events.push(AuditEvent::doctor(AuditAction::ScheduleUpdate, doctor.id));
    }
    state
        .audit
        .record_all(&actor(&caller, &client), events)
        .await?;
    Ok(Json(doctor.into()))
}

/// Finds user accounts by part of their email, phone or name (newest first, at most 100).
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", params(UserSearch),
    security(("bearer" = [])),
    responses(
        (status = 200, body = [AdminUserResponse]),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn users(
    State(state): State<AppState>,
    caller: AdminCaller,
    client: ClientIp,
    ApiQuery(search): ApiQuery<UserSearch>,
) -> ApiResult<Json<Vec<AdminUserResponse>>> {
    let users = state
        .staff
        .users(&caller.0.member, search.q.as_deref())
        .await?;
    // The query may be a phone number or an email: only the number of results is recorded.
    state
        .audit
        .record(
            &actor(&caller, &client),
            AuditEvent::new(AuditAction::UserSearch, "user", None)
                .with_detail(format!("{} users found", users.len())),
        )
        .await?;
    Ok(Json(users.into_iter().map(Into::into).collect()))
}

/// Gives a user a role: `doctor` needs the `doctor_id` of a profile no other user is linked
/// to; `patient` clears the link. Takes effect at once, even for sessions already open.
/// Admins cannot change their own role.
#[utoipa::path(put, path = "/api/v1/admin/users/{id}/role", tag = "admin",
    params(("id" = Uuid, Path, description = "User id")),
    request_body = RoleRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, body = AdminUserResponse),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Your own role (`invalid_state`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or unknown doctor_id, or already linked", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_role(
    State(state): State<AppState>,
    caller: AdminCaller,
    client: ClientIp,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RoleRequest>,
) -> ApiResult<Json<AdminUserResponse>> {
    let change = state
        .staff
        .set_role(
            &caller.0.member,
            UserId::from_uuid(id),
            body.role,
            body.doctor_id.map(DoctorId::from_uuid),
        )
        .await?;
    let (before, after) = (&change.before, &change.after);
    let mut event = AuditEvent::new(AuditAction::RoleChange, "user", Some(after.id.to_string()))
        .with_patient(after.id)
        .with_detail(change.describe());
    if let Some(doctor) = after.doctor_id.or(before.doctor_id) {
        event = event.with_doctor(doctor);
    }
    state.audit.record(&actor(&caller, &client), event).await?;
    Ok(Json(change.after.into()))
}

/// The contact-form inbox, newest first (at most 500).
#[utoipa::path(get, path = "/api/v1/admin/contact-messages", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, body = [ContactMessageResponse]),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn contact_messages(
    State(state): State<AppState>,
    caller: AdminCaller,
    client: ClientIp,
) -> ApiResult<Json<Vec<ContactMessageResponse>>> {
    let messages = state.contact.inbox().await?;
    state
        .audit
        .record(
            &actor(&caller, &client),
            AuditEvent::new(AuditAction::ContactInboxRead, "contact_message", None),
        )
        .await?;
    Ok(Json(messages.into_iter().map(Into::into).collect()))
}

/// Parses an audit bound: an RFC 3339 instant, or a date (midnight UTC; for the end of a
/// range, the midnight after it, so the date is included). The audit page reads its filters
/// with it too.
pub(crate) fn audit_bound(
    field: &str,
    raw: Option<&str>,
    end: bool,
) -> Result<Option<Timestamp>, BookingError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    if let Ok(instant) = raw.parse::<Timestamp>() {
        return Ok(Some(instant));
    }
    let invalid = || {
        BookingError::validation(format!(
            "{field} must be an RFC 3339 instant or a date YYYY-MM-DD"
        ))
    };
    let date: Date = raw.parse().map_err(|_| invalid())?;
    let date = if end {
        date.tomorrow().map_err(|_| invalid())?
    } else {
        date
    };
    let midnight = date
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map_err(|_| invalid())?;
    Ok(Some(midnight.timestamp()))
}

/// The audit trail, newest first (at most 500 entries): who read or changed which
/// appointment, hold, schedule or role.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", params(AuditFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, body = [AuditEntryResponse]),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn audit(
    State(state): State<AppState>,
    caller: AdminCaller,
    client: ClientIp,
    ApiQuery(filter): ApiQuery<AuditFilter>,
) -> ApiResult<Json<Vec<AuditEntryResponse>>> {
    let query = AuditQuery {
        patient_id: filter.patient_id.map(UserId::from_uuid),
        doctor_id: filter.doctor_id.map(DoctorId::from_uuid),
        from: audit_bound("from", filter.from.as_deref(), false)?,
        to: audit_bound("to", filter.to.as_deref(), true)?,
        limit: 0,
    };
    let entries = state.audit.search(query.clone()).await?;
    let mut event = AuditEvent::new(AuditAction::AuditRead, "audit_log", None);
    if let Some(patient) = query.patient_id {
        event = event.with_patient(patient);
    }
    if let Some(doctor) = query.doctor_id {
        event = event.with_doctor(doctor);
    }
    state.audit.record(&actor(&caller, &client), event).await?;
    Ok(Json(entries.into_iter().map(Into::into).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_bounds_take_instants_and_whole_dates() {
        let from = audit_bound("from", Some("2027-03-01"), false).unwrap();
        assert_eq!(from, Some("2027-03-01T00:00:00Z".parse().unwrap()));
        let to = audit_bound("to", Some("2027-03-01"), true).unwrap();
        assert_eq!(to, Some("2027-03-02T00:00:00Z".parse().unwrap()));
        let instant = audit_bound("to", Some("2027-03-01T10:00:00+01:00"), true).unwrap();
        assert_eq!(instant, Some("2027-03-01T09:00:00Z".parse().unwrap()));
        assert_eq!(audit_bound("from", Some(" "), false).unwrap(), None);
        assert!(audit_bound("from", Some("yesterday"), false).is_err());
    }
}
