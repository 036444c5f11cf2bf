//! UDP service probes: a payload that makes an open service answer, and a
//! parser per service that turns the answer into a typed value.
//!
//! A UDP port is only `open` when something answers; [`probe_for`] gives the
//! datagram to send and [`parse_answer`] proves (or not) that the answer came
//! from the expected service. Where the protocol has an id, the probe carries
//! the caller's id and [`UdpAnswer::id`] returns it, so the scanner can match
//! answers to probes.

pub mod ber;
pub mod coap;
pub mod dns;
pub mod ike;
pub mod memcached;
pub mod mssql;
pub mod natpmp;
pub mod ntp;
pub mod quic;
pub mod rip;
pub mod rmcp;
pub mod simple;
pub mod sip;
pub mod snmp;
pub mod ssdp;
pub mod stun;
pub mod sunrpc;
pub mod tftp;
pub mod ubiquiti;
pub mod wsdiscovery;

use crate::error::{ProtoError, Result};
use crate::netbios::nbstat::{self, NodeStatus};

/// Id used by [`probe_for`] when the caller does not supply one.
pub const DEFAULT_ID: u64 = 0x7077;

/// Ports with a probe, and the service name [`parse_answer`] expects for each.
pub const SERVICES: &[(u16, &str)] = &[
    (7, "echo"),
    (13, "daytime"),
    (17, "qotd"),
    (19, "chargen"),
    (37, "time"),
    (53, "domain"),
    (69, "tftp"),
    (111, "rpcbind"),
    (123, "ntp"),
    (137, "netbios-ns"),
    (161, "snmp"),
    (443, "quic"),
    (500, "isakmp"),
    (520, "rip"),
    (623, "asf-rmcp"),
    (1434, "ms-sql-m"),
    (1900, "ssdp"),
    (2049, "nfs"),
    (3478, "stun"),
    (3702, "ws-discovery"),
    (4500, "ipsec-nat-t"),
    (5060, "sip"),
    (5351, "nat-pmp"),
    (5353, "mdns"),
    (5355, "llmnr"),
    (5683, "coap"),
    (10001, "ubiquiti"),
    (11211, "memcache"),
];

/// A datagram to send to a UDP port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpProbe {
    /// Service name, to pass to [`parse_answer`].
    pub service: &'static str,
    /// The datagram.
    pub payload: Vec<u8>,
    /// The id the payload carries (truncated to the protocol's field), if any.
    pub id: Option<u64>,
}

impl UdpProbe {
    /// Whether `answer` carries this probe's id (true when either side has none).
    pub fn matches(&self, answer: &UdpAnswer) -> bool {
        match (self.id, answer.id()) {
            (Some(sent), Some(got)) => sent == got,
            _ => true,
        }
    }
}

/// The probe for `port` with [`DEFAULT_ID`]; `None` when no probe exists
/// (138/udp NetBIOS datagram has none: report it open|filtered).
pub fn probe_for(port: u16) -> Option<UdpProbe> {
    probe_for_with_id(port, DEFAULT_ID)
}

/// The probe for `port` carrying `id` where the protocol has an id field.
pub fn probe_for_with_id(port: u16, id: u64) -> Option<UdpProbe> {
    let service = SERVICES.iter().find(|(p, _)| *p == port)?.1;
    let id16 = id as u16;
    let id32 = id as u32;
    let (payload, sent): (Vec<u8>, Option<u64>) = match port {
        7 => (simple::echo_request(id32), None),
        13 | 17 | 19 | 37 => (simple::any_request(), None),
        53 => (dns::version_bind_query(id16), Some(u64::from(id16))),
        69 => (tftp::read_request(id32), None),
        111 => (
            sunrpc::null_call(id32, sunrpc::PROG_PORTMAPPER, 2),
            Some(u64::from(id32)),
        ),
        123 => (ntp::client_request(id), Some(id)),
        137 => (nbstat::node_status_request(id16), Some(u64::from(id16))),
        161 => {
            let rid = id32 & 0x7fff_ffff;
            (
                snmp::get_request(
                    snmp::SnmpVersion::V2c,
                    "public",
                    rid as i32,
                    &snmp::SYS_DESCR,
                ),
                Some(u64::from(rid)),
            )
        }
        443 => (quic::version_probe(id), Some(id)),
        500 => (ike::v1_main_mode(id), Some(id)),
        520 => (rip::table_request(), None),
        623 => (rmcp::presence_ping(id as u8), Some(u64::from(id as u8))),
        1434 => (mssql::instances_request(), None),
        1900 => (ssdp::m_search(), None),
        2049 => (
            sunrpc::null_call(id32, sunrpc::PROG_NFS, 3),
            Some(u64::from(id32)),
        ),
        3478 => (stun::binding_request(id), Some(id)),
        3702 => (wsdiscovery::probe(id32), Some(u64::from(id32))),
        4500 => {
            let mut p = vec![0, 0, 0, 0];
            p.extend_from_slice(&ike::v1_main_mode(id));
            (p, Some(id))
        }
        5060 => (sip::options_request(id32), Some(u64::from(id32))),
        5351 => (natpmp::external_address_request(), None),
        5353 => (dns::mdns_services_query(id16), Some(u64::from(id16))),
        5355 => (dns::llmnr_query(id16, "localhost"), Some(u64::from(id16))),
        5683 => (coap::well_known_core(id16), Some(u64::from(id16))),
        10001 => (ubiquiti::discovery_request(), None),
        11211 => (memcached::stats_request(id16), Some(u64::from(id16))),
        _ => return None,
    };
    Some(UdpProbe {
        service,
        payload,
        id: sent,
    })
}

/// A typed answer from a UDP service.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum UdpAnswer {
    /// NetBIOS name service node status (137).
    NetbiosNs(NodeStatus),
    /// DNS (53).
    Dns(dns::DnsMessage),
    /// Multicast DNS (5353).
    Mdns(dns::DnsMessage),
    /// LLMNR (5355).
    Llmnr(dns::DnsMessage),
    /// NTP (123).
    Ntp(ntp::NtpAnswer),
    /// SNMP (161).
    Snmp(snmp::SnmpAnswer),
    /// SSDP (1900).
    Ssdp(ssdp::SsdpAnswer),
    /// TFTP (69).
    Tftp(tftp::TftpAnswer),
    /// ONC RPC portmapper (111) or NFS (2049).
    Rpc {
        /// "rpcbind" or "nfs".
        #[cfg_attr(
            feature = "serde",
            serde(deserialize_with = "crate::serde_static::deserialize")
        )]
        service: crate::Label,
        /// The reply.
        reply: sunrpc::RpcReply,
    },
    /// SQL Server browser (1434).
    MssqlBrowser(mssql::MssqlBrowserAnswer),
    /// SIP (5060).
    Sip(sip::SipAnswer),
    /// IKE (500, 4500).
    Ike(ike::IkeAnswer),
    /// memcached (11211).
    Memcached(memcached::MemcachedAnswer),
    /// CoAP (5683).
    Coap(coap::CoapAnswer),
    /// WS-Discovery (3702).
    WsDiscovery(wsdiscovery::WsDiscoveryAnswer),
    /// NAT-PMP / PCP (5351).
    NatPmp(natpmp::NatPmpAnswer),
    /// STUN (3478).
    Stun(stun::StunAnswer),
    /// Ubiquiti discovery (10001).
    Ubiquiti(ubiquiti::UbiquitiAnswer),
    /// RIP (520).
    Rip(rip::RipAnswer),
    /// RMCP/ASF presence pong (623).
    Rmcp(rmcp::RmcpPong),
    /// QUIC version negotiation (443).
    Quic(quic::QuicVersions),
    /// echo, daytime, qotd, chargen.
    Text(simple::TextAnswer),
    /// time (37).
    Time(simple::TimeAnswer),
}

/// Parses `bytes` as the answer of `service` (a name from [`SERVICES`]).
pub fn parse_answer(service: &str, bytes: &[u8]) -> Result<UdpAnswer> {
    Ok(match service {
        "netbios-ns" => UdpAnswer::NetbiosNs(NodeStatus::parse(bytes)?),
        "domain" => UdpAnswer::Dns(dns::DnsMessage::parse(bytes)?),
        "mdns" => UdpAnswer::Mdns(dns::DnsMessage::parse(bytes)?),
        "llmnr" => UdpAnswer::Llmnr(dns::DnsMessage::parse(bytes)?),
        "ntp" => UdpAnswer::Ntp(ntp::NtpAnswer::parse(bytes)?),
        "snmp" => UdpAnswer::Snmp(snmp::SnmpAnswer::parse(bytes)?),
        "ssdp" => UdpAnswer::Ssdp(ssdp::SsdpAnswer::parse(bytes)?),
        "tftp" => UdpAnswer::Tftp(tftp::TftpAnswer::parse(bytes)?),
        "rpcbind" => UdpAnswer::Rpc {
            service: "rpcbind",
            reply: sunrpc::RpcReply::parse(bytes)?,
        },
        "nfs" => UdpAnswer::Rpc {
            service: "nfs",
            reply: sunrpc::RpcReply::parse(bytes)?,
        },
        "ms-sql-m" => UdpAnswer::MssqlBrowser(mssql::MssqlBrowserAnswer::parse(bytes)?),
        "sip" => UdpAnswer::Sip(sip::SipAnswer::parse(bytes)?),
        "isakmp" => UdpAnswer::Ike(ike::IkeAnswer::parse(bytes)?),
        "ipsec-nat-t" => UdpAnswer::Ike(ike::IkeAnswer::parse_nat_t(bytes)?),
        "memcache" => UdpAnswer::Memcached(memcached::MemcachedAnswer::parse(bytes)?),
        "coap" => UdpAnswer::Coap(coap::CoapAnswer::parse(bytes)?),
        "ws-discovery" => UdpAnswer::WsDiscovery(wsdiscovery::WsDiscoveryAnswer::parse(bytes)?),
        "nat-pmp" => UdpAnswer::NatPmp(natpmp::NatPmpAnswer::parse(bytes)?),
        "stun" => UdpAnswer::Stun(stun::StunAnswer::parse(bytes)?),
        "ubiquiti" => UdpAnswer::Ubiquiti(ubiquiti::UbiquitiAnswer::parse(bytes)?),
        "rip" => UdpAnswer::Rip(rip::RipAnswer::parse(bytes)?),
        "asf-rmcp" => UdpAnswer::Rmcp(rmcp::RmcpPong::parse(bytes)?),
        "quic" => UdpAnswer::Quic(quic::QuicVersions::parse(bytes)?),
        "time" => UdpAnswer::Time(simple::TimeAnswer::parse(bytes)?),
        "echo" => UdpAnswer::Text(simple::TextAnswer::parse("echo", bytes)?),
        "daytime" => UdpAnswer::Text(simple::TextAnswer::parse("daytime", bytes)?),
        "qotd" => UdpAnswer::Text(simple::TextAnswer::parse("qotd", bytes)?),
        "chargen" => UdpAnswer::Text(simple::TextAnswer::parse("chargen", bytes)?),
        other => {
            return Err(ProtoError::UnknownService(crate::text::clean_str(
                other, 64,
            )));
        }
    })
}

impl UdpAnswer {
    /// The id the answer echoes, in the same form as [`UdpProbe::id`].
    pub fn id(&self) -> Option<u64> {
        match self {
            Self::NetbiosNs(s) => Some(u64::from(s.transaction_id)),
            Self::Dns(m) | Self::Mdns(m) | Self::Llmnr(m) => Some(u64::from(m.id)),
            Self::Ntp(a) => Some(a.origin),
            Self::Snmp(a) => u64::try_from(a.request_id).ok(),
            Self::Rpc { reply, .. } => Some(u64::from(reply.xid)),
            Self::Sip(a) => a.id().map(u64::from),
            Self::Ike(a) => Some(a.initiator_spi),
            Self::Memcached(a) => Some(u64::from(a.request_id)),
            Self::Coap(a) => Some(u64::from(a.message_id)),
            Self::WsDiscovery(a) => a
                .relates_to
                .as_deref()
                .and_then(|r| r.strip_prefix("urn:uuid:"))
                .and_then(|r| r.get(..8))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .map(u64::from),
            Self::Stun(a) => a.id,
            Self::Rmcp(p) => Some(u64::from(p.tag)),
            Self::Quic(q) => q.id,
            Self::Ssdp(_)
            | Self::Tftp(_)
            | Self::MssqlBrowser(_)
            | Self::NatPmp(_)
            | Self::Ubiquiti(_)
            | Self::Rip(_)
            | Self::Text(_)
            | Self::Time(_) => None,
        }
    }

    /// One readable line describing the answer.
    pub fn summary(&self) -> String {
        match self {
            Self::NetbiosNs(s) => format!("NetBIOS {}", s.summary()),
            Self::Dns(m) => dns_summary("DNS", m),
            Self::Mdns(m) => {
                let services = m.ptr_targets();
                if services.is_empty() {
                    format!("mDNS {}", m.flags.rcode_name())
                } else {
                    format!("mDNS services: {}", services.join(", "))
                }
            }
            Self::Llmnr(m) => format!(
                "LLMNR {} {}",
                m.flags.rcode_name(),
                m.addresses().join(", ")
            ),
            Self::Ntp(a) => a.summary(),
            Self::Snmp(a) => a.summary(),
            Self::Ssdp(a) => a.summary(),
            Self::Tftp(a) => a.summary(),
            Self::Rpc { service, reply } => format!("{service}: {}", reply.summary()),
            Self::MssqlBrowser(a) => a.summary(),
            Self::Sip(a) => a.summary(),
            Self::Ike(a) => a.summary(),
            Self::Memcached(a) => a.summary(),
            Self::Coap(a) => a.summary(),
            Self::WsDiscovery(a) => a.summary(),
            Self::NatPmp(a) => a.summary(),
            Self::Stun(a) => a.summary(),
            Self::Ubiquiti(a) => a.summary(),
            Self::Rip(a) => a.summary(),
            Self::Rmcp(a) => a.summary(),
            Self::Quic(a) => a.summary(),
            Self::Text(a) => a.summary(),
            Self::Time(a) => a.summary(),
        }
    }
}

fn dns_summary(label: &str, m: &dns::DnsMessage) -> String {
    let txt = m.txt_answers();
    if txt.is_empty() {
        format!("{label} {}", m.flags.rcode_name())
    } else {
        format!(
            "{label} {}, version.bind: {:?}",
            m.flags.rcode_name(),
            txt.join(" ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_port_has_a_probe_and_a_parser() {
        for &(port, service) in SERVICES {
            let probe = probe_for(port).unwrap_or_else(|| panic!("no probe for {port}"));
            assert_eq!(probe.service, service);
            assert!(!probe.payload.is_empty());
            // Every parser rejects or accepts empty input without panicking, and knows the name.
            assert!(!matches!(
                parse_answer(service, &[]),
                Err(ProtoError::UnknownService(_))
            ));
        }
        assert!(probe_for(138).is_none());
        assert!(probe_for(9).is_none());
        assert!(matches!(
            parse_answer("gopher", b"x"),
            Err(ProtoError::UnknownService(_))
        ));
    }

    #[test]
    fn ids_round_trip_through_answers() {
        let probe = probe_for_with_id(137, 0x1_5057).unwrap();
        assert_eq!(probe.id, Some(0x5057));
        assert_eq!(&probe.payload[..2], &[0x50, 0x57]);
        let snmp = probe_for_with_id(161, u64::MAX).unwrap();
        assert_eq!(snmp.id, Some(0x7fff_ffff));
    }
}
