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
//! - `{"type":"authenticate","token":"<access token>"}` signs the connection in. Non-browser
//!   clients may instead send `Authorization: Bearer <token>` with the upgrade request (an
//!   invalid one gets 401); our pages' session cookie (`medibook_session`) signs it in too (one
//!   that no longer works connects anonymously).
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
//! Each connection is one task running one loop: it reads the shared broadcast bus, the client's
//! messages and the event log, and writes a bounded outgoing queue
//! ([`FeedSettings::queue_capacity`] messages, 256 by default) to the socket as the socket takes
//! it. Live slot changes arrive from the bus already encoded (see [`crate::events`]), so every
//! connection sends the same shared frame. A client that stops reading first fills the socket's
//! buffers, then its own queue; the connection then drops that client's changes, owes it a
//! resync for each doctor that moved meanwhile, and sends it once the queue has room again, so
//! it never holds up the bus or anyone else. Replays and gap fills are read from the log in
//! chunks as the queue has room. A socket that takes nothing for the idle timeout is dropped at
//! the next ping time, without a timer per write.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::response::IntoResponse;
use axum::response::Response;
use futures_util::{FutureExt, SinkExt, StreamExt};
use jiff::Timestamp;
use medibook_core::BookingError;
use medibook_core::events::{DomainEvent, SlotEvent, SlotEventLog};
use medibook_core::ids::{DoctorId, HoldId, OfferId, UserId};
use medibook_core::waitlist::WaitlistOffer;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::Instant;

use crate::AppState;
use crate::error::ApiError;
use crate::events::{Published, slot_frame};

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
const READ_BUFFER_BYTES: usize = 512;
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
        Some(token) => match authenticate(&state, token).await {
            Ok(user) => Some(user),
            Err(error) => return ApiError::from(error).into_response(),
        },
        // A page's session cookie; one that no longer works (signed out, expired) watches
        // slots anonymously rather than failing the page's feed.
        None => match crate::auth::session_cookie_token(&headers) {
            Some(token) => match authenticate(&state, token).await {
                Ok(user) => Some(user),
                Err(BookingError::Storage(error)) => {
                    return ApiError::from(BookingError::Storage(error)).into_response();
                }
                Err(_) => None,
            },
            None => None,
        },
    };
    // Listen before the upgrade completes, so nothing published after the handshake is missed.
    let bus = state.events.subscribe();
    let settings = state.web.feed;
    upgrade
        // tungstenite's default 128 KiB read buffer is zero-filled before every read and was
        // most of the memory and CPU per connection at 10,000 subscribers (see docs/performance.md's
        // benchmarks); client messages are small.
        .read_buffer_size(READ_BUFFER_BYTES)
        // Each frame goes to the socket as it is queued: what a slow client has not taken
        // stays in the bounded queue (which tells it to resync when full), not in a
        // 128 KiB buffer inside tungstenite.
        .write_buffer_size(0)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            let _open = crate::metrics::OpenConnection::open();
            serve_connection(socket, bus, state, patient, settings).await;
        })
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

/// How long a stopping server waits for a client to take its closing frame.
const SHUTDOWN_CLOSE_PATIENCE: Duration = Duration::from_secs(5);

/// Resolves when the server starts stopping; `Err` when it never will (no sender left).
async fn stopping(
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<(), tokio::sync::watch::error::RecvError> {
    // The borrow `wait_for` returns is dropped here, before the caller awaits anything else.
    shutdown.wait_for(|stopping| *stopping).await.map(|_| ())
}

/// Runs one connection until either side ends it.
async fn serve_connection(
    socket: WebSocket,
    bus: broadcast::Receiver<Published>,
    state: AppState,
    patient: Option<UserId>,
    settings: FeedSettings,
) {
    let session = FeedSession {
        log: Arc::clone(&state.event_log),
        // A queue cannot be empty-sized; the server's settings refuse 0 before it gets here.
        outgoing: Outgoing::new(settings.queue_capacity.max(1)),
        doctors: BTreeMap::new(),
        patient,
        // A patient who connects signed in is sent their open offers first.
        offers_owed: patient.is_some(),
        sent_offers: HashSet::new(),
        state,
    };
    let heartbeat = Heartbeat {
        ping_interval: settings.ping_interval.max(MIN_PING_INTERVAL),
        idle_timeout: settings.idle_timeout,
    };
    let connection = Connection {
        socket,
        session,
        heartbeat,
        unflushed: false,
        stalled_since: None,
    };
    connection.run(bus).await;
}

/// The pump's timing: when to ping, and how long to wait for the client.
#[derive(Clone, Copy, Debug)]
struct Heartbeat {
    ping_interval: Duration,
    idle_timeout: Duration,
}

/// The frames waiting to be written to one client, at most `capacity` of them (a heartbeat
/// ping or a closing frame may go beyond it).
#[derive(Debug)]
struct Outgoing {
    frames: VecDeque<Message>,
    capacity: usize,
}

impl Outgoing {
    fn new(capacity: usize) -> Self {
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
    fn room(&self) -> usize {
        self.capacity.saturating_sub(self.frames.len())
    }
}

/// One connection: the socket and the session, driven by one task.
struct Connection {
    socket: WebSocket,
    session: FeedSession,
    heartbeat: Heartbeat,
    /// Frames were handed to the socket but not flushed yet.
    unflushed: bool,
    /// Since when frames have been waiting for the socket.
    stalled_since: Option<Instant>,
}

/// What the socket did.
enum SocketEvent {
    /// The client sent a frame, or the connection ended (`None` or an error).
    Frame(Option<Result<Message, axum::Error>>),
    /// Everything queued was written and flushed.
    Written(Result<(), axum::Error>),
}

impl Connection {
    /// Serves the connection: reads the client's messages and the bus, writes what the session
    /// queues, keeps the heartbeat. Ends when the client leaves, the socket fails or stalls, or
    /// the event log cannot be read.
    async fn run(mut self, mut bus: broadcast::Receiver<Published>) {
        let Heartbeat {
            ping_interval,
            idle_timeout,
        } = self.heartbeat;
        let mut heartbeat = tokio::time::interval_at(Instant::now() + ping_interval, ping_interval);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        let mut shutdown = self.session.state.shutdown.clone();
        loop {
            let writing = self.owes_writes();
            if writing {
                self.stalled_since.get_or_insert_with(Instant::now);
            }
            let catching_up = self.session.owes_messages() && self.session.outgoing.room() > 0;
            let step = tokio::select! {
                // Live changes first: they are what every connection is waiting for.
                biased;
                event = bus.recv() => {
                    let step = self.session.on_bus(event, &mut bus).await;
                    // Write at once rather than in the next round of the loop; a socket that
                    // cannot take it all now is written by the loop as it drains.
                    if self.owes_writes() {
                        match self.write_out().now_or_never() {
                            Some(Ok(())) => self.stalled_since = None,
                            Some(Err(_)) => return,
                            None => {}
                        }
                    }
                    step
                }
                event = poll_socket(&mut self.socket, &mut self.session.outgoing.frames, &mut self.unflushed, writing) => match event {
                    SocketEvent::Written(Ok(())) => {
                        self.stalled_since = None;
                        Ok(())
                    }
                    SocketEvent::Written(Err(_)) | SocketEvent::Frame(None | Some(Err(_))) => return,
                    SocketEvent::Frame(Some(Ok(frame))) => {
                        last_heard = Instant::now();
                        match frame {
                            Message::Text(text) => self.session.on_request(text.as_str()).await,
                            Message::Binary(_) => {
                                self.session.refuse("send JSON text frames");
                                Ok(())
                            }
                            Message::Close(_) => return,
                            // Pings are answered by the socket itself; pongs only prove liveness.
                            Message::Ping(_) | Message::Pong(_) => Ok(()),
                        }
                    }
                },
                _ = heartbeat.tick() => {
                    if self.stalled_since.is_some_and(|since| since.elapsed() >= idle_timeout) {
                        // The client reads nothing: a close frame would not get through either.
                        return;
                    }
                    if last_heard.elapsed() >= idle_timeout {
                        let close = CloseFrame { code: close_code::AWAY, reason: "idle".into() };
                        self.finish(Some(close)).await;
                        return;
                    }
                    self.session.outgoing.frames.push_back(Message::Ping(Bytes::new()));
                    Ok(())
                }
                // The server is stopping (an `Err` means no one will ever stop it: ignored).
                Ok(()) = stopping(&mut shutdown) => {
                    let close = CloseFrame { code: close_code::AWAY, reason: "server shutting down".into() };
                    self.heartbeat.idle_timeout = self.heartbeat.idle_timeout.min(SHUTDOWN_CLOSE_PATIENCE);
                    self.finish(Some(close)).await;
                    return;
                }
                // Only ready when the queue has room for what the log owes.
                () = std::future::ready(()), if catching_up => self.session.catch_up().await,
            };
            if let Err(error) = step {
                tracing::warn!(%error, "the slot feed cannot read the event log");
                self.session
                    .refuse("the slot feed is unavailable; reconnect later");
                self.finish(None).await;
                return;
            }
        }
    }

    /// Whether frames wait to be written or flushed.
    fn owes_writes(&self) -> bool {
        !self.session.outgoing.frames.is_empty() || self.unflushed
    }

    /// Writes and flushes every queued frame.
    async fn write_out(&mut self) -> Result<(), axum::Error> {
        let Self {
            socket,
            session,
            unflushed,
            ..
        } = self;
        std::future::poll_fn(|cx| poll_write(socket, &mut session.outgoing.frames, unflushed, cx))
            .await
    }

    /// Writes what is queued, then a close frame, giving the client the idle timeout to take it.
    async fn finish(mut self, close: Option<CloseFrame>) {
        self.session
            .outgoing
            .frames
            .push_back(Message::Close(close));
        let _ = tokio::time::timeout(self.heartbeat.idle_timeout, self.write_out()).await;
    }
}

/// Waits for the client's next frame and, when `writing`, for the queue to be written.
async fn poll_socket(
    socket: &mut WebSocket,
    frames: &mut VecDeque<Message>,
    unflushed: &mut bool,
    writing: bool,
) -> SocketEvent {
    std::future::poll_fn(|cx| {
        if writing && let Poll::Ready(written) = poll_write(socket, frames, unflushed, cx) {
            return Poll::Ready(SocketEvent::Written(written));
        }
        socket.poll_next_unpin(cx).map(SocketEvent::Frame)
    })
    .await
}

/// Hands every queued frame to the socket and flushes it. Cancel-safe: a frame leaves `frames`
/// only when the socket has taken it, and `unflushed` says a flush is still owed.
fn poll_write(
    socket: &mut WebSocket,
    frames: &mut VecDeque<Message>,
    unflushed: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<Result<(), axum::Error>> {
    while !frames.is_empty() {
        std::task::ready!(socket.poll_ready_unpin(cx))?;
        if let Some(frame) = frames.pop_front() {
            socket.start_send_unpin(frame)?;
            *unflushed = true;
        }
    }
    std::task::ready!(socket.poll_flush_unpin(cx))?;
    *unflushed = false;
    Poll::Ready(Ok(()))
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

/// Most bus events one connection handles before it writes and listens again.
const BUS_BATCH: usize = 64;

/// One connection's subscriptions and what has been sent of each.
struct FeedSession {
    log: Arc<dyn SlotEventLog>,
    outgoing: Outgoing,
    doctors: BTreeMap<DoctorId, Position>,
    /// The signed-in patient, whose waitlist offers this connection carries.
    patient: Option<UserId>,
    /// The patient's open offers must be (re)sent: at sign-in, or after one did not fit the queue.
    offers_owed: bool,
    /// Offers already sent on this connection.
    sent_offers: HashSet<OfferId>,
    state: AppState,
}

impl FeedSession {
    /// Whether the log or the offers owe this connection messages.
    fn owes_messages(&self) -> bool {
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
    fn refuse(&mut self, message: &str) {
        self.push(&ServerMessage::Error { message });
    }

    /// Handles what the bus gave, then whatever else it holds already (up to [`BUS_BATCH`]).
    async fn on_bus(
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
                    self.offers_owed = self.patient.is_some();
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

    async fn on_request(&mut self, text: &str) -> Result<(), BookingError> {
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

    /// Signs the connection in: from now on it carries the patient's waitlist offers, starting
    /// with those open now.
    async fn sign_in(&mut self, token: &str) -> Result<(), BookingError> {
        match authenticate(&self.state, token).await {
            Ok(user_id) => {
                self.patient = Some(user_id);
                self.offers_owed = true;
                self.push(&ServerMessage::Authenticated { user_id });
                Ok(())
            }
            Err(BookingError::Storage(error)) => Err(BookingError::Storage(error)),
            Err(_) => {
                self.refuse("the token is not valid; sign in again");
                Ok(())
            }
        }
    }

    /// An offer published on the bus: sent only to its patient.
    fn on_offer(&mut self, offer: &WaitlistOffer) {
        if self.patient != Some(offer.patient_id)
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
    async fn catch_up(&mut self) -> Result<(), BookingError> {
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
        let frame = slot_frame(&event).unwrap();
        let json: serde_json::Value = serde_json::from_str(frame.as_str()).unwrap();
        assert_eq!(json["type"], "slot");
        assert_eq!(json["seq"], 3);
        assert_eq!(json["status"], "held");
        assert_eq!(json["doctor_id"], event.doctor_id.to_string());
        assert_eq!(json["start"], "2027-03-02T08:00:00Z");
    }
}
