//! The IANA Service Name and Transport Protocol Port Number Registry, compiled in.
//!
//! The data is `data/iana-ports.tsv` (see `data/NOTICE.md`), embedded with `include_str!` and
//! parsed once, on first use, into a vector sorted by (port, transport). Parsing the ~11,500 rows
//! takes about a millisecond. DCCP rows are kept in the file but skipped here: portwatch has no
//! DCCP transport.

use std::sync::OnceLock;

use serde::Serialize;

use crate::transport::Transport;

const IANA_TSV: &str = include_str!("../data/iana-ports.tsv");

/// One IANA assignment: a service name for a port on one transport.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistryEntry {
    /// The port number.
    pub port: u16,
    /// The transport the assignment is for.
    pub transport: Transport,
    /// The IANA service name (e.g. `netbios-ssn`).
    pub name: &'static str,
    /// IANA's short description (may be empty).
    pub description: &'static str,
}

/// The assignment for `port` on `transport`, if IANA has one.
pub fn lookup(port: u16, transport: Transport) -> Option<&'static RegistryEntry> {
    let entries = all();
    entries
        .binary_search_by_key(&(port, transport), |e| (e.port, e.transport))
        .ok()
        .and_then(|index| entries.get(index))
}

/// Every assignment for `port`, on any transport, in transport order (tcp, udp, sctp).
pub fn entries_for_port(port: u16) -> Vec<&'static RegistryEntry> {
    let entries = all();
    let start = entries.partition_point(|e| e.port < port);
    entries[start..]
        .iter()
        .take_while(|e| e.port == port)
        .collect()
}

/// Every assignment whose service name equals `name`, ignoring letter case, in port order.
pub fn entries_named(name: &str) -> Vec<&'static RegistryEntry> {
    let name = name.trim();
    all()
        .iter()
        .filter(|e| e.name.eq_ignore_ascii_case(name))
        .collect()
}

/// All assignments, sorted by (port, transport).
pub fn all() -> &'static [RegistryEntry] {
    static ENTRIES: OnceLock<Vec<RegistryEntry>> = OnceLock::new();
    ENTRIES.get_or_init(|| parse(IANA_TSV).0)
}

/// Parses the TSV text: the entries (sorted) and a description of every line that was malformed.
pub(crate) fn parse(text: &'static str) -> (Vec<RegistryEntry>, Vec<String>) {
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        match parse_line(line) {
            Ok(Some(entry)) => entries.push(entry),
            Ok(None) => {}
            Err(why) => problems.push(format!("iana-ports.tsv line {}: {why}", index + 1)),
        }
    }
    entries.sort_by_key(|e| (e.port, e.transport));
    (entries, problems)
}

/// One TSV line: `Ok(None)` for comments, blank lines and DCCP rows.
fn parse_line(line: &'static str) -> Result<Option<RegistryEntry>, String> {
    if line.trim().is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let mut fields = line.splitn(4, '\t');
    let (Some(port), Some(transport), Some(name), Some(description)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err("expected 4 tab-separated fields".to_owned());
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("port {port:?} is not a number in 0-65535"))?;
    if transport == "dccp" {
        return Ok(None);
    }
    let transport: Transport = transport.parse().map_err(|e| format!("{e}"))?;
    if name.is_empty() {
        return Err("empty service name".to_owned());
    }
    Ok(Some(RegistryEntry {
        port,
        transport,
        name,
        description,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_data_parses_without_problems() {
        let (entries, problems) = parse(IANA_TSV);
        assert!(problems.is_empty(), "{problems:#?}");
        assert!(entries.len() > 11_000, "only {} entries", entries.len());
    }

    #[test]
    fn no_duplicate_port_transport_pairs() {
        let entries = all();
        for pair in entries.windows(2) {
            assert!(
                (pair[0].port, pair[0].transport) < (pair[1].port, pair[1].transport),
                "{pair:?}"
            );
        }
    }

    #[test]
    fn well_known_assignments() {
        let ssn = lookup(139, Transport::Tcp).unwrap();
        assert_eq!(ssn.name, "netbios-ssn");
        assert_eq!(lookup(137, Transport::Udp).unwrap().name, "netbios-ns");
        assert_eq!(lookup(138, Transport::Udp).unwrap().name, "netbios-dgm");
        assert_eq!(lookup(445, Transport::Tcp).unwrap().name, "microsoft-ds");
        assert_eq!(lookup(22, Transport::Tcp).unwrap().name, "ssh");
        assert_eq!(lookup(6379, Transport::Tcp).unwrap().name, "redis");
        assert_eq!(lookup(9, Transport::Sctp).unwrap().name, "discard");
        assert!(lookup(4, Transport::Tcp).is_none());
        assert!(lookup(65535, Transport::Tcp).is_none());
    }

    #[test]
    fn entries_for_port_lists_every_transport_in_order() {
        let transports: Vec<_> = entries_for_port(9).iter().map(|e| e.transport).collect();
        assert_eq!(
            transports,
            [Transport::Tcp, Transport::Udp, Transport::Sctp]
        );
        assert!(entries_for_port(4).is_empty());
        assert!(entries_for_port(0).is_empty());
    }

    #[test]
    fn entries_named_ignores_case() {
        let ports: Vec<_> = entries_named("SSH").iter().map(|e| e.port).collect();
        assert!(ports.contains(&22));
    }

    #[test]
    fn malformed_lines_are_reported() {
        let (entries, problems) = parse("1\ttcp\n70000\ttcp\tx\ty\n7\tquic\tx\ty\n5\tdccp\tx\ty\n");
        assert!(entries.is_empty());
        assert_eq!(problems.len(), 3, "{problems:?}");
    }
}
