//! Your own profile and patient record: name, date of birth, sex, address and medical history.
//! The history is clinical text: stored sealed, returned only to its owner.

use axum::Json;
use axum::extract::State;
use jiff::civil::Date;
use medibook_core::audit::Actor;
use medibook_core::patients::{PatientRecord, ProfileChanges, Sex};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::shell::AppState;
use crate::shell::auth::AuthUser;
use crate::shell::client::ClientIp;
use crate::shell::error::{ApiResult, Problem};
use crate::shell::extract::ApiJson;

/// A change to your profile; fields left out stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ProfileUpdate {
    /// Display name, 1 to 100 characters.
    pub name: Option<String>,
    /// Date of birth, `YYYY-MM-DD`, not in the future.
    #[schema(example = "1984-05-17")]
    pub date_of_birth: Option<String>,
    /// `female`, `male`, `other` or `unknown`.
    #[schema(value_type = Option<String>, example = "female")]
    pub sex: Option<Sex>,
    /// Postal address (at most 300 characters); empty removes it.
    pub address: Option<String>,
    /// Allergies, conditions, medication (at most 10,000 characters); empty removes it.
    /// Stored encrypted; only you and the doctors you have appointments with read it.
    pub medical_history: Option<String>,
}

/// Your profile and patient record.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileResponse {
    /// Identity (also your FHIR Patient id).
    pub id: uuid::Uuid,
    /// Email, if known.
    pub email: Option<String>,
    /// Phone (E.164), if known.
    pub phone: Option<String>,
    /// Display name, if given.
    pub name: Option<String>,
    /// `patient`, `doctor`, `receptionist` or `admin`.
    pub role: String,
    /// Date of birth, if given.
    #[schema(value_type = Option<String>, format = Date)]
    pub date_of_birth: Option<Date>,
    /// `female`, `male`, `other` or `unknown`, if given.
    #[schema(value_type = Option<String>)]
    pub sex: Option<Sex>,
    /// Postal address, if given.
    pub address: Option<String>,
    /// Your medical history, if written.
    pub medical_history: Option<String>,
}

impl From<PatientRecord> for ProfileResponse {
    fn from(record: PatientRecord) -> Self {
        let user = record.user;
        Self {
            id: user.id.as_uuid(),
            email: user.email.map(|e| e.as_str().to_owned()),
            phone: user.phone.map(|p| p.as_str().to_owned()),
            name: user.name,
            role: user.role.as_str().to_owned(),
            date_of_birth: record.details.date_of_birth,
            sex: record.details.sex,
            address: record.details.address,
            medical_history: record.medical_history,
        }
    }
}

/// Your profile and patient record.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, body = ProfileResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn me(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<ProfileResponse>> {
    Ok(Json(state.records.own(user.id).await?.into()))
}

/// Changes your profile and patient record; the change is audited (which fields, never their
/// contents).
#[utoipa::path(patch, path = "/api/v1/me", tag = "auth",
    request_body = ProfileUpdate,
    security(("bearer" = [])),
    responses(
        (status = 200, body = ProfileResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is not acceptable (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_me(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiJson(body): ApiJson<ProfileUpdate>,
) -> ApiResult<Json<ProfileResponse>> {
    let changes = ProfileChanges {
        name: body.name,
        date_of_birth: body.date_of_birth,
        sex: body.sex,
        address: body.address,
        medical_history: body.medical_history,
    };
    let actor = Actor::user(user.id, user.role, client.key());
    Ok(Json(
        state
            .records
            .update_own(&actor, user.id, changes)
            .await?
            .into(),
    ))
}
