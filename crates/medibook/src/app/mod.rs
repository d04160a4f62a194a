//! Wiring: the concrete adapters behind the core services, and the server's life cycle.

mod commands;
mod metrics_export;
mod server;
pub mod workers;

use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;
use medibook_core::agenda_cache::AgendaCache;
use medibook_core::booking_service::{BookingPolicy, BookingService};
use medibook_core::calendar_feeds::{CalendarFeeds, CalendarSettings};
use medibook_core::calendar_sync::GoogleCalendarSync;
use medibook_core::catalogue::Catalogue;
use medibook_core::clinic_cache::CachedClinic;
use medibook_core::clock::Clock;
use medibook_core::contention::SlotContention;
use medibook_core::events::{EventBus, EventFollower, FollowedBus};
use medibook_core::limits::{RateLimit, RateLimiter};
use medibook_core::outbox::OutboxRepository;
use medibook_core::ports::CodeSender;
use medibook_core::sessions::{SessionPolicy, Sessions};
use medibook_core::shared_agendas::{SharedAgendaStore, SharedAgendas};
use medibook_core::signin::{SignIn, SignInLimits};
use medibook_core::waitlist::WaitlistPolicy;
use medibook_core::waitlist_service::WaitlistService;
use medibook_store::{Backend, Database};
use medibook_web::shell::events::InProcessBus;
use medibook_web::{AppState, Readiness, TokenKeys, WebSettings};
use tokio::sync::{Notify, watch};

use crate::secrets::ServerKeys;
use crate::settings::Settings;

pub use commands::{backup, floor, seed};
use metrics_export::metrics_endpoint;
pub use server::{message_channel, production_guard, serve};
pub use workers::{deliver_outbox, sweep_expired_holds};

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
    /// The retention job; `None` when appointments are kept as they are.
    pub retention: Option<medibook_core::retention::Retention>,
    /// Set to `true` to close the live feed's connections (1001, going away) before stopping.
    pub shutdown: Arc<watch::Sender<bool>>,
}

struct DatabaseReadiness(Database);

#[async_trait::async_trait]
impl Readiness for DatabaseReadiness {
    async fn check(&self) -> Result<(), String> {
        self.0.ready().await.map_err(|e| e.to_string())
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

/// Where committed events go.
#[derive(Clone)]
pub struct EventWiring {
    /// This process's bus, which the live feed reads.
    pub local: InProcessBus,
    /// The bus the domain publishes on: `local` itself, or a bus that also announces to other
    /// instances (Redis).
    pub publish: Arc<dyn EventBus>,
    /// Whether other instances share the database and announce their changes here (Redis).
    /// A SQLite instance without such a relay is alone with its database.
    pub shared: bool,
    /// Where instances share the doctors' agendas for slot listings (Redis), if anywhere.
    pub agendas: Option<Arc<dyn SharedAgendaStore>>,
}

impl EventWiring {
    /// Events stay in this process (other instances, if any, learn of them another way).
    pub fn in_process() -> Self {
        let local = InProcessBus::new(EVENT_BUFFER);
        Self {
            publish: Arc::new(local.clone()),
            local,
            shared: false,
            agendas: None,
        }
    }
}

/// Keeps `followers` (the clinic cache, what is known of taken slots) in step with the events
/// that reach this instance's bus from elsewhere (the PostgreSQL or Redis relay), and makes
/// them drop everything when the bus says events were missed. Ends when the bus is dropped.
fn follow_relayed_changes(events: &InProcessBus, followers: Vec<Arc<dyn EventFollower>>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        // Built outside a runtime (a tool): nothing is relayed then.
        return;
    };
    let mut heard = events.subscribe();
    runtime.spawn(async move {
        loop {
            match heard.recv().await {
                Ok(published) => {
                    for follower in &followers {
                        follower.follow(published.event());
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    for follower in &followers {
                        follower.missed_some();
                    }
                }
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
            shared,
            agendas: shared_agendas,
        } = events;
        let store = Arc::new(database.clone());
        // The read path's catalogue (doctors and time off in memory) and, on a lone instance,
        // the doctors' coming claims (for listings) follow each change published here, before
        // anyone hears of it, and each change relayed from another instance. Only a lone
        // instance (SQLite, no relay) lists slots from memory: with several, another could
        // change claims without this one hearing of it at once, so listings read the database
        // and stay linearizable across instances.
        let clinic = Arc::new(CachedClinic::new(store.clone(), clock.clone()));
        let mut followers: Vec<Arc<dyn EventFollower>> = vec![clinic.clone()];
        let lone = database.backend() == Backend::Sqlite && !shared;
        let agendas = lone.then(|| Arc::new(AgendaCache::new()));
        if let Some(agendas) = &agendas {
            followers.push(agendas.clone());
        }
        let publish: Arc<dyn EventBus> = Arc::new(FollowedBus::new(followers.clone(), publish));
        follow_relayed_changes(&events, followers);
        let contention = Arc::new(SlotContention::new());
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
        .with_contention(contention.clone())
        .observed_by(Arc::new(medibook_web::shell::metrics::BookingCounters));
        // Several instances share agendas through Redis, each listing checking the doctor's
        // current slot event number in the database first.
        let shared_agendas = shared_agendas
            .filter(|_| agendas.is_none())
            .map(|agenda_store| Arc::new(SharedAgendas::new(agenda_store, store.clone())));
        let bookings = match (&agendas, &shared_agendas) {
            (Some(agendas), _) => bookings.with_agenda_cache(agendas.clone()),
            (None, Some(shared)) => bookings.with_shared_agendas(shared.clone()),
            (None, None) => bookings,
        };
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
        )
        .pointing_to_free_slots(bookings.clone());
        let staff = medibook_core::staff::Staff::new(
            store.clone(),
            store.clone(),
            store.clone(),
            store.clone(),
            clock.clone(),
            publish.clone(),
        );
        let vault = Arc::new(
            crate::clinical::keyring(settings, &keys)
                .unwrap_or_else(|e| panic!("invalid clinical key settings: {e}")),
        );
        let audit = medibook_core::audit::AuditTrail::new(
            Arc::new(medibook_web::shell::metrics::CountingAuditLog::new(
                store.clone(),
            )),
            clock.clone(),
        );
        let records = medibook_core::patients::PatientRecords::new(
            store.clone(),
            store.clone(),
            store.clone(),
            vault,
            audit.clone(),
            clock.clone(),
        );
        let desk = medibook_core::desk::FrontDesk::new(
            store.clone(),
            clinic.clone(),
            store.clone(),
            bookings.clone(),
            audit.clone(),
            clock.clone(),
        );
        let privacy = medibook_core::privacy::Privacy::new(
            store.clone(),
            store.clone(),
            records.clone(),
            bookings.clone(),
            waitlist.clone(),
            audit.clone(),
            clock.clone(),
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
            )
            .reaching(settings.code_reach())
            .revealing_codes(settings.reveals_codes()),
            sessions: Sessions::new(store.clone(), clock.clone(), session_policy),
            identities: store.clone(),
            staff: staff.clone(),
            contact: medibook_core::contact::ContactDesk::new(
                store.clone(),
                limiter.clone(),
                medibook_core::contact::FORMS_PER_CLIENT,
                clock.clone(),
            )
            .signed_as(settings.clinic_name.clone()),
            audit,
            records,
            desk,
            privacy,
            outbox: medibook_core::outbox::OutboxMonitor::new(store.clone()),
            web: WebSettings {
                clinic: settings.clinic(),
                secure_cookies: settings.secure_cookies,
                trust_forwarded_for: settings.trust_proxy,
                feed: settings.feed(),
                // Validated with the settings; the public origin alone if it could not be read.
                origins: settings.origins().unwrap_or_default(),
                public_url: settings
                    .public_url
                    .as_deref()
                    .filter(|url| !url.trim().is_empty())
                    .map(|_| settings.public_url()),
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
            metrics: metrics_endpoint(
                settings,
                outbox_reader(&database),
                contention,
                agendas,
                shared_agendas,
            ),
            shutdown: shutting_down,
        };
        let retention = settings.appointment_retention().map(|period| {
            medibook_core::retention::Retention::new(
                store.clone(),
                keys.pseudonym_key,
                period,
                clock.clone(),
            )
        });
        Self {
            router: medibook_web::router(state),
            database,
            retention,
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
