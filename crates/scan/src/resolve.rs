//! Hostname resolution through the system configuration (`/etc/hosts`, `/etc/resolv.conf`)
//! or explicit DNS servers (`--dns-servers`).

use crate::error::{Result, ScanError};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Which addresses of a hostname to scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResolveMode {
    /// The first address (IPv4 preferred), like nmap.
    #[default]
    First,
    /// Every address the name has.
    All,
}

/// Resolves hostnames for the scan.
pub struct HostResolver {
    inner: TokioResolver,
    mode: ResolveMode,
}

impl HostResolver {
    /// A resolver using the system configuration, or `servers` when given.
    pub fn new(mode: ResolveMode, servers: &[SocketAddr]) -> Result<Self> {
        let builder = if servers.is_empty() {
            TokioResolver::builder_tokio().map_err(|e| ScanError::Resolve {
                host: "(system configuration)".into(),
                reason: e.to_string(),
            })?
        } else {
            let configs = servers
                .iter()
                .map(|s| {
                    let mut ns = NameServerConfig::udp(s.ip());
                    let mut udp = ConnectionConfig::udp();
                    udp.port = s.port();
                    ns.connections = vec![udp];
                    ns
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(configs),
                TokioRuntimeProvider::default(),
            )
        };
        let mut builder = builder;
        builder.options_mut().timeout = Duration::from_secs(3);
        builder.options_mut().attempts = 1;
        let inner = builder.build().map_err(|e| ScanError::Resolve {
            host: "(resolver)".into(),
            reason: e.to_string(),
        })?;
        Ok(HostResolver { inner, mode })
    }

    /// The addresses to scan for `host`, never empty.
    pub async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>> {
        let fail = |reason: String| ScanError::Resolve {
            host: host.to_string(),
            reason,
        };
        let lookup = self
            .inner
            .lookup_ip(host)
            .await
            .map_err(|e| fail(describe(&e)))?;
        let mut addrs: Vec<IpAddr> = lookup.iter().collect();
        if addrs.is_empty() {
            return Err(fail("no addresses".into()));
        }
        // IPv4 first, then IPv6, each in the resolver's order.
        addrs.sort_by_key(std::net::IpAddr::is_ipv6);
        addrs.dedup();
        if self.mode == ResolveMode::First {
            addrs.truncate(1);
        }
        Ok(addrs)
    }
}

/// A resolver error in words, without the resolver's Debug rendering of the query.
fn describe(e: &hickory_resolver::net::NetError) -> String {
    use hickory_resolver::net::NetError;
    if e.is_nx_domain() {
        return "no such host (the DNS server answered NXDOMAIN)".into();
    }
    if e.is_no_records_found() {
        return "the name has no IPv4 or IPv6 address".into();
    }
    match e {
        NetError::Timeout => "no answer from the DNS server (timed out)".into(),
        NetError::NoConnections => "no DNS server could be reached".into(),
        NetError::Io(io) => format!("cannot reach the DNS server: {io}"),
        other => {
            let text = other.to_string();
            // Some variants embed a Debug dump of the query; keep only the words before it.
            match text.find(" Query {").or_else(|| text.find("Query {")) {
                Some(i) => text[..i].trim_end_matches([' ', ':']).to_string(),
                None => text,
            }
        }
    }
}
