//! The doctor console (`/doctor`): a doctor's agenda as a time grid with "completed" and
//! "no-show" buttons ([`agenda`]), the weekly hours editor with a preview of what a change does
//! ([`hours`]) and time off with its own preview ([`time_off`]).
//!
//! The pages mirror the doctor API (`crate::api::doctor`): the same core calls on
//! `state.staff`, the same audit entries. A doctor acts on their own profile; an admin may open
//! every page for any doctor with `?doctor_id=`, which every link and form of the console keeps
//! ([`Scope`]). An admin without a doctor profile who names none gets a short page listing the
//! doctors to choose from; a doctor naming another doctor gets the 404 page, as in the API.

pub mod agenda;
pub mod hours;
pub mod time_off;
pub mod visit;

use std::collections::BTreeSet;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use medibook_core::BookingError;
use medibook_core::audit::{Actor, AuditAction, AuditEvent};
use medibook_core::booking::{Appointment, AppointmentStatus};
use medibook_core::clinic::Doctor;
use medibook_core::ids::{DoctorId, UserId};
use medibook_core::preview::compare_listings;
use medibook_core::schedule::TimeOff;
use medibook_core::staff::{Agenda, AgendaEntry};

use crate::pages::browse::query_param;
use crate::pages::error::{PageError, PageResult};
use crate::pages::format;
use crate::pages::signin::encode_component;
use crate::pages::{Layout, Section, StaffViewer};
use crate::shell::AppState;
use crate::shell::client::ClientIp;

/// The pages of the console, for its sub-navigation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    /// `/doctor`.
    Agenda,
    /// `/doctor/hours`.
    Hours,
    /// `/doctor/time-off`.
    TimeOff,
}

impl Tab {
    fn path(self) -> &'static str {
        match self {
            Self::Agenda => "/doctor",
            Self::Hours => "/doctor/hours",
            Self::TimeOff => "/doctor/time-off",
        }
    }
}

/// Which doctor a console page is for: `?doctor_id=` when given (admins: any doctor; doctors:
/// only themselves), else the viewer's own profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// The doctor named in the address, if any.
    pub requested: Option<DoctorId>,
}

impl Scope {
    /// Reads `doctor_id` from a query string; a malformed one is a 400 page.
    pub fn from_query(raw: Option<&str>) -> PageResult<Self> {
        match query_param(raw, "doctor_id").filter(|id| !id.is_empty()) {
            None => Ok(Self::default()),
            Some(text) => text
                .parse::<uuid::Uuid>()
                .map(|id| Self {
                    requested: Some(DoctorId::from_uuid(id)),
                })
                .map_err(|_| PageError::bad_request("The doctor in that link is not one we know.")),
        }
    }

    /// `path` with `params` and, when given, the `doctor_id`, as a link.
    pub fn href(&self, path: &str, params: &[(&str, &str)]) -> String {
        let mut pairs: Vec<String> = params
            .iter()
            .map(|(name, value)| format!("{name}={}", encode_component(value)))
            .collect();
        if let Some(id) = self.requested {
            pairs.push(format!("doctor_id={id}"));
        }
        if pairs.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", pairs.join("&"))
        }
    }

    /// The `doctor_id` to keep in hidden form fields, if given.
    pub fn doctor_id(&self) -> Option<String> {
        self.requested.map(|id| id.to_string())
    }
}

/// One link of the console's sub-navigation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleLink {
    /// Where it goes (with `doctor_id` when given).
    pub href: String,
    /// What it says.
    pub label: &'static str,
    /// Whether it is the page shown.
    pub current: bool,
}

/// What every console page shows above its own content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Console {
    /// Agenda · Hours · Time off.
    pub nav: Vec<ConsoleLink>,
    /// The doctor the page is for.
    pub doctor_name: String,
    /// Their IANA zone, in which every time is written.
    pub time_zone: String,
    /// Whether an admin is acting for a doctor (the page says for whom).
    pub acting_for: bool,
    /// The `doctor_id` kept in forms, if given.
    pub doctor_id: Option<String>,
}

impl Console {
    /// The console frame of `tab` for `doctor`.
    pub fn new(staff: &StaffViewer, scope: Scope, doctor: &Doctor, tab: Tab) -> Self {
        let nav = [
            (Tab::Agenda, "Agenda"),
            (Tab::Hours, "Hours"),
            (Tab::TimeOff, "Time off"),
        ]
        .into_iter()
        .map(|(of, label)| ConsoleLink {
            href: scope.href(of.path(), &[]),
            label,
            current: of == tab,
        })
        .collect();
        Self {
            nav,
            doctor_name: doctor.name.clone(),
            time_zone: doctor.time_zone.name().to_owned(),
            acting_for: staff.member.doctor_id != Some(doctor.id),
            doctor_id: scope.doctor_id(),
        }
    }
}

/// A doctor to choose, on the chooser page.
#[derive(Clone, Debug, PartialEq, Eq)]
struct DoctorChoice {
    name: String,
    href: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "doctor_choose.html")]
struct ChooserPage {
    layout: Layout,
    doctors: Vec<DoctorChoice>,
}

/// The caller of a console page and the doctor it is for, read before the handler runs: the
/// signed-in staff member (others are refused as for [`StaffViewer`]) and the [`Scope`] of the
/// address (a malformed `doctor_id` is a 400 page). An admin without a doctor profile who names
/// no doctor gets the chooser page instead, listing the doctors with links back to this
/// address, so every console handler starts with a doctor to act for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopedDoctor {
    /// Who is asking.
    pub staff: StaffViewer,
    /// Which doctor the page is for.
    pub scope: Scope,
}

impl FromRequestParts<AppState> for ScopedDoctor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let staff = StaffViewer::from_request_parts(parts, state).await?;
        let scope = Scope::from_query(parts.uri.query()).map_err(IntoResponse::into_response)?;
        let choosing = staff.member.is_admin()
            && staff.member.doctor_id.is_none()
            && scope.requested.is_none();
        if choosing {
            return Err(match chooser(state, &staff, &parts.uri).await {
                Ok(page) => page,
                Err(error) => error.into_response(),
            });
        }
        Ok(Self { staff, scope })
    }
}

/// The page listing the doctors to open the page at `uri` for.
async fn chooser(state: &AppState, staff: &StaffViewer, uri: &Uri) -> PageResult<Response> {
    let doctors = state.catalogue.search(None, None).await?;
    let mut doctors: Vec<DoctorChoice> = doctors
        .into_iter()
        .map(|doctor| DoctorChoice {
            href: format!("{}?doctor_id={}", uri.path(), doctor.id),
            name: doctor.name,
        })
        .collect();
    doctors.sort_by(|a, b| a.name.cmp(&b.name));
    let page = ChooserPage {
        layout: Layout::new(
            &staff.viewer(),
            "Choose a doctor",
            Section::DoctorConsole,
            uri,
        ),
        doctors,
    };
    Ok(page.into_response())
}

/// A domain refusal of a console page, as the page shows it: another doctor's (or an unknown)
/// profile is the plain 404 page.
pub fn refusal(error: BookingError) -> PageError {
    match error {
        BookingError::NotFound("doctor") => PageError::new(
            StatusCode::NOT_FOUND,
            "Doctor not found",
            "We could not find that doctor's console. It may belong to another doctor, or the \
             link may be mistyped.",
        )
        .with_link("/doctor", "Your agenda"),
        other => other.into(),
    }
}

/// Who `staff` is in the audit trail (as for the API's handlers).
pub fn actor(staff: &StaffViewer, client: &ClientIp) -> Actor {
    Actor::user(staff.person.auth.id, staff.member.role, client.key())
}

/// Writes one entry per read for `staff` (changes are audited by the staff service, in their
/// own transactions).
pub async fn audit_all(
    state: &AppState,
    staff: &StaffViewer,
    client: &ClientIp,
    events: Vec<AuditEvent>,
) -> PageResult<()> {
    state
        .audit
        .record_all(&actor(staff, client), events)
        .await?;
    Ok(())
}

/// The entries the API's agenda writes: one `AgendaRead` per patient whose visits were shown,
/// or one without a patient when none were.
pub fn agenda_read_events(
    doctor_id: DoctorId,
    patients: impl IntoIterator<Item = UserId>,
    detail: &str,
) -> Vec<AuditEvent> {
    let patients: BTreeSet<UserId> = patients.into_iter().collect();
    let read =
        || AuditEvent::doctor(AuditAction::AgendaRead, doctor_id).with_detail(detail.to_owned());
    if patients.is_empty() {
        vec![read()]
    } else {
        patients
            .into_iter()
            .map(|patient| read().with_patient(patient))
            .collect()
    }
}

/// How a patient of the agenda is named: their name, else their email, else their phone.
pub fn patient_name(entry: &AgendaEntry) -> String {
    if let Some(name) = entry
        .patient_name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
    {
        return name.to_owned();
    }
    if let Some(email) = &entry.patient_email {
        return email.as_str().to_owned();
    }
    entry
        .patient_phone
        .as_ref()
        .map_or_else(|| "A patient".to_owned(), |phone| phone.as_str().to_owned())
}

/// The patients of an agenda, for its audit entries.
pub fn agenda_patients(agenda: &Agenda) -> Vec<UserId> {
    agenda
        .entries
        .iter()
        .map(|e| e.appointment.patient_id)
        .collect()
}

/// One day of a preview whose free slots change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviewDay {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// "Tuesday 3 March".
    pub label: String,
    /// Free slots now.
    pub free_before: usize,
    /// Free slots with the change.
    pub free_after: usize,
    /// "09:00, 09:30", empty when none.
    pub added: String,
    /// "16:30", empty when none.
    pub removed: String,
}

/// A booked visit a change leaves outside the working time (or inside time off).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AffectedVisit {
    /// "Tuesday 2 March 2027, 09:30 to 09:45".
    pub when: String,
    /// Who comes.
    pub patient: String,
    /// Why.
    pub reason: String,
}

/// What a change to the hours or time off would do, as a page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviewView {
    /// The dates compared: "2 – 29 March 2027".
    pub window: String,
    /// Free slots now, over the window.
    pub free_before: usize,
    /// Free slots with the change.
    pub free_after: usize,
    /// Free slots added.
    pub added: usize,
    /// Free slots removed.
    pub removed: usize,
    /// The days whose free slots change.
    pub days: Vec<PreviewDay>,
    /// The booked visits the change concerns.
    pub visits: Vec<AffectedVisit>,
}

/// A setup of a doctor to preview: the doctor (with their schedule) and their time off.
pub type Setup<'a> = (&'a Doctor, &'a [TimeOff]);

/// Compares the free slots of `current` and `proposed` over `days` dates from `first`, and
/// names the booked visits of those dates (still to come) for which `affected` holds, writing
/// the agenda-read audit entries for the patients named.
#[allow(clippy::too_many_arguments)]
pub async fn preview(
    state: &AppState,
    staff: &StaffViewer,
    client: &ClientIp,
    scope: Scope,
    current: Setup<'_>,
    proposed: Setup<'_>,
    (first, days): (Date, u16),
    affected: impl Fn(&Appointment) -> bool,
) -> PageResult<PreviewView> {
    let doctor = current.0;
    let tz = doctor.time_zone.tz();
    let mut listings = state
        .bookings
        .listings_for(&[current, proposed], first, days)
        .await?
        .into_iter();
    let before = listings.next().unwrap_or_default();
    let after = listings.next().unwrap_or_default();
    let change = compare_listings(&before, &after, tz, first, days);

    let agenda = state
        .staff
        .agenda(&staff.member, scope.requested, first, days)
        .await
        .map_err(refusal)?;
    let now = state.bookings.now();
    let shown: Vec<&AgendaEntry> = agenda
        .entries
        .iter()
        .filter(|e| e.appointment.status == AppointmentStatus::Scheduled)
        .filter(|e| e.appointment.end > now && affected(&e.appointment))
        .collect();
    let detail = format!("preview of changes from {first} for {days} days");
    let events = agenda_read_events(
        doctor.id,
        shown.iter().map(|e| e.appointment.patient_id),
        &detail,
    );
    audit_all(state, staff, client, events).await?;

    let times = |starts: &[Timestamp]| -> String {
        starts
            .iter()
            .map(|t| format::clock_time(*t, tz))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let last = first
        .checked_add(i64::from(days.saturating_sub(1)).days())
        .unwrap_or(first);
    Ok(PreviewView {
        window: format::date_range(first, last),
        free_before: change.free_before,
        free_after: change.free_after,
        added: change.added(),
        removed: change.removed(),
        days: change
            .changed_days()
            .map(|day| PreviewDay {
                date: day.date.to_string(),
                label: day.date.strftime("%A %-d %B").to_string(),
                free_before: day.free_before,
                free_after: day.free_after,
                added: times(&day.added),
                removed: times(&day.removed),
            })
            .collect(),
        visits: shown
            .into_iter()
            .map(|e| AffectedVisit {
                when: format::slot_label(e.appointment.start, e.appointment.end, tz),
                patient: patient_name(e),
                reason: e.appointment.reason.as_str().to_owned(),
            })
            .collect(),
    })
}

/// One message of an invalid form, for the summary at its top: the field it links to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// `#field-id`.
    pub href: String,
    /// What to correct.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_the_doctor_an_admin_acts_for() {
        let id = DoctorId::generate();
        let scope = Scope {
            requested: Some(id),
        };
        assert_eq!(
            scope.href("/doctor", &[("view", "day"), ("date", "2027-03-02")]),
            format!("/doctor?view=day&date=2027-03-02&doctor_id={id}")
        );
        assert_eq!(
            scope.href("/doctor/hours", &[]),
            format!("/doctor/hours?doctor_id={id}")
        );
        assert_eq!(Scope::default().href("/doctor/hours", &[]), "/doctor/hours");
        let raw = format!("view=week&doctor_id={id}");
        assert_eq!(Scope::from_query(Some(&raw)).unwrap(), scope);
        assert!(Scope::from_query(Some("doctor_id=nobody")).is_err());
        assert_eq!(Scope::from_query(None).unwrap(), Scope::default());
    }
}
