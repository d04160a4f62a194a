//! Wiring: the concrete adapters behind the core services, and the server's life cycle.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use jiff::SignedDuration;
use medibook_core::booking_service::{BookingPolicy, BookingService};
use medibook_core::calendar_feeds::{CalendarFeeds, CalendarSettings};
use medibook_core::calendar_sync::GoogleCalendarSync;
use medibook_core::catalogue::Catalogue;
use medibook_core::clinic_cache::{CachedClinic, ForgettingBus};
use medibook_core::clock::{Clock, SystemClock};
use medibook_core::delivery::MessageChannel;
use medibook_core::events::{EventBus, NoListeners};
use medibook_core::limits::{RateLimit, RateLimiter};
use medibook_core::outbox::{OutboxCodeSender, OutboxRepository, OutboxWorker, RetryPolicy};
use medibook_core::ports::CodeSender;
use medibook_core::sessions::{SessionPolicy, Sessions};
use medibook_core::signin::{SignIn, SignInLimits};
use medibook_core::waitlist::{WaitlistPolicy, WaitlistService};
use medibook_integrations::redis_bus::{RedisRelay, RedisSettings};
use medibook_store::Database;
use medibook_web::events::InProcessBus;
use medibook_web::metrics::{MetricsEndpoint, MetricsExport};
use medibook_web::{AppState, Readiness, TokenKeys, WebSettings};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

use crate::delivery::LogChannel;
use crate::secrets::{self, ServerKeys};
use crate::settings::{Environment, Settings};

/// A failure to start, with a message saying what is misconfigured.
pub type StartError = String;

/// A connected, migrated database with the services built on it.
pub struct App {
    /// The HTTP application.
    pub router: axum::Router,
    /// The database.
    pub database: Database,
    /// Booking use cases (also used by the sweeper and the demo seeder).
    pub bookings: BookingService,
    /// The waitlist.
    pub waitlist: WaitlistService,
    /// Committed events, for in-process subscribers.
    pub events: InProcessBus,
    /// Rate limits (the sweeper prunes their counters).
    pub limiter: RateLimiter,
    /// Doctor and admin use cases (also used by the demo seeder for its staff accounts).
    pub staff: medibook_core::staff::Staff,
    /// Google Calendar sync, when a Google client is configured.
    pub calendar: Option<GoogleCalendarSync>,
    /// Wakes the calendar worker (after a connect).
    pub calendar_wake: Arc<Notify>,
    /// Set to `true` to close the live feed's connections (1001, going away) before stopping.
    pub shutdown: Arc<watch::Sender<bool>>,
}

struct DatabaseReadiness(Database);

#[async_trait::async_trait]
impl Readiness for DatabaseReadiness {
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

/// `medibook seed`: loads a generated clinic of `shape` into the configured database (migrated
/// first) and prints what was loaded as one JSON line on standard output.
pub async fn seed(settings: &Settings, shape: &crate::seed::Shape) -> Result<(), StartError> {
    let database = open_database(settings).await?;
    let seeded = crate::seed::seed(&database, shape, jiff::Timestamp::now()).await;
    database.close().await;
    let seeded = seeded?;
    let line = serde_json::to_string(&seeded).map_err(|e| e.to_string())?;
    println!("{line}");
    Ok(())
}

/// `medibook floor`: the configured database's commit rate of single-row insert transactions
/// through this server's connection settings, alone and with `writers` at once, each for
/// `seconds`; one JSON line `{"serial_per_s":…,"concurrent_per_s":…,"writers":…}`.
pub async fn floor(settings: &Settings, writers: usize, seconds: u64) -> Result<(), StartError> {
    let database = open_database(settings).await?;
    let time = Duration::from_secs(seconds);
    let measured = async {
        let serial = database.commit_floor(1, time).await?;
        let concurrent = database.commit_floor(writers, time).await?;
        Ok::<_, medibook_store::StoreError>((serial, concurrent))
    }
    .await;
    database.close().await;
    let (serial, concurrent) = measured.map_err(|e| format!("cannot measure the floor: {e}"))?;
    let line = serde_json::json!({
        "serial_per_s": serial,
        "concurrent_per_s": concurrent,
        "writers": writers,
    });
    println!("{line}");
    Ok(())
}

/// `medibook backup FILE`: a consistent online copy of the SQLite database, checked with
/// `PRAGMA integrity_check`. Does not migrate, so it is safe beside a running server of any
/// version; PostgreSQL is refused with a pointer to `pg_dump`.
pub async fn backup(settings: &Settings, file: &std::path::Path) -> Result<(), StartError> {
    let url = settings.database_url();
    if !url.starts_with("sqlite:") {
        return Err(medibook_store::backup::BackupError::Postgres.to_string());
    }
    // Read-write but never create: a mistyped path must fail, not back up a new empty file.
    let existing = if url.contains("mode=") {
        url.clone()
    } else {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}mode=rw")
    };
    let database = Database::connect(&existing).await.map_err(|e| {
        format!(
            "cannot open database {} (a backup never creates one; check MEDIBOOK_DATA_DIR or \
             DATABASE_URL): {e}",
            medibook_store::redact(&url)
        )
    })?;
    let result = database.backup_to(file).await;
    database.close().await;
    let report = result.map_err(|e| e.to_string())?;
    tracing::info!(
        path = %report.path.display(),
        bytes = report.bytes,
        "backup written; integrity check ok"
    );
    Ok(())
}

/// Connects to the configured database and applies pending migrations.
pub async fn open_database(settings: &Settings) -> Result<Database, StartError> {
    let url = settings.database_url();
    let database = Database::connect(&url)
        .await
        .map_err(|e| format!("cannot open database {}: {e}", medibook_store::redact(&url)))?;
    database
        .migrate()
        .await
        .map_err(|e| format!("cannot migrate database: {e}"))?;
    Ok(database)
}

/// Where committed events go.
#[derive(Clone)]
pub struct EventWiring {
    /// This process's bus, which the live feed reads.
    pub local: InProcessBus,
    /// The bus the domain publishes on: `local` itself, or a bus that also announces to other
    /// instances (Redis).
    pub publish: Arc<dyn EventBus>,
}

impl EventWiring {
    /// Events stay in this process (other instances, if any, learn of them another way).
    pub fn in_process() -> Self {
        let local = InProcessBus::new(EVENT_BUFFER);
        Self {
            publish: Arc::new(local.clone()),
            local,
        }
    }
}

/// Makes `clinic` forget doctors whose change reaches this instance's bus from elsewhere (the
/// PostgreSQL or Redis relay), and everything when the bus says events were missed. Ends when
/// the bus is dropped.
fn forget_relayed_changes(events: &InProcessBus, clinic: Arc<CachedClinic>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        // Built outside a runtime (a tool): nothing is relayed then.
        return;
    };
    let mut heard = events.subscribe();
    runtime.spawn(async move {
        loop {
            match heard.recv().await {
                Ok(published) => clinic.on_event(published.event()),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => clinic.forget_all(),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}

/// How long a stopping server waits for live-feed connections to close.
const FEED_DRAIN: Duration = Duration::from_secs(10);

/// Events buffered per slow in-process subscriber.
const EVENT_BUFFER: usize = 1024;

impl App {
    /// Builds the application over an open database, with events kept in this process.
    pub fn build(
        settings: &Settings,
        database: Database,
        secret: &[u8],
        clock: Arc<dyn Clock>,
        sender: Arc<dyn CodeSender>,
    ) -> Self {
        Self::build_with_events(
            settings,
            database,
            secret,
            clock,
            sender,
            EventWiring::in_process(),
        )
    }

    /// Builds the application over an open database, publishing committed events as `events`
    /// says.
    pub fn build_with_events(
        settings: &Settings,
        database: Database,
        secret: &[u8],
        clock: Arc<dyn Clock>,
        sender: Arc<dyn CodeSender>,
        events: EventWiring,
    ) -> Self {
        let keys = ServerKeys::derive(secret);
        let waitlist_policy = WaitlistPolicy {
            offer_window: SignedDuration::from_mins(i64::from(settings.waitlist_offer_minutes)),
            max_entries_per_patient: settings.max_waitlist_entries,
        };
        let database = database
            .with_waitlist_policy(waitlist_policy)
            .with_notifications(settings.notifications());
        let EventWiring {
            local: events,
            publish,
        } = events;
        let store = Arc::new(database.clone());
        // The read path's catalogue: doctors and time off in memory, forgotten when a change
        // is published here (before anyone hears of it) or relayed from another instance.
        let clinic = Arc::new(CachedClinic::new(store.clone(), clock.clone()));
        let publish: Arc<dyn EventBus> = Arc::new(ForgettingBus::new(clinic.clone(), publish));
        forget_relayed_changes(&events, clinic.clone());
        let policy = BookingPolicy {
            hold_duration: SignedDuration::from_mins(i64::from(settings.hold_minutes)),
            max_active_appointments: settings.max_active_appointments,
            max_holds_per_patient: settings.max_holds_per_patient,
            late_cancellation: settings.notifications().late_cancellation,
        };
        let bookings = BookingService::new(
            clinic.clone(),
            store.clone(),
            clock.clone(),
            publish.clone(),
            policy,
        )
        .observed_by(Arc::new(medibook_web::metrics::BookingCounters));
        let limiter = RateLimiter::new(store.clone(), clock.clone());
        let session_policy = SessionPolicy {
            access_lifetime: SignedDuration::from_mins(i64::from(settings.access_token_minutes)),
            idle_timeout: SignedDuration::from_mins(i64::from(settings.session_idle_minutes)),
            absolute_lifetime: SignedDuration::from_hours(i64::from(settings.session_max_hours)),
        };
        let signin_limits = SignInLimits {
            per_identifier: RateLimit::per_hour(settings.codes_per_identifier_per_hour),
            per_ip: RateLimit::per_hour(settings.codes_per_ip_per_hour),
        };
        let waitlist = WaitlistService::new(
            store.clone(),
            store.clone(),
            clock.clone(),
            publish.clone(),
            waitlist_policy,
        );
        let staff = medibook_core::staff::Staff::new(
            store.clone(),
            store.clone(),
            store.clone(),
            store.clone(),
            clock.clone(),
            publish.clone(),
        );
        let calendar_wake = Arc::new(Notify::new());
        let google = crate::calendar::google_calendar(
            settings,
            &database,
            &keys.calendar_key,
            clock.clone(),
            calendar_wake.clone(),
        )
        .unwrap_or_else(|e| panic!("invalid Google Calendar settings: {e}"));
        let calendar = google.as_ref().map(|google| google.sync.clone());
        let (shutdown, shutting_down) = watch::channel(false);
        let state = AppState {
            catalogue: Catalogue::new(clinic.clone()),
            bookings: bookings.clone(),
            waitlist: waitlist.clone(),
            signin: SignIn::new(
                store.clone(),
                sender,
                clock.clone(),
                &keys.code_key,
                limiter.clone(),
                signin_limits,
            ),
            sessions: Sessions::new(store.clone(), clock.clone(), session_policy),
            identities: store.clone(),
            staff: staff.clone(),
            contact: medibook_core::contact::ContactDesk::new(
                store.clone(),
                limiter.clone(),
                medibook_core::contact::FORMS_PER_CLIENT,
                clock.clone(),
            ),
            audit: medibook_core::audit::AuditTrail::new(
                Arc::new(medibook_web::metrics::CountingAuditLog::new(store.clone())),
                clock.clone(),
            ),
            outbox: medibook_core::outbox::OutboxMonitor::new(store.clone()),
            web: WebSettings {
                secure_cookies: settings.secure_cookies,
                trust_forwarded_for: settings.trust_proxy,
                feed: settings.feed(),
            },
            tokens: TokenKeys::new(
                &keys.token_key,
                session_policy.access_lifetime,
                clock.clone(),
            ),
            readiness: Arc::new(DatabaseReadiness(database.clone())),
            events: events.clone(),
            event_log: store.clone(),
            google,
            calendar: CalendarFeeds::new(
                store.clone(),
                clock.clone(),
                keys.feed_key,
                CalendarSettings {
                    public_url: settings.public_url(),
                    clinic_name: settings.clinic_name.clone(),
                },
            ),
            metrics: metrics_endpoint(settings, outbox_reader(&database)),
            shutdown: shutting_down,
        };
        Self {
            router: medibook_web::router(state),
            database,
            bookings,
            waitlist,
            events,
            limiter,
            staff,
            calendar,
            calendar_wake,
            shutdown: Arc::new(shutdown),
        }
    }
}

fn outbox_reader(database: &Database) -> Arc<dyn OutboxRepository> {
    Arc::new(database.clone())
}

/// Request-latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The process-wide Prometheus recorder, installed on first use (the `metrics` facade has one
/// global recorder); `None` if another recorder was installed first.
fn prometheus() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(medibook_web::metrics::REQUEST_DURATION.to_owned()),
                    &LATENCY_BUCKETS,
                )
                .map(PrometheusBuilder::build_recorder);
            let recorder = match recorder {
                Ok(recorder) => recorder,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics are off: invalid histogram buckets");
                    return None;
                }
            };
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics are off: a recorder is already installed");
                    None
                }
            }
        })
        .clone()
}

/// `/metrics` when a token is configured.
fn metrics_endpoint(
    settings: &Settings,
    outbox: Arc<dyn OutboxRepository>,
) -> Option<MetricsEndpoint> {
    let token = settings.metrics_token.clone().filter(|t| !t.is_empty())?;
    let handle = prometheus()?;
    Some(MetricsEndpoint {
        token,
        export: Arc::new(PrometheusExport { handle, outbox }),
    })
}

/// The Prometheus exposition, with the outbox depth read at scrape time (one query).
struct PrometheusExport {
    handle: PrometheusHandle,
    outbox: Arc<dyn OutboxRepository>,
}

#[async_trait::async_trait]
impl MetricsExport for PrometheusExport {
    async fn render(&self) -> String {
        match self.outbox.summary().await {
            Ok(summary) => {
                let pending = u32::try_from(summary.pending).unwrap_or(u32::MAX);
                metrics::gauge!("medibook_outbox_pending").set(f64::from(pending));
            }
            Err(e) => tracing::warn!(error = %e, "cannot count pending outbox messages"),
        }
        self.handle.render()
    }
}

/// Checks the settings that production mode insists on: a real delivery channel (codes are
/// never logged), a complete channel configuration, and secure cookies.
pub fn production_guard(
    settings: &Settings,
    channels: &medibook_integrations::Channels,
) -> Result<(), StartError> {
    if settings.env != Environment::Production {
        return Ok(());
    }
    if channels.is_empty() {
        return Err(
            "MEDIBOOK_ENV=production needs a delivery channel for one-time codes \
                    (MEDIBOOK_SMTP_URL + MEDIBOOK_MAIL_FROM, or the MEDIBOOK_SMS_* settings); \
                    refusing to start rather than log codes"
                .into(),
        );
    }
    if !settings.secure_cookies {
        return Err(
            "MEDIBOOK_ENV=production needs MEDIBOOK_SECURE_COOKIES=true (serve over \
                    HTTPS, directly or behind a TLS-terminating proxy)"
                .into(),
        );
    }
    Ok(())
}

/// The channel messages go out through: the configured email/SMS channels, or the log in
/// development when none is configured.
pub fn message_channel(channels: medibook_integrations::Channels) -> Arc<dyn MessageChannel> {
    if channels.is_empty() {
        tracing::warn!(
            "no email or SMS channel configured: messages, including one-time codes, are written \
             to this log (development mode)"
        );
        Arc::new(LogChannel)
    } else {
        Arc::new(channels)
    }
}

/// Runs the server until Ctrl-C or SIGTERM: migrate, optionally seed the demo clinic, serve,
/// deliver the outbox, sweep expired holds and sync Google calendars in the background.
pub async fn serve(settings: Settings, demo: bool) -> Result<(), StartError> {
    let channels = settings.channels()?;
    production_guard(&settings, &channels)?;
    let secret = secrets::load_or_create(settings.secret.as_deref(), &settings.data_dir)?;
    let database = open_database(&settings).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let outbox_store: Arc<dyn OutboxRepository> = Arc::new(database.clone());
    let (stop, stopped) = watch::channel(false);
    let (events, redis) = match settings.redis() {
        Some(redis) => {
            let (events, relay) = follow_through_redis(&redis, &database, stopped.clone()).await?;
            (events, Some(relay))
        }
        None => (EventWiring::in_process(), None),
    };
    let app = App::build_with_events(
        &settings,
        database.clone(),
        &secret,
        clock.clone(),
        Arc::new(OutboxCodeSender::new(outbox_store.clone(), clock.clone())),
        events,
    );
    let worker = OutboxWorker::new(
        outbox_store,
        message_channel(channels),
        clock.clone(),
        RetryPolicy::default(),
    )
    .with_retention(settings.outbox_retention());
    if demo {
        // Demo bookings are made quietly: their patients' addresses are made up, so nobody is
        // sent a confirmation or reminder of them.
        let store = Arc::new(database.clone());
        let quiet = BookingService::new(
            store.clone(),
            store,
            clock.clone(),
            Arc::new(NoListeners),
            app.bookings.policy(),
        );
        let summary = crate::demo::seed_demo_clinic(&database, &database, &quiet, &app.staff)
            .await
            .map_err(|e| format!("cannot seed the demo clinic: {e}"))?;
        tracing::info!(?summary, "demo clinic ready");
    }
    let relay = match redis {
        Some(relay) => Some(relay),
        None if database.backend() == medibook_store::Backend::Postgres => {
            // Several instances may share this database: follow their committed slot events too.
            let bus: Arc<dyn EventBus> = Arc::new(app.events.clone());
            let relay = medibook_store::relay::EventRelay::spawn(
                database.clone(),
                &settings.database_url(),
                bus,
                stopped.clone(),
            )
            .await
            .map_err(|e| format!("cannot listen for other instances' events: {e}"))?;
            tracing::info!("other instances' events arrive through PostgreSQL LISTEN/NOTIFY");
            Some(relay)
        }
        // One SQLite instance: its own bus is all there is.
        None => None,
    };
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", settings.listen))?;
    // The bound address, so that port 0 (any free port) shows which port was chosen.
    let address = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    tracing::info!(
        "MediBook is listening on http://{address} ({:?} database)",
        database.backend()
    );

    let sweeper = tokio::spawn(sweep_expired_holds(
        app.bookings.clone(),
        app.limiter.clone(),
        Duration::from_secs(settings.sweep_seconds),
        stopped.clone(),
    ));
    let calendar = app.calendar.clone().map(|sync| {
        tracing::info!("Google Calendar sync is on");
        tokio::spawn(crate::calendar::sync_google_calendars(
            sync,
            Duration::from_secs(settings.google_sync_seconds),
            app.calendar_wake.clone(),
            stopped.clone(),
        ))
    });
    let deliverer = tokio::spawn(deliver_outbox(
        worker,
        Duration::from_secs(settings.outbox_seconds),
        stopped,
    ));
    let feed_stop = app.shutdown.clone();
    let stopping = {
        let feed_stop = feed_stop.clone();
        async move {
            shutdown_signal().await;
            let _ = feed_stop.send(true);
        }
    };
    let result = medibook_web::serve(listener, app.router, stopping).await;
    // Live-feed connections outlive the HTTP drain: wait until they have sent their closing
    // frames (each gives up after a few seconds) and dropped their copies of the state.
    if tokio::time::timeout(FEED_DRAIN, feed_stop.closed())
        .await
        .is_err()
    {
        tracing::warn!("some live-feed connections did not close in time");
    }
    let _ = stop.send(true);
    let _ = sweeper.await;
    let _ = deliverer.await;
    if let Some(calendar) = calendar {
        let _ = calendar.await;
    }
    if let Some(relay) = relay {
        let _ = relay.await;
    }
    database.close().await;
    result.map_err(|e| format!("server failed: {e}"))
}

/// Connects the Redis bus: committed events are announced on `redis`'s channel, and every
/// instance's announced events are read from `database` onto this instance's bus. Works on
/// either backend (on SQLite, for processes sharing one database file). Returns the wiring for
/// [`App::build_with_events`] and the task that ends once the bus has stopped.
async fn follow_through_redis(
    redis: &RedisSettings,
    database: &Database,
    stop: watch::Receiver<bool>,
) -> Result<(EventWiring, tokio::task::JoinHandle<()>), StartError> {
    let local = InProcessBus::new(EVENT_BUFFER);
    let relay = RedisRelay::start(
        redis,
        Arc::new(local.clone()),
        Arc::new(database.clone()),
        stop,
    )
    .await
    .map_err(|e| {
        format!(
            "cannot use Redis at {} (REDIS_URL) for events between instances: {e}",
            medibook_store::redact(&redis.url)
        )
    })?;
    tracing::info!(
        channel = %redis.channel,
        "other instances' events arrive through Redis pub/sub"
    );
    let events = EventWiring {
        local,
        publish: Arc::new(relay.bus),
    };
    Ok((events, relay.task))
}

/// How often the outbox worker deletes finished messages past their retention.
const OUTBOX_PURGE_EVERY: Duration = Duration::from_secs(600);

/// Delivers due outbox messages every `every` until told to stop, and deletes finished
/// messages past their retention every [`OUTBOX_PURGE_EVERY`] (the first time one period
/// after start).
pub async fn deliver_outbox(
    worker: OutboxWorker,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    // The first round comes one period after start, when the server is up.
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_purge = tokio::time::Instant::now() + every;
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if tokio::time::Instant::now() >= next_purge {
                    next_purge = tokio::time::Instant::now() + OUTBOX_PURGE_EVERY;
                    match worker.purge_finished().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(deleted = n, "deleted finished outbox messages past their retention"),
                        Err(e) => tracing::warn!(error = %e, "deleting old outbox messages failed"),
                    }
                }
                // Rounds follow each other at once while they come back full (a burst).
                loop {
                    match worker.deliver_due().await {
                        Ok(round) => {
                            if round.retried + round.failed > 0 {
                                tracing::warn!(?round, "some messages could not be delivered yet");
                            }
                            if !round.was_full() {
                                break;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "delivering the outbox failed");
                            break;
                        }
                    }
                }
            }
            _ = stop.changed() => break,
        }
    }
}

/// Expires lapsed holds every `every` until told to stop, and forgets old rate-limit windows.
/// Expired holds stop occupying their slot at `expires_at` regardless; the sweeper tidies state
/// and announces the freed slots.
pub async fn sweep_expired_holds(
    bookings: BookingService,
    limiter: RateLimiter,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                match bookings.sweep_expired_holds().await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(expired = n, "swept expired holds"),
                    Err(e) => tracing::warn!(error = %e, "sweeping expired holds failed"),
                }
                if let Err(e) = limiter.prune().await {
                    tracing::warn!(error = %e, "pruning rate-limit counters failed");
                }
            }
            _ = stop.changed() => break,
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: draining open requests");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn production() -> Settings {
        Settings {
            env: Environment::Production,
            ..Settings::default()
        }
    }

    #[test]
    fn production_refuses_to_start_without_a_delivery_channel() {
        let settings = Settings {
            secure_cookies: true,
            ..production()
        };
        let channels = settings.channels().unwrap();
        let refusal = production_guard(&settings, &channels).unwrap_err();
        assert!(refusal.contains("delivery channel"), "{refusal}");
    }

    #[test]
    fn production_refuses_insecure_cookies() {
        let settings = Settings {
            smtp_url: Some("smtps://user:pass@mail.example.org".into()),
            mail_from: Some("no-reply@clinic.example".into()),
            ..production()
        };
        let channels = settings.channels().unwrap();
        assert!(production_guard(&settings, &channels).is_err());
        let secure = Settings {
            secure_cookies: true,
            ..settings
        };
        assert!(production_guard(&secure, &secure.channels().unwrap()).is_ok());
    }

    #[test]
    fn incomplete_channel_settings_are_refused() {
        let settings = Settings {
            smtp_url: Some("smtp://localhost:25".into()),
            ..Settings::default()
        };
        assert!(settings.channels().is_err());
        let sms = Settings {
            sms_account_sid: Some("AC123".into()),
            ..Settings::default()
        };
        assert!(sms.channels().is_err());
    }

    #[test]
    fn development_without_channels_is_allowed() {
        let settings = Settings::default();
        assert!(production_guard(&settings, &settings.channels().unwrap()).is_ok());
    }
}
