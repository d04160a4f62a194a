//! Specialties and doctor profiles.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use medibook_core::clinic::{Doctor, Specialty};
use medibook_core::ids::{DoctorId, SpecialtyId};
use medibook_core::schedule::WeeklySchedule;
use medibook_core::staff::{DoctorChanges, DoctorProfile};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::actor;
use crate::api::catalogue::FeeResponse;
use crate::api::doctor::WeeklyScheduleDoc;
use crate::shell::AppState;
use crate::shell::access::AdminCaller;
use crate::shell::client::ClientIp;
use crate::shell::error::{ApiResult, Problem};
use crate::shell::extract::{ApiJson, ApiPath};

/// A new specialty.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SpecialtyRequest {
    /// 1 to 100 characters, unique regardless of case.
    #[schema(example = "Neurology")]
    pub name: String,
    /// Words patients use for it, which the doctor search matches (at most 40, each at most
    /// 40 characters; stored lower-case).
    #[serde(default)]
    #[schema(example = json!(["headache", "migraine", "numbness"]))]
    pub keywords: Vec<String>,
}

/// A change to a specialty: its name, its keywords (replacing them all), or both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecialtyPatch {
    /// 1 to 100 characters, unique regardless of case.
    #[schema(example = "Neurology")]
    pub name: Option<String>,
    /// Words patients use for it (replaces the stored ones).
    #[schema(example = json!(["headache", "migraine"]))]
    pub keywords: Option<Vec<String>>,
}

/// A specialty.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpecialtyView {
    /// Identity.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Words patients use for it.
    pub keywords: Vec<String>,
}

impl From<Specialty> for SpecialtyView {
    fn from(specialty: Specialty) -> Self {
        Self {
            id: specialty.id.as_uuid(),
            name: specialty.name,
            keywords: specialty.keywords,
        }
    }
}

/// Keywords as the core takes them: one comma-separated text (a keyword with a comma in it
/// becomes two).
fn keywords_text(keywords: &[String]) -> String {
    keywords.join(",")
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
        .add_specialty(
            &caller.0.member,
            &actor(&caller, &client),
            &body.name,
            Some(&keywords_text(&body.keywords)),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(specialty.into())))
}

/// Renames a specialty and/or replaces its search keywords.
#[utoipa::path(patch, path = "/api/v1/admin/specialties/{id}", tag = "admin",
    params(("id" = Uuid, Path, description = "Specialty id")),
    request_body = SpecialtyPatch,
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
    ApiJson(body): ApiJson<SpecialtyPatch>,
) -> ApiResult<Json<SpecialtyView>> {
    let keywords = body.keywords.as_deref().map(keywords_text);
    let specialty = state
        .staff
        .rename_specialty(
            &caller.0.member,
            &actor(&caller, &client),
            SpecialtyId::from_uuid(id),
            body.name.as_deref(),
            keywords.as_deref(),
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
    let doctor = state
        .staff
        .add_doctor(&caller.0.member, &actor(&caller, &client), profile)
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
        .update_doctor(
            &caller.0.member,
            &actor(&caller, &client),
            DoctorId::from_uuid(id),
            changes,
        )
        .await?;
    Ok(Json(doctor.into()))
}
