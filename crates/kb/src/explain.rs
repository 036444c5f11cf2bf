//! `explain`: everything the knowledge base knows about one port, ready to render or serialize.

use serde::Serialize;

use crate::aliases::{self, Alias};
use crate::error::{KbError, Result};
use crate::lookup::{page_for, resolve_name, risk};
use crate::pages::{self, Page};
use crate::registry::{self, RegistryEntry};
use crate::severity::Severity;
use crate::transport::Transport;

/// What a port is: its IANA assignments, its risk pages and its risk per transport.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The port.
    pub port: u16,
    /// The transport asked about (`None`: every transport).
    pub transport: Option<Transport>,
    /// One sentence for people: what the port is, or that nothing is known about it.
    pub headline: String,
    /// Whether IANA has an assignment for the port (on the transport asked about).
    pub assigned: bool,
    /// The IANA assignments, in transport order.
    pub registry: Vec<&'static RegistryEntry>,
    /// The curated pages (two when TCP and UDP are different services).
    pub pages: Vec<&'static Page>,
    /// Common names and unofficial assignments for the port (`data/aliases.toml`).
    pub aliases: Vec<&'static Alias>,
    /// The risk on each transport considered.
    pub risks: Vec<TransportRisk>,
}

/// The risk of the port on one transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TransportRisk {
    /// The transport.
    pub transport: Transport,
    /// Severity when reachable only from the local network.
    pub lan: Severity,
    /// Severity when reachable from the internet.
    pub internet: Severity,
    /// Whether a page gave these values (false: defaults).
    pub page: bool,
}

/// Explains `port`, on one transport or on all of them.
///
/// An unassigned port is not an error: the explanation says so. Port 0 and values above 65535
/// are errors that name the value.
pub fn explain(port: u32, transport: Option<Transport>) -> Result<Explanation> {
    let port = checked_port(port)?;
    let wanted = |t: Transport| transport.is_none_or(|asked| asked == t);
    let registry: Vec<&'static RegistryEntry> = registry::entries_for_port(port)
        .into_iter()
        .filter(|e| wanted(e.transport))
        .collect();
    let mut pages: Vec<&'static Page> = pages::pages_for_port(port)
        .into_iter()
        .filter(|p| p.transports.iter().any(|&t| wanted(t)))
        .collect();
    if pages.is_empty() {
        // A port inside a range (x11 display 3 on 6003) is explained by the range's page.
        for t in [Transport::Tcp, Transport::Udp] {
            if let Some(page) = page_for(port, t).filter(|p| wanted(t) && !pages.contains(p)) {
                pages.push(page);
            }
        }
    }
    let aliases: Vec<&'static Alias> = aliases::for_port(port)
        .into_iter()
        .filter(|a| a.transports.iter().any(|&t| wanted(t)))
        .collect();
    let risks = transports_considered(transport, &registry, &pages, &aliases)
        .into_iter()
        .map(|t| {
            let r = risk(port, t);
            TransportRisk {
                transport: t,
                lan: r.lan,
                internet: r.internet,
                page: r.page,
            }
        })
        .collect();
    Ok(Explanation {
        port,
        transport,
        headline: headline(port, transport, &registry, &pages, &aliases),
        assigned: !registry.is_empty(),
        registry,
        pages,
        aliases,
        risks,
    })
}

/// Explains every port a service name stands for (see [`resolve_name`]), one explanation per
/// port in resolution order; errors when nothing knows the name.
pub fn explain_name(name: &str) -> Result<Vec<Explanation>> {
    let resolved = resolve_name(name);
    if resolved.is_empty() {
        return Err(KbError::UnknownName {
            name: name.to_owned(),
        });
    }
    // A range (x11 is 6000-6063) is explained once, by its first port.
    let inside_a_range = |port: u16| {
        aliases::named(name)
            .iter()
            .any(|a| a.first < port && port <= a.last)
    };
    let mut ports: Vec<u16> = Vec::new();
    for (port, _) in &resolved {
        if !ports.contains(port) && !inside_a_range(*port) {
            ports.push(*port);
        }
    }
    ports
        .into_iter()
        .map(|port| {
            let mut transports = resolved.iter().filter(|(p, _)| *p == port).map(|(_, t)| *t);
            let first = transports.next();
            let only = if transports.next().is_none() {
                first
            } else {
                None
            };
            explain(u32::from(port), only)
        })
        .collect()
}

/// `value` as a port number, or the error naming it.
pub(crate) fn checked_port(value: u32) -> Result<u16> {
    u16::try_from(value)
        .ok()
        .filter(|&port| port != 0)
        .ok_or(KbError::PortOutOfRange { value })
}

fn transports_considered(
    asked: Option<Transport>,
    registry: &[&RegistryEntry],
    pages: &[&Page],
    aliases: &[&Alias],
) -> Vec<Transport> {
    if let Some(t) = asked {
        return vec![t];
    }
    let mut seen: Vec<Transport> = registry
        .iter()
        .map(|e| e.transport)
        .chain(pages.iter().flat_map(|p| p.transports.iter().copied()))
        .chain(aliases.iter().flat_map(|a| a.transports.iter().copied()))
        .collect();
    seen.sort_unstable();
    seen.dedup();
    if seen.is_empty() {
        seen = vec![Transport::Tcp, Transport::Udp];
    }
    seen
}

fn headline(
    port: u16,
    transport: Option<Transport>,
    registry: &[&RegistryEntry],
    pages: &[&Page],
    aliases: &[&Alias],
) -> String {
    let label = match transport {
        Some(t) => format!("{port}/{t}"),
        None => port.to_string(),
    };
    if let [page, ..] = pages {
        let more = if pages.len() > 1 {
            " (and more: see below)"
        } else {
            ""
        };
        // A page's name is IANA's where IANA has one, and that name can mislead (9200 is
        // "wap-wsp", an old WAP service): give the name admins know first, and say whose the
        // other name is.
        let iana = crate::registry::entries_for_port(port)
            .iter()
            .any(|e| e.name.eq_ignore_ascii_case(&page.name));
        let name = match (&page.known_as, iana) {
            (Some(known), true) => format!("{known}; IANA name {}", page.name),
            (Some(known), false) => format!("{known}; also {}", page.name),
            (None, true) => format!("IANA name {}", page.name),
            (None, false) => page.name.clone(),
        };
        return format!("Port {label} is {} ({name}){more}.", page.title);
    }
    if let [entry, ..] = registry {
        let what = if entry.description.is_empty() {
            String::new()
        } else {
            format!(" ({})", entry.description)
        };
        if let [alias, ..] = aliases {
            return format!(
                "Port {label} is {} ({}); IANA assigns it to {}{what}.",
                alias.name, alias.service, entry.name
            );
        }
        return format!("Port {label} is assigned by IANA to {}{what}.", entry.name);
    }
    if let [alias, ..] = aliases {
        return format!(
            "Port {label} is commonly used by {} ({}); IANA lists no service for it.",
            alias.name, alias.service
        );
    }
    format!("Port {label} is unassigned: IANA lists no service for it and portwatch has no page.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_ports_are_errors_naming_the_value() {
        for value in [0, 65_536, 70_000] {
            let err = explain(value, None).unwrap_err();
            assert_eq!(err, KbError::PortOutOfRange { value });
            assert!(err.to_string().contains(&value.to_string()));
        }
    }

    #[test]
    fn unassigned_port_is_explained_not_an_error() {
        let e = explain(4, Some(Transport::Tcp)).unwrap();
        assert!(!e.assigned);
        assert!(e.pages.is_empty() && e.registry.is_empty());
        assert!(e.headline.contains("unassigned"), "{}", e.headline);
        assert_eq!(e.risks.len(), 1);
        assert!(!e.risks[0].page);
    }

    #[test]
    fn smb_port_combines_page_and_registry() {
        let e = explain(445, None).unwrap();
        assert!(e.assigned);
        assert_eq!(e.pages.len(), 1);
        assert_eq!(e.pages[0].name, "microsoft-ds");
        let tcp = e
            .risks
            .iter()
            .find(|r| r.transport == Transport::Tcp)
            .unwrap();
        assert_eq!(tcp.internet, Severity::Critical);
        assert!(tcp.page);
        // IANA also assigns 445/udp; it has no page, so it gets the defaults.
        let udp = e
            .risks
            .iter()
            .find(|r| r.transport == Transport::Udp)
            .unwrap();
        assert!(!udp.page);
    }

    #[test]
    fn transport_filter_applies_to_registry_and_pages() {
        let e = explain(445, Some(Transport::Udp)).unwrap();
        assert!(e.pages.is_empty());
        assert!(e.registry.iter().all(|r| r.transport == Transport::Udp));
    }

    #[test]
    fn explain_name_groups_by_port() {
        let smb = explain_name("SMB").unwrap();
        assert_eq!(smb.len(), 1);
        assert_eq!((smb[0].port, smb[0].transport), (445, Some(Transport::Tcp)));
        let ssn = explain_name("netbios-ssn").unwrap();
        assert_eq!((ssn[0].port, ssn[0].transport), (139, None));
        assert!(matches!(
            explain_name("no-such-service"),
            Err(KbError::UnknownName { .. })
        ));
    }

    #[test]
    fn serializes_to_json() {
        let json = serde_json::to_value(explain(139, Some(Transport::Tcp)).unwrap()).unwrap();
        assert_eq!(json["port"], 139);
        assert_eq!(json["transport"], "tcp");
        assert_eq!(json["pages"][0]["name"], "netbios-ssn");
        assert_eq!(json["risks"][0]["internet"], "critical");
    }
}
