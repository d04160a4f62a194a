//! Domain events: what changed, published after the change committed.

use jiff::Timestamp;
use serde::Serialize;

use crate::booking::{AppointmentStatus, SlotStatus};
use crate::ids::{AppointmentId, DoctorId, UserId};

/// A committed state change others may want to hear about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DomainEvent {
    /// A slot of a doctor changed status.
    Slot {
        /// Whose slot.
        doctor_id: DoctorId,
        /// Start of the visit.
        start: Timestamp,
        /// End of the visit.
        end: Timestamp,
        /// The new status.
        status: SlotStatus,
    },
    /// An appointment was booked or changed status or time.
    Appointment {
        /// Which appointment.
        appointment_id: AppointmentId,
        /// With whom.
        doctor_id: DoctorId,
        /// For whom.
        patient_id: UserId,
        /// Its status now.
        status: AppointmentStatus,
    },
}

/// Carries events to whoever listens (in process, or across instances).
pub trait EventBus: Send + Sync + 'static {
    /// Publishes a committed change. Never blocks; a bus that cannot deliver drops and logs.
    fn publish(&self, event: DomainEvent);
}

/// A bus with no listeners, for tools that change data offline (seeding, migrations).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoListeners;

impl EventBus for NoListeners {
    fn publish(&self, _event: DomainEvent) {}
}
