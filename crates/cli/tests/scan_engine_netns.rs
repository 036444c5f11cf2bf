//! Which engine probes which target's TCP ports, against the real kernel (runs as root). One
//! scan of a namespace host behind a veth plus 127.0.0.1: by default SYN probes for the
//! namespace host and connects for 127.0.0.1, each host reporting its `tcp_method` in JSON
//! (hosts), JSONL (TCP results) and XML (one `scaninfo` per method); `--connect` and `--syn`
//! force their method on both, with the same states. Without raw-socket privilege the notice
//! about the fallback appears for the other machine and not for loopback alone.
//!
//! Namespaces are `pwj-…`, addresses 10.234.K.0/24 only; 10.234.0.0/16 is blackholed in the
//! root namespace first (scripts/test.sh removes that route when no test host is left), and
//! every scan checks with `ip route get` that the host's route is this test's veth.

mod common;
#[path = "common/netns.rs"]
mod netns;
use common::{json_lines, stderr, stdout, without_net_raw};
use netns::Veth;
use serde_json::Value;
use socket2::{Domain, Socket, Type};
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Output};

/// Every port reported, no service probes, and a short wait for answers.
const QUICK: [&str; 4] = ["--all", "--no-probes", "--max-rtt-timeout", "500ms"];

/// A namespace `pwj-sK` behind the veth `pwj-rK` / `pwj-hK`: the host is 10.234.K.2, the
/// root side 10.234.K.1. Removed on drop (also when the test panics).
struct Host {
    k: u8,
    veth: Veth,
}

impl Host {
    fn up(k: u8) -> Host {
        netns::blackhole("10.234.0.0/16", Some(4000));
        let mut veth = Veth::new(
            &format!("pwj-s{k}"),
            &format!("pwj-r{k}"),
            &format!("pwj-h{k}"),
        );
        veth.up(&[format!("10.234.{k}.1/24")], &[format!("10.234.{k}.2/24")]);
        // The last host of this file takes the blackhole with it (another test's host may
        // still be scanning: its /24 on its veth is what its scans use).
        veth.on_teardown(
            "ip netns list | grep -q '^pwj-' || ip route del blackhole 10.234.0.0/16 metric 4000",
        );
        Host { k, veth }
    }

    fn addr(&self) -> String {
        format!("10.234.{}.2", self.k)
    }

    /// Refuses to go on unless the host's address leaves through this test's veth.
    fn assert_route(&self) {
        self.veth.assert_route(&self.addr());
    }

    /// Listeners on `ports` inside the namespace, up before this returns.
    fn listen(&mut self, ports: &[u16]) {
        self.veth.listen(ports);
    }

    /// Drops TCP to `ports` in the namespace's input (filtered: the probes time out).
    fn drop_tcp(&self, ports: &[u16]) {
        let list: Vec<String> = ports.iter().map(u16::to_string).collect();
        self.veth.nft(
            "pwjengine",
            &[format!("tcp dport {{ {} }} drop", list.join(", "))],
        );
    }
}

/// A loopback port whose state the test holds: listening (open) or bound without listening
/// (closed: the kernel resets a SYN, and no other program can take the port meanwhile).
enum LoopbackPort {
    Open(TcpListener),
    Closed(Socket),
}

impl LoopbackPort {
    fn open() -> Self {
        LoopbackPort::Open(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    fn closed() -> Self {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        LoopbackPort::Closed(s)
    }

    fn port(&self) -> u16 {
        match self {
            LoopbackPort::Open(l) => l.local_addr().unwrap().port(),
            LoopbackPort::Closed(s) => s.local_addr().unwrap().as_socket().unwrap().port(),
        }
    }
}

/// The two hosts and five ports with a known state on each:
/// both open, both closed, open on the namespace host only, open on loopback only, and
/// filtered (nftables drop) on the namespace host while closed on loopback.
struct Bed {
    host: Host,
    _loopback: Vec<LoopbackPort>,
    ports: [u16; 5],
}

const LOOPBACK: &str = "127.0.0.1";

fn bed(k: u8) -> Bed {
    let loopback = vec![
        LoopbackPort::open(),
        LoopbackPort::closed(),
        LoopbackPort::closed(),
        LoopbackPort::open(),
        LoopbackPort::closed(),
    ];
    let ports: [u16; 5] = std::array::from_fn(|i| loopback[i].port());
    let [both_open, _both_closed, ns_open, _lo_open, ns_filtered] = ports;
    let mut host = Host::up(k);
    host.listen(&[both_open, ns_open]);
    host.drop_tcp(&[ns_filtered]);
    host.assert_route();
    Bed {
        host,
        _loopback: loopback,
        ports,
    }
}

impl Bed {
    /// The state every port must have on `addr`.
    fn expected(&self, addr: &str) -> BTreeMap<u16, String> {
        let [both_open, both_closed, ns_open, lo_open, ns_filtered] = self.ports;
        let on_ns = addr != LOOPBACK;
        let pick = |ns: &str, lo: &str| if on_ns { ns } else { lo }.to_string();
        BTreeMap::from([
            (both_open, "open".to_string()),
            (both_closed, "closed".to_string()),
            (ns_open, pick("open", "closed")),
            (lo_open, pick("closed", "open")),
            (ns_filtered, pick("filtered", "closed")),
        ])
    }

    fn spec(&self) -> String {
        let list: Vec<String> = self.ports.iter().map(u16::to_string).collect();
        list.join(",")
    }

    /// `portwatch scan HOST 127.0.0.1 -p PORTS` and [`QUICK`], with `extra` arguments.
    fn scan(&self, extra: &[&str]) -> Output {
        self.host.assert_route();
        let (addr, spec) = (self.host.addr(), self.spec());
        let mut args = vec!["scan", &addr, LOOPBACK, "-p", &spec];
        args.extend_from_slice(&QUICK);
        args.extend_from_slice(extra);
        let out = common::portwatch(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        out
    }
}

/// Per host of a `--format json` document: its `tcp_method` and its ports' states.
fn hosts_of(out: &Output) -> BTreeMap<String, (Value, BTreeMap<u16, String>)> {
    let doc: Value = serde_json::from_str(&stdout(out)).expect("one JSON document");
    doc["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| {
            assert_eq!(h["status"], "up", "{h}");
            let states = h["ports"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p["port"].as_u64().unwrap() as u16,
                        p["state"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            (
                h["host"].as_str().unwrap().to_string(),
                (h["tcp_method"].clone(), states),
            )
        })
        .collect()
}

/// Scans with `extra`, checks each host's states, and returns each host's `tcp_method`.
fn methods(bed: &Bed, extra: &[&str]) -> BTreeMap<String, Value> {
    let mut args = vec!["--format", "json"];
    args.extend_from_slice(extra);
    let out = bed.scan(&args);
    let err = stderr(&out);
    assert!(!err.contains("no raw-socket privilege"), "{err}");
    let hosts = hosts_of(&out);
    assert_eq!(hosts.len(), 2, "{}", stdout(&out));
    hosts
        .into_iter()
        .map(|(addr, (method, states))| {
            assert_eq!(states, bed.expected(&addr), "{addr} with {extra:?}");
            (addr, method)
        })
        .collect()
}

fn expect(bed: &Bed, ns: &str, lo: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([
        (bed.host.addr(), Value::from(ns)),
        (LOOPBACK.to_string(), Value::from(lo)),
    ])
}

#[test]
fn by_default_other_machines_get_syn_probes_and_loopback_gets_connects() {
    let bed = bed(1);
    assert_eq!(methods(&bed, &[]), expect(&bed, "syn", "connect"));
}

#[test]
fn connect_and_syn_force_their_method_on_every_target() {
    let bed = bed(2);
    assert_eq!(
        methods(&bed, &["--connect"]),
        expect(&bed, "connect", "connect")
    );
    assert_eq!(methods(&bed, &["--syn"]), expect(&bed, "syn", "syn"));
}

#[test]
fn jsonl_results_say_how_their_host_was_probed() {
    let bed = bed(3);
    let out = bed.scan(&["--format", "jsonl"]);
    let lines = json_lines(&stdout(&out));
    assert_eq!(lines.len(), 10, "{}", stdout(&out));
    let mut seen: BTreeMap<String, BTreeMap<u16, String>> = BTreeMap::new();
    for line in &lines {
        let host = line["host"].as_str().unwrap().to_string();
        let want = if host == LOOPBACK { "connect" } else { "syn" };
        assert_eq!(line["tcp_method"], want, "{line}");
        seen.entry(host).or_default().insert(
            line["port"].as_u64().unwrap() as u16,
            line["state"].as_str().unwrap().to_string(),
        );
    }
    for (addr, states) in &seen {
        assert_eq!(states, &bed.expected(addr), "{addr}");
    }
}

/// The `scaninfo` elements of an XML report, as (type, protocol, numservices).
fn scaninfo(xml: &str) -> Vec<(String, String, String)> {
    let attr = |line: &str, name: &str| -> String {
        let start = line.find(&format!(r#" {name}=""#)).unwrap() + name.len() + 3;
        line[start..].split('"').next().unwrap().to_string()
    };
    xml.lines()
        .filter(|l| l.starts_with("<scaninfo "))
        .map(|l| (attr(l, "type"), attr(l, "protocol"), attr(l, "numservices")))
        .collect()
}

#[test]
fn xml_has_one_scaninfo_per_method_used() {
    let bed = bed(4);
    let s = |v: &str| v.to_string();
    let mixed = bed.scan(&["--format", "xml"]);
    assert_eq!(
        scaninfo(&stdout(&mixed)),
        [
            (s("syn"), s("tcp"), s("5")),
            (s("connect"), s("tcp"), s("5"))
        ],
        "{}",
        stdout(&mixed)
    );
    let file = std::env::temp_dir().join(format!("pwj-mixed-{}.xml", std::process::id()));
    // The one documented deviation from nmap's DTD is the scanner's name (report_consumers.rs).
    let as_nmap = stdout(&mixed).replace(r#"scanner="portwatch""#, r#"scanner="nmap""#);
    std::fs::write(&file, as_nmap).unwrap();
    let dtd = Command::new("xmllint")
        .args(["--noout", "--dtdvalid", "/usr/share/nmap/nmap.dtd"])
        .arg(&file)
        .output()
        .expect("run xmllint (scripts/install-test-deps.sh installs it)");
    let _ = std::fs::remove_file(&file);
    assert!(
        dtd.status.success(),
        "nmap's DTD refuses the report: {}",
        String::from_utf8_lossy(&dtd.stderr)
    );
    let forced = bed.scan(&["--format", "xml", "--connect"]);
    assert_eq!(
        scaninfo(&stdout(&forced)),
        [(s("connect"), s("tcp"), s("5"))]
    );
}

#[test]
fn without_privilege_only_another_machine_brings_the_fallback_notice() {
    const NOTICE: &str = "TCP ports are probed with connects instead of SYN probes";
    let bed = bed(5);
    let spec = bed.spec();
    let common = [&["-p", spec.as_str()][..], &QUICK, &["--format", "json"]].concat();
    let lo = without_net_raw(&[&["scan", LOOPBACK][..], &common[..]].concat());
    assert_eq!(lo.status.code(), Some(0), "{}", stderr(&lo));
    assert!(!stderr(&lo).contains(NOTICE), "{}", stderr(&lo));
    let hosts = hosts_of(&lo);
    assert_eq!(hosts[LOOPBACK].0, "connect");
    assert_eq!(hosts[LOOPBACK].1, bed.expected(LOOPBACK));

    bed.host.assert_route();
    let addr = bed.host.addr();
    let other = without_net_raw(&[&["scan", &addr][..], &common[..]].concat());
    assert_eq!(other.status.code(), Some(0), "{}", stderr(&other));
    assert!(stderr(&other).contains(NOTICE), "{}", stderr(&other));
    let hosts = hosts_of(&other);
    assert_eq!(hosts[&addr].0, "connect");
    assert_eq!(hosts[&addr].1, bed.expected(&addr));
}
