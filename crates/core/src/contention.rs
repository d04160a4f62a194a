//! The contention fast path: when many patients ask for one slot at once, one database answer
//! serves all the requests that were already waiting for it.
//!
//! Requests for one slot take turns on an instance ([`SlotContention::turn`]). Each database
//! operation a turn makes on the slot (the read of what stands in the way, or the claim that
//! wins it) is numbered when it begins, and what it learns (a claim that refuses other
//! patients) is kept with that number. A later turn may answer `SlotTaken` from it **only if
//! that request arrived before the operation began**: the request was then in flight over the
//! whole operation, so it can take effect at the operation's own instant, when the slot was
//! taken. A request that arrived later asks the database itself, and its operation serves the
//! requests that queued meanwhile. So a burst of N requests for one slot makes one database
//! operation per wave of arrivals instead of N, and every answer is one the database gave while
//! the request was in flight: linearizable, across any number of instances, with nothing to
//! invalidate. What a slot's queue learnt is gone when its last request leaves.
//!
//! The database stays the only authority for a win: this module only ever answers "taken", a
//! claim of the asking patient's own hold never refuses them (their repeated request gets the
//! same hold back from the database), and an appointment's claim refuses everyone, as the
//! database does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::lock::{Mutex as TurnLock, OwnedMutexGuard};
use jiff::Timestamp;

use crate::ids::{DoctorId, UserId};

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
}

impl ClaimInTheWay {
    fn refuses(&self, (start, end): (Timestamp, Timestamp), patient_id: UserId) -> bool {
        self.start < end && start < self.end && self.holder != Some(patient_id)
    }
}

/// A doctor's slot, by its start.
type SlotKey = (DoctorId, Timestamp);

/// The requests for one slot right now.
struct Queue {
    /// How many requests hold or wait for a turn.
    sharing: usize,
    lock: Arc<TurnLock<()>>,
    /// How many database operations on the slot have begun.
    begun: u64,
    /// The latest claim learnt, with the number of the operation that learnt it.
    learnt: Option<(u64, ClaimInTheWay)>,
}

/// The queues of the slots asked for right now on this instance.
#[derive(Default)]
pub struct SlotContention {
    queues: Mutex<HashMap<SlotKey, Queue>>,
    /// How many requests were refused without a database operation of their own.
    refused_from_memory: AtomicU64,
}

/// A request's turn at one slot; the next request for the slot waits until it is dropped.
pub struct Turn<'a> {
    contention: &'a SlotContention,
    key: SlotKey,
    /// How many operations had begun when this request arrived.
    arrival: u64,
    _guard: OwnedMutexGuard<()>,
}

/// A database operation a turn began; what it learns may answer the requests queued before it.
#[derive(Clone, Copy, Debug)]
pub struct Operation(u64);

impl Turn<'_> {
    /// Whether an operation that began after this request arrived learnt a claim that refuses
    /// `patient_id` the time `[start, end)`.
    pub fn refused(&self, claim: (Timestamp, Timestamp), patient_id: UserId) -> bool {
        let queues = self.contention.queues();
        let refused = queues
            .get(&self.key)
            .and_then(|queue| queue.learnt)
            .is_some_and(|(operation, learnt)| {
                operation > self.arrival && learnt.refuses(claim, patient_id)
            });
        drop(queues);
        if refused {
            self.contention
                .refused_from_memory
                .fetch_add(1, Ordering::Relaxed);
        }
        refused
    }

    /// Numbers a database operation on the slot, just before it is sent.
    pub fn begin(&self) -> Operation {
        let mut queues = self.contention.queues();
        let queue = queues
            .get_mut(&self.key)
            .map(|queue| {
                queue.begun += 1;
                queue.begun
            })
            .unwrap_or_default();
        Operation(queue)
    }

    /// Keeps what `operation` learnt stands in the way.
    pub fn learn(&self, operation: Operation, claim: ClaimInTheWay) {
        let mut queues = self.contention.queues();
        if let Some(queue) = queues.get_mut(&self.key)
            && queue.learnt.is_none_or(|(known, _)| known < operation.0)
        {
            queue.learnt = Some((operation.0, claim));
        }
    }
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
    /// No queues yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn queues(&self) -> MutexGuard<'_, HashMap<SlotKey, Queue>> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for this request's turn at the slot of `doctor_id` starting at `start`.
    pub async fn turn(&self, doctor_id: DoctorId, start: Timestamp) -> Turn<'_> {
        let key = (doctor_id, start);
        let (lock, arrival) = {
            let mut queues = self.queues();
            let queue = queues.entry(key).or_insert_with(|| Queue {
                sharing: 0,
                lock: Arc::new(TurnLock::new(())),
                begun: 0,
                learnt: None,
            });
            queue.sharing += 1;
            (queue.lock.clone(), queue.begun)
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
            arrival,
            _guard: guard,
        }
    }

    /// One request left the queue of `key`; the last one removes it, with what it learnt.
    fn leave(&self, key: SlotKey) {
        let mut queues = self.queues();
        if let Some(queue) = queues.get_mut(&key) {
            queue.sharing -= 1;
            if queue.sharing == 0 {
                queues.remove(&key);
            }
        }
    }

    /// How many requests were refused from what an earlier turn learnt (exported as a metric).
    pub fn refused_from_memory(&self) -> u64 {
        self.refused_from_memory.load(Ordering::Relaxed)
    }

    /// How many requests hold or wait for a turn at the slot of `doctor_id` starting at
    /// `start` right now.
    pub fn waiting(&self, doctor_id: DoctorId, start: Timestamp) -> usize {
        self.queues()
            .get(&(doctor_id, start))
            .map_or(0, |queue| queue.sharing)
    }

    /// How many slots have requests queued right now.
    pub fn queued_slots(&self) -> usize {
        self.queues().len()
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    fn at(minutes: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + minutes * 60).unwrap()
    }

    fn held_by(patient: UserId) -> ClaimInTheWay {
        ClaimInTheWay {
            start: at(60),
            end: at(90),
            holder: Some(patient),
        }
    }

    const SLOT: (i64, i64) = (60, 90);

    fn slot() -> (Timestamp, Timestamp) {
        (at(SLOT.0), at(SLOT.1))
    }

    #[tokio::test]
    async fn a_request_queued_before_an_operation_is_answered_by_it() {
        let contention = SlotContention::new();
        let (doctor, holder, other) =
            (DoctorId::generate(), UserId::generate(), UserId::generate());
        let first = contention.turn(doctor, at(60)).await;
        // Queued while the first request's operation has not begun.
        let mut second = Box::pin(contention.turn(doctor, at(60)));
        assert!((&mut second).now_or_never().is_none());

        let operation = first.begin();
        first.learn(operation, held_by(holder));
        drop(first);
        let second = second.await;
        assert!(second.refused(slot(), other));
        assert!(
            !second.refused(slot(), holder),
            "a hold never refuses its holder"
        );
        assert!(
            !second.refused((at(90), at(120)), other),
            "another time is not refused"
        );
        assert_eq!(contention.refused_from_memory(), 1);
    }

    #[tokio::test]
    async fn a_request_that_arrived_after_an_operation_began_asks_again() {
        let contention = SlotContention::new();
        let doctor = DoctorId::generate();
        let first = contention.turn(doctor, at(60)).await;
        let operation = first.begin();
        // Arrives while the operation runs: the slot may have been freed since it read.
        let mut late = Box::pin(contention.turn(doctor, at(60)));
        assert!((&mut late).now_or_never().is_none());
        first.learn(operation, held_by(UserId::generate()));
        drop(first);
        let late = late.await;
        assert!(!late.refused(slot(), UserId::generate()));
        assert_eq!(contention.refused_from_memory(), 0);
    }

    #[tokio::test]
    async fn an_appointment_refuses_everyone_queued_before_it_was_read() {
        let contention = SlotContention::new();
        let doctor = DoctorId::generate();
        let first = contention.turn(doctor, at(60)).await;
        let mut second = Box::pin(contention.turn(doctor, at(60)));
        assert!((&mut second).now_or_never().is_none());
        let operation = first.begin();
        let booked = ClaimInTheWay {
            holder: None,
            ..held_by(UserId::generate())
        };
        first.learn(operation, booked);
        drop(first);
        assert!(second.await.refused(slot(), UserId::generate()));
    }

    #[tokio::test]
    async fn nothing_learnt_outlives_the_queue() {
        let contention = SlotContention::new();
        let doctor = DoctorId::generate();
        let first = contention.turn(doctor, at(60)).await;
        let operation = first.begin();
        first.learn(operation, held_by(UserId::generate()));
        drop(first);
        assert_eq!(contention.queued_slots(), 0);
        let next = contention.turn(doctor, at(60)).await;
        assert!(!next.refused(slot(), UserId::generate()));
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
        assert_eq!(contention.queued_slots(), 0);
    }

    #[tokio::test]
    async fn a_request_dropped_while_waiting_leaves_no_queue_behind() {
        let contention = SlotContention::new();
        let doctor = DoctorId::generate();
        let first = contention.turn(doctor, at(60)).await;
        assert!(contention.turn(doctor, at(60)).now_or_never().is_none());
        drop(first);
        assert_eq!(contention.queued_slots(), 0);
    }
}
