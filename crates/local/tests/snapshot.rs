//! `snapshot()` and the JSON shape of what it returns, on sockets this test opens (as root).

use portwatch_kb::Severity;
use portwatch_local::{Exposure, FirewallVerdict, Proto, snapshot};
use std::net::{IpAddr, TcpListener, UdpSocket};

#[test]
fn finds_our_sockets_with_process_and_exposure() {
    let tcp = TcpListener::bind("0.0.0.0:0").unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let tcp_port = tcp.local_addr().unwrap().port();
    let udp_port = udp.local_addr().unwrap().port();
    let snap = snapshot().unwrap();
    let find = |proto: Proto, port: u16| {
        snap.listeners
            .iter()
            .find(|l| l.proto == proto && l.port == port)
            .unwrap_or_else(|| panic!("{proto} {port} missing from {snap:#?}"))
    };
    let t = find(Proto::Tcp, tcp_port);
    assert_eq!(t.addr, IpAddr::from([0, 0, 0, 0]));
    assert_eq!(t.exposure, Exposure::AllInterfaces);
    assert_eq!(t.pid, Some(std::process::id()));
    assert!(t.cmdline.as_deref().is_some_and(|c| !c.is_empty()));
    assert!(!t.severity_reason.is_empty());
    let u = find(Proto::Udp, udp_port);
    assert_eq!(u.exposure, Exposure::Loopback);
    assert_eq!(u.effective_severity, Severity::None);
    if let FirewallVerdict::Unknown(why) = &u.firewall {
        assert!(!why.is_empty());
    }
    // Most severe first, then by port.
    for pair in snap.listeners.windows(2) {
        assert!(
            (pair[0].effective_severity, std::cmp::Reverse(pair[0].port))
                >= (pair[1].effective_severity, std::cmp::Reverse(pair[1].port)),
            "{:?} before {:?}",
            pair[0],
            pair[1]
        );
    }
    let json = serde_json::to_value(&snap).unwrap();
    let entry = json["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["port"] == tcp_port && l["proto"] == "tcp")
        .unwrap();
    for key in [
        "proto",
        "addr",
        "port",
        "families",
        "exposure",
        "inode",
        "uid",
        "user",
        "pid",
        "process",
        "cmdline",
        "service",
        "risk",
        "effective_severity",
        "severity_reason",
        "firewall",
    ] {
        assert!(entry.get(key).is_some(), "{key} missing in {entry:#}");
    }
    assert_eq!(
        entry["exposure"],
        serde_json::json!({"kind": "all_interfaces"})
    );
    drop((tcp, udp));
}
