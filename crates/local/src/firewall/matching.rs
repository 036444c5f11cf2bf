//! Evaluates one `match` against the modelled packet: yes, no, unknown, or a test on its origin.

use super::Packet;
use super::origin::Pred;
use super::rules::{Key, L4, Match, Needs, Op, Val};
use crate::model::{Family, Proto};
use ipnet::{IpNet, Ipv4Subnets, Ipv6Subnets};
use std::net::IpAddr;

/// The value of a condition for the modelled packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Truth {
    /// Holds.
    Yes,
    /// Does not hold.
    No,
    /// Cannot be decided; the text names the expression.
    Unknown(String),
    /// Holds exactly when the origin satisfies the predicate (negated when `holds` is false).
    Origin {
        /// The test on the origin.
        pred: Pred,
        /// Whether the condition is the test itself (true) or its negation (false).
        holds: bool,
    },
}

impl Truth {
    fn from_bool(b: bool) -> Truth {
        if b { Truth::Yes } else { Truth::No }
    }
}

/// TCP flag bits by name.
const TCP_FLAGS: [(&str, u8); 8] = [
    ("fin", 0x01),
    ("syn", 0x02),
    ("rst", 0x04),
    ("psh", 0x08),
    ("ack", 0x10),
    ("urg", 0x20),
    ("ecn", 0x40),
    ("cwr", 0x80),
];

/// Evaluates `m` for `p`.
pub fn evaluate(m: &Match, p: &Packet) -> Truth {
    let unknown = || Truth::Unknown(m.text.clone());
    let membership = |member: Option<bool>| match (member, m.op) {
        (None, _) => unknown(),
        (Some(b), Op::Eq | Op::In) => Truth::from_bool(b),
        (Some(b), Op::Ne) => Truth::from_bool(!b),
        (Some(_), _) => unknown(),
    };
    match &m.key {
        Key::Dport(l4) => {
            if !transport_is(*l4, p.proto) {
                return Truth::No;
            }
            match (m.op, m.values.as_slice()) {
                (Op::Lt | Op::Gt | Op::Le | Op::Ge, [Val::Num(n)]) => {
                    let port = u64::from(p.dport);
                    Truth::from_bool(match m.op {
                        Op::Lt => port < *n,
                        Op::Gt => port > *n,
                        Op::Le => port <= *n,
                        _ => port >= *n,
                    })
                }
                _ => membership(port_in(&m.values, p.dport)),
            }
        }
        Key::Sport(l4) => {
            if transport_is(*l4, p.proto) {
                unknown()
            } else {
                Truth::No
            }
        }
        Key::L4Proto => membership(proto_in(&m.values, p.proto)),
        Key::IpProtocol if p.family == Family::V4 => membership(proto_in(&m.values, p.proto)),
        Key::Ip6Nexthdr if p.family == Family::V6 => membership(proto_in(&m.values, p.proto)),
        Key::IpProtocol | Key::Ip6Nexthdr => Truth::No,
        Key::NfProto => {
            let (name, number) = match p.family {
                Family::V4 => ("ipv4", 2),
                Family::V6 => ("ipv6", 10),
            };
            membership(word_in(&m.values, name, Some(number)))
        }
        Key::MetaProtocol => {
            let (name, number) = match p.family {
                Family::V4 => ("ip", 0x0800),
                Family::V6 => ("ip6", 0x86dd),
            };
            membership(word_in(&m.values, name, Some(number)))
        }
        Key::CtState => membership(ct_state_new(&m.values)),
        Key::CtDirection => membership(word_in(&m.values, "original", Some(0))),
        Key::Pkttype => membership(word_in(&m.values, "host", Some(0))),
        Key::FibDaddrType => membership(word_in(&m.values, "local", None)),
        Key::FibSaddrType => membership(word_in(&m.values, "unicast", None)),
        Key::Saddr(family) => {
            if *family != p.family {
                return Truth::No;
            }
            match (nets(&m.values), m.op) {
                (Some(nets), Op::Eq | Op::In) => Truth::Origin {
                    pred: Pred::Source(nets),
                    holds: true,
                },
                (Some(nets), Op::Ne) => Truth::Origin {
                    pred: Pred::Source(nets),
                    holds: false,
                },
                _ => unknown(),
            }
        }
        Key::Daddr(family) => {
            if *family != p.family {
                return Truth::No;
            }
            let Some(nets) = nets(&m.values) else {
                return unknown();
            };
            let member = match p.daddr {
                Some(addr) => Some(nets.iter().any(|n| n.contains(&addr))),
                None => nets.iter().all(never_local_unicast).then_some(false),
            };
            membership(member)
        }
        Key::Iifname | Key::Iif => interface(m),
        Key::TcpFlags(mask) => {
            if p.proto != Proto::Tcp {
                return Truth::No;
            }
            membership(tcp_flags(mask.as_deref(), &m.values, m.op))
        }
        Key::Other(needs) => {
            let met = match needs {
                Needs::Nothing => true,
                Needs::Family(f) => *f == p.family,
                Needs::Transport(l4) => transport_is(*l4, p.proto),
            };
            if met { unknown() } else { Truth::No }
        }
    }
}

fn transport_is(l4: L4, proto: Proto) -> bool {
    matches!(
        (l4, proto),
        (L4::Any, _) | (L4::Tcp, Proto::Tcp) | (L4::Udp, Proto::Udp)
    )
}

/// Whether `port` is among the values; `None` when a value is not a port.
fn port_in(values: &[Val], port: u16) -> Option<bool> {
    let port = u64::from(port);
    let mut found = false;
    for v in values {
        found |= match v {
            Val::Num(n) => *n == port,
            Val::Str(s) => s.parse::<u64>().ok()? == port,
            Val::Range(lo, hi) => match (lo.as_ref(), hi.as_ref()) {
                (Val::Num(lo), Val::Num(hi)) => (*lo..=*hi).contains(&port),
                _ => return None,
            },
            _ => return None,
        };
    }
    Some(found)
}

/// Whether the packet's transport is among the values (names or IP protocol numbers).
fn proto_in(values: &[Val], proto: Proto) -> Option<bool> {
    let number: u64 = match proto {
        Proto::Tcp => 6,
        Proto::Udp => 17,
    };
    let mut found = false;
    for v in values {
        found |= match v {
            Val::Num(n) => *n == number,
            Val::Str(s) => s == proto.as_str(),
            Val::Range(lo, hi) => match (lo.as_ref(), hi.as_ref()) {
                (Val::Num(lo), Val::Num(hi)) => (*lo..=*hi).contains(&number),
                _ => return None,
            },
            _ => return None,
        };
    }
    Some(found)
}

/// Whether `word` (or its number) is among the values; `None` for a number when the key has none.
fn word_in(values: &[Val], word: &str, number: Option<u64>) -> Option<bool> {
    let mut found = false;
    for v in values {
        found |= match v {
            Val::Str(s) => s == word,
            Val::Num(n) => *n == number?,
            _ => return None,
        };
    }
    Some(found)
}

/// Whether `new` is among the ct states (names, or the kernel's bit 8).
fn ct_state_new(values: &[Val]) -> Option<bool> {
    let mut found = false;
    for v in values {
        found |= match v {
            Val::Str(s) => s == "new",
            Val::Num(n) => n & 8 != 0,
            _ => return None,
        };
    }
    Some(found)
}

/// Addresses, prefixes and address ranges as networks; `None` if a value is none of these.
fn nets(values: &[Val]) -> Option<Vec<IpNet>> {
    let mut out = Vec::new();
    for v in values {
        match v {
            Val::Str(s) => out.push(IpNet::from(s.parse::<IpAddr>().ok()?)),
            Val::Prefix(addr, len) => out.push(IpNet::new(*addr, *len).ok()?.trunc()),
            Val::Range(lo, hi) => {
                let (Val::Str(lo), Val::Str(hi)) = (lo.as_ref(), hi.as_ref()) else {
                    return None;
                };
                match (lo.parse::<IpAddr>().ok()?, hi.parse::<IpAddr>().ok()?) {
                    (IpAddr::V4(a), IpAddr::V4(b)) => {
                        out.extend(Ipv4Subnets::new(a, b, 0).map(IpNet::V4));
                    }
                    (IpAddr::V6(a), IpAddr::V6(b)) => {
                        out.extend(Ipv6Subnets::new(a, b, 0).map(IpNet::V6));
                    }
                    _ => return None,
                }
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Whether no address of `net` can be a local unicast destination of a packet from outside
/// (multicast, broadcast, loopback, unspecified).
fn never_local_unicast(net: &IpNet) -> bool {
    const NEVER: [&str; 7] = [
        "224.0.0.0/4",
        "255.255.255.255/32",
        "127.0.0.0/8",
        "0.0.0.0/8",
        "ff00::/8",
        "::1/128",
        "::/128",
    ];
    NEVER
        .iter()
        .filter_map(|n| n.parse::<IpNet>().ok())
        .any(|never| never.contains(net))
}

/// `iifname`/`iif`: the packet does not come from `lo`; any other name is a test on the origin.
fn interface(m: &Match) -> Truth {
    let mut names = Vec::new();
    for v in &m.values {
        match v {
            Val::Str(s) if s == "lo" => {}
            Val::Str(s) => names.push(s.clone()),
            _ => return Truth::Unknown(m.text.clone()),
        }
    }
    match (names.is_empty(), m.op) {
        (true, Op::Eq | Op::In) => Truth::No,
        (true, Op::Ne) => Truth::Yes,
        (false, Op::Eq | Op::In) => Truth::Origin {
            pred: Pred::Iface(names),
            holds: true,
        },
        (false, Op::Ne) => Truth::Origin {
            pred: Pred::Iface(names),
            holds: false,
        },
        _ => Truth::Unknown(m.text.clone()),
    }
}

/// `tcp flags [& mask] OP values` for a SYN; membership as [`Op::Eq`]/[`Op::In`] define it.
fn tcp_flags(mask: Option<&[String]>, values: &[Val], op: Op) -> Option<bool> {
    let bits = |names: &[String]| -> Option<u8> {
        names.iter().try_fold(0u8, |acc, name| {
            TCP_FLAGS
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, b)| acc | b)
        })
    };
    let mask = match mask {
        Some(m) => bits(m)?,
        None => 0xff,
    };
    let seen = 0x02 & mask;
    let mut found = false;
    for v in values {
        let Val::Flags(names) = v else {
            return None;
        };
        let want = bits(names)?;
        found |= match op {
            Op::In => seen & want != 0,
            _ => seen == want,
        };
    }
    Some(found)
}
