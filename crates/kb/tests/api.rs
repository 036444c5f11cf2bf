//! The public lookups the scanner and CLI use.

use portwatch_kb::{
    Risk, Severity, Transport, pages, registry, resolve_name, risk, risky_ports, service_name,
};

#[test]
fn service_name_prefers_the_page() {
    assert_eq!(service_name(445, Transport::Tcp), Some("microsoft-ds"));
    assert_eq!(service_name(139, Transport::Tcp), Some("netbios-ssn"));
    // No page for 445/udp: IANA's name.
    assert_eq!(
        service_name(445, Transport::Udp),
        registry::lookup(445, Transport::Udp).map(|e| e.name)
    );
    assert_eq!(service_name(4, Transport::Tcp), None);
}

#[test]
fn resolve_name_puts_pages_first() {
    assert_eq!(resolve_name("smb"), [(445, Transport::Tcp)]);
    assert_eq!(resolve_name("SMB"), [(445, Transport::Tcp)]);
    assert_eq!(
        resolve_name("netbios-ssn").first(),
        Some(&(139, Transport::Tcp))
    );
    assert_eq!(resolve_name("nbns").first(), Some(&(137, Transport::Udp)));
    assert!(resolve_name("no-such-service").is_empty());
    // IANA-only names still resolve.
    assert!(resolve_name("tcpmux").contains(&(1, Transport::Tcp)));
}

#[test]
fn resolve_name_http_is_port_80() {
    // Needs the port 80 page (pages-A); IANA alone names 80/tcp "www-http".
    assert_eq!(resolve_name("http").first(), Some(&(80, Transport::Tcp)));
}

#[test]
fn risk_comes_from_the_page_or_the_defaults() {
    assert_eq!(
        risk(445, Transport::Tcp),
        Risk {
            lan: Severity::High,
            internet: Severity::Critical,
            page: true
        }
    );
    assert_eq!(risk(445, Transport::Udp), Risk::DEFAULT);
    assert_eq!(risk(4, Transport::Tcp), Risk::DEFAULT);
    assert_eq!(Risk::DEFAULT.lan, Severity::None);
    assert_eq!(Risk::DEFAULT.internet, Severity::Low);
}

#[test]
fn risky_ports_are_the_high_and_critical_pages() {
    let risky = risky_ports();
    for pair in [
        (137, Transport::Udp),
        (137, Transport::Tcp),
        (138, Transport::Udp),
        (139, Transport::Tcp),
        (445, Transport::Tcp),
    ] {
        assert!(risky.contains(&pair), "{pair:?} missing");
    }
    assert!(risky.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
    for &(port, transport) in &risky {
        let r = risk(port, transport);
        assert!(r.page && r.internet >= Severity::High, "{port}/{transport}");
    }
    // Every high page's own ports, plus the other ports of a range whose page is high (x11's
    // 63 other displays).
    let own = pages::all()
        .iter()
        .filter(|p| p.internet_severity >= Severity::High)
        .map(|p| p.transports.len())
        .sum::<usize>();
    assert_eq!(risky.len(), own + 63);
    assert!(risky.contains(&(6063, Transport::Tcp)));
    assert!(!risky.contains(&(6064, Transport::Tcp)));
}

#[test]
fn lookups_are_fast_from_a_cold_start() {
    // The first lookup parses the embedded registry; it must not slow process start noticeably.
    // Generous bound: debug builds on a shared 2-core machine.
    let start = std::time::Instant::now();
    let _ = registry::lookup(445, Transport::Tcp);
    let registry_ms = start.elapsed().as_millis();
    assert!(registry_ms < 200, "registry parse took {registry_ms} ms");
}
