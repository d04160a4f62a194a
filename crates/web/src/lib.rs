//! MediBook's HTTP interface: four doors around one shell. The doors are the JSON API v1 with
//! its OpenAPI document ([`api`]), the web app's HTML pages with their embedded static assets
//! ([`pages`]), the live slot feed over WebSocket ([`feed`]) and the FHIR R4 facade
//! ([`fhir`]); the [`shell`] they share holds
//! authentication and the access table, extractors, the one error → HTTP status table, CSRF
//! and security headers, metrics, the event bus and the application state. Doors depend on the
//! shell, never on each other. Handlers are thin: parse, call one core service, map the result.

#[cfg(test)]
mod access_coverage;
pub mod api;
pub mod feed;
pub mod fhir;
pub mod pages;
pub mod serve;
pub mod shell;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub use shell::auth::TokenKeys;
use shell::error::ApiError;
pub use shell::{
    AllowedOrigins, AppState, FeedSettings, GoogleCalendar, MAX_BODY_BYTES, Readiness, WebSettings,
};
use shell::{access, csrf, headers, metrics};

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
        .merge(fhir::routes())
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
        // Problems under /fhir/ leave as OperationOutcomes, whichever layer refused.
        .layer(axum::middleware::from_fn(fhir::outcomes))
        .layer(TraceLayer::new_for_http().make_span_with(shell::trace::request_span))
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

/// Serves `router` on `listener` with the default [`serve::ServeLimits`] until `shutdown`
/// completes, then drains open requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve::serve_with(listener, router, serve::ServeLimits::default(), shutdown).await
}
