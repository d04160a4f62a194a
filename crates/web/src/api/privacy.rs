//! Your data: a copy of everything held about you (GDPR Art. 15 and 20) and erasure of your
//! account (Art. 17).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use medibook_core::audit::Actor;
use medibook_core::desk::PatientCard;
use medibook_core::privacy::PersonalData;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::appointments::{AppointmentResponse, responses};
use super::profile::ProfileResponse;
use super::waitlist::EntryResponse;
use crate::shell::AppState;
use crate::shell::auth::AuthUser;
use crate::shell::client::ClientIp;
use crate::shell::error::{ApiResult, Problem};
use crate::shell::extract::ApiQuery;
use crate::shell::fhir;

/// Which form the copy takes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `json` (default): everything, as MediBook holds it; `fhir`: a FHIR R4 Bundle with your
    /// Patient and your Appointments.
    pub format: Option<ExportFormat>,
}

/// The forms of the copy.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// MediBook's own JSON.
    Json,
    /// A FHIR R4 Bundle.
    Fhir,
}

/// A message the clinic sent you.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageExport {
    /// What it was about (`booked`, `reminder`, `sign_in_code`, …).
    pub kind: String,
    /// `email` or `phone`.
    pub channel: String,
    /// Where it went.
    pub recipient: String,
    /// Its subject.
    pub subject: String,
    /// Its text (left out for sign-in codes).
    pub body: Option<String>,
    /// `pending`, `sent`, `failed` or `cancelled`.
    pub status: String,
    /// When it was queued.
    pub created_at: Timestamp,
    /// When it was sent or given up.
    pub finished_at: Option<Timestamp>,
}

/// One of your sign-ins.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignInExport {
    /// When you signed in.
    pub signed_in_at: Timestamp,
    /// Your last activity in that sign-in.
    pub last_seen_at: Timestamp,
    /// When it lapses.
    pub expires_at: Timestamp,
    /// When you signed out, if you did.
    pub signed_out_at: Option<Timestamp>,
}

/// A private calendar link (its secret address is not kept, so not exported).
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarLinkExport {
    /// `appointments` or `agenda`.
    pub kind: String,
    /// Whether a link is issued now.
    pub active: bool,
    /// When it was first issued.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// Your Google Calendar connection (its token is not exported).
#[derive(Debug, Serialize, ToSchema)]
pub struct GoogleExport {
    /// The calendar written to.
    pub calendar_id: String,
    /// `active` or `revoked`.
    pub status: String,
    /// When it was connected.
    pub connected_at: Timestamp,
}

/// A message you sent through the contact form.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactExport {
    /// The name you gave.
    pub name: String,
    /// What you wrote.
    pub message: String,
    /// When it arrived.
    pub received_at: Timestamp,
    /// When the clinic answered it by e-mail, if it did.
    pub replied_at: Option<Timestamp>,
}

/// Everything MediBook holds about you.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportResponse {
    /// When this copy was made.
    pub exported_at: Timestamp,
    /// Your account and patient record, medical history included.
    pub profile: ProfileResponse,
    /// Every appointment, soonest first.
    pub appointments: Vec<AppointmentResponse>,
    /// Every waitlist entry, including those you left or that were fulfilled.
    pub waitlist_entries: Vec<EntryResponse>,
    /// Messages sent to you or about your appointments.
    pub notifications: Vec<MessageExport>,
    /// Your sign-ins, newest first.
    pub sign_ins: Vec<SignInExport>,
    /// Your private calendar links.
    pub calendar_links: Vec<CalendarLinkExport>,
    /// Your Google Calendar connection, if any.
    pub google_calendar: Option<GoogleExport>,
    /// Messages you sent through the contact form from your e-mail address.
    pub contact_messages: Vec<ContactExport>,
}

/// A copy of everything held about you, as a download: MediBook's JSON, or a FHIR R4 Bundle
/// (`?format=fhir`) with your Patient and Appointments. The export is audited.
#[utoipa::path(get, path = "/api/v1/me/export", operation_id = "export_me", tag = "auth",
    params(ExportQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ExportResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn export(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    let actor = Actor::user(user.id, user.role, client.key());
    let data = state.privacy.export(&actor, user.id).await?;
    let (body, content_type, extension) = match query.format.unwrap_or(ExportFormat::Json) {
        ExportFormat::Fhir => (
            fhir_bundle(&state, &data).await?,
            "application/fhir+json; charset=utf-8",
            "fhir.json",
        ),
        ExportFormat::Json => (
            serde_json::to_value(copy(&state, data).await?).unwrap_or(Value::Null),
            "application/json",
            "json",
        ),
    };
    let mut response = (StatusCode::OK, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let disposition = format!("attachment; filename=\"medibook-my-data.{extension}\"");
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

async fn copy(state: &AppState, data: PersonalData) -> ApiResult<ExportResponse> {
    let records = data.records;
    Ok(ExportResponse {
        exported_at: data.exported_at,
        profile: data.record.into(),
        appointments: responses(state, data.appointments).await?,
        waitlist_entries: records.waitlist.into_iter().map(Into::into).collect(),
        notifications: records
            .messages
            .into_iter()
            .map(|m| MessageExport {
                kind: m.kind,
                channel: m.channel,
                recipient: m.recipient,
                subject: m.subject,
                body: m.body,
                status: m.status,
                created_at: m.created_at,
                finished_at: m.finished_at,
            })
            .collect(),
        sign_ins: records
            .sign_ins
            .into_iter()
            .map(|s| SignInExport {
                signed_in_at: s.signed_in_at,
                last_seen_at: s.last_seen_at,
                expires_at: s.expires_at,
                signed_out_at: s.signed_out_at,
            })
            .collect(),
        calendar_links: records
            .calendar_links
            .into_iter()
            .map(|l| CalendarLinkExport {
                kind: l.kind,
                active: l.active,
                created_at: l.created_at,
                updated_at: l.updated_at,
            })
            .collect(),
        google_calendar: records.google.map(|g| GoogleExport {
            calendar_id: g.calendar_id,
            status: g.status,
            connected_at: g.connected_at,
        }),
        contact_messages: records
            .contact_messages
            .into_iter()
            .map(|m| ContactExport {
                name: m.name,
                message: m.message,
                received_at: m.received_at,
                replied_at: m.replied_at,
            })
            .collect(),
    })
}

/// The Patient and their Appointments as a FHIR `collection` Bundle.
async fn fhir_bundle(state: &AppState, data: &PersonalData) -> ApiResult<Value> {
    let doctors = state.catalogue.search(None, None).await?;
    let card = PatientCard {
        user: data.record.user.clone(),
        date_of_birth: data.record.details.date_of_birth,
    };
    let mut entries = vec![fhir::patient(&card)];
    entries.extend(data.appointments.iter().map(|a| {
        let doctor = doctors.iter().find(|d| d.id == a.doctor_id);
        fhir::appointment(a, doctor)
    }));
    let entries: Vec<Value> = entries
        .into_iter()
        .map(|resource| {
            let full_url = format!("urn:uuid:{}", resource["id"].as_str().unwrap_or_default());
            json!({ "fullUrl": full_url, "resource": resource })
        })
        .collect();
    Ok(json!({
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": fhir::instant(data.exported_at),
        "entry": entries,
    }))
}

/// What the erasure did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureResponse {
    /// Upcoming appointments cancelled (their times are free again).
    pub cancelled_appointments: usize,
    /// Holds released.
    pub released_holds: usize,
    /// Waitlist entries left.
    pub left_waitlist_entries: usize,
}

/// Erases your account: upcoming appointments are cancelled and their times freed, holds and
/// waitlist entries given up, every sign-in ended, and your personal data — name, contacts,
/// date of birth, address, medical history, appointments and visit notes, messages — deleted.
/// The audit trail keeps your account's id, which no longer leads to you. Signing in again
/// with the same address starts a new, empty account. Staff accounts, and accounts that wrote
/// visit notes, get 409 (an admin closes them).
#[utoipa::path(delete, path = "/api/v1/me", operation_id = "erase_me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, body = ErasureResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A staff account, or one that wrote visit notes (`invalid_state`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn erase(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
) -> ApiResult<Json<ErasureResponse>> {
    let actor = Actor::user(user.id, user.role, client.key());
    let erased = state.privacy.erase(&actor, user.id).await?;
    Ok(Json(ErasureResponse {
        cancelled_appointments: erased.cancelled,
        released_holds: erased.released,
        left_waitlist_entries: erased.left_waitlist,
    }))
}
