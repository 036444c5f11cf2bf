//! The result model every front end renders: port states, reasons, per-port and per-host results.
//! The engine fills them in (`portwatch-scan`); the store keeps them and the front ends show them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Transport protocol of a scanned port.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// Both protocols, TCP first.
    pub const ALL: &'static [Proto] = <Proto as strum::VariantArray>::VARIANTS;

    /// The lowercase name used in every output format.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The knowledge-base transport for this protocol.
    pub fn transport(self) -> portwatch_kb::Transport {
        match self {
            Proto::Tcp => portwatch_kb::Transport::Tcp,
            Proto::Udp => portwatch_kb::Transport::Udp,
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Proto {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" | "t" => Ok(Proto::Tcp),
            "udp" | "u" => Ok(Proto::Udp),
            other => Err(format!("unknown protocol '{other}' (expected tcp or udp)")),
        }
    }
}

/// The state of a port, in nmap's vocabulary (a contract: scripts rely on these strings).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
    strum::EnumString,
)]
#[strum(serialize_all = "lowercase", parse_err_ty = String, parse_err_fn = unknown_state)]
pub enum PortState {
    /// Something answered and accepts traffic.
    #[serde(rename = "open")]
    Open,
    /// The host answered that nothing listens (RST, ICMP port unreachable).
    #[serde(rename = "closed")]
    Closed,
    /// No answer, or an answer from a filter (ICMP prohibited/unreachable).
    #[serde(rename = "filtered")]
    Filtered,
    /// UDP: silence after every retry; open or filtered cannot be told apart.
    #[serde(rename = "open|filtered")]
    #[strum(serialize = "open|filtered")]
    OpenFiltered,
}

impl PortState {
    /// The contract string of this state.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether a default (non `--all`) listing shows this state.
    pub fn shown_by_default(self) -> bool {
        matches!(self, PortState::Open | PortState::OpenFiltered)
    }
}

impl fmt::Display for PortState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn unknown_state(s: &str) -> String {
    format!("unknown port state '{s}'")
}

/// Why a port got its state (a contract, like nmap's `--reason`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
    strum::EnumString,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case", parse_err_ty = String, parse_err_fn = unknown_reason)]
pub enum Reason {
    /// TCP handshake completed.
    SynAck,
    /// TCP reset: nothing listens.
    ConnRefused,
    /// No answer to any try (TCP).
    Timeout,
    /// ICMP host unreachable (or neighbour resolution failed).
    HostUnreach,
    /// ICMP network unreachable.
    NetUnreach,
    /// ICMP communication administratively prohibited, or a local firewall refused the probe.
    AdminProhibited,
    /// A UDP service answered the probe.
    UdpResponse,
    /// ICMP port unreachable (UDP).
    PortUnreach,
    /// No answer to any try (UDP), or to any host-discovery request.
    NoResponse,
    /// Seen in this machine's own socket table (a listening TCP socket or a bound UDP one),
    /// not probed over the network.
    Listening,
}

impl Reason {
    /// The contract string of this reason.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether this answer proves that the host itself (or its own firewall) is alive.
    pub fn proves_host_up(self) -> bool {
        matches!(
            self,
            Reason::SynAck
                | Reason::ConnRefused
                | Reason::AdminProhibited
                | Reason::UdpResponse
                | Reason::PortUnreach
                | Reason::Listening
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn unknown_reason(s: &str) -> String {
    format!("unknown reason '{s}'")
}

/// One probed port's final result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortResult {
    /// Address that was probed.
    pub host: IpAddr,
    /// The name the user gave for this address, if any.
    pub hostname: Option<String>,
    /// Port number.
    pub port: u16,
    /// Transport.
    pub proto: Proto,
    /// State.
    pub state: PortState,
    /// Why.
    pub reason: Reason,
    /// Service name: identified by a probe, else the registered name of the port.
    pub service: Option<String>,
    /// Round-trip time of the deciding answer, in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Protocol details learned by probes (NetBIOS names, SMB dialects, banners…).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub details: serde_json::Map<String, serde_json::Value>,
    /// How dangerous the port is when reachable (open and open|filtered ports only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<PortRisk>,
}

/// The key of [`PortResult::details`] under which probes leave one readable line of what
/// answered (`OpenSSH 9.2p1`, an SMB server's name…), for tables and findings.
pub const SUMMARY_DETAIL: &str = "summary";

/// The one readable line probes left in `details` (under [`SUMMARY_DETAIL`]), if any: for a
/// [`PortResult`]'s details, or the same map stored with a port's state.
pub fn details_summary(details: &serde_json::Map<String, serde_json::Value>) -> Option<&str> {
    details.get(SUMMARY_DETAIL)?.as_str()
}

impl PortResult {
    /// The one readable line of what answered, if probes learned one ([`details_summary`]).
    pub fn summary(&self) -> Option<&str> {
        details_summary(&self.details)
    }
}

/// The knowledge base's verdict on a reachable port, and where to read more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRisk {
    /// Severity when reachable only from the local network.
    pub lan: portwatch_kb::Severity,
    /// Severity when reachable from the internet.
    pub internet: portwatch_kb::Severity,
    /// The command that shows the port's page.
    pub explain: String,
}

impl PortRisk {
    /// The risk of `port` on `proto`.
    pub fn of(port: u16, proto: Proto) -> Self {
        let r = portwatch_kb::risk(port, proto.transport());
        PortRisk {
            lan: r.lan,
            internet: r.internet,
            explain: format!("portwatch explain {port}/{proto}"),
        }
    }

    /// The severity that applies to `host`, and the exposure class it was judged by
    /// ([`portwatch_kb::severity_at`]): none on loopback, the LAN rating on private,
    /// link-local and unique-local addresses, the internet rating otherwise.
    pub fn for_host(&self, host: IpAddr) -> (portwatch_kb::Severity, portwatch_kb::Exposure) {
        let risk = portwatch_kb::Risk {
            lan: self.lan,
            internet: self.internet,
            page: true,
        };
        portwatch_kb::severity_at(host, risk)
    }
}

/// How a host's TCP ports were probed (what `TcpMethod::Auto` and the flags come to).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum ProbeMethod {
    /// Half-open SYN probes from a raw socket.
    Syn,
    /// Full connects through the kernel.
    Connect,
}

impl ProbeMethod {
    /// The lowercase name used in every output format (and nmap's `scaninfo` type).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for ProbeMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a host answered at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostStatus {
    /// At least one probe got an answer from the host.
    Up,
    /// No probe got an answer that proves the host is there.
    Down,
}

/// Per-host summary, emitted once when every probe to the host is finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostSummary {
    /// Address.
    pub host: IpAddr,
    /// The name the user gave for this address, if any.
    pub hostname: Option<String>,
    /// Up or down.
    pub status: HostStatus,
    /// For a down host: what the probes saw (`timeout`, `host-unreach`…).
    pub reason: Option<Reason>,
    /// Ports that got a final result.
    pub ports_scanned: u32,
    /// Ports skipped because the host was found down early.
    pub ports_skipped: u32,
    /// Counts per state.
    pub open: u32,
    /// Closed ports.
    pub closed: u32,
    /// Filtered ports.
    pub filtered: u32,
    /// open|filtered ports.
    pub open_filtered: u32,
    /// Smoothed round-trip time to the host in milliseconds, if measured.
    pub srtt_ms: Option<f64>,
    /// How its TCP ports were probed; `None` when none were (UDP only, or found down by
    /// host discovery before any port was probed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_method: Option<ProbeMethod>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract strings come from one derive and the serde names from another: they must
    /// agree, and every name must parse back to its variant.
    fn names_agree<T>(all: &[T])
    where
        T: Copy + fmt::Debug + PartialEq + Serialize + FromStr + fmt::Display,
    {
        for &v in all {
            let name = v.to_string();
            assert_eq!(serde_json::to_value(v).unwrap(), name.as_str(), "{v:?}");
            assert!(
                name.parse::<T>().ok() == Some(v),
                "{name} does not parse back"
            );
        }
    }

    #[test]
    fn contract_names_match_serde_and_parse_back() {
        names_agree(<PortState as strum::VariantArray>::VARIANTS);
        names_agree(<Reason as strum::VariantArray>::VARIANTS);
        names_agree(Proto::ALL);
        assert_eq!(PortState::OpenFiltered.as_str(), "open|filtered");
        assert_eq!(Reason::AdminProhibited.as_str(), "admin-prohibited");
        assert_eq!(ProbeMethod::Connect.as_str(), "connect");
        assert_eq!("T".parse::<Proto>(), Ok(Proto::Tcp));
        assert_eq!(
            "bogus".parse::<Reason>(),
            Err("unknown reason 'bogus'".to_owned())
        );
        assert_eq!(
            "opn".parse::<PortState>(),
            Err("unknown port state 'opn'".to_owned())
        );
    }
}
