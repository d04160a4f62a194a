//! Cross-site request forgery protection for everything a browser authenticates with cookies.
//!
//! A state-changing request (any method but GET, HEAD, OPTIONS) that carries one of our cookies
//! must come from our own origin: its `Origin` header (or, failing that, its `Referer`) must
//! name the host it was sent to (OWASP: "verifying origin with standard headers"). Browsers send
//! `Origin` on every cross-origin POST and on same-origin form posts, so a page of ours passes
//! and a forged form on another site is refused, whatever the cookie's SameSite setting.
//! Requests without our cookies (API clients with bearer tokens) are not affected.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;

/// Prefix of every cookie the server sets.
const COOKIE_PREFIX: &str = "medibook_";

/// How a refusal is rendered for a request's path: the page that explains for a page's form,
/// a problem document for the API (the router decides which door a path belongs to).
pub type Refusal = fn(&str) -> Response;

/// Refuses cross-site state-changing requests that carry our cookies (middleware, with the
/// door's [`Refusal`] as its state).
pub async fn reject_cross_site(
    State(refusal): State<Refusal>,
    request: Request,
    next: Next,
) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe && carries_our_cookie(request.headers()) && !same_origin(request.headers()) {
        return refusal(request.uri().path());
    }
    next.run(request).await
}

fn carries_our_cookie(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .any(|pair| pair.trim_start().starts_with(COOKIE_PREFIX))
}

/// Whether the request says it comes from the host it was sent to. A request that names no
/// origin at all is not from a browser page and passes; `Origin: null` does not.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    match source {
        None => true,
        Some(source) => source
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or_default())
            .is_some_and(|source_host| !host.is_empty() && source_host == host),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn origins_must_name_the_host() {
        let host = (header::HOST, "clinic.example");
        assert!(same_origin(&headers(&[
            host.clone(),
            (header::ORIGIN, "https://clinic.example")
        ])));
        assert!(!same_origin(&headers(&[
            host.clone(),
            (header::ORIGIN, "https://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            host.clone(),
            (header::ORIGIN, "null")
        ])));
        assert!(same_origin(&headers(&[
            host.clone(),
            (header::REFERER, "https://clinic.example/appointments")
        ])));
        assert!(!same_origin(&headers(&[
            host.clone(),
            (header::REFERER, "https://clinic.example.evil.example/")
        ])));
        assert!(same_origin(&headers(&[host])));
    }

    #[test]
    fn only_our_cookies_count() {
        assert!(carries_our_cookie(&headers(&[(
            header::COOKIE,
            "a=1; medibook_refresh=x"
        )])));
        assert!(!carries_our_cookie(&headers(&[(
            header::COOKIE,
            "theme=dark"
        )])));
    }
}
