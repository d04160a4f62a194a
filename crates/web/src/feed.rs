//! The live slot feed at `GET /api/v1/ws`: a WebSocket on which anyone, signed in or not,
//! watches the slots of the doctors they subscribe to change status.
//!
//! # Protocol
//!
//! Client → server, JSON text frames:
//!
//! - `{"type":"subscribe","doctor_ids":[…],"after_seq":…}`. `after_seq` is optional and is
//!   either one number, applied to every listed doctor, or an object mapping doctor ids to
//!   numbers (listed doctors missing from the object start live, unlisted ones in it are
//!   ignored). With `after_seq` the server first replays the doctor's changes after that
//!   number from the event log, then continues live; without it the doctor starts live at its
//!   current number. Subscribing again to a doctor already subscribed keeps its position (its
//!   `after_seq` is ignored).
//! - `{"type":"unsubscribe","doctor_ids":[…]}`.
//!
//! Server → client:
//!
//! - `{"type":"subscribed","doctor_ids":[…],"latest_seq":{id: N}}` acknowledges a subscribe,
//!   with each doctor's latest number at that moment; it comes before any replayed change.
//! - `{"type":"unsubscribed","doctor_ids":[…]}` acknowledges an unsubscribe.
//! - `{"type":"slot","seq":N,"doctor_id":…,"start":…,"end":…,"status":"held"|"available"|"booked"}`:
//!   per doctor, in order, each number once, without gaps.
//! - `{"type":"resync","doctor_id":…,"latest_seq":N}`: the connection cannot tell what changed
//!   (it fell behind, or the requested history is longer than [`REPLAY_LIMIT`] or no longer
//!   kept). Refetch the doctor's slots; the feed continues with the changes after `latest_seq`.
//! - `{"type":"error","message":…}` for a message the server cannot use (bad JSON, too many
//!   doctors); the connection stays open.
//! - WebSocket pings every [`PING_INTERVAL`]; a connection that has sent nothing (pongs count)
//!   for [`IDLE_TIMEOUT`] is closed.
//!
//! Doctor ids are not checked: an unknown id is accepted and simply never changes. A connection
//! may watch at most [`MAX_DOCTORS`] doctors; frames larger than [`MAX_MESSAGE_BYTES`] close it.
//!
//! # Flow
//!
//! Each connection has two halves run concurrently in its own task. The *pump* owns the socket:
//! it forwards what the client sends, writes the bounded outgoing queue
//! ([`QUEUE_CAPACITY`]) and keeps the heartbeat. The *session* owns the subscriptions: it reads
//! the shared broadcast bus and the event log and only ever `try_send`s into the queue, so a
//! slow client fills its own queue and is told to resync, and never holds up the bus or anyone
//! else. Replays and gap fills are read from the log in chunks as the queue has room.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use medibook_core::BookingError;
use medibook_core::events::{DomainEvent, SlotEvent, SlotEventLog};
use medibook_core::ids::DoctorId;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use crate::AppState;

/// How often the server pings an open connection.
pub const PING_INTERVAL: Duration = Duration::from_secs(20);
/// A connection silent for this long (no frame, no pong) is closed; so is one whose socket
/// accepts no write for this long.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Messages waiting to be written to one client; when full, the client is told to resync.
pub const QUEUE_CAPACITY: usize = 256;
/// Most doctors one connection may watch.
pub const MAX_DOCTORS: usize = 200;
/// Largest frame or message a client may send.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// Most missed changes of one doctor replayed from the log; longer histories get a resync.
pub const REPLAY_LIMIT: i64 = 1000;
/// Client messages waiting for the session.
const INBOUND_CAPACITY: usize = 16;

/// Upgrades the request to the slot feed (anonymous: slots are public).
pub async fn connect(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    // Listen before the upgrade completes, so nothing published after the handshake is missed.
    let bus = state.events.subscribe();
    let log = Arc::clone(&state.event_log);
    upgrade
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| serve_connection(socket, bus, log))
}

/// Runs one connection until either side ends it.
async fn serve_connection(
    socket: WebSocket,
    bus: broadcast::Receiver<DomainEvent>,
    log: Arc<dyn SlotEventLog>,
) {
    let (outgoing, queue) = mpsc::channel(QUEUE_CAPACITY);
    let (inbound, requests) = mpsc::channel(INBOUND_CAPACITY);
    let session = FeedSession {
        log,
        outgoing,
        doctors: BTreeMap::new(),
    };
    // When the pump ends it drops `inbound`, which ends the session; when the session ends it
    // drops the queue's sender, which makes the pump flush, close and end.
    tokio::join!(pump(socket, queue, inbound), session.run(bus, requests));
}

/// What the client sent, as the session needs it.
#[derive(Debug)]
enum Inbound {
    Text(String),
    Binary,
}

/// Moves frames between the socket and the session, and keeps the heartbeat.
async fn pump(
    mut socket: WebSocket,
    mut queue: mpsc::Receiver<String>,
    inbound: mpsc::Sender<Inbound>,
) {
    let mut heartbeat = tokio::time::interval_at(Instant::now() + PING_INTERVAL, PING_INTERVAL);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            frame = socket.recv() => {
                let Some(Ok(frame)) = frame else { return };
                last_heard = Instant::now();
                let request = match frame {
                    Message::Text(text) => Inbound::Text(text.as_str().to_owned()),
                    Message::Binary(_) => Inbound::Binary,
                    Message::Close(_) => return,
                    // Pings are answered by the socket itself; pongs only prove liveness.
                    Message::Ping(_) | Message::Pong(_) => continue,
                };
                if inbound.send(request).await.is_err() {
                    return;
                }
            }
            message = queue.recv() => {
                let Some(text) = message else {
                    let _ = write(&mut socket, Message::Close(None)).await;
                    return;
                };
                if !write(&mut socket, Message::Text(text.into())).await {
                    return;
                }
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() >= IDLE_TIMEOUT {
                    let close = CloseFrame { code: close_code::AWAY, reason: "idle".into() };
                    let _ = write(&mut socket, Message::Close(Some(close))).await;
                    return;
                }
                if !write(&mut socket, Message::Ping(Bytes::new())).await {
                    return;
                }
            }
        }
    }
}

/// Writes one frame; `false` when the socket is gone or accepted nothing for [`IDLE_TIMEOUT`].
async fn write(socket: &mut WebSocket, message: Message) -> bool {
    matches!(
        tokio::time::timeout(IDLE_TIMEOUT, socket.send(message)).await,
        Ok(Ok(()))
    )
}

/// A message from the client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientMessage {
    Subscribe {
        doctor_ids: Vec<DoctorId>,
        #[serde(default)]
        after_seq: Option<AfterSeq>,
    },
    Unsubscribe {
        doctor_ids: Vec<DoctorId>,
    },
}

/// Where a subscribe resumes: one number for all listed doctors, or one per doctor.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum AfterSeq {
    All(i64),
    PerDoctor(BTreeMap<DoctorId, i64>),
}

impl AfterSeq {
    fn for_doctor(&self, doctor: DoctorId) -> Option<i64> {
        match self {
            Self::All(seq) => Some(*seq),
            Self::PerDoctor(seqs) => seqs.get(&doctor).copied(),
        }
    }

    fn has_negative(&self) -> bool {
        match self {
            Self::All(seq) => *seq < 0,
            Self::PerDoctor(seqs) => seqs.values().any(|seq| *seq < 0),
        }
    }
}

/// A message to the client.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerMessage<'a> {
    Slot(&'a SlotEvent),
    Resync {
        doctor_id: DoctorId,
        latest_seq: i64,
    },
    Subscribed {
        doctor_ids: &'a [DoctorId],
        latest_seq: BTreeMap<DoctorId, i64>,
    },
    Unsubscribed {
        doctor_ids: &'a [DoctorId],
    },
    Error {
        message: &'a str,
    },
}

/// Where a connection stands with one doctor's stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Position {
    /// Sent everything up to `last`; live changes after it go straight out.
    Live { last: i64 },
    /// Sent everything up to `last`; the rest comes from the log as the queue has room.
    CatchingUp { last: i64 },
    /// Fell behind: a resync is owed before anything else of this doctor.
    NeedsResync,
}

/// Why a session ended.
#[derive(Debug)]
enum Ended {
    /// The pump is gone (the client left or the socket failed).
    Disconnected,
    /// The event log could not be read.
    Log(BookingError),
}

impl From<BookingError> for Ended {
    fn from(error: BookingError) -> Self {
        Self::Log(error)
    }
}

/// One connection's subscriptions and what has been sent of each.
struct FeedSession {
    log: Arc<dyn SlotEventLog>,
    outgoing: mpsc::Sender<String>,
    doctors: BTreeMap<DoctorId, Position>,
}

impl FeedSession {
    async fn run(
        mut self,
        mut bus: broadcast::Receiver<DomainEvent>,
        mut requests: mpsc::Receiver<Inbound>,
    ) {
        let queue = self.outgoing.clone();
        loop {
            let owes_messages = self
                .doctors
                .values()
                .any(|position| !matches!(position, Position::Live { .. }));
            let step = tokio::select! {
                request = requests.recv() => match request {
                    Some(request) => self.on_request(request).await,
                    None => Err(Ended::Disconnected),
                },
                event = bus.recv() => match event {
                    Ok(DomainEvent::Slot(event)) => self.on_live(&event),
                    Ok(_) => Ok(()),
                    Err(RecvError::Lagged(_)) => self.on_lag().await,
                    Err(RecvError::Closed) => Err(Ended::Disconnected),
                },
                // Only woken when the queue has room for what the log owes.
                room = queue.reserve(), if owes_messages => match room {
                    Ok(permit) => {
                        drop(permit);
                        self.catch_up().await
                    }
                    Err(_) => Err(Ended::Disconnected),
                },
            };
            match step {
                Ok(()) => {}
                Err(Ended::Disconnected) => return,
                Err(Ended::Log(error)) => {
                    tracing::warn!(%error, "the slot feed cannot read the event log");
                    let _ = self.push(&ServerMessage::Error {
                        message: "the slot feed is unavailable; reconnect later",
                    });
                    return;
                }
            }
        }
    }

    /// Queues a message: `Ok(false)` when the queue is full.
    fn push(&self, message: &ServerMessage<'_>) -> Result<bool, Ended> {
        let text = match serde_json::to_string(message) {
            Ok(text) => text,
            Err(error) => {
                tracing::warn!(%error, "cannot encode a feed message");
                return Ok(true);
            }
        };
        match self.outgoing.try_send(text) {
            Ok(()) => Ok(true),
            Err(mpsc::error::TrySendError::Full(_)) => Ok(false),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Ended::Disconnected),
        }
    }

    /// Tells the client why its message was not used. A full queue drops the reply: the
    /// client is far behind and will be told to resync anyway.
    fn refuse(&self, message: &str) -> Result<(), Ended> {
        self.push(&ServerMessage::Error { message }).map(drop)
    }

    async fn on_request(&mut self, request: Inbound) -> Result<(), Ended> {
        let text = match request {
            Inbound::Text(text) => text,
            Inbound::Binary => return self.refuse("send JSON text frames"),
        };
        match serde_json::from_str::<ClientMessage>(&text) {
            Ok(ClientMessage::Subscribe {
                doctor_ids,
                after_seq,
            }) => self.subscribe(&doctor_ids, after_seq.as_ref()).await,
            Ok(ClientMessage::Unsubscribe { doctor_ids }) => self.unsubscribe(&doctor_ids),
            Err(error) => self.refuse(&format!("not a valid message: {error}")),
        }
    }

    async fn subscribe(
        &mut self,
        doctor_ids: &[DoctorId],
        after_seq: Option<&AfterSeq>,
    ) -> Result<(), Ended> {
        if after_seq.is_some_and(AfterSeq::has_negative) {
            return self.refuse("after_seq cannot be negative");
        }
        let added = doctor_ids
            .iter()
            .filter(|doctor| !self.doctors.contains_key(doctor))
            .collect::<std::collections::BTreeSet<_>>();
        if doctor_ids.len() > MAX_DOCTORS || self.doctors.len() + added.len() > MAX_DOCTORS {
            return self.refuse(&format!(
                "a connection may watch at most {MAX_DOCTORS} doctors"
            ));
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
        })?;
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

    fn unsubscribe(&mut self, doctor_ids: &[DoctorId]) -> Result<(), Ended> {
        for doctor in doctor_ids {
            self.doctors.remove(doctor);
        }
        self.push(&ServerMessage::Unsubscribed { doctor_ids })
            .map(drop)
    }

    /// A change published on the bus.
    fn on_live(&mut self, event: &SlotEvent) -> Result<(), Ended> {
        let Some(position) = self.doctors.get_mut(&event.doctor_id) else {
            return Ok(());
        };
        let Position::Live { last } = *position else {
            // Catching up or owed a resync: the log will cover this change.
            return Ok(());
        };
        if event.seq <= last {
            return Ok(());
        }
        if event.seq > last + 1 {
            // Published out of order (concurrent commits) or missed: fill the gap from the log.
            *position = if event.seq - last > REPLAY_LIMIT {
                Position::NeedsResync
            } else {
                Position::CatchingUp { last }
            };
            return Ok(());
        }
        let queued = self.push(&ServerMessage::Slot(event))?;
        if let Some(position) = self.doctors.get_mut(&event.doctor_id) {
            *position = if queued {
                Position::Live { last: event.seq }
            } else {
                Position::NeedsResync
            };
        }
        Ok(())
    }

    /// The bus dropped events for this connection: every doctor whose stream moved past what
    /// was sent is owed a resync.
    async fn on_lag(&mut self) -> Result<(), Ended> {
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
    async fn catch_up(&mut self) -> Result<(), Ended> {
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
                if self.push(&resync)? {
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
    async fn replay(&self, doctor: DoctorId, mut last: i64) -> Result<Position, Ended> {
        let room = self.outgoing.capacity().clamp(1, QUEUE_CAPACITY);
        let limit = u32::try_from(room).unwrap_or(u32::MAX);
        let events = self.log.slot_events_after(doctor, last, limit).await?;
        let exhausted = events.len() < room;
        for event in &events {
            if event.seq != last + 1 {
                // The log no longer holds what the client asked for.
                return Ok(Position::NeedsResync);
            }
            if !self.push(&ServerMessage::Slot(event))? {
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

    #[test]
    fn after_seq_is_one_number_or_one_per_doctor() {
        let doctor = DoctorId::generate();
        let other = DoctorId::generate();
        let all: ClientMessage = serde_json::from_str(&format!(
            r#"{{"type":"subscribe","doctor_ids":["{doctor}"],"after_seq":4}}"#
        ))
        .unwrap();
        let ClientMessage::Subscribe {
            after_seq: Some(all),
            ..
        } = all
        else {
            panic!("a subscribe with after_seq");
        };
        assert_eq!(all.for_doctor(other), Some(4));
        let per_doctor: ClientMessage = serde_json::from_str(&format!(
            r#"{{"type":"subscribe","doctor_ids":["{doctor}","{other}"],"after_seq":{{"{doctor}":2}}}}"#
        ))
        .unwrap();
        let ClientMessage::Subscribe {
            after_seq: Some(per_doctor),
            ..
        } = per_doctor
        else {
            panic!("a subscribe with after_seq");
        };
        assert_eq!(per_doctor.for_doctor(doctor), Some(2));
        assert_eq!(per_doctor.for_doctor(other), None);
    }

    #[test]
    fn slot_events_go_out_in_the_documented_shape() {
        let event = SlotEvent {
            doctor_id: DoctorId::generate(),
            seq: 3,
            start: "2027-03-02T08:00:00Z".parse().unwrap(),
            end: "2027-03-02T08:30:00Z".parse().unwrap(),
            status: medibook_core::booking::SlotStatus::Held,
        };
        let json: serde_json::Value = serde_json::to_value(ServerMessage::Slot(&event)).unwrap();
        assert_eq!(json["type"], "slot");
        assert_eq!(json["seq"], 3);
        assert_eq!(json["status"], "held");
        assert_eq!(json["doctor_id"], event.doctor_id.to_string());
        assert_eq!(json["start"], "2027-03-02T08:00:00Z");
    }
}
