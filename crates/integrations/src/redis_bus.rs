//! Events across instances through Redis pub/sub, used instead of PostgreSQL `LISTEN/NOTIFY`
//! when `REDIS_URL` is set.
//!
//! Redis carries *announcements* only (`<doctor_id>:<seq>`, the same text the PostgreSQL trigger
//! sends; see [`Announcement`]); the events themselves are read from the shared event log. Two
//! halves, started together by [`RedisRelay::start`]:
//!
//! - **Announcing.** [`AnnouncingBus`] is the bus the domain publishes committed events on. It
//!   hands each event to this instance's own bus, and queues its announcement for a background
//!   task that publishes on the Redis channel. Publishing never waits for Redis: the queue is
//!   bounded, and when it is full (Redis down or slow) the announcement is dropped and logged.
//! - **Relaying.** A subscriber on the same channel gives every announcement, this instance's
//!   own included, to a [`Republisher`], which reads the announced doctor's events from the log
//!   after the last one it republished and publishes them on this instance's bus (never on the
//!   announcing bus, which would announce them again).
//!
//! Nothing is lost for long: a dropped or missed announcement leaves a gap in a doctor's
//! sequence numbers that the next announcement of that doctor fills from the log; after the
//! subscriber reconnects (fred retries with exponential backoff) it subscribes again and catches
//! up every doctor it has heard of. A periodic `PING` makes a silently dead connection show.
//!
//! Redis works with either database. With SQLite it only makes sense for several processes
//! sharing one database file on one machine; the log they read is that file.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fred::clients::SubscriberClient;
use fred::prelude::{
    Builder, Client, ClientLike, Config, EventInterface, PubsubInterface, ReconnectPolicy, Server,
    Value,
};
use fred::types::Message;
use medibook_core::events::{DomainEvent, EventBus};
use medibook_core::relay::{AnnouncedRecords, Announcement, Republisher};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

/// The channel used when none is configured.
pub const DEFAULT_CHANNEL: &str = "medibook:slot_events";

/// Announcements waiting to be published; beyond this they are dropped.
const QUEUE_CAPACITY: usize = 4096;
/// Most announcements published in one round trip (a pipeline).
const BATCH: usize = 256;
/// Messages the subscriber buffers for the relay; beyond this the relay catches up instead.
const MESSAGE_BUFFER: usize = 1024;
/// How often the subscriber's connection is checked with a `PING`.
const HEARTBEAT: Duration = Duration::from_secs(10);
/// A connection that leaves a command unanswered this long is dropped and made again.
const UNRESPONSIVE_AFTER: Duration = Duration::from_secs(5);
/// Longest wait for one command (publish, ping) before it fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for a connection, at start-up and on each reconnect attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Reconnect backoff: from 100 ms, doubling, up to 5 s, forever.
const RECONNECT_MIN_MS: u32 = 100;
const RECONNECT_MAX_MS: u32 = 5_000;

/// Where the bus lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisSettings {
    /// `redis://[user:password@]host[:port][/db]`, or `rediss://…` for TLS.
    pub url: String,
    /// The pub/sub channel; every instance of one deployment must use the same one.
    pub channel: String,
}

/// Redis could not be reached or refused a command.
#[derive(Debug)]
pub struct RedisBusError(String);

impl fmt::Display for RedisBusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedisBusError {}

impl From<fred::error::Error> for RedisBusError {
    fn from(error: fred::error::Error) -> Self {
        Self(error.to_string())
    }
}

/// The running Redis bus of one instance.
pub struct RedisRelay {
    /// The bus the domain publishes on: this instance's bus, plus announcements to the others.
    pub bus: AnnouncingBus,
    /// Ends once both halves have stopped and closed their connections.
    pub task: JoinHandle<()>,
}

impl RedisRelay {
    /// Connects to Redis (failing at once when it does not answer), subscribes, and starts
    /// both halves: announcing what is published on [`RedisRelay::bus`], and republishing on
    /// `local` the slot events and offers of `records` that any instance announces. Runs until
    /// `stop` changes.
    pub async fn start(
        settings: &RedisSettings,
        local: Arc<dyn EventBus>,
        records: Arc<dyn AnnouncedRecords>,
        stop: watch::Receiver<bool>,
    ) -> Result<Self, RedisBusError> {
        let builder = builder(&settings.url)?;
        let publisher = builder.build()?;
        publisher.init().await?;
        let subscriber = match subscribe(&builder, &settings.channel).await {
            Ok(subscriber) => subscriber,
            Err(e) => {
                let _ = publisher.quit().await;
                return Err(e);
            }
        };
        let (queue, queued) = mpsc::channel(QUEUE_CAPACITY);
        let dropped = Arc::new(AtomicU64::new(0));
        let announcing = tokio::spawn(announce(
            publisher,
            settings.channel.clone(),
            queued,
            Arc::clone(&dropped),
            stop.clone(),
        ));
        let relaying = tokio::spawn(relay(
            subscriber,
            settings.channel.clone(),
            Republisher::new(records, Arc::clone(&local)),
            stop,
        ));
        let task = tokio::spawn(async move {
            let _ = announcing.await;
            let _ = relaying.await;
        });
        Ok(Self {
            bus: AnnouncingBus {
                local,
                queue,
                dropped,
            },
            task,
        })
    }
}

/// Publishes each event on this instance's bus and queues its announcement for Redis. Never
/// blocks: a full queue drops the announcement (logged), and the next announcement of the same
/// doctor lets every instance fill the gap from the log.
#[derive(Clone)]
pub struct AnnouncingBus {
    local: Arc<dyn EventBus>,
    queue: mpsc::Sender<Announcement>,
    dropped: Arc<AtomicU64>,
}

impl EventBus for AnnouncingBus {
    fn publish(&self, event: DomainEvent) {
        let announcement = Announcement::of(&event);
        self.local.publish(event);
        let Some(announcement) = announcement else {
            return;
        };
        match self.queue.try_send(announcement) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                // Warn once per outage; the publisher reports the total when Redis is back.
                if self.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(
                        "redis bus: the announcement queue is full; dropping announcements \
                         (other instances fill the gaps from the event log)"
                    );
                }
            }
            // Shutting down: nobody publishes announcements any more.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// A client builder for `url` with the reconnect policy and timeouts of both halves.
pub(crate) fn builder(url: &str) -> Result<Builder, RedisBusError> {
    let config = Config::from_url(url)
        .map_err(|e| RedisBusError(format!("REDIS_URL is not a Redis URL: {e}")))?;
    let mut builder = Builder::from_config(config);
    builder
        .set_policy(ReconnectPolicy::new_exponential(
            0,
            RECONNECT_MIN_MS,
            RECONNECT_MAX_MS,
            2,
        ))
        .with_connection_config(|connection| {
            connection.connection_timeout = CONNECT_TIMEOUT;
            connection.internal_command_timeout = COMMAND_TIMEOUT;
            connection.unresponsive.max_timeout = Some(UNRESPONSIVE_AFTER);
            connection.unresponsive.interval = Duration::from_secs(1);
        })
        .with_performance_config(|performance| {
            performance.default_command_timeout = COMMAND_TIMEOUT;
            performance.broadcast_channel_capacity = MESSAGE_BUFFER;
        });
    Ok(builder)
}

/// A subscriber connection with the streams the relay reads.
struct Subscription {
    client: SubscriberClient,
    messages: broadcast::Receiver<Message>,
    reconnects: broadcast::Receiver<Server>,
}

/// A connected subscriber on `channel`. The streams are opened before subscribing, so no
/// message sent after the subscription is missed.
async fn subscribe(builder: &Builder, channel: &str) -> Result<Subscription, RedisBusError> {
    let client = builder.build_subscriber_client()?;
    client.init().await?;
    let subscription = Subscription {
        messages: client.message_rx(),
        reconnects: client.reconnect_rx(),
        client,
    };
    if let Err(e) = subscription.client.subscribe(channel).await {
        let _ = subscription.client.quit().await;
        return Err(e.into());
    }
    Ok(subscription)
}

/// The announcing half: publishes queued announcements in batches until `stop` changes (then
/// publishes what is still queued) or every [`AnnouncingBus`] is gone.
async fn announce(
    client: Client,
    channel: String,
    mut queued: mpsc::Receiver<Announcement>,
    dropped: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let stopping = tokio::select! {
            received = queued.recv_many(&mut batch, BATCH) => received == 0,
            _ = stop.changed() => {
                while batch.len() < QUEUE_CAPACITY {
                    match queued.try_recv() {
                        Ok(announcement) => batch.push(announcement),
                        Err(_) => break,
                    }
                }
                true
            }
        };
        if !batch.is_empty() {
            match publish(&client, &channel, &batch).await {
                Ok(()) => {
                    let lost = dropped.swap(0, Ordering::Relaxed);
                    if lost > 0 {
                        tracing::info!(
                            lost,
                            "redis bus: announcing again after dropping announcements"
                        );
                    }
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    lost = batch.len(),
                    "redis bus: publishing announcements failed (other instances fill the gaps \
                     from the event log)"
                ),
            }
            batch.clear();
        }
        if stopping {
            break;
        }
    }
    let _ = client.quit().await;
}

/// Publishes `batch` on `channel` in one round trip.
async fn publish(
    client: &Client,
    channel: &str,
    batch: &[Announcement],
) -> Result<(), fred::error::Error> {
    if let [announcement] = batch {
        let _: Value = client.publish(channel, announcement.to_string()).await?;
        return Ok(());
    }
    let pipeline = client.pipeline();
    for announcement in batch {
        // Queued in the pipeline, sent by `all`.
        let _: () = pipeline.publish(channel, announcement.to_string()).await?;
    }
    let _: Value = pipeline.all().await?;
    Ok(())
}

/// The relaying half: hands every announcement on `channel` to `republisher`; after a
/// reconnect, or when messages were lost in between, subscribes again and catches up.
async fn relay(
    subscription: Subscription,
    channel: String,
    mut republisher: Republisher,
    mut stop: watch::Receiver<bool>,
) {
    let Subscription {
        client: subscriber,
        mut messages,
        mut reconnects,
    } = subscription;
    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = messages.recv() => match message {
                Ok(message) if *message.channel == *channel => match message.value.as_str() {
                    Some(payload) => {
                        if let Err(e) = republisher.on_payload(&payload).await {
                            tracing::warn!(error = %e, "redis bus");
                        }
                    }
                    None => tracing::warn!("redis bus: an announcement that is not text"),
                },
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "redis bus: fell behind the channel; catching up");
                    if let Err(e) = republisher.catch_up().await {
                        tracing::warn!(error = %e, "redis bus: catching up");
                    }
                }
                Err(RecvError::Closed) => break,
            },
            reconnect = reconnects.recv() => match reconnect {
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    tracing::info!("redis bus: reconnected; subscribing again and catching up");
                    if let Err(e) = subscriber.resubscribe_all().await {
                        // The connection dropped again; its reconnect brings us back here.
                        tracing::warn!(error = %e, "redis bus: subscribing again failed");
                    }
                    if let Err(e) = republisher.catch_up().await {
                        tracing::warn!(error = %e, "redis bus: catching up");
                    }
                }
                Err(RecvError::Closed) => break,
            },
            _ = heartbeat.tick() => {
                // An unanswered ping makes fred drop the connection and reconnect.
                if let Err(e) = subscriber.ping::<Value>(None).await {
                    tracing::warn!(error = %e, "redis bus: the subscriber's ping failed");
                }
            }
            _ = stop.changed() => break,
        }
    }
    let _ = subscriber.quit().await;
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use medibook_core::booking::SlotStatus;
    use medibook_core::events::SlotEvent;
    use medibook_core::ids::DoctorId;

    use super::*;

    /// Remembers what was published.
    #[derive(Default)]
    struct Recorded(Mutex<Vec<DomainEvent>>);

    impl EventBus for Recorded {
        fn publish(&self, event: DomainEvent) {
            self.0.lock().unwrap().push(event);
        }
    }

    /// A store with nothing in it.
    struct NothingRecorded;

    #[async_trait::async_trait]
    impl AnnouncedRecords for NothingRecorded {
        async fn slot_events_after(
            &self,
            _doctor_id: DoctorId,
            _after_seq: i64,
            _limit: u32,
        ) -> medibook_core::BookingResult<Vec<SlotEvent>> {
            Ok(Vec::new())
        }

        async fn offer(
            &self,
            _id: medibook_core::ids::OfferId,
        ) -> medibook_core::BookingResult<Option<medibook_core::waitlist::WaitlistOffer>> {
            Ok(None)
        }
    }

    fn slot_event(seq: i64) -> DomainEvent {
        let start: jiff::Timestamp = "2027-03-02T08:30:00Z".parse().unwrap();
        DomainEvent::Slot(SlotEvent {
            doctor_id: DoctorId::generate(),
            seq,
            start,
            end: start,
            status: SlotStatus::Held,
        })
    }

    #[test]
    fn publishing_never_waits_for_redis() {
        let local = Arc::new(Recorded::default());
        let (queue, mut queued) = mpsc::channel(1);
        let bus = AnnouncingBus {
            local: local.clone(),
            queue,
            dropped: Arc::new(AtomicU64::new(0)),
        };
        for seq in 1..=3 {
            bus.publish(slot_event(seq));
        }
        assert_eq!(local.0.lock().unwrap().len(), 3, "every event stays local");
        assert!(matches!(
            queued.try_recv(),
            Ok(Announcement::Slot { seq: 1, .. })
        ));
        assert!(queued.try_recv().is_err(), "the rest was dropped");
        assert_eq!(bus.dropped.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_refused_at_start() {
        let settings = RedisSettings {
            url: "redis://127.0.0.1:1".into(),
            channel: DEFAULT_CHANNEL.into(),
        };
        let (_stop, stopped) = watch::channel(false);
        let started = RedisRelay::start(
            &settings,
            Arc::new(Recorded::default()),
            Arc::new(NothingRecorded),
            stopped,
        )
        .await;
        assert!(started.is_err());
    }

    #[test]
    fn a_url_that_is_not_redis_is_refused() {
        let error = builder("postgres://db/medibook")
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("REDIS_URL")));
    }
}
