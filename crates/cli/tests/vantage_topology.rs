//! One group seen from two vantages through a real topology of network namespaces
//! (`pwf-*`, 10.226.0.0/16): a file server `pwf-srv` listening on 22, 139, 443 and 445; an agent
//! of vantage `lan` in `pwf-lan`, wired straight to the server; an agent of vantage `internet`
//! in `pwf-inet`, whose only path to the server crosses the router `pwf-rtr`, where nftables
//! drops forwarded 139/445 (not 22/443). The server `portwatch run` listens in the root
//! namespace on a veth address both agents reach over their own veths, with a webhook receiver
//! on loopback and PostgreSQL as its store.
//!
//! The group's policy says 139/445 must be closed, except from `lan`. With the router's rule in
//! place there is no alert from either vantage; with the rule gone (a firewall mistake) there
//! is exactly one OPEN per port, naming `internet`; with the rule back, exactly one RESOLVED
//! per port. Needs root, python3, nft, psql and the test cluster of scripts/test-pg.sh
//! (`PORTWATCH_TEST_PG_URL`).

mod common;
#[path = "common/receiver.rs"]
mod receiver;

use common::{
    ChildGuard, TestDb, free_port, pg_test_cluster, portwatch, spawn_logged, stderr, stdout,
    wait_for,
};
use portwatch_monitor::job::JobResult;
use portwatch_store::{JobRow, JobStatus, Store};
use receiver::{Received, Receiver};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The target's address, on its link to `pwf-lan`.
const TARGET: &str = "10.226.10.2";
/// The server's address: the root end of the veth to `pwf-lan`.
const SERVER: &str = "10.226.1.1";
/// The ports the target listens on.
const LISTEN: [u16; 4] = [22, 139, 443, 445];
/// The namespaces this test owns.
const NAMESPACES: [&str; 4] = ["pwf-srv", "pwf-lan", "pwf-inet", "pwf-rtr"];
/// The root ends of the agents' veths (the other links live inside the namespaces).
const ROOT_LINKS: [&str; 2] = ["pwf-r-lan", "pwf-r-inet"];

/// Accepts and closes connections on every port given; prints `ready` once all listen.
const LISTENER: &str = r#"
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

/// The router's filter: forwarded SMB to the target is dropped.
const DROP_SMB: &str =
    "add rule inet pwf forward ip daddr 10.226.10.2 tcp dport { 139, 445 } drop\n";

fn run(cmd: &str, args: &[&str], stdin: Option<&str>) {
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
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ip(args: &[&str]) {
    run("ip", args, None);
}

/// `ip` inside namespace `ns`.
fn ip_in(ns: &str, args: &[&str]) {
    let mut all = vec!["-n", ns];
    all.extend_from_slice(args);
    ip(&all);
}

fn nft_in(ns: &str, rules: &str) {
    run("ip", &["netns", "exec", ns, "nft", "-f", "-"], Some(rules));
}

fn route_dev(ns: Option<&str>, addr: &str) -> String {
    let mut cmd = Command::new("ip");
    if let Some(ns) = ns {
        cmd.args(["-n", ns]);
    }
    let out = cmd.args(["route", "get", addr]).output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Removes every namespace and root-side link of the test (also those a crashed run left).
fn teardown() {
    for ns in NAMESPACES {
        let _ = Command::new("ip")
            .args(["netns", "del", ns])
            .stderr(Stdio::null())
            .status();
    }
    for link in ROOT_LINKS {
        let _ = Command::new("ip")
            .args(["link", "del", link])
            .stderr(Stdio::null())
            .status();
    }
}

/// The topology; torn down on drop, also when the test fails.
struct Topology {
    _listener: Option<ChildGuard>,
}

/// A veth pair `a`–`b`, each end moved into its namespace (None: the root) with its address.
fn link(a: (&str, Option<&str>, &str), b: (&str, Option<&str>, &str)) {
    ip(&["link", "add", a.0, "type", "veth", "peer", "name", b.0]);
    for (name, ns, addr) in [a, b] {
        match ns {
            Some(ns) => {
                ip(&["link", "set", name, "netns", ns]);
                ip_in(ns, &["addr", "add", addr, "dev", name]);
                ip_in(ns, &["link", "set", name, "up"]);
            }
            None => {
                ip(&["addr", "add", addr, "dev", name]);
                ip(&["link", "set", name, "up"]);
            }
        }
    }
}

impl Topology {
    fn new() -> Topology {
        teardown();
        // The blackhole keeps anything for the range from leaving the machine.
        ip(&["route", "replace", "blackhole", "10.226.0.0/16"]);
        let mut topo = Topology { _listener: None };
        for ns in NAMESPACES {
            ip(&["netns", "add", ns]);
            ip_in(ns, &["link", "set", "lo", "up"]);
        }
        // Agents to the server (root).
        link(
            ("pwf-r-lan", None, "10.226.1.1/24"),
            ("pwf-lan-r", Some("pwf-lan"), "10.226.1.2/24"),
        );
        link(
            ("pwf-r-inet", None, "10.226.2.1/24"),
            ("pwf-inet-r", Some("pwf-inet"), "10.226.2.2/24"),
        );
        // The LAN: straight to the target.
        link(
            ("pwf-lan-s", Some("pwf-lan"), "10.226.10.1/24"),
            ("pwf-srv-l", Some("pwf-srv"), "10.226.10.2/24"),
        );
        // The internet: through the router.
        link(
            ("pwf-inet-t", Some("pwf-inet"), "10.226.30.2/24"),
            ("pwf-rtr-i", Some("pwf-rtr"), "10.226.30.1/24"),
        );
        link(
            ("pwf-rtr-s", Some("pwf-rtr"), "10.226.20.1/24"),
            ("pwf-srv-t", Some("pwf-srv"), "10.226.20.2/24"),
        );
        ip_in(
            "pwf-inet",
            &["route", "add", "10.226.1.1/32", "via", "10.226.2.1"],
        );
        ip_in(
            "pwf-inet",
            &["route", "add", "10.226.10.2/32", "via", "10.226.30.1"],
        );
        ip_in(
            "pwf-rtr",
            &["route", "add", "10.226.10.2/32", "via", "10.226.20.2"],
        );
        ip_in(
            "pwf-srv",
            &["route", "add", "10.226.30.0/24", "via", "10.226.20.1"],
        );
        run(
            "ip",
            &[
                "netns",
                "exec",
                "pwf-rtr",
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ],
            None,
        );
        nft_in(
            "pwf-rtr",
            &format!(
                "add table inet pwf\n\
                 add chain inet pwf forward {{ type filter hook forward priority 0 ; policy accept ; }}\n\
                 {DROP_SMB}"
            ),
        );
        topo.check_routes();
        let ports: Vec<String> = LISTEN.iter().map(u16::to_string).collect();
        let mut child = Command::new("ip")
            .args(["netns", "exec", "pwf-srv", "python3", "-c", LISTENER])
            .args(&ports)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the listener");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the listener did not start");
        topo._listener = Some(ChildGuard(child));
        topo
    }

    /// Refuses to go on unless every path is the one this test built: the root namespace
    /// reaches the target nowhere (the blackhole: no route), `lan` straight, `internet` through the router.
    fn check_routes(&self) {
        let root = route_dev(None, TARGET);
        assert!(!root.contains(" dev "), "root route to {TARGET}: {root}");
        let lan = route_dev(Some("pwf-lan"), TARGET);
        assert!(lan.contains("dev pwf-lan-s "), "lan route: {lan}");
        let inet = route_dev(Some("pwf-inet"), TARGET);
        assert!(
            inet.contains("via 10.226.30.1 dev pwf-inet-t "),
            "internet route: {inet}"
        );
        let inet = route_dev(Some("pwf-inet"), SERVER);
        assert!(
            inet.contains("dev pwf-inet-r "),
            "internet to server: {inet}"
        );
    }

    /// Takes the router's SMB rule out (Some(false)) or puts it back (Some(true)).
    fn smb_blocked(&self, blocked: bool) {
        if blocked {
            nft_in("pwf-rtr", DROP_SMB);
        } else {
            nft_in("pwf-rtr", "flush chain inet pwf forward\n");
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        drop(self._listener.take());
        teardown();
    }
}

/// A PostgreSQL database of the test's own, dropped after.
struct Db {
    url: String,
    _db: TestDb,
}

impl Db {
    fn new() -> Db {
        let db =
            TestDb::postgres_blocking_on(&pg_test_cluster()).expect("a database of the test's own");
        Db {
            url: db.url.clone(),
            _db: db,
        }
    }

    fn jobs(&self) -> Vec<JobRow> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let store = Store::open(&self.url).await.unwrap();
                let rows = store.jobs(10_000).await.unwrap();
                store.close().await;
                rows
            })
    }
}

fn token(db: &Db, vantage: &str, name: &str) -> String {
    let out = portwatch(&[
        "token",
        "create",
        "--database",
        &db.url,
        "--role",
        "agent",
        "--vantage",
        vantage,
        "--name",
        name,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_string()
}

fn config(dir: &Path, hook: &str) -> std::path::PathBuf {
    let path = dir.join("pw.toml");
    std::fs::write(
        &path,
        format!(
            "[alerts]\nconfirm_after = \"1s\"\n\n\
             [[notify]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{hook}\"\n\n\
             [[group]]\nname = \"fileserver\"\ntargets = [\"{TARGET}\"]\nports = \"22,443\"\n\
             every = \"2s\"\nvantages = [\"lan\", \"internet\"]\n\
             [group.scan]\nassume_up = true\nprobes = false\nretries = 1\n\
             initial_rtt_timeout = \"300ms\"\nmax_rtt_timeout = \"300ms\"\n\
             [group.policy]\nmust_be_closed = [\"T:139,445\"]\n\
             [group.policy.from.lan]\nallow = [\"T:139,445\"]\n"
        ),
    )
    .unwrap();
    path
}

/// The open ports of the newest scheduled (not confirmation) job result from `vantage`, and
/// how many such results there are.
fn seen_from(jobs: &[JobRow], vantage: &str) -> (usize, Vec<u16>) {
    let mut done: Vec<&JobRow> = jobs
        .iter()
        .filter(|j| j.vantage == vantage && j.shard.is_empty())
        .filter(|j| j.status == JobStatus::Applied && j.result.is_some())
        .collect();
    done.sort_by_key(|j| j.id);
    let open = done.last().map_or_else(Vec::new, |j| {
        let r: JobResult = serde_json::from_value(j.result.clone().unwrap()).unwrap();
        let mut ports: Vec<u16> = r
            .hosts
            .iter()
            .flat_map(|h| h.results.iter().map(|p| p.port))
            .collect();
        ports.sort_unstable();
        ports
    });
    (done.len(), open)
}

/// Waits until both vantages have `n` more applied scheduled scans than `before`, and
/// returns the new counts.
fn rounds(db: &Db, before: (usize, usize), n: usize) -> (usize, usize) {
    let mut now = before;
    wait_for(
        &format!("{n} more scans from each vantage"),
        Duration::from_secs(90),
        || {
            let jobs = db.jobs();
            now = (seen_from(&jobs, "lan").0, seen_from(&jobs, "internet").0);
            now.0 >= before.0 + n && now.1 >= before.1 + n
        },
    );
    now
}

/// Webhook events about a port: (event, vantage, port). The body names the vantage twice, at
/// the top and in the alert: both must agree.
fn port_events(got: &[Received]) -> Vec<(String, String, u64)> {
    got.iter()
        .map(Received::json)
        .filter_map(|j| {
            let port = j["alert"]["port"].as_u64()?;
            let vantage = j["alert"]["vantage"].as_str().unwrap_or("?").to_string();
            assert_eq!(j["vantage"], j["alert"]["vantage"], "{j}");
            Some((j["event"].as_str()?.to_string(), vantage, port))
        })
        .collect()
}

fn count(events: &[(String, String, u64)], event: &str, vantage: &str, port: u64) -> usize {
    events
        .iter()
        .filter(|(e, v, p)| e == event && v == vantage && *p == port)
        .count()
}

#[test]
fn each_vantage_sees_its_own_violations_through_the_router() {
    let topo = Topology::new();
    let rx = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let db = Db::new();
    let lan_token = token(&db, "lan", "lan-1");
    let inet_token = token(&db, "internet", "internet-1");
    let port = free_port();
    let config = config(dir.path(), &rx.url("/hook"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portwatch"));
    cmd.args(["run", "--config", config.to_str().unwrap()])
        .args(["--listen", &format!("{SERVER}:{port}"), "--insecure-http"])
        .args(["--database", &db.url, "--agent-lease", "3s"]);
    let server = spawn_logged(cmd);
    wait_for("the server to listen", Duration::from_secs(30), || {
        server
            .log
            .lock()
            .unwrap()
            .contains("dashboard and API listening")
    });
    let url = format!("http://{SERVER}:{port}");
    let agent = |ns: &str, token: &str, name: &str| {
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            ns,
            env!("CARGO_BIN_EXE_portwatch"),
            "agent",
        ])
        .args(["--server", &url, "--token", token, "--name", name])
        .arg("--spool")
        .arg(dir.path().join(format!("spool-{name}")));
        spawn_logged(cmd)
    };
    let lan = agent("pwf-lan", &lan_token, "lan-1");
    let inet = agent("pwf-inet", &inet_token, "internet-1");
    let logs = || {
        format!(
            "server:\n{}\nlan agent:\n{}\ninternet agent:\n{}",
            server.log.lock().unwrap(),
            lan.log.lock().unwrap(),
            inet.log.lock().unwrap()
        )
    };

    // The rule in place: lan sees all four open, internet only 22 and 443; no alert.
    let n = rounds(&db, (0, 0), 3);
    let jobs = db.jobs();
    assert_eq!(
        seen_from(&jobs, "lan").1,
        vec![22, 139, 443, 445],
        "{}",
        logs()
    );
    assert_eq!(seen_from(&jobs, "internet").1, vec![22, 443], "{}", logs());
    assert_eq!(port_events(&rx.received()), vec![], "{}", logs());

    // The rule gone: one OPEN per port from internet, nothing from lan.
    topo.smb_blocked(false);
    let got = rx.wait_for(Duration::from_secs(60), |g| {
        let e = port_events(g);
        count(&e, "opened", "internet", 139) >= 1 && count(&e, "opened", "internet", 445) >= 1
    });
    assert_eq!(
        port_events(&got).len(),
        2,
        "{:?}\n{}",
        port_events(&got),
        logs()
    );
    let n = rounds(&db, n, 3);
    assert_eq!(seen_from(&db.jobs(), "internet").1, vec![22, 139, 443, 445]);
    let events = port_events(&rx.received());
    for p in [139, 445] {
        assert_eq!(count(&events, "opened", "internet", p), 1, "{events:?}");
    }
    assert_eq!(
        events.len(),
        2,
        "nothing else, nothing from lan: {events:?}"
    );

    // The rule back: one RESOLVED per port.
    topo.smb_blocked(true);
    rx.wait_for(Duration::from_secs(60), |g| {
        let e = port_events(g);
        count(&e, "resolved", "internet", 139) >= 1 && count(&e, "resolved", "internet", 445) >= 1
    });
    rounds(&db, n, 3);
    assert_eq!(seen_from(&db.jobs(), "internet").1, vec![22, 443]);
    let events = port_events(&rx.received());
    for p in [139, 445] {
        assert_eq!(count(&events, "opened", "internet", p), 1, "{events:?}");
        assert_eq!(count(&events, "resolved", "internet", p), 1, "{events:?}");
    }
    assert_eq!(events.len(), 4, "nothing from lan: {events:?}\n{}", logs());
    drop((lan, inet, server));
}
