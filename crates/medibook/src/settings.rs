//! Settings: built-in defaults, then an optional TOML file, then environment variables.
//!
//! | setting | env | default |
//! |---|---|---|
//! | listen | `MEDIBOOK_LISTEN` | `127.0.0.1:8080` |
//! | database_url | `DATABASE_URL` (or `MEDIBOOK_DATABASE_URL`) | `sqlite://<data_dir>/medibook.db` |
//! | data_dir | `MEDIBOOK_DATA_DIR` | `./data` |
//! | env | `MEDIBOOK_ENV` | `development` |
//! | secret | `MEDIBOOK_SECRET` | generated once into `<data_dir>/secret.key` |
//! | hold_minutes | `MEDIBOOK_HOLD_MINUTES` | 5 |
//! | max_active_appointments | `MEDIBOOK_MAX_ACTIVE_APPOINTMENTS` | 5 |
//! | max_holds_per_patient | `MEDIBOOK_MAX_HOLDS_PER_PATIENT` | 3 |
//! | waitlist_offer_minutes | `MEDIBOOK_WAITLIST_OFFER_MINUTES` | 10 |
//! | max_waitlist_entries | `MEDIBOOK_MAX_WAITLIST_ENTRIES` | 5 |
//! | access_token_minutes | `MEDIBOOK_ACCESS_TOKEN_MINUTES` | 15 |
//! | session_idle_minutes | `MEDIBOOK_SESSION_IDLE_MINUTES` | 30 |
//! | session_max_hours | `MEDIBOOK_SESSION_MAX_HOURS` | 12 |
//! | codes_per_identifier_per_hour | `MEDIBOOK_CODES_PER_IDENTIFIER_PER_HOUR` | 5 |
//! | codes_per_ip_per_hour | `MEDIBOOK_CODES_PER_IP_PER_HOUR` | 100 |
//! | smtp_url | `MEDIBOOK_SMTP_URL` (`smtp://host:port`, `smtps://user:pass@host`) | none |
//! | mail_from | `MEDIBOOK_MAIL_FROM` | none |
//! | sms_base_url | `MEDIBOOK_SMS_BASE_URL` | `https://api.twilio.com` |
//! | sms_account_sid, sms_auth_token, sms_from | `MEDIBOOK_SMS_ACCOUNT_SID`, `…_AUTH_TOKEN`, `…_FROM` | none |
//! | secure_cookies | `MEDIBOOK_SECURE_COOKIES` | false |
//! | trust_proxy | `MEDIBOOK_TRUST_PROXY` | false |
//! | sweep_seconds | `MEDIBOOK_SWEEP_SECONDS` | 15 |
//! | feed_ping_ms | `MEDIBOOK_FEED_PING_MS` | 20000 |
//! | feed_idle_ms | `MEDIBOOK_FEED_IDLE_MS` | 60000 |
//! | feed_queue_capacity | `MEDIBOOK_FEED_QUEUE_CAPACITY` | 256 |
//! | redis_url | `REDIS_URL` (or `MEDIBOOK_REDIS_URL`) | none: events cross instances through PostgreSQL |
//! | redis_channel | `MEDIBOOK_REDIS_CHANNEL` | `medibook:slot_events` |
//! | public_url | `MEDIBOOK_PUBLIC_URL` (where people reach the site; links in messages, feeds) | `http://<listen>` |
//! | header_timeout_seconds | `MEDIBOOK_HEADER_TIMEOUT_SECONDS` (a request's header must arrive within this long; also ends idle keep-alive connections) | 10 |
//! | body_timeout_seconds | `MEDIBOOK_BODY_TIMEOUT_SECONDS` (a request body that sends nothing this long fails) | 30 |
//! | max_connections | `MEDIBOOK_MAX_CONNECTIONS` (HTTP connections served at once; more get 503) | 20000 |
//! | allowed_origins | `MEDIBOOK_ALLOWED_ORIGINS` (comma-separated origins besides the public one whose pages may open the live feed) | none |
//! | clinic_name | `MEDIBOOK_CLINIC_NAME` | `MediBook clinic` |
//! | clinic_address | `MEDIBOOK_CLINIC_ADDRESS` (one line; on the contact page, confirmations and reminders) | none (`serve --demo`: a demo address) |
//! | clinic_phone | `MEDIBOOK_CLINIC_PHONE` (on the contact page) | none |
//! | clinic_opening_hours | `MEDIBOOK_CLINIC_OPENING_HOURS` (as written for people, on the contact page) | none |
//! | clinic_map_url | `MEDIBOOK_CLINIC_MAP_URL` (`https://`; a map of the address) | an OpenStreetMap search for the address |
//! | clinic_what_to_bring | `MEDIBOOK_CLINIC_WHAT_TO_BRING` (on confirmations) | none |
//! | late_cancellation_hours | `MEDIBOOK_LATE_CANCELLATION_HOURS` | 24 |
//! | reminder_minutes | `MEDIBOOK_REMINDER_MINUTES` (comma-separated, before the start) | `1440,120` |
//! | outbox_seconds | `MEDIBOOK_OUTBOX_SECONDS` (how often the outbox worker looks for due messages) | 1 |
//! | outbox_retention_days | `MEDIBOOK_OUTBOX_RETENTION_DAYS` (finished messages are deleted this long after they were queued; 0 keeps them) | 90 |
//! | audit_retention_days | `MEDIBOOK_AUDIT_RETENTION_DAYS` (sealed audit entries are deleted this many days after they were written; 0 keeps them) | 0 |
//! | appointment_retention_days | `MEDIBOOK_APPOINTMENT_RETENTION_DAYS` (appointments are pseudonymised this many days after they ended; 0 keeps them as they are) | 3650 |
//! | google_client_id, google_client_secret | `MEDIBOOK_GOOGLE_CLIENT_ID`, `…_SECRET` | none: Google Calendar off |
//! | google_auth_url | `MEDIBOOK_GOOGLE_AUTH_URL` | `https://accounts.google.com/o/oauth2/v2/auth` |
//! | google_token_url | `MEDIBOOK_GOOGLE_TOKEN_URL` | `https://oauth2.googleapis.com/token` |
//! | google_api_base | `MEDIBOOK_GOOGLE_API_BASE` | `https://www.googleapis.com/calendar/v3` |
//! | google_revoke_url | `MEDIBOOK_GOOGLE_REVOKE_URL` | `https://oauth2.googleapis.com/revoke` |
//! | google_sync_seconds | `MEDIBOOK_GOOGLE_SYNC_SECONDS` | 30 |

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use medibook_core::clinic::ClinicInfo;
use medibook_core::notifications::NotificationSettings;
use medibook_integrations::google::GoogleSettings;
use medibook_web::feed::FeedSettings;
use serde::{Deserialize, Serialize};

/// The settings read from `MEDIBOOK_*` variables; other variables with that prefix (such as
/// `MEDIBOOK_CONFIG` or the test suite's) are not settings.
/// Ten years: the longest usual retention of medical records (e.g. Germany's BGB § 630f).
pub const DEFAULT_APPOINTMENT_RETENTION_DAYS: u32 = 3650;

const SETTING_KEYS: &[&str] = &[
    "listen",
    "database_url",
    "data_dir",
    "env",
    "secret",
    "clinical_key",
    "clinical_previous_keys",
    "hold_minutes",
    "max_active_appointments",
    "max_holds_per_patient",
    "waitlist_offer_minutes",
    "max_waitlist_entries",
    "access_token_minutes",
    "session_idle_minutes",
    "session_max_hours",
    "codes_per_identifier_per_hour",
    "codes_per_ip_per_hour",
    "smtp_url",
    "mail_from",
    "sms_base_url",
    "sms_account_sid",
    "sms_auth_token",
    "sms_from",
    "secure_cookies",
    "trust_proxy",
    "sweep_seconds",
    "feed_ping_ms",
    "feed_idle_ms",
    "feed_queue_capacity",
    "redis_url",
    "redis_channel",
    "public_url",
    "allowed_origins",
    "header_timeout_seconds",
    "body_timeout_seconds",
    "max_connections",
    "clinic_name",
    "clinic_address",
    "clinic_phone",
    "clinic_opening_hours",
    "clinic_map_url",
    "clinic_what_to_bring",
    "late_cancellation_hours",
    "reminder_minutes",
    "outbox_seconds",
    "outbox_retention_days",
    "audit_retention_days",
    "appointment_retention_days",
    "google_client_id",
    "google_client_secret",
    "google_auth_url",
    "google_token_url",
    "google_api_base",
    "google_revoke_url",
    "google_sync_seconds",
    "log_format",
    "metrics_token",
];

/// How the server behaves towards secrets and delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// One-time codes are written to the log when no delivery channel is configured.
    Development,
    /// Codes are never logged; a real delivery channel is required.
    Production,
}

/// How log lines are written to standard error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields`, `target`), for log shippers.
    Json,
}

/// A 256-bit key for clinical text.
pub type ClinicalKey = [u8; 32];

/// Everything the binary can be configured with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// `sqlite://PATH` or `postgres://…`; defaults to a SQLite file in the data directory.
    pub database_url: Option<String>,
    /// Where the SQLite file and the generated secret live.
    pub data_dir: PathBuf,
    /// Development or production.
    pub env: Environment,
    /// Server secret (at least 32 characters) for signing tokens and hashing codes.
    pub secret: Option<String>,
    /// The key that seals clinical text (medical histories, visit notes): 64 hex digits
    /// (AES-256). When unset it is derived from the server secret. See docs/security.md for
    /// rotation.
    pub clinical_key: Option<String>,
    /// Keys clinical text was sealed under before the current one, comma-separated hex: still
    /// opened, never used to seal (kept until `medibook clinical rekey` has re-sealed all).
    pub clinical_previous_keys: Option<String>,
    /// How long a hold keeps its slot, in minutes.
    pub hold_minutes: u16,
    /// Upcoming appointments one patient may have.
    pub max_active_appointments: u16,
    /// Unexpired holds one patient may have at once.
    pub max_holds_per_patient: u16,
    /// How long a slot offered to a waiting patient is held for them, in minutes.
    pub waitlist_offer_minutes: u16,
    /// Waitlist entries one patient may have at once.
    pub max_waitlist_entries: u16,
    /// Lifetime of an access token, in minutes.
    pub access_token_minutes: u32,
    /// Inactivity after which a session ends, in minutes.
    pub session_idle_minutes: u32,
    /// Time after sign-in at which a session ends regardless, in hours.
    pub session_max_hours: u32,
    /// One-time codes one email or phone may request per hour.
    pub codes_per_identifier_per_hour: u32,
    /// One-time codes one client address may request per hour.
    pub codes_per_ip_per_hour: u32,
    /// SMTP relay for email, e.g. `smtps://user:pass@mail.example.org`.
    pub smtp_url: Option<String>,
    /// From address of emails.
    pub mail_from: Option<String>,
    /// Base URL of the Twilio-compatible SMS gateway.
    pub sms_base_url: Option<String>,
    /// SMS gateway account.
    pub sms_account_sid: Option<String>,
    /// SMS gateway token.
    pub sms_auth_token: Option<String>,
    /// SMS sender number or name.
    pub sms_from: Option<String>,
    /// Mark cookies Secure (serve over HTTPS).
    pub secure_cookies: bool,
    /// Trust `X-Forwarded-For` from a reverse proxy for client addresses.
    pub trust_proxy: bool,
    /// Interval of the expired-hold sweeper, in seconds.
    pub sweep_seconds: u64,
    /// How often the live feed pings each connection, in milliseconds.
    pub feed_ping_ms: u64,
    /// Silence after which the live feed closes a connection, in milliseconds; more than
    /// `feed_ping_ms`.
    pub feed_idle_ms: u64,
    /// Messages the live feed queues for one client before telling it to resync.
    pub feed_queue_capacity: u16,
    /// Redis for events between instances (`redis://…`, `rediss://…`), instead of PostgreSQL
    /// `LISTEN/NOTIFY`.
    pub redis_url: Option<String>,
    /// The Redis pub/sub channel; instances that share it see each other's changes.
    pub redis_channel: String,
    /// The address people reach the site at (links in messages, calendar feed URLs), without a
    /// trailing slash; `http://<listen>` when unset.
    pub public_url: Option<String>,
    /// Origins besides the public one whose pages may open the live feed, comma-separated
    /// (`https://app.clinic.example,https://kiosk.clinic.example:8443`).
    pub allowed_origins: Option<String>,
    /// Seconds a client has to send a request's whole header (counted from when the connection
    /// is ready for it, so an idle keep-alive connection is closed after as long).
    pub header_timeout_seconds: u16,
    /// Seconds a request body may send nothing before the request fails.
    pub body_timeout_seconds: u16,
    /// HTTP connections served at once; more are answered 503 at once and closed.
    pub max_connections: u32,
    /// The clinic's name, in messages and calendar entries.
    pub clinic_name: String,
    /// The clinic's postal address, one line.
    pub clinic_address: Option<String>,
    /// The clinic's phone number, as written for people.
    pub clinic_phone: Option<String>,
    /// When the clinic is open, as written for people.
    pub clinic_opening_hours: Option<String>,
    /// A map of the clinic (`https://`); by default an OpenStreetMap search for the address.
    pub clinic_map_url: Option<String>,
    /// What patients bring to a visit.
    pub clinic_what_to_bring: Option<String>,
    /// A cancellation this many hours or fewer before the start is late.
    pub late_cancellation_hours: u16,
    /// Reminders, in minutes before the start, comma-separated (`1440,120`); empty for none.
    pub reminder_minutes: String,
    /// How often the outbox worker looks for due messages, in seconds.
    pub outbox_seconds: u64,
    /// Sent, failed and withdrawn messages are deleted this many days after they were queued;
    /// 0 keeps them forever.
    pub outbox_retention_days: u32,
    /// Days sealed audit entries are kept (then deleted, their seals kept); 0 keeps them.
    pub audit_retention_days: u32,
    /// Days after their end that appointments are pseudonymised (see
    /// `medibook_core::retention`); 0 keeps them as they are.
    pub appointment_retention_days: u32,
    /// Google OAuth client id; Google Calendar sync is off without it.
    pub google_client_id: Option<String>,
    /// Google OAuth client secret.
    pub google_client_secret: Option<String>,
    /// Google's consent page.
    pub google_auth_url: String,
    /// Google's token endpoint.
    pub google_token_url: String,
    /// Google Calendar API v3 base.
    pub google_api_base: String,
    /// Google's token revocation endpoint (called on disconnect); empty for none.
    pub google_revoke_url: String,
    /// Interval of the Google Calendar sync, in seconds.
    pub google_sync_seconds: u64,
    /// `text` or `json` log lines.
    pub log_format: LogFormat,
    /// Bearer token a Prometheus scraper presents to `/metrics`; metrics are off without it.
    pub metrics_token: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: None,
            data_dir: PathBuf::from("data"),
            env: Environment::Development,
            secret: None,
            clinical_key: None,
            clinical_previous_keys: None,
            hold_minutes: 5,
            max_active_appointments: 5,
            max_holds_per_patient: 3,
            waitlist_offer_minutes: 10,
            max_waitlist_entries: 5,
            access_token_minutes: 15,
            session_idle_minutes: 30,
            session_max_hours: 12,
            codes_per_identifier_per_hour: 5,
            codes_per_ip_per_hour: 100,
            smtp_url: None,
            mail_from: None,
            sms_base_url: None,
            sms_account_sid: None,
            sms_auth_token: None,
            sms_from: None,
            secure_cookies: false,
            trust_proxy: false,
            sweep_seconds: 15,
            feed_ping_ms: 20_000,
            feed_idle_ms: 60_000,
            feed_queue_capacity: 256,
            redis_url: None,
            redis_channel: medibook_integrations::redis_bus::DEFAULT_CHANNEL.to_owned(),
            public_url: None,
            allowed_origins: None,
            header_timeout_seconds: 10,
            body_timeout_seconds: 30,
            max_connections: 20_000,
            clinic_name: "MediBook clinic".to_owned(),
            clinic_address: None,
            clinic_phone: None,
            clinic_opening_hours: None,
            clinic_map_url: None,
            clinic_what_to_bring: None,
            late_cancellation_hours: 24,
            reminder_minutes: "1440,120".to_owned(),
            outbox_seconds: 1,
            outbox_retention_days: 90,
            audit_retention_days: 0,
            appointment_retention_days: DEFAULT_APPOINTMENT_RETENTION_DAYS,
            google_client_id: None,
            google_client_secret: None,
            google_auth_url: GoogleSettings::AUTH_URL.to_owned(),
            google_token_url: GoogleSettings::TOKEN_URL.to_owned(),
            google_api_base: GoogleSettings::API_BASE.to_owned(),
            google_revoke_url: GoogleSettings::REVOKE_URL.to_owned(),
            google_sync_seconds: 30,
            log_format: LogFormat::Text,
            metrics_token: None,
        }
    }
}

impl Settings {
    /// Reads defaults < `file` (if given, or `medibook.toml` if present) < environment.
    pub fn load(file: Option<&Path>) -> Result<Self, String> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match file {
            Some(path) if !path.exists() => {
                return Err(format!("config file {} does not exist", path.display()));
            }
            Some(path) => figment = figment.merge(Toml::file(path)),
            None => figment = figment.merge(Toml::file("medibook.toml")),
        }
        figment = figment
            .merge(Env::prefixed("MEDIBOOK_").only(SETTING_KEYS))
            .merge(Env::raw().only(&["DATABASE_URL", "REDIS_URL"]));
        let settings: Settings = figment.extract().map_err(|e| e.to_string())?;
        settings.validate()
    }

    fn validate(self) -> Result<Self, String> {
        if !(1..=60).contains(&self.hold_minutes) {
            return Err("hold_minutes must be between 1 and 60".into());
        }
        if !(1..=24 * 60).contains(&self.waitlist_offer_minutes) {
            return Err("waitlist_offer_minutes must be between 1 and 1440".into());
        }
        if self.max_active_appointments == 0
            || self.max_holds_per_patient == 0
            || self.max_waitlist_entries == 0
        {
            return Err("patient limits must be at least 1".into());
        }
        if !(1..=60 * 24 * 30).contains(&self.access_token_minutes) {
            return Err("access_token_minutes must be between 1 and 43200".into());
        }
        if self.session_idle_minutes == 0 || self.session_max_hours == 0 {
            return Err("session timeouts must be at least 1".into());
        }
        if self.codes_per_identifier_per_hour == 0 || self.codes_per_ip_per_hour == 0 {
            return Err("code request limits must be at least 1".into());
        }
        if self.sweep_seconds == 0 {
            return Err("sweep_seconds must be at least 1".into());
        }
        if self.outbox_seconds == 0 {
            return Err("outbox_seconds must be at least 1".into());
        }
        if self.late_cancellation_hours > 24 * 30 {
            return Err("late_cancellation_hours must be at most 720".into());
        }
        self.reminders()?;
        if let Some(url) = &self.public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err("public_url must start with https:// or http://".into());
        }
        self.origins()?;
        if !(1..=300).contains(&self.header_timeout_seconds) {
            return Err("header_timeout_seconds must be between 1 and 300".into());
        }
        if !(1..=3600).contains(&self.body_timeout_seconds) {
            return Err("body_timeout_seconds must be between 1 and 3600".into());
        }
        if self.max_connections == 0 {
            return Err("max_connections must be at least 1".into());
        }
        if !(100..=3_600_000).contains(&self.feed_ping_ms) {
            return Err("feed_ping_ms must be between 100 and 3600000".into());
        }
        if self.feed_idle_ms <= self.feed_ping_ms {
            // Pongs answer pings: a shorter silence allowance would close healthy clients.
            return Err("feed_idle_ms must be greater than feed_ping_ms".into());
        }
        if self.feed_queue_capacity == 0 {
            return Err("feed_queue_capacity must be at least 1".into());
        }
        if self.redis_channel.is_empty() {
            return Err("redis_channel cannot be empty".into());
        }
        if self.google_sync_seconds == 0 {
            return Err("google_sync_seconds must be at least 1".into());
        }
        if let Some(google) = self.google()? {
            medibook_integrations::google::GoogleClient::new(&google)?;
        }
        self.clinical_keys()?;
        if let Some(url) = &self.clinic_map_url
            && !url.starts_with("https://")
        {
            return Err("clinic_map_url must start with https://".into());
        }
        if let Some(secret) = &self.secret
            && secret.len() < 32
        {
            return Err("secret must be at least 32 characters".into());
        }
        Ok(self)
    }

    /// The configured clinical key (if any) and previous keys, checked: each 64 hex digits.
    pub fn clinical_keys(&self) -> Result<(Option<ClinicalKey>, Vec<ClinicalKey>), String> {
        let parse = |name: &str, raw: &str| -> Result<ClinicalKey, String> {
            let bytes = hex::decode(raw.trim())
                .map_err(|_| format!("{name} must be 64 hex digits (a 32-byte key)"))?;
            bytes
                .try_into()
                .map_err(|_| format!("{name} must be 64 hex digits (a 32-byte key)"))
        };
        let current = self
            .clinical_key
            .as_deref()
            .map(|raw| parse("clinical_key", raw))
            .transpose()?;
        let previous = self
            .clinical_previous_keys
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter(|raw| !raw.trim().is_empty())
            .map(|raw| parse("clinical_previous_keys", raw))
            .collect::<Result<_, _>>()?;
        Ok((current, previous))
    }

    /// The email and SMS channels configured, checked (an incomplete configuration is an error).
    pub fn channels(&self) -> Result<medibook_integrations::Channels, String> {
        let email = match (&self.smtp_url, &self.mail_from) {
            (Some(url), Some(from)) => Some(medibook_integrations::SmtpSettings {
                url: url.clone(),
                from: from.clone(),
            }),
            (None, None) => None,
            _ => return Err("email needs both smtp_url and mail_from".into()),
        };
        let sms = match (&self.sms_account_sid, &self.sms_auth_token, &self.sms_from) {
            (Some(sid), Some(token), Some(from)) => {
                let mut sms = medibook_integrations::SmsSettings::twilio(sid, token, from);
                if let Some(base) = &self.sms_base_url {
                    sms.base_url = base.clone();
                }
                Some(sms)
            }
            (None, None, None) => None,
            _ => {
                return Err(
                    "SMS needs sms_account_sid, sms_auth_token and sms_from together".into(),
                );
            }
        };
        medibook_integrations::Channels::from_settings(email.as_ref(), sms.as_ref())
    }

    /// Whether the sign-in page shows a requested code in a development banner: development
    /// mode with no email or SMS channel (production never does).
    pub fn reveals_codes(&self) -> bool {
        self.env == Environment::Development
            && self.smtp_url.is_none()
            && self.sms_account_sid.is_none()
    }

    /// Where one-time codes can be sent: by the configured channels, or anywhere when none is
    /// configured (development: the log shows every code).
    pub fn code_reach(&self) -> medibook_core::signin::Reach {
        let email = self.smtp_url.is_some();
        let phone = self.sms_account_sid.is_some();
        if email || phone {
            medibook_core::signin::Reach { email, phone }
        } else {
            medibook_core::signin::Reach::default()
        }
    }

    /// The Redis bus settings, when Redis is configured.
    pub fn redis(&self) -> Option<medibook_integrations::redis_bus::RedisSettings> {
        self.redis_url
            .as_ref()
            .map(|url| medibook_integrations::redis_bus::RedisSettings {
                url: url.clone(),
                channel: self.redis_channel.clone(),
            })
    }

    /// The address people reach the server at, without a trailing slash.
    pub fn public_url(&self) -> String {
        self.public_url
            .as_deref()
            .map_or_else(|| format!("http://{}", self.listen), str::to_owned)
            .trim_end_matches('/')
            .to_owned()
    }

    /// How the HTTP server treats connections.
    pub fn serve_limits(&self) -> medibook_web::serve::ServeLimits {
        medibook_web::serve::ServeLimits {
            header_read_timeout: Duration::from_secs(u64::from(self.header_timeout_seconds)),
            body_timeout: Duration::from_secs(u64::from(self.body_timeout_seconds)),
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
        }
    }

    /// The origins whose pages may open the live feed: the public one and those listed.
    pub fn origins(&self) -> Result<medibook_web::AllowedOrigins, String> {
        let listed = self.allowed_origins.as_deref().unwrap_or_default();
        medibook_web::AllowedOrigins::new(
            &self.public_url(),
            listed
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty()),
        )
    }

    /// Google Calendar's settings when a client is configured (`None`: the feature is off);
    /// an incomplete client is an error.
    pub fn google(&self) -> Result<Option<GoogleSettings>, String> {
        let present =
            |value: &Option<String>| value.as_deref().is_some_and(|v| !v.trim().is_empty());
        match (
            present(&self.google_client_id),
            present(&self.google_client_secret),
        ) {
            (false, false) => Ok(None),
            (true, true) => Ok(Some(GoogleSettings {
                client_id: self.google_client_id.clone().unwrap_or_default(),
                client_secret: self.google_client_secret.clone().unwrap_or_default(),
                auth_url: self.google_auth_url.clone(),
                token_url: self.google_token_url.clone(),
                api_base: self.google_api_base.clone(),
                revoke_url: Some(self.google_revoke_url.trim().to_owned())
                    .filter(|url| !url.is_empty()),
            })),
            _ => Err(
                "Google Calendar needs google_client_id and google_client_secret together".into(),
            ),
        }
    }

    /// The live feed's heartbeat and queue.
    pub fn feed(&self) -> FeedSettings {
        FeedSettings {
            ping_interval: Duration::from_millis(self.feed_ping_ms),
            idle_timeout: Duration::from_millis(self.feed_idle_ms),
            queue_capacity: usize::from(self.feed_queue_capacity),
            ..FeedSettings::default()
        }
    }

    /// How long audit entries are kept; `None` keeps them forever.
    pub fn audit_retention(&self) -> Option<jiff::SignedDuration> {
        (self.audit_retention_days > 0)
            .then(|| jiff::SignedDuration::from_hours(i64::from(self.audit_retention_days) * 24))
    }

    /// How long appointments are kept as they are after they end; `None` keeps them forever.
    pub fn appointment_retention(&self) -> Option<jiff::SignedDuration> {
        (self.appointment_retention_days > 0).then(|| {
            jiff::SignedDuration::from_hours(i64::from(self.appointment_retention_days) * 24)
        })
    }

    /// How long finished outbox messages are kept; `None` keeps them forever.
    pub fn outbox_retention(&self) -> Option<jiff::SignedDuration> {
        (self.outbox_retention_days > 0)
            .then(|| jiff::SignedDuration::from_hours(i64::from(self.outbox_retention_days) * 24))
    }

    /// The reminder offsets before an appointment's start, longest first.
    pub fn reminders(&self) -> Result<Vec<jiff::SignedDuration>, String> {
        let mut offsets = Vec::new();
        for part in self.reminder_minutes.split(',').map(str::trim) {
            if part.is_empty() {
                continue;
            }
            let minutes: u32 = part.parse().map_err(|_| {
                format!("reminder_minutes: {part:?} is not a whole number of minutes")
            })?;
            if minutes == 0 || minutes > 60 * 24 * 30 {
                return Err(format!(
                    "reminder_minutes: {minutes} is outside 1 minute to 30 days"
                ));
            }
            offsets.push(jiff::SignedDuration::from_mins(i64::from(minutes)));
        }
        offsets.sort_by(|a, b| b.cmp(a));
        offsets.dedup();
        Ok(offsets)
    }

    /// What the pages and messages say about the clinic (blank settings left out).
    pub fn clinic(&self) -> ClinicInfo {
        let set = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let address = set(&self.clinic_address);
        let map_url = set(&self.clinic_map_url).or_else(|| {
            address.as_deref().map(|address| {
                let query = medibook_web::pages::signin::encode_component(address);
                format!("https://www.openstreetmap.org/search?query={query}")
            })
        });
        ClinicInfo {
            name: self.clinic_name.clone(),
            address,
            phone: set(&self.clinic_phone),
            opening_hours: set(&self.clinic_opening_hours),
            map_url,
            what_to_bring: set(&self.clinic_what_to_bring),
        }
    }

    /// Fills the clinic's blank contact details with the demo clinic's (`serve --demo`).
    pub fn with_demo_clinic(mut self) -> Self {
        let fill = |value: &mut Option<String>, demo: &str| {
            if value.as_deref().is_none_or(|v| v.trim().is_empty()) {
                *value = Some(demo.to_owned());
            }
        };
        fill(&mut self.clinic_address, "Lindenstraße 12, 10969 Berlin");
        fill(&mut self.clinic_phone, "+49 30 1234 5670");
        fill(
            &mut self.clinic_opening_hours,
            "Monday to Friday 08:00–18:00, Saturday 09:00–13:00",
        );
        fill(
            &mut self.clinic_what_to_bring,
            "your health insurance card, a photo ID, and a list of the medicines you take",
        );
        self
    }

    /// How appointment messages are written and when reminders go out.
    pub fn notifications(&self) -> NotificationSettings {
        let clinic = self.clinic();
        NotificationSettings {
            public_url: self.public_url(),
            clinic_address: clinic.address,
            what_to_bring: clinic.what_to_bring,
            clinic_name: self.clinic_name.clone(),
            // Checked when the settings were loaded.
            reminders: self.reminders().unwrap_or_default(),
            late_cancellation: jiff::SignedDuration::from_hours(i64::from(
                self.late_cancellation_hours,
            )),
        }
    }

    /// The database URL in force.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("medibook.db").display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(
        clippy::result_large_err,
        reason = "figment::Jail fixes the closure's error type"
    )]
    fn log_format_is_text_by_default_and_json_on_request() {
        figment::Jail::expect_with(|jail| {
            assert_eq!(Settings::load(None)?.log_format, LogFormat::Text);
            jail.set_env("MEDIBOOK_LOG_FORMAT", "json");
            assert_eq!(Settings::load(None)?.log_format, LogFormat::Json);
            jail.set_env("MEDIBOOK_LOG_FORMAT", "xml");
            let refusal = Settings::load(None).unwrap_err();
            assert!(refusal.to_lowercase().contains("log_format"), "{refusal}");
            Ok(())
        });
    }

    #[test]
    fn defaults_use_sqlite_in_the_data_directory() {
        let settings = Settings::default();
        assert_eq!(settings.database_url(), "sqlite://data/medibook.db");
        assert_eq!(settings.listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    #[allow(
        clippy::result_large_err,
        reason = "figment::Jail fixes the closure's error type"
    )]
    fn environment_overrides_file_and_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "medibook.toml",
                "hold_minutes = 7\nlisten = \"127.0.0.1:9000\"",
            )?;
            jail.set_env("MEDIBOOK_LISTEN", "127.0.0.1:9100");
            jail.set_env("DATABASE_URL", "postgres://db/medibook");
            jail.set_env("MEDIBOOK_TEST_POSTGRES_URL", "postgres://elsewhere/test");
            let settings = Settings::load(None).map_err(figment::Error::from)?;
            assert_eq!(settings.hold_minutes, 7);
            assert_eq!(settings.listen.to_string(), "127.0.0.1:9100");
            assert_eq!(settings.database_url(), "postgres://db/medibook");
            Ok(())
        });
    }

    #[test]
    #[allow(
        clippy::result_large_err,
        reason = "figment::Jail fixes the closure's error type"
    )]
    fn redis_is_configured_by_redis_url_or_the_prefixed_variable() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("MEDIBOOK_REDIS_URL", "redis://prefixed:6379");
            jail.set_env("MEDIBOOK_REDIS_CHANNEL", "clinic-a:slot_events");
            let settings = Settings::load(None).map_err(figment::Error::from)?;
            let redis = settings.redis().expect("redis configured");
            assert_eq!(redis.url, "redis://prefixed:6379");
            assert_eq!(redis.channel, "clinic-a:slot_events");
            jail.set_env("REDIS_URL", "redis://plain:6379");
            let settings = Settings::load(None).map_err(figment::Error::from)?;
            assert_eq!(settings.redis_url.as_deref(), Some("redis://plain:6379"));
            Ok(())
        });
    }

    #[test]
    fn the_feed_defaults_are_the_feeds_own() {
        assert_eq!(Settings::default().feed(), FeedSettings::default());
        assert!(Settings::default().validate().is_ok());
    }

    #[test]
    fn a_feed_that_would_close_healthy_clients_is_refused() {
        let idle_within_ping = Settings {
            feed_ping_ms: 30_000,
            feed_idle_ms: 30_000,
            ..Settings::default()
        };
        assert!(idle_within_ping.validate().is_err());
        let no_queue = Settings {
            feed_queue_capacity: 0,
            ..Settings::default()
        };
        assert!(no_queue.validate().is_err());
        let tight = Settings {
            feed_ping_ms: 100,
            feed_idle_ms: 1_000,
            feed_queue_capacity: 1,
            ..Settings::default()
        };
        assert_eq!(
            tight.validate().map(|settings| settings.feed()),
            Ok(FeedSettings {
                ping_interval: Duration::from_millis(100),
                idle_timeout: Duration::from_secs(1),
                queue_capacity: 1,
                ..FeedSettings::default()
            })
        );
    }

    #[test]
    fn google_calendar_is_off_without_a_client_and_refused_half_configured() {
        let settings = Settings::default();
        assert_eq!(settings.google(), Ok(None));
        assert_eq!(settings.public_url(), "http://127.0.0.1:8080");
        let half = Settings {
            google_client_id: Some("id".into()),
            ..Settings::default()
        };
        assert!(half.validate().is_err());
        let full = Settings {
            google_client_id: Some("id".into()),
            google_client_secret: Some("secret".into()),
            public_url: Some("https://clinic.example/".into()),
            ..Settings::default()
        };
        let google = full.google().unwrap().expect("configured");
        assert_eq!(google.token_url, GoogleSettings::TOKEN_URL);
        assert_eq!(full.public_url(), "https://clinic.example");
    }

    #[test]
    fn short_secrets_are_refused() {
        let settings = Settings {
            secret: Some("short".into()),
            ..Settings::default()
        };
        assert!(settings.validate().is_err());
    }
}
