//! The audit entries of the staff commands, decided here and written by the store inside the
//! command's own transaction, so that a change and its entry commit (or vanish) together
//! whichever door the command came through.

use jiff::Timestamp;

use super::{Outcome, RoleChange};
use crate::audit::{Actor, AuditAction, AuditEntry, AuditEvent};
use crate::booking::Appointment;
use crate::clinic::Specialty;
use crate::ids::DoctorId;
use crate::schedule::TimeOff;

/// `events` done by `actor` at `now`, ready to be written with the change.
pub(super) fn stamped(actor: &Actor, now: Timestamp, events: Vec<AuditEvent>) -> Vec<AuditEntry> {
    events
        .into_iter()
        .map(|event| AuditEntry::stamped(actor, now, event))
        .collect()
}

/// A user's role changed; `via` is appended to the description (say, " (command line)").
pub(super) fn role_changed(change: &RoleChange, via: &str) -> AuditEvent {
    let (before, after) = (&change.before, &change.after);
    let event = AuditEvent::new(AuditAction::RoleChange, "user", Some(after.id.to_string()))
        .with_patient(after.id)
        .with_detail(format!("{}{via}", change.describe()));
    match after.doctor_id.or(before.doctor_id) {
        Some(doctor) => event.with_doctor(doctor),
        None => event,
    }
}

/// A specialty was added or renamed.
pub(super) fn specialty(action: AuditAction, specialty: &Specialty) -> AuditEvent {
    AuditEvent::new(action, "specialty", Some(specialty.id.to_string()))
}

/// A doctor profile was changed; a new weekly schedule is its own entry.
pub(super) fn doctor_updated(doctor_id: DoctorId, schedule_changed: bool) -> Vec<AuditEvent> {
    let mut events = vec![AuditEvent::doctor(AuditAction::DoctorUpdate, doctor_id)];
    if schedule_changed {
        events.push(AuditEvent::doctor(AuditAction::ScheduleUpdate, doctor_id));
    }
    events
}

/// Time off was added (`TimeOffCreate`) or removed (`TimeOffDelete`).
pub(super) fn time_off(action: AuditAction, time_off: &TimeOff) -> AuditEvent {
    AuditEvent::doctor(action, time_off.doctor_id).with_detail(format!("time off {}", time_off.id))
}

/// How a visit went was recorded.
pub(super) fn outcome_recorded(appointment: &Appointment, outcome: Outcome) -> AuditEvent {
    let action = match outcome {
        Outcome::Completed => AuditAction::AppointmentComplete,
        Outcome::NoShow => AuditAction::AppointmentNoShow,
    };
    AuditEvent::appointment(action, appointment)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Role, User};
    use crate::ids::UserId;

    fn user(role: Role, doctor_id: Option<DoctorId>) -> User {
        User {
            id: UserId::from_uuid(uuid::Uuid::nil()),
            email: None,
            phone: None,
            name: Some("Ada".into()),
            role,
            doctor_id,
            created_at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_role_change_names_the_user_and_the_doctor_profile_it_touched() {
        let doctor = DoctorId::generate();
        let change = RoleChange {
            before: user(Role::Doctor, Some(doctor)),
            after: user(Role::Patient, None),
        };
        let event = role_changed(&change, " (command line)");
        assert_eq!(event.action, AuditAction::RoleChange);
        assert_eq!(event.doctor_id, Some(doctor), "the profile it unlinked");
        assert_eq!(event.patient_id, Some(change.after.id));
        let detail = event.detail.unwrap_or_default();
        assert!(detail.ends_with(" (command line)"), "{detail}");
    }

    #[test]
    fn a_new_schedule_is_an_entry_of_its_own() {
        let doctor = DoctorId::generate();
        let actions = |changed| -> Vec<AuditAction> {
            doctor_updated(doctor, changed)
                .into_iter()
                .map(|e| e.action)
                .collect()
        };
        assert_eq!(actions(false), [AuditAction::DoctorUpdate]);
        assert_eq!(
            actions(true),
            [AuditAction::DoctorUpdate, AuditAction::ScheduleUpdate]
        );
    }
}
