//! The audit trail.

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use jiff::civil::Date;
use medibook_core::BookingError;
use medibook_core::audit::{AuditAction, AuditEntry, AuditEvent, AuditQuery};
use medibook_core::identity::Role;
use medibook_core::ids::{DoctorId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::actor;
use crate::AppState;
use crate::access::AdminCaller;
use crate::client::ClientIp;
use crate::error::{ApiResult, Problem};
use crate::extract::ApiQuery;

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
