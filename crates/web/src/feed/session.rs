//! One connection's session, apart from its socket: the doctors it watches and how far each
//! has been sent, the waitlist offers it carries, and the bounded queue of frames it fills,
//! from the bus live or from the event log when it has fallen behind.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;

use axum::extract::ws::{Message, Utf8Bytes};
use medibook_core::BookingError;
use medibook_core::events::{DomainEvent, SlotEvent, SlotEventLog};
use medibook_core::ids::{DoctorId, OfferId, UserId};
use medibook_core::waitlist::WaitlistOffer;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::protocol::{AfterSeq, ClientMessage, ServerMessage};
use super::{MAX_DOCTORS, REPLAY_LIMIT, SignedIn, authenticate};
use crate::shell::AppState;
use crate::shell::events::{Published, slot_frame};

/// The frames waiting to be written to one client, at most `capacity` of them (a heartbeat
/// ping or a closing frame may go beyond it).
#[derive(Debug)]
pub(super) struct Outgoing {
    pub(super) frames: VecDeque<Message>,
    capacity: usize,
}

impl Outgoing {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            frames: VecDeque::new(),
            capacity,
        }
    }

    /// Queues a frame: `false` when the queue is full.
    fn push(&mut self, frame: Message) -> bool {
        if self.frames.len() >= self.capacity {
            return false;
        }
        self.frames.push_back(frame);
        true
    }

    /// How many more frames fit.
    pub(super) fn room(&self) -> usize {
        self.capacity.saturating_sub(self.frames.len())
    }
}
/// Where a connection stands with one doctor's stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Position {
    /// Sent everything up to `last`; live changes after it go straight out.
    Live { last: i64 },
    /// Sent everything up to `last`; the rest comes from the log as the queue has room.
    CatchingUp { last: i64 },
    /// Fell behind: a resync is owed before anything else of this doctor.
    NeedsResync,
}

/// Most bus events one connection handles before it writes and listens again.
const BUS_BATCH: usize = 64;

/// One connection's subscriptions and what has been sent of each.
pub(super) struct FeedSession {
    pub(super) log: Arc<dyn SlotEventLog>,
    pub(super) outgoing: Outgoing,
    pub(super) doctors: BTreeMap<DoctorId, Position>,
    /// The signed-in patient, whose waitlist offers this connection carries, and their session.
    pub(super) signed_in: Option<SignedIn>,
    /// The patient's open offers must be (re)sent: at sign-in, or after one did not fit the queue.
    pub(super) offers_owed: bool,
    /// Offers already sent on this connection.
    pub(super) sent_offers: HashSet<OfferId>,
    pub(super) state: AppState,
}

impl FeedSession {
    /// Whether the log or the offers owe this connection messages.
    pub(super) fn owes_messages(&self) -> bool {
        self.offers_owed
            || self
                .doctors
                .values()
                .any(|position| !matches!(position, Position::Live { .. }))
    }

    /// Queues a message: `false` when the queue is full.
    fn push(&mut self, message: &ServerMessage<'_>) -> bool {
        match serde_json::to_string(message) {
            Ok(text) => self.outgoing.push(Message::Text(text.into())),
            Err(error) => {
                tracing::warn!(%error, "cannot encode a feed message");
                true
            }
        }
    }

    /// Queues a slot change, sharing the bus's frame when it has one.
    fn push_slot(&mut self, event: &SlotEvent, frame: Option<&Utf8Bytes>) -> bool {
        match frame.cloned().or_else(|| slot_frame(event)) {
            Some(frame) => self.outgoing.push(Message::Text(frame)),
            None => true,
        }
    }

    /// Tells the client why its message was not used. A full queue drops the reply: the
    /// client is far behind and will be told to resync anyway.
    pub(super) fn refuse(&mut self, message: &str) {
        self.push(&ServerMessage::Error { message });
    }

    /// Handles what the bus gave, then whatever else it holds already (up to [`BUS_BATCH`]).
    pub(super) async fn on_bus(
        &mut self,
        first: Result<Published, RecvError>,
        bus: &mut broadcast::Receiver<Published>,
    ) -> Result<(), BookingError> {
        let mut received = first;
        for _ in 0..BUS_BATCH {
            match received {
                Ok(published) => match published.event() {
                    DomainEvent::Slot(event) => self.on_live(event, published.slot_frame()),
                    DomainEvent::WaitlistOffer(offer) => self.on_offer(offer),
                    DomainEvent::Appointment { .. } | DomainEvent::Doctor { .. } => {}
                },
                Err(RecvError::Lagged(_)) => {
                    // Offers may have been among the dropped events.
                    self.offers_owed = self.signed_in.is_some();
                    self.on_lag().await?;
                }
                // The bus is gone only when the server shuts down; the connection ends with it
                // through its socket.
                Err(RecvError::Closed) => return Ok(()),
            }
            received = match bus.try_recv() {
                Ok(published) => Ok(published),
                Err(TryRecvError::Lagged(missed)) => Err(RecvError::Lagged(missed)),
                Err(TryRecvError::Empty | TryRecvError::Closed) => return Ok(()),
            };
        }
        Ok(())
    }

    pub(super) async fn on_request(&mut self, text: &str) -> Result<(), BookingError> {
        match serde_json::from_str::<ClientMessage>(text) {
            Ok(ClientMessage::Subscribe {
                doctor_ids,
                after_seq,
            }) => self.subscribe(&doctor_ids, after_seq.as_ref()).await,
            Ok(ClientMessage::Unsubscribe { doctor_ids }) => {
                self.unsubscribe(&doctor_ids);
                Ok(())
            }
            Ok(ClientMessage::Authenticate { token }) => self.sign_in(&token).await,
            Err(error) => {
                self.refuse(&format!("not a valid message: {error}"));
                Ok(())
            }
        }
    }

    async fn subscribe(
        &mut self,
        doctor_ids: &[DoctorId],
        after_seq: Option<&AfterSeq>,
    ) -> Result<(), BookingError> {
        if after_seq.is_some_and(AfterSeq::has_negative) {
            self.refuse("after_seq cannot be negative");
            return Ok(());
        }
        let added = doctor_ids
            .iter()
            .filter(|doctor| !self.doctors.contains_key(doctor))
            .collect::<std::collections::BTreeSet<_>>();
        if doctor_ids.len() > MAX_DOCTORS || self.doctors.len() + added.len() > MAX_DOCTORS {
            self.refuse(&format!(
                "a connection may watch at most {MAX_DOCTORS} doctors"
            ));
            return Ok(());
        }
        let mut latest_seq = BTreeMap::new();
        let mut positions = Vec::with_capacity(added.len());
        for &doctor in doctor_ids {
            let latest = self.log.latest_slot_seq(doctor).await?;
            latest_seq.insert(doctor, latest);
            if added.contains(&doctor) {
                let requested = after_seq.and_then(|after| after.for_doctor(doctor));
                positions.push((doctor, starting_position(requested, latest)));
            }
        }
        let acknowledged = self.push(&ServerMessage::Subscribed {
            doctor_ids,
            latest_seq,
        });
        for (doctor, position) in positions {
            // Without the acknowledgement the client cannot know where it stands: resync.
            let position = if acknowledged {
                position
            } else {
                Position::NeedsResync
            };
            self.doctors.insert(doctor, position);
        }
        Ok(())
    }

    fn unsubscribe(&mut self, doctor_ids: &[DoctorId]) {
        for doctor in doctor_ids {
            self.doctors.remove(doctor);
        }
        self.push(&ServerMessage::Unsubscribed { doctor_ids });
    }

    /// The signed-in patient.
    fn patient(&self) -> Option<UserId> {
        self.signed_in.map(|signed_in| signed_in.user_id)
    }

    /// Checks that the connection's session still stands; one signed out or expired meanwhile
    /// signs the connection out: it is told so, and watches slots anonymously from now on. A
    /// database that cannot say keeps the connection as it is until the next check. Returns
    /// `true` when the account itself is gone (erased): the connection is then to be closed.
    pub(super) async fn check_session(&mut self) -> bool {
        let Some(signed_in) = self.signed_in else {
            return false;
        };
        match self.state.sessions.is_live(signed_in.session_id).await {
            Ok(true) => false,
            Ok(false) => {
                self.signed_in = None;
                self.offers_owed = false;
                self.sent_offers.clear();
                // Offers queued but not written yet are the signed-out patient's: they go.
                self.outgoing.frames.retain(|frame| match frame {
                    Message::Text(text) => !text.as_str().contains("\"type\":\"waitlist_offer\""),
                    _ => true,
                });
                // Sent even past the queue's limit: the client must not go on believing.
                self.outgoing.frames.push_back(Message::Text(
                    serde_json::to_string(&ServerMessage::SignedOut)
                        .unwrap_or_default()
                        .into(),
                ));
                matches!(
                    self.state.identities.user(signed_in.user_id).await,
                    Ok(None)
                )
            }
            Err(error) => {
                tracing::debug!(%error, "a feed connection's session could not be checked");
                false
            }
        }
    }

    /// Signs the connection in: from now on it carries the patient's waitlist offers, starting
    /// with those open now.
    async fn sign_in(&mut self, token: &str) -> Result<(), BookingError> {
        match authenticate(&self.state, token).await {
            Ok(signed_in) => {
                self.signed_in = Some(signed_in);
                self.offers_owed = true;
                self.push(&ServerMessage::Authenticated {
                    user_id: signed_in.user_id,
                });
                Ok(())
            }
            Err(BookingError::Storage(error)) => Err(BookingError::Storage(error)),
            Err(BookingError::StorageFull | BookingError::DatabaseUnavailable) => {
                self.refuse("your sign-in cannot be checked right now; try again in a moment");
                Ok(())
            }
            Err(_) => {
                self.refuse("the token is not valid; sign in again");
                Ok(())
            }
        }
    }

    /// An offer published on the bus: sent only to its patient.
    fn on_offer(&mut self, offer: &WaitlistOffer) {
        if self.patient() != Some(offer.patient_id)
            || self.offers_owed
            || self.sent_offers.contains(&offer.id)
        {
            // Someone else's, sent already, or a resend of all open offers is pending anyway.
            return;
        }
        if self.push(&ServerMessage::offer(offer)) {
            self.sent_offers.insert(offer.id);
        } else {
            self.offers_owed = true;
        }
    }

    /// Sends the patient's open offers (an offer may arrive twice; `offer_id` tells).
    async fn send_open_offers(&mut self) -> Result<(), BookingError> {
        let Some(patient) = self.patient() else {
            self.offers_owed = false;
            return Ok(());
        };
        let entries = self.state.waitlist.entries_of(patient).await?;
        let now = self.state.bookings.now();
        for offer in entries.iter().filter_map(|e| e.offer.as_ref()) {
            if offer.expires_at <= now || self.sent_offers.contains(&offer.id) {
                continue;
            }
            if !self.push(&ServerMessage::offer(offer)) {
                return Ok(());
            }
            self.sent_offers.insert(offer.id);
        }
        self.offers_owed = false;
        Ok(())
    }

    /// A change published on the bus.
    fn on_live(&mut self, event: &SlotEvent, frame: Option<&Utf8Bytes>) {
        let Some(position) = self.doctors.get_mut(&event.doctor_id) else {
            return;
        };
        let Position::Live { last } = *position else {
            // Catching up or owed a resync: the log will cover this change.
            return;
        };
        if event.seq <= last {
            return;
        }
        if event.seq > last + 1 {
            // Published out of order (concurrent commits) or missed: fill the gap from the log.
            *position = if event.seq - last > REPLAY_LIMIT {
                Position::NeedsResync
            } else {
                Position::CatchingUp { last }
            };
            return;
        }
        let queued = self.push_slot(event, frame);
        if let Some(position) = self.doctors.get_mut(&event.doctor_id) {
            *position = if queued {
                Position::Live { last: event.seq }
            } else {
                Position::NeedsResync
            };
        }
    }

    /// The bus dropped events for this connection: every doctor whose stream moved past what
    /// was sent is owed a resync.
    async fn on_lag(&mut self) -> Result<(), BookingError> {
        let live: Vec<(DoctorId, i64)> = self
            .doctors
            .iter()
            .filter_map(|(doctor, position)| match position {
                Position::Live { last } => Some((*doctor, *last)),
                _ => None,
            })
            .collect();
        for (doctor, last) in live {
            if self.log.latest_slot_seq(doctor).await? > last {
                self.doctors.insert(doctor, Position::NeedsResync);
            }
        }
        Ok(())
    }

    /// Sends what the first doctor not yet live is owed, as far as the queue has room.
    pub(super) async fn catch_up(&mut self) -> Result<(), BookingError> {
        if self.offers_owed {
            return self.send_open_offers().await;
        }
        let Some((doctor, position)) = self
            .doctors
            .iter()
            .find(|(_, position)| !matches!(position, Position::Live { .. }))
            .map(|(doctor, position)| (*doctor, *position))
        else {
            return Ok(());
        };
        let next = match position {
            Position::Live { .. } => position,
            Position::NeedsResync => {
                let latest = self.log.latest_slot_seq(doctor).await?;
                let resync = ServerMessage::Resync {
                    doctor_id: doctor,
                    latest_seq: latest,
                };
                if self.push(&resync) {
                    Position::Live { last: latest }
                } else {
                    Position::NeedsResync
                }
            }
            Position::CatchingUp { last } => self.replay(doctor, last).await?,
        };
        // The client may have unsubscribed while the log was read.
        if let Some(position) = self.doctors.get_mut(&doctor) {
            *position = next;
        }
        Ok(())
    }

    /// Replays the doctor's changes after `last` from the log, one queue's room at a time.
    async fn replay(&mut self, doctor: DoctorId, mut last: i64) -> Result<Position, BookingError> {
        let room = self.outgoing.room().max(1);
        let limit = u32::try_from(room).unwrap_or(u32::MAX);
        let events = self.log.slot_events_after(doctor, last, limit).await?;
        let exhausted = events.len() < room;
        for event in &events {
            if event.seq != last + 1 {
                // The log no longer holds what the client asked for.
                return Ok(Position::NeedsResync);
            }
            if !self.push_slot(event, None) {
                return Ok(Position::NeedsResync);
            }
            last = event.seq;
        }
        Ok(if exhausted {
            Position::Live { last }
        } else {
            Position::CatchingUp { last }
        })
    }
}

/// Where a newly subscribed doctor starts, given the client's `after_seq` and the log's latest.
fn starting_position(after_seq: Option<i64>, latest: i64) -> Position {
    match after_seq {
        None => Position::Live { last: latest },
        Some(after) if after > latest || latest - after > REPLAY_LIMIT => Position::NeedsResync,
        Some(after) if after == latest => Position::Live { last: latest },
        Some(after) => Position::CatchingUp { last: after },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscriber_without_after_seq_starts_live_at_the_latest_change() {
        assert_eq!(starting_position(None, 7), Position::Live { last: 7 });
    }

    #[test]
    fn a_subscriber_behind_within_the_limit_catches_up_from_the_log() {
        assert_eq!(
            starting_position(Some(3), 7),
            Position::CatchingUp { last: 3 }
        );
        assert_eq!(starting_position(Some(7), 7), Position::Live { last: 7 });
    }

    #[test]
    fn unknown_or_too_long_histories_need_a_resync() {
        assert_eq!(starting_position(Some(8), 7), Position::NeedsResync);
        assert_eq!(
            starting_position(Some(0), REPLAY_LIMIT + 1),
            Position::NeedsResync
        );
        assert_eq!(
            starting_position(Some(1), REPLAY_LIMIT + 1),
            Position::CatchingUp { last: 1 }
        );
    }
}
