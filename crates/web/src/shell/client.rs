//! Who is on the other end of a request: the client's IP address, for rate limits and the
//! audit trail.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::shell::AppState;
use crate::shell::error::ApiError;

/// The client's address: the peer's IP, or — only when the server is configured to trust a
/// reverse proxy — the last address of `X-Forwarded-For`, the one that proxy appended (earlier
/// entries are whatever the client claimed). `None` when unknown (in-process tests without a
/// socket).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    /// The address as text, for keys and logs.
    pub fn key(&self) -> Option<String> {
        self.0.map(|ip| ip.to_string())
    }

    /// Who the client is for rate limits: its IPv4 address, or the /64 network of its IPv6
    /// address (one subscriber usually holds a whole /64, so counting single IPv6 addresses
    /// would give anyone billions of allowances).
    pub fn limit_key(&self) -> Option<String> {
        self.0.map(|ip| match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let segments = v6.segments();
                    let network = std::net::Ipv6Addr::new(
                        segments[0],
                        segments[1],
                        segments[2],
                        segments[3],
                        0,
                        0,
                        0,
                        0,
                    );
                    format!("{network}/64")
                }
            },
        })
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.web.trust_forwarded_for
            && let Some(forwarded) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|v| v.trim().parse::<IpAddr>().ok())
        {
            return Ok(Self(Some(forwarded)));
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(Self(peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_count_ipv4_addresses_and_ipv6_networks() {
        let key = |text: &str| ClientIp(text.parse().ok()).limit_key();
        assert_eq!(key("203.0.113.9").as_deref(), Some("203.0.113.9"));
        assert_eq!(
            key("2001:db8:1:2:aaaa::1").as_deref(),
            Some("2001:db8:1:2::/64")
        );
        assert_eq!(key("2001:db8:1:2:ffff::9"), key("2001:db8:1:2::1"));
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(key("::ffff:192.0.2.1").as_deref(), Some("192.0.2.1"));
        assert_eq!(ClientIp(None).limit_key(), None);
    }
}
