//! Events across instances. Every committed slot event is *announced* to every instance as a
//! short text naming it (`doctor_id:seq`, see [`Announcement`]); each instance reads the
//! announced rows from the event log and republishes them on its own bus ([`Republisher`]).
//! Announcements name events and the rows are read after, so an announcement lost while a
//! connection was down is filled in from the log at the next one (per-doctor sequence numbers
//! show the gap), and after a reconnect the listener catches up every doctor it follows.
//!
//! Two transports carry announcements, both feeding one [`Republisher`]:
//!
//! - PostgreSQL (this module's [`EventRelay`]): a trigger on `slot_events` runs
//!   `pg_notify('medibook_slot_events', 'doctor_id:seq')`, delivered at commit and only for
//!   committed transactions; every instance `LISTEN`s.
//! - Redis pub/sub (`medibook_integrations::redis_bus`, used when `REDIS_URL` is set): the
//!   instance that made the change publishes the same text after commit.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use medibook_core::events::{DomainEvent, EventBus, SlotEventLog};
use medibook_core::ids::{DoctorId, OfferId};
use medibook_core::waitlist::{OfferState, WaitlistRepository};
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::StoreError;
use crate::{Backend, Database};

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "medibook_slot_events";

/// Most events read from the log in one query.
const CATCH_UP_LIMIT: u32 = 1000;

/// Most queries one catch-up of one doctor makes; a longer backlog is left to the live feed,
/// which reads the log itself when it sees a gap.
const CATCH_UP_ROUNDS: u32 = 10;

/// Wait before connecting again after the PostgreSQL listener failed.
const RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// What one instance tells the others: which committed change to read from the log. Never the
/// change itself: the log is the truth, announcements only say where to look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Announcement {
    /// Slot event `seq` of `doctor_id` is committed. Text form: `<doctor_id>:<seq>`.
    Slot {
        /// Whose stream.
        doctor_id: DoctorId,
        /// Its position in that stream.
        seq: i64,
    },
    /// A waitlist offer is committed. Text form: `offer:<offer_id>`.
    Offer {
        /// Which offer.
        offer_id: OfferId,
    },
}

impl Announcement {
    /// Reads an announcement's text form; `None` for anything else.
    pub fn parse(payload: &str) -> Option<Self> {
        let (doctor, seq) = payload.split_once(':')?;
        if doctor == "offer" {
            return Some(Self::Offer {
                offer_id: seq.parse().ok()?,
            });
        }
        Some(Self::Slot {
            doctor_id: doctor.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }

    /// The announcement other instances need for `event`, if they need one.
    pub fn of(event: &DomainEvent) -> Option<Self> {
        match event {
            DomainEvent::Slot(slot) => Some(Self::Slot {
                doctor_id: slot.doctor_id,
                seq: slot.seq,
            }),
            DomainEvent::WaitlistOffer(offer) => Some(Self::Offer { offer_id: offer.id }),
            DomainEvent::Appointment { .. } => None,
        }
    }
}

impl fmt::Display for Announcement {
    /// The text form [`Announcement::parse`] reads (and the PostgreSQL trigger writes).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Slot { doctor_id, seq } => write!(f, "{doctor_id}:{seq}"),
            Self::Offer { offer_id } => write!(f, "offer:{offer_id}"),
        }
    }
}

/// Turns announcements into events on this instance's bus: reads each announced doctor's
/// events after the last one it republished, so nothing is skipped and nothing repeated (the
/// instance's own events arrive too; feeds deduplicate by `seq`). One per listener task.
pub struct Republisher {
    log: Arc<dyn SlotEventLog>,
    offers: Arc<dyn WaitlistRepository>,
    bus: Arc<dyn EventBus>,
    last_seen: HashMap<DoctorId, i64>,
}

impl Republisher {
    /// Republishes slot events read from `log` and offers read from `offers` on `bus`.
    pub fn new(
        log: Arc<dyn SlotEventLog>,
        offers: Arc<dyn WaitlistRepository>,
        bus: Arc<dyn EventBus>,
    ) -> Self {
        Self {
            log,
            offers,
            bus,
            last_seen: HashMap::new(),
        }
    }

    /// Handles an announcement's text form; logs and ignores anything unreadable.
    pub async fn on_payload(&mut self, payload: &str) {
        match Announcement::parse(payload) {
            Some(announcement) => self.on_announcement(announcement).await,
            None => tracing::warn!(payload, "event relay: not an announcement"),
        }
    }

    /// Reads what `announcement` names, and anything of the same stream missed before it.
    pub async fn on_announcement(&mut self, announcement: Announcement) {
        match announcement {
            Announcement::Slot { doctor_id, seq } => {
                // A doctor first heard of now starts at the announced event: its earlier
                // history is the log's business (feeds replay it on subscribe).
                let after = self.last_seen.get(&doctor_id).copied().unwrap_or(seq - 1);
                if seq > after {
                    self.republish_after(doctor_id, after).await;
                }
            }
            Announcement::Offer { offer_id } => match self.offers.offer(offer_id).await {
                // Only a still-open offer is worth showing; feeds ignore ones they sent.
                Ok(Some(offer)) if offer.state == OfferState::Open => {
                    self.bus.publish(DomainEvent::WaitlistOffer(offer));
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "event relay: reading an offer failed"),
            },
        }
    }

    /// After a reconnect: republishes what every doctor heard of so far may have missed while
    /// announcements could not arrive.
    pub async fn catch_up(&mut self) {
        let known: Vec<(DoctorId, i64)> = self.last_seen.iter().map(|(d, s)| (*d, *s)).collect();
        for (doctor_id, after) in known {
            self.republish_after(doctor_id, after).await;
        }
    }

    /// The last `seq` republished of `doctor_id`, if any.
    pub fn last_seen(&self, doctor_id: DoctorId) -> Option<i64> {
        self.last_seen.get(&doctor_id).copied()
    }

    async fn republish_after(&mut self, doctor_id: DoctorId, mut after: i64) {
        for _ in 0..CATCH_UP_ROUNDS {
            let events = match self
                .log
                .slot_events_after(doctor_id, after, CATCH_UP_LIMIT)
                .await
            {
                Ok(events) => events,
                Err(e) => {
                    // The next announcement of this doctor retries from the same place.
                    tracing::warn!(error = %e, "event relay: reading the log failed");
                    return;
                }
            };
            let complete = events.len() < CATCH_UP_LIMIT as usize;
            for event in events {
                after = event.seq;
                self.last_seen.insert(doctor_id, event.seq);
                self.bus.publish(DomainEvent::Slot(event));
            }
            if complete {
                return;
            }
        }
    }
}

/// Relays committed slot events from every instance to this instance's bus through
/// PostgreSQL `LISTEN`.
pub struct EventRelay;

impl EventRelay {
    /// Starts listening on `database` (PostgreSQL only; `url` is its URL) and republishing on
    /// `bus` until `stop` changes. Fails when the first connection fails.
    pub async fn spawn(
        database: Database,
        url: &str,
        bus: Arc<dyn EventBus>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<JoinHandle<()>, StoreError> {
        if database.backend() != Backend::Postgres {
            return Err(StoreError::Config(
                "the PostgreSQL event relay needs PostgreSQL (a single SQLite instance needs none)"
                    .into(),
            ));
        }
        let mut listener = listen(url).await?;
        let url = url.to_owned();
        let store = Arc::new(database);
        let mut republisher = Republisher::new(store.clone(), store, bus);
        Ok(tokio::spawn(async move {
            loop {
                let received = tokio::select! {
                    received = listener.try_recv() => received,
                    _ = stop.changed() => break,
                };
                match received {
                    Ok(Some(notification)) => republisher.on_payload(notification.payload()).await,
                    // The connection dropped and the listener has connected and listened again:
                    // what was announced in between is only in the log.
                    Ok(None) => {
                        tracing::info!("event relay: reconnected to PostgreSQL, catching up");
                        republisher.catch_up().await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "event relay: listening failed; reconnecting");
                        let Some(fresh) = reconnect(&url, &mut stop).await else {
                            break;
                        };
                        listener = fresh;
                        republisher.catch_up().await;
                    }
                }
            }
        }))
    }
}

async fn listen(url: &str) -> Result<PgListener, StoreError> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// A new listener, retrying until one connects; `None` when told to stop first.
async fn reconnect(url: &str, stop: &mut watch::Receiver<bool>) -> Option<PgListener> {
    loop {
        tokio::select! {
            () = tokio::time::sleep(RECONNECT_DELAY) => {}
            _ = stop.changed() => return None,
        }
        match listen(url).await {
            Ok(listener) => return Some(listener),
            Err(e) => tracing::warn!(error = %e, "event relay: cannot listen yet"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Announcement;

    #[test]
    fn slot_announcements_name_a_doctor_and_a_sequence_number() {
        let text = "0190a1b2-0000-7000-8000-000000000001:42";
        let Some(Announcement::Slot { seq, .. }) = Announcement::parse(text) else {
            panic!("a slot announcement");
        };
        assert_eq!(seq, 42);
        assert_eq!(Announcement::parse(text).unwrap().to_string(), text);
        assert!(Announcement::parse("nonsense").is_none());
        assert!(Announcement::parse("0190a1b2-0000-7000-8000-000000000001:x").is_none());
    }
}
