//! Security headers on every response: a Content-Security-Policy with no inline script or
//! style, no MIME sniffing, no referrer to other sites, no framing, HSTS when served over HTTPS,
//! and no caching of anything answered to an authenticated request (patient data stays out of
//! shared caches), except the static assets, which are the same for everyone.
//!
//! The policy's `'self'` covers our pages' ES modules (`script-src`) and, in CSP Level 3
//! browsers, the WebSocket feed on the same host (`connect-src`: `ws:`/`wss:` of the page's own
//! host match `'self'`).
//!
//! The referrer policy is `same-origin` rather than `no-referrer`: under `no-referrer` browsers
//! send `Origin: null` with a page's own form posts and `fetch`es, which [`crate::shell::csrf`] must
//! refuse; `same-origin` still sends nothing to other sites. A handler may set a stricter policy
//! of its own (the calendar feeds send `no-referrer`), which is kept.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::shell::AppState;

/// The policy for every page and API response.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' https: data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Adds the security headers (middleware).
pub async fn security_headers(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let authenticated = request.headers().contains_key(header::AUTHORIZATION)
        || request.headers().contains_key(header::COOKIE);
    let public_asset = request.uri().path().starts_with("/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // A handler may widen the policy for its page (the profile's forms may lead to Google's
    // consent page); every other response gets the site-wide policy.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // A handler may ask for a stricter policy (the calendar feeds: `no-referrer`).
    headers
        .entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
    if state.web.secure_cookies {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    if authenticated && !public_asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
