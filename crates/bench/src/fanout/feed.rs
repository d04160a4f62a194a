//! The subscribers: one reading task per WebSocket connection, reporting each slot event's
//! arrival to the one collecting task, which waits for the events a round expects.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use jiff::Timestamp;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{FEED_PATH, FanoutArgs, READ_BUFFER_BYTES, SUBSCRIBE_PATIENCE};
use crate::api::Doctor;
use crate::error::{BenchError, BenchResult};
use crate::target::Target;

/// A slot event the round waits for.
#[derive(Clone, Copy, Debug)]
pub(super) struct Expected {
    status: &'static str,
    start: Timestamp,
    /// Arrivals before the request was sent belong to an earlier round.
    not_before: Instant,
}

impl Expected {
    pub(super) fn new(status: &'static str, start: Timestamp, not_before: Instant) -> Self {
        Self {
            status,
            start,
            not_before,
        }
    }

    fn matches(&self, status: SlotStatus, start: Timestamp, at: Instant) -> bool {
        status.as_str() == self.status && start == self.start && at >= self.not_before
    }
}

/// The N subscribers as the collecting task sees them.
pub(super) struct Feed {
    arrivals: mpsc::Receiver<Arrival>,
    subscribers: usize,
    connected: Vec<bool>,
    pub(super) resyncs: usize,
}

impl Feed {
    /// Connects `args.subscribers` subscribers to `doctor`, `args.connect_concurrency` at a
    /// time, and waits until every one is acknowledged. Dropping the returned tasks ends the
    /// subscribers and closes their connections.
    pub(super) async fn connect(
        target: &Target,
        doctor: &Doctor,
        args: &FanoutArgs,
    ) -> BenchResult<(Self, JoinSet<()>)> {
        let subscribers = usize::try_from(args.subscribers)
            .map_err(|_| BenchError::Usage("too many subscribers".into()))?;
        let connect_slots = usize::try_from(args.connect_concurrency)
            .map_err(|_| BenchError::Usage("connect concurrency too large".into()))?;
        // Room for every subscriber's two events of a round and its connection outcome: a
        // subscriber never waits for the collector.
        let (sender, arrivals) = mpsc::channel(subscribers.saturating_mul(3).saturating_add(64));
        let turns = Arc::new(Semaphore::new(connect_slots));
        let url = target.ws_url(FEED_PATH);
        let subscribe =
            serde_json::json!({ "type": "subscribe", "doctor_ids": [doctor.id] }).to_string();
        let mut tasks = JoinSet::new();
        for index in 0..subscribers {
            let subscriber = Subscriber {
                index,
                arrivals: sender.clone(),
            };
            let turns = Arc::clone(&turns);
            let url = url.clone();
            let subscribe = subscribe.clone();
            tasks.spawn(async move {
                let socket = {
                    let Ok(_turn) = turns.acquire_owned().await else {
                        return;
                    };
                    let joined =
                        tokio::time::timeout(SUBSCRIBE_PATIENCE, join(&url, subscribe)).await;
                    let failure = match joined {
                        Ok(Ok(socket)) => Ok(socket),
                        Ok(Err(reason)) => Err(reason),
                        Err(_) => Err(format!("not acknowledged within {SUBSCRIBE_PATIENCE:?}")),
                    };
                    match failure {
                        Ok(socket) => socket,
                        Err(reason) => {
                            subscriber.report(Event::Failed(reason)).await;
                            return;
                        }
                    }
                };
                subscriber.listen(socket).await;
            });
        }
        drop(sender);

        let mut feed = Self {
            arrivals,
            subscribers,
            connected: vec![false; subscribers],
            resyncs: 0,
        };
        let mut outcomes = 0;
        let mut failures = Vec::new();
        while outcomes < subscribers {
            let Some(arrival) = feed.arrivals.recv().await else {
                break;
            };
            match arrival.event {
                Event::Subscribed => {
                    outcomes += 1;
                    if let Some(connected) = feed.connected.get_mut(arrival.subscriber) {
                        *connected = true;
                    }
                }
                Event::Failed(reason) => {
                    outcomes += 1;
                    failures.push(reason);
                }
                other => feed.note(arrival.subscriber, &other),
            }
        }
        if let Some(first) = failures.first() {
            return Err(BenchError::Feed(format!(
                "{} of {subscribers} subscribers could not subscribe; the first: {first}",
                failures.len()
            )));
        }
        if outcomes < subscribers {
            return Err(BenchError::Feed(
                "subscriber tasks ended without reporting".into(),
            ));
        }
        Ok((feed, tasks))
    }

    /// The arrival instants of `expected`, at most one per subscriber, until every connected
    /// subscriber has it or `patience` has passed.
    pub(super) async fn collect(&mut self, expected: Expected, patience: Duration) -> Vec<Instant> {
        let deadline = tokio::time::Instant::now() + patience;
        let mut arrived: Vec<Option<Instant>> = vec![None; self.subscribers];
        let mut count = 0;
        // Counted again only when someone disconnects: counting per arrival would cost
        // N² steps per round and compete with the server for the CPU.
        let mut connected = self.connected_count();
        while count < connected {
            let Ok(Some(arrival)) = tokio::time::timeout_at(deadline, self.arrivals.recv()).await
            else {
                break;
            };
            match arrival.event {
                Event::Slot { status, start } if expected.matches(status, start, arrival.at) => {
                    if let Some(slot @ None) = arrived.get_mut(arrival.subscriber) {
                        *slot = Some(arrival.at);
                        count += 1;
                    }
                }
                other => {
                    self.note(arrival.subscriber, &other);
                    if matches!(other, Event::Closed(_)) {
                        connected = self.connected_count();
                    }
                }
            }
        }
        arrived.into_iter().flatten().collect()
    }

    /// Counts what is not an expected event.
    fn note(&mut self, subscriber: usize, event: &Event) {
        match event {
            Event::Resync => self.resyncs += 1,
            Event::Closed(reason) => {
                if let Some(connected) = self.connected.get_mut(subscriber) {
                    if *connected {
                        eprintln!("fanout: subscriber {subscriber} disconnected: {reason}");
                    }
                    *connected = false;
                }
            }
            Event::Subscribed | Event::Failed(_) | Event::Slot { .. } => {}
        }
    }

    fn connected_count(&self) -> usize {
        self.connected
            .iter()
            .filter(|connected| **connected)
            .count()
    }

    pub(super) fn disconnected(&self) -> usize {
        self.subscribers - self.connected_count()
    }
}

/// A client connection's socket.
type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connects to the feed and subscribes; returns once the server acknowledged.
async fn join(url: &str, subscribe: String) -> Result<Socket, String> {
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    socket
        .send(Message::text(subscribe))
        .await
        .map_err(|e| format!("cannot subscribe: {e}"))?;
    loop {
        let frame = socket
            .next()
            .await
            .ok_or("the feed closed before acknowledging")?
            .map_err(|e| format!("the feed failed before acknowledging: {e}"))?;
        let Message::Text(text) = frame else {
            continue;
        };
        let message: FeedMessage<'_> = serde_json::from_str(&text)
            .map_err(|e| format!("not a feed message ({e}): {}", text.as_str()))?;
        match message.kind.as_ref() {
            "subscribed" => return Ok(socket),
            "error" => {
                return Err(format!(
                    "the feed refused the subscription: {}",
                    message.message.unwrap_or_default()
                ));
            }
            _ => {}
        }
    }
}

/// One subscriber's end of the channel to the collector.
struct Subscriber {
    index: usize,
    arrivals: mpsc::Sender<Arrival>,
}

impl Subscriber {
    /// Reads the feed until it ends, reporting every slot event, resync and the end.
    async fn listen(self, mut socket: Socket) {
        if !self.report(Event::Subscribed).await {
            return;
        }
        loop {
            let frame = socket.next().await;
            let at = Instant::now();
            let event = match frame {
                Some(Ok(Message::Text(text))) => {
                    match serde_json::from_str::<FeedMessage<'_>>(&text) {
                        Ok(message) => match (message.kind.as_ref(), message.status, message.start)
                        {
                            ("slot", Some(status), Some(start)) => Event::Slot {
                                status: SlotStatus::parse(&status),
                                start,
                            },
                            ("resync", _, _) => Event::Resync,
                            _ => continue,
                        },
                        Err(_) => continue,
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    Event::Closed(format!("closed by the server: {frame:?}"))
                }
                // Pings are answered by the socket on its next read.
                Some(Ok(_)) => continue,
                Some(Err(e)) => Event::Closed(e.to_string()),
                None => Event::Closed("the connection ended".into()),
            };
            let ended = matches!(event, Event::Closed(_));
            if !self
                .send(Arrival {
                    subscriber: self.index,
                    at,
                    event,
                })
                .await
                || ended
            {
                return;
            }
        }
    }

    /// Reports `event` now; `false` when nobody collects any more.
    async fn report(&self, event: Event) -> bool {
        self.send(Arrival {
            subscriber: self.index,
            at: Instant::now(),
            event,
        })
        .await
    }

    async fn send(&self, arrival: Arrival) -> bool {
        self.arrivals.send(arrival).await.is_ok()
    }
}

/// What a subscriber saw, and when.
#[derive(Debug)]
struct Arrival {
    subscriber: usize,
    at: Instant,
    event: Event,
}

/// The kinds of things a subscriber reports.
#[derive(Debug)]
enum Event {
    /// Connected and acknowledged.
    Subscribed,
    /// Could not connect or subscribe.
    Failed(String),
    /// A slot changed.
    Slot {
        status: SlotStatus,
        start: Timestamp,
    },
    /// The feed dropped events and told the subscriber to refetch.
    Resync,
    /// The connection ended.
    Closed(String),
}

/// A slot's status as the feed reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotStatus {
    Held,
    Available,
    Booked,
    Other,
}

impl SlotStatus {
    fn parse(status: &str) -> Self {
        match status {
            "held" => Self::Held,
            "available" => Self::Available,
            "booked" => Self::Booked,
            _ => Self::Other,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Available => "available",
            Self::Booked => "booked",
            Self::Other => "other",
        }
    }
}

/// The fields of a server message the benchmark reads (see the protocol in the web crate's
/// `feed` module).
#[derive(Debug, Deserialize)]
struct FeedMessage<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(default)]
    start: Option<Timestamp>,
    #[serde(default, borrow)]
    message: Option<Cow<'a, str>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_events_are_read_from_the_documented_shape() {
        let text = r#"{"type":"slot","seq":3,"doctor_id":"0195b6a0-0000-7000-8000-000000000000","start":"2027-03-02T08:00:00Z","end":"2027-03-02T08:30:00Z","status":"held"}"#;
        let message: FeedMessage<'_> = serde_json::from_str(text).unwrap();
        assert_eq!(message.kind, "slot");
        assert_eq!(message.status.as_deref(), Some("held"));
        assert_eq!(message.start, Some("2027-03-02T08:00:00Z".parse().unwrap()));
    }

    #[test]
    fn other_messages_parse_without_slot_fields() {
        let text = r#"{"type":"subscribed","doctor_ids":["x"],"latest_seq":{"x":4}}"#;
        let message: FeedMessage<'_> = serde_json::from_str(text).unwrap();
        assert_eq!(message.kind, "subscribed");
        assert_eq!(message.start, None);
    }

    #[test]
    fn only_the_expected_status_and_start_after_the_request_match() {
        let start: Timestamp = "2027-03-02T08:00:00Z".parse().unwrap();
        let sent = Instant::now();
        let expected = Expected::new("held", start, sent);
        let later = sent + Duration::from_millis(1);
        assert!(expected.matches(SlotStatus::Held, start, later));
        assert!(!expected.matches(SlotStatus::Available, start, later));
        assert!(!expected.matches(
            SlotStatus::Held,
            start + jiff::SignedDuration::from_mins(30),
            later
        ));
    }
}
