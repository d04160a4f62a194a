//! The audit trail.

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use medibook_core::audit::{AuditAction, AuditEntry, AuditEvent, AuditQuery};
use medibook_core::identity::Role;
use medibook_core::ids::{DoctorId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::actor;
use crate::shell::AppState;
use crate::shell::access::AdminCaller;
use crate::shell::client::ClientIp;
use crate::shell::error::{ApiResult, Problem};
use crate::shell::extract::ApiQuery;
use crate::shell::inputs::audit_bound;

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
