//! What every door shares at run time: the application state handed to each handler (the core
//! services, the token keys, the in-process event bus), the web settings, and the readiness
//! probe.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use medibook_core::audit::AuditTrail;
use medibook_core::booking_service::BookingService;
use medibook_core::calendar_feeds::CalendarFeeds;
use medibook_core::calendar_sync::GoogleCalendarSync;
use medibook_core::catalogue::Catalogue;
use medibook_core::contact::ContactDesk;
use medibook_core::desk::FrontDesk;
use medibook_core::events::SlotEventLog;
use medibook_core::outbox::OutboxMonitor;
use medibook_core::patients::PatientRecords;
use medibook_core::ports::IdentityRepository;
use medibook_core::privacy::Privacy;
use medibook_core::sessions::Sessions;
use medibook_core::signin::SignIn;
use medibook_core::staff::Staff;
use medibook_core::waitlist_service::WaitlistService;

use super::auth::TokenKeys;
use super::events::InProcessBus;
use super::metrics::MetricsEndpoint;
use super::origins::AllowedOrigins;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Tells whether the process can serve requests (its database answers).
#[async_trait]
pub trait Readiness: Send + Sync + 'static {
    /// `Err` with a reason when not ready.
    async fn check(&self) -> Result<(), String>;
}

/// How the HTTP layer treats cookies and proxies, and paces the live feed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebSettings {
    /// Mark cookies `Secure` (set when served over HTTPS, directly or behind a proxy).
    pub secure_cookies: bool,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted reverse proxy).
    pub trust_forwarded_for: bool,
    /// Heartbeat and back-pressure of the live slot feed.
    pub feed: FeedSettings,
    /// The browser origins whose pages may open the live feed with our cookies.
    pub origins: AllowedOrigins,
    /// The clinic's address, phone, opening hours, map and what to bring, for the pages.
    pub clinic: medibook_core::clinic::ClinicInfo,
    /// Where people reach the site (`MEDIBOOK_PUBLIC_URL`, without a trailing `/`), when it is
    /// configured: absolute links in answers (FHIR's) use it rather than the request's `Host`.
    pub public_url: Option<String>,
}

/// What handlers need: the core services and the token keys.
#[derive(Clone)]
pub struct AppState {
    /// Browsing and search.
    pub catalogue: Catalogue,
    /// Slots, holds, appointments.
    pub bookings: BookingService,
    /// The waitlist.
    pub waitlist: WaitlistService,
    /// One-time codes.
    pub signin: SignIn,
    /// Sessions behind the access tokens.
    pub sessions: Sessions,
    /// User accounts.
    pub identities: Arc<dyn IdentityRepository>,
    /// Cookie and proxy behaviour.
    pub web: WebSettings,
    /// Access tokens.
    pub tokens: TokenKeys,
    /// Readiness probe.
    pub readiness: Arc<dyn Readiness>,
    /// Doctor and admin use cases.
    pub staff: Staff,
    /// The contact-form inbox.
    pub contact: ContactDesk,
    /// The append-only audit trail.
    pub audit: AuditTrail,
    /// Patient records and visit notes.
    pub records: PatientRecords,
    /// The front desk: booking for patients, the clinic's day.
    pub desk: FrontDesk,
    /// A person's copy of their data, and erasure.
    pub privacy: Privacy,
    /// The outbox's status, for admins.
    pub outbox: OutboxMonitor,
    /// Committed events, for the live feed.
    pub events: InProcessBus,
    /// The recorded slot changes, for the live feed's resume and gap fills.
    pub event_log: Arc<dyn SlotEventLog>,
    /// Google Calendar sync; `None` when no Google client is configured (the feature is off).
    pub google: Option<GoogleCalendar>,
    /// Calendar files and private calendar feeds.
    pub calendar: CalendarFeeds,
    /// `/metrics`; `None` when metrics are off.
    pub metrics: Option<MetricsEndpoint>,
    /// Turns `true` when the server shuts down: live-feed connections then close with 1001
    /// (going away) so clients reconnect to another instance.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// How often the server pings an open connection, unless configured otherwise.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(20);
/// How long a connection may stay silent, unless configured otherwise.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Messages waiting to be written to one client, unless configured otherwise.
pub const DEFAULT_QUEUE_CAPACITY: usize = 256;
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
    /// How often a signed-in connection checks that its session still stands; one signed out
    /// or expired meanwhile is signed out of the feed at the next check.
    pub session_check_interval: Duration,
}

impl Default for FeedSettings {
    fn default() -> Self {
        Self {
            ping_interval: DEFAULT_PING_INTERVAL,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            session_check_interval: DEFAULT_SESSION_CHECK_INTERVAL,
        }
    }
}

/// Default of [`FeedSettings::session_check_interval`].
pub const DEFAULT_SESSION_CHECK_INTERVAL: Duration = Duration::from_secs(3);

/// Google Calendar as the web layer reaches it.
#[derive(Clone)]
pub struct GoogleCalendar {
    /// Connect, disconnect and status.
    pub sync: GoogleCalendarSync,
    /// The origin of Google's consent page, which the profile's forms may lead to.
    pub consent_origin: String,
}
