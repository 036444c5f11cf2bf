//! Common names and unofficial assignments: every alias is explained and resolves to its ports.

use portwatch_kb::{
    Transport, aliases, explain, explain_name, port_transports, resolve_name, service_ports,
};

#[test]
fn every_alias_is_explained_by_name_and_names_its_port() {
    for alias in aliases::all() {
        let explained =
            explain_name(&alias.name).unwrap_or_else(|e| panic!("explain {}: {e}", alias.name));
        let first = explained
            .iter()
            .find(|e| e.port == alias.first)
            .unwrap_or_else(|| panic!("explain {} does not cover {}", alias.name, alias.first));
        assert!(
            first.aliases.iter().any(|a| a.name == alias.name) || !first.pages.is_empty(),
            "{}: {first:?}",
            alias.name
        );
        for port in alias.first..=alias.last {
            for &t in &alias.transports {
                assert!(
                    resolve_name(&alias.name).contains(&(port, t)),
                    "{} {port}/{t}",
                    alias.name
                );
            }
        }
    }
}

#[test]
fn names_admins_use_are_known() {
    for (name, port) in [
        ("whois", 43),
        ("snmp-trap", 162),
        ("bgpd", 2605),
        ("nsca", 5667),
        ("netstat", 15),
        ("krb-prop", 754),
        ("datametrics", 1645),
        ("fido", 60179),
        ("nats", 4222),
        ("x11", 6000),
    ] {
        let e = explain_name(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(e[0].port, port, "{name}");
    }
}

#[test]
fn headlines_use_the_common_name() {
    let nats = explain(4222, None).unwrap();
    assert!(nats.headline.contains("NATS"), "{}", nats.headline);
    assert!(!nats.headline.contains("unassigned"), "{}", nats.headline);
    let whois = explain(43, Some(Transport::Tcp)).unwrap();
    assert!(
        whois.headline.starts_with("Port 43/tcp is whois"),
        "{}",
        whois.headline
    );
    assert!(whois.headline.contains("nicname"), "{}", whois.headline);
}

#[test]
fn ranges_are_explained_once_and_cover_every_port() {
    let x11 = explain_name("x11").unwrap();
    assert_eq!(x11.len(), 1, "one explanation for 6000-6063");
    let display_10 = explain(6010, Some(Transport::Tcp)).unwrap();
    assert!(
        display_10.headline.contains("x11"),
        "{}",
        display_10.headline
    );
    assert_eq!(resolve_name("x11").len(), 64);
}

#[test]
fn service_and_port_transports() {
    assert_eq!(service_ports("snmp"), [(161, Transport::Udp)]);
    assert!(service_ports("netbios-ns").contains(&(137, Transport::Udp)));
    assert_eq!(port_transports(139), [Transport::Tcp]);
    assert_eq!(port_transports(161), [Transport::Udp]);
    assert_eq!(port_transports(53), [Transport::Tcp, Transport::Udp]);
    assert!(port_transports(137).contains(&Transport::Udp));
    assert_eq!(port_transports(4222), [Transport::Tcp]);
    assert!(port_transports(41999).is_empty());
}
