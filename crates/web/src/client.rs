//! Who is on the other end of a request: the peer's address, or, when the peer is a trusted
//! reverse proxy (`--trusted-proxy CIDR`), the client it forwards for (`X-Forwarded-For`) and
//! whether the client spoke HTTPS to it (`X-Forwarded-Proto`). Forwarding headers from any
//! other peer are ignored, so a client cannot choose the address the login rate limit counts.

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// How the server is reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Network {
    /// Whether this server speaks TLS itself.
    pub tls: bool,
    /// Peers whose forwarding headers are believed.
    pub trusted_proxies: Vec<IpNet>,
}

impl Network {
    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The client behind a request from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> Client {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return Client {
                ip: peer,
                https: self.tls,
            };
        }
        // Proxies append: the nearest hop is last. Walk back over our own proxies; the first
        // address that is not one of them is the client (anything before it is its own claim).
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map_while(|hop| parse_hop(hop.trim()))
            .collect();
        let ip = hops
            .iter()
            .rev()
            .copied()
            .find(|ip| !self.trusts(*ip))
            .or_else(|| hops.first().copied())
            .unwrap_or(peer);
        let forwarded_https = headers
            .get_all("x-forwarded-proto")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
        Client {
            ip,
            https: self.tls || forwarded_https,
        }
    }
}

/// One `X-Forwarded-For` entry: an address, optionally `[v6]:port` or `v4:port`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    hop.parse::<SocketAddr>().ok().map(|s| canonical(s.ip()))
}

/// A client's one form: an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address
/// it stands for, any other address as it is. Every place that keys or compares clients
/// (trusted proxies, the login rate limit) goes through this.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// The client of a request, as [`Network::client`] found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// Its address.
    pub ip: IpAddr,
    /// Whether it reached us (or our proxy) over HTTPS.
    pub https: bool,
}

/// What `Strict-Transport-Security` says on answers over HTTPS.
pub const HSTS: &str = "max-age=31536000";

/// Finds the client of every request (stored as a request extension) and marks answers over
/// HTTPS with `Strict-Transport-Security`.
pub async fn layer(
    State(network): State<std::sync::Arc<Network>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let client = network.client(peer, request.headers());
    request.extensions_mut().insert(client);
    let mut response = next.run(request).await;
    if client.https {
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(c) = parts.extensions.get::<Client>() {
            return Ok(*c);
        }
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| canonical(c.0.ip()));
        Ok(Client { ip, https: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn canonical_unmaps_only_ipv4_mapped_addresses() {
        assert_eq!(canonical(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(canonical(ip("::ffff:127.0.0.1")), ip("127.0.0.1"));
        // Unmapped IPv6, the IPv4-compatible form (`::a.b.c.d`) among them, stays IPv6.
        assert_eq!(canonical(ip("2001:db8::7")), ip("2001:db8::7"));
        assert_eq!(canonical(ip("::192.0.2.7")), ip("::192.0.2.7"));
        assert_eq!(canonical(ip("::1")), ip("::1"));
        assert_eq!(canonical(ip("192.0.2.7")), ip("192.0.2.7"));
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let net = Network {
            tls: false,
            trusted_proxies: vec!["10.0.0.0/24".parse().unwrap(), "::1/128".parse().unwrap()],
        };
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.9, 198.51.100.7"),
            ("x-forwarded-proto", "https"),
        ]);
        // From an untrusted peer: the headers are ignored.
        assert_eq!(
            net.client(ip("192.0.2.1"), &h),
            Client {
                ip: ip("192.0.2.1"),
                https: false
            }
        );
        // From a trusted one: the nearest untrusted hop, not the client's own claim before it.
        assert_eq!(
            net.client(ip("10.0.0.5"), &h),
            Client {
                ip: ip("198.51.100.7"),
                https: true
            }
        );
        // A chain of our own proxies is walked back; v4-mapped peers are the same peer.
        let chain = headers(&[("x-forwarded-for", "198.51.100.7, 10.0.0.9")]);
        assert_eq!(
            net.client(ip("::ffff:10.0.0.5"), &chain).ip,
            ip("198.51.100.7")
        );
        assert_eq!(net.client(ip("::1"), &chain).ip, ip("198.51.100.7"));
        // Garbage stops the walk; without any usable hop the peer is the client.
        let junk = headers(&[("x-forwarded-for", "not-an-ip")]);
        assert_eq!(net.client(ip("10.0.0.5"), &junk).ip, ip("10.0.0.5"));
        assert_eq!(
            net.client(
                ip("10.0.0.5"),
                &headers(&[("x-forwarded-for", "[2001:db8::1]:443")])
            )
            .ip,
            ip("2001:db8::1")
        );
    }
}
