//! Booking on the pages: hold a slot, confirm or release the hold, see the booked appointment
//! and download it for a calendar.
//!
//! 1. `POST /book/hold` (`doctor_id`, `start`, optional `reschedule`): the slot picker's forms.
//!    Someone not signed in goes to sign-in and comes back to the doctor's week; a slot that is
//!    no longer free sends them back to the picker with `?notice=taken` (or `unavailable`),
//!    said on the page; a hold goes to its page.
//! 2. `GET /holds/{id}`: the held slot with a visible countdown (`assets/countdown.js`; without
//!    JavaScript the expiry time is printed), a reason field, **Confirm** and **Release**.
//! 3. `POST /book/confirm` (`hold_id`, `reason`, optional `reschedule`) books through the same
//!    core service as `POST /api/v1/appointments` (or moves the appointment like
//!    `POST /api/v1/appointments/{id}/reschedule`) and goes to `GET /appointments/{id}`.
//!    `POST /book/release` gives the hold back and returns to the picker.
//! 4. `GET /appointments/{id}/calendar.ics`: a one-event iCalendar file.
//!
//! Every post refuses a request sent from another site. Other people's holds and appointments
//! are "not found", exactly as in the API.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use medibook_core::BookingError;
use medibook_core::audit::{AuditAction, AuditEvent};
use medibook_core::booking::{Appointment, AppointmentStatus, Hold, HoldState, Reason};
use medibook_core::clinic::{ClinicInfo, Doctor};
use medibook_core::ids::{AppointmentId, DoctorId, HoldId, UserId};

use crate::pages::browse::{doctor_href, page_id, query_param};
use crate::pages::desk::{ForPatient, with_patient};
use crate::pages::error::{PageError, PageResult};
use crate::pages::format;
use crate::pages::forms::{PostedForm, actor, audit};
use crate::pages::signin::encode_component;
use crate::pages::viewer::Person;
use crate::pages::{Layout, Section, SignedIn, Viewer};
use crate::shell::AppState;
use crate::shell::client::ClientIp;

/// The doctor's picker at the week of `start`, with a notice and, when rescheduling, the
/// appointment being moved.
pub fn picker_href(
    doctor_id: DoctorId,
    week: Option<&str>,
    notice: Option<&str>,
    reschedule: Option<AppointmentId>,
) -> String {
    let mut params = Vec::new();
    if let Some(week) = week {
        params.push(format!("week={week}"));
    }
    if let Some(notice) = notice {
        params.push(format!("notice={notice}"));
    }
    let base = match reschedule {
        Some(id) => format!("/appointments/{id}/reschedule"),
        None => doctor_href(doctor_id),
    };
    if params.is_empty() {
        base
    } else {
        format!("{base}?{}", params.join("&"))
    }
}

/// The date (in the doctor's zone) of `start`, as the picker's `week` parameter.
pub(crate) fn week_of(start: Timestamp, tz: &TimeZone) -> String {
    tz.to_datetime(start).date().to_string()
}

/// `POST /book/hold`: holds the chosen slot.
pub async fn hold(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientIp,
    PostedForm(form): PostedForm,
) -> PageResult<Response> {
    let doctor_id =
        DoctorId::from_uuid(form.id("doctor_id").ok_or_else(|| {
            PageError::bad_request("Choose a time on a doctor's page to book it.")
        })?);
    let doctor = state.catalogue.doctor(doctor_id).await?;
    let tz = doctor.time_zone.tz().clone();
    let reschedule = form.id("reschedule").map(AppointmentId::from_uuid);
    let for_patient = form.id("patient_id").map(UserId::from_uuid);
    let start = form.get("start").parse::<Timestamp>().ok();
    let week = start.map(|s| week_of(s, &tz));
    let Some(person) = viewer.person else {
        // Sign-in comes back to this very slot and holds it (see `pages::resume`).
        let back = match start {
            Some(start) => crate::pages::resume::resume_href(doctor_id, start, reschedule),
            None => picker_href(doctor_id, week.as_deref(), None, reschedule),
        };
        return Ok(
            Redirect::to(&format!("/login?next={}", encode_component(&back))).into_response(),
        );
    };
    let Some(start) = start else {
        let back = picker_href(doctor_id, None, Some("unavailable"), reschedule);
        return Ok(Redirect::to(&with_patient(back, for_patient)).into_response());
    };
    let to = crate::pages::resume::hold_target(
        &state,
        &actor(&person, &client),
        person.auth.id,
        for_patient,
        &doctor,
        start,
        reschedule,
    )
    .await?;
    Ok(Redirect::to(&to).into_response())
}

/// What the picker says for `?notice=…` after a refused hold.
pub fn notice_message(notice: Option<&str>) -> Option<&'static str> {
    Some(match notice? {
        "taken" => "Sorry, someone else has just taken that time. Please choose another one.",
        "unavailable" => "That time can no longer be booked. Please choose another one.",
        "day-full" => "The doctor's day is fully booked. Please choose another day.",
        "limit" => {
            "You already hold or have booked as many appointments as allowed. Cancel one, or \
             confirm the time you are holding, before choosing another."
        }
        "appointment-limit" => {
            "You already have as many upcoming appointments as the clinic allows. Cancel one \
             in My appointments before booking another."
        }
        "expired" => "Your hold ran out, and the time was taken. Please choose another one.",
        "released" => "The time was released. Choose another one whenever you like.",
        "free-now" => {
            "A time that suits you is free right now, so there is no need to wait: book it \
             below."
        }
        "wait-invalid" => {
            "We could not add you to the waitlist: check the dates (the first before the last) \
             and the times (the earliest before the latest)."
        }
        _ => return None,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "hold.html")]
struct HoldPage {
    layout: Layout,
    hold_id: String,
    doctor_name: String,
    doctor_href: String,
    /// "Tuesday 2 March 2027, 09:30 to 09:50".
    when: String,
    start: String,
    time_zone: String,
    /// RFC 3339, for the countdown.
    expires_at: String,
    /// "09:35", printed for those without JavaScript.
    expires_clock: String,
    /// Whole minutes the hold lasts, for the initial countdown text.
    remaining: String,
    /// Whether its five minutes are over (it may still be confirmed while the slot is free).
    lapsed: bool,
    reschedule: Option<String>,
    /// The patient the desk is booking for, when it is not the person signed in.
    for_patient: Option<ForPatient>,
    reason: String,
    error: Option<String>,
}

/// What the hold page shows besides the form's own values.
struct HoldContext<'a> {
    person: &'a Person,
    uri: &'a Uri,
    hold: &'a Hold,
    doctor: &'a Doctor,
    now: Timestamp,
    reschedule: Option<AppointmentId>,
    for_patient: Option<ForPatient>,
}

impl<'a> HoldContext<'a> {
    /// The context of `hold`, with the patient the desk holds it for, if any.
    async fn load(
        state: &AppState,
        person: &'a Person,
        uri: &'a Uri,
        hold: &'a Hold,
        doctor: &'a Doctor,
        reschedule: Option<AppointmentId>,
    ) -> PageResult<Self> {
        Ok(Self {
            person,
            uri,
            hold,
            doctor,
            now: state.bookings.now(),
            reschedule,
            for_patient: ForPatient::of_hold(state, person, hold).await?,
        })
    }

    /// The hold page with the reason typed so far and what went wrong, if anything.
    fn page(&self, reason: String, error: Option<String>) -> HoldPage {
        let (hold, doctor) = (self.hold, self.doctor);
        let tz = doctor.time_zone.tz();
        let viewer = Viewer {
            person: Some(self.person.clone()),
        };
        let title = match (&self.for_patient, self.reschedule) {
            (Some(patient), _) => format!("Confirm the appointment for {}", patient.name),
            (None, Some(_)) => "Confirm the new time".to_owned(),
            (None, None) => "Confirm your appointment".to_owned(),
        };
        let seconds = hold.expires_at.duration_since(self.now).as_secs().max(0);
        HoldPage {
            layout: Layout::new(&viewer, title, Section::Appointments, self.uri)
                .with_script("countdown.js"),
            hold_id: hold.id.to_string(),
            doctor_name: doctor.name.clone(),
            doctor_href: doctor_href(doctor.id),
            when: format::slot_label(hold.start, hold.end, tz),
            start: hold.start.to_string(),
            time_zone: doctor.time_zone.name().to_owned(),
            expires_at: hold.expires_at.to_string(),
            expires_clock: format::clock_time(hold.expires_at, tz),
            remaining: format!("{}:{:02}", seconds / 60, seconds % 60),
            lapsed: seconds == 0,
            reschedule: self.reschedule.map(|id| id.to_string()),
            for_patient: self.for_patient.clone(),
            reason,
            error,
        }
    }
}

/// The page for a hold that can no longer be confirmed (its link keeps booking for the same
/// patient when the desk held it for one).
fn expired(
    doctor: &Doctor,
    hold: &Hold,
    reschedule: Option<AppointmentId>,
    person: &Person,
) -> PageError {
    let tz = doctor.time_zone.tz();
    PageError::new(
        StatusCode::GONE,
        "Your hold has run out",
        format!(
            "We kept {} for you for 5 minutes, and that time is over. Choose a time again on \
             {}'s page.",
            format::slot_label(hold.start, hold.end, tz),
            doctor.name
        ),
    )
    .with_link(
        with_patient(
            picker_href(doctor.id, Some(&week_of(hold.start, tz)), None, reschedule),
            (hold.patient_id != person.auth.id).then_some(hold.patient_id),
        ),
        format!("Choose another time with {}", doctor.name),
    )
}

/// `GET /holds/{id}?reschedule=`: the held slot, to confirm.
pub async fn show_hold(
    State(state): State<AppState>,
    signed_in: SignedIn,
    client: ClientIp,
    uri: Uri,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let person = signed_in.person;
    let hold_id = HoldId::from_uuid(page_id(&id)?);
    let hold = own_hold(&state, &person, &client, hold_id).await?;
    if let Some(appointment) = hold.appointment_id {
        return Ok(Redirect::to(&format!("/appointments/{appointment}")).into_response());
    }
    let doctor = state.catalogue.doctor(hold.doctor_id).await?;
    let reschedule = query_param(raw.as_deref(), "reschedule")
        .and_then(|r| r.parse().ok())
        .map(AppointmentId::from_uuid);
    // A hold whose time ran out may still be confirmed while nobody took its slot (the core
    // claims it again); one given back or swept may not.
    if hold.state != HoldState::Active {
        return Err(expired(&doctor, &hold, reschedule, &person));
    }
    let context = HoldContext::load(&state, &person, &uri, &hold, &doctor, reschedule).await?;
    Ok(context.page(String::new(), None).into_response())
}

/// The signed-in person's hold `hold_id` (or, at the desk, a patient's); someone else's or an
/// unknown one is the 404 page.
async fn own_hold(
    state: &AppState,
    person: &Person,
    client: &ClientIp,
    hold_id: HoldId,
) -> PageResult<Hold> {
    let actor = actor(person, client);
    match state.desk.hold_of(&actor, person.auth.id, hold_id).await {
        Ok(hold) => Ok(hold),
        Err(BookingError::HoldNotFound) => Err(PageError::not_found()),
        Err(other) => Err(other.into()),
    }
}

/// `POST /book/confirm`: books the held slot (or moves the appointment to it).
pub async fn confirm(
    State(state): State<AppState>,
    signed_in: SignedIn,
    client: ClientIp,
    uri: Uri,
    PostedForm(form): PostedForm,
) -> PageResult<Response> {
    let person = signed_in.person;
    let hold_id = HoldId::from_uuid(form.id("hold_id").ok_or_else(PageError::not_found)?);
    let hold = own_hold(&state, &person, &client, hold_id).await?;
    let doctor = state.catalogue.doctor(hold.doctor_id).await?;
    let reschedule = form.id("reschedule").map(AppointmentId::from_uuid);
    let context = HoldContext::load(&state, &person, &uri, &hold, &doctor, reschedule).await?;
    let result = match reschedule {
        Some(appointment_id) => {
            state
                .desk
                .reschedule(
                    &actor(&person, &client),
                    person.auth.id,
                    appointment_id,
                    hold_id,
                )
                .await
        }
        None => {
            let reason = match Reason::parse(form.get("reason")) {
                Ok(reason) => reason,
                Err(_) => {
                    let page = context.page(
                        form.get("reason").to_owned(),
                        Some(
                            "Tell the doctor briefly why you are coming (up to 1,000 characters)."
                                .to_owned(),
                        ),
                    );
                    return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
                }
            };
            state
                .desk
                .confirm(&actor(&person, &client), person.auth.id, hold_id, reason)
                .await
                .map(|booked| booked.appointment)
        }
    };
    match result {
        Ok(appointment) => {
            let notice = if reschedule.is_some() {
                "?notice=moved"
            } else {
                "?notice=booked"
            };
            Ok(Redirect::to(&format!("/appointments/{}{notice}", appointment.id)).into_response())
        }
        Err(BookingError::HoldExpired) => Err(expired(&doctor, &hold, reschedule, &person)),
        Err(BookingError::NotFound(_)) => Err(PageError::not_found()),
        Err(
            error @ (BookingError::LimitReached(_)
            | BookingError::AppointmentLimit(_)
            | BookingError::InvalidState(_)
            | BookingError::DayFull),
        ) => {
            let message = format!("We could not book this time: {error}");
            let page = context.page(
                form.get("reason").to_owned(),
                Some(crate::pages::error::sentence(&message)),
            );
            Ok((StatusCode::CONFLICT, page).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /book/release`: gives the hold back and returns to the doctor's week.
pub async fn release(
    State(state): State<AppState>,
    signed_in: SignedIn,
    client: ClientIp,
    PostedForm(form): PostedForm,
) -> PageResult<Response> {
    let person = signed_in.person;
    let hold_id = HoldId::from_uuid(form.id("hold_id").ok_or_else(PageError::not_found)?);
    let hold = own_hold(&state, &person, &client, hold_id).await?;
    let doctor = state.catalogue.doctor(hold.doctor_id).await?;
    match state
        .desk
        .release(&actor(&person, &client), person.auth.id, hold_id)
        .await
    {
        Ok(()) | Err(BookingError::InvalidState(_)) => {}
        Err(other) => return Err(other.into()),
    }
    let reschedule = form.id("reschedule").map(AppointmentId::from_uuid);
    let week = week_of(hold.start, doctor.time_zone.tz());
    let back = picker_href(doctor.id, Some(&week), Some("released"), reschedule);
    let acting_for = (hold.patient_id != person.auth.id).then_some(hold.patient_id);
    Ok(Redirect::to(&with_patient(back, acting_for)).into_response())
}

/// An appointment as pages show it.
#[derive(Clone, Debug)]
pub struct AppointmentView {
    /// Its id.
    pub id: String,
    /// The doctor's name.
    pub doctor_name: String,
    /// The doctor's page.
    pub doctor_href: String,
    /// "Tuesday 2 March 2027, 09:30 to 09:50".
    pub when: String,
    /// RFC 3339 start.
    pub start: String,
    /// The doctor's time zone.
    pub time_zone: String,
    /// "Booked", "Cancelled", …
    pub status: &'static str,
    /// Why the patient comes.
    pub reason: String,
    /// Whether it can still be cancelled or moved.
    pub upcoming: bool,
    /// The last moment cancelling is free, in the doctor's zone: "Monday 1 March 2027, 09:30".
    pub free_cancellation: String,
    /// The same, RFC 3339.
    pub free_cancellation_at: String,
    /// The late-cancellation window: "24 hours".
    pub late_window: String,
    /// Upcoming, but cancelling now would count as a late cancellation.
    pub late_now: bool,
    /// Cancelled by the patient inside the late-cancellation window.
    pub cancelled_late: bool,
}

impl AppointmentView {
    /// The view of `appointment` with `doctor`, at `now`; a cancellation closer to the start
    /// than `late_window` counts as late.
    pub fn new(
        appointment: &Appointment,
        doctor: &Doctor,
        now: Timestamp,
        late_window: SignedDuration,
    ) -> Self {
        let tz = doctor.time_zone.tz();
        let upcoming =
            appointment.status == AppointmentStatus::Scheduled && appointment.start > now;
        let free_until = appointment.free_cancellation_until(late_window);
        Self {
            free_cancellation: format::long_moment(free_until, tz),
            free_cancellation_at: free_until.to_string(),
            late_window: format::hours(late_window),
            late_now: upcoming && appointment.is_late_cancellation(now, late_window),
            cancelled_late: appointment.status == AppointmentStatus::Cancelled
                && appointment.late_cancellation,
            id: appointment.id.to_string(),
            doctor_name: doctor.name.clone(),
            doctor_href: doctor_href(doctor.id),
            when: format::slot_label(appointment.start, appointment.end, tz),
            start: appointment.start.to_string(),
            time_zone: doctor.time_zone.name().to_owned(),
            status: status_label(appointment.status),
            reason: appointment.reason.as_str().to_owned(),
            upcoming,
        }
    }
}

/// An appointment's status in words.
pub fn status_label(status: AppointmentStatus) -> &'static str {
    match status {
        AppointmentStatus::Scheduled => "Booked",
        AppointmentStatus::Completed => "Completed",
        AppointmentStatus::Cancelled => "Cancelled",
        AppointmentStatus::NoShow => "Missed",
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "appointment.html")]
struct AppointmentPage {
    layout: Layout,
    appointment: AppointmentView,
    notice: Option<&'static str>,
    /// The patient, when the desk looks at a patient's appointment.
    for_patient: Option<ForPatient>,
    /// Where the clinic is and what to bring.
    clinic: ClinicInfo,
    /// After booking or moving: where the confirmation went ("ada@example.org").
    sent_to: Option<String>,
}

/// One of the signed-in patient's appointments, or the HTML 404 page.
pub async fn own_appointment(
    state: &AppState,
    person: &Person,
    client: &ClientIp,
    id: &str,
) -> PageResult<(Appointment, Doctor)> {
    let id = AppointmentId::from_uuid(page_id(id)?);
    let appointment = state
        .desk
        .appointment(&actor(person, client), person.auth.id, id)
        .await
        .map_err(|error| match error {
            BookingError::NotFound(_) => PageError::not_found(),
            other => other.into(),
        })?;
    let doctor = state.catalogue.doctor(appointment.doctor_id).await?;
    Ok((appointment, doctor))
}

/// `GET /appointments/{id}?notice=`: one appointment, with "add to calendar" and what can be
/// done with it.
pub async fn appointment(
    State(state): State<AppState>,
    signed_in: SignedIn,
    client: ClientIp,
    uri: Uri,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let person = signed_in.person;
    let (appointment, doctor) = own_appointment(&state, &person, &client, &id).await?;
    audit(
        &state,
        &person,
        &client,
        AuditEvent::appointment(AuditAction::AppointmentRead, &appointment),
    )
    .await?;
    let notice = match query_param(raw.as_deref(), "notice").as_deref() {
        Some("booked") => Some("Your appointment is booked."),
        Some("moved") => Some("Your appointment has moved to the new time."),
        Some("cancelled") => Some("Your appointment is cancelled."),
        _ => None,
    };
    let for_patient = ForPatient::of(&state, &person, appointment.patient_id).await?;
    let sent_to = match notice {
        Some(_) if for_patient.is_none() && appointment.status == AppointmentStatus::Scheduled => {
            sent_to(&state, appointment.patient_id).await?
        }
        _ => None,
    };
    let viewer = Viewer {
        person: Some(person),
    };
    let view = AppointmentView::new(
        &appointment,
        &doctor,
        state.bookings.now(),
        state.bookings.policy().late_cancellation,
    );
    let title = format!("Appointment with {}", doctor.name);
    let page = AppointmentPage {
        layout: Layout::new(&viewer, title, Section::Appointments, &uri),
        appointment: view,
        notice,
        for_patient,
        clinic: state.web.clinic.clone(),
        sent_to,
    };
    Ok(page.into_response())
}

/// Where a patient's messages go: "ada@example.org", "+49 30 1234567", or both joined.
async fn sent_to(state: &AppState, patient: UserId) -> PageResult<Option<String>> {
    let Some(user) = state.identities.user(patient).await? else {
        return Ok(None);
    };
    let email = user.email.map(|e| e.as_str().to_owned());
    let phone = user.phone.map(|p| format!("{} (text message)", p.as_str()));
    Ok(match (email, phone) {
        (Some(email), Some(phone)) => Some(format!("{email} and {phone}")),
        (one, other) => one.or(other),
    })
}

/// `GET /appointments/{id}/calendar.ics`: the appointment as an iCalendar file, the same as
/// `GET /api/v1/appointments/{id}/ics`.
pub async fn calendar(
    State(state): State<AppState>,
    signed_in: SignedIn,
    client: ClientIp,
    Path(id): Path<String>,
) -> PageResult<Response> {
    let person = signed_in.person;
    let id = AppointmentId::from_uuid(page_id(&id)?);
    let file = state
        .calendar
        .appointment_file(person.auth.id, id)
        .await
        .map_err(|error| match error {
            BookingError::NotFound(_) => PageError::not_found(),
            other => other.into(),
        })?;
    audit(
        &state,
        &person,
        &client,
        AuditEvent::appointment(AuditAction::AppointmentRead, &file.appointment)
            .with_detail("calendar file"),
    )
    .await?;
    Ok(crate::shell::downloads::calendar_download(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picker_link_keeps_week_notice_and_reschedule() {
        let doctor = DoctorId::from_uuid(uuid::Uuid::nil());
        assert_eq!(
            picker_href(doctor, Some("2027-03-01"), Some("taken"), None),
            format!(
                "/doctors/{}?week=2027-03-01&notice=taken",
                uuid::Uuid::nil()
            )
        );
        assert!(notice_message(Some("taken")).is_some());
        assert!(notice_message(Some("bogus")).is_none());
    }
}
