//! The signed-in side of the FHIR door: appointments (read, search, book, cancel) and patients
//! (read, search), through the front desk's services, which decide who sees what: a patient
//! their own, a doctor their agenda and its patients, the desk the clinic's.

use std::collections::HashMap;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medibook_core::BookingError;
use medibook_core::audit::Actor;
use medibook_core::booking::{Appointment, Reason};
use medibook_core::clinic::Doctor;
use medibook_core::desk::AppointmentSearch;
use medibook_core::ids::{AppointmentId, DoctorId, UserId};
use serde_json::Value;

use super::search::{Params, invalid, reference_id, reference_ids, uuid_id};
use super::{Fhir, FhirBody, base_url, searchset, wanted};
use crate::shell::AppState;
use crate::shell::auth::AuthUser;
use crate::shell::client::ClientIp;
use crate::shell::error::{ApiError, ApiResult};
use crate::shell::extract::ApiPath;
use crate::shell::fhir::{self as resources, SlotId};

/// Most patients one `Patient?_id=` search names.
const MAX_PATIENT_IDS: usize = 20;

/// The type and id of a reference (`Patient/{id}`, or a full URL ending so); `None` for
/// anything else.
fn typed_reference(reference: &str) -> Option<(&str, &str)> {
    let mut parts = reference.trim_end_matches('/').rsplit('/');
    let id = parts.next().filter(|id| !id.is_empty())?;
    let kind = parts.next().filter(|kind| !kind.is_empty())?;
    Some((kind, id))
}

/// The clinic's doctors by id, to name them in appointments.
async fn doctors(state: &AppState) -> ApiResult<HashMap<DoctorId, Doctor>> {
    Ok(state
        .catalogue
        .search(None, None)
        .await?
        .into_iter()
        .map(|d| (d.id, d))
        .collect())
}

fn appointment_id(raw: &str) -> ApiResult<AppointmentId> {
    uuid_id(raw)
        .map(AppointmentId::from_uuid)
        .ok_or_else(|| BookingError::NotFound("appointment").into())
}

async fn one(state: &AppState, appointment: &Appointment) -> ApiResult<Value> {
    let doctor = state.catalogue.doctor(appointment.doctor_id).await.ok();
    Ok(resources::appointment(appointment, doctor.as_ref()))
}

/// `GET /fhir/r4/Appointment/{id}`.
pub async fn read(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Fhir> {
    let actor = Actor::user(user.id, user.role, client.key());
    let appointment = state
        .desk
        .visible_appointment(&actor, user.id, appointment_id(&id)?)
        .await?;
    Ok(Fhir::ok(one(&state, &appointment).await?))
}

/// `GET /fhir/r4/Appointment?patient=…&actor=…&date=ge…&status=…`.
pub async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: AuthUser,
    client: ClientIp,
    RawQuery(query): RawQuery,
) -> ApiResult<Fhir> {
    let params = Params::parse(
        query.as_deref(),
        &["_id", "patient", "actor", "practitioner", "date", "status"],
    )?;
    let Some(search) = appointment_search(&params)? else {
        return Ok(searchset(
            &state,
            &headers,
            "Appointment",
            &params,
            Vec::new(),
        ));
    };
    let actor = Actor::user(user.id, user.role, client.key());
    let found = state
        .desk
        .visible_appointments(&actor, user.id, &search)
        .await?;
    let ids = params.tokens("_id");
    let doctors = doctors(&state).await?;
    let matches = found
        .iter()
        .filter(|a| wanted(ids.as_deref(), a.id))
        .map(|a| resources::appointment(a, doctors.get(&a.doctor_id)))
        .collect();
    Ok(searchset(&state, &headers, "Appointment", &params, matches))
}

/// The core search a FHIR appointment search stands for; `None` when it names an id that is
/// none of ours (nothing can match).
fn appointment_search(params: &Params) -> ApiResult<Option<AppointmentSearch>> {
    let mut search = AppointmentSearch::default();
    let mut patients = reference_ids(params, "patient", "Patient")?;
    let mut practitioners = reference_ids(params, "practitioner", "Practitioner")?;
    for value in params.all("actor") {
        for one in value.split(',') {
            match typed_reference(one.trim()) {
                Some(("Patient", id)) => patients.push(id.to_owned()),
                Some(("Practitioner" | "PractitionerRole", id)) => {
                    practitioners.push(id.to_owned())
                }
                _ => {
                    return Err(invalid(
                        "`actor` is a reference like Patient/{id} or Practitioner/{id}",
                    ));
                }
            }
        }
    }
    patients.sort();
    patients.dedup();
    practitioners.sort();
    practitioners.dedup();
    if patients.len() > 1 || practitioners.len() > 1 {
        return Err(invalid("search one patient and one practitioner at a time"));
    }
    if let Some(id) = patients.first() {
        let Some(uuid) = uuid_id(id) else {
            return Ok(None);
        };
        search.patient = Some(UserId::from_uuid(uuid));
    }
    if let Some(id) = practitioners.first() {
        let Some(uuid) = uuid_id(id) else {
            return Ok(None);
        };
        search.doctor = Some(DoctorId::from_uuid(uuid));
    }
    let range = params.range("date")?;
    search.from = range.from;
    search.to = range.to;
    if let Some(codes) = params.tokens("status") {
        for code in codes {
            let status = resources::statuses_of(&code).ok_or_else(|| {
                invalid(format!(
                    "`status` is booked, fulfilled, cancelled or noshow, not `{code}`"
                ))
            })?;
            search.statuses.push(status);
        }
        if search.statuses.is_empty() {
            return Ok(None);
        }
    }
    Ok(Some(search))
}

/// `POST /fhir/r4/Appointment`: books the Slot the appointment references for the signed-in
/// patient (or, at the front desk, for the Patient it names) with a real hold and
/// confirmation; 201 with the Appointment and its `Location`.
pub async fn book(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: AuthUser,
    client: ClientIp,
    FhirBody(body): FhirBody,
) -> ApiResult<Response> {
    let request = BookingRequest::parse(&body)?;
    // Staff (as stored now, not as the token says) book for someone: they name the patient.
    if request.patient.is_none() && state.staff.member(user.id).await.is_ok() {
        return Err(ApiError::validation(
            StatusCode::UNPROCESSABLE_ENTITY,
            "name the patient: a participant whose actor is Patient/{id}",
        ));
    }
    let actor = Actor::user(user.id, user.role, client.key());
    let booked = state
        .desk
        .book_slot(
            &actor,
            user.id,
            request.patient,
            request.slot.doctor_id,
            request.slot.start,
            request.reason,
        )
        .await?;
    let resource = one(&state, &booked.appointment).await?;
    let location = format!(
        "{}/Appointment/{}",
        base_url(&state, &headers),
        booked.appointment.id
    );
    let mut response = Fhir(StatusCode::CREATED, resource).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// What a booking Appointment asks for.
struct BookingRequest {
    slot: SlotId,
    patient: Option<UserId>,
    reason: Reason,
}

impl BookingRequest {
    fn parse(body: &Value) -> ApiResult<Self> {
        if body["resourceType"] != "Appointment" {
            return Err(invalid("send an Appointment resource"));
        }
        let rule = |detail: &str| ApiError::validation(StatusCode::UNPROCESSABLE_ENTITY, detail);
        let slots = body["slot"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let [slot] = slots else {
            return Err(invalid("reference exactly one Slot in `slot`"));
        };
        let reference = slot["reference"]
            .as_str()
            .ok_or_else(|| invalid("`slot[0].reference` must be a reference like Slot/{id}"))?;
        let slot = SlotId::decode(&reference_id("slot", reference, "Slot")?)
            .ok_or(BookingError::NotFound("slot"))?;
        match body["status"].as_str() {
            None | Some("booked" | "proposed" | "pending") => {}
            Some(_) => return Err(rule("a new appointment's status is booked")),
        }
        if let Some(start) = body["start"].as_str()
            && start.parse::<jiff::Timestamp>().ok() != Some(slot.start)
        {
            return Err(rule("`start` is not the start of the referenced slot"));
        }
        let mut patients = Vec::new();
        for participant in body["participant"].as_array().into_iter().flatten() {
            let actor = &participant["actor"];
            if actor.is_null() {
                continue;
            }
            match actor["reference"].as_str().and_then(typed_reference) {
                Some(("Patient", id)) => {
                    let uuid = uuid_id(id).ok_or(BookingError::NotFound("patient"))?;
                    patients.push(UserId::from_uuid(uuid));
                }
                Some(("Practitioner" | "PractitionerRole", id))
                    if uuid_id(id) != Some(slot.doctor_id.as_uuid()) =>
                {
                    return Err(rule("the practitioner is not the slot's"));
                }
                Some(("Practitioner" | "PractitionerRole", _)) => {}
                _ => {
                    return Err(invalid(
                        "a participant's actor is a reference like Patient/{id} or \
                         Practitioner/{id}",
                    ));
                }
            }
        }
        patients.dedup();
        if patients.len() > 1 {
            return Err(rule("an appointment is for one patient"));
        }
        let patient = patients.pop();
        let reason = body["reasonCode"][0]["text"]
            .as_str()
            .or_else(|| body["description"].as_str())
            .or_else(|| body["comment"].as_str())
            .ok_or_else(|| {
                rule("say why the patient comes, in `reasonCode[0].text` or `description`")
            })?;
        Ok(Self {
            slot,
            patient,
            reason: Reason::parse(reason)?,
        })
    }
}

/// Cancels the appointment `id` if the caller may see it: the patient's own or, at the desk,
/// any patient's; a doctor who sees it but may not cancel it gets 403.
async fn cancel(
    state: &AppState,
    actor: &Actor,
    caller: UserId,
    id: AppointmentId,
) -> ApiResult<Value> {
    let seen = state.desk.visible_appointment(actor, caller, id).await?;
    if seen.status == medibook_core::booking::AppointmentStatus::Cancelled {
        return one(state, &seen).await;
    }
    let cancelled = match state.desk.cancel(actor, caller, id).await {
        Err(BookingError::NotFound(_)) => return Err(BookingError::Forbidden.into()),
        other => other?,
    };
    one(state, &cancelled).await
}

/// `PATCH /fhir/r4/Appointment/{id}` with a JSON Patch replacing `/status` by `cancelled`.
pub async fn patch(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiPath(id): ApiPath<String>,
    FhirBody(body): FhirBody,
) -> ApiResult<Fhir> {
    let id = appointment_id(&id)?;
    let operations = body
        .as_array()
        .ok_or_else(|| invalid("send a JSON Patch: an array of operations"))?;
    let only_cancel = !operations.is_empty()
        && operations.iter().all(|op| {
            op["path"] == "/status"
                && matches!(op["op"].as_str(), Some("replace" | "add"))
                && op["value"] == "cancelled"
        });
    if !only_cancel {
        return Err(ApiError::validation(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the one change supported is cancelling: [{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"cancelled\"}]",
        ));
    }
    let actor = Actor::user(user.id, user.role, client.key());
    Ok(Fhir::ok(cancel(&state, &actor, user.id, id).await?))
}

/// `PUT /fhir/r4/Appointment/{id}` with `status: cancelled` cancels; putting the appointment
/// back as it is changes nothing; any other change is refused with 422.
pub async fn put(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiPath(id): ApiPath<String>,
    FhirBody(body): FhirBody,
) -> ApiResult<Fhir> {
    let id = appointment_id(&id)?;
    if body["resourceType"] != "Appointment" {
        return Err(invalid("send an Appointment resource"));
    }
    if body["id"].as_str() != Some(id.to_string().as_str()) {
        return Err(invalid("the resource's id must be the one in the address"));
    }
    let actor = Actor::user(user.id, user.role, client.key());
    let current = state.desk.visible_appointment(&actor, user.id, id).await?;
    let stored = one(&state, &current).await?;
    let status = body["status"].as_str().unwrap_or_default();
    let current_status = resources::appointment_status(current.status);
    if !same_but_status(&body, &stored) || (status != "cancelled" && status != current_status) {
        return Err(ApiError::validation(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the one change supported is cancelling (status: cancelled); to move an \
             appointment, book the new slot and cancel this one",
        ));
    }
    if status == current_status {
        return Ok(Fhir::ok(stored));
    }
    Ok(Fhir::ok(cancel(&state, &actor, user.id, id).await?))
}

/// Whether `given` (a PUT's body) says what `stored` says, the status aside: instants compared
/// as instants, participants by whom they reference, fields left out as they are.
fn same_but_status(given: &Value, stored: &Value) -> bool {
    let actors = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["actor"]["reference"].as_str())
            .filter_map(typed_reference)
            .map(|(kind, id)| format!("{kind}/{id}"))
            .collect()
    };
    let instant = |v: &Value| v.as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok());
    [
        "start",
        "end",
        "slot",
        "participant",
        "reasonCode",
        "minutesDuration",
    ]
    .iter()
    .all(|field| match given.get(*field) {
        None => true,
        Some(value) => match *field {
            "start" | "end" => instant(value) == instant(&stored[*field]),
            "participant" => actors(value) == actors(&stored[*field]),
            _ => *value == stored[*field],
        },
    })
}

/// `GET /fhir/r4/Patient/{id}`: the caller's own, a patient on a doctor's agenda, or any
/// patient for the desk.
pub async fn patient(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Fhir> {
    let id = uuid_id(&id).ok_or(BookingError::NotFound("patient"))?;
    let actor = Actor::user(user.id, user.role, client.key());
    let card = state
        .desk
        .visible_patient(&actor, user.id, UserId::from_uuid(id))
        .await?;
    Ok(Fhir::ok(resources::patient(&card)))
}

/// `GET /fhir/r4/Patient?_id=…&name=…`: by id, the patients the caller may see; by name, the
/// desk's patient search (anyone else finds only themselves); with neither, the caller.
pub async fn patients(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: AuthUser,
    client: ClientIp,
    RawQuery(query): RawQuery,
) -> ApiResult<Fhir> {
    let params = Params::parse(query.as_deref(), &["_id", "name"])?;
    let actor = Actor::user(user.id, user.role, client.key());
    let name = params.one("name")?;
    let ids = params.tokens("_id");
    if ids.is_some() && name.is_some() {
        return Err(invalid("search patients by `_id` or by `name`, not both"));
    }
    if ids.as_ref().is_some_and(|ids| ids.len() > MAX_PATIENT_IDS) {
        return Err(invalid(format!(
            "at most {MAX_PATIENT_IDS} ids in one search"
        )));
    }
    let mut cards = Vec::new();
    if let Some(ids) = ids {
        for id in ids.iter().filter_map(|id| uuid_id(id)) {
            match state
                .desk
                .visible_patient(&actor, user.id, UserId::from_uuid(id))
                .await
            {
                Ok(card) => cards.push(card),
                Err(BookingError::NotFound(_)) => {}
                Err(other) => return Err(other.into()),
            }
        }
    } else if let Some(name) = name {
        cards = match state.desk.find_patients(&actor, user.id, name).await {
            // Not the desk: only the caller can be found, by their own name.
            Err(BookingError::Forbidden) => {
                let own = state.desk.visible_patient(&actor, user.id, user.id).await?;
                let words = medibook_core::search::words(name);
                let names =
                    medibook_core::search::words(own.user.name.as_deref().unwrap_or_default());
                let matches = words
                    .iter()
                    .all(|w| names.iter().any(|n| n.starts_with(w.as_str())));
                if matches { vec![own] } else { Vec::new() }
            }
            other => other?,
        };
    } else {
        cards.push(state.desk.visible_patient(&actor, user.id, user.id).await?);
    }
    let matches = cards.iter().map(resources::patient).collect();
    Ok(searchset(&state, &headers, "Patient", &params, matches))
}
