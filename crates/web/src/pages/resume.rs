//! Coming back to a chosen slot after signing in. A visitor who picks a time is sent to sign in
//! with `next=/book/resume?doctor_id=…&start=…[&reschedule=…]`; once the code is accepted (or,
//! for a new patient, once the welcome step is answered) — both form posts checked against
//! cross-site use — the slot is held at once and the patient lands on the hold page, or on the
//! picker at that week saying why the time could not be held. A plain `GET` of the address
//! changes nothing: it shows the picker at that week.

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use medibook_core::BookingError;
use medibook_core::audit::Actor;
use medibook_core::booking_service::HoldPurpose;
use medibook_core::clinic::Doctor;
use medibook_core::ids::{AppointmentId, DoctorId, UserId};

use crate::pages::booking::{picker_href, week_of};
use crate::pages::browse::query_param;
use crate::pages::desk::with_patient;
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
    hold_target(
        state,
        actor,
        patient,
        None,
        &doctor,
        slot.start,
        slot.reschedule,
    )
    .await
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
    let week = week_of(slot.start, doctor.time_zone.tz());
    Ok(Redirect::to(&picker_href(doctor.id, Some(&week), None, slot.reschedule)).into_response())
}

/// Holds `start` of `doctor` for `caller` (or, at the desk, for `for_patient`); the address to
/// go to next: the hold page, or the picker at that week saying why not.
pub(crate) async fn hold_target(
    state: &AppState,
    actor: &Actor,
    caller: UserId,
    for_patient: Option<UserId>,
    doctor: &Doctor,
    start: Timestamp,
    reschedule: Option<AppointmentId>,
) -> PageResult<String> {
    let purpose = reschedule.map_or(HoldPurpose::NewAppointment, HoldPurpose::Moving);
    match state
        .desk
        .hold(actor, caller, for_patient, doctor.id, start, purpose)
        .await
    {
        Ok(claimed) => {
            let mut to = format!("/holds/{}", claimed.hold.id);
            if let Some(id) = reschedule {
                to.push_str(&format!("?reschedule={id}"));
            }
            Ok(to)
        }
        Err(error) => {
            let notice = match error {
                BookingError::SlotTaken => {
                    crate::shell::metrics::slot_taken();
                    "taken"
                }
                BookingError::SlotUnavailable(_) | BookingError::Validation(_) => "unavailable",
                BookingError::DayFull => "day-full",
                BookingError::LimitReached(_) => "limit",
                BookingError::AppointmentLimit(_) => "appointment-limit",
                other => return Err(other.into()),
            };
            let week = week_of(start, doctor.time_zone.tz());
            let picker = picker_href(doctor.id, Some(&week), Some(notice), reschedule);
            Ok(with_patient(picker, for_patient.filter(|p| *p != caller)))
        }
    }
}
