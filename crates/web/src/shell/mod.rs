//! The shell every door of the HTTP interface shares: who is calling (`auth`, `access`,
//! `client`), what they sent (`extract`, `inputs`), how errors become HTTP (`error`, the one
//! status table), the protections on every request (`csrf`, `headers`, `origins`, `trace`'s redacted
//! request spans), what is measured
//! (`metrics`), the in-process event bus (`events`), the application state (`state`), the
//! downloads every door answers alike (`downloads`) and MediBook's records as FHIR resources
//! (`fhir`: the FHIR door serves them, the JSON API's data export bundles them).
//!
//! The doors — the JSON API (`crate::api`), the HTML pages (`crate::pages`), the live feed
//! (`crate::feed`) and FHIR (`crate::fhir`) — depend on the shell and never on each other; the
//! shell depends on no door (checked by `scripts/check-module-cycles.py`).

pub mod access;
pub mod auth;
pub mod client;
pub mod csrf;
pub mod downloads;
pub mod error;
pub mod events;
pub mod extract;
pub mod fhir;
pub mod headers;
pub mod inputs;
pub mod metrics;
pub mod origins;
pub mod state;
pub mod trace;

pub use origins::AllowedOrigins;

/// Most doctors one live-feed connection may watch (the feed enforces it; the pages that
/// subscribe to many doctors, like the front desk's day, stay within it).
pub const MAX_FEED_DOCTORS: usize = 200;
pub use state::{AppState, FeedSettings, GoogleCalendar, MAX_BODY_BYTES, Readiness, WebSettings};
