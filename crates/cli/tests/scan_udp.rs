//! UDP states and reasons against the test bed (responders, DROP, closed ports), protocol
//! answers from real DNS and SNMP servers, and a host that rations its ICMP errors like a
//! default Linux kernel: silence there must not be read as open|filtered.

mod common;
use common::{assert_route_is_ours, json_lines, ports, portwatch, stderr, stdout, testbed_host};
use serde_json::Value;
use std::collections::HashMap;
use std::net::UdpSocket;

fn scan_states(addr: &str, spec: &str) -> HashMap<u16, Value> {
    assert_route_is_ours(addr);
    let out = portwatch(&["scan", addr, "-p", spec, "--all", "--format", "jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    json_lines(&stdout(&out))
        .into_iter()
        .map(|v| (v["port"].as_u64().unwrap() as u16, v))
        .collect()
}

fn state(v: &Value) -> (&str, &str) {
    (v["state"].as_str().unwrap(), v["reason"].as_str().unwrap())
}

fn check_udp_host(addr: &str, truth: &Value) {
    let open = ports(&truth["udp"]["open"]);
    let drop = ports(&truth["udp"]["drop"]);
    let closed: Vec<u16> = (5001..5021).collect();
    let list: Vec<String> = open
        .iter()
        .chain(&drop)
        .chain(&closed)
        .map(u16::to_string)
        .collect();
    let got = scan_states(addr, &format!("U:{}", list.join(",")));
    for p in &open {
        assert_eq!(state(&got[p]), ("open", "udp-response"), "udp {p}");
    }
    for p in &drop {
        assert_eq!(state(&got[p]), ("open|filtered", "no-response"), "udp {p}");
    }
    for p in &closed {
        assert_eq!(state(&got[p]), ("closed", "port-unreach"), "udp {p}");
    }
}

#[test]
fn udp_states_are_exact_over_ipv4_and_ipv6() {
    let host = testbed_host("tcp");
    check_udp_host(host["addr4"].as_str().unwrap(), &host["truth"]);
    check_udp_host(host["addr6"].as_str().unwrap(), &host["truth6"]);
}

#[test]
fn dns_and_snmp_answers_are_decoded() {
    let host = testbed_host("udp");
    let addr = host["addr4"].as_str().unwrap();
    let got = scan_states(addr, "U:53,161");
    let dns = &got[&53];
    assert_eq!(state(dns), ("open", "udp-response"));
    assert!(
        dns["details"]["summary"]
            .as_str()
            .unwrap()
            .contains("dnsmasq"),
        "{dns}"
    );
    let snmp = &got[&161];
    assert_eq!(state(snmp), ("open", "udp-response"));
    let summary = snmp["details"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("public") && summary.contains("Linux"),
        "{summary}"
    );
}

/// The `udp` host keeps the kernel's default ICMP rate limit (one error a second after a
/// burst of six). Probing 30 closed ports takes about 25 s at that rate; reading the silence
/// in between as open|filtered would be wrong.
#[test]
fn icmp_rate_limit_is_not_mistaken_for_silence() {
    let host = testbed_host("udp");
    assert_eq!(
        host["icmp_ratelimit"], true,
        "the udp host must keep the default ICMP rate limit"
    );
    let addr = host["addr4"].as_str().unwrap();
    let drop = ports(&host["truth"]["udp"]["drop"]);
    let closed: Vec<u16> = (20001..20031).collect();
    let list: Vec<String> = closed.iter().chain(&drop).map(u16::to_string).collect();
    let got = scan_states(addr, &format!("U:{}", list.join(",")));
    let wrong: Vec<_> = closed
        .iter()
        .filter(|p| state(&got[p]) != ("closed", "port-unreach"))
        .collect();
    assert!(wrong.is_empty(), "closed ports misread: {wrong:?}");
    for p in &drop {
        assert_eq!(state(&got[p]), ("open|filtered", "no-response"), "udp {p}");
    }
}

fn echo_server(bind: &str) -> u16 {
    let sock = UdpSocket::bind(bind).unwrap();
    let port = sock.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, peer)) = sock.recv_from(&mut buf) {
            let _ = sock.send_to(format!("echo {n}").as_bytes(), peer);
        }
    });
    port
}

fn free_udp_port(bind: &str) -> u16 {
    UdpSocket::bind(bind).unwrap().local_addr().unwrap().port()
}

#[test]
fn loopback_udp_states_are_exact() {
    for (bind, host) in [("127.0.0.1:0", "127.0.0.1"), ("[::1]:0", "::1")] {
        let open = echo_server(bind);
        let closed = free_udp_port(bind);
        let got = scan_states(host, &format!("U:{open},{closed}"));
        assert_eq!(state(&got[&open]), ("open", "udp-response"), "{host}");
        assert_eq!(
            got[&open]["details"]["response"]["bytes"], 6,
            "{}",
            got[&open]
        );
        assert_eq!(state(&got[&closed]), ("closed", "port-unreach"), "{host}");
    }
}
