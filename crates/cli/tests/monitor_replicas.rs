//! Two `portwatch run` processes with one configuration on one database (PostgreSQL, and one
//! SQLite file): a must-be-closed port that opens raises exactly one OPEN at the webhook;
//! after kill -9 of the replica that schedules, the other one takes over within one lease
//! period + 1 s, and the port's close raises exactly one RESOLVED.

mod common;
#[path = "common/receiver.rs"]
mod receiver;
use common::{ChildGuard, free_port, pg_db};
use receiver::{Received, Receiver};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The scheduler lease of the test configuration.
const LEASE: Duration = Duration::from_secs(2);

/// One `portwatch run` with its log lines (JSON) and when each arrived.
struct Replica {
    child: ChildGuard,
    logs: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Replica {
    fn start(config: &std::path::Path, db: &str) -> Replica {
        let mut child = Command::new(env!("CARGO_BIN_EXE_portwatch"))
            .args(["run", "--config", config.to_str().unwrap()])
            .args(["--log-format", "json", "--listen", "127.0.0.1:0"])
            .args(["--database", db])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push((Instant::now(), line));
            }
        });
        Replica {
            child: ChildGuard(child),
            logs,
        }
    }

    /// When the first log line after `since` containing `what` arrived, waiting up to `limit`.
    fn wait_log(&self, what: &str, since: Instant, limit: Duration) -> Option<Instant> {
        let end = Instant::now() + limit;
        loop {
            let found = self
                .logs
                .lock()
                .unwrap()
                .iter()
                .find(|(at, l)| *at >= since && l.contains(what))
                .map(|(at, _)| *at);
            if found.is_some() || Instant::now() > end {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn count(&self, what: &str) -> usize {
        let logs = self.logs.lock().unwrap();
        logs.iter().filter(|(_, l)| l.contains(what)).count()
    }

    fn dump(&self) -> String {
        let logs = self.logs.lock().unwrap();
        logs.iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn kill9(&mut self) {
        let pid = self.child.0.id().to_string();
        Command::new("kill").args(["-KILL", &pid]).status().unwrap();
        let _ = self.child.0.wait();
    }
}

const LEADS: &str = "now schedules the scans";
const SCANNED: &str = "scan recorded";

fn events(got: &[Received]) -> Vec<String> {
    got.iter()
        .map(|r| r.json()["event"].as_str().unwrap_or("?").to_string())
        .collect()
}

fn two_replicas_alert_once_and_fail_over(db: &str, label: &str) {
    let rx = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pw.toml");
    let port = free_port();
    std::fs::write(
        &config,
        format!(
            "[cluster]\nlease = \"{}s\"\n\n\
             [alerts]\nconfirm_after = \"200ms\"\nremind_every = \"0\"\n\n\
             [[notify]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\n\n\
             [[group]]\nname = \"local\"\ntargets = [\"127.0.0.1\"]\nevery = \"1s\"\n\
             [group.scan]\nprobes = false\n[group.policy]\nmust_be_closed = [\"{port}\"]\n",
            LEASE.as_secs(),
            rx.url("/hook")
        ),
    )
    .unwrap();
    let t0 = Instant::now();
    let mut a = Replica::start(&config, db);
    assert!(
        a.wait_log(LEADS, t0, Duration::from_secs(20)).is_some(),
        "the first replica never led:\n{}",
        a.dump()
    );
    let mut b = Replica::start(&config, db);
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        b.child.0.try_wait().unwrap().is_none(),
        "the second replica stopped:\n{}",
        b.dump()
    );

    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let got = rx.wait_for(Duration::from_secs(20), |g| !g.is_empty());
    // Both replicas had time to scan (and announce) several times over.
    std::thread::sleep(Duration::from_secs(3));
    let got_open = rx.received();
    assert_eq!(
        events(&got_open),
        ["opened"],
        "exactly one OPEN ({got:?})\nA:\n{}\nB:\n{}",
        a.dump(),
        b.dump()
    );
    assert_eq!(got_open[0].json()["alert"]["port"], port);
    assert!(a.count(SCANNED) >= 2, "the leader scans:\n{}", a.dump());
    assert_eq!(b.count(SCANNED), 0, "the follower scanned:\n{}", b.dump());

    // The leader dies; the follower takes the lease once it ran out.
    let killed = Instant::now();
    a.kill9();
    let led = b.wait_log(LEADS, killed, LEASE + Duration::from_secs(10));
    let led = led.unwrap_or_else(|| panic!("no takeover:\n{}", b.dump()));
    let scanned = b
        .wait_log(SCANNED, killed, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no scan after takeover:\n{}", b.dump()));
    let takeover = led - killed;
    println!(
        "{label}: failover after kill -9 of the leader: lease taken after {} ms, next scan \
         recorded after {} ms (lease {} ms)",
        takeover.as_millis(),
        (scanned - killed).as_millis(),
        LEASE.as_millis()
    );
    assert!(
        takeover <= LEASE + Duration::from_secs(1),
        "takeover took {takeover:?}"
    );

    // The new leader continues the alert: no second OPEN, one RESOLVED when the port closes.
    drop(listener);
    let got = rx.wait_for(Duration::from_secs(20), |g| g.len() >= 2);
    std::thread::sleep(Duration::from_secs(3));
    let got = if got.len() >= 2 { rx.received() } else { got };
    assert_eq!(
        events(&got),
        ["opened", "resolved"],
        "exactly one RESOLVED after failover\nB:\n{}",
        b.dump()
    );
}

#[test]
fn two_replicas_on_sqlite_alert_once_and_fail_over() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("pw.db").display());
    two_replicas_alert_once_and_fail_over(&db, "sqlite");
}

#[test]
fn two_replicas_on_postgres_alert_once_and_fail_over() {
    let pg = pg_db();
    two_replicas_alert_once_and_fail_over(&pg.url, "postgres");
}
