//! Coming back to a chosen slot after signing in. A visitor who picks a time is sent to sign in
//! with `next=/book/resume?doctor_id=…&start=…[&reschedule=…]`; once the code is accepted (or,
//! for a new patient, once the welcome step is answered) — both form posts checked against
//! cross-site use — the slot is held at once and the patient lands on the hold page, or on the
//! picker at that week saying why the time could not be held. A plain `GET` of the address
//! changes nothing: it shows the picker at that week.

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use medibook_core::audit::Actor;
use medibook_core::ids::{AppointmentId, DoctorId, UserId};

use crate::pages::booking::{hold_target, picker_href};
use crate::pages::browse::query_param;
use crate::pages::error::PageResult;
use crate::pages::signin::encode_component;
use crate::shell::AppState;

const RESUME_PATH: &str = "/book/resume";

/// The chosen slot, as the address sign-in returns to.
pub fn resume_href(
    doctor_id: DoctorId,
    start: Timestamp,
    reschedule: Option<AppointmentId>,
) -> String {
    let mut href = format!(
        "{RESUME_PATH}?doctor_id={doctor_id}&start={}",
        encode_component(&start.to_string())
    );
    if let Some(id) = reschedule {
        href.push_str(&format!("&reschedule={id}"));
    }
    href
}

/// The slot a resume address names.
struct Chosen {
    doctor_id: DoctorId,
    start: Timestamp,
    reschedule: Option<AppointmentId>,
}

fn chosen(query: Option<&str>) -> Option<Chosen> {
    Some(Chosen {
        doctor_id: query_param(query, "doctor_id")?.parse().ok()?,
        start: query_param(query, "start")?.parse().ok()?,
        reschedule: query_param(query, "reschedule").and_then(|id| id.parse().ok()),
    })
}

/// Where a person who just signed in (or was welcomed) goes: for a resume address, the chosen
/// slot is held for them first (the hold page, or the picker saying why not); anything else
/// is `next` itself.
pub async fn after_sign_in(
    state: &AppState,
    actor: &Actor,
    patient: UserId,
    next: &str,
) -> PageResult<String> {
    let Some(query) = next
        .strip_prefix(RESUME_PATH)
        .and_then(|rest| rest.strip_prefix('?'))
    else {
        return Ok(next.to_owned());
    };
    let Some(slot) = chosen(Some(query)) else {
        return Ok("/".to_owned());
    };
    let Ok(doctor) = state.catalogue.doctor(slot.doctor_id).await else {
        return Ok("/".to_owned());
    };
    hold_target(state, actor, patient, &doctor, slot.start, slot.reschedule).await
}

/// `GET /book/resume?…`: the picker at the chosen slot's week (a `GET` holds nothing).
pub async fn resume(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let Some(slot) = chosen(raw.as_deref()) else {
        return Ok(Redirect::to("/").into_response());
    };
    let doctor = state.catalogue.doctor(slot.doctor_id).await?;
    let week = doctor
        .time_zone
        .tz()
        .to_datetime(slot.start)
        .date()
        .to_string();
    Ok(Redirect::to(&picker_href(doctor.id, Some(&week), None, slot.reschedule)).into_response())
}
