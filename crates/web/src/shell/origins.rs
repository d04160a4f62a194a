//! The browser origins the server belongs to: its public origin and any an operator lists
//! (`MEDIBOOK_ALLOWED_ORIGINS`). A WebSocket upgrade is not covered by CORS or by the CSRF
//! check of state-changing requests, yet a browser sends our cookies with it from any site, so
//! the live feed accepts a browser's upgrade only from these origins (or from the host the
//! request was sent to) — no cross-site WebSocket hijacking.

use std::sync::Arc;

use axum::http::{HeaderMap, header};

/// Origins (`scheme://host[:port]`, normalised) whose pages may open the live feed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedOrigins(Arc<[String]>);

impl AllowedOrigins {
    /// The origin of `public_url` and each of `extra`, or why one is not an origin.
    pub fn new<'a>(
        public_url: &str,
        extra: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, String> {
        let mut origins = vec![normalise(public_url).ok_or_else(|| {
            format!("public_url: {public_url:?} has no origin (scheme://host[:port])")
        })?];
        for item in extra {
            let origin = normalise(item).ok_or_else(|| {
                format!("allowed_origins: {item:?} is not an origin (scheme://host[:port])")
            })?;
            origins.push(origin);
        }
        Ok(Self(origins.into()))
    }

    /// Whether a request with `headers` comes from a page we trust to use our cookies: it
    /// names no `Origin` (not a browser page: native apps, scripts), or an origin of ours, or
    /// the very host it was sent to. `Origin: null` (sandboxed frames, files) is refused.
    pub fn allow(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        let Some(origin) = origin.to_str().ok().and_then(normalise) else {
            return false;
        };
        if self.0.contains(&origin) {
            return true;
        }
        let host = headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .map(str::to_ascii_lowercase);
        host.is_some_and(|host| {
            origin
                .split_once("://")
                .is_some_and(|(_, authority)| authority == host || same_default(authority, &host))
        })
    }
}

/// `authority` (normalised, default port dropped) and a `Host` header naming the same place
/// with its default port spelled out.
fn same_default(authority: &str, host: &str) -> bool {
    [":80", ":443"]
        .iter()
        .any(|port| host.strip_suffix(port) == Some(authority))
}

/// `scheme://host[:port]` of a URL or origin, lower-case, without a default port; `None` for
/// anything that is not an http(s) origin.
fn normalise(text: &str) -> Option<String> {
    let url = url::Url::parse(text.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn request(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static(host));
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
        }
        headers
    }

    #[test]
    fn only_our_origins_and_the_requested_host_may_open_the_feed() {
        let ours = AllowedOrigins::new(
            "https://clinic.example/",
            ["https://app.clinic.example:8443"],
        )
        .unwrap();
        let host = "clinic.example";
        assert!(ours.allow(&request(None, host)));
        assert!(ours.allow(&request(Some("https://clinic.example"), host)));
        assert!(ours.allow(&request(Some("https://CLINIC.example:443"), host)));
        assert!(ours.allow(&request(Some("https://app.clinic.example:8443"), host)));
        assert!(ours.allow(&request(Some("http://127.0.0.1:4000"), "127.0.0.1:4000")));
        // Scheme, host and port all count.
        assert!(!ours.allow(&request(Some("http://clinic.example"), "elsewhere")));
        assert!(!ours.allow(&request(Some("https://clinic.example:444"), "elsewhere")));
        assert!(!ours.allow(&request(Some("https://evil.example"), host)));
        assert!(!ours.allow(&request(Some("https://clinic.example.evil.example"), host)));
        assert!(!ours.allow(&request(Some("null"), host)));
    }

    #[test]
    fn an_unusable_origin_setting_is_refused() {
        assert!(AllowedOrigins::new("https://clinic.example", ["clinic.example"]).is_err());
        assert!(AllowedOrigins::new("ftp://clinic.example", []).is_err());
    }
}
