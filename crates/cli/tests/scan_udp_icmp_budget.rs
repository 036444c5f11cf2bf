//! UDP scans that start while the target's ICMP error budget is still spent by an earlier scan:
//! a host of this test's own (`pwa-udp`, 10.242.3.2, reached from 10.242.3.1) keeps the
//! kernel's default ICMP rate limit and has no UDP listener, so 137/udp and 138/udp are closed.
//! A scan of 30 closed ports spends the budget, then six `scan -p U:137,138` runs follow back to
//! back, as in the report of issue 16 (where two of six runs read one port `open|filtered`):
//! each must read both ports `closed` by `port-unreach`. Needs root.
//!
//! Ignored for now: it fails on today's engine (measured on this branch: 3 of the 12 readings
//! `open|filtered`; nmap -sU read all 12 `closed` on the same host). A silent try counts as
//! evidence when the host has no canary yet (`crates/scan/src/engine/mod.rs`, `on_try`), and a
//! scan that starts with the budget spent has none. Run it with `--run-ignored only`.

mod common;

use common::{json_lines, portwatch, stderr, stdout};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};

const NS: &str = "pwa-udp";
const VETH: &str = "pwa-udph";
const PEER: &str = "pwa-udpn";
const HOST: &str = "10.242.3.2";
const OURS: &str = "10.242.3.1";
/// The whole range of this helper's tests, blackholed in the root namespace while one runs.
const RANGE: &str = "10.242.0.0/16";

/// The namespace and its veth pair, removed on drop, also when the test fails.
struct Host;

impl Host {
    fn new() -> Host {
        remove_namespace();
        // The blackhole keeps a scan of a vanished host from leaving the machine.
        ip(&["route", "replace", "blackhole", RANGE]);
        ip(&["netns", "add", NS]);
        ip(&["link", "add", VETH, "type", "veth", "peer", "name", PEER]);
        ip(&["link", "set", PEER, "netns", NS]);
        ip(&["addr", "add", &format!("{OURS}/24"), "dev", VETH]);
        ip(&["link", "set", VETH, "up"]);
        ip(&["-n", NS, "addr", "add", &format!("{HOST}/24"), "dev", PEER]);
        ip(&["-n", NS, "link", "set", PEER, "up"]);
        ip(&["-n", NS, "link", "set", "lo", "up"]);
        // A new namespace starts with the kernel's defaults; say which ones this test relies on.
        let limit = sysctl("net.ipv4.icmp_ratelimit");
        assert_eq!(
            limit, "1000",
            "the host must keep the default ICMP rate limit"
        );
        Host
    }

    /// `port` → (state, reason) from one UDP scan of the host.
    fn scan(&self, spec: &str) -> BTreeMap<u16, (String, String)> {
        let route = stdout(
            &Command::new("ip")
                .args(["route", "get", HOST])
                .output()
                .unwrap(),
        );
        assert!(
            route.contains(&format!("dev {VETH} ")),
            "refusing to scan {HOST}: route is {route}"
        );
        let out = portwatch(&["scan", HOST, "-p", spec, "--all", "--format", "jsonl"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        json_lines(&stdout(&out))
            .into_iter()
            .filter(|v| v["port"].is_u64())
            .map(|v| {
                (
                    v["port"].as_u64().unwrap() as u16,
                    (
                        v["state"].as_str().unwrap_or_default().to_string(),
                        v["reason"].as_str().unwrap_or_default().to_string(),
                    ),
                )
            })
            .collect()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        remove_namespace();
        // Other tests of this range may still run; the route goes with the last namespace.
        let left = stdout(&Command::new("ip").args(["netns", "list"]).output().unwrap());
        if !left.lines().any(|l| l.starts_with("pwa-")) {
            let _ = Command::new("ip")
                .args(["route", "del", "blackhole", RANGE])
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn remove_namespace() {
    for args in [["netns", "del", NS], ["link", "del", VETH]] {
        let _ = Command::new("ip").args(args).stderr(Stdio::null()).status();
    }
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("run ip");
    assert!(
        status.success(),
        "ip {args:?} failed (this test needs root)"
    );
}

/// A sysctl's value inside the namespace.
fn sysctl(name: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", NS, "sysctl", "-n", name])
        .output()
        .expect("run sysctl");
    stdout(&out).trim().to_string()
}

#[test]
#[ignore = "fails today: a silent UDP try without a canary is taken as evidence (issue 16)"]
fn back_to_back_scans_after_a_spent_icmp_budget_read_closed_ports_as_closed() {
    let host = Host::new();
    let closed = |p: u16, got: &BTreeMap<u16, (String, String)>| {
        got.get(&p)
            .is_some_and(|(s, r)| s == "closed" && r == "port-unreach")
    };
    let many: Vec<String> = (20001..20031).map(|p: u16| p.to_string()).collect();
    let first = host.scan(&format!("U:{}", many.join(",")));
    let wrong: Vec<_> = (20001..20031).filter(|p| !closed(*p, &first)).collect();
    assert!(
        wrong.is_empty(),
        "closed ports misread: {wrong:?} in {first:?}"
    );
    let mut misread = Vec::new();
    for run in 1..=6 {
        let got = host.scan("U:137,138");
        for port in [137, 138] {
            if !closed(port, &got) {
                misread.push((run, port, got.get(&port).cloned()));
            }
        }
    }
    assert!(
        misread.is_empty(),
        "(run, port, result) misread: {misread:?}"
    );
}
