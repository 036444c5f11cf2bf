//! TCP service identification for banner grabs.
//!
//! Many services greet first (SSH, FTP, SMTP, POP3, IMAP, MySQL, VNC,
//! Telnet): read before sending anything. Others wait for the client:
//! [`tcp_probe_for`] gives the bytes that make them talk, and
//! [`generic_probe`] is the fallback for unknown ports. [`identify`] then
//! names what answered, and [`view`] gives the printable form of the answer
//! (text, or escaped bytes for binary protocols). Banners are untrusted: every
//! returned string is capped and stripped of control characters.

mod binary;
mod databases;
mod http;
pub mod probes;
mod text_banners;
mod view;

pub use view::{BannerView, view};

use crate::text;

/// Bytes of a banner that [`identify`] looks at.
pub const MAX_BANNER: usize = 16 * 1024;
/// Longest product, version or info string returned.
const MAX_FIELD: usize = 120;

/// Every service name [`identify`] can return.
pub const SERVICE_NAMES: &[&str] = &[
    "amqp",
    "docker",
    "elasticsearch",
    "ftp",
    "http",
    "imap",
    "kubernetes",
    "ldap",
    "nats",
    "memcached",
    "mongodb",
    "mqtt",
    "ms-sql-s",
    "mysql",
    "pop3",
    "postgresql",
    "rdp",
    "redis",
    "rtsp",
    "smtp",
    "ssh",
    "telnet",
    "vnc",
    "x11",
];

/// A recogniser for one protocol family.
type Identifier = fn(&[u8]) -> Option<ServiceMatch>;

/// Bytes to send to a TCP service that waits for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpProbe {
    /// Short name of the probe, e.g. "http-get" or "rdp-negotiation".
    pub name: &'static str,
    /// The bytes to send.
    pub payload: Vec<u8>,
}

/// What [`identify`] recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ServiceMatch {
    /// Service name, e.g. "ssh", "http", "mysql" (one of [`SERVICE_NAMES`]).
    #[cfg_attr(
        feature = "serde",
        serde(deserialize_with = "crate::serde_static::deserialize")
    )]
    pub service: crate::Label,
    /// Product, e.g. "OpenSSH", "nginx", "MariaDB".
    pub product: Option<String>,
    /// Product version, e.g. "9.2p1".
    pub version: Option<String>,
    /// Anything else worth showing (protocol details, errors, host names).
    pub info: Option<String>,
}

impl ServiceMatch {
    pub(crate) fn new(service: &'static str) -> Self {
        Self {
            service,
            product: None,
            version: None,
            info: None,
        }
    }

    pub(crate) fn product(mut self, product: impl AsRef<str>) -> Self {
        self.product = non_empty(product.as_ref());
        self
    }

    pub(crate) fn version(mut self, version: impl AsRef<str>) -> Self {
        self.version = non_empty(version.as_ref());
        self
    }

    pub(crate) fn info(mut self, info: impl AsRef<str>) -> Self {
        self.info = non_empty(info.as_ref());
        self
    }

    /// One readable line, e.g. `ssh OpenSSH 9.2p1 (protocol 2.0)`.
    pub fn summary(&self) -> String {
        let mut line = self.service.to_string();
        for part in [&self.product, &self.version].into_iter().flatten() {
            line.push(' ');
            line.push_str(part);
        }
        if let Some(info) = &self.info {
            line.push_str(&format!(" ({info})"));
        }
        line
    }
}

fn non_empty(s: &str) -> Option<String> {
    let cleaned = text::clean_str(s, MAX_FIELD);
    (!cleaned.is_empty()).then_some(cleaned)
}

/// The probe for a port whose service waits for the client, or `None` when
/// the service on that port normally speaks first. `host` goes in HTTP's Host header.
pub fn tcp_probe_for(port: u16, host: &str) -> Option<TcpProbe> {
    let (name, payload) = match port {
        80 | 81 | 591 | 3000 | 5000 | 8000 | 8008 | 8080 | 8081 | 8888 | 9000 | 9090 | 9200 => {
            ("http-get", probes::http_get(host, "/"))
        }
        2375 => ("docker-version", probes::http_get(host, "/version")),
        10255 => ("kubelet-healthz", probes::http_get(host, "/healthz")),
        389 => ("ldap-bind", probes::ldap_anonymous_bind(1)),
        1433 => ("mssql-prelogin", probes::mssql_prelogin()),
        1883 => {
            let mut both = probes::mqtt_connect("portwatch");
            both.extend_from_slice(&probes::mqtt_subscribe_version());
            ("mqtt-connect", both)
        }
        3389 => ("rdp-negotiation", probes::rdp_connection_request()),
        5432 => ("postgres-sslrequest", probes::postgres_ssl_request()),
        5672 => ("amqp-header", probes::amqp_header()),
        6000..=6063 => ("x11-setup", probes::x11_setup()),
        6379 => ("redis-info", probes::redis_info()),
        11211 => ("memcached-version", probes::memcached_version()),
        27017..=27019 => ("mongodb-hello", probes::mongodb_hello(1)),
        _ => return None,
    };
    Some(TcpProbe { name, payload })
}

/// The probe for a silent unknown port: an HTTP GET, which most text protocols answer somehow.
pub fn generic_probe(host: &str) -> TcpProbe {
    TcpProbe {
        name: "http-get",
        payload: probes::http_get(host, "/"),
    }
}

/// Names the service that sent `received` (a greeting or an answer to a probe).
pub fn identify(received: &[u8]) -> Option<ServiceMatch> {
    let data = &received[..received.len().min(MAX_BANNER)];
    if data.is_empty() {
        return None;
    }
    // Binary protocols with strict structure first, then text greetings.
    let checks: [Identifier; 18] = [
        binary::rdp,
        databases::mysql,
        databases::mssql,
        databases::mongodb,
        binary::amqp,
        binary::mqtt,
        binary::x11,
        binary::ldap,
        text_banners::telnet,
        databases::postgres,
        text_banners::ssh,
        http::http,
        text_banners::vnc,
        text_banners::redis,
        text_banners::memcached,
        text_banners::nats,
        text_banners::mail_or_ftp,
        text_banners::pop3_or_imap,
    ];
    checks.iter().find_map(|check| check(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_exist_for_client_first_services() {
        for port in [
            80, 389, 1433, 1883, 2375, 3389, 5432, 5672, 6000, 6379, 11211, 27017,
        ] {
            assert!(tcp_probe_for(port, "h").is_some(), "{port}");
        }
        for port in [21, 22, 23, 25, 110, 143, 3306, 5900] {
            assert!(tcp_probe_for(port, "h").is_none(), "{port} speaks first");
        }
        assert_eq!(generic_probe("h").name, "http-get");
        assert_eq!(identify(b""), None);
    }

    #[test]
    fn nats_greeting() {
        let m =
            identify(b"INFO {\"server_id\":\"X\",\"version\":\"2.9.10\",\"proto\":1}\r\n").unwrap();
        assert_eq!(m.service, "nats");
        assert_eq!(m.version.as_deref(), Some("2.9.10"));
    }

    #[test]
    fn summary_line() {
        let m = ServiceMatch::new("ssh")
            .product("OpenSSH")
            .version("9.2p1")
            .info("protocol 2.0");
        assert_eq!(m.summary(), "ssh OpenSSH 9.2p1 (protocol 2.0)");
        assert_eq!(ServiceMatch::new("x").product("\x1b\x07").product, None);
    }
}
