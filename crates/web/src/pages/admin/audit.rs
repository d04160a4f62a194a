//! The audit trail in the admin console: `GET /admin/audit?patient_id=&doctor_id=&from=&to=&page=`,
//! a `GET` form with the filters of the admin API's `GET /api/v1/admin/audit` (patient,
//! doctor, from and to, read exactly as the API reads them) and the entries newest first.
//!
//! The core returns at most [`MAX_AUDIT_ENTRIES`] entries per search and the API has no paging,
//! so the page shows them [`PAGE_SIZE`] at a time with previous and next links. Each search is
//! recorded as `audit.read`, naming the patient and doctor filtered on, like the API does.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use medibook_core::BookingError;
use medibook_core::audit::{AuditAction, AuditEntry, AuditEvent, AuditQuery, MAX_AUDIT_ENTRIES};
use medibook_core::clinic::Doctor;
use medibook_core::identity::Role;
use medibook_core::ids::{DoctorId, UserId};

use crate::pages::admin::{ConsolePage, FieldErrors, admin_layout, console_nav, record};
use crate::pages::browse::query_param;
use crate::pages::error::PageResult;
use crate::pages::format;
use crate::pages::signin::encode_component;
use crate::pages::{AdminViewer, Layout, NavLink};
use crate::shell::AppState;
use crate::shell::client::ClientIp;
use crate::shell::inputs::audit_bound;

/// Entries shown per page.
pub const PAGE_SIZE: usize = 50;

/// The filters as typed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilters {
    /// A patient's account id.
    pub patient_id: String,
    /// A doctor profile's id.
    pub doctor_id: String,
    /// First date (or instant).
    pub from: String,
    /// Last date (or end instant).
    pub to: String,
}

impl AuditFilters {
    fn read(raw: Option<&str>) -> Self {
        let field = |name| {
            query_param(raw, name)
                .map(|v| v.trim().to_owned())
                .unwrap_or_default()
        };
        Self {
            patient_id: field("patient_id"),
            doctor_id: field("doctor_id"),
            from: field("from"),
            to: field("to"),
        }
    }

    /// The query string of these filters (without `page`).
    fn query(&self) -> String {
        [
            ("patient_id", &self.patient_id),
            ("doctor_id", &self.doctor_id),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("{name}={}", encode_component(value)))
        .collect::<Vec<_>>()
        .join("&")
    }

    /// The core's query, or a message by each filter that is not right.
    fn parse(&self) -> Result<AuditQuery, FieldErrors> {
        let mut errors = FieldErrors::default();
        let patient_id = match self.patient_id.as_str() {
            "" => None,
            raw => match raw.parse() {
                Ok(id) => Some(UserId::from_uuid(id)),
                Err(_) => {
                    errors.add(
                        "patient_id",
                        "Enter an account id as the People page links it, like \
                         0192f5e0-7b1c-7c3e-8d2a-1f4b5c6d7e8f.",
                    );
                    None
                }
            },
        };
        let doctor_id = match self.doctor_id.as_str() {
            "" => None,
            raw => match raw.parse() {
                Ok(id) => Some(DoctorId::from_uuid(id)),
                Err(_) => {
                    errors.add("doctor_id", "Choose a doctor from the list.");
                    None
                }
            },
        };
        let date_message = "Enter a date like 2027-03-01.";
        let from = audit_bound("from", Some(&self.from), false).unwrap_or_else(|_| {
            errors.add("from", date_message);
            None
        });
        let to = audit_bound("to", Some(&self.to), true).unwrap_or_else(|_| {
            errors.add("to", date_message);
            None
        });
        if let (Some(from), Some(to)) = (from, to)
            && to <= from
        {
            errors.add("to", "Enter a last date on or after the first date.");
        }
        if errors.is_empty() {
            Ok(AuditQuery {
                patient_id,
                doctor_id,
                from,
                to,
                limit: 0,
            })
        } else {
            Err(errors)
        }
    }
}

/// One entry of the results table.
#[derive(Clone, Debug)]
pub struct AuditRow {
    /// "Sat 21 Nov 2026, 20:43 UTC".
    pub when: String,
    /// RFC 3339.
    pub at: String,
    /// "You", an account id, or "The operator (command line)".
    pub actor: String,
    /// The actor's account id, to filter on, when it is not the admin looking.
    pub actor_id: Option<String>,
    /// "admin", "doctor", "patient" or empty.
    pub role: &'static str,
    /// `appointment.read`, …
    pub action: String,
    /// "appointment 0192…".
    pub target: String,
    /// The patient concerned, as `(filter link, id)`.
    pub patient: Option<(String, String)>,
    /// The doctor concerned, as `(filter link, name)`.
    pub doctor: Option<(String, String)>,
    /// A short note.
    pub detail: String,
}

impl AuditRow {
    fn new(entry: AuditEntry, you: UserId, doctors: &[Doctor]) -> Self {
        let (actor, actor_id) = match entry.actor_user_id {
            Some(id) if id == you => ("You".to_owned(), None),
            Some(id) => (id.to_string(), Some(id.to_string())),
            None => ("The operator (command line)".to_owned(), None),
        };
        let target = match &entry.subject_id {
            Some(id) => format!("{} {id}", entry.subject_type),
            None => entry.subject_type.clone(),
        };
        Self {
            when: format::utc_moment(entry.at),
            at: entry.at.to_string(),
            actor,
            actor_id,
            role: entry.actor_role.map(Role::as_str).unwrap_or_default(),
            action: entry.action,
            target,
            patient: entry
                .patient_id
                .map(|id| (format!("/admin/audit?patient_id={id}"), id.to_string())),
            doctor: entry.doctor_id.map(|id| {
                let name = doctors
                    .iter()
                    .find(|d| d.id == id)
                    .map_or_else(|| id.to_string(), |d| d.name.clone());
                (format!("/admin/audit?doctor_id={id}"), name)
            }),
            detail: entry.detail.unwrap_or_default(),
        }
    }
}

/// A doctor in the filter's `<select>`.
#[derive(Clone, Debug)]
pub struct DoctorOption {
    /// Profile id.
    pub id: String,
    /// Name.
    pub name: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    layout: Layout,
    console: Vec<NavLink>,
    filters: AuditFilters,
    errors: FieldErrors,
    doctors: Vec<DoctorOption>,
    /// `None` until a search ran.
    rows: Vec<AuditRow>,
    /// "Entries 1–50 of 120, newest first."
    summary: String,
    /// Whether the core's cap was reached.
    capped: bool,
    limit: u32,
    previous_href: Option<String>,
    next_href: Option<String>,
}

/// `GET /admin/audit?…`: the filters and the entries they match.
pub async fn search(
    State(state): State<AppState>,
    admin: AdminViewer,
    client: ClientIp,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let filters = AuditFilters::read(raw.as_deref());
    let doctors = state.catalogue.search(None, None).await?;
    let mut page = AuditPage {
        layout: admin_layout(&admin, "Audit trail", &uri),
        console: console_nav(ConsolePage::Audit),
        filters: filters.clone(),
        errors: FieldErrors::default(),
        doctors: doctors
            .iter()
            .map(|d| DoctorOption {
                id: d.id.to_string(),
                name: d.name.clone(),
            })
            .collect(),
        rows: Vec::new(),
        summary: String::new(),
        capped: false,
        limit: MAX_AUDIT_ENTRIES,
        previous_href: None,
        next_href: None,
    };
    let query = match filters.parse() {
        Ok(query) => query,
        Err(errors) => {
            page.errors = errors;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let entries = match state.audit.search(query.clone()).await {
        Ok(entries) => entries,
        Err(BookingError::Validation(_)) => {
            page.errors
                .add("to", "Enter a last date on or after the first date.");
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
        Err(other) => return Err(other.into()),
    };
    let mut event = AuditEvent::new(AuditAction::AuditRead, "audit_log", None);
    if let Some(patient) = query.patient_id {
        event = event.with_patient(patient);
    }
    if let Some(doctor) = query.doctor_id {
        event = event.with_doctor(doctor);
    }
    record(&state, &admin, &client, vec![event]).await?;

    let total = entries.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let number = query_param(raw.as_deref(), "page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    let first = (number - 1) * PAGE_SIZE;
    let you = admin.0.person.auth.id;
    page.rows = entries
        .into_iter()
        .skip(first)
        .take(PAGE_SIZE)
        .map(|entry| AuditRow::new(entry, you, &doctors))
        .collect();
    page.summary = if total == 0 {
        "No entries match these filters.".to_owned()
    } else {
        format!(
            "Entries {}–{} of {total}, newest first. Times are in UTC.",
            first + 1,
            first + page.rows.len()
        )
    };
    page.capped = u32::try_from(total).is_ok_and(|n| n >= MAX_AUDIT_ENTRIES);
    let link = |n: usize| {
        let filters = filters.query();
        if filters.is_empty() {
            format!("/admin/audit?page={n}")
        } else {
            format!("/admin/audit?{filters}&page={n}")
        }
    };
    page.previous_href = (number > 1).then(|| link(number - 1));
    page.next_href = (number < pages).then(|| link(number + 1));
    Ok(page.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_read_like_the_api_reads_them() {
        let filters = AuditFilters::read(Some("from=2027-03-01&to=2027-03-01&doctor_id="));
        let query = filters.parse().unwrap();
        assert_eq!(query.from, Some("2027-03-01T00:00:00Z".parse().unwrap()));
        assert_eq!(query.to, Some("2027-03-02T00:00:00Z".parse().unwrap()));
        assert_eq!(query.doctor_id, None);
        assert_eq!(filters.query(), "from=2027-03-01&to=2027-03-01");
    }

    #[test]
    fn bad_filters_get_a_message_each() {
        let filters = AuditFilters::read(Some("patient_id=ada&from=yesterday&to=2027-13-01"));
        let errors = filters.parse().unwrap_err();
        assert!(errors.get("patient_id").is_some());
        assert!(errors.get("from").is_some());
        assert!(errors.get("to").is_some());
        let backwards = AuditFilters::read(Some("from=2027-03-02&to=2027-03-01"));
        assert!(backwards.parse().unwrap_err().get("to").is_some());
    }
}
