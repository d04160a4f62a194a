//! The socket side of one connection: a single task's loop over the bus, the client's frames,
//! the heartbeat and shutdown, writing the session's bounded queue as the socket takes it.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::session::{FeedSession, Outgoing};
use super::{FeedSettings, MIN_PING_INTERVAL, SignedIn};
use crate::shell::AppState;
use crate::shell::events::Published;

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
pub(super) async fn serve_connection(
    socket: WebSocket,
    bus: broadcast::Receiver<Published>,
    state: AppState,
    signed_in: Option<SignedIn>,
    settings: FeedSettings,
) {
    let session = FeedSession {
        log: Arc::clone(&state.event_log),
        // A queue cannot be empty-sized; the server's settings refuse 0 before it gets here.
        outgoing: Outgoing::new(settings.queue_capacity.max(1)),
        doctors: BTreeMap::new(),
        signed_in,
        // A patient who connects signed in is sent their open offers first.
        offers_owed: signed_in.is_some(),
        sent_offers: HashSet::new(),
        state,
    };
    let heartbeat = Heartbeat {
        ping_interval: settings.ping_interval.max(MIN_PING_INTERVAL),
        idle_timeout: settings.idle_timeout,
        session_check_interval: settings.session_check_interval.max(MIN_PING_INTERVAL),
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
    session_check_interval: Duration,
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
            session_check_interval,
        } = self.heartbeat;
        let mut heartbeat = tokio::time::interval_at(Instant::now() + ping_interval, ping_interval);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Each connection checks at its own phase of the interval, so that thousands of
        // signed-in sockets opened together do not query the database together.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos());
        let phase = session_check_interval.mul_f64(f64::from(nanos % 1000) / 1000.0);
        let mut session_check = tokio::time::interval_at(
            Instant::now() + phase.max(MIN_PING_INTERVAL),
            session_check_interval,
        );
        session_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
                // A signed-in connection checks now and then that its session still stands.
                _ = session_check.tick(), if self.session.signed_in.is_some() => {
                    if self.session.check_session().await {
                        // The account was erased: its connections end.
                        let close = CloseFrame { code: close_code::POLICY, reason: "account erased".into() };
                        self.finish(Some(close)).await;
                        return;
                    }
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
