//! A whole portwatch system under faults, with real processes in network namespaces
//! (`pwgK-*`, each test its own /20 of 10.231.0.0/16): a Samba host (`smbd` and `nmbd`:
//! 139/tcp, 445/tcp, 137/udp) and a listener host (22/tcp, 443/tcp); an agent of vantage `lan`
//! wired straight to both; two agents of vantage `internet` whose path crosses a router
//! namespace where nftables drops forwarded 139/445/tcp and 137/udp (not 22/443). Two
//! `portwatch run` replicas (one configuration, one PostgreSQL database, `[cluster] lease` of
//! 2 s, `--agent-lease 2s`) listen in the root namespace on a veth address both agent
//! namespaces reach, with a webhook receiver on loopback.
//!
//! The tests: each vantage sees exactly its own violations, alerts naming it; kill -9 of an
//! agent mid-job (its job finishes on the other agent of the vantage, applied once) and of
//! the leader replica (the other schedules within a lease period, no alert twice); a
//! PostgreSQL restart mid-run (every alert arrives, each once); an agent cut off from the
//! servers (its spooled result is delivered afterwards, once).
//!
//! Needs root, python3, nft, psql, smbd/nmbd, and the test cluster of scripts/test-pg.sh
//! (`PORTWATCH_TEST_PG_URL`; the restart test makes a cluster of its own through
//! `PORTWATCH_TEST_PG_CTL`).

#[path = "common/cluster.rs"]
mod cluster;
mod common;
#[path = "common/netns.rs"]
mod netns;
#[path = "common/receiver.rs"]
mod receiver;
#[path = "common/samba.rs"]
mod samba;

use cluster::{
    Db, applied, http_exchange, jobs_summary, now_ms, spooled, start_agent_in, start_run, taken,
};
use common::{ChildGuard, Logged, OwnCluster, free_port, pg_test_cluster, wait_for};
use netns::{
    Namespaces, accept_in, assert_route_in, assert_unrouted, exec_in, ip_in, link, nft_script_in,
};
use portwatch_store::{JobRow, JobStatus, ScanStatus};
use receiver::{PortEvent as Event, Received, Receiver, port_event as ev, port_events};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The whole range the tests of this file use; blackholed in the root namespace.
const RANGE: &str = "10.231.0.0/16";
/// `[cluster] lease` and `--agent-lease` of the replicas.
const LEASE: Duration = Duration::from_secs(2);
/// How long waits on the system may take on a loaded 2-core machine before a test fails.
const PATIENCE: Duration = Duration::from_secs(90);

// --- the topology ---------------------------------------------------------------------------

/// The namespaces of a test: the two hosts, the agents' two places and the router.
const ROLES: [&str; 5] = ["smb", "lst", "lan", "inet", "rtr"];

/// One test's topology in 10.231.(16K)…(16K+15).0/24, namespaces `pwgK-ROLE`; torn down on
/// drop (the listener first, then what runs in the namespaces and they), also when the test
/// fails.
struct Topology {
    k: u8,
    listener: Option<ChildGuard>,
    _namespaces: Namespaces,
    samba_dir: tempfile::TempDir,
}

impl Topology {
    /// An address of subnet `sub` (0 to 15) of this test.
    fn addr(k: u8, sub: u8, host: u8) -> String {
        format!("10.231.{}.{host}", u16::from(k) * 16 + u16::from(sub))
    }

    fn ns_of(k: u8, role: &str) -> String {
        format!("pwg{k}-{role}")
    }

    fn ns(&self, role: &str) -> String {
        Topology::ns_of(self.k, role)
    }

    /// Where the replicas listen: the root end of the link to `lan`.
    fn server(&self) -> String {
        Topology::addr(self.k, 1, 1)
    }

    /// The Samba host, on its LAN leg.
    fn smb(&self) -> String {
        Topology::addr(self.k, 10, 2)
    }

    /// The listener host, on its LAN leg.
    fn lst(&self) -> String {
        Topology::addr(self.k, 11, 2)
    }

    fn new(k: u8) -> Topology {
        assert!(k < 16, "sub-range {k}");
        let names = ROLES.map(|role| Topology::ns_of(k, role));
        let root_links = ["lan", "inet"].map(|link| format!("pwg{k}-r-{link}"));
        // Nothing for the range ever leaves the machine, also after a namespace is gone.
        let namespaces = Namespaces::new(&names, &root_links, RANGE);
        let a = |sub: u8, host: u8| format!("{}/24", Topology::addr(k, sub, host));
        let mut topo = Topology {
            k,
            listener: None,
            _namespaces: namespaces,
            samba_dir: tempfile::tempdir().unwrap(),
        };
        let ns = |role: &str| Topology::ns_of(k, role);
        let dev = |name: &str| format!("pwg{k}-{name}");
        let (lan, inet, rtr, smb, lst) = (ns("lan"), ns("inet"), ns("rtr"), ns("smb"), ns("lst"));
        // The agents' places to the servers (root namespace).
        link(
            (&dev("r-lan"), None, &a(1, 1)),
            (&dev("lan-r"), Some(&lan), &a(1, 2)),
        );
        link(
            (&dev("r-inet"), None, &a(2, 1)),
            (&dev("inet-r"), Some(&inet), &a(2, 2)),
        );
        // The LAN: straight to both hosts.
        link(
            (&dev("lan-s"), Some(&lan), &a(10, 1)),
            (&dev("smb-l"), Some(&smb), &a(10, 2)),
        );
        link(
            (&dev("lan-t"), Some(&lan), &a(11, 1)),
            (&dev("lst-l"), Some(&lst), &a(11, 2)),
        );
        // The internet: through the router, which has a leg to each host.
        link(
            (&dev("inet-t"), Some(&inet), &a(3, 2)),
            (&dev("rtr-i"), Some(&rtr), &a(3, 1)),
        );
        link(
            (&dev("rtr-s"), Some(&rtr), &a(4, 1)),
            (&dev("smb-r"), Some(&smb), &a(4, 2)),
        );
        link(
            (&dev("rtr-t"), Some(&rtr), &a(5, 1)),
            (&dev("lst-r"), Some(&lst), &a(5, 2)),
        );
        let at = |sub: u8, host: u8| Topology::addr(k, sub, host);
        let internet = format!("{}/24", at(3, 0));
        for (ns, dest, via) in [
            (&inet, format!("{}/32", topo.server()), at(2, 1)),
            (&inet, format!("{}/32", topo.smb()), at(3, 1)),
            (&inet, format!("{}/32", topo.lst()), at(3, 1)),
            (&rtr, format!("{}/32", topo.smb()), at(4, 2)),
            (&rtr, format!("{}/32", topo.lst()), at(5, 2)),
            (&smb, internet.clone(), at(4, 1)),
            (&lst, internet, at(5, 1)),
        ] {
            ip_in(ns, &["route", "add", &dest, "via", &via]);
        }
        exec_in(&rtr, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        nft_script_in(
            &rtr,
            "add table inet pwg\n\
             add chain inet pwg forward { type filter hook forward priority 0 ; policy accept ; }\n",
        );
        topo.block_smb(true);
        topo.check_routes();
        topo.start_samba();
        topo.listener = Some(accept_in(&lst, &[22, 443]));
        topo
    }

    /// Refuses to go on unless every path is the one this test built: the root namespace
    /// reaches no host (the blackhole), `lan` reaches them straight, `internet` through the
    /// router, and both reach the servers over their own veths.
    fn check_routes(&self) {
        let k = self.k;
        let (lan, inet) = (self.ns("lan"), self.ns("inet"));
        for host in [self.smb(), self.lst()] {
            assert_unrouted(&host);
            let via = format!("via {} dev pwg{k}-inet-t ", Topology::addr(k, 3, 1));
            assert_route_in(&inet, &host, &via);
        }
        assert_route_in(&lan, &self.smb(), &format!("dev pwg{k}-lan-s "));
        assert_route_in(&lan, &self.lst(), &format!("dev pwg{k}-lan-t "));
        assert_route_in(&lan, &self.server(), &format!("dev pwg{k}-lan-r "));
        assert_route_in(&inet, &self.server(), &format!("dev pwg{k}-inet-r "));
    }

    /// Puts the router's SMB and NetBIOS rule in place (true) or takes it out (false).
    fn block_smb(&self, blocked: bool) {
        let rtr = self.ns("rtr");
        if blocked {
            nft_script_in(
                &rtr,
                &format!(
                    "add rule inet pwg forward ip daddr {smb} tcp dport {{ 139, 445 }} drop\n\
                     add rule inet pwg forward ip daddr {smb} udp dport 137 drop\n",
                    smb = self.smb()
                ),
            );
        } else {
            nft_script_in(&rtr, "flush chain inet pwg forward\n");
        }
    }

    /// Cuts the `lan` agent's place off from the servers (true: its packets to them are
    /// dropped) or joins it again (false). Its path to the hosts stays.
    fn cut_lan_from_servers(&self, cut: bool) {
        let lan = self.ns("lan");
        if cut {
            nft_script_in(
                &lan,
                &format!(
                    "add table inet pwgcut\n\
                     add chain inet pwgcut out {{ type filter hook output priority 0 ; policy accept ; }}\n\
                     add rule inet pwgcut out ip daddr {} drop\n",
                    self.server()
                ),
            );
        } else {
            nft_script_in(&lan, "delete table inet pwgcut\n");
        }
    }

    /// smbd (139, 445) and nmbd (137/udp) in the Samba namespace, each with its own state
    /// under a temporary directory; the compiled-in /run/samba and /var/log/samba are bind
    /// mounts of directories there, inside the mount namespace `ip netns exec` makes.
    fn start_samba(&self) {
        let dir = self.samba_dir.path();
        let global = samba::global(dir, "PWGFILES", "PWG", &format!("pwg{}-smb-l", self.k));
        std::fs::create_dir_all(dir.join("share")).unwrap();
        let d = dir.display();
        let conf = dir.join("smb.conf");
        std::fs::write(
            &conf,
            format!(
                "{global}   server min protocol = SMB2\n   log level = 1\n   map to guest = Bad User\n\n\
                 [pub]\npath = {d}/share\nread only = yes\nguest ok = yes\n"
            ),
        )
        .unwrap();
        std::fs::create_dir_all("/run/samba").unwrap();
        std::fs::create_dir_all("/var/log/samba").unwrap();
        let smb = self.ns("smb");
        for daemon in ["smbd", "nmbd"] {
            let run_dir = dir.join("run-samba");
            let log_dir = dir.join("log");
            let status = Command::new("ip")
                .args(["netns", "exec", &smb, "sh", "-c"])
                .arg(
                    "mount --bind \"$1\" /run/samba && mount --bind \"$2\" /var/log/samba \
                     && shift 2 && exec \"$@\"",
                )
                .arg("sh")
                .arg(&run_dir)
                .arg(&log_dir)
                .args([daemon, "-D", "-s"])
                .arg(&conf)
                .arg("-l")
                .arg(&log_dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("start Samba");
            assert!(status.success(), "{daemon} did not start");
        }
        let listening = |flag: &str, port: u16| {
            !exec_in(&smb, &["ss", "-H", flag, &format!("sport = :{port}")])
                .trim()
                .is_empty()
        };
        wait_for("smbd on 445 and 139", Duration::from_secs(30), || {
            listening("-ltn", 445) && listening("-ltn", 139)
        });
        wait_for("nmbd on 137/udp", Duration::from_secs(30), || {
            listening("-lun", 137)
        });
    }
}

// --- PostgreSQL ------------------------------------------------------------------------------

/// Jobs done by each registered agent, by name.
fn jobs_done(db: &Db) -> BTreeMap<String, i64> {
    db.agents()
        .into_iter()
        .map(|a| (a.name, a.jobs_done))
        .collect()
}

// --- the system ------------------------------------------------------------------------------

/// The group every vantage scans, and the slow one only `slow_from` scans (a job of it takes
/// seconds: 150 closed ports at 30 probes/s, plus 22), so a fault can strike mid-job.
fn config(dir: &Path, topo: &Topology, hook: &str, slow_from: &str) -> PathBuf {
    let path = dir.join("pw.toml");
    let (smb, lst) = (topo.smb(), topo.lst());
    std::fs::write(
        &path,
        format!(
            "[cluster]\nlease = \"{lease}s\"\n\n\
             [alerts]\nconfirm_after = \"1s\"\nremind_every = \"0\"\n\n\
             [[notify]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{hook}\"\n\n\
             [[group]]\nname = \"fileserver\"\ntargets = [\"{smb}\", \"{lst}\"]\n\
             ports = \"T:22,139,443,445,U:137\"\nevery = \"3s\"\n\
             vantages = [\"lan\", \"internet\"]\n\
             [group.scan]\nassume_up = true\nprobes = false\nretries = 1\n\
             initial_rtt_timeout = \"300ms\"\nmax_rtt_timeout = \"300ms\"\n\
             [group.policy]\nmust_be_closed = [\"T:22,139,445\", \"U:137\"]\n\
             [group.policy.from.lan]\nallow = [\"T:22,139,445\", \"U:137\"]\n\n\
             [[group]]\nname = \"slow\"\ntargets = [\"{lst}\"]\nports = \"T:22,40000-40149\"\n\
             every = \"10m\"\nvantages = [\"{slow_from}\"]\n\
             [group.scan]\nassume_up = true\nprobes = false\nretries = 1\nrate = 30\n\
             initial_rtt_timeout = \"300ms\"\nmax_rtt_timeout = \"300ms\"\n\
             [group.policy]\nmust_be_closed = [\"T:22\"]\n",
            lease = LEASE.as_secs()
        ),
    )
    .unwrap();
    path
}

/// Two replicas, three agents (`lan-1`, `inet-1`, `inet-2`), a webhook receiver, and the
/// database they share; everything stops on drop.
struct System {
    topo: Topology,
    rx: Receiver,
    db: Db,
    dir: tempfile::TempDir,
    config: PathBuf,
    admin: String,
    replicas: Vec<(u16, Logged)>,
    agents: BTreeMap<String, Logged>,
    tokens: BTreeMap<String, String>,
}

impl System {
    fn start(k: u8, pg_admin: &str, slow_from: &str) -> System {
        let topo = Topology::new(k);
        let rx = Receiver::start();
        let dir = tempfile::tempdir().unwrap();
        let db = Db::postgres_on(pg_admin);
        let admin = db.token(&["--role", "admin", "--name", "ops"]);
        let mut tokens = BTreeMap::new();
        for (name, vantage) in [
            ("lan-1", "lan"),
            ("inet-1", "internet"),
            ("inet-2", "internet"),
        ] {
            let t = cluster::agent_token(&db.url, vantage, name);
            tokens.insert(name.to_string(), t);
        }
        let config = config(dir.path(), &topo, &rx.url("/hook"), slow_from);
        let mut system = System {
            topo,
            rx,
            db,
            dir,
            config,
            admin,
            replicas: Vec::new(),
            agents: BTreeMap::new(),
            tokens,
        };
        // The first replica leads before the second starts, so which one leads is known.
        system.start_replica();
        system.replicas[0]
            .1
            .wait_logged("the first replica to lead", PATIENCE, LEADS);
        system.start_replica();
        for name in ["lan-1", "inet-1", "inet-2"] {
            system.start_agent(name);
        }
        system
    }

    fn start_replica(&mut self) {
        let replica = self.spawn_replica(free_port());
        self.replicas.push(replica);
    }

    /// Starts replica `i` again on its port, as a supervisor would after it died.
    fn restart_replica(&mut self, i: usize) {
        let port = self.replicas[i].0;
        self.replicas[i] = self.spawn_replica(port);
    }

    fn spawn_replica(&self, port: u16) -> (u16, Logged) {
        let listen = format!("{}:{port}", self.topo.server());
        let lease = format!("{}s", LEASE.as_secs());
        let args = [
            "--config",
            self.config.to_str().unwrap(),
            "--listen",
            &listen,
            "--insecure-http",
            "--database",
            &self.db.url,
            "--agent-lease",
            &lease,
        ];
        (port, start_run(&args, PATIENCE))
    }

    /// Starts agent `name` (`lan-…` in the LAN place, others behind the router), each
    /// spreading its polls over both replicas (odd ones start with the second).
    fn start_agent(&mut self, name: &str) {
        let ns = if name.starts_with("lan") {
            self.topo.ns("lan")
        } else {
            self.topo.ns("inet")
        };
        let n = self.agents.len() % self.replicas.len();
        let port = self.replicas[n].0;
        let url = format!("http://{}:{port}", self.topo.server());
        let spool = self.spool_dir(name);
        let agent = start_agent_in(Some(&ns), &url, &self.tokens[name], name, &spool, &[]);
        self.agents.insert(name.to_string(), agent);
    }

    fn spool_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("spool-{name}"))
    }

    fn spooled(&self, name: &str) -> usize {
        spooled(&self.spool_dir(name)).len()
    }

    fn kill9_agent(&mut self, name: &str) {
        let agent = self.agents.get_mut(name).expect("a running agent");
        kill9(&mut agent.child);
    }

    /// `/readyz` of replica `i` (None: it does not answer).
    fn readyz(&self, i: usize) -> Option<String> {
        let (port, _) = &self.replicas[i];
        let addr = format!("{}:{port}", self.topo.server());
        let request = format!(
            "GET /readyz HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
             Connection: close\r\n\r\n",
            self.admin
        );
        http_exchange(&addr, &request, Duration::from_secs(10)).ok()
    }

    fn leads(&self, i: usize) -> bool {
        self.readyz(i)
            .is_some_and(|r| r.contains("scheduler: leader"))
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for (i, (port, r)) in self.replicas.iter().enumerate() {
            out.push_str(&format!(
                "--- replica {i} (:{port}):\n{}",
                r.log.lock().unwrap()
            ));
        }
        for (name, a) in &self.agents {
            out.push_str(&format!("--- agent {name}:\n{}", a.log.lock().unwrap()));
        }
        out
    }

    /// Waits until each vantage has `n` more applied scheduled rounds of `fileserver` than in
    /// `before`; returns the new counts.
    fn rounds(&self, before: (usize, usize), n: usize) -> (usize, usize) {
        cluster::rounds(
            &self.db,
            "fileserver",
            ["lan", "internet"],
            before,
            n,
            PATIENCE,
            || self.logs(),
        )
    }

    /// Waits (a few scheduled rounds) until every job is applied or failed and nothing is
    /// being delivered, so that counts can be compared exactly.
    fn settle(&self) {
        let before = self.rounds((0, 0), 0);
        self.rounds(before, 2);
    }
}

impl Drop for System {
    fn drop(&mut self) {
        self.agents.clear();
        self.replicas.clear();
    }
}

fn kill9(child: &mut ChildGuard) {
    let pid = child.0.id().to_string();
    Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .expect("kill -9");
    let _ = child.0.wait();
}

/// What the replica that takes the scheduler lease logs.
const LEADS: &str = "now schedules the scans";

/// The open ports in a job's result, as `HOST PORT/PROTO`.
fn open_in(job: &JobRow) -> Vec<String> {
    let result = job.result.clone().unwrap_or(Value::Null);
    let mut out: Vec<String> = result["hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|h| h["results"].as_array().cloned().unwrap_or_default())
        .filter(|r| r["state"] == "open")
        .map(|r| {
            format!(
                "{} {}/{}",
                r["host"].as_str().unwrap_or("?"),
                r["port"],
                r["proto"].as_str().unwrap_or("?")
            )
        })
        .collect();
    out.sort();
    out
}

/// Every message's idempotency key arrived once.
fn assert_each_key_once(got: &[Received], logs: impl Fn() -> String) {
    let mut keys: BTreeMap<String, usize> = BTreeMap::new();
    for r in got {
        let key = r.json()["idempotency_key"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        *keys.entry(key).or_default() += 1;
    }
    let twice: Vec<_> = keys.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "sent more than once: {twice:?}\n{}",
        logs()
    );
}

/// Each applied job of `group` from `vantage` is one recorded scan: as many scheduled scans
/// as applied scheduled jobs, as many confirmations as applied confirmation jobs.
fn assert_one_scan_per_applied_job(db: &Db, group: &str, vantage: &str) {
    let (jobs, scans) = (db.jobs(), db.scans());
    for (shard, source) in [
        ("", format!("monitor:{group}")),
        ("confirm", format!("monitor:{group}:confirm")),
    ] {
        let applied_jobs = jobs
            .iter()
            .filter(|j| j.group == group && j.vantage == vantage && j.shard == shard)
            .filter(|j| j.status == JobStatus::Applied)
            .count();
        let recorded = scans
            .iter()
            .filter(|s| s.source == source && s.vantage == vantage)
            .filter(|s| s.status == ScanStatus::Complete)
            .count();
        assert_eq!(
            recorded,
            applied_jobs,
            "{source} from {vantage}: one scan per applied job\n{}",
            jobs_summary(&jobs)
        );
    }
}

// --- the tests -------------------------------------------------------------------------------

#[test]
fn each_vantage_sees_exactly_its_violations_of_the_samba_and_listener_hosts() {
    let sys = System::start(0, &pg_test_cluster(), "lan");
    let (smb, lst) = (sys.topo.smb(), sys.topo.lst());
    let logs = || sys.logs();
    let n = sys.rounds((0, 0), 2);
    let jobs = sys.db.jobs();
    let lan = applied(&jobs, "fileserver", "lan");
    let inet = applied(&jobs, "fileserver", "internet");
    let want_lan = vec![
        format!("{smb} 137/udp"),
        format!("{smb} 139/tcp"),
        format!("{smb} 445/tcp"),
        format!("{lst} 22/tcp"),
        format!("{lst} 443/tcp"),
    ];
    let mut want_lan = want_lan;
    want_lan.sort();
    assert_eq!(open_in(lan.last().unwrap()), want_lan, "{}", logs());
    let mut want_inet = vec![format!("{lst} 22/tcp"), format!("{lst} 443/tcp")];
    want_inet.sort();
    assert_eq!(open_in(inet.last().unwrap()), want_inet, "{}", logs());
    // From the internet 22 must be closed; from the LAN all of it is allowed.
    let want = vec![ev("opened", "fileserver", "internet", &lst, 22)];
    let got = sys
        .rx
        .wait_for(PATIENCE, |g| port_events(g).len() >= want.len());
    sys.rounds(n, 2);
    let slow = |e: &Event| e.1 == "slow";
    let events: Vec<Event> = port_events(&sys.rx.received())
        .into_iter()
        .filter(|e| !slow(e))
        .collect();
    assert_eq!(events, want, "{got:?}\n{}", logs());

    // The router's rule gone: SMB and NetBIOS are reachable from the internet, one alert each.
    sys.topo.block_smb(false);
    let mut want = vec![
        ev("opened", "fileserver", "internet", &lst, 22),
        ev("opened", "fileserver", "internet", &smb, 137),
        ev("opened", "fileserver", "internet", &smb, 139),
        ev("opened", "fileserver", "internet", &smb, 445),
    ];
    want.sort();
    sys.rx.wait_for(PATIENCE, |g| {
        port_events(g).iter().filter(|e| !slow(e)).count() >= want.len()
    });
    sys.settle();
    let received = sys.rx.received();
    let events: Vec<Event> = port_events(&received)
        .into_iter()
        .filter(|e| !slow(e))
        .collect();
    assert_eq!(events, want, "{}", logs());
    for e in &received {
        let j = e.json();
        if j["alert"]["group"] == "fileserver" {
            let text = j.to_string();
            assert!(text.contains("from internet"), "names the vantage: {text}");
        }
    }
    assert_each_key_once(&received, logs);
}

#[test]
fn an_agent_and_the_leader_killed_mid_run_lose_no_job_and_repeat_no_alert() {
    let mut sys = System::start(1, &pg_test_cluster(), "internet");
    let lst = sys.topo.lst();
    // The slow job from the internet, claimed by one of its two agents.
    let mut slow = None;
    wait_for("an internet agent to claim the slow job", PATIENCE, || {
        slow =
            sys.db.jobs().into_iter().find(|j| {
                j.group == "slow" && j.shard.is_empty() && j.status == JobStatus::Claimed
            });
        slow.is_some()
    });
    let slow = slow.unwrap();
    let victim = slow.claimed_by.clone().unwrap();
    let other = if victim == "inet-1" {
        "inet-2"
    } else {
        "inet-1"
    };
    sys.agents[victim.as_str()].wait_logged(
        "the agent to take the slow job",
        PATIENCE,
        &taken(slow.id, slow.attempt),
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sys.db.job(slow.id).status, JobStatus::Claimed, "mid-job");
    let done_before = jobs_done(&sys.db)[victim.as_str()];
    let killed_ms = now_ms();
    sys.kill9_agent(&victim);
    let mut reclaimed_ms = None;
    wait_for(
        "the other internet agent to finish the slow job",
        PATIENCE,
        || {
            let job = sys.db.job(slow.id);
            if job.attempt >= 2 && reclaimed_ms.is_none() {
                reclaimed_ms = Some(now_ms() - killed_ms);
            }
            matches!(job.status, JobStatus::Done | JobStatus::Applied)
        },
    );
    let reclaimed_ms = reclaimed_ms.unwrap_or(i64::MAX);
    let row = sys.db.job(slow.id);
    let finished = row.finished_at.unwrap() - killed_ms;
    println!(
        "agent {victim} killed mid-job: job {} claimed again after {reclaimed_ms} ms, \
         finished by {:?} {finished} ms after the kill (agent lease {} ms)",
        slow.id,
        row.claimed_by,
        LEASE.as_millis()
    );
    // The lease runs out, the rescuer (every second) requeues the job and the next poll of
    // the other agent takes it: within the lease and a few seconds of margin.
    assert!(
        reclaimed_ms <= (LEASE + Duration::from_secs(4)).as_millis() as i64,
        "claimed again only after {reclaimed_ms} ms"
    );
    assert_eq!(row.attempt, 2, "{row:?}\n{}", sys.logs());
    assert_eq!(row.claimed_by.as_deref(), Some(other), "{row:?}");
    assert!(
        finished >= LEASE.as_millis() as i64 - 100,
        "not before the lease ran out: {finished} ms"
    );
    wait_for("the slow job to be applied", PATIENCE, || {
        sys.db.job(slow.id).status == JobStatus::Applied
    });
    assert!(open_in(&row).contains(&format!("{lst} 22/tcp")), "{row:?}");
    let got = sys.rx.wait_for(PATIENCE, |g| {
        port_events(g).contains(&ev("opened", "slow", "internet", &lst, 22))
    });
    assert!(
        port_events(&got).contains(&ev("opened", "slow", "internet", &lst, 22)),
        "{got:?}\n{}",
        sys.logs()
    );

    // The leader dies: the other replica schedules within a lease period.
    assert!(sys.leads(0), "{:?}", sys.readyz(0));
    assert!(!sys.leads(1), "{:?}", sys.readyz(1));
    let killed = Instant::now();
    let killed_ms = now_ms();
    kill9(&mut sys.replicas[0].1.child);
    wait_for("the second replica to lead", PATIENCE, || sys.leads(1));
    let takeover = killed.elapsed();
    let mut first_job = None;
    wait_for("a job queued by the new leader", PATIENCE, || {
        first_job = sys
            .db
            .jobs()
            .into_iter()
            .filter(|j| j.group == "fileserver" && j.created_at > killed_ms)
            .map(|j| j.created_at)
            .min();
        first_job.is_some()
    });
    println!(
        "leader killed: /readyz of the other replica says leader after {} ms, its first job \
         queued after {} ms (lease {} ms)",
        takeover.as_millis(),
        first_job.unwrap() - killed_ms,
        LEASE.as_millis()
    );
    assert!(
        takeover <= LEASE + Duration::from_secs(3),
        "takeover took {takeover:?}"
    );
    assert!(
        sys.readyz(1)
            .is_some_and(|r| r.contains("holder") && r.contains("scheduler: leader")),
        "{:?}",
        sys.readyz(1)
    );
    // The dead replica comes back (as systemd would restart it) and follows; the agents that
    // polled it reconnect, and the new leader's rounds are applied from every vantage.
    sys.restart_replica(0);
    sys.settle();
    let jobs = sys.db.jobs();
    for vantage in ["lan", "internet"] {
        assert!(
            applied(&jobs, "fileserver", vantage)
                .iter()
                .any(|j| j.created_at > killed_ms),
            "no round of the new leader applied from {vantage}:\n{}",
            jobs_summary(&jobs)
        );
    }
    assert!(!sys.leads(0), "{:?}", sys.readyz(0));
    assert!(sys.leads(1), "{:?}", sys.readyz(1));

    // Each alert once: 22 from the internet for both groups, nothing from the LAN.
    let received = sys.rx.received();
    let mut want = vec![
        ev("opened", "fileserver", "internet", &lst, 22),
        ev("opened", "slow", "internet", &lst, 22),
    ];
    want.sort();
    assert_eq!(port_events(&received), want, "{}", sys.logs());
    assert_each_key_once(&received, || sys.logs());
    for (group, vantage) in [
        ("fileserver", "lan"),
        ("fileserver", "internet"),
        ("slow", "internet"),
    ] {
        assert_one_scan_per_applied_job(&sys.db, group, vantage);
    }
    let done = jobs_done(&sys.db);
    assert_eq!(
        done.get(victim.as_str()),
        Some(&done_before),
        "nothing of the killed agent counted: {done:?}"
    );
}

#[test]
fn a_postgresql_restart_mid_run_loses_and_repeats_no_alert() {
    let pg = OwnCluster::up().expect("a PostgreSQL cluster of the test's own");
    let sys = System::start(2, &pg.url(), "lan");
    let (smb, lst) = (sys.topo.smb(), sys.topo.lst());
    let slow = |e: &Event| e.1 == "slow";
    let fileserver = |got: &[Received]| -> Vec<Event> {
        port_events(got).into_iter().filter(|e| !slow(e)).collect()
    };
    let baseline = vec![ev("opened", "fileserver", "internet", &lst, 22)];
    sys.rx
        .wait_for(PATIENCE, |g| fileserver(g).len() >= baseline.len());
    sys.settle();
    assert_eq!(fileserver(&sys.rx.received()), baseline, "{}", sys.logs());

    // SMB opens to the internet and PostgreSQL restarts at once.
    sys.topo.block_smb(false);
    pg.ctl("restart").unwrap();
    let mut want = baseline.clone();
    for p in [137, 139, 445] {
        want.push(ev("opened", "fileserver", "internet", &smb, p));
    }
    want.sort();
    sys.rx
        .wait_for(PATIENCE, |g| fileserver(g).len() >= want.len());
    sys.settle();
    assert_eq!(fileserver(&sys.rx.received()), want, "{}", sys.logs());

    // SMB closes again and PostgreSQL restarts once more: one resolve each.
    sys.topo.block_smb(true);
    pg.ctl("restart").unwrap();
    for p in [137, 139, 445] {
        want.push(ev("resolved", "fileserver", "internet", &smb, p));
    }
    want.sort();
    sys.rx
        .wait_for(PATIENCE, |g| fileserver(g).len() >= want.len());
    sys.settle();
    let received = sys.rx.received();
    assert_eq!(fileserver(&received), want, "{}", sys.logs());
    assert_each_key_once(&received, || sys.logs());
    let stuck: Vec<_> = sys
        .db
        .jobs()
        .into_iter()
        .filter(|j| j.status == JobStatus::Done)
        .filter(|j| j.finished_at.is_some_and(|t| now_ms() - t > 30_000))
        .collect();
    assert!(stuck.is_empty(), "results never applied: {stuck:?}");
}

#[test]
fn an_agent_cut_off_from_the_servers_delivers_its_spooled_result_once() {
    let sys = System::start(3, &pg_test_cluster(), "lan");
    let lst = sys.topo.lst();
    let mut slow = None;
    wait_for("the lan agent to claim the slow job", PATIENCE, || {
        slow =
            sys.db.jobs().into_iter().find(|j| {
                j.group == "slow" && j.shard.is_empty() && j.status == JobStatus::Claimed
            });
        slow.is_some()
    });
    let slow = slow.unwrap();
    assert_eq!(slow.claimed_by.as_deref(), Some("lan-1"));
    // Cut only once the agent has the job: a cut between the claim's commit and the answer
    // leaves an agent that never got it.
    sys.agents["lan-1"].wait_logged(
        "the lan agent to take the slow job",
        PATIENCE,
        &taken(slow.id, slow.attempt),
    );
    sys.topo.cut_lan_from_servers(true);
    let cut = Instant::now();
    wait_for("the result to be spooled", PATIENCE, || {
        sys.spooled("lan-1") == 1
    });
    // Cut off for longer than the lease: the job went back to the queue, nobody else of the
    // vantage is there to take it, and no result arrived.
    wait_for("the lease to run out", PATIENCE, || {
        sys.db.job(slow.id).status == JobStatus::Queued
    });
    std::thread::sleep(LEASE.saturating_sub(cut.elapsed()));
    assert_eq!(sys.db.job(slow.id).status, JobStatus::Queued);
    sys.topo.cut_lan_from_servers(false);
    let joined = Instant::now();
    wait_for("the spooled result to be applied", PATIENCE, || {
        sys.db.job(slow.id).status == JobStatus::Applied
    });
    println!(
        "cut off for {} ms; the spooled result was applied {} ms after the cut ended",
        (joined - cut).as_millis(),
        joined.elapsed().as_millis()
    );
    wait_for("the spool to empty", PATIENCE, || sys.spooled("lan-1") == 0);
    let row = sys.db.job(slow.id);
    assert_eq!(row.attempt, 1, "the cut attempt's own result: {row:?}");
    assert!(open_in(&row).contains(&format!("{lst} 22/tcp")), "{row:?}");
    let got = sys.rx.wait_for(PATIENCE, |g| {
        port_events(g).contains(&ev("opened", "slow", "lan", &lst, 22))
    });
    sys.settle();
    let received = sys.rx.received();
    let slow_events: Vec<Event> = port_events(&received)
        .into_iter()
        .filter(|e| e.1 == "slow")
        .collect();
    assert_eq!(
        slow_events,
        vec![ev("opened", "slow", "lan", &lst, 22)],
        "{got:?}\n{}",
        sys.logs()
    );
    assert_each_key_once(&received, || sys.logs());
    let log = sys.agents["lan-1"].log.lock().unwrap().clone();
    assert!(
        !log.contains('\x1b'),
        "no colours in a log that is not a terminal: {log}"
    );
    let delivered = log
        .lines()
        .filter(|l| l.contains("job finished and delivered"))
        .filter(|l| l.contains(&format!("job={} ", slow.id)))
        .count();
    assert_eq!(delivered, 1, "{log}");
    assert_one_scan_per_applied_job(&sys.db, "slow", "lan");
}
