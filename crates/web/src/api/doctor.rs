//! A doctor's workspace: weekly schedule, time off, agenda, and recording how visits went.
//!
//! Each endpoint acts on the caller's own doctor profile. Admins may use every endpoint for any
//! doctor by adding `?doctor_id=`; a doctor naming another doctor gets 404. Every read and
//! change lands in the audit trail.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use jiff::civil::Date;
use medibook_core::audit::{Actor, AuditAction, AuditEvent};
use medibook_core::booking::{Appointment, AppointmentStatus};
use medibook_core::ids::{AppointmentId, DoctorId, TimeOffId};
use medibook_core::schedule::{TimeOff, WeeklySchedule};
use medibook_core::staff::Outcome;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::shell::AppState;
use crate::shell::access::StaffCaller;
use crate::shell::client::ClientIp;
use crate::shell::error::{ApiResult, Problem};
use crate::shell::extract::{ApiJson, ApiPath, ApiQuery};

/// Which doctor to act for.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DoctorScope {
    /// Admins: the doctor to act for (default: the admin's own doctor profile). Doctors may
    /// leave it out or name only themselves.
    pub doctor_id: Option<Uuid>,
}

impl DoctorScope {
    fn requested(&self) -> Option<DoctorId> {
        self.doctor_id.map(DoctorId::from_uuid)
    }
}

/// A wall-clock interval of one day (`HH:MM`, end exclusive).
#[derive(Debug, ToSchema)]
#[schema(as = TimeRange)]
pub struct TimeRangeDoc {
    /// Start, e.g. `09:00`.
    #[schema(example = "09:00")]
    pub start: String,
    /// End, e.g. `12:30`.
    #[schema(example = "12:30")]
    pub end: String,
}

/// Time ranges per weekday; days left out have none.
#[derive(Debug, ToSchema)]
#[schema(as = WeeklyHours)]
pub struct WeeklyHoursDoc {
    /// Mondays.
    pub monday: Vec<TimeRangeDoc>,
    /// Tuesdays.
    pub tuesday: Vec<TimeRangeDoc>,
    /// Wednesdays.
    pub wednesday: Vec<TimeRangeDoc>,
    /// Thursdays.
    pub thursday: Vec<TimeRangeDoc>,
    /// Fridays.
    pub friday: Vec<TimeRangeDoc>,
    /// Saturdays.
    pub saturday: Vec<TimeRangeDoc>,
    /// Sundays.
    pub sunday: Vec<TimeRangeDoc>,
}

/// How a doctor's time may be booked.
#[derive(Debug, ToSchema)]
#[schema(as = BookingRules)]
pub struct BookingRulesDoc {
    /// Length of one appointment, 5 to 480 minutes.
    pub slot_minutes: u16,
    /// Free time before each appointment, 0 to 240 minutes (default 0).
    pub buffer_before_minutes: Option<u16>,
    /// Free time after each appointment, 0 to 240 minutes (default 0).
    pub buffer_after_minutes: Option<u16>,
    /// How long before its start a slot can still be booked, in minutes (default 0).
    pub min_notice_minutes: Option<u32>,
    /// How many days ahead patients may book, 1 to 730.
    pub horizon_days: u16,
    /// At most this many appointments a day (1 to 500), if set.
    pub max_per_day: Option<u16>,
}

/// Weekly working hours, breaks and booking rules, in the doctor's time zone.
#[derive(Debug, ToSchema)]
#[schema(as = WeeklySchedule)]
pub struct WeeklyScheduleDoc {
    /// When the doctor works.
    pub hours: WeeklyHoursDoc,
    /// Pauses inside the working hours (default none).
    pub breaks: Option<WeeklyHoursDoc>,
    /// Slot length, buffers, notice, horizon, daily maximum.
    pub rules: BookingRulesDoc,
}

/// Time off to add.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TimeOffRequest {
    /// First instant off (RFC 3339).
    pub start: Timestamp,
    /// First instant back (RFC 3339).
    pub end: Timestamp,
    /// Shown to the doctor only (at most 200 characters).
    pub reason: Option<String>,
}

/// A period of time off.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimeOffResponse {
    /// Identity.
    pub id: Uuid,
    /// Whose.
    pub doctor_id: Uuid,
    /// First instant off.
    pub start: Timestamp,
    /// First instant back.
    pub end: Timestamp,
    /// Why.
    pub reason: String,
}

impl From<TimeOff> for TimeOffResponse {
    fn from(time_off: TimeOff) -> Self {
        Self {
            id: time_off.id.as_uuid(),
            doctor_id: time_off.doctor_id.as_uuid(),
            start: time_off.start,
            end: time_off.end,
            reason: time_off.reason,
        }
    }
}

/// Which days of the agenda to read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AgendaQuery {
    /// First calendar date, in the doctor's time zone (YYYY-MM-DD).
    #[param(value_type = String, format = Date, example = "2027-03-01")]
    pub from: Date,
    /// Number of dates, 1 to 31 (default 1).
    #[param(minimum = 1, maximum = 31)]
    pub days: Option<u16>,
    /// Admins: the doctor whose agenda to read.
    pub doctor_id: Option<Uuid>,
}

/// How to reach a patient.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientContact {
    /// The patient's user id.
    pub id: Uuid,
    /// Display name, if given.
    pub name: Option<String>,
    /// Email, if known.
    pub email: Option<String>,
    /// Phone (E.164), if known.
    pub phone: Option<String>,
}

/// One appointment in a doctor's agenda.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgendaItem {
    /// Appointment id.
    pub id: Uuid,
    /// Start of the visit.
    pub start: Timestamp,
    /// End of the visit.
    pub end: Timestamp,
    /// `scheduled`, `completed`, `cancelled` or `no_show`.
    #[schema(value_type = String, example = "scheduled")]
    pub status: AppointmentStatus,
    /// Why the patient comes.
    pub reason: String,
    /// Who comes.
    pub patient: PatientContact,
    /// Whether the patient cancelled this appointment inside the late-cancellation window.
    pub late_cancellation: bool,
    /// The patient's record with the clinic (every doctor, this appointment included).
    pub patient_history: PatientHistoryResponse,
}

/// A patient's completed visits, no-shows and late cancellations with the clinic.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientHistoryResponse {
    /// Visits that took place.
    pub completed: u32,
    /// Visits the patient did not come to.
    pub no_shows: u32,
    /// Appointments the patient cancelled inside the late-cancellation window.
    pub late_cancellations: u32,
}

/// A doctor's appointments over some days.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgendaResponse {
    /// Whose agenda.
    pub doctor_id: Uuid,
    /// The doctor's name.
    pub doctor_name: String,
    /// The zone the dates are read in.
    pub time_zone: String,
    /// First instant covered.
    pub from: Timestamp,
    /// First instant after the covered days.
    pub to: Timestamp,
    /// Appointments starting in `[from, to)`, every status, by start.
    pub appointments: Vec<AgendaItem>,
}

/// An appointment as its doctor sees it after recording an outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct DoctorAppointmentResponse {
    /// Identity.
    pub id: Uuid,
    /// The doctor.
    pub doctor_id: Uuid,
    /// The patient.
    pub patient_id: Uuid,
    /// Start of the visit.
    pub start: Timestamp,
    /// End of the visit.
    pub end: Timestamp,
    /// `completed` or `no_show` after recording.
    #[schema(value_type = String, example = "completed")]
    pub status: AppointmentStatus,
    /// Why the patient came.
    pub reason: String,
    /// When it last changed.
    pub updated_at: Timestamp,
}

impl From<Appointment> for DoctorAppointmentResponse {
    fn from(appointment: Appointment) -> Self {
        Self {
            id: appointment.id.as_uuid(),
            doctor_id: appointment.doctor_id.as_uuid(),
            patient_id: appointment.patient_id.as_uuid(),
            start: appointment.start,
            end: appointment.end,
            status: appointment.status,
            reason: appointment.reason.as_str().to_owned(),
            updated_at: appointment.updated_at,
        }
    }
}

fn actor(caller: &StaffCaller, client: &ClientIp) -> Actor {
    Actor::user(caller.auth.id, caller.member.role, client.key())
}

/// The weekly schedule (hours, breaks, booking rules).
#[utoipa::path(get, path = "/api/v1/doctor/schedule", tag = "doctor", params(DoctorScope),
    security(("bearer" = [])),
    responses(
        (status = 200, body = WeeklyScheduleDoc),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a doctor or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Another doctor's", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn schedule(
    State(state): State<AppState>,
    caller: StaffCaller,
    client: ClientIp,
    ApiQuery(scope): ApiQuery<DoctorScope>,
) -> ApiResult<Json<WeeklySchedule>> {
    let doctor = state
        .staff
        .schedule(&caller.member, scope.requested())
        .await?;
    state
        .audit
        .record(
            &actor(&caller, &client),
            AuditEvent::doctor(AuditAction::ScheduleRead, doctor.id),
        )
        .await?;
    Ok(Json(doctor.schedule))
}

/// Replaces the weekly schedule; the slot listing follows at once. Appointments already booked
/// keep their time.
#[utoipa::path(put, path = "/api/v1/doctor/schedule", tag = "doctor", params(DoctorScope),
    request_body = WeeklyScheduleDoc,
    security(("bearer" = [])),
    responses(
        (status = 200, body = WeeklyScheduleDoc),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Overlapping ranges or rules out of bounds", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_schedule(
    State(state): State<AppState>,
    caller: StaffCaller,
    client: ClientIp,
    ApiQuery(scope): ApiQuery<DoctorScope>,
    ApiJson(schedule): ApiJson<WeeklySchedule>,
) -> ApiResult<Json<WeeklySchedule>> {
    let doctor = state
        .staff
        .set_schedule(
            &caller.member,
            &actor(&caller, &client),
            scope.requested(),
            schedule,
        )
        .await?;
    Ok(Json(doctor.schedule))
}

/// Current and future time off, by start.
#[utoipa::path(get, path = "/api/v1/doctor/time-off", tag = "doctor", params(DoctorScope),
    security(("bearer" = [])),
    responses(
        (status = 200, body = [TimeOffResponse]),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn time_off(
    State(state): State<AppState>,
    caller: StaffCaller,
    client: ClientIp,
    ApiQuery(scope): ApiQuery<DoctorScope>,
) -> ApiResult<Json<Vec<TimeOffResponse>>> {
    let (doctor_id, list) = state
        .staff
        .time_off(&caller.member, scope.requested())
        .await?;
    state
        .audit
        .record(
            &actor(&caller, &client),
            AuditEvent::doctor(AuditAction::TimeOffList, doctor_id),
        )
        .await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// Adds time off: no slots are offered in it. Appointments already booked in it stay.
#[utoipa::path(post, path = "/api/v1/doctor/time-off", tag = "doctor", params(DoctorScope),
    request_body = TimeOffRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, body = TimeOffResponse),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_time_off(
    State(state): State<AppState>,
    caller: StaffCaller,
    client: ClientIp,
    ApiQuery(scope): ApiQuery<DoctorScope>,
    ApiJson(body): ApiJson<TimeOffRequest>,
) -> ApiResult<(StatusCode, Json<TimeOffResponse>)> {
    let time_off = state
        .staff
        .add_time_off(
            &caller.member,
            &actor(&caller, &client),
            scope.requested(),
            body.start,
            body.end,
            body.reason.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(time_off.into())))
}

/// Removes a period of time off; its slots are offered again.
#[utoipa::path(delete, path = "/api/v1/doctor/time-off/{id}", tag = "doctor",
    params(("id" = Uuid, Path, description = "Time-off id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such time off, or another doctor's", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove_time_off(
    State(state): State<AppState>,
    caller: StaffCaller,
    client: ClientIp,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    state
        .staff
        .remove_time_off(
            &caller.member,
            &actor(&caller, &client),
            TimeOffId::from_uuid(id),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The agenda: appointments (every status) with the patients' names and contacts, and each
/// patient's completed visits, no-shows and late cancellations with the clinic.
#[utoipa::path(get, path = "/api/v1/doctor/agenda", tag = "doctor", params(AgendaQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = AgendaResponse),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Another doctor's agenda", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn agenda(
    State(state): State<AppState>,
    caller: StaffCaller,
    client: ClientIp,
    ApiQuery(query): ApiQuery<AgendaQuery>,
) -> ApiResult<Json<AgendaResponse>> {
    let days = query.days.unwrap_or(1);
    let agenda = state
        .staff
        .agenda(
            &caller.member,
            query.doctor_id.map(DoctorId::from_uuid),
            query.from,
            days,
        )
        .await?;
    // One entry per patient whose appointments were shown, so the trail answers "who saw this
    // patient's visits"; one entry without a patient if the agenda was empty.
    let detail = format!("agenda from {} for {days} days", query.from);
    let patients: BTreeSet<_> = agenda
        .entries
        .iter()
        .map(|e| e.appointment.patient_id)
        .collect();
    let read = || {
        AuditEvent::doctor(AuditAction::AgendaRead, agenda.doctor.id).with_detail(detail.clone())
    };
    let events = if patients.is_empty() {
        vec![read()]
    } else {
        patients
            .into_iter()
            .map(|patient| read().with_patient(patient))
            .collect()
    };
    state
        .audit
        .record_all(&actor(&caller, &client), events)
        .await?;
    Ok(Json(AgendaResponse {
        doctor_id: agenda.doctor.id.as_uuid(),
        doctor_name: agenda.doctor.name.clone(),
        time_zone: agenda.doctor.time_zone.name().to_owned(),
        from: agenda.from,
        to: agenda.to,
        appointments: agenda
            .entries
            .into_iter()
            .map(|entry| AgendaItem {
                id: entry.appointment.id.as_uuid(),
                start: entry.appointment.start,
                end: entry.appointment.end,
                status: entry.appointment.status,
                reason: entry.appointment.reason.as_str().to_owned(),
                patient: PatientContact {
                    id: entry.appointment.patient_id.as_uuid(),
                    name: entry.patient_name,
                    email: entry.patient_email.map(|e| e.as_str().to_owned()),
                    phone: entry.patient_phone.map(|p| p.as_str().to_owned()),
                },
                late_cancellation: entry.appointment.late_cancellation,
                patient_history: PatientHistoryResponse {
                    completed: entry.patient_history.completed,
                    no_shows: entry.patient_history.no_shows,
                    late_cancellations: entry.patient_history.late_cancellations,
                },
            })
            .collect(),
    }))
}

async fn record_outcome(
    state: AppState,
    caller: StaffCaller,
    client: ClientIp,
    id: Uuid,
    outcome: Outcome,
) -> ApiResult<Json<DoctorAppointmentResponse>> {
    let appointment = state
        .staff
        .record_outcome(
            &caller.member,
            &actor(&caller, &client),
            AppointmentId::from_uuid(id),
            outcome,
        )
        .await?;
    Ok(Json(appointment.into()))
}

/// Marks a visit completed: only the appointment's doctor (or an admin), once it has started.
/// Repeating the request changes nothing.
#[utoipa::path(post, path = "/api/v1/doctor/appointments/{id}/complete", tag = "doctor",
    params(("id" = Uuid, Path, description = "Appointment id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = DoctorAppointmentResponse),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such appointment, or another doctor's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not started yet, cancelled, or already marked otherwise (`invalid_state`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn complete(
    State(state): State<AppState>,
    caller: StaffCaller,
    client: ClientIp,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<DoctorAppointmentResponse>> {
    record_outcome(state, caller, client, id, Outcome::Completed).await
}

/// Marks a visit as a no-show: only the appointment's doctor (or an admin), once it has
/// started. Repeating the request changes nothing.
#[utoipa::path(post, path = "/api/v1/doctor/appointments/{id}/no-show", tag = "doctor",
    params(("id" = Uuid, Path, description = "Appointment id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = DoctorAppointmentResponse),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such appointment, or another doctor's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not started yet, cancelled, or already marked otherwise (`invalid_state`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn no_show(
    State(state): State<AppState>,
    caller: StaffCaller,
    client: ClientIp,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<DoctorAppointmentResponse>> {
    record_outcome(state, caller, client, id, Outcome::NoShow).await
}
