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

#[path = "common/cluster.rs"]
mod cluster;
mod common;
#[path = "common/netns.rs"]
mod netns;
#[path = "common/receiver.rs"]
mod receiver;

use cluster::{Db, agent_token, applied, result_ports, start_agent_in, start_run};
use common::{ChildGuard, free_port, pg_test_cluster};
use netns::{
    Namespaces, accept_in, assert_route_in, assert_unrouted, exec_in, ip_in, link, nft_script_in,
};
use receiver::{PortEvent, Receiver, port_events};
use std::path::Path;
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

/// The router's filter: forwarded SMB to the target is dropped.
const DROP_SMB: &str =
    "add rule inet pwf forward ip daddr 10.226.10.2 tcp dport { 139, 445 } drop\n";

/// The topology; torn down on drop (the listener first), also when the test fails.
struct Topology {
    _listener: ChildGuard,
    _namespaces: Namespaces,
}

impl Topology {
    fn new() -> Topology {
        let names = NAMESPACES.map(String::from);
        // The blackhole keeps anything for the range from leaving the machine.
        let namespaces = Namespaces::new(&names, &ROOT_LINKS.map(String::from), "10.226.0.0/16");
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
        for (ns, dest, via) in [
            ("pwf-inet", "10.226.1.1/32", "10.226.2.1"),
            ("pwf-inet", "10.226.10.2/32", "10.226.30.1"),
            ("pwf-rtr", "10.226.10.2/32", "10.226.20.2"),
            ("pwf-srv", "10.226.30.0/24", "10.226.20.1"),
        ] {
            ip_in(ns, &["route", "add", dest, "via", via]);
        }
        exec_in("pwf-rtr", &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        nft_script_in(
            "pwf-rtr",
            &format!(
                "add table inet pwf\n\
                 add chain inet pwf forward {{ type filter hook forward priority 0 ; policy accept ; }}\n\
                 {DROP_SMB}"
            ),
        );
        check_routes();
        Topology {
            _listener: accept_in("pwf-srv", &LISTEN),
            _namespaces: namespaces,
        }
    }

    /// Takes the router's SMB rule out (false) or puts it back (true).
    fn smb_blocked(&self, blocked: bool) {
        if blocked {
            nft_script_in("pwf-rtr", DROP_SMB);
        } else {
            nft_script_in("pwf-rtr", "flush chain inet pwf forward\n");
        }
    }
}

/// Refuses to go on unless every path is the one this test built: the root namespace
/// reaches the target nowhere (the blackhole: no route), `lan` straight, `internet` through the router.
fn check_routes() {
    assert_unrouted(TARGET);
    assert_route_in("pwf-lan", TARGET, "dev pwf-lan-s ");
    assert_route_in("pwf-inet", TARGET, "via 10.226.30.1 dev pwf-inet-t ");
    assert_route_in("pwf-inet", SERVER, "dev pwf-inet-r ");
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
fn seen_from(jobs: &[portwatch_store::JobRow], vantage: &str) -> (usize, Vec<u16>) {
    let done = applied(jobs, "fileserver", vantage);
    let open = done.last().map_or_else(Vec::new, |j| {
        let mut ports = result_ports(j);
        ports.sort_unstable();
        ports
    });
    (done.len(), open)
}

/// How many messages say `event` about `port` from `vantage`.
fn count(events: &[PortEvent], event: &str, vantage: &str, port: u64) -> usize {
    events
        .iter()
        .filter(|(e, _, v, _, p)| e == event && v == vantage && *p == port)
        .count()
}

#[test]
fn each_vantage_sees_its_own_violations_through_the_router() {
    let topo = Topology::new();
    let rx = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let db = Db::postgres_on(&pg_test_cluster());
    let lan_token = agent_token(&db.url, "lan", "lan-1");
    let inet_token = agent_token(&db.url, "internet", "internet-1");
    let port = free_port();
    let config = config(dir.path(), &rx.url("/hook"));
    let server = start_run(
        &[
            "--config",
            config.to_str().unwrap(),
            "--listen",
            &format!("{SERVER}:{port}"),
            "--insecure-http",
            "--database",
            &db.url,
            "--agent-lease",
            "3s",
        ],
        Duration::from_secs(30),
    );
    let url = format!("http://{SERVER}:{port}");
    let agent = |ns: &str, token: &str, name: &str| {
        let spool = dir.path().join(format!("spool-{name}"));
        start_agent_in(Some(ns), &url, token, name, &spool, &[])
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
    // Waits until both vantages have `n` more applied scheduled scans than `before`.
    let rounds = |before, n| {
        cluster::rounds(
            &db,
            "fileserver",
            ["lan", "internet"],
            before,
            n,
            Duration::from_secs(90),
            logs,
        )
    };

    // The rule in place: lan sees all four open, internet only 22 and 443; no alert.
    let n = rounds((0, 0), 3);
    let jobs = db.jobs();
    assert_eq!(
        seen_from(&jobs, "lan").1,
        vec![22, 139, 443, 445],
        "{}",
        logs()
    );
    assert_eq!(seen_from(&jobs, "internet").1, vec![22, 443], "{}", logs());
    assert_eq!(
        port_events(&rx.received()),
        Vec::<PortEvent>::new(),
        "{}",
        logs()
    );

    // The rule gone: one OPEN per port from internet, nothing from lan.
    topo.smb_blocked(false);
    let got = rx.wait_for(Duration::from_mins(1), |g| {
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
    let n = rounds(n, 3);
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
    rx.wait_for(Duration::from_mins(1), |g| {
        let e = port_events(g);
        count(&e, "resolved", "internet", 139) >= 1 && count(&e, "resolved", "internet", 445) >= 1
    });
    rounds(n, 3);
    assert_eq!(seen_from(&db.jobs(), "internet").1, vec![22, 443]);
    let events = port_events(&rx.received());
    for p in [139, 445] {
        assert_eq!(count(&events, "opened", "internet", p), 1, "{events:?}");
        assert_eq!(count(&events, "resolved", "internet", p), 1, "{events:?}");
    }
    assert_eq!(events.len(), 4, "nothing from lan: {events:?}\n{}", logs());
    drop((lan, inet, server));
}
