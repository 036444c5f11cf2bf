//! The machine's own interfaces: which targets sit on a directly connected Ethernet subnet
//! (those are found by ARP, or by neighbour solicitation for IPv6), and which addresses are
//! this machine's own ([`LocalAddrs`], the one rule for "this machine" that discovery and the
//! TCP planner both use).

use ipnet::{Ipv4Net, Ipv6Net};
use nix::ifaddrs::getifaddrs;
use nix::net::if_::InterfaceFlags;
use nix::sys::socket::LinkAddr;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One IPv4 subnet on an Ethernet-like interface that does ARP.
#[derive(Debug, Clone)]
pub struct Lan {
    /// Interface name.
    pub name: String,
    /// The interface's link-layer address, as the destination of packet-socket sends.
    pub link: LinkAddr,
    /// Its MAC.
    pub mac: [u8; 6],
    /// Our address on the subnet (the ARP sender address).
    pub addr: Ipv4Addr,
    /// The subnet.
    pub net: Ipv4Net,
}

/// One IPv6 prefix on an Ethernet-like interface, where neighbour solicitation finds hosts.
/// Link-local prefixes are left out: their addresses mean nothing without an interface.
#[derive(Debug, Clone)]
pub struct Lan6 {
    /// Interface name.
    pub name: String,
    /// The interface's index (the scope of the solicited-node multicast address).
    pub ifindex: u32,
    /// Its MAC (the source link-layer option of our solicitations).
    pub mac: [u8; 6],
    /// The prefix.
    pub net: Ipv6Net,
}

/// What the interfaces say about the machine.
#[derive(Debug, Default)]
pub struct Interfaces {
    /// Subnets where ARP finds hosts.
    pub lans: Vec<Lan>,
    /// IPv6 prefixes where neighbour solicitation finds hosts.
    pub lans6: Vec<Lan6>,
    /// Addresses of this machine.
    pub local: LocalAddrs,
}

/// The addresses of this machine: loopback and whatever its interfaces carry.
#[derive(Debug, Clone, Default)]
pub struct LocalAddrs {
    addrs: HashSet<IpAddr>,
}

impl LocalAddrs {
    /// This machine's interface addresses now (only loopback if the system refuses to say).
    pub fn read() -> Self {
        Interfaces::read().local
    }

    /// The given interface addresses (and loopback, which is always local).
    pub fn new(addrs: impl IntoIterator<Item = IpAddr>) -> Self {
        LocalAddrs {
            addrs: addrs.into_iter().map(|a| a.to_canonical()).collect(),
        }
    }

    /// Whether `addr` is this machine: loopback (127.0.0.0/8, ::1), an interface address, or
    /// either of those written as an IPv4-mapped IPv6 address.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        addr.is_loopback() || self.addrs.contains(&addr)
    }
}

impl Interfaces {
    /// Reads the interfaces (an empty answer if the system refuses).
    pub fn read() -> Self {
        let Ok(all) = getifaddrs() else {
            return Interfaces::default();
        };
        let mut links: HashMap<String, LinkAddr> = HashMap::new();
        let mut nets: Vec<(String, InterfaceFlags, Ipv4Addr, Ipv4Net)> = Vec::new();
        let mut nets6: Vec<(String, InterfaceFlags, Ipv6Addr, Ipv6Net)> = Vec::new();
        let mut local = Vec::new();
        for ifa in all {
            let Some(address) = ifa.address else { continue };
            if let Some(link) = address.as_link_addr() {
                links.insert(ifa.interface_name.clone(), *link);
            } else if let Some(v4) = address.as_sockaddr_in() {
                let ip = v4.ip();
                local.push(IpAddr::V4(ip));
                let prefix = ifa
                    .netmask
                    .as_ref()
                    .and_then(|m| m.as_sockaddr_in())
                    .map_or(32, |m| u32::from(m.ip()).count_ones() as u8);
                if let Ok(net) = Ipv4Net::new(ip, prefix) {
                    nets.push((ifa.interface_name.clone(), ifa.flags, ip, net.trunc()));
                }
            } else if let Some(v6) = address.as_sockaddr_in6() {
                let ip = v6.ip();
                local.push(IpAddr::V6(ip));
                let prefix = ifa
                    .netmask
                    .as_ref()
                    .and_then(|m| m.as_sockaddr_in6())
                    .map_or(128, |m| u128::from(m.ip()).count_ones() as u8);
                let link_local = ip.segments()[0] & 0xffc0 == 0xfe80;
                if let (false, Ok(net)) = (link_local, Ipv6Net::new(ip, prefix)) {
                    nets6.push((ifa.interface_name.clone(), ifa.flags, ip, net.trunc()));
                }
            }
        }
        let arp_capable = |f: InterfaceFlags| {
            f.contains(InterfaceFlags::IFF_UP)
                && !f.intersects(
                    InterfaceFlags::IFF_LOOPBACK
                        | InterfaceFlags::IFF_NOARP
                        | InterfaceFlags::IFF_POINTOPOINT,
                )
        };
        let lans = nets
            .into_iter()
            .filter(|(_, flags, _, net)| arp_capable(*flags) && net.prefix_len() < 31)
            .filter_map(|(name, _, addr, net)| {
                let link = *links.get(&name)?;
                let mac = link.addr()?;
                (mac != [0; 6]).then_some(Lan {
                    name,
                    link,
                    mac,
                    addr,
                    net,
                })
            })
            .collect();
        let lans6 = nets6
            .into_iter()
            .filter(|(_, flags, _, net)| arp_capable(*flags) && net.prefix_len() < 127)
            .filter_map(|(name, _, _, net)| {
                let link = links.get(&name)?;
                let mac = link.addr()?;
                (mac != [0; 6]).then_some(Lan6 {
                    ifindex: u32::try_from(link.ifindex()).ok()?,
                    name,
                    mac,
                    net,
                })
            })
            .collect();
        Interfaces {
            lans,
            lans6,
            local: LocalAddrs::new(local),
        }
    }

    /// The subnet on which `addr` is found by ARP, if it is directly connected (the most
    /// specific one wins).
    pub fn lan_of(&self, addr: IpAddr) -> Option<&Lan> {
        let IpAddr::V4(v4) = addr else { return None };
        self.lans
            .iter()
            .filter(|l| l.net.contains(&v4))
            .max_by_key(|l| l.net.prefix_len())
    }

    /// The IPv6 prefix on which `addr` is found by neighbour solicitation, if it is directly
    /// connected (the most specific one wins).
    pub fn lan6_of(&self, addr: IpAddr) -> Option<&Lan6> {
        let IpAddr::V6(v6) = addr else { return None };
        self.lans6
            .iter()
            .filter(|l| l.net.contains(&v6))
            .max_by_key(|l| l.net.prefix_len())
    }

    /// Whether `addr` is this machine ([`LocalAddrs::contains`]).
    pub fn is_local(&self, addr: IpAddr) -> bool {
        self.local.contains(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_interface_and_mapped_addresses_are_local() {
        let local = LocalAddrs::new([ip("192.0.2.7"), ip("2001:db8::7")]);
        for addr in [
            "127.0.0.1",
            "127.40.3.9",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:127.9.9.9",
            "192.0.2.7",
            "::ffff:192.0.2.7",
            "2001:db8::7",
        ] {
            assert!(local.contains(ip(addr)), "{addr}");
        }
        for addr in [
            "192.0.2.8",
            "10.234.1.2",
            "2001:db8::8",
            "::ffff:192.0.2.8",
            "::",
        ] {
            assert!(!local.contains(ip(addr)), "{addr}");
        }
    }

    #[test]
    fn a_mapped_interface_address_counts_as_its_ipv4_address() {
        let local = LocalAddrs::new([ip("::ffff:192.0.2.7")]);
        assert!(local.contains(ip("192.0.2.7")));
    }
}
