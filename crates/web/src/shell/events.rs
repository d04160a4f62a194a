//! The in-process event bus: committed domain events fanned out to subscribers in this process
//! (the WebSocket feed). A subscriber that falls behind loses the oldest events and is told so
//! by the channel, never slowing the publisher.
//!
//! Each event is published once, however many paths bring it: with several instances an
//! instance's own events come back through the relay (PostgreSQL `LISTEN`), and the bus drops
//! a slot change or offer it published recently. Slot changes are also encoded for the feed
//! once, here, so that thousands of connections share one frame instead of encoding their own.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::ws::Utf8Bytes;
use medibook_core::events::{DomainEvent, EventBus, SlotEvent};
use medibook_core::ids::{DoctorId, OfferId};
use serde::Serialize;
use tokio::sync::broadcast;

/// How many recent events the bus remembers to drop repeats of. Repeats arrive within the
/// relay's delay (milliseconds), far fewer events than this apart.
const REMEMBERED: usize = 4096;

/// Fans events out to in-process subscribers.
#[derive(Clone, Debug)]
pub struct InProcessBus {
    sender: broadcast::Sender<Published>,
    recent: Arc<Mutex<Recent>>,
}

/// One published event, shared by every subscriber.
#[derive(Clone, Debug)]
pub struct Published(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    event: DomainEvent,
    /// The feed's text frame of a slot change.
    frame: Option<Utf8Bytes>,
}

impl Published {
    fn new(event: DomainEvent) -> Self {
        let frame = match &event {
            DomainEvent::Slot(slot) => slot_frame(slot),
            _ => None,
        };
        Self(Arc::new(Shared { event, frame }))
    }

    /// The event.
    pub fn event(&self) -> &DomainEvent {
        &self.0.event
    }

    /// A slot change as the feed sends it: `{"type":"slot",…}` (see [`crate::feed`]).
    pub fn slot_frame(&self) -> Option<&Utf8Bytes> {
        self.0.frame.as_ref()
    }
}

/// The feed's frame of a slot change.
pub(crate) fn slot_frame(event: &SlotEvent) -> Option<Utf8Bytes> {
    #[derive(Serialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Frame<'a> {
        Slot(&'a SlotEvent),
    }
    match serde_json::to_string(&Frame::Slot(event)) {
        Ok(text) => Some(text.into()),
        Err(error) => {
            tracing::warn!(%error, "cannot encode a slot change for the feed");
            None
        }
    }
}

/// What identifies an event for dropping repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Slot(DoctorId, i64),
    Offer(OfferId),
}

impl Key {
    fn of(event: &DomainEvent) -> Option<Self> {
        match event {
            DomainEvent::Slot(slot) => Some(Self::Slot(slot.doctor_id, slot.seq)),
            DomainEvent::WaitlistOffer(offer) => Some(Self::Offer(offer.id)),
            DomainEvent::Appointment { .. } | DomainEvent::Doctor { .. } => None,
        }
    }
}

/// The last [`REMEMBERED`] keys published, oldest first.
#[derive(Debug, Default)]
struct Recent {
    order: VecDeque<Key>,
    keys: HashSet<Key>,
}

impl Recent {
    /// Notes `key`; `false` when it was published recently.
    fn first_time(&mut self, key: Key) -> bool {
        if !self.keys.insert(key) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > REMEMBERED
            && let Some(oldest) = self.order.pop_front()
        {
            self.keys.remove(&oldest);
        }
        true
    }
}

impl InProcessBus {
    /// A bus buffering up to `capacity` events per slow subscriber.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self {
            sender,
            recent: Arc::default(),
        }
    }

    /// A new subscription, starting with the next published event.
    pub fn subscribe(&self) -> broadcast::Receiver<Published> {
        self.sender.subscribe()
    }
}

impl EventBus for InProcessBus {
    fn publish(&self, event: DomainEvent) {
        if let Some(key) = Key::of(&event) {
            let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
            if !recent.first_time(key) {
                return;
            }
        }
        // No subscribers is not an error: nobody is listening right now.
        let _ = self.sender.send(Published::new(event));
    }
}

#[cfg(test)]
mod tests {
    use medibook_core::booking::SlotStatus;

    use super::*;

    fn change(doctor: DoctorId, seq: i64) -> DomainEvent {
        DomainEvent::Slot(SlotEvent {
            doctor_id: doctor,
            seq,
            start: "2027-03-02T08:00:00Z".parse().unwrap(),
            end: "2027-03-02T08:30:00Z".parse().unwrap(),
            status: SlotStatus::Held,
        })
    }

    #[test]
    fn an_event_published_twice_reaches_subscribers_once() {
        let bus = InProcessBus::new(16);
        let mut subscriber = bus.subscribe();
        let doctor = DoctorId::generate();
        bus.publish(change(doctor, 1));
        bus.publish(change(doctor, 1));
        bus.publish(change(doctor, 2));
        let seqs: Vec<i64> = std::iter::from_fn(|| subscriber.try_recv().ok())
            .filter_map(|published| match published.event() {
                DomainEvent::Slot(slot) => Some(slot.seq),
                _ => None,
            })
            .collect();
        assert_eq!(seqs, vec![1, 2]);
    }

    #[test]
    fn only_recent_events_are_remembered() {
        let mut recent = Recent::default();
        let doctor = DoctorId::generate();
        for seq in 0..=REMEMBERED as i64 {
            assert!(recent.first_time(Key::Slot(doctor, seq)));
        }
        assert_eq!(recent.keys.len(), REMEMBERED);
        assert!(recent.first_time(Key::Slot(doctor, 0)), "forgotten");
        assert!(!recent.first_time(Key::Slot(doctor, REMEMBERED as i64)));
    }

    #[test]
    fn slot_changes_carry_the_feeds_frame() {
        let bus = InProcessBus::new(4);
        let mut subscriber = bus.subscribe();
        let doctor = DoctorId::generate();
        bus.publish(change(doctor, 7));
        let published = subscriber.try_recv().unwrap();
        let frame: serde_json::Value =
            serde_json::from_str(published.slot_frame().unwrap().as_str()).unwrap();
        assert_eq!(frame["type"], "slot");
        assert_eq!(frame["seq"], 7);
        assert_eq!(frame["status"], "held");
        assert_eq!(frame["doctor_id"], doctor.to_string());
    }
}
