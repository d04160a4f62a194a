//! The contention fast path: when many patients ask for one slot, an instance that already
//! knows the slot is taken answers `SlotTaken` without asking the database.
//!
//! The database stays the only authority for a win. This module may only ever say "taken",
//! and only what the database said or would say:
//!
//! - An instance lets one request per slot at a time go to the database ([`SlotContention::turn`]);
//!   requests for the same slot wait for its outcome instead of all reading at once.
//! - What it learns (a claim in the way, seen by a loser's read, or the winner's own hold) is
//!   kept with the doctor's event sequence number at which it was true. Any later slot event of
//!   that doctor overlapping it drops it; a fact older than an event already seen is not kept
//!   (the event might have changed it). Sequence numbers are the database's, gap-free per
//!   doctor, so the order in which events reach this instance does not matter.
//! - A fact lapses with its hold, and after [`FACT_LIFETIME`] in any case, which bounds how long
//!   an instance whose relay missed a release can refuse a slot that became free.
//! - A claim of the asking patient's own hold never refuses them (a repeated request gets the
//!   same hold back from the database).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::lock::{Mutex as TurnLock, OwnedMutexGuard};
use jiff::{SignedDuration, Timestamp};

use crate::events::{DomainEvent, EventFollower};
use crate::ids::{DoctorId, UserId};

/// How long a fact about a claim is used without news of its doctor.
pub const FACT_LIFETIME: SignedDuration = SignedDuration::from_secs(15);

/// A live claim on a doctor's agenda that refuses a patient, as the database saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClaimInTheWay {
    /// Start of the claimed time (buffers included).
    pub start: Timestamp,
    /// End of the claimed time.
    pub end: Timestamp,
    /// The patient whose own hold this is (it does not refuse them); `None` for an appointment,
    /// which refuses everyone.
    pub holder: Option<UserId>,
    /// When the claim lapses; `None` for an appointment.
    pub expires_at: Option<Timestamp>,
    /// The doctor's latest slot event when this was read.
    pub seq: i64,
}

impl ClaimInTheWay {
    fn overlaps(&self, start: Timestamp, end: Timestamp) -> bool {
        self.start < end && start < self.end
    }

    fn refuses(&self, patient_id: UserId) -> bool {
        self.holder != Some(patient_id)
    }
}

/// A fact and when it stops being used.
#[derive(Clone, Copy, Debug)]
struct Fact {
    claim: ClaimInTheWay,
    until: Timestamp,
}

#[derive(Default)]
struct State {
    /// The highest slot event sequence number seen of each doctor.
    seen: HashMap<DoctorId, i64>,
    facts: HashMap<DoctorId, Vec<Fact>>,
    /// The queue of each slot asked for right now.
    queues: HashMap<SlotKey, Queue>,
}

/// A doctor's slot, by its start.
type SlotKey = (DoctorId, Timestamp);

/// The requests for one slot: one lock, and how many requests hold or wait for it.
struct Queue {
    sharing: usize,
    lock: Arc<TurnLock<()>>,
}

/// What this instance knows of taken slots, and the queue of requests per slot.
#[derive(Default)]
pub struct SlotContention {
    state: Mutex<State>,
    /// How many requests were refused from memory, without a database round trip.
    refused_from_memory: AtomicU64,
}

/// A request's turn to ask the database about one slot; the next request for the slot waits
/// until it is dropped.
pub struct Turn<'a> {
    contention: &'a SlotContention,
    key: SlotKey,
    _guard: OwnedMutexGuard<()>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.contention.leave(self.key);
    }
}

/// Leaves a queue it joined but never got a turn in (the request was dropped while waiting).
struct Waiting<'a> {
    contention: &'a SlotContention,
    key: SlotKey,
    armed: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.contention.leave(self.key);
        }
    }
}

impl SlotContention {
    /// Knows nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for this request's turn at the slot of `doctor_id` starting at `start`.
    pub async fn turn(&self, doctor_id: DoctorId, start: Timestamp) -> Turn<'_> {
        let key = (doctor_id, start);
        let lock = {
            let mut state = self.state();
            let queue = state.queues.entry(key).or_insert_with(|| Queue {
                sharing: 0,
                lock: Arc::new(TurnLock::new(())),
            });
            queue.sharing += 1;
            queue.lock.clone()
        };
        let mut waiting = Waiting {
            contention: self,
            key,
            armed: true,
        };
        let guard = lock.lock_owned().await;
        waiting.armed = false;
        Turn {
            contention: self,
            key,
            _guard: guard,
        }
    }

    /// One request left the queue of `key`; the last one removes it.
    fn leave(&self, key: SlotKey) {
        let mut state = self.state();
        if let Some(queue) = state.queues.get_mut(&key) {
            queue.sharing -= 1;
            if queue.sharing == 0 {
                state.queues.remove(&key);
            }
        }
    }

    /// Whether a claim this instance knows of refuses `patient_id` the time `[start, end)` at
    /// `now`.
    pub fn refuses(
        &self,
        doctor_id: DoctorId,
        (start, end): (Timestamp, Timestamp),
        patient_id: UserId,
        now: Timestamp,
    ) -> bool {
        let mut state = self.state();
        let Some(facts) = state.facts.get_mut(&doctor_id) else {
            return false;
        };
        facts.retain(|fact| fact.until > now);
        let refused = facts
            .iter()
            .any(|fact| fact.claim.overlaps(start, end) && fact.claim.refuses(patient_id));
        if refused {
            self.refused_from_memory.fetch_add(1, Ordering::Relaxed);
        }
        refused
    }

    /// How many requests [`Self::refuses`] refused so far (exported as a metric).
    pub fn refused_from_memory(&self) -> u64 {
        self.refused_from_memory.load(Ordering::Relaxed)
    }

    /// Keeps what the database said stands in the way on `doctor_id`'s agenda, unless an event
    /// newer than it was already seen.
    pub fn remember(&self, doctor_id: DoctorId, claim: ClaimInTheWay, now: Timestamp) {
        let mut until = now.saturating_add(FACT_LIFETIME).unwrap_or(now);
        if let Some(expires_at) = claim.expires_at {
            until = until.min(expires_at);
        }
        if until <= now {
            return;
        }
        let mut state = self.state();
        if state
            .seen
            .get(&doctor_id)
            .is_some_and(|seen| *seen > claim.seq)
        {
            return;
        }
        let facts = state.facts.entry(doctor_id).or_default();
        facts.retain(|fact| fact.until > now);
        facts.push(Fact { claim, until });
    }

    /// Forgets everything it knows (when events may have been missed).
    pub fn forget_all(&self) {
        self.state().facts.clear();
    }
}

impl EventFollower for SlotContention {
    fn follow(&self, event: &DomainEvent) {
        let DomainEvent::Slot(slot) = event else {
            return;
        };
        let mut state = self.state();
        let seen = state.seen.entry(slot.doctor_id).or_insert(0);
        *seen = (*seen).max(slot.seq);
        if let Some(facts) = state.facts.get_mut(&slot.doctor_id) {
            facts.retain(|fact| {
                fact.claim.seq >= slot.seq || !fact.claim.overlaps(slot.start, slot.end)
            });
            if facts.is_empty() {
                state.facts.remove(&slot.doctor_id);
            }
        }
    }

    fn missed_some(&self) {
        self.forget_all();
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;
    use crate::booking::SlotStatus;
    use crate::events::SlotEvent;

    fn at(minutes: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + minutes * 60).unwrap()
    }

    fn second(seconds: i64) -> Timestamp {
        at(0)
            .saturating_add(SignedDuration::from_secs(seconds))
            .unwrap()
    }

    fn held_by(patient: UserId, seq: i64) -> ClaimInTheWay {
        ClaimInTheWay {
            start: at(60),
            end: at(90),
            holder: Some(patient),
            expires_at: Some(second(10)),
            seq,
        }
    }

    fn event(doctor_id: DoctorId, seq: i64, start: i64, status: SlotStatus) -> DomainEvent {
        DomainEvent::Slot(SlotEvent {
            doctor_id,
            seq,
            start: at(start),
            end: at(start + 30),
            status,
        })
    }

    #[test]
    fn a_known_hold_refuses_others_but_not_its_holder() {
        let contention = SlotContention::new();
        let (doctor, holder, other) =
            (DoctorId::generate(), UserId::generate(), UserId::generate());
        contention.remember(doctor, held_by(holder, 3), at(0));
        assert!(contention.refuses(doctor, (at(60), at(90)), other, second(1)));
        assert!(contention.refuses(doctor, (at(75), at(105)), other, second(1)));
        assert!(!contention.refuses(doctor, (at(60), at(90)), holder, second(1)));
        assert!(!contention.refuses(doctor, (at(90), at(120)), other, second(1)));
        assert!(!contention.refuses(DoctorId::generate(), (at(60), at(90)), other, second(1)));
    }

    #[test]
    fn an_appointment_refuses_everyone() {
        let contention = SlotContention::new();
        let doctor = DoctorId::generate();
        let booked = ClaimInTheWay {
            holder: None,
            expires_at: None,
            ..held_by(UserId::generate(), 1)
        };
        contention.remember(doctor, booked, at(0));
        assert!(contention.refuses(doctor, (at(60), at(90)), UserId::generate(), second(1)));
    }

    #[test]
    fn a_fact_lapses_with_its_hold_and_after_its_lifetime() {
        let contention = SlotContention::new();
        let doctor = DoctorId::generate();
        let other = UserId::generate();
        contention.remember(doctor, held_by(UserId::generate(), 1), at(0));
        assert!(contention.refuses(doctor, (at(60), at(90)), other, second(9)));
        assert!(!contention.refuses(doctor, (at(60), at(90)), other, second(10)));

        let booked = ClaimInTheWay {
            holder: None,
            expires_at: None,
            ..held_by(UserId::generate(), 1)
        };
        contention.remember(doctor, booked, at(0));
        let lifetime = at(0).saturating_add(FACT_LIFETIME).unwrap();
        let just_before = lifetime
            .saturating_sub(SignedDuration::from_secs(1))
            .unwrap();
        assert!(contention.refuses(doctor, (at(60), at(90)), other, just_before));
        assert!(!contention.refuses(doctor, (at(60), at(90)), other, lifetime));
    }

    #[test]
    fn a_later_event_of_the_slot_drops_the_fact() {
        let contention = SlotContention::new();
        let doctor = DoctorId::generate();
        let other = UserId::generate();
        contention.remember(doctor, held_by(UserId::generate(), 4), at(0));

        // Older news, or news of another slot, changes nothing.
        contention.follow(&event(doctor, 4, 60, SlotStatus::Available));
        contention.follow(&event(doctor, 5, 120, SlotStatus::Available));
        assert!(contention.refuses(doctor, (at(60), at(90)), other, second(1)));

        contention.follow(&event(doctor, 6, 60, SlotStatus::Available));
        assert!(!contention.refuses(doctor, (at(60), at(90)), other, second(1)));
    }

    #[test]
    fn a_fact_read_before_an_event_already_seen_is_not_kept() {
        let contention = SlotContention::new();
        let doctor = DoctorId::generate();
        contention.follow(&event(doctor, 7, 60, SlotStatus::Available));
        contention.remember(doctor, held_by(UserId::generate(), 6), at(0));
        assert!(!contention.refuses(doctor, (at(60), at(90)), UserId::generate(), second(1)));
    }

    #[test]
    fn missed_events_forget_everything() {
        let contention = SlotContention::new();
        let doctor = DoctorId::generate();
        contention.remember(doctor, held_by(UserId::generate(), 1), at(0));
        contention.missed_some();
        assert!(!contention.refuses(doctor, (at(60), at(90)), UserId::generate(), second(1)));
    }

    #[tokio::test]
    async fn requests_for_one_slot_take_turns_and_leave_no_queue_behind() {
        let contention = Arc::new(SlotContention::new());
        let doctor = DoctorId::generate();
        let first = contention.turn(doctor, at(60)).await;
        let waiter = {
            let contention = contention.clone();
            tokio::spawn(async move {
                let _turn = contention.turn(doctor, at(60)).await;
            })
        };
        // Another slot does not wait.
        drop(contention.turn(doctor, at(90)).await);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(first);
        waiter.await.unwrap();
        assert!(contention.state().queues.is_empty());
    }

    #[tokio::test]
    async fn a_request_dropped_while_waiting_leaves_no_queue_behind() {
        let contention = SlotContention::new();
        let doctor = DoctorId::generate();
        let first = contention.turn(doctor, at(60)).await;
        assert!(contention.turn(doctor, at(60)).now_or_never().is_none());
        drop(first);
        assert!(contention.state().queues.is_empty());
    }
}
