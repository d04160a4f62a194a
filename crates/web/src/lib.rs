//! MediBook's HTTP interface: the JSON API v1 (with its OpenAPI document), problem responses,
//! bearer-token and session-cookie authentication, the live feed, and the web app's HTML pages
//! with their embedded static assets. Handlers are thin: parse, call one core service, map the
//! result.

pub mod access;
#[cfg(test)]
mod access_coverage;
pub mod api;
pub mod auth;
pub mod client;
pub mod csrf;
pub mod error;
pub mod events;
pub mod extract;
pub mod feed;
pub mod headers;
pub mod metrics;
pub mod pages;

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use medibook_core::booking_service::BookingService;
use medibook_core::catalogue::Catalogue;
use medibook_core::events::SlotEventLog;
use medibook_core::ports::IdentityRepository;
use medibook_core::sessions::Sessions;
use medibook_core::signin::SignIn;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub use auth::TokenKeys;
use error::ApiError;
pub use pages::google::GoogleCalendar;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Tells whether the process can serve requests (its database answers).
#[async_trait]
pub trait Readiness: Send + Sync + 'static {
    /// `Err` with a reason when not ready.
    async fn check(&self) -> Result<(), String>;
}

/// How the HTTP layer treats cookies and proxies, and paces the live feed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WebSettings {
    /// Mark cookies `Secure` (set when served over HTTPS, directly or behind a proxy).
    pub secure_cookies: bool,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted reverse proxy).
    pub trust_forwarded_for: bool,
    /// Heartbeat and back-pressure of the live slot feed.
    pub feed: feed::FeedSettings,
}

/// What handlers need: the core services and the token keys.
#[derive(Clone)]
pub struct AppState {
    /// Browsing and search.
    pub catalogue: Catalogue,
    /// Slots, holds, appointments.
    pub bookings: BookingService,
    /// The waitlist.
    pub waitlist: medibook_core::waitlist_service::WaitlistService,
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
    pub staff: medibook_core::staff::Staff,
    /// The contact-form inbox.
    pub contact: medibook_core::contact::ContactDesk,
    /// The append-only audit trail.
    pub audit: medibook_core::audit::AuditTrail,
    /// The outbox's status, for admins.
    pub outbox: medibook_core::outbox::OutboxMonitor,
    /// Committed events, for the live feed.
    pub events: crate::events::InProcessBus,
    /// The recorded slot changes, for the live feed's resume and gap fills.
    pub event_log: Arc<dyn SlotEventLog>,
    /// Google Calendar sync; `None` when no Google client is configured (the feature is off).
    pub google: Option<GoogleCalendar>,
    /// Calendar files and private calendar feeds.
    pub calendar: medibook_core::calendar_feeds::CalendarFeeds,
    /// `/metrics`; `None` when metrics are off.
    pub metrics: Option<metrics::MetricsEndpoint>,
    /// Turns `true` when the server shuts down: live-feed connections then close with 1001
    /// (going away) so clients reconnect to another instance.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// The whole HTTP application. Does no I/O, so tests can drive it directly.
pub fn router(state: AppState) -> Router {
    let (api, mut openapi) = api::routes().split_for_parts();
    api::contract::complete(&mut openapi);
    let openapi = Arc::new(openapi);
    Router::new()
        .merge(api)
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let openapi = Arc::clone(&openapi);
                async move { axum::Json(openapi.as_ref().clone()) }
            }),
        )
        // A panic in a page handler shows the HTML error page; the outer layer answers the
        // API's with a problem document.
        .merge(pages::routes().layer(CatchPanicLayer::custom(pages::error::panicked)))
        .route("/api/v1/ws", get(feed::connect))
        .route("/metrics", get(metrics::scrape))
        // Every route above needs a row in access::ROUTE_ACCESS; unlisted ones are admin-only.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::enforce,
        ))
        .layer(axum::middleware::from_fn(metrics::record_request))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the server could not complete the request",
            ))
        }))
        .layer(axum::middleware::from_fn_with_state(
            cross_site_refusal as csrf::Refusal,
            csrf::reject_cross_site,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            headers::security_headers,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// A cross-site form or call: the page that explains for a page, a problem for the API.
fn cross_site_refusal(path: &str) -> Response {
    if pages::is_page_path(path) {
        return pages::forms::cross_site().into_response();
    }
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "cross-site request refused",
    )
    .into_response()
}

/// Unknown addresses: the HTML error page for pages, a problem document for the API.
async fn not_found(uri: Uri) -> Response {
    if pages::is_page_path(uri.path()) {
        return pages::PageError::not_found().into_response();
    }
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource").into_response()
}

/// Known addresses asked with the wrong method, answered like [`not_found`].
async fn method_not_allowed(uri: Uri) -> Response {
    if pages::is_page_path(uri.path()) {
        return pages::PageError::method_not_allowed().into_response();
    }
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this method is not allowed on this resource",
    )
    .into_response()
}

/// Serves `router` on `listener` until `shutdown` completes, then drains open requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
