//! The request span every log line of a request is written in: method and address, with the
//! secrets some addresses carry taken out, so that no log level (`RUST_LOG=debug` included)
//! shows a private calendar feed's token, an OAuth code or state, or any token a client put in
//! a query string. Headers (bearer tokens, cookies) are never recorded.

use axum::http::Request;
use tracing::Span;

/// Query parameters whose values are secrets.
const SECRET_PARAMETERS: &[&str] = &[
    "code",
    "state",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "secret",
];

/// Paths whose last segment is a secret (a private calendar feed's token).
const SECRET_PATH_PREFIXES: &[&str] = &["/calendar/"];

/// What is written in place of a secret.
const REDACTED: &str = "[redacted]";

/// The span of one request (for `TraceLayer::make_span_with`).
pub fn request_span<B>(request: &Request<B>) -> Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        uri = %redacted_uri(request.uri()),
        version = ?request.version(),
    )
}

/// `uri`'s path and query with their secrets replaced by [`REDACTED`].
pub fn redacted_uri(uri: &axum::http::Uri) -> String {
    let path = uri.path();
    let path = SECRET_PATH_PREFIXES
        .iter()
        .find(|prefix| path.starts_with(*prefix) && path.len() > prefix.len())
        .map_or_else(|| path.to_owned(), |prefix| format!("{prefix}{REDACTED}"));
    match uri.query() {
        None => path,
        Some(query) => {
            let parameters: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if is_secret(name) => format!("{name}={REDACTED}"),
                    // A return address (`/login?next=…`) keeps its path; its own query may
                    // carry any of the above, so it goes.
                    Some((name, value)) if name.eq_ignore_ascii_case("next") => {
                        let lower = value.to_ascii_lowercase();
                        match lower.find("%3f").or_else(|| lower.find('?')) {
                            Some(at) => format!("{name}={}?{REDACTED}", &value[..at]),
                            None => pair.to_owned(),
                        }
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", parameters.join("&"))
        }
    }
}

fn is_secret(name: &str) -> bool {
    SECRET_PARAMETERS
        .iter()
        .any(|secret| secret.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(uri: &str) -> String {
        redacted_uri(&uri.parse().unwrap_or_default())
    }

    #[test]
    fn feed_tokens_oauth_codes_and_query_tokens_are_redacted_and_the_rest_kept() {
        assert_eq!(
            redacted("/calendar/k4Jc9x_secret-token.ics"),
            "/calendar/[redacted]"
        );
        assert_eq!(
            redacted("/profile/google/callback?code=4/0AbC&state=xyz&scope=calendar"),
            "/profile/google/callback?code=[redacted]&state=[redacted]&scope=calendar"
        );
        assert_eq!(
            redacted("/api/v1/slots?doctor_id=1&date=2027-01-05&TOKEN=abc"),
            "/api/v1/slots?doctor_id=1&date=2027-01-05&TOKEN=[redacted]"
        );
        assert_eq!(
            redacted("/login?next=%2Fprofile%2Fgoogle%2Fcallback%3Fcode%3Dabc%26state%3Ddef"),
            "/login?next=%2Fprofile%2Fgoogle%2Fcallback?[redacted]"
        );
        assert_eq!(redacted("/login?next=%2Fprofile"), "/login?next=%2Fprofile");
        assert_eq!(redacted("/doctors/1"), "/doctors/1");
        assert_eq!(redacted("/calendar/"), "/calendar/");
    }
}
