//! SYN probes (`--syn`) against the real kernel: on a network namespace host behind a veth
//! (IPv4 and IPv6) every state and reason equals what the connect engine reports for the same
//! ports (listening, nothing listening, nftables reset / drop / ICMP admin-prohibited / host-
//! unreachable / port-unreachable); a full 1-65535 pass on loopback inside a namespace finds
//! exactly the listeners /proc/net/tcp lists there; without CAP_NET_RAW `--syn` is a usage
//! error, and the default scans loopback by connects without a fallback notice.
//!
//! Namespaces are `pwh-…`, addresses 10.232.K.0/24 and fd00:232:K::/64, both ranges
//! blackholed in the root namespace first; everything is removed on drop.

mod common;
#[path = "common/netns.rs"]
mod netns;
use common::{json_lines, stderr, stdout, without_net_raw};
use netns::{LoopbackNs, Veth, listen_in, portwatch_in, tcp_listeners_in};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};

/// A namespace `pwh-sK` behind the veth `pwh-rK` / `pwh-hK`: the host is 10.232.K.2 and
/// fd00:232:K::2, the root side .1 / ::1.
struct Host {
    k: u8,
    veth: Veth,
}

impl Host {
    fn up(k: u8) -> Host {
        netns::blackhole("10.232.0.0/16", None);
        netns::blackhole("fd00:232::/32", None);
        let veth = Veth::new(
            &format!("pwh-s{k}"),
            &format!("pwh-r{k}"),
            &format!("pwh-h{k}"),
        );
        veth.up(
            &[format!("10.232.{k}.1/24"), format!("fd00:232:{k}::1/64")],
            &[format!("10.232.{k}.2/24"), format!("fd00:232:{k}::2/64")],
        );
        Host { k, veth }
    }

    fn v4(&self) -> String {
        format!("10.232.{}.2", self.k)
    }

    fn v6(&self) -> String {
        format!("fd00:232:{}::2", self.k)
    }

    /// Refuses to go on unless `addr` leaves through this test's veth.
    fn assert_route(&self, addr: &str) {
        self.veth.assert_route(addr);
    }

    /// Listeners on `ports` inside the namespace, up before this returns.
    fn listen(&mut self, ports: &[u16]) {
        self.veth.listen(ports);
    }

    /// Loads nftables input rules (one statement per line) into the namespace.
    fn nft(&self, rules: &[&str]) {
        self.veth.nft("pwhsyn", rules);
    }
}

/// (state, reason) of every reported port.
fn states(out: &Output) -> BTreeMap<u16, (String, String)> {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    json_lines(&stdout(out))
        .iter()
        .map(|v: &Value| {
            (
                v["port"].as_u64().unwrap() as u16,
                (
                    v["state"].as_str().unwrap().to_string(),
                    v["reason"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

const PORTS: &str = "22-29,80,81,8080,8081";

fn scan(addr: &str, method: &str) -> Output {
    common::portwatch(&[
        "scan",
        addr,
        method,
        "-p",
        PORTS,
        "--all",
        "--no-probes",
        "--format",
        "jsonl",
        "--max-rtt-timeout",
        "500ms",
    ])
}

/// What both engines must report for [`PORTS`] under the rules of [`filtered_host`].
fn expected() -> BTreeMap<u16, (String, String)> {
    let s = |state: &str, reason: &str| (state.to_string(), reason.to_string());
    BTreeMap::from([
        (22, s("open", "syn-ack")),
        (23, s("closed", "conn-refused")),
        (24, s("closed", "conn-refused")),
        (25, s("filtered", "timeout")),
        (26, s("filtered", "timeout")),
        (27, s("filtered", "admin-prohibited")),
        (28, s("filtered", "host-unreach")),
        (29, s("closed", "conn-refused")),
        (80, s("open", "syn-ack")),
        (81, s("closed", "conn-refused")),
        (8080, s("open", "syn-ack")),
        (8081, s("filtered", "timeout")),
    ])
}

fn filtered_host(k: u8) -> Host {
    let mut host = Host::up(k);
    host.listen(&[22, 80, 8080, 8081]);
    host.nft(&[
        "tcp dport 24 reject with tcp reset",
        "tcp dport { 25, 26, 8081 } drop",
        "tcp dport 27 reject with icmpx admin-prohibited",
        "tcp dport 28 reject with icmpx host-unreachable",
        "tcp dport 29 reject with icmpx port-unreachable",
    ]);
    host
}

#[test]
fn syn_and_connect_give_the_same_answers_over_ipv4() {
    let host = filtered_host(1);
    host.assert_route(&host.v4());
    let syn = states(&scan(&host.v4(), "--syn"));
    assert_eq!(syn, expected(), "SYN probes");
    let connect = states(&scan(&host.v4(), "--connect"));
    assert_eq!(syn, connect, "SYN probes and connects differ");
}

#[test]
fn syn_and_connect_give_the_same_answers_over_ipv6() {
    let host = filtered_host(2);
    host.assert_route(&host.v6());
    let syn = states(&scan(&host.v6(), "--syn"));
    assert_eq!(syn, expected(), "SYN probes");
    let connect = states(&scan(&host.v6(), "--connect"));
    assert_eq!(syn, connect, "SYN probes and connects differ");
}

#[test]
fn syn_probes_identify_open_ports_with_a_connection() {
    let mut host = Host::up(3);
    host.veth.socat(
        &[
            "TCP-LISTEN:2222,bind=0.0.0.0,fork,reuseaddr",
            "SYSTEM:echo SSH-2.0-OpenSSH_9.2p1",
        ],
        ":2222",
    );
    host.assert_route(&host.v4());
    let out = common::portwatch(&[
        "scan",
        &host.v4(),
        "--syn",
        "-p",
        "2222",
        "--format",
        "jsonl",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let results = json_lines(&stdout(&out));
    assert_eq!(results.len(), 1, "{}", stdout(&out));
    assert_eq!(results[0]["state"], "open");
    assert_eq!(results[0]["reason"], "syn-ack");
    assert_eq!(results[0]["service"], "ssh", "{}", results[0]);
}

#[test]
fn a_full_syn_pass_on_loopback_finds_exactly_the_listeners() {
    let ns = LoopbackNs::up("pwh-lo");
    // Both ends of the range, the well-known and the ephemeral ranges.
    let ports: Vec<u16> = [
        1, 2, 79, 443, 1023, 1024, 8080, 33000, 40000, 50000, 60999, 61000,
    ]
    .into_iter()
    .chain((0..40).map(|i| 20000 + i * 997))
    .chain([65534, 65535])
    .collect();
    let _listening = listen_in(Some(&ns.0), true, &ports);
    let truth = tcp_listeners_in(&ns.0, "127.0.0.1");
    assert_eq!(truth, ports.iter().copied().collect(), "listeners in /proc");
    for pass in 0..3 {
        let out = portwatch_in(
            &ns.0,
            &[
                "scan",
                "127.0.0.1",
                "--syn",
                "-p-",
                "--no-probes",
                "--format",
                "jsonl",
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let found: BTreeSet<u16> = json_lines(&stdout(&out))
            .iter()
            .map(|v| {
                assert_eq!(v["reason"], "syn-ack", "{v}");
                v["port"].as_u64().unwrap() as u16
            })
            .collect();
        assert_eq!(
            found, truth,
            "pass {pass}: open set differs from /proc/net/tcp"
        );
    }
}

#[test]
fn syn_without_raw_socket_privilege_is_a_usage_error() {
    let out = without_net_raw(&["scan", "127.0.0.1", "--syn", "-p", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("--syn needs raw sockets"), "{err}");
    assert!(
        err.contains("CAP_NET_RAW") && err.contains("--connect"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(stdout(&out).is_empty(), "nothing scanned: {}", stdout(&out));
}

/// Loopback gets connects whatever the privilege, so its scan has no fallback notice (the
/// notice for another machine: scan_engine_netns.rs).
#[test]
fn without_raw_socket_privilege_loopback_is_scanned_by_connects_without_a_notice() {
    let ns = LoopbackNs::up("pwh-np");
    let _listening = listen_in(Some(&ns.0), true, &[4321]);
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            "setpriv",
            "--bounding-set",
            "-net_raw",
        ])
        .arg(env!("CARGO_BIN_EXE_portwatch"))
        .args([
            "scan",
            "127.0.0.1",
            "-p",
            "4320-4322",
            "--all",
            "--no-probes",
        ])
        .args(["--format", "jsonl"])
        .output()
        .expect("run setpriv");
    let err = stderr(&out);
    assert!(
        !err.contains("TCP ports are probed with connects"),
        "a notice for loopback: {err}"
    );
    let s = states(&out);
    assert_eq!(s[&4321], ("open".to_string(), "syn-ack".to_string()));
    assert_eq!(s[&4320], ("closed".to_string(), "conn-refused".to_string()));
}
