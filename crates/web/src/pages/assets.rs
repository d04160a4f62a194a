//! The pages' static files (`crates/web/assets/`): one stylesheet and a few ES modules of our
//! own, compiled into the binary and served under `/assets/…`.
//!
//! Pages link each file with a version query (`/assets/slots.js?v=<hash>`, see [`url`]); a
//! request whose `v` names the file's current content may be cached for a year, since the next
//! release links another URL. Any other request (a module imported by a relative URL, an old
//! version) must be revalidated, and is answered `304 Not Modified` while its `ETag` matches.

use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::{EmbeddedFile, RustEmbed};

use crate::pages::error::PageError;

#[derive(RustEmbed)]
#[folder = "assets/"]
struct Assets;

/// Cache policy of a request naming the file's current version.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache policy of any other request: keep it, but ask before each use.
const REVALIDATE: &str = "public, no-cache";

/// The versioned URL of the asset `name`, for links in pages; a name that is not an asset
/// gets its plain URL (and a 404 when requested).
pub fn url(name: &str) -> String {
    match Assets::get(name) {
        Some(file) => format!("/assets/{name}?v={}", version(&file)),
        None => format!("/assets/{name}"),
    }
}

/// The first 12 hex digits of the file's SHA-256.
fn version(file: &EmbeddedFile) -> String {
    file.metadata.sha256_hash()[..6]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The `Content-Type` of an asset, by its extension.
fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("webmanifest") => "application/manifest+json",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// `GET /assets/{*path}`.
pub async fn serve(
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(file) = Assets::get(&path) else {
        return PageError::not_found().into_response();
    };
    let version = version(&file);
    let etag = format!("\"{version}\"");
    let cache_control = if query.as_deref() == Some(format!("v={version}").as_str()) {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    let mut response = if matches_etag(&headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, content_type(&path))],
            file.data.into_owned(),
        )
            .into_response()
    };
    let out = response.headers_mut();
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, value);
    }
    response
}

/// Whether `If-None-Match` lists `etag` (or `*`).
fn matches_etag(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_known_content_type() {
        for name in Assets::iter() {
            assert_ne!(
                content_type(&name),
                "application/octet-stream",
                "{name} needs a content type"
            );
        }
        assert!(Assets::get("medibook.css").is_some());
        assert!(Assets::get("slots.js").is_some());
    }

    #[test]
    fn links_carry_the_content_version() {
        let link = url("medibook.css");
        assert!(link.starts_with("/assets/medibook.css?v="), "{link}");
        assert_eq!(link.len(), "/assets/medibook.css?v=".len() + 12);
        assert_eq!(url("missing.js"), "/assets/missing.js");
    }

    #[test]
    fn etags_match_with_or_without_weakness() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"abc\""),
        );
        assert!(matches_etag(&headers, "\"abc\""));
        assert!(!matches_etag(&headers, "\"abd\""));
    }
}
