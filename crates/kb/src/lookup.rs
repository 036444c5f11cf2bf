//! Name and risk lookups that combine the pages with the IANA registry.

use serde::Serialize;

use crate::aliases;
use crate::pages::{self, Page};
use crate::registry;
use crate::severity::Severity;
use crate::transport::Transport;

/// The risk of an open port, from its page or from the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Risk {
    /// Severity when reachable only from the local network.
    pub lan: Severity,
    /// Severity when reachable from the internet.
    pub internet: Severity,
    /// Whether a curated page gave these values (false: defaults).
    pub page: bool,
}

impl Risk {
    /// The default for a port without a page, registered or not: harmless on the LAN, `low` on
    /// the internet (an unreviewed service is still attack surface worth knowing about).
    pub const DEFAULT: Risk = Risk {
        lan: Severity::None,
        internet: Severity::Low,
        page: false,
    };
}

/// The page that speaks for `port` on `transport`: its own, or else the page of a range it
/// belongs to (`data/aliases.toml`: x11 is 6000-6063, and the x11 page on 6000 also rates
/// display 3 on 6003). A range's page is one inside the range that answers to the range's name.
pub(crate) fn page_for(port: u16, transport: Transport) -> Option<&'static Page> {
    pages::page(port, transport).or_else(|| range_page(port, transport))
}

fn range_page(port: u16, transport: Transport) -> Option<&'static Page> {
    aliases::for_port(port)
        .into_iter()
        .filter(|a| a.first < a.last && a.transports.contains(&transport))
        .find_map(|a| {
            pages::all().iter().find(|p| {
                a.covers_port(p.port)
                    && p.transports.contains(&transport)
                    && a.names().any(|n| p.answers_to(n))
            })
        })
}

/// The risk of `port` on `transport`: the severities of the page that speaks for it (see
/// [`page_for`]), or [`Risk::DEFAULT`].
pub fn risk(port: u16, transport: Transport) -> Risk {
    page_for(port, transport).map_or(Risk::DEFAULT, |page| Risk {
        lan: page.lan_severity,
        internet: page.internet_severity,
        page: true,
    })
}

/// The built-in `risky` set: every (port, transport) whose page (its own or its range's, see
/// [`page_for`]) rates the internet at least `high`, sorted. Policies refer to it as
/// `must_be_closed = ["risky"]`.
pub fn risky_ports() -> Vec<(u16, Transport)> {
    let ranges = aliases::all()
        .iter()
        .filter(|a| a.first < a.last)
        .flat_map(|a| {
            (a.first..=a.last).flat_map(move |port| a.transports.iter().map(move |&t| (port, t)))
        });
    let mut risky: Vec<(u16, Transport)> = pages::all()
        .iter()
        .flat_map(|page| page.transports.iter().map(move |&t| (page.port, t)))
        .chain(ranges)
        .filter(|&(port, t)| {
            page_for(port, t).is_some_and(|p| p.internet_severity >= Severity::High)
        })
        .collect();
    risky.sort_unstable();
    risky.dedup();
    risky
}

/// The service name of `port` on `transport`: the page's first (the name admins know where
/// IANA's belongs to another service: 9200 is `elasticsearch`, not `wap-wsp`), then a
/// preferred common name (9001 is `tor-orport`, not `etlservicemgr`), then IANA's, then the
/// first common name of `data/aliases.toml` (4222 is `nats`, 6010 `x11`).
pub fn service_name(port: u16, transport: Transport) -> Option<&'static str> {
    pages::page(port, transport)
        .map(Page::known_name)
        .or_else(|| aliases::preferred(port, transport).map(|a| a.name.as_str()))
        .or_else(|| registry::lookup(port, transport).map(|entry| entry.name))
        .or_else(|| {
            aliases::for_port(port)
                .into_iter()
                .find(|a| a.transports.contains(&transport))
                .map(|a| a.name.as_str())
        })
}

/// Every (port, transport) a service name stands for, ignoring letter case.
///
/// Order: pages whose name matches, then pages with a matching alias, then the common names of
/// `data/aliases.toml` (a range gives every port in it; `x11-3` the one port 6003), then IANA
/// entries with that name (without
/// repeats). So `smb` gives 445/tcp, `netbios-ssn` gives 139/tcp (the page) before 139/udp
/// (IANA), and `whois` gives 43/tcp. Empty when nothing knows the name.
pub fn resolve_name(name: &str) -> Vec<(u16, Transport)> {
    let name = name.trim();
    let mut found: Vec<(u16, Transport)> = Vec::new();
    let mut push = |pair: (u16, Transport)| {
        if !found.contains(&pair) {
            found.push(pair);
        }
    };
    let all = pages::all();
    let by_name = all.iter().filter(|p| p.name.eq_ignore_ascii_case(name));
    let by_alias = all
        .iter()
        .filter(|p| p.aliases.iter().any(|a| a.eq_ignore_ascii_case(name)));
    for page in by_name.chain(by_alias) {
        for &transport in &page.transports {
            push((page.port, transport));
        }
    }
    for alias in aliases::named(name) {
        for port in alias.first..=alias.last {
            for &transport in &alias.transports {
                push((port, transport));
            }
        }
    }
    if let Some((alias, port)) = aliases::member(name) {
        for &transport in &alias.transports {
            push((port, transport));
        }
    }
    for entry in registry::entries_named(name) {
        push((entry.port, entry.transport));
    }
    found
}

/// The (port, transport) pairs a service name means in a port spec or policy: the service's own
/// transports. Those are the pages' and common names' that answer to it (`netbios-ns` is
/// 137/udp and 137/tcp, `snmp` 161/udp only); the IANA registry, which assigns most names to
/// both TCP and UDP, is used only when neither knows the name. Empty when nothing does.
pub fn service_ports(name: &str) -> Vec<(u16, Transport)> {
    let name = name.trim();
    let curated: Vec<(u16, Transport)> = resolve_name(name)
        .into_iter()
        .filter(|&(port, transport)| {
            pages::all()
                .iter()
                .any(|p| p.covers(port, transport) && p.answers_to(name))
                || aliases::named(name)
                    .iter()
                    .any(|a| a.covers_port(port) && a.transports.contains(&transport))
                || aliases::member(name)
                    .is_some_and(|(a, p)| p == port && a.transports.contains(&transport))
        })
        .collect();
    if curated.is_empty() {
        resolve_name(name)
    } else {
        curated
    }
}

/// The transports a bare port number means in a policy: what the knowledge base says the port
/// is used for (its pages, else its common names), in transport order. 137 is UDP and TCP, 139
/// TCP, 161 UDP, 53 both. Empty when the knowledge base has no page or common name for the
/// port; callers then say which transport they chose.
pub fn port_transports(port: u16) -> Vec<Transport> {
    let mut found: Vec<Transport> = pages::pages_for_port(port)
        .iter()
        .flat_map(|p| p.transports.iter().copied())
        .collect();
    if found.is_empty() {
        found = aliases::for_port(port)
            .iter()
            .flat_map(|a| a.transports.iter().copied())
            .collect();
    }
    found.sort_unstable();
    found.dedup();
    found
}
