//! Bare ports and service names mean their transports: `check --must-be-closed 137` and
//! `netbios-ns` check 137/udp on a real Samba host (the test bed's smb1, nmbd answering on
//! 137/udp); `scan -p snmp` scans 161/udp on the test bed's snmpd host. Reports name the
//! transport.

mod common;
use common::{assert_route_is_ours, portwatch, stderr, stdout, testbed_host};
use serde_json::Value;

fn addr(name: &str) -> String {
    let a = testbed_host(name)["addr4"].as_str().unwrap().to_string();
    assert_route_is_ours(&a);
    a
}

fn violations(host: &str, must_be_closed: &str) -> Vec<String> {
    let out = portwatch(&[
        "check",
        host,
        "--must-be-closed",
        must_be_closed,
        "--format",
        "json",
        "--no-save",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{must_be_closed}: {}",
        stderr(&out)
    );
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    doc["groups"][0]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{}/{}", f["port"], f["proto"].as_str().unwrap()))
        .collect()
}

#[test]
fn must_be_closed_137_and_netbios_ns_check_137_udp() {
    let smb1 = addr("smb1");
    for spec in ["137", "netbios-ns"] {
        let found = violations(&smb1, spec);
        assert!(found.contains(&"137/udp".to_owned()), "{spec}: {found:?}");
    }
    // 139 is NetBIOS session service: TCP.
    assert_eq!(violations(&smb1, "139"), ["139/tcp"]);
    let table = portwatch(&["check", &smb1, "--must-be-closed", "137", "--no-save"]);
    assert!(stdout(&table).contains("137/udp"), "{}", stdout(&table));
}

#[test]
fn scan_by_service_name_uses_the_services_transport() {
    let udp = addr("udp");
    let out = portwatch(&["scan", &udp, "-p", "snmp", "--format", "jsonl", "--all"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = common::json_lines(&stdout(&out));
    let snmp: Vec<&Value> = lines.iter().filter(|v| v["port"] == 161).collect();
    assert!(!snmp.is_empty(), "{lines:?}");
    assert!(snmp.iter().all(|v| v["proto"] == "udp"), "{snmp:?}");
    assert!(snmp.iter().any(|v| v["state"] == "open"), "{snmp:?}");
}
