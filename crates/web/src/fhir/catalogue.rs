//! The public side of the FHIR door: what the server supports, the practitioners, their roles,
//! the specialties as healthcare services, schedules and live slots. Anyone may read these, as
//! anyone may browse the clinic on the web.

use std::collections::HashMap;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use jiff::{SignedDuration, Timestamp};
use medibook_core::clinic::{Doctor, Specialty};
use medibook_core::ids::{DoctorId, SpecialtyId};
use medibook_core::{BookingError, search as words};
use serde_json::{Value, json};

use super::search::{Params, invalid, reference_id, uuid_id};
use super::{Fhir, base_url, searchset, wanted};
use crate::shell::AppState;
use crate::shell::error::ApiResult;
use crate::shell::extract::ApiPath;
use crate::shell::fhir::{self as resources, SlotId};

/// The window of a slot search when no `start` is given.
const DEFAULT_SLOT_DAYS: i64 = 7;
/// The widest window one slot search may cover.
const MAX_SLOT_DAYS: i64 = 28;

/// `GET /fhir/r4/metadata`: the CapabilityStatement.
pub async fn metadata(State(state): State<AppState>, headers: HeaderMap) -> Fhir {
    let base = base_url(&state, &headers);
    let searches = |params: &[(&str, &str)]| -> Vec<Value> {
        params
            .iter()
            .map(|(name, kind)| json!({ "name": name, "type": kind }))
            .collect()
    };
    let read_search = |kind: &str, params: &[(&str, &str)]| {
        json!({
            "type": kind,
            "interaction": [{ "code": "read" }, { "code": "search-type" }],
            "searchParam": searches(params),
        })
    };
    let mut appointment = read_search(
        "Appointment",
        &[
            ("_id", "token"),
            ("patient", "reference"),
            ("actor", "reference"),
            ("practitioner", "reference"),
            ("date", "date"),
            ("status", "token"),
        ],
    );
    appointment["interaction"] = json!([
        { "code": "read" }, { "code": "search-type" }, { "code": "create" },
        { "code": "patch" }, { "code": "update" },
    ]);
    appointment["documentation"] = json!(
        "Book with POST: an Appointment whose `slot` references a free Slot, the reason in \
         `reasonCode[0].text` or `description`; the signed-in patient is the participant (the \
         front desk may name another Patient). Cancel with PATCH (JSON Patch replacing \
         /status with `cancelled`) or PUT with `status: cancelled`."
    );
    let mut slot = read_search(
        "Slot",
        &[
            ("_id", "token"),
            ("schedule", "reference"),
            ("start", "date"),
            ("status", "token"),
        ],
    );
    slot["documentation"] = json!(
        "Live slots of one doctor (`schedule=Schedule/{id}`, or the chain \
         `schedule.actor=Practitioner/{id}`) or of every doctor, over at most 28 days of \
         `start` (a week from now when none is given). Statuses: free, busy-tentative (held \
         for five minutes), busy."
    );
    appointment["documentation"] = json!(format!(
        "{} Searches: a patient finds all of their own; a doctor their agenda and the front \
         desk the clinic's, over a window of `date` (from today for 31 days when not given, at \
         most 92 days), not cancelled ones.",
        appointment["documentation"].as_str().unwrap_or_default()
    ));
    Fhir::ok(json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": resources::instant(state.bookings.now()),
        "publisher": "MediBook",
        "kind": "instance",
        "software": { "name": "MediBook", "version": env!("CARGO_PKG_VERSION") },
        "implementation": { "description": "MediBook's FHIR R4 facade", "url": base },
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "security": {
                "description": "Bearer access tokens from MediBook's one-time-code sign-in \
                                (POST /api/v1/auth/otp, then /api/v1/auth/verify). Practitioners, \
                                roles, services, schedules and slots are public; appointments and \
                                patients need a token: a patient sees their own, a doctor their \
                                agenda and its patients, the front desk the clinic's."
            },
            "resource": [
                read_search("Practitioner", &[("_id", "token"), ("name", "string")]),
                read_search("PractitionerRole", &[("_id", "token"), ("practitioner", "reference"), ("service", "reference")]),
                read_search("HealthcareService", &[("_id", "token"), ("name", "string")]),
                read_search("Schedule", &[("_id", "token"), ("actor", "reference")]),
                slot,
                appointment,
                read_search("Patient", &[("_id", "token"), ("name", "string")]),
            ],
        }],
    }))
}

/// The clinic's doctors (by name) and specialties.
async fn clinic(state: &AppState) -> ApiResult<(Vec<Doctor>, HashMap<SpecialtyId, Specialty>)> {
    let doctors = state.catalogue.search(None, None).await?;
    let specialties = state
        .catalogue
        .specialties()
        .await?
        .into_iter()
        .map(|s| (s.specialty.id, s.specialty))
        .collect();
    Ok((doctors, specialties))
}

/// The doctor an id names, or `NotFound`.
async fn doctor(state: &AppState, id: &str) -> ApiResult<Doctor> {
    let id = uuid_id(id).ok_or(BookingError::NotFound("doctor"))?;
    Ok(state.catalogue.doctor(DoctorId::from_uuid(id)).await?)
}

/// Whether every word of `query` starts a word of `name` (case and accents aside).
fn name_matches(name: &str, query: &str) -> bool {
    let name_words = words::words(name);
    words::words(query)
        .iter()
        .all(|q| name_words.iter().any(|w| w.starts_with(q.as_str())))
}

/// `GET /fhir/r4/Practitioner/{id}`.
pub async fn practitioner(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Fhir> {
    Ok(Fhir::ok(resources::practitioner(
        &doctor(&state, &id).await?,
    )))
}

/// `GET /fhir/r4/Practitioner?name=…&_id=…`.
pub async fn practitioners(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<Fhir> {
    let params = Params::parse(query.as_deref(), &["_id", "name"])?;
    let ids = params.tokens("_id");
    let (doctors, _) = clinic(&state).await?;
    let matches = doctors
        .iter()
        .filter(|d| wanted(ids.as_deref(), d.id))
        .filter(|d| params.all("name").all(|q| name_matches(&d.name, q)))
        .map(resources::practitioner)
        .collect();
    Ok(searchset(
        &state,
        &headers,
        "Practitioner",
        &params,
        matches,
    ))
}

/// `GET /fhir/r4/PractitionerRole/{id}` (the doctor's id).
pub async fn practitioner_role(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Fhir> {
    let doctor = doctor(&state, &id).await?;
    let specialty = state.catalogue.specialty(doctor.specialty_id).await.ok();
    Ok(Fhir::ok(resources::practitioner_role(
        &doctor,
        specialty.as_ref(),
    )))
}

/// `GET /fhir/r4/PractitionerRole?practitioner=…&service=…`.
pub async fn practitioner_roles(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<Fhir> {
    let params = Params::parse(query.as_deref(), &["_id", "practitioner", "service"])?;
    let ids = params.tokens("_id");
    let practitioner = params
        .one("practitioner")?
        .map(|p| reference_id("practitioner", p, "Practitioner"))
        .transpose()?;
    let service = params
        .one("service")?
        .map(|s| reference_id("service", s, "HealthcareService"))
        .transpose()?;
    let (doctors, specialties) = clinic(&state).await?;
    let matches = doctors
        .iter()
        .filter(|d| wanted(ids.as_deref(), d.id))
        .filter(|d| practitioner.as_ref().is_none_or(|p| *p == d.id.to_string()))
        .filter(|d| {
            service
                .as_ref()
                .is_none_or(|s| *s == d.specialty_id.to_string())
        })
        .map(|d| resources::practitioner_role(d, specialties.get(&d.specialty_id)))
        .collect();
    Ok(searchset(
        &state,
        &headers,
        "PractitionerRole",
        &params,
        matches,
    ))
}

/// `GET /fhir/r4/HealthcareService/{id}` (a specialty).
pub async fn healthcare_service(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Fhir> {
    let id = uuid_id(&id).ok_or(BookingError::NotFound("specialty"))?;
    let specialty = state
        .catalogue
        .specialty(SpecialtyId::from_uuid(id))
        .await?;
    Ok(Fhir::ok(resources::healthcare_service(&specialty)))
}

/// `GET /fhir/r4/HealthcareService?name=…`.
pub async fn healthcare_services(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<Fhir> {
    let params = Params::parse(query.as_deref(), &["_id", "name"])?;
    let ids = params.tokens("_id");
    let mut specialties: Vec<Specialty> = state
        .catalogue
        .specialties()
        .await?
        .into_iter()
        .map(|s| s.specialty)
        .collect();
    specialties.sort_by(|a, b| a.name.cmp(&b.name));
    let matches = specialties
        .iter()
        .filter(|s| wanted(ids.as_deref(), s.id))
        .filter(|s| params.all("name").all(|q| name_matches(&s.name, q)))
        .map(resources::healthcare_service)
        .collect();
    Ok(searchset(
        &state,
        &headers,
        "HealthcareService",
        &params,
        matches,
    ))
}

/// `GET /fhir/r4/Schedule/{id}` (the doctor's id).
pub async fn schedule(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Fhir> {
    let doctor = doctor(&state, &id).await?;
    let specialty = state.catalogue.specialty(doctor.specialty_id).await.ok();
    Ok(Fhir::ok(resources::schedule(
        &doctor,
        specialty.as_ref(),
        state.bookings.now(),
    )))
}

/// `GET /fhir/r4/Schedule?actor=Practitioner/{id}`.
pub async fn schedules(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<Fhir> {
    let params = Params::parse(query.as_deref(), &["_id", "actor"])?;
    let ids = params.tokens("_id");
    // A schedule's actors are the doctor as Practitioner and as PractitionerRole (same id).
    let actor = params
        .one("actor")?
        .map(|a| {
            reference_id("actor", a, "Practitioner")
                .or_else(|_| reference_id("actor", a, "PractitionerRole"))
        })
        .transpose()?;
    let (doctors, specialties) = clinic(&state).await?;
    let now = state.bookings.now();
    let matches = doctors
        .iter()
        .filter(|d| wanted(ids.as_deref(), d.id))
        .filter(|d| actor.as_ref().is_none_or(|a| *a == d.id.to_string()))
        .map(|d| resources::schedule(d, specialties.get(&d.specialty_id), now))
        .collect();
    Ok(searchset(&state, &headers, "Schedule", &params, matches))
}

/// `GET /fhir/r4/Slot/{id}`: the slot as listed now; 404 when it is not offered (any more).
pub async fn slot(State(state): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<Fhir> {
    let not_found = || BookingError::NotFound("slot");
    let id = SlotId::decode(&id).ok_or_else(not_found)?;
    let doctor = state.catalogue.doctor(id.doctor_id).await?;
    let date = doctor.time_zone.tz().to_datetime(id.start).date();
    let listed = state.bookings.slots(doctor.id, date, 1).await?;
    let view = listed
        .iter()
        .find(|s| s.start == id.start)
        .ok_or_else(not_found)?;
    Ok(Fhir::ok(resources::slot(doctor.id, view)))
}

/// `GET /fhir/r4/Slot?schedule.actor=Practitioner/{id}&start=ge…&start=lt…&status=free`:
/// live slots of one doctor (`schedule` or `schedule.actor`) or of every doctor, by start,
/// over at most four weeks (a week from now when no `start` is given).
pub async fn slots(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<Fhir> {
    let params = Params::parse(
        query.as_deref(),
        &["_id", "schedule", "schedule.actor", "start", "status"],
    )?;
    let mut wanted: Option<String> = None;
    for (name, kind) in [("schedule", "Schedule"), ("schedule.actor", "Practitioner")] {
        if let Some(value) = params.one(name)? {
            let id = reference_id(name, value, kind)?;
            if wanted.as_ref().is_some_and(|w| *w != id) {
                return Err(invalid(
                    "`schedule` and `schedule.actor` name different doctors",
                ));
            }
            wanted = Some(id);
        }
    }
    let doctors = match &wanted {
        Some(id) => match uuid_id(id) {
            Some(uuid) => match state.catalogue.doctor(DoctorId::from_uuid(uuid)).await {
                Ok(doctor) => vec![doctor],
                Err(BookingError::NotFound(_)) => Vec::new(),
                Err(other) => return Err(other.into()),
            },
            None => Vec::new(),
        },
        None => state.catalogue.search(None, None).await?,
    };
    let statuses = params.tokens("status");
    if let Some(unknown) = statuses
        .iter()
        .flatten()
        .find(|s| !["free", "busy", "busy-tentative", "busy-unavailable"].contains(&s.as_str()))
    {
        return Err(invalid(format!(
            "`status` is free, busy, busy-tentative or busy-unavailable, not `{unknown}`"
        )));
    }
    let ids: Option<Vec<SlotId>> = params
        .tokens("_id")
        .map(|ids| ids.iter().filter_map(|id| SlotId::decode(id)).collect());
    let range = slot_window(&state, &params, ids.as_deref())?;
    // Each doctor's dates are in their own zone: list a day either side of the UTC dates.
    let out_of_range = || invalid("start is out of range");
    let day = SignedDuration::from_hours(24);
    let first = utc_date(range.0.checked_sub(day).map_err(|_| out_of_range())?);
    let last = utc_date(range.1.checked_add(day).map_err(|_| out_of_range())?);
    let span = first.until(last).map_err(|_| out_of_range())?;
    let days = u16::try_from(span.get_days() + 1).map_err(|_| out_of_range())?;
    let mut found: Vec<(Timestamp, Value)> = Vec::new();
    for (doctor_id, listed) in state.bookings.slots_of(&doctors, first, days).await? {
        for view in listed {
            let in_window = range.0 <= view.start && view.start < range.1;
            let status = resources::slot_status(view.status);
            let id = SlotId {
                doctor_id,
                start: view.start,
            };
            if in_window
                && statuses
                    .as_ref()
                    .is_none_or(|s| s.iter().any(|s| s == status))
                && ids.as_ref().is_none_or(|ids| ids.contains(&id))
            {
                found.push((view.start, resources::slot(doctor_id, &view)));
            }
        }
    }
    found.sort_by_key(|(start, _)| *start);
    let matches = found.into_iter().map(|(_, slot)| slot).collect();
    Ok(searchset(&state, &headers, "Slot", &params, matches))
}

/// The instants a slot search covers: `start` as asked, else around the slots asked for by id,
/// else a week from now.
fn slot_window(
    state: &AppState,
    params: &Params,
    ids: Option<&[SlotId]>,
) -> ApiResult<(Timestamp, Timestamp)> {
    let mut asked = params.range("start")?;
    // Slots asked for by id, without `start`: the window around them.
    if asked == super::search::Range::default()
        && let Some(ids) = ids
        && let (Some(first), Some(last)) = (
            ids.iter().map(|id| id.start).min(),
            ids.iter().map(|id| id.start).max(),
        )
    {
        asked.from = Some(first);
        asked.to = last.checked_add(SignedDuration::from_secs(1)).ok();
    }
    let now = state.bookings.now();
    let default = SignedDuration::from_hours(24 * DEFAULT_SLOT_DAYS);
    let out_of_range = || invalid("start is out of range");
    let (from, to) = match (asked.from, asked.to) {
        (Some(from), Some(to)) => (from, to),
        (Some(from), None) => (from, from.checked_add(default).map_err(|_| out_of_range())?),
        (None, Some(to)) => (now.min(to), to),
        (None, None) => (now, now.checked_add(default).map_err(|_| out_of_range())?),
    };
    if to.duration_since(from) > SignedDuration::from_hours(24 * MAX_SLOT_DAYS) {
        return Err(invalid(format!(
            "a slot search covers at most {MAX_SLOT_DAYS} days: narrow `start`"
        )));
    }
    Ok((from, to.max(from)))
}

fn utc_date(at: Timestamp) -> jiff::civil::Date {
    at.to_zoned(jiff::tz::TimeZone::UTC).date()
}
