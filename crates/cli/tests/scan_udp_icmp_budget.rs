//! UDP scans of hosts that give a scan no canary (a port of the host known closed) to tell a
//! spent ICMP error budget from real silence. Each host is a namespace of this test's own
//! (`pwa-…`, 10.242.K.2 reached from 10.242.K.1, 10.242.0.0/16 blackholed in the root
//! namespace) with no UDP listener. Needs root.
//!
//! - `pwa-udp` keeps the kernel's default ICMP rate limit, so its ports are closed but ration
//!   their "port unreachable". A scan of 30 closed ports spends the budget, then six
//!   `scan -p U:137,138` runs follow back to back, as in the report of issue 16 (where two of
//!   six runs read one port `open|filtered`): each must read both ports `closed` by
//!   `port-unreach`. Such a scan starts with no canary, and its first silences used to count
//!   against the ports (3 of 12 readings `open|filtered`; nmap -sU read all 12 `closed` on the
//!   same host).
//! - `pwa-udpd` drops every UDP datagram, so no port ever answers: scanned with
//!   `--assume-up`, each must still be concluded, `open|filtered` by `no-response`.

mod common;
#[path = "common/netns.rs"]
mod netns;

use common::{json_lines, portwatch, stderr, stdout};
use netns::Veth;
use std::collections::BTreeMap;
use std::process::Command;

/// The whole range of this helper's tests, blackholed in the root namespace while one runs.
const RANGE: &str = "10.242.0.0/16";

/// Namespace `ns` behind the veth `{ns}h` / `{ns}n`, the host at 10.242.K.2; removed on drop,
/// also when the test fails.
struct Host {
    addr: String,
    veth: Veth,
}

impl Host {
    fn up(ns: &str, k: u8) -> Host {
        // The blackhole keeps a scan of a vanished host from leaving the machine.
        netns::blackhole(RANGE, None);
        let mut veth = Veth::new(ns, &format!("{ns}h"), &format!("{ns}n"));
        veth.up(&[format!("10.242.{k}.1/24")], &[format!("10.242.{k}.2/24")]);
        // Other tests of this range may still run; the route goes with the last namespace.
        veth.on_teardown(&format!(
            "ip netns list | grep -q '^pwa-' || ip route del blackhole {RANGE}"
        ));
        // A new namespace starts with the kernel's defaults; say which one this test relies on.
        let limit = sysctl(ns, "net.ipv4.icmp_ratelimit");
        assert_eq!(
            limit, "1000",
            "the host must keep the default ICMP rate limit"
        );
        Host {
            addr: format!("10.242.{k}.2"),
            veth,
        }
    }

    /// `port` → (state, reason) from one UDP scan of the host, with `extra` arguments.
    fn scan(&self, spec: &str, extra: &[&str]) -> BTreeMap<u16, (String, String)> {
        self.veth.assert_route(&self.addr);
        let mut args = vec!["scan", &self.addr, "-p", spec, "--all", "--format", "jsonl"];
        args.extend_from_slice(extra);
        let out = portwatch(&args);
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

/// A sysctl's value inside namespace `ns`.
fn sysctl(ns: &str, name: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "sysctl", "-n", name])
        .output()
        .expect("run sysctl");
    stdout(&out).trim().to_string()
}

/// `U:` and the ports, comma-separated.
fn udp_spec(ports: impl IntoIterator<Item = u16>) -> String {
    let list: Vec<String> = ports.into_iter().map(|p| p.to_string()).collect();
    format!("U:{}", list.join(","))
}

/// Whether `got` reads `port` as (`state`, `reason`).
fn reads(got: &BTreeMap<u16, (String, String)>, port: u16, state: &str, reason: &str) -> bool {
    got.get(&port)
        .is_some_and(|(s, r)| s == state && r == reason)
}

#[test]
fn back_to_back_scans_after_a_spent_icmp_budget_read_closed_ports_as_closed() {
    let host = Host::up("pwa-udp", 3);
    let closed =
        |p: u16, got: &BTreeMap<u16, (String, String)>| reads(got, p, "closed", "port-unreach");
    let first = host.scan(&udp_spec(20001..20031), &[]);
    let wrong: Vec<_> = (20001..20031).filter(|p| !closed(*p, &first)).collect();
    assert!(
        wrong.is_empty(),
        "closed ports misread: {wrong:?} in {first:?}"
    );
    let mut misread = Vec::new();
    for run in 1..=6 {
        let got = host.scan("U:137,138", &[]);
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

#[test]
fn a_host_that_drops_all_udp_reads_open_filtered_on_every_port() {
    let host = Host::up("pwa-udpd", 4);
    host.veth.nft("pwaudpdrop", &["meta l4proto udp drop"]);
    let ports = 20001..20041;
    // Discovery calls this host down (nothing answers its UDP); the engine is what is tested.
    let got = host.scan(&udp_spec(ports.clone()), &["--assume-up"]);
    let wrong: Vec<_> = ports
        .filter(|p| !reads(&got, *p, "open|filtered", "no-response"))
        .collect();
    assert!(wrong.is_empty(), "ports misread: {wrong:?} in {got:?}");
}
