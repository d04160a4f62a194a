//! User accounts and their roles.

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use medibook_core::audit::{AuditAction, AuditEvent};
use medibook_core::identity::{Role, User};
use medibook_core::ids::{DoctorId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::actor;
use crate::shell::AppState;
use crate::shell::access::AdminCaller;
use crate::shell::client::ClientIp;
use crate::shell::error::{ApiResult, Problem};
use crate::shell::extract::{ApiJson, ApiPath, ApiQuery};

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
            &actor(&caller, &client),
            UserId::from_uuid(id),
            body.role,
            body.doctor_id.map(DoctorId::from_uuid),
        )
        .await?;
    Ok(Json(change.after.into()))
}
