//! What each booking command writes to the audit trail: pure decisions over the command's
//! outcome, applied by the store inside the command's own transaction, so a change is never
//! committed without its audit entry (nor an entry without its change).

use crate::audit::{AuditAction, AuditEvent};
use crate::booking::{Appointment, Hold};
use crate::ids::{HoldId, UserId};
use crate::waitlist::WaitlistOffer;

/// A hold was claimed, or (`created` false) a repeated request was answered with the live one.
pub fn claimed(hold: &Hold, created: bool) -> AuditEvent {
    let action = if created {
        AuditAction::HoldCreate
    } else {
        AuditAction::HoldRead
    };
    AuditEvent::hold(action, hold)
}

/// The patient asked to release their hold (whether or not it was still live).
pub fn released(hold_id: HoldId, patient_id: UserId) -> AuditEvent {
    AuditEvent::new(AuditAction::HoldRelease, "hold", Some(hold_id.to_string()))
        .with_patient(patient_id)
}

/// A hold was confirmed into `appointment`, or (`changed` false) a repeat was answered with it.
pub fn confirmed(appointment: &Appointment, changed: bool) -> AuditEvent {
    changed_or_read(appointment, changed, AuditAction::AppointmentCreate)
}

/// An appointment was cancelled, or (`changed` false) a repeat was answered with it.
pub fn cancelled(appointment: &Appointment, changed: bool) -> AuditEvent {
    changed_or_read(appointment, changed, AuditAction::AppointmentCancel)
}

/// An appointment was moved, or (`changed` false) a repeat was answered with it.
pub fn rescheduled(appointment: &Appointment, changed: bool) -> AuditEvent {
    changed_or_read(appointment, changed, AuditAction::AppointmentReschedule)
}

/// `action` on `appointment` if the command changed it; a repeat that changed nothing only
/// showed the patient their appointment again, which is a read.
fn changed_or_read(appointment: &Appointment, changed: bool, action: AuditAction) -> AuditEvent {
    let action = if changed {
        action
    } else {
        AuditAction::AppointmentRead
    };
    AuditEvent::appointment(action, appointment)
}

/// A freed slot was offered to a waiting patient (held for them by `offer.hold_id`).
pub fn offered(offer: &WaitlistOffer) -> AuditEvent {
    AuditEvent::new(
        AuditAction::WaitlistOffer,
        "waitlist_offer",
        Some(offer.id.to_string()),
    )
    .with_patient(offer.patient_id)
    .with_doctor(offer.doctor_id)
    .with_detail(format!("hold {}", offer.hold_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::HoldState;
    use crate::ids::DoctorId;
    use jiff::Timestamp;

    fn hold() -> Hold {
        Hold {
            id: HoldId::generate(),
            doctor_id: DoctorId::generate(),
            patient_id: UserId::generate(),
            start: Timestamp::UNIX_EPOCH,
            end: Timestamp::UNIX_EPOCH,
            expires_at: Timestamp::UNIX_EPOCH,
            state: HoldState::Active,
            appointment_id: None,
            created_at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_new_hold_is_a_creation_and_a_repeat_a_read() {
        let hold = hold();
        let created = claimed(&hold, true);
        assert_eq!(created.action, AuditAction::HoldCreate);
        assert_eq!(created.patient_id, Some(hold.patient_id));
        assert_eq!(created.doctor_id, Some(hold.doctor_id));
        assert_eq!(created.subject_id, Some(hold.id.to_string()));
        assert_eq!(claimed(&hold, false).action, AuditAction::HoldRead);
    }
}
