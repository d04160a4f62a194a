//! The server's life cycle: the production checks, the delivery channel, `medibook serve` with
//! its background tasks, events between instances through Redis, and shutdown on a signal.

use std::sync::Arc;
use std::time::Duration;

use medibook_core::booking_service::BookingService;
use medibook_core::clock::{Clock, SystemClock};
use medibook_core::delivery::MessageChannel;
use medibook_core::events::{EventBus, NoListeners};
use medibook_core::outbox::{OutboxCodeSender, OutboxRepository, OutboxWorker, RetryPolicy};
use medibook_integrations::redis_agendas::RedisAgendaStore;
use medibook_integrations::redis_bus::{RedisBusError, RedisRelay, RedisSettings};
use medibook_store::Database;
use medibook_web::shell::events::InProcessBus;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::delivery::LogChannel;
use crate::secrets;
use crate::settings::{Environment, Settings};

use super::workers::{deliver_outbox, keep_audit_trail, keep_retention, sweep_expired_holds};
use super::{App, EVENT_BUFFER, EventWiring, FEED_DRAIN, StartError, open_database};

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
    let settings = if demo {
        settings.with_demo_clinic()
    } else {
        settings
    };
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
    raise_open_file_limit(settings.max_connections);
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
    let audit = tokio::spawn(keep_audit_trail(
        database.clone(),
        settings.audit_retention(),
        stopped.clone(),
    ));
    let retention = app
        .retention
        .clone()
        .map(|retention| tokio::spawn(keep_retention(retention, stopped.clone())));
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
    let result =
        medibook_web::serve::serve_with(listener, app.router, settings.serve_limits(), stopping)
            .await;
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
    let _ = audit.await;
    if let Some(retention) = retention {
        let _ = retention.await;
    }
    if let Some(calendar) = calendar {
        let _ = calendar.await;
    }
    if let Some(relay) = relay {
        let _ = relay.await;
    }
    database.close().await;
    result.map_err(|e| format!("server failed: {e}"))
}

/// Raises the soft open-file limit as far as the hard limit allows, since every connection is a
/// file; warns when even that leaves too little room for `max_connections` (the operating
/// system would then refuse connections before the server's own cap answers them 503).
fn raise_open_file_limit(max_connections: u32) {
    /// Files the server needs besides its HTTP connections (database, logs, Redis, WebSockets
    /// being upgraded).
    const HEADROOM: u64 = 256;
    let wanted = u64::from(max_connections) + HEADROOM;
    match rlimit::increase_nofile_limit(wanted) {
        Ok(limit) if limit < wanted => tracing::warn!(
            limit,
            max_connections,
            "the open-file limit is below MEDIBOOK_MAX_CONNECTIONS; raise it (ulimit -n, \
             LimitNOFILE=) or lower the setting"
        ),
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "cannot raise the open-file limit"),
    }
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
    let unusable = |purpose: &str, e: RedisBusError| {
        format!(
            "cannot use Redis at {} (REDIS_URL) for {purpose}: {e}",
            medibook_store::redact(&redis.url)
        )
    };
    let agendas = RedisAgendaStore::connect(redis, stop.clone())
        .await
        .map_err(|e| unusable("shared agendas", e))?;
    let relay = RedisRelay::start(
        redis,
        Arc::new(local.clone()),
        Arc::new(database.clone()),
        stop,
    )
    .await
    .map_err(|e| unusable("events between instances", e))?;
    tracing::info!(
        channel = %redis.channel,
        "other instances' events arrive through Redis pub/sub"
    );
    let events = EventWiring {
        local,
        publish: Arc::new(relay.bus),
        shared: true,
        agendas: Some(agendas),
    };
    Ok((events, relay.task))
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
