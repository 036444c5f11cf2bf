//! The one exposure model: from where an address can be reached (loopback, LAN, internet), and
//! which of a port's severities applies there.
//!
//! Every place that rates a port on an address (scan and check output, the monitor's
//! policy, the dashboard, the metrics, `portwatch local`) asks [`severity_at`] or
//! [`Exposure::of`] so the answer is the same everywhere.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::lookup::Risk;
use crate::severity::Severity;

/// From where a service on an address can be reached, ordered `Loopback < Lan < Internet`.
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
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Exposure {
    /// A loopback address: only this machine can connect.
    Loopback,
    /// A private, CGNAT, link-local or unique-local address: the local network.
    Lan,
    /// Any other address (the wildcard `0.0.0.0`/`::` included: it is every interface's
    /// address, so it is reachable wherever this machine's interfaces are).
    Internet,
}

impl Exposure {
    /// Every class, narrowest first.
    pub const ALL: &'static [Exposure] = <Exposure as strum::VariantArray>::VARIANTS;

    /// The class of `addr`. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are classed as the
    /// IPv4 address they stand for.
    pub fn of(addr: IpAddr) -> Exposure {
        let addr = unmap(addr);
        if addr.is_loopback() {
            Exposure::Loopback
        } else if is_private(addr) {
            Exposure::Lan
        } else {
            Exposure::Internet
        }
    }

    /// The lowercase name (`loopback`, `lan`, `internet`), as in JSON.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The label used in tables (`loopback`, `LAN`, `internet`).
    pub fn label(self) -> &'static str {
        match self {
            Exposure::Loopback => "loopback",
            Exposure::Lan => "LAN",
            Exposure::Internet => "internet",
        }
    }

    /// One sentence for people: who can reach it and how the risk is rated.
    pub fn describe(self) -> &'static str {
        match self {
            Exposure::Loopback => {
                "loopback (reachable from this machine only): no network exposure"
            }
            Exposure::Lan => {
                "LAN (private, link-local or unique-local address): risk is rated for the local network"
            }
            Exposure::Internet => "internet (public address): risk is rated for the internet",
        }
    }
}

impl fmt::Display for Exposure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Risk {
    /// The severity that applies at `exposure`: none on loopback, the LAN rating on the local
    /// network, the internet rating on the internet.
    pub fn at(&self, exposure: Exposure) -> Severity {
        match exposure {
            Exposure::Loopback => Severity::None,
            Exposure::Lan => self.lan,
            Exposure::Internet => self.internet,
        }
    }
}

/// The severity of `risk` for a service on `addr`, and the exposure class it was judged by.
pub fn severity_at(addr: IpAddr, risk: Risk) -> (Severity, Exposure) {
    let exposure = Exposure::of(addr);
    (risk.at(exposure), exposure)
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address it stands for.
pub fn unmap(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// Whether an address is only routable inside a site: RFC 1918, CGNAT (100.64/10), IPv4
/// link-local (169.254/16), IPv6 unique-local (fc00::/7) and link-local (fe80::/10), mapped
/// or not. Loopback is not private: it is its own class.
pub fn is_private(addr: IpAddr) -> bool {
    match unmap(addr) {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => is_private_v6(v6),
    }
}

fn is_private_v4(a: Ipv4Addr) -> bool {
    let [b0, b1, ..] = a.octets();
    a.is_private() || a.is_link_local() || (b0 == 100 && (64..128).contains(&b1))
}

fn is_private_v6(a: Ipv6Addr) -> bool {
    let first = a.segments()[0];
    (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> Exposure {
        Exposure::of(s.parse().unwrap())
    }

    #[test]
    fn loopback_is_its_own_class() {
        for a in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(class(a), Exposure::Loopback, "{a}");
        }
    }

    #[test]
    fn private_cgnat_link_local_and_ula_are_lan() {
        for a in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.1.1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
        ] {
            assert_eq!(class(a), Exposure::Lan, "{a}");
        }
    }

    #[test]
    fn mapped_addresses_are_classed_as_their_ipv4() {
        assert_eq!(class("::ffff:10.0.0.1"), Exposure::Lan);
        assert_eq!(class("::ffff:100.64.0.1"), Exposure::Lan);
        assert_eq!(class("::ffff:169.254.9.9"), Exposure::Lan);
        assert_eq!(class("::ffff:8.8.8.8"), Exposure::Internet);
    }

    #[test]
    fn everything_else_is_internet() {
        for a in [
            "8.8.8.8",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.255.0.1",
            "2001:db8::1",
            "fec0::1",
            "fe00::1",
            "0.0.0.0",
            "::",
        ] {
            assert_eq!(class(a), Exposure::Internet, "{a}");
        }
    }

    #[test]
    fn severity_follows_the_class() {
        let smb = Risk {
            lan: Severity::High,
            internet: Severity::Critical,
            page: true,
        };
        let at = |a: &str| severity_at(a.parse().unwrap(), smb);
        assert_eq!(at("127.0.0.1"), (Severity::None, Exposure::Loopback));
        assert_eq!(at("::ffff:127.0.0.1"), (Severity::None, Exposure::Loopback));
        assert_eq!(at("::1"), (Severity::None, Exposure::Loopback));
        assert_eq!(at("192.168.1.5"), (Severity::High, Exposure::Lan));
        assert_eq!(at("fd00::5"), (Severity::High, Exposure::Lan));
        assert_eq!(at("fe80::5"), (Severity::High, Exposure::Lan));
        assert_eq!(at("100.100.1.1"), (Severity::High, Exposure::Lan));
        assert_eq!(at("::ffff:192.168.1.5"), (Severity::High, Exposure::Lan));
        assert_eq!(at("203.0.113.7"), (Severity::Critical, Exposure::Internet));
        assert_eq!(at("0.0.0.0"), (Severity::Critical, Exposure::Internet));
    }

    #[test]
    fn loopback_is_described_as_this_machine_only_never_as_lan() {
        // The host page and every other place that says where a host is use this sentence.
        let lo = Exposure::of("127.0.0.1".parse().unwrap()).describe();
        assert!(lo.contains("reachable from this machine only"), "{lo}");
        assert!(!lo.contains("LAN") && !lo.contains("private"), "{lo}");
        assert!(!Exposure::Lan.describe().contains("loopback"));
    }

    #[test]
    fn names_round_trip_through_serde() {
        for &e in Exposure::ALL {
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(json, format!("\"{}\"", e.as_str()));
            assert_eq!(serde_json::from_str::<Exposure>(&json).unwrap(), e);
        }
    }
}
