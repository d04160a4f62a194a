//! Wiring: the concrete adapters behind the core services, and the server's life cycle.

use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;
use medibook_core::booking_service::{BookingPolicy, BookingService};
use medibook_core::catalogue::Catalogue;
use medibook_core::clock::{Clock, SystemClock};
use medibook_core::limits::{RateLimit, RateLimiter};
use medibook_core::ports::CodeSender;
use medibook_core::sessions::{SessionPolicy, Sessions};
use medibook_core::signin::{SignIn, SignInLimits};
use medibook_store::Database;
use medibook_web::events::InProcessBus;
use medibook_web::{AppState, Readiness, TokenKeys, WebSettings};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::delivery::LogCodeSender;
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
    /// Committed events, for in-process subscribers.
    pub events: InProcessBus,
    /// Rate limits (the sweeper prunes their counters).
    pub limiter: RateLimiter,
}

struct DatabaseReadiness(Database);

#[async_trait::async_trait]
impl Readiness for DatabaseReadiness {
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
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

impl App {
    /// Builds the application over an open database.
    pub fn build(
        settings: &Settings,
        database: Database,
        secret: &[u8],
        clock: Arc<dyn Clock>,
        sender: Arc<dyn CodeSender>,
    ) -> Self {
        let keys = ServerKeys::derive(secret);
        let events = InProcessBus::new(1024);
        let store = Arc::new(database.clone());
        let policy = BookingPolicy {
            hold_duration: SignedDuration::from_mins(i64::from(settings.hold_minutes)),
            max_active_appointments: settings.max_active_appointments,
            max_holds_per_patient: settings.max_holds_per_patient,
        };
        let bookings = BookingService::new(
            store.clone(),
            store.clone(),
            clock.clone(),
            Arc::new(events.clone()),
            policy,
        );
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
        let state = AppState {
            catalogue: Catalogue::new(store.clone()),
            bookings: bookings.clone(),
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
            web: WebSettings {
                secure_cookies: settings.secure_cookies,
                trust_forwarded_for: settings.trust_proxy,
            },
            tokens: TokenKeys::new(&keys.token_key, session_policy.access_lifetime, clock),
            readiness: Arc::new(DatabaseReadiness(database.clone())),
        };
        Self {
            router: medibook_web::router(state),
            database,
            bookings,
            events,
            limiter,
        }
    }
}

/// Checks the settings that production mode insists on.
pub fn production_guard(settings: &Settings) -> Result<(), StartError> {
    if settings.env == Environment::Production {
        return Err(
            "MEDIBOOK_ENV=production needs a real delivery channel for one-time codes \
                    (SMTP or SMS), and none is configured; refusing to start rather than log codes"
                .into(),
        );
    }
    Ok(())
}

/// Runs the server until Ctrl-C or SIGTERM: migrate, optionally seed the demo clinic, serve,
/// sweep expired holds in the background.
pub async fn serve(settings: Settings, demo: bool) -> Result<(), StartError> {
    production_guard(&settings)?;
    let secret = secrets::load_or_create(settings.secret.as_deref(), &settings.data_dir)?;
    let database = open_database(&settings).await?;
    let app = App::build(
        &settings,
        database.clone(),
        &secret,
        Arc::new(SystemClock),
        Arc::new(LogCodeSender),
    );
    if demo {
        let summary = crate::demo::seed_demo_clinic(&database, &database, &app.bookings)
            .await
            .map_err(|e| format!("cannot seed the demo clinic: {e}"))?;
        tracing::info!(?summary, "demo clinic ready");
    }
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", settings.listen))?;
    tracing::info!(
        "MediBook is listening on http://{} ({:?} database)",
        settings.listen,
        database.backend()
    );

    let (stop, stopped) = watch::channel(false);
    let sweeper = tokio::spawn(sweep_expired_holds(
        app.bookings.clone(),
        app.limiter.clone(),
        Duration::from_secs(settings.sweep_seconds),
        stopped,
    ));
    let result = medibook_web::serve(listener, app.router, shutdown_signal()).await;
    let _ = stop.send(true);
    let _ = sweeper.await;
    database.close().await;
    result.map_err(|e| format!("server failed: {e}"))
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
