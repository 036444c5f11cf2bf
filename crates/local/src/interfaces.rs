//! Which interface holds an address, and whether an address is private.

use crate::model::Exposure;
use std::net::IpAddr;

/// One address of one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddr {
    /// Interface name (`eth0`).
    pub name: String,
    /// The address.
    pub addr: IpAddr,
}

/// The addresses of this machine's interfaces (in the current network namespace).
pub fn load() -> Vec<InterfaceAddr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addrs
        .filter_map(|ifa| {
            let storage = ifa.address?;
            let addr = if let Some(v4) = storage.as_sockaddr_in() {
                IpAddr::V4(v4.ip())
            } else {
                IpAddr::V6(storage.as_sockaddr_in6()?.ip())
            };
            Some(InterfaceAddr {
                name: ifa.interface_name,
                addr,
            })
        })
        .collect()
}

pub use portwatch_kb::unmap;

/// Every address of this machine's interfaces (in the current network namespace), loopback
/// included, without repeats.
pub fn interface_addresses() -> Vec<IpAddr> {
    let mut all: Vec<IpAddr> = load().into_iter().map(|i| i.addr).collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// The exposure of a socket bound to `addr`, given the machine's interface addresses: the
/// wildcard address is every interface, any other address is classed by the knowledge base
/// ([`portwatch_kb::Exposure::of`], which reads `::ffff:a.b.c.d` as `a.b.c.d`).
pub fn exposure(addr: IpAddr, interfaces: &[InterfaceAddr]) -> Exposure {
    let addr = unmap(addr);
    if addr.is_unspecified() {
        return Exposure::AllInterfaces;
    }
    let private = match portwatch_kb::Exposure::of(addr) {
        portwatch_kb::Exposure::Loopback => return Exposure::Loopback,
        portwatch_kb::Exposure::Lan => true,
        portwatch_kb::Exposure::Internet => false,
    };
    Exposure::Interface {
        name: interfaces
            .iter()
            .find(|i| i.addr == addr)
            .map(|i| i.name.clone()),
        private,
    }
}

/// Whether an address is private: the knowledge base's rule ([`portwatch_kb::is_private`]).
pub use portwatch_kb::is_private;

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_ranges() {
        for a in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.1.1",
            "fd12::1",
            "fc00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(ip(a)), "{a} is private");
        }
        for a in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "100.63.255.255",
            "2001:db8::1",
            "fec0::1",
        ] {
            assert!(!is_private(ip(a)), "{a} is public");
        }
    }

    #[test]
    fn exposure_by_address() {
        let ifaces = vec![InterfaceAddr {
            name: "eth0".into(),
            addr: ip("192.168.1.5"),
        }];
        assert_eq!(exposure(ip("0.0.0.0"), &ifaces), Exposure::AllInterfaces);
        assert_eq!(exposure(ip("::"), &ifaces), Exposure::AllInterfaces);
        assert_eq!(exposure(ip("127.0.0.53"), &ifaces), Exposure::Loopback);
        assert_eq!(
            exposure(ip("::ffff:127.0.0.1"), &ifaces),
            Exposure::Loopback
        );
        assert_eq!(exposure(ip("::1"), &ifaces), Exposure::Loopback);
        assert_eq!(
            exposure(ip("::ffff:192.168.1.5"), &ifaces),
            Exposure::Interface {
                name: Some("eth0".into()),
                private: true
            }
        );
        assert_eq!(
            exposure(ip("198.51.100.7"), &ifaces),
            Exposure::Interface {
                name: None,
                private: false
            }
        );
    }

    #[test]
    fn loads_loopback_interface() {
        let all = load();
        assert!(all.iter().any(|i| i.addr == ip("127.0.0.1")), "{all:?}");
    }
}
