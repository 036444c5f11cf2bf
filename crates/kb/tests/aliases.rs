//! Common names and unofficial assignments: every alias is explained and resolves to its ports.

use portwatch_kb::{
    Risk, Severity, Transport, aliases, explain, explain_name, port_transports, resolve_name, risk,
    risky_ports, service_name, service_ports,
};

#[test]
fn every_alias_is_explained_by_name_and_names_its_port() {
    for alias in aliases::all() {
        for name in alias.names() {
            let explained = explain_name(name).unwrap_or_else(|e| panic!("explain {name}: {e}"));
            let first = explained
                .iter()
                .find(|e| e.port == alias.first)
                .unwrap_or_else(|| panic!("explain {name} does not cover {}", alias.first));
            assert!(
                first.aliases.iter().any(|a| a.answers_to(name)) || !first.pages.is_empty(),
                "{name}: {first:?}"
            );
            for port in alias.first..=alias.last {
                for &t in &alias.transports {
                    assert!(resolve_name(name).contains(&(port, t)), "{name} {port}/{t}");
                }
            }
        }
    }
}

#[test]
fn every_numbered_member_is_explained_as_its_own_port() {
    for alias in aliases::all().iter().filter(|a| a.numbered) {
        for port in alias.first..=alias.last {
            let name = format!("{}-{}", alias.name, port - alias.first);
            let explained = explain_name(&name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(explained.len(), 1, "{name}");
            assert_eq!(explained[0].port, port, "{name}");
            assert!(explained[0].aliases.contains(&alias), "{name}");
        }
    }
    assert_eq!(resolve_name("x11-3"), [(6003, Transport::Tcp)]);
    assert!(explain_name("x11-64").is_err());
}

#[test]
fn other_names_and_old_spellings_reach_the_same_port() {
    for (name, port, transport) in [
        ("hprop", 754, Transport::Tcp),
        ("krb5_prop", 754, Transport::Tcp),
        ("sge_qmaster", 6444, Transport::Tcp),
        ("null", 9, Transport::Udp),
        ("fspd", 21, Transport::Udp),
        ("imap2", 143, Transport::Tcp),
        ("loc-srv", 135, Transport::Tcp),
        ("route", 520, Transport::Udp),
        ("snmp-trap", 162, Transport::Tcp),
        ("ircu", 6665, Transport::Udp),
    ] {
        assert!(
            resolve_name(name).contains(&(port, transport)),
            "{name}: {:?}",
            resolve_name(name)
        );
    }
}

#[test]
fn scan_service_names_fill_the_registrys_gaps_from_common_names() {
    // IANA's name where there is one, the common name where IANA has none.
    assert_eq!(service_name(43, Transport::Tcp), Some("nicname"));
    assert_eq!(service_name(4222, Transport::Tcp), Some("nats"));
    assert_eq!(service_name(6010, Transport::Tcp), Some("x11"));
    assert_eq!(service_name(6668, Transport::Tcp), Some("ircu"));
    assert_eq!(service_name(4222, Transport::Udp), None);
}

#[test]
fn headlines_give_the_known_name_and_keep_ianas_visible() {
    for (port, title, known, iana) in [
        (9200, "Elasticsearch", "elasticsearch", "wap-wsp"),
        (6443, "Kubernetes", "kubernetes", "sun-sr-https"),
        (5601, "Kibana", "kibana", "esmagent"),
        (31337, "Back Orifice", "back-orifice", "eldim"),
    ] {
        let e = explain(port, Some(Transport::Tcp)).unwrap();
        assert!(
            e.headline
                .starts_with(&format!("Port {port}/tcp is {title}")),
            "{}",
            e.headline
        );
        assert!(
            e.headline.contains(&format!("({known}; IANA name {iana})")),
            "{}",
            e.headline
        );
    }
    // Where IANA's name is the service's own, it is the only one given.
    let smb = explain(445, Some(Transport::Tcp)).unwrap();
    assert!(
        smb.headline.ends_with("(IANA name microsoft-ds)."),
        "{}",
        smb.headline
    );
}

#[test]
fn scan_names_an_unidentified_port_as_admins_know_it() {
    // The page's known name wins over IANA's where IANA's belongs to another service.
    for (port, known) in [
        (9200, "elasticsearch"),
        (9300, "elasticsearch-transport"),
        (6443, "kubernetes"),
        (5601, "kibana"),
        (9092, "kafka"),
        (2181, "zookeeper"),
        (12345, "netbus"),
        (31337, "back-orifice"),
    ] {
        assert_eq!(service_name(port, Transport::Tcp), Some(known), "{port}");
    }
    assert_eq!(service_name(31337, Transport::Udp), Some("back-orifice"));
    // IANA's name stays where it is the service's own.
    assert_eq!(service_name(445, Transport::Tcp), Some("microsoft-ds"));
    assert_eq!(service_name(3389, Transport::Tcp), Some("ms-wbt-server"));
    // And every known name is also a name `explain` and port specs accept.
    for page in portwatch_kb::pages::all() {
        if let Some(known) = &page.known_as {
            let ports = resolve_name(known);
            assert!(
                ports.contains(&(page.port, page.transports[0])),
                "{known}: {ports:?}"
            );
        }
    }
}

#[test]
fn backdoor_ports_are_rated_as_compromise() {
    // Rated like the other ports whose listener means a compromise: high on the LAN,
    // critical on the internet, and in the built-in `risky` set.
    let risky = risky_ports();
    for (port, transport) in [
        (31337, Transport::Udp),
        (31337, Transport::Tcp),
        (12345, Transport::Tcp),
        (27374, Transport::Tcp),
    ] {
        let r = risk(port, transport);
        assert!(r.page, "{port}/{transport}");
        assert_eq!(
            (r.lan, r.internet),
            (Severity::High, Severity::Critical),
            "{port}/{transport}"
        );
        assert!(risky.contains(&(port, transport)), "{port}/{transport}");
    }
    for page in portwatch_kb::pages::all() {
        if page.tags.iter().any(|t| t == "backdoor") {
            assert!(
                page.lan_severity >= Severity::High && page.internet_severity == Severity::Critical,
                "{} is tagged backdoor but rated {}/{}",
                page.port,
                page.lan_severity,
                page.internet_severity
            );
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
        ("x11-7", 6007),
        ("spamd", 783),
        ("sip-tls", 5061),
        ("kerberos4", 750),
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

#[test]
fn ports_inside_a_range_are_rated_and_explained_by_the_ranges_page() {
    let display_0 = risk(6000, Transport::Tcp);
    assert!(display_0.page && display_0.internet >= Severity::High);
    assert_eq!(risk(6003, Transport::Tcp), display_0);
    assert_eq!(risk(6063, Transport::Tcp), display_0);
    assert_eq!(risk(6064, Transport::Tcp), Risk::DEFAULT);
    assert_eq!(risk(6003, Transport::Udp), Risk::DEFAULT);
    let e = explain(6003, Some(Transport::Tcp)).unwrap();
    assert_eq!(e.pages.len(), 1);
    assert_eq!(e.pages[0].port, 6000);
    assert!(e.risks[0].page, "{:?}", e.risks);
    // IRC's range takes the page of its usual port, 6667.
    assert_eq!(risk(6665, Transport::Tcp), risk(6667, Transport::Tcp));
    assert!(risk(6665, Transport::Tcp).page);
}

#[test]
fn software_everyone_runs_is_known_by_its_usual_port() {
    for (name, port, transport) in [
        ("tor-orport", 9001, Transport::Tcp),
        ("tor-socks", 9050, Transport::Tcp),
        ("vault", 8200, Transport::Tcp),
        ("consul-dns", 8600, Transport::Udp),
        ("beats", 5044, Transport::Tcp),
        ("logstash-beats", 5044, Transport::Tcp),
        ("otlp-grpc", 4317, Transport::Tcp),
        ("zookeeper-election", 3888, Transport::Tcp),
        ("loki", 3100, Transport::Tcp),
        ("minecraft", 25565, Transport::Tcp),
        ("wireguard", 51820, Transport::Udp),
        ("syncthing", 22000, Transport::Udp),
        ("srcds", 27015, Transport::Udp),
        ("redis-sentinel", 26379, Transport::Tcp),
        ("kube-scheduler", 10259, Transport::Tcp),
        ("turns", 5349, Transport::Tcp),
    ] {
        let ports = service_ports(name);
        assert!(ports.contains(&(port, transport)), "{name}: {ports:?}");
        assert!(ports.iter().all(|&(p, _)| p == port), "{name}: {ports:?}");
    }
    // Ranges: every BitTorrent port, both transports; IANA's muse on 6888 stays visible.
    assert_eq!(service_ports("bittorrent").len(), 18);
    let muse = explain(6888, Some(Transport::Tcp)).unwrap();
    assert!(
        muse.headline.contains("bittorrent") && muse.headline.contains("muse"),
        "{}",
        muse.headline
    );
    assert_eq!(explain_name("kdeconnect").unwrap().len(), 1);
}

#[test]
fn preferred_common_names_win_over_ianas_only_where_iana_means_another_service() {
    // IANA's names here belong to unrelated services.
    for (port, transport, known) in [
        (9001, Transport::Tcp, "tor-orport"),
        (9050, Transport::Tcp, "tor-socks"),
        (8200, Transport::Tcp, "vault"),
        (5044, Transport::Tcp, "beats"),
        (8301, Transport::Udp, "consul-serf-lan"),
        (22000, Transport::Tcp, "syncthing"),
    ] {
        assert_eq!(
            service_name(port, transport),
            Some(known),
            "{port}/{transport}"
        );
    }
    // Not preferred: IANA's name stays, the common name fills gaps only.
    assert_eq!(service_name(9093, Transport::Tcp), Some("copycat"));
    assert_eq!(service_name(2222, Transport::Tcp), Some("EtherNet/IP-1"));
    assert_eq!(service_name(25565, Transport::Tcp), Some("minecraft"));
    assert_eq!(service_name(43, Transport::Tcp), Some("nicname"));
    // A preferred name is never shadowed by a page, which would make it dead data.
    for a in aliases::all().iter().filter(|a| a.preferred) {
        for port in a.first..=a.last {
            for &t in &a.transports {
                assert!(
                    portwatch_kb::pages::page(port, t).is_none(),
                    "{} on {port}/{t} has a page: name it in the page's known_as",
                    a.name
                );
            }
        }
    }
}
