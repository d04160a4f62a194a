//! Events across instances: the port every transport (PostgreSQL `LISTEN`, Redis pub/sub)
//! feeds. Every committed slot event is *announced* to every instance as a short text naming it
//! (`doctor_id:seq`, see [`Announcement`]); each instance reads the announced rows from the
//! event log and republishes them on its own bus ([`Republisher`]). Announcements name events
//! and the rows are read after, so an announcement lost while a connection was down is filled
//! in from the log at the next one (per-doctor sequence numbers show the gap), and after a
//! reconnect the listener catches up every doctor it follows.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{BookingError, BookingResult};
use crate::events::{DomainEvent, EventBus, SlotEvent, SlotEventLog};
use crate::ids::{DoctorId, OfferId};
use crate::ports::WaitlistRepository;
use crate::waitlist::{OfferState, WaitlistOffer};

/// Most events read from the log in one query.
const CATCH_UP_LIMIT: u32 = 1000;

/// Most queries one catch-up of one doctor makes; a longer backlog is left to the live feed,
/// which reads the log itself when it sees a gap.
const CATCH_UP_ROUNDS: u32 = 10;

/// Where a [`Republisher`] reads what was announced: the slot-event log and the offers. Every
/// store that keeps both is one.
#[async_trait]
pub trait AnnouncedRecords: Send + Sync + 'static {
    /// The doctor's slot events with `seq > after_seq`, in order, at most `limit`.
    async fn slot_events_after(
        &self,
        doctor_id: DoctorId,
        after_seq: i64,
        limit: u32,
    ) -> BookingResult<Vec<SlotEvent>>;
    /// One waitlist offer.
    async fn offer(&self, id: OfferId) -> BookingResult<Option<WaitlistOffer>>;
}

#[async_trait]
impl<T: SlotEventLog + WaitlistRepository> AnnouncedRecords for T {
    async fn slot_events_after(
        &self,
        doctor_id: DoctorId,
        after_seq: i64,
        limit: u32,
    ) -> BookingResult<Vec<SlotEvent>> {
        SlotEventLog::slot_events_after(self, doctor_id, after_seq, limit).await
    }

    async fn offer(&self, id: OfferId) -> BookingResult<Option<WaitlistOffer>> {
        WaitlistRepository::offer(self, id).await
    }
}

/// Why an announcement could not be followed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The text was not an announcement (shown shortened).
    #[error("not an announcement: {0:?}")]
    NotAnAnnouncement(String),
    /// The log or the offer could not be read.
    #[error("reading what was announced failed: {0}")]
    Read(BookingError),
}

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
    /// A doctor's profile, schedule or time off changed. Text form: `doctor:<doctor_id>`.
    Doctor {
        /// Which doctor.
        doctor_id: DoctorId,
    },
}

impl Announcement {
    /// Reads an announcement's text form; `None` for anything else.
    pub fn parse(payload: &str) -> Option<Self> {
        let (doctor, seq) = payload.split_once(':')?;
        match doctor {
            "offer" => {
                return Some(Self::Offer {
                    offer_id: seq.parse().ok()?,
                });
            }
            "doctor" => {
                return Some(Self::Doctor {
                    doctor_id: seq.parse().ok()?,
                });
            }
            _ => {}
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
            DomainEvent::Doctor { doctor_id } => Some(Self::Doctor {
                doctor_id: *doctor_id,
            }),
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
            Self::Doctor { doctor_id } => write!(f, "doctor:{doctor_id}"),
        }
    }
}

/// Turns announcements into events on this instance's bus: reads each announced doctor's
/// events after the last one it republished, so nothing is skipped and nothing repeated (the
/// instance's own events arrive too; feeds deduplicate by `seq`). One per listener task.
pub struct Republisher {
    records: Arc<dyn AnnouncedRecords>,
    bus: Arc<dyn EventBus>,
    last_seen: HashMap<DoctorId, i64>,
}

impl Republisher {
    /// Republishes slot events and offers read from `records` on `bus`.
    pub fn new(records: Arc<dyn AnnouncedRecords>, bus: Arc<dyn EventBus>) -> Self {
        Self {
            records,
            bus,
            last_seen: HashMap::new(),
        }
    }

    /// Handles an announcement's text form. A text that is no announcement is refused with
    /// [`RelayError::NotAnAnnouncement`]; the transport logs it and goes on.
    pub async fn on_payload(&mut self, payload: &str) -> Result<(), RelayError> {
        match Announcement::parse(payload) {
            Some(announcement) => self.on_announcement(announcement).await,
            None => Err(RelayError::NotAnAnnouncement(
                payload.chars().take(80).collect(),
            )),
        }
    }

    /// Reads what `announcement` names, and anything of the same stream missed before it. A
    /// failed read is returned for the transport to log; the next announcement of the same
    /// doctor retries from the same place.
    pub async fn on_announcement(&mut self, announcement: Announcement) -> Result<(), RelayError> {
        match announcement {
            Announcement::Slot { doctor_id, seq } => {
                // A doctor first heard of now starts at the announced event: its earlier
                // history is the log's business (feeds replay it on subscribe).
                let after = self.last_seen.get(&doctor_id).copied().unwrap_or(seq - 1);
                if seq > after {
                    self.republish_after(doctor_id, after).await?;
                }
            }
            Announcement::Offer { offer_id } => match self.records.offer(offer_id).await {
                // Only a still-open offer is worth showing; feeds ignore ones they sent.
                Ok(Some(offer)) if offer.state == OfferState::Open => {
                    self.bus.publish(DomainEvent::WaitlistOffer(offer));
                }
                Ok(_) => {}
                Err(e) => return Err(RelayError::Read(e)),
            },
            Announcement::Doctor { doctor_id } => {
                self.bus.publish(DomainEvent::Doctor { doctor_id });
            }
        }
        Ok(())
    }

    /// After a reconnect: republishes what every doctor heard of so far may have missed while
    /// announcements could not arrive. Goes on past a doctor whose log cannot be read, and
    /// returns the last such failure.
    pub async fn catch_up(&mut self) -> Result<(), RelayError> {
        let known: Vec<(DoctorId, i64)> = self.last_seen.iter().map(|(d, s)| (*d, *s)).collect();
        let mut outcome = Ok(());
        for (doctor_id, after) in known {
            if let Err(e) = self.republish_after(doctor_id, after).await {
                outcome = Err(e);
            }
        }
        outcome
    }

    /// The last `seq` republished of `doctor_id`, if any.
    pub fn last_seen(&self, doctor_id: DoctorId) -> Option<i64> {
        self.last_seen.get(&doctor_id).copied()
    }

    async fn republish_after(
        &mut self,
        doctor_id: DoctorId,
        mut after: i64,
    ) -> Result<(), RelayError> {
        for _ in 0..CATCH_UP_ROUNDS {
            let events = self
                .records
                .slot_events_after(doctor_id, after, CATCH_UP_LIMIT)
                .await
                .map_err(RelayError::Read)?;
            let complete = events.len() < CATCH_UP_LIMIT as usize;
            for event in events {
                after = event.seq;
                self.last_seen.insert(doctor_id, event.seq);
                self.bus.publish(DomainEvent::Slot(event));
            }
            if complete {
                break;
            }
        }
        Ok(())
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
        let doctor = "doctor:0190a1b2-0000-7000-8000-000000000001";
        assert!(matches!(
            Announcement::parse(doctor),
            Some(Announcement::Doctor { .. })
        ));
        assert_eq!(Announcement::parse(doctor).unwrap().to_string(), doctor);
        assert!(Announcement::parse("0190a1b2-0000-7000-8000-000000000001:x").is_none());
    }
}
