//! A doctor's profile with the week slot picker: `GET /doctors/{id}?week=YYYY-MM-DD`.
//!
//! The picker shows seven days from `week` (today by default, never before today), in the
//! doctor's time zone, which the page names. Every slot of the listing is rendered; free ones are
//! `<button>`s in a plain `<form method="post" action="/book/hold">`, so booking works without
//! JavaScript, and the others are rendered `hidden` (out of sight and out of the accessibility
//! tree) so the live picker (`assets/slots.js`) can show them again when they free up. Each slot
//! control carries `data-start` (RFC 3339) and is named with the full date and time, e.g.
//! "Tuesday 2 March 2027, 09:30 to 09:50". A week without a free slot offers the waitlist
//! (`POST /book/waitlist`).
//!
//! `?notice=` says why the patient is back (a slot taken meanwhile, a released hold) in a
//! `role=status` box. The same picker, reached through `GET /appointments/{id}/reschedule`
//! ([`picker_page`] with the appointment), adds a hidden `reschedule` field to every slot form,
//! so the hold page moves that appointment instead of booking a new one.
//!
//! The page embeds the doctor's latest slot-event number read *before* the listing, so the live
//! picker subscribes from there and replays whatever changed while the page travelled.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use jiff::ToSpan;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use medibook_core::BookingError;
use medibook_core::booking::SlotStatus;
use medibook_core::booking_service::SlotView;
use medibook_core::clinic::Doctor;
use medibook_core::ids::{AppointmentId, DoctorId};

use crate::pages::booking::notice_message;
use crate::pages::browse::{DoctorCard, NextFree, doctor_href, experience, page_id, query_param};
use crate::pages::desk::{ForPatient, requested_patient, with_patient};
use crate::pages::error::{PageError, PageResult};
use crate::pages::format;
use crate::pages::{Layout, Section, Viewer};
use crate::shell::AppState;

/// Days the picker shows at once.
pub const WEEK_DAYS: u16 = 7;

/// One slot of the picker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotChoice {
    /// RFC 3339 start: the form value and `data-start`.
    pub start: String,
    /// "09:30", what the button shows.
    pub time: String,
    /// "Tuesday 2 March 2027, 09:30 to 09:50", the button's accessible name.
    pub label: String,
    /// Whether it can be held now (the others are rendered hidden).
    pub free: bool,
}

/// One day column of the picker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayColumn {
    /// `YYYY-MM-DD` in the doctor's zone.
    pub date: String,
    /// "Tue".
    pub weekday: String,
    /// "2 Mar".
    pub day_month: String,
    /// "Tuesday 2 March 2027".
    pub long_date: String,
    /// The day's slots, in time order.
    pub slots: Vec<SlotChoice>,
    /// Whether the day is over (a day of the current week before today).
    pub past: bool,
}

impl DayColumn {
    /// Whether any slot of the day is free.
    pub fn has_free(&self) -> bool {
        self.slots.iter().any(|slot| slot.free)
    }
}

/// The picker's days, one column per date from `first`, each with its slots.
pub fn day_columns(
    slots: &[SlotView],
    first: Date,
    days: u16,
    tz: &TimeZone,
) -> Result<Vec<DayColumn>, BookingError> {
    let mut columns = Vec::with_capacity(usize::from(days));
    for offset in 0..days {
        let date = first
            .checked_add(i64::from(offset).days())
            .map_err(|_| BookingError::validation("date is out of range"))?;
        columns.push(DayColumn {
            date: date.to_string(),
            weekday: format::weekday_short(date),
            day_month: format::day_month(date),
            long_date: format::long_date(date),
            slots: Vec::new(),
            past: false,
        });
    }
    for slot in slots {
        let date = tz.to_datetime(slot.start).date().to_string();
        if let Some(column) = columns.iter_mut().find(|c| c.date == date) {
            column.slots.push(SlotChoice {
                start: slot.start.to_string(),
                time: format::clock_time(slot.start, tz),
                label: format::slot_label(slot.start, slot.end, tz),
                free: slot.status == SlotStatus::Available,
            });
        }
    }
    Ok(columns)
}

#[derive(Template, WebTemplate)]
#[template(path = "doctor.html")]
struct DoctorPage {
    layout: Layout,
    doctor_id: String,
    name: String,
    initials: String,
    photo_url: Option<String>,
    specialty: String,
    specialty_href: String,
    qualification: String,
    experience: String,
    fee: String,
    slot_minutes: u16,
    bio: String,
    time_zone: String,
    hold_minutes: i64,
    /// "2 – 8 March 2027".
    week_label: String,
    first: String,
    /// The week's last date, the waitlist form's default "to".
    last: String,
    /// The waitlist form's default "from": the week's first day, or today.
    wait_from: String,
    days: Vec<DayColumn>,
    has_free: bool,
    previous_week: Option<String>,
    next_week: Option<String>,
    /// When the week has no free slot: the next free one after it, as a link.
    later_free: Option<NextFree>,
    latest_seq: i64,
    /// Why the patient is back here (`?notice=`, e.g. the slot was taken), said on the page.
    notice: Option<&'static str>,
    /// When moving an appointment: its id, posted with the picker's forms.
    reschedule: Option<String>,
    /// When the desk books for a patient: who, posted as `patient_id` with the picker's forms.
    for_patient: Option<ForPatient>,
}

/// The week the page asks for: `?week=YYYY-MM-DD`, or today.
fn requested_week(raw: Option<&str>, today: Date) -> PageResult<Date> {
    match query_param(raw, "week").filter(|w| !w.is_empty()) {
        None => Ok(today),
        Some(text) => text.parse::<Date>().map_err(|_| {
            PageError::bad_request(format!(
                "“{text}” is not a date. Weeks are written like {today}."
            ))
        }),
    }
}

/// `GET /doctors/{id}?week=YYYY-MM-DD`.
pub async fn profile(
    State(state): State<AppState>,
    viewer: Viewer,
    uri: Uri,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let id = DoctorId::from_uuid(page_id(&id)?);
    // `?for=<patient>`: the desk booking for a caller (checked against the viewer's role).
    let for_patient = match (&viewer.person, requested_patient(raw.as_deref())?) {
        (Some(person), Some(patient)) => ForPatient::of(&state, person, patient).await?,
        _ => None,
    };
    picker_page(&state, &viewer, &uri, id, raw.as_deref(), None, for_patient).await
}

/// The doctor's profile and week picker; with `reschedule`, the picker's forms move that
/// appointment instead of booking a new one.
pub async fn picker_page(
    state: &AppState,
    viewer: &Viewer,
    uri: &Uri,
    id: DoctorId,
    raw: Option<&str>,
    reschedule: Option<AppointmentId>,
    for_patient: Option<ForPatient>,
) -> PageResult<Response> {
    let doctor = state
        .catalogue
        .doctor(id)
        .await
        .map_err(|error| match error {
            BookingError::NotFound(_) => PageError::new(
                StatusCode::NOT_FOUND,
                "Doctor not found",
                "We could not find that doctor. Search for them by name or specialty on the home \
             page.",
            ),
            other => other.into(),
        })?;
    let tz = doctor.time_zone.tz().clone();
    let today = tz.to_datetime(state.bookings.now()).date();
    // Weeks run Monday to Sunday; the current week's days before today show no times.
    let first = monday_of(requested_week(raw, today)?.max(today))?;

    // The number first, then the listing: a change in between is replayed, never lost.
    let latest_seq = state.event_log.latest_slot_seq(id).await?;
    let slots = state.bookings.slots(id, first, WEEK_DAYS).await?;
    let mut days = day_columns(&slots, first, WEEK_DAYS, &tz)?;
    let today_text = today.to_string();
    for day in &mut days {
        // ISO dates compare as text.
        day.past = day.date < today_text;
    }
    let has_free = days.iter().any(DayColumn::has_free);
    let later_free = if has_free {
        None
    } else {
        next_free_after(state, &doctor).await?
    };
    let base = match reschedule {
        Some(appointment) => format!("/appointments/{appointment}/reschedule"),
        None => doctor_href(id),
    };
    let specialty = state.catalogue.specialty(doctor.specialty_id).await?;
    let acting_for = for_patient.as_ref().map(|p| p.user_id);
    let (title, section) = match reschedule {
        Some(_) => (
            format!("Move your appointment with {}", doctor.name),
            Section::Appointments,
        ),
        None => (doctor.name.clone(), Section::FindDoctor),
    };
    let page = DoctorPage {
        layout: Layout::new(viewer, title, section, uri).with_script("slots.js"),
        doctor_id: id.to_string(),
        initials: format::initials(&doctor.name),
        photo_url: doctor.photo_url.clone(),
        specialty_href: format!("/specialties/{}", specialty.id),
        specialty: specialty.name,
        qualification: doctor.qualification.clone(),
        experience: experience(doctor.years_experience),
        fee: format::fee(&doctor.fee),
        slot_minutes: doctor.schedule.rules.slot_minutes,
        bio: doctor.bio.clone(),
        time_zone: doctor.time_zone.name().to_owned(),
        hold_minutes: state.bookings.policy().hold_duration.as_mins(),
        week_label: week_label(first)?,
        first: first.to_string(),
        wait_from: first.max(today).to_string(),
        last: first
            .checked_add(jiff::Span::new().days(i64::from(WEEK_DAYS) - 1))
            .unwrap_or(first)
            .to_string(),
        previous_week: previous_week(&base, first, today)?.map(|h| with_patient(h, acting_for)),
        next_week: next_week(&doctor, &base, first, today)?.map(|h| with_patient(h, acting_for)),
        notice: notice_message(query_param(raw, "notice").as_deref()),
        reschedule: reschedule.map(|r| r.to_string()),
        for_patient,
        days,
        has_free,
        later_free,
        latest_seq,
        name: doctor.name,
    };
    Ok(page.into_response())
}

/// The doctor's next free slot, as a link, for a week that has none.
async fn next_free_after(state: &AppState, doctor: &Doctor) -> PageResult<Option<NextFree>> {
    let next = state
        .bookings
        .next_free_slots(std::slice::from_ref(doctor))
        .await?;
    // Only the slot's link is used: the specialty name is not needed.
    let names = std::collections::HashMap::new();
    Ok(DoctorCard::new(doctor, &names, next.get(&doctor.id)).next_free)
}

fn week_label(first: Date) -> PageResult<String> {
    let last = first
        .checked_add(i64::from(WEEK_DAYS - 1).days())
        .map_err(|_| PageError::bad_request("That week is out of range."))?;
    Ok(format::date_range(first, last))
}

/// The Monday of the week holding `date`.
fn monday_of(date: Date) -> PageResult<Date> {
    date.checked_sub(i64::from(date.weekday().to_monday_zero_offset()).days())
        .map_err(|_| PageError::bad_request("That week is out of range."))
}

/// The link to the week before, unless the shown one holds today.
fn previous_week(base: &str, first: Date, today: Date) -> PageResult<Option<String>> {
    if first <= today {
        return Ok(None);
    }
    let previous = first
        .checked_sub(i64::from(WEEK_DAYS).days())
        .map_err(|_| PageError::bad_request("That week is out of range."))?;
    Ok(Some(format!("{base}?week={previous}")))
}

/// The link to the week after, unless it lies wholly beyond the doctor's booking horizon.
fn next_week(doctor: &Doctor, base: &str, first: Date, today: Date) -> PageResult<Option<String>> {
    let out_of_range = || PageError::bad_request("That week is out of range.");
    let next = first
        .checked_add(i64::from(WEEK_DAYS).days())
        .map_err(|_| out_of_range())?;
    let horizon = today
        .checked_add(i64::from(doctor.schedule.rules.horizon_days).days())
        .map_err(|_| out_of_range())?;
    Ok((next <= horizon).then(|| format!("{base}?week={next}")))
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;
    use jiff::civil::date;

    use super::*;

    fn slot(start: &str, minutes: i64, status: SlotStatus) -> SlotView {
        let start: Timestamp = start.parse().unwrap();
        SlotView {
            start,
            end: start + jiff::SignedDuration::from_mins(minutes),
            status,
        }
    }

    #[test]
    fn slots_fall_into_their_day_in_the_doctors_zone() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let slots = [
            // 00:30 in Berlin on Tuesday, though still Monday in UTC.
            slot("2027-03-01T23:30:00Z", 20, SlotStatus::Available),
            slot("2027-03-02T08:30:00Z", 20, SlotStatus::Held),
        ];
        let days = day_columns(&slots, date(2027, 3, 1), 7, &tz).unwrap();
        assert_eq!(days.len(), 7);
        assert!(days[0].slots.is_empty());
        assert_eq!(days[1].date, "2027-03-02");
        assert_eq!(days[1].slots.len(), 2);
        assert_eq!(days[1].slots[0].time, "00:30");
        assert_eq!(
            days[1].slots[1].label,
            "Tuesday 2 March 2027, 09:30 to 09:50"
        );
        assert_eq!(days[1].slots[1].start, "2027-03-02T08:30:00Z");
        assert!(days[1].slots[0].free && !days[1].slots[1].free);
    }

    #[test]
    fn the_week_is_today_unless_a_date_is_given() {
        let today = date(2027, 3, 1);
        assert_eq!(requested_week(None, today).unwrap(), today);
        assert_eq!(
            requested_week(Some("week=2027-03-08"), today).unwrap(),
            date(2027, 3, 8)
        );
        let error = requested_week(Some("week=next"), today).unwrap_err();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    }
}
