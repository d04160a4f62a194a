//! Holds and appointments, and the rules of their life cycles.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::BookingError;
use crate::ids::{AppointmentId, DoctorId, HoldId, UserId};

/// What a hold is doing now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    /// Claims its slot until `expires_at`.
    Active,
    /// Given back by its patient.
    Released,
    /// Turned into an appointment.
    Confirmed,
    /// Ran out and was swept, or its slot was taken after it ran out.
    Expired,
}

impl HoldState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Released => "released",
            Self::Confirmed => "confirmed",
            Self::Expired => "expired",
        }
    }

    /// Parses the stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "active" => Some(Self::Active),
            "released" => Some(Self::Released),
            "confirmed" => Some(Self::Confirmed),
            "expired" => Some(Self::Expired),
            _ => None,
        }
    }
}

/// A patient's exclusive, short-lived claim on a slot: the token needed to book it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Hold {
    /// Identity, and the token the patient confirms with.
    pub id: HoldId,
    /// Whose slot.
    pub doctor_id: DoctorId,
    /// Who holds it.
    pub patient_id: UserId,
    /// Start of the visit.
    pub start: Timestamp,
    /// End of the visit.
    pub end: Timestamp,
    /// When the claim lapses.
    pub expires_at: Timestamp,
    /// Life-cycle state as stored (an `Active` hold past `expires_at` no longer occupies).
    pub state: HoldState,
    /// The appointment this hold became, once confirmed.
    pub appointment_id: Option<AppointmentId>,
    /// When the hold was made.
    pub created_at: Timestamp,
}

impl Hold {
    /// Whether the hold still keeps others off its slot at `now`.
    pub fn occupies_at(&self, now: Timestamp) -> bool {
        self.state == HoldState::Active && now < self.expires_at
    }
}

/// Where an appointment is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    /// Booked and upcoming (or under way).
    Scheduled,
    /// The visit took place.
    Completed,
    /// Called off; the slot went back to the doctor.
    Cancelled,
    /// The patient did not come.
    NoShow,
}

impl AppointmentStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::NoShow => "no_show",
        }
    }

    /// Parses the stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "scheduled" => Some(Self::Scheduled),
            "completed" => Some(Self::Completed),
            "cancelled" => Some(Self::Cancelled),
            "no_show" => Some(Self::NoShow),
            _ => None,
        }
    }

    /// Whether an appointment in this status keeps its time in the doctor's agenda.
    pub fn occupies(self) -> bool {
        !matches!(self, Self::Cancelled)
    }
}

/// Why the patient comes, as they wrote it: 1 to 1,000 characters after trimming.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Reason(String);

impl Reason {
    /// Longest accepted reason, in characters.
    pub const MAX_CHARS: usize = 1000;

    /// Trims and checks the length.
    pub fn parse(raw: &str) -> Result<Self, BookingError> {
        let reason = raw.trim();
        if reason.is_empty() {
            return Err(BookingError::validation("reason must not be empty"));
        }
        if reason.chars().count() > Self::MAX_CHARS {
            return Err(BookingError::validation(format!(
                "reason must be at most {} characters",
                Self::MAX_CHARS
            )));
        }
        if reason
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(BookingError::validation(
                "reason must not contain control characters",
            ));
        }
        Ok(Self(reason.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps text read back from storage, which was parsed when it was written.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }
}

/// A booked visit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Appointment {
    /// Identity.
    pub id: AppointmentId,
    /// With whom.
    pub doctor_id: DoctorId,
    /// For whom.
    pub patient_id: UserId,
    /// Start of the visit.
    pub start: Timestamp,
    /// End of the visit.
    pub end: Timestamp,
    /// Life-cycle state.
    pub status: AppointmentStatus,
    /// Why the patient comes.
    pub reason: Reason,
    /// The doctor's notes, if any.
    pub notes: Option<String>,
    /// When it was booked.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// Its iCalendar SEQUENCE: 0 when booked, one more after every reschedule or cancellation,
    /// so a calendar app replaces the copy it has.
    pub sequence: u32,
    /// Cancelled by the patient inside the late-cancellation window.
    pub late_cancellation: bool,
}

impl Appointment {
    /// Checks that the patient may cancel at `now`: only scheduled, upcoming visits.
    /// Cancelling an already cancelled appointment is not an error (repeats are idempotent);
    /// the caller sees `Ok(false)` and changes nothing.
    pub fn check_cancel(&self, now: Timestamp) -> Result<bool, BookingError> {
        match self.status {
            AppointmentStatus::Cancelled => Ok(false),
            AppointmentStatus::Scheduled if self.start > now => Ok(true),
            AppointmentStatus::Scheduled => Err(BookingError::InvalidState(
                "an appointment that has started can no longer be cancelled".into(),
            )),
            other => Err(BookingError::InvalidState(format!(
                "a {} appointment cannot be cancelled",
                other.as_str()
            ))),
        }
    }

    /// Until when the patient may cancel without it counting as late.
    pub fn free_cancellation_until(&self, late_window: SignedDuration) -> Timestamp {
        self.start.saturating_sub(late_window).unwrap_or(self.start)
    }

    /// Whether cancelling at `now` is a late cancellation.
    pub fn is_late_cancellation(&self, now: Timestamp, late_window: SignedDuration) -> bool {
        now > self.free_cancellation_until(late_window)
    }

    /// Checks that the patient may move this appointment at `now`.
    pub fn check_reschedule(&self, now: Timestamp) -> Result<(), BookingError> {
        match self.status {
            AppointmentStatus::Scheduled if self.start > now => Ok(()),
            AppointmentStatus::Scheduled => Err(BookingError::InvalidState(
                "an appointment that has started can no longer be moved".into(),
            )),
            other => Err(BookingError::InvalidState(format!(
                "a {} appointment cannot be moved",
                other.as_str()
            ))),
        }
    }
}

/// What a patient sees of a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotStatus {
    /// Can be held now.
    Available,
    /// Someone holds it for a few minutes.
    Held,
    /// Booked.
    Booked,
    /// No longer offered: a schedule edit took it off the doctor's grid (feed events only).
    Unavailable,
}

impl SlotStatus {
    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::Held => "held",
            Self::Booked => "booked",
            Self::Unavailable => "unavailable",
        }
    }

    /// Parses the stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "available" => Some(Self::Available),
            "held" => Some(Self::Held),
            "booked" => Some(Self::Booked),
            "unavailable" => Some(Self::Unavailable),
            _ => None,
        }
    }
}

/// Something occupying a doctor's time, as the slot listing needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Occupancy {
    /// Whose time.
    pub doctor_id: DoctorId,
    /// First instant occupied (buffers included).
    pub start: Timestamp,
    /// First instant free again.
    pub end: Timestamp,
    /// `Held` for an unexpired hold, `Booked` for an appointment.
    pub status: SlotStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn appointment(status: AppointmentStatus, start: Timestamp) -> Appointment {
        Appointment {
            id: AppointmentId::generate(),
            doctor_id: DoctorId::generate(),
            patient_id: UserId::generate(),
            start,
            end: start,
            status,
            reason: Reason::parse("check-up").unwrap(),
            notes: None,
            created_at: start,
            updated_at: start,
            sequence: 0,
            late_cancellation: false,
        }
    }

    #[test]
    fn a_cancellation_inside_the_window_is_late() {
        let start: Timestamp = "2027-03-02T10:00:00Z".parse().unwrap();
        let visit = appointment(AppointmentStatus::Scheduled, start);
        let day = SignedDuration::from_hours(24);
        assert_eq!(
            visit.free_cancellation_until(day).to_string(),
            "2027-03-01T10:00:00Z"
        );
        assert!(!visit.is_late_cancellation("2027-03-01T10:00:00Z".parse().unwrap(), day));
        assert!(visit.is_late_cancellation("2027-03-01T10:00:01Z".parse().unwrap(), day));
    }

    #[test]
    fn only_upcoming_scheduled_appointments_can_be_cancelled() {
        let now: Timestamp = "2027-03-01T10:00:00Z".parse().unwrap();
        let later: Timestamp = "2027-03-02T10:00:00Z".parse().unwrap();
        let earlier: Timestamp = "2027-02-28T10:00:00Z".parse().unwrap();
        assert_eq!(
            appointment(AppointmentStatus::Scheduled, later).check_cancel(now),
            Ok(true)
        );
        assert_eq!(
            appointment(AppointmentStatus::Cancelled, later).check_cancel(now),
            Ok(false)
        );
        assert!(
            appointment(AppointmentStatus::Scheduled, earlier)
                .check_cancel(now)
                .is_err()
        );
        assert!(
            appointment(AppointmentStatus::Completed, later)
                .check_cancel(now)
                .is_err()
        );
    }

    #[test]
    fn reasons_are_trimmed_and_bounded() {
        assert_eq!(Reason::parse("  fever ").unwrap().as_str(), "fever");
        assert!(Reason::parse("   ").is_err());
        assert!(Reason::parse(&"x".repeat(1001)).is_err());
    }
}

/// A claim on a doctor's time as the database holds it, whether or not a hold has lapsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgendaClaim {
    /// First instant claimed (buffers included).
    pub start: Timestamp,
    /// First instant free again.
    pub end: Timestamp,
    /// `Held` for a hold, `Booked` for an appointment.
    pub status: SlotStatus,
    /// When a hold lapses; `None` for an appointment.
    pub expires_at: Option<Timestamp>,
}

/// A doctor's claims overlapping a window, with the doctor's latest slot event when read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Agenda {
    /// The claims, in no particular order.
    pub claims: Vec<AgendaClaim>,
    /// The doctor's latest slot event sequence number (0 before the first).
    pub seq: i64,
    /// When that event was recorded (`None` before the first): with `seq` it names the event
    /// even across a restore of the database, which numbers events again from the backup's.
    pub latest_at: Option<Timestamp>,
}

impl Agenda {
    /// What occupies `[from, to)` at `now`: the claims overlapping it that have not lapsed.
    pub fn occupancy(
        &self,
        doctor_id: DoctorId,
        (from, to): (Timestamp, Timestamp),
        now: Timestamp,
    ) -> Vec<Occupancy> {
        self.claims
            .iter()
            .filter(|c| c.start < to && c.end > from)
            .filter(|c| c.expires_at.is_none_or(|expires_at| expires_at > now))
            .map(|c| Occupancy {
                doctor_id,
                start: c.start,
                end: c.end,
                status: c.status,
            })
            .collect()
    }
}
