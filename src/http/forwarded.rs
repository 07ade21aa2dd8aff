//! Who the client is behind proxies. `X-Forwarded-For`, `X-Forwarded-Host`
//! and `X-Forwarded-Proto` are anyone's to send: they count only when the
//! peer is a configured trusted proxy (`--trusted-proxy`), never otherwise.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap};

use crate::config::Cidr;

/// Hops of `X-Forwarded-For` looked at, from the nearest: a longer chain
/// is the sender's invention.
const MAX_HOPS: usize = 16;

/// The address the connection comes from.
pub fn peer(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// Whether the connection comes from a trusted proxy.
pub fn trusted(peer: Option<IpAddr>, proxies: &[Cidr]) -> bool {
    peer.is_some_and(|ip| proxies.iter().any(|net| net.contains(ip)))
}

/// The client's address as the audit log records it: the peer's; behind
/// trusted proxies, the nearest address in `X-Forwarded-For` that is not one
/// of them, `CLIENT (via PEER)`.
pub fn client_address(peer: Option<IpAddr>, headers: &HeaderMap, proxies: &[Cidr]) -> String {
    let Some(peer) = peer else {
        return String::new();
    };
    match forwarded_client(peer, headers, proxies) {
        Some(client) => format!("{client} (via {peer})"),
        None => peer.to_string(),
    }
}

/// The client's own address: the peer's, or behind trusted proxies the one
/// `X-Forwarded-For` names (as `client_address`).
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, proxies: &[Cidr]) -> Option<IpAddr> {
    let peer = peer?;
    Some(forwarded_client(peer, headers, proxies).unwrap_or(peer))
}

/// Behind trusted proxies, the nearest address in `X-Forwarded-For` that is
/// not one of them; `None` from anyone else.
fn forwarded_client(peer: IpAddr, headers: &HeaderMap, proxies: &[Cidr]) -> Option<IpAddr> {
    if !trusted(Some(peer), proxies) {
        return None;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut client = None;
    for hop in hops.iter().rev().take(MAX_HOPS) {
        let Some(ip) = parse_hop(hop) else {
            // Garbage from beyond the trusted proxies: the last good hop stands.
            break;
        };
        client = Some(ip);
        if !trusted(Some(ip), proxies) {
            break;
        }
    }
    client
}

/// One hop: an address, perhaps with a port (`1.2.3.4:5678`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// A forwarded header's first value, believed only from a trusted proxy.
pub fn header(headers: &HeaderMap, name: &str, from_trusted_proxy: bool) -> Option<String> {
    if !from_trusted_proxy {
        return None;
    }
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').next().unwrap_or_default().trim().to_string())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().unwrap());
        headers
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let proxies: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        let stranger = Some("192.0.2.7".parse().unwrap());
        let proxy = Some("10.1.2.3".parse().unwrap());
        let forged = forwarded("203.0.113.9");
        assert_eq!(client_address(stranger, &forged, &proxies), "192.0.2.7");
        assert_eq!(client_address(stranger, &forged, &[]), "192.0.2.7");
        assert_eq!(
            client_address(proxy, &forged, &proxies),
            "203.0.113.9 (via 10.1.2.3)"
        );
        // What the client itself claimed, left of the hop the proxy saw, is not believed.
        let chain = forwarded("6.6.6.6, 203.0.113.9, 10.9.9.9");
        assert_eq!(
            client_address(proxy, &chain, &proxies),
            "203.0.113.9 (via 10.1.2.3)"
        );
        assert_eq!(
            client_address(proxy, &forwarded("not an address"), &proxies),
            "10.1.2.3"
        );
        assert_eq!(
            client_address(proxy, &forwarded("[2001:db8::1]:443"), &proxies),
            "2001:db8::1 (via 10.1.2.3)"
        );
        assert_eq!(
            client_address(proxy, &HeaderMap::new(), &proxies),
            "10.1.2.3"
        );
        assert_eq!(client_address(None, &forged, &proxies), "");
    }

    #[test]
    fn forwarded_headers_need_a_trusted_peer() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-host", "evil.example, other".parse().unwrap());
        assert_eq!(header(&headers, "x-forwarded-host", false), None);
        assert_eq!(
            header(&headers, "x-forwarded-host", true).as_deref(),
            Some("evil.example")
        );
    }
}
