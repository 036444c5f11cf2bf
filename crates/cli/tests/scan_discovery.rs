//! Host discovery against the real kernel: a /24 on one veth with a few live addresses in a
//! network namespace (ARP), addresses routed through that namespace (ICMP echo, ICMP
//! timestamp, TCP SYN to 443, TCP ACK to 80), the unprivileged fallback, and a sweep that port
//! scans only the live hosts; for IPv6, neighbour solicitation on the link and echo, SYN and
//! ACK beyond it. Each test builds its own namespace (prefix `pwx-sc-`) in its own /22 of
//! 10.216.0.0/16 or its own /64s of fd00:216::/32, blackholed in the root namespace first, and
//! removes it on drop.

mod common;
#[path = "common/netns.rs"]
mod netns;
use common::{json_lines, portwatch, stderr, stdout, without_net_raw};
use netns::Veth;
use serde_json::Value;
use std::collections::BTreeMap;

/// Live addresses of the LAN namespace (last octet).
const LIVE: [u8; 5] = [10, 11, 12, 13, 14];

/// A namespace `pwx-sc-dK` with LAN 10.216.4K.0/24 (root side .1, live hosts [`LIVE`]),
/// hosts 10.216.(4K+1).10-13 routed through it, and 10.216.(4K+2).0/24 blackholed.
struct Lan {
    k: u8,
    veth: Veth,
}

impl Lan {
    fn up(k: u8) -> Lan {
        let (a, b) = (4 * k, 4 * k + 1);
        netns::blackhole("10.216.0.0/16", None);
        netns::blackhole(&format!("10.216.{a}.0/22"), None);
        let mut veth = Veth::new(
            &format!("pwx-sc-d{k}"),
            &format!("pwx-sc-r{k}"),
            &format!("pwx-sc-h{k}"),
        );
        // A MAC of a registered block (PCS Systemtechnik, VirtualBox's), so the vendor shows.
        veth.set_peer_mac(&format!("08:00:27:21:60:{k:02x}"));
        let live: Vec<String> = LIVE.iter().map(|i| format!("10.216.{a}.{i}/24")).collect();
        veth.up(&[format!("10.216.{a}.1/24")], &live);
        for i in 10..=13 {
            veth.exec(&format!("ip addr add 10.216.{b}.{i}/32 dev lo"));
        }
        netns::sh(&format!(
            "ip route replace 10.216.{b}.0/24 via 10.216.{a}.10 dev {}",
            veth.root
        ));
        veth.on_teardown(&format!(
            "ip route del 10.216.{b}.0/24; ip route del blackhole 10.216.{a}.0/22"
        ));
        Lan { k, veth }
    }

    fn lan(&self, last: u8) -> String {
        format!("10.216.{}.{last}", 4 * self.k)
    }
    fn routed(&self, last: u8) -> String {
        format!("10.216.{}.{last}", 4 * self.k + 1)
    }
    fn blackholed(&self, last: u8) -> String {
        format!("10.216.{}.{last}", 4 * self.k + 2)
    }

    /// Refuses to go on unless `addr` leaves through this test's veth.
    fn assert_route(&self, addr: &str) {
        self.veth.assert_route(addr);
    }

    /// The MAC of the namespace's end of the veth.
    fn host_mac(&self) -> String {
        self.veth.peer_mac()
    }

    /// Loads nftables rules (one statement per line) into the namespace.
    fn nft(&self, rules: &[&str]) {
        self.veth.nft("pwxsc", rules);
    }

    /// A TCP listener on `addr:port` inside the namespace, up before this returns.
    fn listen(&mut self, addr: &str, port: u16) {
        self.veth.socat(
            &[
                &format!("TCP-LISTEN:{port},bind={addr},fork,reuseaddr"),
                "/dev/null",
            ],
            &format!("{addr}:{port}"),
        );
    }
}

/// `--discover-only --format jsonl` output by address.
fn discover(args: &[&str]) -> (BTreeMap<String, Value>, String) {
    let mut all = vec!["scan", "--discover-only", "--format", "jsonl"];
    all.extend_from_slice(args);
    let out = portwatch(&all);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let hosts = json_lines(&stdout(&out))
        .into_iter()
        .map(|v| (v["host"].as_str().unwrap().to_string(), v))
        .collect();
    (hosts, stderr(&out))
}

fn status_reason(v: &Value) -> (&str, &str) {
    (v["status"].as_str().unwrap(), v["reason"].as_str().unwrap())
}

#[test]
fn lan_hosts_are_found_by_arp_with_their_mac_and_the_rest_is_down() {
    let lan = Lan::up(1);
    let net = format!("{}/24", lan.lan(0));
    lan.assert_route(&lan.lan(77));
    let (hosts, _) = discover(&[&net]);
    assert_eq!(hosts.len(), 256, "one line per address in machine formats");
    let mac = lan.host_mac();
    for last in 0..=255u8 {
        let v = &hosts[&lan.lan(last)];
        if LIVE.contains(&last) {
            assert_eq!(status_reason(v), ("up", "arp-response"), "{v}");
            assert_eq!(v["mac"].as_str(), Some(mac.as_str()), "{v}");
            assert_eq!(v["vendor"], "PCS Systemtechnik GmbH", "{v}");
        } else if last == 1 {
            assert_eq!(status_reason(v), ("up", "localhost-response"), "{v}");
        } else {
            assert_eq!(status_reason(v), ("down", "no-response"), "{v}");
        }
    }
    let table = stdout(&portwatch(&["scan", "--discover-only", &net]));
    assert!(
        table.contains("250 hosts down (--all lists them)."),
        "{table}"
    );
    assert!(table.contains("256 hosts (6 up, 250 down)"), "{table}");
    assert!(
        table.contains(&format!(
            "{}: up (arp-response, MAC {mac} (PCS Systemtechnik GmbH)",
            lan.lan(10)
        )),
        "{table}"
    );
}

#[test]
fn routed_hosts_prove_life_by_echo_timestamp_syn_ack_and_reset() {
    let mut lan = Lan::up(2);
    let (echo, stamp, synack, reset, absent) = (
        lan.routed(10),
        lan.routed(11),
        lan.routed(12),
        lan.routed(13),
        lan.routed(99),
    );
    lan.nft(&[
        &format!("ip daddr {echo} meta l4proto tcp drop"),
        &format!("ip daddr {stamp} icmp type echo-request drop"),
        &format!("ip daddr {stamp} meta l4proto tcp drop"),
        &format!("ip daddr {synack} meta l4proto icmp drop"),
        &format!("ip daddr {synack} tcp dport 80 drop"),
        &format!("ip daddr {reset} meta l4proto icmp drop"),
    ]);
    lan.listen(&synack, 443);
    for a in [&echo, &stamp, &synack, &reset, &absent] {
        lan.assert_route(a);
    }
    let blackholed = lan.blackholed(5);
    let (hosts, _) = discover(&[&echo, &stamp, &synack, &reset, &absent, &blackholed]);
    let got = |a: &str| status_reason(&hosts[a]);
    assert_eq!(got(&echo), ("up", "echo-reply"));
    assert_eq!(got(&stamp), ("up", "timestamp-reply"));
    assert_eq!(got(&synack), ("up", "syn-ack"));
    assert_eq!(got(&reset), ("up", "reset"));
    assert_eq!(got(&absent), ("down", "no-response"));
    assert_eq!(
        got(&blackholed),
        ("down", "net-unreach"),
        "nothing can be sent to a blackholed address"
    );
}

#[test]
fn without_raw_socket_privilege_discovery_falls_back_to_connects() {
    let mut lan = Lan::up(3);
    let (open, refused, silent) = (lan.routed(12), lan.routed(13), lan.routed(99));
    lan.listen(&open, 443);
    for a in [&open, &refused, &silent] {
        lan.assert_route(a);
    }
    let out = without_net_raw(&[
        "scan",
        "--discover-only",
        "--format",
        "jsonl",
        "--max-rtt-timeout",
        "300ms",
        &open,
        &refused,
        &silent,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no raw-socket privilege"),
        "{}",
        stderr(&out)
    );
    let hosts: BTreeMap<String, Value> = json_lines(&stdout(&out))
        .into_iter()
        .map(|v| (v["host"].as_str().unwrap().to_string(), v))
        .collect();
    assert_eq!(status_reason(&hosts[&open]), ("up", "syn-ack"));
    assert_eq!(status_reason(&hosts[&refused]), ("up", "reset"));
    assert_eq!(hosts[&silent]["status"], "down");
}

#[test]
fn a_sweep_port_scans_only_the_live_hosts() {
    let mut lan = Lan::up(4);
    lan.listen(&lan.lan(12), 8080);
    lan.listen(&lan.lan(14), 22);
    let net = format!("{}/24", lan.lan(0));
    lan.assert_route(&lan.lan(77));
    let out = portwatch(&[
        "scan",
        &net,
        "--exclude",
        &lan.lan(1),
        "--top",
        "100",
        "--no-probes",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let mut up = Vec::new();
    let mut open = Vec::new();
    for h in doc["hosts"].as_array().unwrap() {
        let addr = h["host"].as_str().unwrap().to_string();
        if h["status"] == "up" {
            assert_eq!(h["ports_scanned"], 100, "{h}");
            for p in h["ports"].as_array().unwrap() {
                open.push(format!("{addr}:{}", p["port"]));
            }
            up.push(addr);
        } else {
            assert_eq!(
                (h["ports_scanned"].as_u64(), h["ports_skipped"].as_u64()),
                (Some(0), Some(100)),
                "{h}"
            );
        }
    }
    up.sort();
    let mut want: Vec<String> = LIVE.iter().map(|i| lan.lan(*i)).collect();
    want.sort();
    assert_eq!(up, want);
    open.sort();
    assert_eq!(
        open,
        vec![
            format!("{}:8080", lan.lan(12)),
            format!("{}:22", lan.lan(14))
        ]
    );
    let s = &doc["summary"];
    assert_eq!(
        (s["hosts"].as_u64(), s["up"].as_u64(), s["ports"].as_u64()),
        (Some(255), Some(5), Some(500))
    );
    assert_eq!(
        (
            s["open"].as_u64(),
            s["closed"].as_u64(),
            s["filtered"].as_u64()
        ),
        (Some(2), Some(498), Some(0))
    );
}

/// A namespace `pwx-sc-v6K` on the link fd00:216:6K::/64 (root side ::1, hosts ::10, ::11,
/// ::12) with fd00:216:7K::10-12 routed through ::10, all blackholed in fd00:216::/32 first,
/// removed on drop. Its firewall drops TCP to ::10, echo requests to ::11 and ::12, and port
/// 80 on ::12, and resets 443 on ::11, for the link's and the routed addresses alike; 443 is
/// open on ::12.
struct Lan6 {
    veth: Veth,
}

impl Lan6 {
    fn up(k: u8) -> Lan6 {
        netns::blackhole("fd00:216::/32", None);
        let mut veth = Veth::new(
            &format!("pwx-sc-v6{k}"),
            &format!("pwx-sc-r6{k}"),
            &format!("pwx-sc-h6{k}"),
        );
        veth.set_peer_mac(&format!("08:00:27:21:66:{k:02x}"));
        let hosts: Vec<String> = [10, 11, 12]
            .iter()
            .map(|i| format!("fd00:216:6{k}::{i}/64"))
            .collect();
        veth.up(&[format!("fd00:216:6{k}::1/64")], &hosts);
        for i in [10, 11, 12] {
            veth.exec(&format!("ip -6 addr add fd00:216:7{k}::{i}/128 dev lo"));
        }
        netns::sh(&format!(
            "ip -6 route replace fd00:216:7{k}::/64 via fd00:216:6{k}::10 dev {}",
            veth.root
        ));
        veth.on_teardown(&format!("ip -6 route del fd00:216:7{k}::/64"));
        let mut rules = Vec::new();
        for net in [6, 7] {
            rules.extend([
                format!("ip6 daddr fd00:216:{net}{k}::10 meta l4proto tcp drop"),
                format!("ip6 daddr fd00:216:{net}{k}::11 icmpv6 type echo-request drop"),
                format!("ip6 daddr fd00:216:{net}{k}::11 tcp dport 443 reject with tcp reset"),
                format!("ip6 daddr fd00:216:{net}{k}::12 icmpv6 type echo-request drop"),
                format!("ip6 daddr fd00:216:{net}{k}::12 tcp dport 80 drop"),
            ]);
        }
        veth.nft("pwxsc", &rules);
        veth.socat(&["TCP6-LISTEN:443,fork,reuseaddr", "/dev/null"], ":443 ");
        Lan6 { veth }
    }

    /// Refuses to go on unless `addr` leaves through this test's veth.
    fn assert_route(&self, addr: &str) {
        self.veth.assert_route(addr);
    }

    /// The MAC of the namespace's end of the veth.
    fn host_mac(&self) -> String {
        self.veth.peer_mac()
    }
}

#[test]
fn ipv6_hosts_beyond_the_link_prove_life_by_echo_syn_ack_and_reset() {
    let lan = Lan6::up(1);
    for a in ["fd00:216:71::10", "fd00:216:71::99"] {
        lan.assert_route(a);
    }
    let (hosts, _) = discover(&[
        "fd00:216:71::10",
        "fd00:216:71::11",
        "fd00:216:71::12",
        "fd00:216:71::99",
    ]);
    let got = |a: &str| status_reason(&hosts[a]);
    assert_eq!(got("fd00:216:71::10"), ("up", "echo-reply"));
    assert_eq!(got("fd00:216:71::11"), ("up", "reset"));
    assert_eq!(got("fd00:216:71::12"), ("up", "syn-ack"));
    assert_eq!(got("fd00:216:71::99"), ("down", "no-response"));
}

/// On the link, neighbour solicitation answers for every live address, whatever its firewall
/// does to echo requests and TCP, with the host's MAC; an address nobody holds stays silent.
#[test]
fn ipv6_neighbours_prove_life_by_neighbour_advertisement() {
    let lan = Lan6::up(2);
    for a in ["fd00:216:62::10", "fd00:216:62::99"] {
        lan.assert_route(a);
    }
    let (hosts, _) = discover(&[
        "fd00:216:62::10",
        "fd00:216:62::11",
        "fd00:216:62::12",
        "fd00:216:62::99",
    ]);
    let mac = lan.host_mac();
    for a in ["fd00:216:62::10", "fd00:216:62::11", "fd00:216:62::12"] {
        assert_eq!(status_reason(&hosts[a]), ("up", "nd-response"), "{a}");
        assert_eq!(hosts[a]["mac"].as_str(), Some(mac.as_str()), "{a}");
        assert_eq!(hosts[a]["vendor"], "PCS Systemtechnik GmbH", "{a}");
    }
    assert_eq!(
        status_reason(&hosts["fd00:216:62::99"]),
        ("down", "no-response")
    );
}
