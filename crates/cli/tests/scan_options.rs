//! The scan options that choose what is scanned and how fast, each shown to change what the
//! scanner does, against real hosts: hostnames from the test bed's DNS (`pwtb.test`, through
//! `--dns-servers`) and `--resolve all`, `-iL`, `--exclude`, CIDR and ranges, `--rate`,
//! `--max-parallel`, `--host-group`, `--assume-up`, and the `host-unreach` and `net-unreach`
//! reasons (nftables rejects in a router namespace, and the router kernel's own answers for a
//! host that does not answer ARP or NDP and for a network it has no route to).
//!
//! Limits are checked on the wire, never as an upper bound on time: a sniffer in the target's
//! namespace records every SYN with its kernel timestamp, and the test counts what a limit
//! forbids (more starts in a second than `--rate`, more probes awaiting an answer than
//! `--max-parallel`, more hosts probed at once than `--host-group`) and the lower bound the
//! limit guarantees.
//!
//! Namespaces are `pwp-…`, addresses 10.236.K.0/24 and fd00:236:K::/64; both ranges are
//! blackholed in the root namespace (metric 4000) first, every route is checked with
//! `ip route get` before a scan, and each test's namespaces are removed on drop.

mod common;
#[path = "common/netns.rs"]
mod netns;
use common::{ChildGuard, assert_route_is_ours, json_lines, portwatch, stderr, stdout};
use netns::{
    Veth, assert_route_via, listen_in, nft_in, python_in, sh, sh_quiet, wait_dad_in, wait_dad_on,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Output;
use std::time::{Duration, Instant};

/// Blackholes both test ranges in the root namespace, so that an address whose namespace is
/// gone goes nowhere. The routes stay (another test may be running); `scripts/test.sh`
/// removes them once no test namespace is left.
fn blackhole_ranges() {
    netns::blackhole("10.236.0.0/16", Some(4000));
    netns::blackhole("fd00:236::/32", Some(4000));
}

/// Records every TCP SYN (without ACK) that arrives on interface argv[1], one line each in
/// file argv[2]: kernel receive time, source, source port, destination, destination port.
const SNIFFER: &str = r#"
import socket, struct, sys
iface, path = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.setsockopt(socket.SOL_SOCKET, 35, 1)  # SO_TIMESTAMPNS
s.bind((iface, 0))
out = open(path, "w", buffering=1)
print("ready", flush=True)
while True:
    data, anc, _, addr = s.recvmsg(65535, 256)
    if addr[2] == socket.PACKET_OUTGOING:
        continue
    ts = None
    for level, kind, d in anc:
        if level == socket.SOL_SOCKET and kind == 35:
            sec, nsec = struct.unpack("qq", d[:16])
            ts = sec + nsec / 1e9
    eth, p = struct.unpack("!H", data[12:14])[0], data[14:]
    if eth == 0x0800 and p[9] == 6:
        src, dst = socket.inet_ntop(socket.AF_INET, p[12:16]), socket.inet_ntop(socket.AF_INET, p[16:20])
        tcp = p[(p[0] & 15) * 4:]
    elif eth == 0x86DD and p[6] == 6:
        src, dst = socket.inet_ntop(socket.AF_INET6, p[8:24]), socket.inet_ntop(socket.AF_INET6, p[24:40])
        tcp = p[40:]
    else:
        continue
    sport, dport = struct.unpack("!HH", tcp[:4])
    if tcp[13] & 0x12 == 0x02 and ts is not None:
        out.write(f"{ts:.6f} {src} {sport} {dst} {dport}\n")
"#;

/// One SYN seen by the sniffer.
#[derive(Debug, Clone)]
struct Syn {
    at: f64,
    src_port: u16,
    dst: String,
    port: u16,
}

/// A SYN sniffer on one interface of a namespace, writing to a file of its own.
struct Sniffer {
    _child: ChildGuard,
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl Sniffer {
    fn start(ns: &str, iface: &str) -> Sniffer {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("syns.txt");
        let child = python_in(
            Some(ns),
            SNIFFER,
            &[iface.to_string(), path.display().to_string()],
        );
        Sniffer {
            _child: child,
            _dir: dir,
            path,
        }
    }

    fn read(&self) -> Vec<Syn> {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        text.lines()
            .filter(|l| l.ends_with(|c: char| c.is_ascii_digit()))
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                Some(Syn {
                    at: f.first()?.parse().ok()?,
                    src_port: f.get(2)?.parse().ok()?,
                    dst: f.get(3)?.to_string(),
                    port: f.get(4)?.parse().ok()?,
                })
            })
            .collect()
    }

    /// The SYNs seen so far, once at least `want` of them match `keep` (the sniffer writes
    /// a moment after the packet arrives); fails after a generous wait.
    fn wait_for(&self, want: usize, keep: impl Fn(&Syn) -> bool) -> Vec<Syn> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got: Vec<Syn> = self.read().into_iter().filter(|s| keep(s)).collect();
            if got.len() >= want {
                // Anything still on its way arrives within this pause.
                std::thread::sleep(Duration::from_millis(300));
                return self.read().into_iter().filter(|s| keep(s)).collect();
            }
            assert!(
                Instant::now() < deadline,
                "the sniffer saw {} of {want} SYNs: {got:?}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// When the first SYN of each probe came ([`first_syns`] of [`Sniffer::wait_for`]), in
    /// time order.
    fn first_syn_times(&self, want: usize, keep: impl Fn(&Syn) -> bool) -> Vec<f64> {
        first_syns(&self.wait_for(want, keep))
            .iter()
            .map(|s| s.at)
            .collect()
    }
}

/// The first SYN of each probe (a connect's kernel may retransmit its SYN; the copies have
/// the same source and destination port), in time order.
fn first_syns(syns: &[Syn]) -> Vec<Syn> {
    let mut seen = BTreeSet::new();
    let mut out: Vec<Syn> = syns
        .iter()
        .filter(|s| seen.insert((s.dst.clone(), s.src_port, s.port)))
        .cloned()
        .collect();
    out.sort_by(|a, b| a.at.total_cmp(&b.at));
    out
}

/// The most of `times` (sorted) that fall within any window of `width` seconds.
fn most_within(times: &[f64], width: f64) -> usize {
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..times.len() {
        while times[hi] - times[lo] >= width {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

/// A namespace `pwp-lK` joined to the root namespace by the veth `pwp-rK` / `pwp-hK`: LAN
/// 10.236.K.0/24 and fd00:236:K::/64, the root side .1 / ::1, the host owning `.N` / `::N`
/// for every N given.
struct Lan {
    k: u8,
    veth: Veth,
}

impl Lan {
    fn up(k: u8, hosts: &[u8]) -> Lan {
        blackhole_ranges();
        let veth = Veth::new(
            &format!("pwp-l{k}"),
            &format!("pwp-r{k}"),
            &format!("pwp-h{k}"),
        );
        let owned: Vec<String> = hosts
            .iter()
            .flat_map(|n| {
                [
                    format!("10.236.{k}.{n}/24"),
                    format!("fd00:236:{k}::{n}/64"),
                ]
            })
            .collect();
        veth.up(
            &[format!("10.236.{k}.1/24"), format!("fd00:236:{k}::1/64")],
            &owned,
        );
        wait_dad_in(&veth.ns);
        wait_dad_on(&veth.root);
        Lan { k, veth }
    }

    fn v4(&self, n: u8) -> String {
        format!("10.236.{}.{n}", self.k)
    }
    fn v6(&self, n: u8) -> String {
        format!("fd00:236:{}::{n}", self.k)
    }

    /// Refuses to go on unless each address leaves through this LAN's veth.
    fn assert_routes(&self, addrs: &[String]) {
        for a in addrs {
            self.veth.assert_route(a);
        }
    }

    /// Listeners on `ports` on every address of the namespace.
    fn listen(&mut self, ports: &[u16]) {
        self.veth.listen(ports);
    }

    /// A sniffer of the SYNs that reach the namespace.
    fn sniff(&self) -> Sniffer {
        Sniffer::start(&self.veth.ns, &self.veth.peer)
    }

    fn nft(&self, rules: &[String]) {
        self.veth.nft("pwp", rules);
    }
}

/// Hosts behind a router, K a multiple of 10: the root namespace reaches the router `pwp-gK`
/// over 10.236.K.0/24 (veth `pwp-rK` / `pwp-aK`); behind it the far network
/// 10.236.(K+1).0/24 (router .1, veth `pwp-bK` / `pwp-cK`) holds the namespace `pwp-fK`
/// with the addresses .2 and .3. The root namespace also routes 10.236.(K+3).0/24 to the
/// router, which has no route for it. Same layout in fd00:236:K::/64 and so on.
struct Routed {
    k: u8,
    children: Vec<ChildGuard>,
}

impl Routed {
    fn up(k: u8) -> Routed {
        blackhole_ranges();
        let net = Routed {
            k,
            children: Vec::new(),
        };
        net.teardown();
        let (g, f) = (net.router(), net.far_ns());
        let (far, none) = (k + 1, k + 3);
        sh(&format!("ip netns add {g} && ip netns add {f}"));
        sh(&format!(
            "ip link add pwp-r{k} type veth peer name pwp-a{k} && ip link set pwp-a{k} netns {g} \
             && ip link add pwp-b{k} type veth peer name pwp-c{k} \
             && ip link set pwp-b{k} netns {g} && ip link set pwp-c{k} netns {f}"
        ));
        sh(&format!(
            "ip addr add 10.236.{k}.1/24 dev pwp-r{k} \
             && ip -6 addr add fd00:236:{k}::1/64 dev pwp-r{k} nodad && ip link set pwp-r{k} up"
        ));
        // The router forwards, answers every error at once (no ICMP rate limit) and gives up
        // on an unanswered ARP or NDP query after one try of 200 ms.
        sh(&format!(
            "ip netns exec {g} sh -c 'ip link set lo up && ip link set pwp-a{k} up \
             && ip link set pwp-b{k} up \
             && ip addr add 10.236.{k}.2/24 dev pwp-a{k} \
             && ip -6 addr add fd00:236:{k}::2/64 dev pwp-a{k} nodad \
             && ip addr add 10.236.{far}.1/24 dev pwp-b{k} \
             && ip -6 addr add fd00:236:{far}::1/64 dev pwp-b{k} nodad \
             && sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
                net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 \
                net.ipv4.neigh.pwp-b{k}.mcast_solicit=1 net.ipv4.neigh.pwp-b{k}.retrans_time_ms=200 \
                net.ipv6.neigh.pwp-b{k}.mcast_solicit=1 net.ipv6.neigh.pwp-b{k}.retrans_time_ms=200'"
        ));
        sh(&format!(
            "ip netns exec {f} sh -c 'ip link set lo up && ip link set pwp-c{k} up \
             && ip addr add 10.236.{far}.2/24 dev pwp-c{k} && ip addr add 10.236.{far}.3/24 dev pwp-c{k} \
             && ip -6 addr add fd00:236:{far}::2/64 dev pwp-c{k} nodad \
             && ip -6 addr add fd00:236:{far}::3/64 dev pwp-c{k} nodad \
             && ip route add default via 10.236.{far}.1 \
             && ip -6 route add default via fd00:236:{far}::1'"
        ));
        for n in [far, none] {
            sh(&format!(
                "ip route replace 10.236.{n}.0/24 via 10.236.{k}.2 dev pwp-r{k} \
                 && ip -6 route replace fd00:236:{n}::/64 via fd00:236:{k}::2 dev pwp-r{k}"
            ));
        }
        wait_dad_in(&g);
        wait_dad_in(&f);
        wait_dad_on(&format!("pwp-r{k}"));
        net
    }

    fn router(&self) -> String {
        format!("pwp-g{}", self.k)
    }
    fn far_ns(&self) -> String {
        format!("pwp-f{}", self.k)
    }
    /// An address of the far network (the namespace owns .2 and .3, nothing else answers).
    fn far4(&self, n: u8) -> String {
        format!("10.236.{}.{n}", self.k + 1)
    }
    fn far6(&self, n: u8) -> String {
        format!("fd00:236:{}::{n}", self.k + 1)
    }
    /// An address of the network the router has no route to.
    fn noroute4(&self) -> String {
        format!("10.236.{}.2", self.k + 3)
    }
    fn noroute6(&self) -> String {
        format!("fd00:236:{}::2", self.k + 3)
    }

    fn assert_routes(&self, addrs: &[String]) {
        for a in addrs {
            assert_route_via(a, &format!("pwp-r{}", self.k));
        }
    }

    fn listen(&mut self, ports: &[u16]) {
        let child = listen_in(Some(&self.far_ns()), false, ports);
        self.children.push(child);
    }

    fn sniff(&self) -> Sniffer {
        Sniffer::start(&self.far_ns(), &format!("pwp-c{}", self.k))
    }

    fn teardown(&self) {
        let k = self.k;
        sh_quiet(&format!(
            "ip route del 10.236.{a}.0/24; ip route del 10.236.{b}.0/24; \
             ip -6 route del fd00:236:{a}::/64; ip -6 route del fd00:236:{b}::/64; \
             ip netns del {}; ip netns del {}; ip link del pwp-r{k}",
            self.router(),
            self.far_ns(),
            a = k + 1,
            b = k + 3,
        ));
    }
}

impl Drop for Routed {
    fn drop(&mut self) {
        self.children.clear();
        self.teardown();
    }
}

/// `portwatch scan ARGS --no-progress --format json`: the document, after exit 0.
fn scan_json(args: &[&str]) -> Value {
    let mut all = vec!["scan"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--no-progress", "--format", "json"]);
    let out = portwatch(&all);
    assert_eq!(out.status.code(), Some(0), "{all:?}: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

/// The document's hosts by address.
fn hosts(doc: &Value) -> BTreeMap<String, Value> {
    doc["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| (h["host"].as_str().unwrap().to_string(), h.clone()))
        .collect()
}

/// Open ports of a host of the document.
fn open_ports(host: &Value) -> Vec<u16> {
    host["ports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["state"] == "open")
        .map(|p| p["port"].as_u64().unwrap() as u16)
        .collect()
}

/// (state, reason) of every reported port of a jsonl scan.
/// `portwatch scan ADDR METHOD -p PORTS EXTRA… --all --no-probes --format jsonl`.
fn scan_all_jsonl(addr: &str, method: &str, ports: &str, extra: &[&str]) -> Output {
    let mut args = vec!["scan", addr, method, "-p", ports];
    args.extend_from_slice(extra);
    args.extend(["--all", "--no-probes", "--format", "jsonl"]);
    portwatch(&args)
}

fn port_states(out: &Output) -> BTreeMap<u16, (String, String)> {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    json_lines(&stdout(out))
        .iter()
        .map(|v| {
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

fn state(s: &str, r: &str) -> (String, String) {
    (s.to_string(), r.to_string())
}

fn strings(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(std::string::ToString::to_string).collect()
}

// --- hostnames ----------------------------------------------------------------------------

/// The test bed's DNS server (dnsmasq on the `udp` host) and the `tcp` host it names.
fn testbed_dns() -> (String, Value) {
    let dns = common::testbed_host("udp")["addr4"]
        .as_str()
        .unwrap()
        .to_string();
    let tcp = common::testbed_host("tcp");
    assert_route_is_ours(&dns);
    assert_route_is_ours(tcp["addr4"].as_str().unwrap());
    assert_route_is_ours(tcp["addr6"].as_str().unwrap());
    (dns, tcp)
}

/// A port the `tcp` host listens on over both IPv4 and IPv6.
fn open_on_both(tcp: &Value) -> u16 {
    let six = common::ports(&tcp["truth6"]["tcp"]["open"]);
    common::ports(&tcp["truth"]["tcp"]["open"])
        .into_iter()
        .find(|p| six.contains(p))
        .expect("the tcp host has a port open over both families")
}

#[test]
fn a_hostname_resolved_by_the_given_dns_server_scans_its_ipv4_address() {
    let (dns, tcp) = testbed_dns();
    let port = open_on_both(&tcp).to_string();
    let doc = scan_json(&[
        "tcp.pwtb.test",
        "-p",
        &port,
        "--no-probes",
        "--dns-servers",
        &dns,
    ]);
    let got = hosts(&doc);
    let addr4 = tcp["addr4"].as_str().unwrap();
    assert_eq!(
        got.keys().cloned().collect::<BTreeSet<_>>(),
        strings(&[addr4]),
        "one address, IPv4 first: {doc}"
    );
    let h = &got[addr4];
    assert_eq!(h["hostname"], "tcp.pwtb.test", "{h}");
    assert_eq!(h["status"], "up", "{h}");
    assert_eq!(open_ports(h), [port.parse::<u16>().unwrap()], "{h}");
    assert_eq!(h["ports"][0]["hostname"], "tcp.pwtb.test", "{h}");
}

#[test]
fn resolve_all_scans_every_address_of_the_hostname() {
    let (dns, tcp) = testbed_dns();
    let port = open_on_both(&tcp);
    let p = port.to_string();
    let doc = scan_json(&[
        "tcp.pwtb.test",
        "-p",
        &p,
        "--no-probes",
        "--resolve",
        "all",
        "--dns-servers",
        &format!("{dns}:53"),
    ]);
    let got = hosts(&doc);
    let (addr4, addr6) = (
        tcp["addr4"].as_str().unwrap(),
        tcp["addr6"].as_str().unwrap(),
    );
    assert_eq!(
        got.keys().cloned().collect::<BTreeSet<_>>(),
        strings(&[addr4, addr6]),
        "the A and the AAAA record: {doc}"
    );
    for h in got.values() {
        assert_eq!(h["hostname"], "tcp.pwtb.test", "{h}");
        assert_eq!(h["status"], "up", "{h}");
        assert_eq!(open_ports(h), [port], "{h}");
    }
    assert_eq!(doc["summary"]["hosts"], 2, "{doc}");
}

// --- target lists, exclusions, CIDR and ranges --------------------------------------------

#[test]
fn input_list_scans_exactly_the_targets_of_the_file() {
    let mut lan = Lan::up(1, &[2, 3, 4, 5]);
    lan.listen(&[2201]);
    let listed = [lan.v4(2), lan.v4(3), lan.v4(5), lan.v6(4)];
    lan.assert_routes(&listed);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hosts.txt");
    std::fs::write(
        &file,
        format!(
            "# the file servers\n{} {}   # two on a line\n\n  {}\n{} # and one over IPv6\n",
            listed[0], listed[1], listed[2], listed[3]
        ),
    )
    .unwrap();
    let sniffer = lan.sniff();
    let doc = scan_json(&["-iL", file.to_str().unwrap(), "-p", "2201", "--no-probes"]);
    let got = hosts(&doc);
    let want: BTreeSet<String> = listed.iter().cloned().collect();
    assert_eq!(got.keys().cloned().collect::<BTreeSet<_>>(), want, "{doc}");
    for h in got.values() {
        assert_eq!(open_ports(h), [2201], "{h}");
    }
    // The address left out of the file (the namespace owns it too) got nothing.
    let syns = sniffer.wait_for(4, |s| s.port == 2201);
    let probed: BTreeSet<String> = syns.iter().map(|s| s.dst.clone()).collect();
    assert_eq!(probed, want, "{syns:?}");
}

#[test]
fn exclude_removes_hosts_from_a_cidr_and_a_range() {
    let mut lan = Lan::up(2, &[9, 10, 11, 12, 13, 14]);
    lan.listen(&[2202]);
    lan.assert_routes(&[lan.v4(8), lan.v4(15)]);
    let sniffer = lan.sniff();
    let excluded = format!("{},{}-{}", lan.v4(10), lan.v4(12), 13);
    let net = format!("{}/29", lan.v4(8));
    let doc = scan_json(&[&net, "--exclude", &excluded, "-p", "2202", "--no-probes"]);
    let got = hosts(&doc);
    let want: BTreeSet<String> = [8, 9, 11, 14, 15].iter().map(|n| lan.v4(*n)).collect();
    assert_eq!(got.keys().cloned().collect::<BTreeSet<_>>(), want, "{doc}");
    for n in [9, 11, 14] {
        let h = &got[&lan.v4(n)];
        assert_eq!(
            (&h["status"], open_ports(h)),
            (&Value::from("up"), vec![2202])
        );
    }
    for n in [8, 15] {
        assert_eq!(got[&lan.v4(n)]["status"], "down", "nobody owns .{n}");
    }
    let syns = sniffer.wait_for(3, |s| s.port == 2202);
    let probed: BTreeSet<String> = syns.iter().map(|s| s.dst.clone()).collect();
    assert_eq!(
        probed,
        [9, 11, 14].iter().map(|n| lan.v4(*n)).collect(),
        "the excluded live hosts got no probe: {syns:?}"
    );

    // The same from a file, over an IPv6 range: ::9-::12 is 10 addresses (hex), of which
    // the namespace owns ::9, ::10, ::11 and ::12.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("skip.txt");
    std::fs::write(&file, format!("{}  # not this one\n", lan.v6(11))).unwrap();
    let range = format!("{}-{}", lan.v6(9), lan.v6(12));
    let doc = scan_json(&[
        &range,
        "--exclude-file",
        file.to_str().unwrap(),
        "--exclude",
        &lan.v6(10),
        "-p",
        "2202",
        "--no-probes",
    ]);
    let got = hosts(&doc);
    assert_eq!(got.len(), 8, "10 addresses less 2 excluded: {doc}");
    let up: BTreeSet<String> = got
        .iter()
        .filter(|(_, h)| h["status"] == "up")
        .map(|(a, _)| a.clone())
        .collect();
    assert_eq!(up, [9, 12].iter().map(|n| lan.v6(*n)).collect(), "{doc}");
    for a in &up {
        assert_eq!(open_ports(&got[a]), [2202], "{doc}");
    }
}

#[test]
fn cidr_and_every_range_form_scan_exactly_their_addresses() {
    let mut lan = Lan::up(3, &[2, 3, 4, 5, 6, 17, 21]);
    lan.listen(&[2203]);
    lan.assert_routes(&[lan.v4(9), lan.v4(19), lan.v6(3)]);
    let targets = [
        format!("{}-4", lan.v4(2)),             // 10.236.3.2-4
        format!("{}-{}", lan.v4(5), lan.v4(6)), // full range
        format!("10.236.{}.9,21", lan.k),       // nmap octet list
        format!("{}/30", lan.v4(16)),           // CIDR .16-.19
        format!("{}-{}", lan.v6(2), lan.v6(3)), // IPv6 range
        format!("[{}]", lan.v6(5)),             // bracketed IPv6
    ];
    let mut args: Vec<&str> = targets.iter().map(String::as_str).collect();
    args.extend_from_slice(&["-p", "2203", "--no-probes", "--all"]);
    let doc = scan_json(&args);
    let got = hosts(&doc);
    let up: BTreeSet<String> = [2, 3, 4, 5, 6, 17, 21]
        .iter()
        .map(|n| lan.v4(*n))
        .chain([2, 3, 5].iter().map(|n| lan.v6(*n)))
        .collect();
    let down: BTreeSet<String> = [9, 16, 18, 19].iter().map(|n| lan.v4(*n)).collect();
    assert_eq!(
        got.keys().cloned().collect::<BTreeSet<_>>(),
        up.union(&down).cloned().collect(),
        "{doc}"
    );
    assert_eq!(
        doc["hosts"].as_array().unwrap().len(),
        14,
        "each address once"
    );
    for a in &up {
        assert_eq!(got[a]["status"], "up", "{}", got[a]);
        assert_eq!(open_ports(&got[a]), [2203], "{}", got[a]);
    }
    for a in &down {
        assert_eq!(got[a]["status"], "down", "{}", got[a]);
    }
}

// --- speed controls -----------------------------------------------------------------------

/// `--rate 10` over 40 closed ports (each answered at once by a reset): the 40 SYNs reach
/// the host at most 10 (plus one for timestamp jitter) in any second, and the last comes at
/// least 39 intervals of 100 ms after the first; without `--rate` they come at once.
fn rate_limits_starts(k: u8, method: &str) {
    let lan = Lan::up(k, &[2]);
    let addr = lan.v4(2);
    lan.assert_routes(std::slice::from_ref(&addr));
    let sniffer = lan.sniff();
    let started = Instant::now();
    let out = scan_all_jsonl(&addr, method, "3001-3040", &["--rate", "10"]);
    let elapsed = started.elapsed();
    let states = port_states(&out);
    assert_eq!(states.len(), 40, "{states:?}");
    assert!(
        states
            .values()
            .all(|s| *s == state("closed", "conn-refused")),
        "{states:?}"
    );
    let times = sniffer.first_syn_times(40, |s| (3001..=3040).contains(&s.port));
    assert_eq!(times.len(), 40, "one SYN a port: {times:?}");
    let in_a_second = most_within(&times, 1.0);
    assert!(
        in_a_second <= 11,
        "{method}: {in_a_second} SYNs within one second at --rate 10: {times:?}"
    );
    let span = times[39] - times[0];
    assert!(
        span >= 3.9 - 0.2,
        "{method}: 40 starts at 10/s span at least 3.9 s, got {span:.3} s"
    );
    assert!(elapsed >= Duration::from_millis(3700), "{elapsed:?}");

    // Without the limit nothing holds the starts back.
    let sniffer = lan.sniff();
    let out = scan_all_jsonl(&addr, method, "3001-3040", &[]);
    assert_eq!(port_states(&out).len(), 40);
    let times = sniffer.first_syn_times(40, |s| (3001..=3040).contains(&s.port));
    assert!(
        most_within(&times, 1.0) > 11,
        "{method}: without --rate the starts are not paced: {times:?}"
    );
}

#[test]
fn rate_limits_syn_probes_started_per_second() {
    rate_limits_starts(5, "--syn");
}

#[test]
fn rate_limits_connects_started_per_second() {
    rate_limits_starts(6, "--connect");
}

/// Options that make every silent probe wait exactly `ms` for its answer, once.
fn fixed_timeout(ms: &str) -> [&str; 10] {
    [
        "--min-rtt-timeout",
        ms,
        "--max-rtt-timeout",
        ms,
        "--initial-rtt-timeout",
        ms,
        "--retries",
        "0",
        "--max-retries",
        "0",
    ]
}

/// `--max-parallel 3` over 12 dropped ports, each probe waiting 1 s for an answer that
/// never comes: a probe's slot frees only when its second is up, so no half second sees more
/// than 3 SYNs, and the 12 take at least 4 rounds (3 s from the first SYN to the last).
/// Without the option all 12 are out at once.
fn max_parallel_caps_waiting_probes(k: u8, method: &str) {
    let mut lan = Lan::up(k, &[2]);
    lan.listen(&[3100]);
    lan.nft(&["tcp dport 3101-3112 drop".to_string()]);
    let addr = lan.v4(2);
    lan.assert_routes(std::slice::from_ref(&addr));
    let dropped = |s: &Syn| (3101..=3112).contains(&s.port);
    let run = |extra: &[&str]| {
        let mut args = fixed_timeout("1s").to_vec();
        args.extend_from_slice(extra);
        let started = Instant::now();
        let states = port_states(&scan_all_jsonl(&addr, method, "3100-3112", &args));
        let elapsed = started.elapsed();
        assert_eq!(states[&3100], state("open", "syn-ack"), "{states:?}");
        for p in 3101..=3112 {
            assert_eq!(states[&p], state("filtered", "timeout"), "{p}: {states:?}");
        }
        elapsed
    };

    let sniffer = lan.sniff();
    let elapsed = run(&["--max-parallel", "3"]);
    let times = sniffer.first_syn_times(12, dropped);
    assert_eq!(times.len(), 12, "{times:?}");
    let together = most_within(&times, 0.5);
    assert!(
        together <= 3,
        "{method}: {together} probes out at once under --max-parallel 3: {times:?}"
    );
    let span = times[11] - times[0];
    assert!(span >= 2.9, "{method}: 4 rounds of 1 s, got {span:.3} s");
    assert!(elapsed >= Duration::from_secs(4), "{elapsed:?}");

    let sniffer = lan.sniff();
    run(&[]);
    let times = sniffer.first_syn_times(12, dropped);
    assert!(
        most_within(&times, 0.5) > 3,
        "{method}: without --max-parallel the probes go out together: {times:?}"
    );
}

#[test]
fn max_parallel_caps_syn_probes_awaiting_an_answer() {
    max_parallel_caps_waiting_probes(7, "--syn");
}

#[test]
fn max_parallel_caps_connects_awaiting_an_answer() {
    max_parallel_caps_waiting_probes(8, "--connect");
}

/// The spans during which each host had probes out: from its first SYN to 1 s (the probe
/// timeout) after its last, less half a second of margin.
fn host_spans(syns: &[Syn]) -> BTreeMap<String, (f64, f64)> {
    let mut spans: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for s in syns {
        let e = spans.entry(s.dst.clone()).or_insert((s.at, s.at));
        e.0 = e.0.min(s.at);
        e.1 = e.1.max(s.at);
    }
    for e in spans.values_mut() {
        e.1 += 0.5;
    }
    spans
}

/// The most spans that overlap at one moment.
fn most_overlapping(spans: &BTreeMap<String, (f64, f64)>) -> usize {
    spans
        .values()
        .map(|(start, _)| {
            spans
                .values()
                .filter(|(s, e)| s <= start && start < e)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Four hosts, each with one listener and three dropped ports (1 s each): under
/// `--host-group 1` a host is finished (its dropped ports timed out) before the next one
/// gets a probe, so the four take at least 4 s; `--host-group 2` has two at a time; without
/// the option all four are probed together.
#[test]
fn host_group_bounds_the_hosts_probed_at_once() {
    let mut lan = Lan::up(9, &[2, 3, 4, 5]);
    lan.listen(&[3200]);
    lan.nft(&["tcp dport 3201-3203 drop".to_string()]);
    let addrs: Vec<String> = [2, 3, 4, 5].iter().map(|n| lan.v4(*n)).collect();
    lan.assert_routes(&addrs);
    let targets = format!("{}-5", lan.v4(2));
    let ours = |s: &Syn| (3200..=3203).contains(&s.port);
    let run = |extra: &[&str]| {
        let mut args = vec![targets.as_str(), "-p", "3200-3203", "--no-probes", "--all"];
        args.extend_from_slice(&fixed_timeout("1s"));
        args.extend_from_slice(extra);
        let started = Instant::now();
        let doc = scan_json(&args);
        let elapsed = started.elapsed();
        let got = hosts(&doc);
        assert_eq!(got.len(), 4, "{doc}");
        for h in got.values() {
            assert_eq!(
                (h["open"].as_u64(), h["filtered"].as_u64()),
                (Some(1), Some(3)),
                "{h}"
            );
        }
        elapsed
    };

    let sniffer = lan.sniff();
    let elapsed = run(&["--host-group", "1"]);
    let spans = host_spans(&first_syns(&sniffer.wait_for(16, ours)));
    assert_eq!(spans.len(), 4, "{spans:?}");
    assert_eq!(
        most_overlapping(&spans),
        1,
        "--host-group 1 probes one host at a time: {spans:?}"
    );
    assert!(elapsed >= Duration::from_secs(4), "{elapsed:?}");

    let sniffer = lan.sniff();
    run(&["--host-group", "2"]);
    let spans = host_spans(&first_syns(&sniffer.wait_for(16, ours)));
    assert_eq!(
        most_overlapping(&spans),
        2,
        "--host-group 2 probes two hosts at a time: {spans:?}"
    );

    let sniffer = lan.sniff();
    run(&[]);
    let spans = host_spans(&first_syns(&sniffer.wait_for(16, ours)));
    assert_eq!(
        most_overlapping(&spans),
        4,
        "by default all four are probed together: {spans:?}"
    );
}

// --- assume-up ----------------------------------------------------------------------------

/// A host that drops every probe: a scan gives it up as down after 128 silent ports and
/// skips the rest; `--assume-up` probes every one of the 200 ports and reports them filtered.
#[test]
fn assume_up_probes_every_port_of_a_silent_host() {
    let lan = Lan::up(10, &[2]);
    lan.nft(&["tcp dport 3301-3500 drop".to_string()]);
    let addr = lan.v4(2);
    lan.assert_routes(std::slice::from_ref(&addr));
    let ports = |s: &Syn| (3301..=3500).contains(&s.port);
    let mut args = vec![addr.as_str(), "-p", "3301-3500", "--no-probes", "--all"];
    args.extend_from_slice(&fixed_timeout("300ms"));

    let sniffer = lan.sniff();
    let doc = scan_json(&args);
    let h = &hosts(&doc)[&addr];
    assert_eq!(
        (&h["status"], &h["reason"]),
        (&"down".into(), &"timeout".into()),
        "{h}"
    );
    assert!(h["ports_skipped"].as_u64().unwrap() > 0, "{h}");
    assert_eq!(h["ports"].as_array().unwrap().len(), 0, "{h}");
    let silent = first_syns(&sniffer.wait_for(128, ports)).len();
    assert!(
        silent < 200,
        "a down host's other ports are skipped: {silent} probed"
    );

    let sniffer = lan.sniff();
    args.push("--assume-up");
    let doc = scan_json(&args);
    let h = &hosts(&doc)[&addr];
    assert_eq!(h["status"], "up", "{h}");
    assert_eq!(
        (
            h["ports_scanned"].as_u64(),
            h["filtered"].as_u64(),
            h["ports_skipped"].as_u64()
        ),
        (Some(200), Some(200), Some(0)),
        "{h}"
    );
    let ports_seen: BTreeSet<u16> = sniffer
        .wait_for(200, ports)
        .iter()
        .map(|s| s.port)
        .collect();
    assert_eq!(ports_seen.len(), 200, "every port was probed");
}

/// Two hosts behind a router, one of which ignores every discovery probe (ICMP echo and
/// timestamp, TCP to 80 and 443) but listens on 3300: host discovery calls it down and its
/// port is never probed; `--assume-up` skips discovery and finds the port open.
#[test]
fn assume_up_skips_discovery() {
    let mut net = Routed::up(40);
    net.listen(&[3300]);
    let (hidden, shown) = (net.far4(2), net.far4(3));
    nft_in(
        &net.far_ns(),
        "pwp",
        "input",
        &[
            format!("ip daddr {hidden} icmp type {{ echo-request, timestamp-request }} drop"),
            format!("ip daddr {hidden} tcp dport {{ 80, 443 }} drop"),
        ],
    );
    net.assert_routes(&[hidden.clone(), shown.clone()]);
    let on_3300 = |s: &Syn| s.port == 3300;
    let base = [
        hidden.as_str(),
        shown.as_str(),
        "-p",
        "3300",
        "--no-probes",
        "--max-rtt-timeout",
        "500ms",
    ];

    let sniffer = net.sniff();
    let doc = scan_json(&base);
    let got = hosts(&doc);
    assert_eq!(got[&hidden]["status"], "down", "{doc}");
    assert_eq!(got[&hidden]["ports_scanned"], 0, "{doc}");
    assert_eq!(open_ports(&got[&shown]), [3300], "{doc}");
    let probed: BTreeSet<String> = sniffer
        .wait_for(1, on_3300)
        .into_iter()
        .map(|s| s.dst)
        .collect();
    assert_eq!(
        probed,
        strings(&[&shown]),
        "only the live host is port scanned"
    );

    let sniffer = net.sniff();
    let mut args = base.to_vec();
    args.push("--assume-up");
    let doc = scan_json(&args);
    let got = hosts(&doc);
    for a in [&hidden, &shown] {
        assert_eq!(got[a]["status"], "up", "{doc}");
        assert_eq!(open_ports(&got[a]), [3300], "{doc}");
    }
    let probed: BTreeSet<String> = sniffer
        .wait_for(2, on_3300)
        .into_iter()
        .map(|s| s.dst)
        .collect();
    assert_eq!(probed, strings(&[&hidden, &shown]));
}

// --- host-unreach and net-unreach -----------------------------------------------------------

/// The router rejects 3401 with "host unreachable" and 3402 with "network unreachable"
/// (ICMPv6 "address unreachable" and "no route"); 3400 listens, 3403 is closed. Both probe
/// methods over both families report the rejected ports filtered with the matching reason.
#[test]
fn router_rejects_give_host_unreach_and_net_unreach() {
    let mut net = Routed::up(20);
    net.listen(&[3400]);
    let (a4, a6) = (net.far4(2), net.far6(2));
    nft_in(
        &net.router(),
        "pwp",
        "forward",
        &[
            format!("ip daddr {a4} tcp dport 3401 reject with icmp type host-unreachable"),
            format!("ip daddr {a4} tcp dport 3402 reject with icmp type net-unreachable"),
            format!("ip6 daddr {a6} tcp dport 3401 reject with icmpv6 type addr-unreachable"),
            format!("ip6 daddr {a6} tcp dport 3402 reject with icmpv6 type no-route"),
        ],
    );
    net.assert_routes(&[a4.clone(), a6.clone()]);
    let want = BTreeMap::from([
        (3400, state("open", "syn-ack")),
        (3401, state("filtered", "host-unreach")),
        (3402, state("filtered", "net-unreach")),
        (3403, state("closed", "conn-refused")),
    ]);
    for addr in [&a4, &a6] {
        for method in ["--syn", "--connect"] {
            let out = scan_all_jsonl(addr, method, "3400-3403", &["--max-rtt-timeout", "1s"]);
            assert_eq!(port_states(&out), want, "{addr} {method}");
        }
    }
}

/// The router's kernel answers for itself: an address on its far network that nobody owns
/// (ARP and NDP go unanswered) is "host unreachable", a network it has no route to is
/// "network unreachable". A scan reports each such host down with that reason, and
/// `--assume-up` reports its port filtered with it.
#[test]
fn router_kernel_unreachables_give_the_down_reason() {
    let net = Routed::up(30);
    let cases = [
        (net.far4(99), "host-unreach"),
        (net.far6(99), "host-unreach"),
        (net.noroute4(), "net-unreach"),
        (net.noroute6(), "net-unreach"),
    ];
    let addrs: Vec<String> = cases.iter().map(|(a, _)| a.clone()).collect();
    net.assert_routes(&addrs);
    // The router's kernel sends at most 5 "network unreachable" a sender at once (then one a
    // second): these scans of 1 port ask for 2 to each network.
    for (addr, reason) in &cases {
        let doc = scan_json(&[addr, "--syn", "-p", "3501", "--all", "--no-probes"]);
        let h = &hosts(&doc)[addr];
        assert_eq!(
            (&h["status"], &h["reason"]),
            (&"down".into(), &Value::from(*reason)),
            "{addr}: {h}"
        );
        let doc = scan_json(&[
            addr,
            "--connect",
            "--assume-up",
            "-p",
            "3501",
            "--all",
            "--no-probes",
        ]);
        let h = &hosts(&doc)[addr];
        assert_eq!(h["status"], "up", "{h}");
        let p = &h["ports"][0];
        assert_eq!(
            (&p["port"], &p["state"], &p["reason"]),
            (&3501.into(), &"filtered".into(), &Value::from(*reason)),
            "{addr} --connect --assume-up: {h}"
        );
    }
}
