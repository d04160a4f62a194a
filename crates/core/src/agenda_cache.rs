//! The claims on each doctor's coming weeks, kept in memory so a slot listing usually asks the
//! database nothing at all.
//!
//! An entry is the doctor's claims (holds and appointments, lapsed or not) over a window, read
//! in one statement together with the doctor's latest slot event sequence number. Every change
//! of a claim records a slot event in its own transaction, so the entry is exact until an event
//! of that doctor with a higher number: such an event drops it, and an entry read before an
//! event this instance has already seen is not kept. Sequence numbers are the database's,
//! gap-free per doctor, so the order in which events arrive does not matter. Holds lapse by
//! the clock, not by an event: the listing filters them by their expiry at read time, exactly as
//! the database query does.
//!
//! Entries also lapse after [`AGENDA_LIFETIME`], which bounds how long an instance whose relay
//! missed an event can list a slot in an old state (a hold on a slot listed as free is still
//! refused by the database), and a lagging bus subscriber drops them all. At most
//! [`MAX_DOCTORS`] doctors are kept.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use jiff::{SignedDuration, Timestamp};

use crate::booking::{Agenda, Occupancy};
use crate::events::{DomainEvent, EventFollower};
use crate::ids::DoctorId;

/// How long an entry is used without news of its doctor.
pub const AGENDA_LIFETIME: SignedDuration = SignedDuration::from_secs(10);

/// Most doctors whose agenda is kept at once.
pub const MAX_DOCTORS: usize = 10_000;

struct Entry {
    window: (Timestamp, Timestamp),
    agenda: Agenda,
    filled: Timestamp,
}

#[derive(Default)]
struct State {
    /// The highest slot event sequence number seen of each doctor.
    seen: HashMap<DoctorId, i64>,
    entries: HashMap<DoctorId, Entry>,
}

/// The doctors' agendas this instance keeps.
#[derive(Default)]
pub struct AgendaCache {
    state: Mutex<State>,
    /// How many listings were answered from memory.
    hits: AtomicU64,
}

impl AgendaCache {
    /// Keeps nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What occupies the doctor's `[from, to)` at `now`, if a fresh entry covers it.
    pub fn occupancy(
        &self,
        doctor_id: DoctorId,
        (from, to): (Timestamp, Timestamp),
        now: Timestamp,
    ) -> Option<Vec<Occupancy>> {
        let state = self.state();
        let entry = state.entries.get(&doctor_id)?;
        let (start, end) = entry.window;
        let fresh = now.duration_since(entry.filled) < AGENDA_LIFETIME;
        if !(fresh && start <= from && to <= end) {
            return None;
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(entry.agenda.occupancy(doctor_id, (from, to), now))
    }

    /// How many times [`Self::occupancy`] answered from memory (exported as a metric).
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Keeps the doctor's agenda over `window`, read at `now`, unless an event newer than it
    /// was already seen.
    pub fn keep(
        &self,
        doctor_id: DoctorId,
        window: (Timestamp, Timestamp),
        agenda: Agenda,
        now: Timestamp,
    ) {
        let mut state = self.state();
        if state
            .seen
            .get(&doctor_id)
            .is_some_and(|seen| *seen > agenda.seq)
        {
            return;
        }
        if state.entries.len() >= MAX_DOCTORS && !state.entries.contains_key(&doctor_id) {
            state
                .entries
                .retain(|_, entry| now.duration_since(entry.filled) < AGENDA_LIFETIME);
            if state.entries.len() >= MAX_DOCTORS {
                return;
            }
        }
        state.entries.insert(
            doctor_id,
            Entry {
                window,
                agenda,
                filled: now,
            },
        );
    }

    /// How many doctors' agendas are kept.
    pub fn len(&self) -> usize {
        self.state().entries.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl EventFollower for AgendaCache {
    fn follow(&self, event: &DomainEvent) {
        let DomainEvent::Slot(slot) = event else {
            return;
        };
        let mut state = self.state();
        let seen = state.seen.entry(slot.doctor_id).or_insert(0);
        *seen = (*seen).max(slot.seq);
        if state
            .entries
            .get(&slot.doctor_id)
            .is_some_and(|entry| entry.agenda.seq < slot.seq)
        {
            state.entries.remove(&slot.doctor_id);
        }
    }

    fn missed_some(&self) {
        self.state().entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::{AgendaClaim, SlotStatus};
    use crate::events::SlotEvent;

    fn at(minutes: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + minutes * 60).unwrap()
    }

    fn second(seconds: i64) -> Timestamp {
        at(0)
            .saturating_add(SignedDuration::from_secs(seconds))
            .unwrap()
    }

    fn agenda(seq: i64) -> Agenda {
        Agenda {
            claims: vec![
                AgendaClaim {
                    start: at(60),
                    end: at(90),
                    status: SlotStatus::Booked,
                    expires_at: None,
                },
                AgendaClaim {
                    start: at(120),
                    end: at(150),
                    status: SlotStatus::Held,
                    expires_at: Some(second(5)),
                },
            ],
            seq,
            latest_at: None,
        }
    }

    fn slot_event(doctor_id: DoctorId, seq: i64) -> DomainEvent {
        DomainEvent::Slot(SlotEvent {
            doctor_id,
            seq,
            start: at(300),
            end: at(330),
            status: SlotStatus::Held,
        })
    }

    #[test]
    fn a_kept_agenda_answers_any_window_inside_it_and_drops_lapsed_holds() {
        let cache = AgendaCache::new();
        let doctor = DoctorId::generate();
        cache.keep(doctor, (at(0), at(1000)), agenda(3), at(0));

        let all = cache
            .occupancy(doctor, (at(0), at(200)), second(1))
            .unwrap();
        assert_eq!(all.len(), 2);
        let morning = cache
            .occupancy(doctor, (at(50), at(100)), second(1))
            .unwrap();
        assert_eq!(morning.len(), 1);
        assert_eq!(morning[0].status, SlotStatus::Booked);
        let after_the_hold_lapsed = cache
            .occupancy(doctor, (at(0), at(200)), second(5))
            .unwrap();
        assert_eq!(after_the_hold_lapsed.len(), 1);

        assert!(
            cache
                .occupancy(doctor, (at(900), at(1100)), second(1))
                .is_none()
        );
        assert!(
            cache
                .occupancy(DoctorId::generate(), (at(0), at(200)), second(1))
                .is_none()
        );
    }

    #[test]
    fn a_newer_event_of_the_doctor_drops_the_agenda() {
        let cache = AgendaCache::new();
        let (doctor, other) = (DoctorId::generate(), DoctorId::generate());
        cache.keep(doctor, (at(0), at(1000)), agenda(3), at(0));
        cache.follow(&slot_event(doctor, 3));
        cache.follow(&slot_event(other, 9));
        assert!(
            cache
                .occupancy(doctor, (at(0), at(200)), second(1))
                .is_some()
        );
        cache.follow(&slot_event(doctor, 4));
        assert!(
            cache
                .occupancy(doctor, (at(0), at(200)), second(1))
                .is_none()
        );
    }

    #[test]
    fn an_agenda_read_before_an_event_already_seen_is_not_kept() {
        let cache = AgendaCache::new();
        let doctor = DoctorId::generate();
        cache.follow(&slot_event(doctor, 5));
        cache.keep(doctor, (at(0), at(1000)), agenda(4), at(0));
        assert!(cache.is_empty());
        cache.keep(doctor, (at(0), at(1000)), agenda(5), at(0));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn an_agenda_lapses_after_its_lifetime_and_when_events_were_missed() {
        let cache = AgendaCache::new();
        let doctor = DoctorId::generate();
        cache.keep(doctor, (at(0), at(1000)), agenda(1), at(0));
        let lifetime = at(0).saturating_add(AGENDA_LIFETIME).unwrap();
        assert!(
            cache
                .occupancy(doctor, (at(0), at(200)), lifetime)
                .is_none()
        );

        cache.keep(doctor, (at(0), at(1000)), agenda(1), at(0));
        cache.missed_some();
        assert!(cache.occupancy(doctor, (at(0), at(200)), at(0)).is_none());
    }
}
