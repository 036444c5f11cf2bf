//! Port specifications: `22`, `1-1024`, `-`, `T:139,445,U:137,138`, service names, `--top N`.
//!
//! The one rule for transports: `T:` and `U:` choose the transport of the items after them. A
//! service name without a prefix means the service's own transports, from the knowledge base
//! (`snmp` is 161/udp, `netbios-ns` 137/udp and 137/tcp), whatever the scan's defaults. A bare
//! number means the scan's default transports ([`parse_port_spec`]); in a policy it means what
//! the knowledge base says the port is used for, and TCP when it knows nothing
//! ([`parse_policy_spec`]).

use crate::error::PortSpecError;
use crate::result::Proto;
use std::collections::BTreeSet;

/// Result alias for port lists.
type Result<T, E = PortSpecError> = std::result::Result<T, E>;

/// `ports` (in any order, repeats allowed) as `22,137-139,445`.
fn compact_ranges(ports: &[u16]) -> String {
    let set: BTreeSet<u16> = ports.iter().copied().collect();
    let mut runs: Vec<(u16, u16)> = Vec::new();
    for port in set {
        match runs.last_mut() {
            Some((_, end)) if end.checked_add(1) == Some(port) => *end = port,
            _ => runs.push((port, port)),
        }
    }
    runs.iter()
        .map(|&(start, end)| {
            if start == end {
                start.to_string()
            } else {
                format!("{start}-{end}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The ports to scan, per transport, sorted and without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortList {
    /// TCP ports.
    pub tcp: Vec<u16>,
    /// UDP ports.
    pub udp: Vec<u16>,
}

impl PortList {
    /// Total number of (port, transport) pairs.
    pub fn len(&self) -> usize {
        self.tcp.len() + self.udp.len()
    }

    /// Whether no port is selected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ports of one transport.
    pub fn of(&self, proto: Proto) -> &[u16] {
        match proto {
            Proto::Tcp => &self.tcp,
            Proto::Udp => &self.udp,
        }
    }

    /// The list as a compact spec that [`parse_port_spec`] reads back: `T:22,137-139,U:53`
    /// (empty when no port is selected).
    pub fn to_spec(&self) -> String {
        let mut parts = Vec::new();
        for (prefix, ports) in [("T", &self.tcp), ("U", &self.udp)] {
            if !ports.is_empty() {
                parts.push(format!("{prefix}:{}", compact_ranges(ports)));
            }
        }
        parts.join(",")
    }

    /// Union of two lists.
    pub fn union(&self, other: &PortList) -> PortList {
        let merge = |a: &[u16], b: &[u16]| {
            let set: BTreeSet<u16> = a.iter().chain(b).copied().collect();
            set.into_iter().collect()
        };
        PortList {
            tcp: merge(&self.tcp, &other.tcp),
            udp: merge(&self.udp, &other.udp),
        }
    }

    /// The most common ports of the given transports, from the knowledge base's ranking.
    pub fn top(n: usize, transports: &[Proto]) -> Result<PortList> {
        let mut list = PortList::default();
        for &proto in transports {
            let ports = portwatch_kb::top_ports(proto.transport(), n).map_err(|e| {
                PortSpecError::InvalidTop {
                    reason: e.to_string(),
                }
            })?;
            let mut ports: Vec<u16> = ports;
            ports.sort_unstable();
            ports.dedup();
            match proto {
                Proto::Tcp => list.tcp = ports,
                Proto::Udp => list.udp = ports,
            }
        }
        Ok(list)
    }
}

/// What a number without a `T:`/`U:` prefix stands for.
#[derive(Clone, Copy)]
enum Bare<'a> {
    /// The given transports (a scan's defaults).
    Protos(&'a [Proto]),
    /// The knowledge base's transports for the port, TCP when it has none (a policy).
    Knowledge,
}

/// Parses a port spec for a scan. Unprefixed numbers apply to `default_protos` (TCP unless the
/// user asked for UDP), unprefixed service names to the service's own transports; `T:` and
/// `U:` switch the transport for the items that follow them.
pub fn parse_port_spec(spec: &str, default_protos: &[Proto]) -> Result<PortList> {
    parse(spec, Bare::Protos(default_protos))
}

/// Parses a port spec in a policy (`must_be_closed`, `allowed_open`, `expected_open`): like
/// [`parse_port_spec`], but an unprefixed number means the transports the knowledge base says
/// the port is used for (137 is U:137 and T:137, 139 T:139, 161 U:161, 53 both), and TCP for a
/// port it knows nothing about.
pub fn parse_policy_spec(spec: &str) -> Result<PortList> {
    parse(spec, Bare::Knowledge)
}

/// The transports a bare number means in a policy (see [`parse_policy_spec`]).
pub fn policy_transports(port: u16) -> Vec<Proto> {
    let known: Vec<Proto> = portwatch_kb::port_transports(port)
        .into_iter()
        .filter_map(proto_of)
        .collect();
    if known.is_empty() {
        vec![Proto::Tcp]
    } else {
        known
    }
}

fn parse(spec: &str, bare: Bare<'_>) -> Result<PortList> {
    let mut tcp = BTreeSet::new();
    let mut udp = BTreeSet::new();
    let mut current: Option<Proto> = None;
    if spec.trim().is_empty() {
        return Err(invalid(spec, "empty port spec"));
    }
    for raw in spec.split(',') {
        let token = raw.trim();
        let item = match split_prefix(token)? {
            (Some(proto), rest) => {
                current = Some(proto);
                rest
            }
            (None, rest) => rest,
        };
        if item.is_empty() {
            return Err(invalid(
                token,
                "empty item (stray comma or prefix without ports?)",
            ));
        }
        for (port, proto) in parse_item(item, token, current, bare)? {
            match proto {
                Proto::Tcp => tcp.insert(port),
                Proto::Udp => udp.insert(port),
            };
        }
    }
    Ok(PortList {
        tcp: tcp.into_iter().collect(),
        udp: udp.into_iter().collect(),
    })
}

fn split_prefix(token: &str) -> Result<(Option<Proto>, &str)> {
    match token.split_once(':') {
        Some((prefix, rest)) => {
            let proto = match prefix.trim().to_ascii_uppercase().as_str() {
                "T" | "TCP" => Proto::Tcp,
                "U" | "UDP" => Proto::Udp,
                "S" | "SCTP" => {
                    return Err(invalid(token, "SCTP scanning is not supported"));
                }
                other => {
                    return Err(invalid(
                        token,
                        &format!("unknown protocol prefix '{other}:' (use T: or U:)"),
                    ));
                }
            };
            Ok((Some(proto), rest.trim()))
        }
        None => Ok((None, token)),
    }
}

fn parse_item(
    item: &str,
    token: &str,
    prefix: Option<Proto>,
    bare: Bare<'_>,
) -> Result<Vec<(u16, Proto)>> {
    let starts_numeric = item.starts_with(|c: char| c.is_ascii_digit() || c == '-');
    if !starts_numeric {
        return resolve_service(item, token, prefix);
    }
    let (lo, hi) = parse_range(item, token)?;
    let mut out = Vec::with_capacity(usize::from(hi - lo) + 1);
    for port in lo..=hi {
        match (prefix, bare) {
            (Some(proto), _) => out.push((port, proto)),
            (None, Bare::Protos(protos)) => out.extend(protos.iter().map(|&p| (port, p))),
            (None, Bare::Knowledge) => {
                out.extend(policy_transports(port).into_iter().map(|p| (port, p)));
            }
        }
    }
    Ok(out)
}

/// Parses `N`, `A-B`, `-B`, `A-` or `-` into an inclusive range of valid ports.
fn parse_range(item: &str, token: &str) -> Result<(u16, u16)> {
    let (lo, hi) = match item.split_once('-') {
        None => {
            let p = parse_port(item, token)?;
            (p, p)
        }
        Some((a, b)) => {
            let lo = if a.is_empty() {
                1
            } else {
                parse_port(a, token)?
            };
            let hi = if b.is_empty() {
                65535
            } else {
                parse_port(b, token)?
            };
            (lo, hi)
        }
    };
    if lo > hi {
        return Err(invalid(
            token,
            &format!("range {lo}-{hi} is reversed (write {hi}-{lo})"),
        ));
    }
    Ok((lo, hi))
}

fn parse_port(text: &str, token: &str) -> Result<u16> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(token, &format!("'{text}' is not a port number")));
    }
    let value: u64 = text
        .parse()
        .map_err(|_| invalid(token, &format!("port {text} is out of range 1-65535")))?;
    match value {
        0 => Err(invalid(
            token,
            "port 0 cannot be scanned (ports are 1-65535)",
        )),
        1..=65535 => Ok(value as u16),
        _ => Err(invalid(
            token,
            &format!("port {value} is out of range 1-65535"),
        )),
    }
}

/// A service name: with a prefix, its ports on that transport; without, the service's own
/// transports.
fn resolve_service(name: &str, token: &str, prefix: Option<Proto>) -> Result<Vec<(u16, Proto)>> {
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' || b == b'+')
    {
        return Err(invalid(token, "not a port, range or service name"));
    }
    let found = match prefix {
        Some(_) => portwatch_kb::resolve_name(name),
        None => portwatch_kb::service_ports(name),
    };
    if found.is_empty() {
        return Err(invalid(token, &format!("unknown service name '{name}'")));
    }
    let matching: Vec<(u16, Proto)> = found
        .iter()
        .filter_map(|&(port, transport)| Some((port, proto_of(transport)?)))
        .filter(|&(_, proto)| prefix.is_none_or(|p| p == proto))
        .collect();
    if matching.is_empty() {
        let wanted = prefix.map_or("TCP or UDP", |p| match p {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
        });
        return Err(invalid(
            token,
            &format!("service '{name}' has no {wanted} port"),
        ));
    }
    Ok(matching)
}

/// The scannable protocol for a knowledge-base transport (SCTP is not scanned).
fn proto_of(transport: portwatch_kb::Transport) -> Option<Proto> {
    match transport {
        portwatch_kb::Transport::Tcp => Some(Proto::Tcp),
        portwatch_kb::Transport::Udp => Some(Proto::Udp),
        portwatch_kb::Transport::Sctp => None,
    }
}

fn invalid(token: &str, reason: &str) -> PortSpecError {
    PortSpecError::InvalidPort {
        token: token.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_are_written_compactly() {
        let list = PortList {
            tcp: vec![445, 137, 138, 139, 22],
            udp: vec![53],
        };
        assert_eq!(list.to_spec(), "T:22,137-139,445,U:53");
        assert_eq!(PortList::default().to_spec(), "");
        let top = PortList {
            tcp: vec![65535, 65534],
            udp: vec![],
        };
        assert_eq!(top.to_spec(), "T:65534-65535");
    }

    use super::*;

    const TCP: &[Proto] = &[Proto::Tcp];

    #[test]
    fn single_and_ranges() {
        let l = parse_port_spec("22,80,1000-1002", TCP).unwrap();
        assert_eq!(l.tcp, vec![22, 80, 1000, 1001, 1002]);
        assert!(l.udp.is_empty());
    }

    #[test]
    fn all_ports_forms() {
        assert_eq!(parse_port_spec("-", TCP).unwrap().tcp.len(), 65535);
        assert_eq!(parse_port_spec("1-65535", TCP).unwrap().tcp.len(), 65535);
        assert_eq!(parse_port_spec("-100", TCP).unwrap().tcp.len(), 100);
        assert_eq!(parse_port_spec("65530-", TCP).unwrap().tcp.len(), 6);
    }

    #[test]
    fn prefixes_switch_transport() {
        let l = parse_port_spec("T:139,445,U:137,138", TCP).unwrap();
        assert_eq!(l.tcp, vec![139, 445]);
        assert_eq!(l.udp, vec![137, 138]);
        let l = parse_port_spec("T:137-139,445,U:137,138", TCP).unwrap();
        assert_eq!(l.tcp, vec![137, 138, 139, 445]);
    }

    #[test]
    fn default_protocols_apply_to_unprefixed() {
        let l = parse_port_spec("53", &[Proto::Tcp, Proto::Udp]).unwrap();
        assert_eq!(l.tcp, vec![53]);
        assert_eq!(l.udp, vec![53]);
    }

    #[test]
    fn bad_ports_name_the_token() {
        for (spec, needle) in [
            ("0", "port 0"),
            ("70000", "70000"),
            ("5-1", "reversed"),
            ("22,,80", "empty item"),
            ("X:22", "unknown protocol prefix"),
            ("abc$", "not a port"),
            ("99999999999999999999999", "out of range"),
            ("", "empty"),
        ] {
            let err = parse_port_spec(spec, TCP).unwrap_err().to_string();
            assert!(err.contains(needle), "{spec}: {err}");
        }
    }

    #[test]
    fn bare_service_names_mean_the_services_transports() {
        let snmp = parse_port_spec("snmp", TCP).unwrap();
        assert_eq!(
            (snmp.tcp.as_slice(), snmp.udp.as_slice()),
            (&[][..], &[161][..])
        );
        let ns = parse_port_spec("netbios-ns", TCP).unwrap();
        assert_eq!(ns.udp, vec![137]);
        let ssn = parse_port_spec("netbios-ssn", &[Proto::Udp]).unwrap();
        assert_eq!(
            (ssn.tcp.as_slice(), ssn.udp.as_slice()),
            (&[139][..], &[][..])
        );
        // A prefix still picks one transport of everything the name is known for.
        let t = parse_port_spec("T:snmp", TCP).unwrap();
        assert_eq!((t.tcp.as_slice(), t.udp.as_slice()), (&[161][..], &[][..]));
        assert_eq!(parse_port_spec("whois", TCP).unwrap().tcp, vec![43]);
        assert_eq!(parse_port_spec("x11", TCP).unwrap().tcp.len(), 64);
        let err = parse_port_spec("U:smb", TCP).unwrap_err().to_string();
        assert!(err.contains("has no UDP port"), "{err}");
    }

    #[test]
    fn bare_numbers_in_a_policy_mean_what_the_port_is_used_for() {
        let l = parse_policy_spec("137").unwrap();
        assert!(l.udp.contains(&137), "{l:?}");
        let l = parse_policy_spec("139").unwrap();
        assert_eq!((l.tcp.as_slice(), l.udp.as_slice()), (&[139][..], &[][..]));
        let l = parse_policy_spec("161").unwrap();
        assert_eq!((l.tcp.as_slice(), l.udp.as_slice()), (&[][..], &[161][..]));
        let l = parse_policy_spec("53").unwrap();
        assert_eq!((l.tcp.as_slice(), l.udp.as_slice()), (&[53][..], &[53][..]));
        // Nothing known: TCP, as before.
        assert_eq!(parse_policy_spec("41999").unwrap().tcp, vec![41999]);
        assert!(parse_policy_spec("41999").unwrap().udp.is_empty());
        // A prefix overrides the knowledge base; names mean their transports.
        assert_eq!(parse_policy_spec("T:137").unwrap().udp, Vec::<u16>::new());
        assert_eq!(parse_policy_spec("netbios-ns").unwrap().udp, vec![137]);
        // A scan's bare numbers keep the scan's defaults.
        assert_eq!(parse_port_spec("137", TCP).unwrap().udp, Vec::<u16>::new());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn list() -> impl Strategy<Value = PortList> {
            let ports = || proptest::collection::btree_set(1u16..=65535, 0..40);
            (ports(), ports()).prop_map(|(tcp, udp)| PortList {
                tcp: tcp.into_iter().collect(),
                udp: udp.into_iter().collect(),
            })
        }

        proptest! {
            #[test]
            fn specs_round_trip(list in list()) {
                prop_assume!(!list.is_empty());
                let spec = list.to_spec();
                prop_assert_eq!(&parse_port_spec(&spec, TCP).unwrap(), &list);
                prop_assert_eq!(&parse_port_spec(&spec, &[Proto::Udp]).unwrap(), &list);
                prop_assert_eq!(&parse_policy_spec(&spec).unwrap(), &list);
            }
        }
    }
}
