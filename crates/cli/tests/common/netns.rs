//! Network namespaces as test hosts, for the tests that scan through a veth (they run as
//! root): shell commands, a namespace joined to the root namespace by a veth pair and removed
//! on drop, blackhole routes, the `ip route get` guard, nftables rules, and listeners inside a
//! namespace.
//!
//! This module knows no prefix and no range: each test file names its own namespaces
//! (`pwj-…`, `pwp-…`, `pwh-…`, `pwx-sc-…`) and gives its own addresses, so files running at
//! once never share a namespace, a link or a route. A test file includes it next to
//! `common`: `#[path = "common/netns.rs"] mod netns;`.
#![allow(dead_code)]

use crate::common::{ChildGuard, start_ready};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's Python: the test bed's helpers use it too.
pub const PY: &str = "/usr/bin/python3";

/// Runs `cmd` with `sh -c`; panics with its stderr if it fails.
pub fn sh(cmd: &str) {
    let out = Command::new("sh")
        .args(["-c", cmd])
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `cmd` with `sh -c`, ignoring its output and failure (teardown of what may not exist).
pub fn sh_quiet(cmd: &str) {
    let _ = Command::new("sh")
        .args(["-c", cmd])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Kills every process in namespace `ns` (none when it does not exist): deleting a namespace
/// leaves its processes running.
pub fn kill_all_in(ns: &str) {
    let pids = Command::new("ip")
        .args(["netns", "pids", ns])
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for pid in pids.split_whitespace() {
        let _ = Command::new("kill").args(["-KILL", pid]).status();
    }
}

/// `ip` with `-6` for an IPv6 address or network, plain for IPv4.
fn ip_for(addr: &str) -> &'static str {
    if addr.contains(':') { "ip -6" } else { "ip" }
}

/// Routes `range` (IPv4 or IPv6) to a blackhole in the root namespace, so an address of it
/// whose namespace is gone goes nowhere; the more specific routes of a test's veth win while
/// its host exists. `replace`, so tests running at once (and a crashed run's leftover) agree.
pub fn blackhole(range: &str, metric: Option<u32>) {
    let metric = metric.map(|m| format!(" metric {m}")).unwrap_or_default();
    sh(&format!(
        "{} route replace blackhole {range}{metric}",
        ip_for(range)
    ));
}

/// What `ip route get ADDR` says (stdout, then stderr), in namespace `ns` or the root one.
pub fn route_get(ns: Option<&str>, addr: &str) -> String {
    let mut cmd = Command::new("ip");
    if let Some(ns) = ns {
        cmd.args(["-n", ns]);
    }
    let out = cmd
        .args(["route", "get", addr])
        .output()
        .expect("run ip route get");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Refuses to go on unless `addr` leaves the root namespace through `dev`.
pub fn assert_route_via(addr: &str, dev: &str) {
    let text = route_get(None, addr);
    assert!(
        text.contains(&format!("dev {dev} ")),
        "refusing to scan {addr}: its route is not via {dev}: {text}"
    );
}

/// Refuses to go on unless the route to `addr` in namespace `ns` says `want` (`dev X `,
/// `via A dev X `).
pub fn assert_route_in(ns: &str, addr: &str, want: &str) {
    let text = route_get(Some(ns), addr);
    assert!(
        text.contains(want),
        "refusing to go on: the route to {addr} in {ns} is not {want:?}: {text}"
    );
}

/// Refuses to go on unless the root namespace has no route to `addr` through any device
/// (the blackhole).
pub fn assert_unrouted(addr: &str) {
    let text = route_get(None, addr);
    assert!(
        !text.contains(" dev "),
        "refusing to go on: the root namespace routes {addr}: {text}"
    );
}

/// Waits until `ip ARGS` lists no tentative IPv6 address: until duplicate address detection
/// has passed, a link-local address cannot send neighbour solicitations, and a router would
/// not forward the first probes.
fn wait_no_tentative(args: &[&str]) {
    crate::common::wait_for(
        "IPv6 duplicate address detection",
        Duration::from_secs(30),
        || {
            Command::new("ip")
                .args(args)
                .output()
                .is_ok_and(|o| o.status.success() && o.stdout.is_empty())
        },
    );
}

/// [`wait_no_tentative`] for every address in namespace `ns`.
pub fn wait_dad_in(ns: &str) {
    wait_no_tentative(&["netns", "exec", ns, "ip", "-6", "addr", "show", "tentative"]);
}

/// [`wait_no_tentative`] for the root namespace's side of a veth.
pub fn wait_dad_on(dev: &str) {
    wait_no_tentative(&["-6", "addr", "show", "dev", dev, "tentative"]);
}

/// Loads the nftables table `inet TABLE` with one chain on `hook` (`input`, `forward`…),
/// policy accept, holding `rules` (one statement each), into namespace `ns`.
pub fn nft_in(ns: &str, table: &str, hook: &str, rules: &[impl AsRef<str>]) {
    let mut text = format!(
        "table inet {table} {{\nchain {hook} {{\ntype filter hook {hook} priority filter; policy accept;\n"
    );
    for r in rules {
        text.push_str(r.as_ref());
        text.push('\n');
    }
    text.push_str("}\n}\n");
    nft_script_in(ns, &text);
}

/// Runs the nftables script `text` (`nft -f -`: `add rule …`, `flush chain …`) in namespace
/// `ns`; panics with nft's complaint if it fails.
pub fn nft_script_in(ns: &str, text: &str) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run nft");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(text.as_bytes())
        .expect("write the rules to nft");
    let out = child.wait_with_output().expect("wait for nft");
    assert!(
        out.status.success(),
        "nft -f in {ns}: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Listens on every port given in argv (dual-stack on all addresses, or on 127.0.0.1 only when
/// the first argument is `lo`), prints `ready`, and sleeps until killed.
const LISTENER: &str = r#"
import socket, sys, time
args = sys.argv[1:]
lo = args[:1] == ["lo"]
socks = []
for p in args[1:] if lo else args:
    if lo:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        addr = ("127.0.0.1", int(p))
    else:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        addr = ("::", int(p))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(addr)
    s.listen(128)
    socks.append(s)
print("ready", flush=True)
while True:
    time.sleep(60)
"#;

/// Starts a Python `script` with `args` (in namespace `ns` when given) and waits for its
/// `ready` line.
pub fn python_in(ns: Option<&str>, script: &str, args: &[String]) -> ChildGuard {
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, PY]);
            c
        }
        None => Command::new(PY),
    };
    cmd.args(["-c", script]).args(args).stderr(Stdio::inherit());
    start_ready(&mut cmd, "start python", || {
        format!(
            "the script in {} did not start",
            ns.unwrap_or("the root namespace")
        )
    })
}

/// TCP listeners on `ports` (in namespace `ns` when given): dual-stack on every address, or
/// on 127.0.0.1 only with `loopback_only`. Listening before this returns.
pub fn listen_in(ns: Option<&str>, loopback_only: bool, ports: &[u16]) -> ChildGuard {
    let args: Vec<String> = loopback_only
        .then(|| "lo".to_string())
        .into_iter()
        .chain(ports.iter().map(u16::to_string))
        .collect();
    python_in(ns, LISTENER, &args)
}

/// Waits until `ss -Htln` in namespace `ns` shows a listener matching `needle`
/// (`10.0.0.2:22`, `:443 `).
pub fn wait_listening(ns: &str, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "ss", "-Htln"])
            .output()
            .expect("run ss");
        if String::from_utf8_lossy(&out.stdout).contains(needle) {
            return;
        }
        assert!(Instant::now() < deadline, "no listener {needle:?} in {ns}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `socat ARGS` in namespace `ns` (output discarded), once `ss` shows `listening` there.
pub fn socat_in(ns: &str, args: &[&str], listening: &str) -> ChildGuard {
    let child = ChildGuard(
        Command::new("ip")
            .args(["netns", "exec", ns, "socat"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start socat"),
    );
    wait_listening(ns, listening);
    child
}

/// A namespace joined to the root namespace by a veth pair, the `peer` end inside it.
/// [`Veth::new`] makes it, [`Veth::up`] addresses it; dropping it stops its children, then
/// deletes the namespace and the root end and runs what [`Veth::on_teardown`] added.
pub struct Veth {
    /// The namespace.
    pub ns: String,
    /// The root namespace's end of the pair.
    pub root: String,
    /// The namespace's end.
    pub peer: String,
    children: Vec<ChildGuard>,
    teardown: Vec<String>,
}

impl Veth {
    /// Removes what an earlier run left of these names, then creates the namespace and the
    /// pair, its `peer` end moved into the namespace. Nothing is up yet.
    pub fn new(ns: &str, root: &str, peer: &str) -> Veth {
        let veth = Veth {
            ns: ns.to_string(),
            root: root.to_string(),
            peer: peer.to_string(),
            children: Vec::new(),
            teardown: Vec::new(),
        };
        veth.remove();
        sh(&format!("ip netns add {ns}"));
        sh(&format!("ip link add {root} type veth peer name {peer}"));
        sh(&format!("ip link set {peer} netns {ns}"));
        veth
    }

    /// Gives the namespace's end the MAC `mac` (before [`Veth::up`]).
    pub fn set_peer_mac(&self, mac: &str) {
        self.exec(&format!("ip link set {} address {mac}", self.peer));
    }

    /// Adds `root_addrs` to the root end and brings it up, then brings up `lo` and the
    /// namespace's end and adds `peer_addrs` to it, in order (CIDR notation; IPv6 ones without
    /// duplicate address detection).
    pub fn up(&self, root_addrs: &[String], peer_addrs: &[String]) {
        let add = |dev: &str, a: &String| {
            let nodad = if a.contains(':') { " nodad" } else { "" };
            format!("{} addr add {a} dev {dev}{nodad} && ", ip_for(a))
        };
        let root: String = root_addrs.iter().map(|a| add(&self.root, a)).collect();
        sh(&format!("{root}ip link set {} up", self.root));
        let peer: String = peer_addrs.iter().map(|a| add(&self.peer, a)).collect();
        self.exec(&format!(
            "ip link set lo up && ip link set {} up && {peer}true",
            self.peer
        ));
    }

    /// Runs `cmd` with `sh -c` inside the namespace; panics if it fails. `cmd` holds no `'`.
    pub fn exec(&self, cmd: &str) {
        sh(&format!("ip netns exec {} sh -c '{cmd}'", self.ns));
    }

    /// Refuses to go on unless `addr` leaves the root namespace through this pair.
    pub fn assert_route(&self, addr: &str) {
        assert_route_via(addr, &self.root);
    }

    /// Loads nftables input rules into the namespace ([`nft_in`]).
    pub fn nft(&self, table: &str, rules: &[impl AsRef<str>]) {
        nft_in(&self.ns, table, "input", rules);
    }

    /// Dual-stack TCP listeners on `ports` on every address of the namespace, until drop.
    pub fn listen(&mut self, ports: &[u16]) {
        let child = listen_in(Some(&self.ns), false, ports);
        self.keep(child);
    }

    /// `socat ARGS` in the namespace until drop, once `ss` shows `listening` ([`socat_in`]).
    pub fn socat(&mut self, args: &[&str], listening: &str) {
        let child = socat_in(&self.ns, args, listening);
        self.keep(child);
    }

    /// Keeps `child` running until drop.
    pub fn keep(&mut self, child: ChildGuard) {
        self.children.push(child);
    }

    /// The MAC of the namespace's end.
    pub fn peer_mac(&self) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns, "cat"])
            .arg(format!("/sys/class/net/{}/address", self.peer))
            .output()
            .expect("read the MAC");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A shell command to run at teardown, after the namespace and the pair are gone (routes
    /// the test added in the root namespace); failures are ignored.
    pub fn on_teardown(&mut self, cmd: &str) {
        self.teardown.push(cmd.to_string());
    }

    fn remove(&self) {
        let mut cmd = format!("ip netns del {}; ip link del {}", self.ns, self.root);
        for c in &self.teardown {
            cmd.push_str("; ");
            cmd.push_str(c);
        }
        sh_quiet(&cmd);
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        self.children.clear();
        self.remove();
    }
}

/// Runs `portwatch ARGS…` inside namespace `ns` and returns its output.
pub fn portwatch_in(ns: &str, args: &[&str]) -> std::process::Output {
    Command::new("ip")
        .args(["netns", "exec", ns, env!("CARGO_BIN_EXE_portwatch")])
        .args(args)
        .output()
        .expect("run portwatch in the namespace")
}

/// TCP listeners on `ip` (IPv4) or on every address (0.0.0.0) in namespace `ns`, from its
/// /proc/net/tcp.
pub fn tcp_listeners_in(ns: &str, ip: &str) -> std::collections::BTreeSet<u16> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "cat", "/proc/net/tcp"])
        .output()
        .expect("read /proc/net/tcp in the namespace");
    let mut ports = std::collections::BTreeSet::new();
    for line in String::from_utf8_lossy(&out.stdout).lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 4 || cols[3] != "0A" {
            continue;
        }
        let (addr_hex, port_hex) = cols[1].split_once(':').unwrap();
        let addr = u32::from_str_radix(addr_hex, 16).unwrap().to_le_bytes();
        let addr = std::net::Ipv4Addr::from(addr).to_string();
        if addr == ip || addr == "0.0.0.0" {
            ports.insert(u16::from_str_radix(port_hex, 16).unwrap());
        }
    }
    ports
}

/// A namespace with only `lo` (up), so the listeners there are exactly the test's; deleted on
/// drop.
pub struct LoopbackNs(pub String);

impl LoopbackNs {
    /// Creates namespace `name` (after deleting a leftover of that name).
    pub fn up(name: &str) -> LoopbackNs {
        let ns = LoopbackNs(name.to_string());
        sh_quiet(&format!("ip netns del {name}"));
        sh(&format!("ip netns add {name}"));
        sh(&format!("ip netns exec {name} ip link set lo up"));
        ns
    }

    /// `ip netns exec NS PROGRAM`, for the caller to add arguments to.
    pub fn exec(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.0, program]);
        cmd
    }
}

impl Drop for LoopbackNs {
    fn drop(&mut self) {
        sh_quiet(&format!("ip netns del {}", self.0));
    }
}

/// Runs `cmd ARGS` to completion, `stdin` written to it; panics with its stderr if it fails,
/// else returns its stdout.
pub fn run_checked(cmd: &str, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(text.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("wait for the command");
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ip ARGS` in the root namespace; panics if it fails.
pub fn ip(args: &[&str]) {
    run_checked("ip", args, None);
}

/// `ip -n NS ARGS`; panics if it fails.
pub fn ip_in(ns: &str, args: &[&str]) {
    let mut all = vec!["-n", ns];
    all.extend_from_slice(args);
    ip(&all);
}

/// `ARGS` run inside namespace `ns`; panics if it fails, else returns its stdout.
pub fn exec_in(ns: &str, args: &[&str]) -> String {
    let mut all = vec!["netns", "exec", ns];
    all.extend_from_slice(args);
    run_checked("ip", &all, None)
}

/// One end of a veth pair for [`link`]: its name, its namespace (None: the root) and its
/// address in CIDR notation.
pub type End<'a> = (&'a str, Option<&'a str>, &'a str);

/// A veth pair `a`–`b`, each end moved into its namespace with its address, and up.
pub fn link(a: End, b: End) {
    ip(&["link", "add", a.0, "type", "veth", "peer", "name", b.0]);
    for (name, ns, addr) in [a, b] {
        if let Some(ns) = ns {
            ip(&["link", "set", name, "netns", ns]);
            ip_in(ns, &["addr", "add", addr, "dev", name]);
            ip_in(ns, &["link", "set", name, "up"]);
        } else {
            ip(&["addr", "add", addr, "dev", name]);
            ip(&["link", "set", name, "up"]);
        }
    }
}

/// Accepts and closes connections on every port given (IPv4, all addresses); prints `ready`
/// once all listen.
const ACCEPTOR: &str = r#"
import selectors, socket, sys
sel = selectors.DefaultSelector()
for port in map(int, sys.argv[1:]):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(64)
    sel.register(s, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        conn, _ = key.fileobj.accept()
        conn.close()
"#;

/// TCP listeners on `ports` in namespace `ns` that accept and close every connection (so
/// no backlog fills over many rounds of scans); listening before this returns.
pub fn accept_in(ns: &str, ports: &[u16]) -> ChildGuard {
    let args: Vec<String> = ports.iter().map(u16::to_string).collect();
    python_in(Some(ns), ACCEPTOR, &args)
}

/// A set of namespaces, each with `lo` up, for a topology of veth pairs among them
/// ([`link`]); dropping it kills what runs in them, then deletes them and the root-side links
/// the test names.
pub struct Namespaces {
    names: Vec<String>,
    root_links: Vec<String>,
}

impl Namespaces {
    /// Removes what an earlier run left of these names, blackholes `range` in the root
    /// namespace (nothing for it leaves the machine, also after a namespace is gone), and
    /// creates the namespaces.
    pub fn new(names: &[String], root_links: &[String], range: &str) -> Namespaces {
        let set = Namespaces {
            names: names.to_vec(),
            root_links: root_links.to_vec(),
        };
        set.remove();
        blackhole(range, None);
        for ns in names {
            ip(&["netns", "add", ns]);
            ip_in(ns, &["link", "set", "lo", "up"]);
        }
        set
    }

    fn remove(&self) {
        for ns in &self.names {
            kill_all_in(ns);
            sh_quiet(&format!("ip netns del {ns}"));
        }
        for link in &self.root_links {
            sh_quiet(&format!("ip link del {link}"));
        }
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        self.remove();
    }
}
