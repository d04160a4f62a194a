//! Google's side of the sync: the OAuth scope, the event ids we choose, the events and
//! reminders we send, and the [`GoogleCalendarApi`] port that speaks Google's protocol.

use async_trait::async_trait;
use jiff::Timestamp;
use thiserror::Error;

use crate::ids::AppointmentId;

/// The OAuth scope asked for: the events of the person's calendars, nothing else.
pub const CALENDAR_EVENTS_SCOPE: &str = "https://www.googleapis.com/auth/calendar.events";

/// The id of the Google event of one appointment: `mb` and the appointment UUID's 32 hex digits.
/// Google accepts client-chosen ids of 5 to 1024 characters from `a`–`v` and `0`–`9`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GoogleEventId(String);

impl GoogleEventId {
    /// The event id of `appointment`, the same every time.
    pub fn for_appointment(appointment: AppointmentId) -> Self {
        Self(format!("mb{}", appointment.as_uuid().simple()))
    }

    /// The id as sent to Google.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How Google reminds the patient before a visit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reminder {
    /// `popup` or `email`.
    pub method: &'static str,
    /// Minutes before the start.
    pub minutes: u32,
}

/// The reminders of every event: an email the day before and a notification an hour before.
pub const REMINDERS: [Reminder; 2] = [
    Reminder {
        method: "email",
        minutes: 24 * 60,
    },
    Reminder {
        method: "popup",
        minutes: 60,
    },
];

/// One appointment as a Google Calendar event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalendarEvent {
    /// The deterministic event id.
    pub id: GoogleEventId,
    /// The appointment it shows.
    pub appointment_id: AppointmentId,
    /// "Appointment with Dr …".
    pub summary: String,
    /// Names the clinic and the doctor; never the patient's reason for the visit.
    pub description: String,
    /// The clinic.
    pub location: String,
    /// Start of the visit.
    pub start: Timestamp,
    /// End of the visit.
    pub end: Timestamp,
    /// The doctor's IANA time zone, for how Google displays the times.
    pub time_zone: String,
    /// Reminders (Google's defaults are not used).
    pub reminders: Vec<Reminder>,
}

/// What Google's token endpoint granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessGrant {
    /// The bearer token for the Calendar API.
    pub access_token: String,
    /// Its lifetime in seconds.
    pub expires_in_seconds: i64,
    /// A refresh token (given on the first exchange with `access_type=offline`).
    pub refresh_token: Option<String>,
}

/// What a call to Google can end in, besides success.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CalendarError {
    /// Google no longer accepts the grant (`invalid_grant`, or 401 to a fresh access token):
    /// the person must reconnect. Carries Google's reason.
    #[error("{0}")]
    Revoked(String),
    /// The access token was refused (401); a fresh one may work.
    #[error("the access token was refused")]
    Unauthorized,
    /// Inserting an event whose id exists already (409).
    #[error("the event exists already")]
    AlreadyExists,
    /// The event does not exist or was deleted (404, 410).
    #[error("the event does not exist")]
    NotFound,
    /// Google refused the request for good (another 4xx), with its reason.
    #[error("Google refused the request: {0}")]
    Rejected(String),
    /// Google could not be reached or asked us to come back later (5xx, 429, network).
    #[error("Google could not be reached: {0}")]
    Unavailable(String),
}

/// Google's OAuth 2.0 and Calendar v3 protocol.
#[async_trait]
pub trait GoogleCalendarApi: Send + Sync + 'static {
    /// The consent page address for an authorization-code request with PKCE (S256).
    fn authorization_url(&self, state: &str, code_challenge: &str, redirect_uri: &str) -> String;
    /// Exchanges an authorization code (with its PKCE verifier) for tokens.
    async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
    ) -> Result<AccessGrant, CalendarError>;
    /// A fresh access token for a refresh token.
    async fn refresh(&self, refresh_token: &str) -> Result<AccessGrant, CalendarError>;
    /// Inserts an event with its own id.
    async fn insert_event(
        &self,
        access_token: &str,
        calendar_id: &str,
        event: &CalendarEvent,
    ) -> Result<(), CalendarError>;
    /// Replaces an event (and restores it if it was deleted).
    async fn update_event(
        &self,
        access_token: &str,
        calendar_id: &str,
        event: &CalendarEvent,
    ) -> Result<(), CalendarError>;
    /// Deletes an event.
    async fn delete_event(
        &self,
        access_token: &str,
        calendar_id: &str,
        event_id: &GoogleEventId,
    ) -> Result<(), CalendarError>;
    /// Revokes a token at Google (a no-op when no revocation endpoint is configured).
    async fn revoke(&self, token: &str) -> Result<(), CalendarError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_deterministic_and_in_googles_alphabet() {
        let appointment = AppointmentId::generate();
        let id = GoogleEventId::for_appointment(appointment);
        assert_eq!(id, GoogleEventId::for_appointment(appointment));
        assert_eq!(id.as_str().len(), 34);
        assert!(
            id.as_str()
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='v').contains(&c))
        );
    }
}
