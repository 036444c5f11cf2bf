//! Exact states and reasons of every port of the test bed's TCP host (listeners, DROP,
//! REJECT with reset, REJECT with ICMP admin-prohibited), over IPv4 and IPv6, and hosts that
//! do not answer at all.

mod common;
use common::{assert_route_is_ours, json_lines, ports, portwatch, stderr, stdout, testbed_host};
use serde_json::Value;
use std::collections::HashMap;

fn expected(truth: &Value, range: (u16, u16)) -> HashMap<u16, (&'static str, &'static str)> {
    let mut exp: HashMap<u16, (&str, &str)> = (range.0..=range.1)
        .map(|p| (p, ("closed", "conn-refused")))
        .collect();
    let t = &truth["tcp"];
    for (key, state) in [
        ("open", ("open", "syn-ack")),
        ("drop", ("filtered", "timeout")),
        ("reset", ("closed", "conn-refused")),
        ("admin_prohibited", ("filtered", "admin-prohibited")),
    ] {
        for p in ports(&t[key])
            .into_iter()
            .filter(|p| (range.0..=range.1).contains(p))
        {
            exp.insert(p, state);
        }
    }
    exp
}

fn check_host(addr: &str, truth: &Value) {
    assert_route_is_ours(addr);
    let exp = expected(truth, (1, 5000));
    let out = portwatch(&["scan", addr, "-p", "1-5000", "--all", "--format", "jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got: HashMap<u16, (String, String)> = json_lines(&stdout(&out))
        .into_iter()
        .map(|v| {
            (
                v["port"].as_u64().unwrap() as u16,
                (
                    v["state"].as_str().unwrap().to_string(),
                    v["reason"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect();
    assert_eq!(got.len(), 5000, "every port reported once");
    let wrong: Vec<_> = exp
        .iter()
        .filter(|(p, (s, r))| got.get(p).is_none_or(|(gs, gr)| gs != s || gr != r))
        .map(|(p, e)| (p, e, got.get(p)))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} wrong, first: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    let open = ports(&truth["tcp"]["open"])
        .into_iter()
        .filter(|p| *p <= 5000)
        .count();
    assert!(
        stderr(&out).contains(&format!("{open} open")),
        "summary: {}",
        stderr(&out)
    );
}

#[test]
fn every_port_state_is_exact_over_ipv4() {
    let host = testbed_host("tcp");
    check_host(host["addr4"].as_str().unwrap(), &host["truth"]);
}

#[test]
fn every_port_state_is_exact_over_ipv6() {
    let host = testbed_host("tcp");
    check_host(host["addr6"].as_str().unwrap(), &host["truth6"]);
}

#[test]
fn ports_outside_the_range_too() {
    let host = testbed_host("tcp");
    let addr = host["addr4"].as_str().unwrap();
    assert_route_is_ours(addr);
    let t = &host["truth"]["tcp"];
    let outside =
        |key: &str| -> Vec<u16> { ports(&t[key]).into_iter().filter(|p| *p > 5000).collect() };
    let mut spec: Vec<String> = Vec::new();
    for key in ["open", "drop", "reset", "admin_prohibited"] {
        spec.extend(outside(key).iter().map(u16::to_string));
    }
    let out = portwatch(&[
        "scan",
        addr,
        "-p",
        &spec.join(","),
        "--all",
        "--format",
        "jsonl",
    ]);
    let got: HashMap<u64, Value> = json_lines(&stdout(&out))
        .into_iter()
        .map(|v| (v["port"].as_u64().unwrap(), v))
        .collect();
    for (key, state, reason) in [
        ("open", "open", "syn-ack"),
        ("drop", "filtered", "timeout"),
        ("reset", "closed", "conn-refused"),
        ("admin_prohibited", "filtered", "admin-prohibited"),
    ] {
        for p in outside(key) {
            let v = &got[&u64::from(p)];
            assert_eq!(
                (v["state"].as_str(), v["reason"].as_str()),
                (Some(state), Some(reason)),
                "port {p}"
            );
        }
    }
}

/// An address on the test bed's subnet that no host owns: nothing answers ARP, so the host
/// is reported once as down instead of as hundreds of filtered ports.
#[test]
fn silent_host_is_reported_down_once() {
    let host = testbed_host("tcp");
    let gw = host["addr4"].as_str().unwrap();
    let absent = format!("{}.77", gw.rsplit_once('.').unwrap().0);
    assert_route_is_ours(&absent);
    let out = portwatch(&[
        "scan", &absent, "-p", "1-2000", "--format", "jsonl", "--all",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).trim().is_empty(),
        "no port lines for a down host: {}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("0 up, 1 down"), "{}", stderr(&out));
    let table = stdout(&portwatch(&["scan", &absent, "-p", "1-2000"]));
    assert!(table.contains(": down ("), "{table}");
}

/// The test range is blackholed in the root namespace: an address without a test host
/// sends nothing anywhere and is reported down at once.
#[test]
fn blackholed_address_is_down_without_traffic() {
    let route = std::process::Command::new("ip")
        .args(["route", "get", "10.203.250.250"])
        .output()
        .unwrap();
    let route = String::from_utf8_lossy(&route.stdout).to_string()
        + &String::from_utf8_lossy(&route.stderr);
    assert!(
        route.contains("blackhole")
            || route.contains("Invalid argument")
            || route.contains("unreachable"),
        "10.203.250.250 must be blackholed: {route}"
    );
    let out = portwatch(&["scan", "10.203.250.250", "-p", "1-100", "--format", "jsonl"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("0 up, 1 down"), "{}", stderr(&out));
}
