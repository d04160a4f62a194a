//! The live slot feed at `GET /api/v1/ws`: a WebSocket on which anyone, signed in or not,
//! watches the slots of the doctors they subscribe to change status, and on which a signed-in
//! patient also receives their waitlist offers.
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
//! - `{"type":"authenticate","token":"<access token>"}` signs the connection in (browsers cannot
//!   set headers on a WebSocket); non-browser clients may instead send
//!   `Authorization: Bearer <token>` with the upgrade request (an invalid one gets 401).
//!
//! Server → client:
//!
//! - `{"type":"subscribed","doctor_ids":[…],"latest_seq":{id: N}}` acknowledges a subscribe,
//!   with each doctor's latest number at that moment; it comes before any replayed change.
//! - `{"type":"unsubscribed","doctor_ids":[…]}` acknowledges an unsubscribe.
//! - `{"type":"slot","seq":N,"doctor_id":…,"start":…,"end":…,"status":"held"|"available"|"booked"|"unavailable"}`:
//!   per doctor, in order, each number once, without gaps. `unavailable` means a schedule edit
//!   took a free slot off the doctor's grid.
//! - `{"type":"resync","doctor_id":…,"latest_seq":N}`: the connection cannot tell what changed
//!   (it fell behind, or the requested history is longer than [`REPLAY_LIMIT`] or no longer
//!   kept). Refetch the doctor's slots; the feed continues with the changes after `latest_seq`.
//! - `{"type":"authenticated","user_id":…}` acknowledges an `authenticate`.
//! - `{"type":"waitlist_offer","offer_id","hold_id","doctor_id","start","end","expires_at"}`,
//!   only on the connections of the patient the slot is offered to. When a connection signs in,
//!   the patient's open offers are sent at once, so an offer made while they were away is not
//!   missed. Each offer is sent once per connection.
//! - `{"type":"error","message":…}` for a message the server cannot use (bad JSON, too many
//!   doctors); the connection stays open.
//! - WebSocket pings every [`FeedSettings::ping_interval`] (20 s by default). A connection that
//!   has sent nothing, pongs included, for [`FeedSettings::idle_timeout`] (60 s by default) is
//!   closed with a close frame (`1001`, reason `idle`) at the next ping time; so is one whose
//!   socket accepts no write for that long, without a close frame.
//!
//! Doctor ids are not checked: an unknown id is accepted and simply never changes. A connection
//! may watch at most [`MAX_DOCTORS`] doctors; frames larger than [`MAX_MESSAGE_BYTES`] close it.
//!
//! # Flow
//!
//! Each connection has two halves run concurrently in its own task. The *pump* owns the socket:
//! it forwards what the client sends, writes the bounded outgoing queue
//! ([`FeedSettings::queue_capacity`] messages, 256 by default) and keeps the heartbeat. The
//! *session* owns the subscriptions: it reads the shared broadcast bus and the event log and
//! only ever `try_send`s into the queue. A client that stops reading first fills the socket's
//! buffers, then its own queue; the session then drops that client's changes, owes it a resync
//! for each doctor that moved meanwhile, and sends it once the queue has room again, so it never
//! holds up the bus or anyone else. Replays and gap fills are read from the log in chunks as the
//! queue has room.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::response::IntoResponse;
use axum::response::Response;
use jiff::Timestamp;
use medibook_core::BookingError;
use medibook_core::events::{DomainEvent, SlotEvent, SlotEventLog};
use medibook_core::ids::{DoctorId, HoldId, OfferId, UserId};
use medibook_core::waitlist::WaitlistOffer;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use crate::AppState;
use crate::error::ApiError;

/// How often the server pings an open connection, unless configured otherwise.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(20);
/// How long a connection may stay silent, unless configured otherwise.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Messages waiting to be written to one client, unless configured otherwise.
pub const DEFAULT_QUEUE_CAPACITY: usize = 256;
/// Most doctors one connection may watch.
pub const MAX_DOCTORS: usize = 200;
/// Largest frame or message a client may send.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// Most missed changes of one doctor replayed from the log; longer histories get a resync.
pub const REPLAY_LIMIT: i64 = 1000;
/// Read buffer of one connection.
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Client messages waiting for the session.
const INBOUND_CAPACITY: usize = 16;
/// The shortest ping interval the feed uses, whatever it is given (a zero interval panics).
const MIN_PING_INTERVAL: Duration = Duration::from_millis(1);

/// How the feed paces and bounds each connection (server settings `feed_ping_ms`,
/// `feed_idle_ms` and `feed_queue_capacity`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedSettings {
    /// How often the server pings an open connection. Keep it below the idle timeouts of
    /// proxies in front of the server, so they do not cut quiet connections.
    pub ping_interval: Duration,
    /// A connection that has sent nothing (no frame, no pong) for this long is closed at the
    /// next ping time; so is one whose socket accepts no write for this long. Must exceed
    /// `ping_interval`, or a client answering every ping still looks idle.
    pub idle_timeout: Duration,
    /// Messages waiting to be written to one client; when it is full, the client's further
    /// changes are dropped and it is told to resync. Changes that arrive together (one
    /// transaction, or a batch relayed from another instance) are queued before any of them is
    /// written, so keep it well above the largest such burst. At least 1.
    pub queue_capacity: usize,
}

impl Default for FeedSettings {
    fn default() -> Self {
        Self {
            ping_interval: DEFAULT_PING_INTERVAL,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
        }
    }
}

/// Upgrades the request to the slot feed. Slots are public; a bearer token (header, or an
/// `authenticate` message later) adds the caller's waitlist offers. A token that is present but
/// not valid is refused with 401 before the upgrade.
pub async fn connect(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let patient = match bearer(&headers) {
        None => None,
        Some(token) => match authenticate(&state, token).await {
            Ok(user) => Some(user),
            Err(error) => return ApiError::from(error).into_response(),
        },
    };
    // Listen before the upgrade completes, so nothing published after the handshake is missed.
    let bus = state.events.subscribe();
    let settings = state.web.feed;
    upgrade
        // tungstenite's default 128 KiB read buffer is zero-filled before every read and was
        // most of the memory and CPU per connection at 10,000 subscribers (see the README's
        // benchmarks); client messages are small.
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| serve_connection(socket, bus, state, patient, settings))
}

/// The token of an `Authorization: Bearer …` header, if there is one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
}

/// Checks a token and its session, as every API request does.
async fn authenticate(state: &AppState, token: &str) -> Result<UserId, BookingError> {
    let user = state.tokens.verify(token)?;
    let session = state.sessions.check(user.session_id).await?;
    if session.user_id != user.id {
        return Err(BookingError::Unauthorized);
    }
    Ok(user.id)
}

/// Runs one connection until either side ends it.
async fn serve_connection(
    socket: WebSocket,
    bus: broadcast::Receiver<DomainEvent>,
    state: AppState,
    patient: Option<UserId>,
    settings: FeedSettings,
) {
    // A channel cannot be empty-sized; the server's settings refuse 0 before it gets here.
    let queue_capacity = settings.queue_capacity.max(1);
    let (outgoing, queue) = mpsc::channel(queue_capacity);
    let (inbound, requests) = mpsc::channel(INBOUND_CAPACITY);
    let session = FeedSession {
        log: Arc::clone(&state.event_log),
        outgoing,
        queue_capacity,
        doctors: BTreeMap::new(),
        patient,
        // A patient who connects signed in is sent their open offers first.
        offers_owed: patient.is_some(),
        sent_offers: std::collections::HashSet::new(),
        state,
    };
    let heartbeat = Heartbeat {
        ping_interval: settings.ping_interval.max(MIN_PING_INTERVAL),
        idle_timeout: settings.idle_timeout,
    };
    // When the pump ends it drops `inbound`, which ends the session; when the session ends it
    // drops the queue's sender, which makes the pump flush, close and end.
    tokio::join!(
        pump(socket, queue, inbound, heartbeat),
        session.run(bus, requests)
    );
}

/// The pump's timing: when to ping, and how long to wait for the client.
#[derive(Clone, Copy, Debug)]
struct Heartbeat {
    ping_interval: Duration,
    idle_timeout: Duration,
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
    timing: Heartbeat,
) {
    let Heartbeat {
        ping_interval,
        idle_timeout,
    } = timing;
    let mut heartbeat = tokio::time::interval_at(Instant::now() + ping_interval, ping_interval);
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
                    let _ = write(&mut socket, Message::Close(None), idle_timeout).await;
                    return;
                };
                if !write(&mut socket, Message::Text(text.into()), idle_timeout).await {
                    return;
                }
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() >= idle_timeout {
                    let close = CloseFrame { code: close_code::AWAY, reason: "idle".into() };
                    let _ = write(&mut socket, Message::Close(Some(close)), idle_timeout).await;
                    return;
                }
                if !write(&mut socket, Message::Ping(Bytes::new()), idle_timeout).await {
                    return;
                }
            }
        }
    }
}

/// Writes one frame; `false` when the socket is gone or accepted nothing for `idle_timeout`.
async fn write(socket: &mut WebSocket, message: Message, idle_timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(idle_timeout, socket.send(message)).await,
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
    Authenticate {
        token: String,
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
    Authenticated {
        user_id: UserId,
    },
    WaitlistOffer {
        offer_id: OfferId,
        hold_id: HoldId,
        doctor_id: DoctorId,
        start: Timestamp,
        end: Timestamp,
        expires_at: Timestamp,
    },
}

impl ServerMessage<'_> {
    fn offer(offer: &WaitlistOffer) -> Self {
        Self::WaitlistOffer {
            offer_id: offer.id,
            hold_id: offer.hold_id,
            doctor_id: offer.doctor_id,
            start: offer.start,
            end: offer.end,
            expires_at: offer.expires_at,
        }
    }
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
    /// The outgoing queue's size (the most one replay chunk may hold).
    queue_capacity: usize,
    doctors: BTreeMap<DoctorId, Position>,
    /// The signed-in patient, whose waitlist offers this connection carries.
    patient: Option<UserId>,
    /// The patient's open offers must be (re)sent: at sign-in, or after one did not fit the queue.
    offers_owed: bool,
    /// Offers already sent on this connection (an offer may be published twice: locally and
    /// relayed from the database).
    sent_offers: std::collections::HashSet<OfferId>,
    state: AppState,
}

impl FeedSession {
    async fn run(
        mut self,
        mut bus: broadcast::Receiver<DomainEvent>,
        mut requests: mpsc::Receiver<Inbound>,
    ) {
        let queue = self.outgoing.clone();
        loop {
            let owes_messages = self.offers_owed
                || self
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
                    Ok(DomainEvent::WaitlistOffer(offer)) => self.on_offer(&offer),
                    Ok(_) => Ok(()),
                    Err(RecvError::Lagged(_)) => {
                        // Offers may have been among the dropped events.
                        self.offers_owed = self.patient.is_some();
                        self.on_lag().await
                    }
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
            Ok(ClientMessage::Authenticate { token }) => self.sign_in(&token).await,
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

    /// Signs the connection in: from now on it carries the patient's waitlist offers, starting
    /// with those open now.
    async fn sign_in(&mut self, token: &str) -> Result<(), Ended> {
        match authenticate(&self.state, token).await {
            Ok(user_id) => {
                self.patient = Some(user_id);
                self.offers_owed = true;
                self.push(&ServerMessage::Authenticated { user_id })
                    .map(drop)
            }
            Err(BookingError::Storage(error)) => Err(Ended::Log(BookingError::Storage(error))),
            Err(_) => self.refuse("the token is not valid; sign in again"),
        }
    }

    /// An offer published on the bus: sent only to its patient.
    fn on_offer(&mut self, offer: &WaitlistOffer) -> Result<(), Ended> {
        if self.patient != Some(offer.patient_id)
            || self.offers_owed
            || self.sent_offers.contains(&offer.id)
        {
            // Someone else's, sent already, or a resend of all open offers is pending anyway.
            return Ok(());
        }
        if self.push(&ServerMessage::offer(offer))? {
            self.sent_offers.insert(offer.id);
        } else {
            self.offers_owed = true;
        }
        Ok(())
    }

    /// Sends the patient's open offers (an offer may arrive twice; `offer_id` tells).
    async fn send_open_offers(&mut self) -> Result<(), Ended> {
        let Some(patient) = self.patient else {
            self.offers_owed = false;
            return Ok(());
        };
        let entries = self.state.waitlist.entries_of(patient).await?;
        let now = self.state.bookings.now();
        for offer in entries.iter().filter_map(|e| e.offer.as_ref()) {
            if offer.expires_at <= now || self.sent_offers.contains(&offer.id) {
                continue;
            }
            if !self.push(&ServerMessage::offer(offer))? {
                return Ok(());
            }
            self.sent_offers.insert(offer.id);
        }
        self.offers_owed = false;
        Ok(())
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
        let room = self.outgoing.capacity().clamp(1, self.queue_capacity);
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
