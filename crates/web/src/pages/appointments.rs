//! The patient's appointments: `GET /appointments` (upcoming and past), cancelling with a
//! confirmation page (`GET` then `POST /appointments/{id}/cancel`) and moving one through the
//! doctor's week picker (`GET /appointments/{id}/reschedule?week=`), whose forms hold a slot
//! with the appointment's id attached so the hold page moves it instead of booking anew.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use medibook_core::BookingError;
use medibook_core::audit::{AuditAction, AuditEvent};
use medibook_core::booking::{Appointment, AppointmentStatus};
use medibook_core::clinic::Doctor;

use crate::pages::booking::{AppointmentView, own_appointment};
use crate::pages::browse::query_param;
use crate::pages::desk::ForPatient;
use crate::pages::doctor::picker_page;
use crate::pages::error::{PageError, PageResult};
use crate::pages::forms::{SameSite, actor, audit};
use crate::pages::{Layout, Section, SignedIn};
use crate::shell::AppState;
use crate::shell::client::ClientIp;

#[derive(Template, WebTemplate)]
#[template(path = "appointments.html")]
struct AppointmentsPage {
    layout: Layout,
    upcoming: Vec<AppointmentView>,
    past: Vec<AppointmentView>,
    notice: Option<&'static str>,
    /// The one time zone of every appointment listed, said once; `None` when they differ (each
    /// then says its own).
    one_zone: Option<String>,
}

/// The time zone all of `views` share, if they share one.
fn one_zone<'a>(mut views: impl Iterator<Item = &'a AppointmentView>) -> Option<String> {
    let first = views.next()?.time_zone.clone();
    views.all(|v| v.time_zone == first).then_some(first)
}

/// `GET /appointments`: upcoming ones soonest first, then past and cancelled ones, latest first.
pub async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    client: ClientIp,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let person = signed_in.person.clone();
    let appointments = state.bookings.appointments_of(person.auth.id).await?;
    audit(
        &state,
        &person,
        &client,
        AuditEvent::new(
            AuditAction::AppointmentList,
            "patient",
            Some(person.auth.id.to_string()),
        )
        .with_patient(person.auth.id)
        .with_detail(format!("{} appointments", appointments.len())),
    )
    .await?;
    let doctors = state.catalogue.search(None, None).await?;
    let now = state.bookings.now();
    let late_window = state.bookings.policy().late_cancellation;
    let mut upcoming = Vec::new();
    let mut past = Vec::new();
    for appointment in &appointments {
        let Some(doctor) = doctors.iter().find(|d| d.id == appointment.doctor_id) else {
            continue;
        };
        let view = AppointmentView::new(appointment, doctor, now, late_window);
        if view.upcoming {
            upcoming.push(view);
        } else {
            past.push(view);
        }
    }
    past.reverse();
    let notice = match query_param(raw.as_deref(), "notice").as_deref() {
        Some("cancelled") => Some("Your appointment is cancelled."),
        Some("cancelled-late") => Some(
            "Your appointment is cancelled. It was inside the late-cancellation window, so it counts as a late cancellation.",
        ),
        _ => None,
    };
    let page = AppointmentsPage {
        layout: Layout::new(
            &signed_in.viewer(),
            "My appointments",
            Section::Appointments,
            &uri,
        ),
        one_zone: one_zone(upcoming.iter().chain(&past)),
        upcoming,
        past,
        notice,
    };
    Ok(page.into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "cancel.html")]
struct CancelPage {
    layout: Layout,
    appointment: AppointmentView,
}

/// `GET /appointments/{id}/cancel`: asks before cancelling.
pub async fn confirm_cancel(
    State(state): State<AppState>,
    signed_in: SignedIn,
    client: ClientIp,
    uri: Uri,
    Path(id): Path<String>,
) -> PageResult<Response> {
    let (appointment, doctor) = own_appointment(&state, &signed_in.person, &client, &id).await?;
    let view = view_of(&state, &appointment, &doctor);
    if !view.upcoming {
        return Err(not_changeable(&view));
    }
    let page = CancelPage {
        layout: Layout::new(
            &signed_in.viewer(),
            "Cancel this appointment?",
            Section::Appointments,
            &uri,
        ),
        appointment: view,
    };
    Ok(page.into_response())
}

/// The view of `appointment` now, with the clinic's late-cancellation window.
fn view_of(state: &AppState, appointment: &Appointment, doctor: &Doctor) -> AppointmentView {
    AppointmentView::new(
        appointment,
        doctor,
        state.bookings.now(),
        state.bookings.policy().late_cancellation,
    )
}

fn not_changeable(view: &AppointmentView) -> PageError {
    PageError::new(
        StatusCode::CONFLICT,
        "This appointment cannot be changed",
        format!(
            "Your appointment with {} on {} is {}, so it can no longer be cancelled or moved.",
            view.doctor_name,
            view.when,
            view.status.to_lowercase()
        ),
    )
    .with_link("/appointments", "My appointments")
}

/// `POST /appointments/{id}/cancel`: cancels and goes back to the list, saying whether the
/// cancellation counted as late.
pub async fn cancel(
    State(state): State<AppState>,
    signed_in: SignedIn,
    client: ClientIp,
    _: SameSite,
    Path(id): Path<String>,
) -> PageResult<Response> {
    let person = signed_in.person;
    let (appointment, doctor) = own_appointment(&state, &person, &client, &id).await?;
    match state
        .desk
        .cancel(&actor(&person, &client), person.auth.id, appointment.id)
        .await
    {
        // The desk, cancelling for a patient, goes back to the patient's page.
        Ok(cancelled) if cancelled.patient_id != person.auth.id => Ok(Redirect::to(&format!(
            "/desk/patients/{}?notice=cancelled",
            cancelled.patient_id
        ))
        .into_response()),
        Ok(cancelled) => {
            let notice = if cancelled.late_cancellation {
                "cancelled-late"
            } else {
                "cancelled"
            };
            Ok(Redirect::to(&format!("/appointments?notice={notice}")).into_response())
        }
        Err(BookingError::InvalidState(_)) => {
            let view = view_of(&state, &appointment, &doctor);
            Err(not_changeable(&view))
        }
        Err(other) => Err(other.into()),
    }
}

/// `GET /appointments/{id}/reschedule?week=`: the doctor's week picker, moving this appointment.
pub async fn reschedule(
    State(state): State<AppState>,
    signed_in: SignedIn,
    client: ClientIp,
    uri: Uri,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let (appointment, doctor) = own_appointment(&state, &signed_in.person, &client, &id).await?;
    if appointment.status != AppointmentStatus::Scheduled {
        let view = view_of(&state, &appointment, &doctor);
        return Err(not_changeable(&view));
    }
    picker_page(
        &state,
        &signed_in.viewer(),
        &uri,
        doctor.id,
        raw.as_deref(),
        Some(appointment.id),
        ForPatient::of(&state, &signed_in.person, appointment.patient_id).await?,
    )
    .await
}
