//! Domain events: what changed, published after the change committed.
//!
//! Slot changes are numbered per doctor (`seq` 1, 2, 3, …) by the database, in the same
//! transaction as the change itself, so the numbering is gap-free and identical on every
//! instance: a listener that saw `seq` N of a doctor and reads the log from N + 1 misses nothing
//! and sees nothing twice.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;

use crate::booking::{AppointmentStatus, SlotStatus};
use crate::error::BookingResult;
use crate::ids::{AppointmentId, DoctorId, UserId};
use crate::waitlist::WaitlistOffer;

/// A slot of a doctor changed status; `seq` numbers the changes of that doctor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SlotEvent {
    /// Whose slot.
    pub doctor_id: DoctorId,
    /// Position in the doctor's stream, from 1, without gaps.
    pub seq: i64,
    /// Start of the visit.
    pub start: Timestamp,
    /// End of the visit.
    pub end: Timestamp,
    /// The new status.
    pub status: SlotStatus,
}

/// The recorded stream of slot changes.
#[async_trait]
pub trait SlotEventLog: Send + Sync + 'static {
    /// The doctor's slot events with `seq > after_seq`, in order, at most `limit`.
    async fn slot_events_after(
        &self,
        doctor_id: DoctorId,
        after_seq: i64,
        limit: u32,
    ) -> BookingResult<Vec<SlotEvent>>;
    /// The doctor's latest `seq` (0 before the first change).
    async fn latest_slot_seq(&self, doctor_id: DoctorId) -> BookingResult<i64>;
    /// The doctor's latest slot event's number and the time it was recorded.
    async fn latest_slot_mark(&self, doctor_id: DoctorId) -> BookingResult<SlotMark>;
}

/// Which of a doctor's slot events is the latest: its number and when it was recorded (`seq` 0
/// and no time before the first). The time tells apart two events given one number by a
/// database and by a restore of an older copy of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotMark {
    /// The event's number.
    pub seq: i64,
    /// When it was recorded.
    pub recorded_at: Option<Timestamp>,
}

/// A committed state change others may want to hear about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DomainEvent {
    /// A slot of a doctor changed status.
    Slot(SlotEvent),
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
    /// A waiting patient was offered a slot (for that patient's eyes only).
    WaitlistOffer(WaitlistOffer),
    /// A doctor's profile, weekly schedule or time off changed (or a doctor was added): what
    /// instances cache of that doctor is out of date.
    Doctor {
        /// Which doctor.
        doctor_id: DoctorId,
    },
}

/// Carries events to whoever listens (in process, or across instances).
pub trait EventBus: Send + Sync + 'static {
    /// Publishes a committed change. Never blocks; a bus that cannot deliver drops and logs.
    fn publish(&self, event: DomainEvent);
}

/// Keeps derived state (a cache, what is known of taken slots) in step with committed changes:
/// told of each event this instance publishes, before anyone else hears of it, and of each
/// event relayed from other instances.
pub trait EventFollower: Send + Sync + 'static {
    /// Follows one event.
    fn follow(&self, event: &DomainEvent);
    /// Events may have been missed (a lagging subscriber): nothing derived can be trusted.
    fn missed_some(&self);
}

/// A bus that tells its followers of each event before publishing it on the bus it wraps, so
/// this instance's own next request never sees state an event it published has outdated.
pub struct FollowedBus {
    followers: Vec<std::sync::Arc<dyn EventFollower>>,
    inner: std::sync::Arc<dyn EventBus>,
}

impl FollowedBus {
    /// Publishes on `inner` after telling each of `followers`.
    pub fn new(
        followers: Vec<std::sync::Arc<dyn EventFollower>>,
        inner: std::sync::Arc<dyn EventBus>,
    ) -> Self {
        Self { followers, inner }
    }
}

impl EventBus for FollowedBus {
    fn publish(&self, event: DomainEvent) {
        for follower in &self.followers {
            follower.follow(&event);
        }
        self.inner.publish(event);
    }
}

/// A bus with no listeners, for tools that change data offline (seeding, migrations).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoListeners;

impl EventBus for NoListeners {
    fn publish(&self, _event: DomainEvent) {}
}
