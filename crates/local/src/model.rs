//! What a snapshot reports: listeners, their exposure and the snapshot itself.

use crate::firewall::FirewallVerdict;
use portwatch_kb::{Risk, Severity, Transport};
use serde::Serialize;
use std::fmt;
use std::net::IpAddr;

/// The transport of a listening socket.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Proto {
    /// TCP (listening sockets).
    Tcp,
    /// UDP (bound, unconnected sockets).
    Udp,
}

impl Proto {
    /// The knowledge base's transport for this protocol.
    pub fn transport(self) -> Transport {
        match self {
            Proto::Tcp => Transport::Tcp,
            Proto::Udp => Transport::Udp,
        }
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An IP family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Family {
    /// IPv4.
    #[serde(rename = "ipv4")]
    V4,
    /// IPv6.
    #[serde(rename = "ipv6")]
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        })
    }
}

/// From where a listening socket can be reached, judged by the address it is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Exposure {
    /// Bound to a loopback address: only this machine can connect.
    Loopback,
    /// Bound to one address of one interface.
    Interface {
        /// The interface holding the address (`None` when no interface has it now).
        name: Option<String>,
        /// Whether the address is private (RFC 1918, CGNAT, link-local, ULA).
        private: bool,
    },
    /// Bound to the wildcard address: every interface, present and future.
    AllInterfaces,
}

impl Exposure {
    /// Whether only this machine can connect.
    pub fn is_loopback(&self) -> bool {
        matches!(self, Exposure::Loopback)
    }

    /// The knowledge base's exposure class: loopback, LAN (a private address) or internet (a
    /// public address, or every interface).
    pub fn class(&self) -> portwatch_kb::Exposure {
        match self {
            Exposure::Loopback => portwatch_kb::Exposure::Loopback,
            Exposure::Interface { private: true, .. } => portwatch_kb::Exposure::Lan,
            Exposure::Interface { private: false, .. } | Exposure::AllInterfaces => {
                portwatch_kb::Exposure::Internet
            }
        }
    }
}

impl fmt::Display for Exposure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exposure::Loopback => f.write_str("loopback"),
            Exposure::AllInterfaces => f.write_str("all interfaces"),
            Exposure::Interface { name, private } => {
                let scope = if *private { "private" } else { "public" };
                match name {
                    Some(name) => write!(f, "{name} ({scope})"),
                    None => write!(f, "{scope} address"),
                }
            }
        }
    }
}

/// One listening TCP socket or bound, unconnected UDP socket of this machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Listener {
    /// Transport.
    pub proto: Proto,
    /// The local address it is bound to (`0.0.0.0`/`::` for all interfaces).
    pub addr: IpAddr,
    /// The local port.
    pub port: u16,
    /// IP families that can reach it (`::` sockets are dual-stack unless IPv6-only).
    pub families: Vec<Family>,
    /// From where it can be reached, by its address.
    pub exposure: Exposure,
    /// The socket's inode number.
    pub inode: u64,
    /// The owner's user id.
    pub uid: u32,
    /// The owner's user name, from `/etc/passwd`.
    pub user: Option<String>,
    /// The process holding it (the lowest pid when several share it; `None` when not visible).
    pub pid: Option<u32>,
    /// That process's name (`/proc/PID/comm`).
    pub process: Option<String>,
    /// That process's command line, arguments joined with spaces.
    pub cmdline: Option<String>,
    /// The knowledge base's service name for the port.
    pub service: Option<String>,
    /// The knowledge base's risk for the port.
    pub risk: Risk,
    /// The risk that applies here, given the exposure and the firewall.
    pub effective_severity: Severity,
    /// Why `effective_severity` is what it is, in one sentence.
    pub severity_reason: String,
    /// What the host firewall does with a new inbound connection to it from another machine.
    pub firewall: FirewallVerdict,
}

/// Every listener of this machine at one moment, most severe first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// The listeners, sorted by effective severity (highest first), then port.
    pub listeners: Vec<Listener>,
    /// False when some processes' sockets could not be inspected (not root).
    pub complete: bool,
    /// Things the reader should know about how the snapshot was made.
    pub notes: Vec<String>,
}
