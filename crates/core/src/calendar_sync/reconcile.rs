//! The pure reconciliation rule: what one appointment's calendar event should become, and the
//! event that shows it.

use crate::booking::AppointmentStatus;

use super::connections::SyncItem;
use super::protocol::{CalendarEvent, GoogleEventId, REMINDERS};

/// What to do with one appointment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncAction {
    /// Create its event (an existing one is updated instead).
    Insert,
    /// Replace its event (a missing one is inserted instead).
    Update,
    /// Delete its event (a missing one counts as deleted).
    Delete,
    /// Nothing to send: Google already shows this state.
    Skip,
}

/// The reconciliation rule: compare what the appointment is with what was synced.
pub fn decide(item: &SyncItem) -> SyncAction {
    let cancelled = item.status == AppointmentStatus::Cancelled;
    match item.synced {
        Some(synced) if synced == item.as_synced() => SyncAction::Skip,
        // Not known to be synced (a new connection, or one made again), yet cancelled: an
        // event from an earlier connection may still show it, so delete (missing is fine).
        None if cancelled => SyncAction::Delete,
        None => SyncAction::Insert,
        Some(synced) if cancelled && synced.status == AppointmentStatus::Cancelled => {
            SyncAction::Skip
        }
        Some(_) if cancelled => SyncAction::Delete,
        Some(_) => SyncAction::Update,
    }
}

/// The event for one appointment.
pub fn event_for(item: &SyncItem, clinic_name: &str) -> CalendarEvent {
    let doctor = doctor_title(&item.doctor_name);
    CalendarEvent {
        id: GoogleEventId::for_appointment(item.appointment_id),
        appointment_id: item.appointment_id,
        summary: format!("Appointment with {doctor}"),
        description: format!(
            "Your appointment with {doctor} at {clinic_name}, booked with MediBook. To \
             reschedule or cancel, use MediBook: changes made here are not sent back."
        ),
        location: clinic_name.to_owned(),
        start: item.start,
        end: item.end,
        time_zone: item.doctor_zone.clone(),
        reminders: REMINDERS.to_vec(),
    }
}

/// "Dr …" in front of a doctor's name unless it has it already.
fn doctor_title(name: &str) -> String {
    let name = name.trim();
    if name.starts_with("Dr") {
        name.to_owned()
    } else {
        format!("Dr {name}")
    }
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use super::super::connections::SyncedEvent;
    use crate::ids::{AppointmentId, UserId};

    use super::*;

    fn item(status: AppointmentStatus, synced: Option<SyncedEvent>) -> SyncItem {
        SyncItem {
            person_id: UserId::generate(),
            appointment_id: AppointmentId::generate(),
            doctor_name: "Anna Smith".into(),
            doctor_zone: "Europe/Berlin".into(),
            start: "2027-03-02T09:00:00Z".parse().unwrap_or_default(),
            end: "2027-03-02T09:30:00Z".parse().unwrap_or_default(),
            status,
            version: 7,
            synced,
        }
    }

    #[test]
    fn reconciliation_inserts_updates_deletes_and_skips() {
        use AppointmentStatus::{Cancelled, Completed, Scheduled};
        assert_eq!(decide(&item(Scheduled, None)), SyncAction::Insert);
        assert_eq!(decide(&item(Cancelled, None)), SyncAction::Delete);
        let same = item(Scheduled, None);
        let synced = SyncItem {
            synced: Some(same.as_synced()),
            ..same.clone()
        };
        assert_eq!(decide(&synced), SyncAction::Skip);
        let moved = SyncItem {
            start: same
                .start
                .saturating_add(SignedDuration::from_hours(1))
                .unwrap_or_default(),
            ..synced.clone()
        };
        assert_eq!(decide(&moved), SyncAction::Update, "same version, new time");
        let newer = SyncItem {
            version: 8,
            ..synced.clone()
        };
        assert_eq!(decide(&newer), SyncAction::Update);
        let cancelled = SyncItem {
            status: Cancelled,
            version: 9,
            ..synced.clone()
        };
        assert_eq!(decide(&cancelled), SyncAction::Delete);
        let deleted = SyncItem {
            synced: Some(cancelled.as_synced()),
            version: 10,
            ..cancelled.clone()
        };
        assert_eq!(decide(&deleted), SyncAction::Skip);
        let completed = SyncItem {
            status: Completed,
            version: 9,
            ..synced
        };
        assert_eq!(decide(&completed), SyncAction::Update);
    }

    #[test]
    fn events_name_the_doctor_and_clinic_but_not_the_reason() {
        let event = event_for(&item(AppointmentStatus::Scheduled, None), "MediBook clinic");
        assert_eq!(event.summary, "Appointment with Dr Anna Smith");
        assert_eq!(event.location, "MediBook clinic");
        assert!(event.description.contains("Dr Anna Smith"));
        assert_eq!(event.time_zone, "Europe/Berlin");
        assert_eq!(event.reminders, REMINDERS.to_vec());
        let titled = SyncItem {
            doctor_name: "Dr. Jörg Müller".into(),
            ..item(AppointmentStatus::Scheduled, None)
        };
        assert_eq!(
            event_for(&titled, "X").summary,
            "Appointment with Dr. Jörg Müller"
        );
    }
}
