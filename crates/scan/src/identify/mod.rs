//! What answers on an open port: NetBIOS names, SMB dialects and signing, service banners,
//! and the typed answers of UDP services. Runs after the engine found a port open; every
//! exchange has a deadline and every parse failure becomes a `malformed response` detail.

mod banner;
mod io;
mod netbios;
mod smb;
mod udp;

use serde_json::{Map, Value};
use std::net::SocketAddr;
use std::time::Duration;

pub use udp::udp;
pub use udp::utc as utc_seconds;

/// What identification learned about one port.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identity {
    /// The service, when a probe recognised it (overrides the registry's name).
    pub service: Option<String>,
    /// Protocol details; `summary` is one readable line for tables.
    pub details: Map<String, Value>,
}

impl Identity {
    fn with_summary(mut self, summary: String) -> Self {
        if !summary.is_empty() {
            self.details
                .insert(crate::model::SUMMARY_DETAIL.into(), Value::String(summary));
        }
        self
    }
}

/// How long identification may wait, from the host's round-trip time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Connecting again to the open port.
    pub connect: Duration,
    /// One request/answer exchange.
    pub exchange: Duration,
    /// Waiting for a service that speaks first before sending a probe.
    pub greeting: Duration,
}

impl Budget {
    /// A budget scaled to `srtt`, never above `max`.
    pub fn for_rtt(srtt: Option<Duration>, max: Duration) -> Self {
        let base = srtt.unwrap_or(Duration::from_millis(100));
        let scaled = |factor: u32, floor_ms: u64, ceil: Duration| {
            (base * factor).clamp(
                Duration::from_millis(floor_ms),
                ceil.min(max.max(Duration::from_millis(floor_ms))),
            )
        };
        Budget {
            connect: scaled(4, 300, Duration::from_secs(3)),
            exchange: scaled(6, 500, Duration::from_secs(3)),
            greeting: scaled(4, 200, Duration::from_secs(2)),
        }
    }
}

/// Identifies the service on an open TCP port.
pub async fn tcp(addr: SocketAddr, budget: Budget) -> Identity {
    match addr.port() {
        445 => smb_direct(addr, budget).await,
        139 => netbios::identify_session(addr, budget).await,
        _ => banner::identify(addr, budget).await,
    }
}

/// Identifies SMB spoken directly over TCP on any port (445 normally).
pub async fn smb_direct(addr: SocketAddr, budget: Budget) -> Identity {
    smb::identify_direct(addr, budget).await
}

/// The detail recorded when an answer could not be parsed.
fn malformed(what: &str, error: impl std::fmt::Display) -> Identity {
    let mut details = Map::new();
    details.insert(
        "error".into(),
        Value::String(format!("malformed response from {what}: {error}")),
    );
    Identity {
        service: None,
        details,
    }
}
