//! Sharded groups through real processes, on loopback only. `portwatch run` with a group of
//! 127.0.0.0/28 × 40 TCP ports split into 4 shards, seen from `lan`, and two `portwatch agent`
//! processes of `lan`: both agents scan shards, every round is one scan row of 4 shard jobs,
//! and the two must-be-closed listeners (on 127.0.0.3 and 127.0.0.9, in different shards)
//! are announced once each. Then two `portwatch run` replicas on one PostgreSQL database with
//! the same group seen from `local`: both replicas' shard workers scan shards of it. And
//! `config check` shows the split, and names a bad `shard` key at its line and column.

#[path = "common/cluster.rs"]
mod cluster;
mod common;
#[path = "common/receiver.rs"]
mod receiver;

use cluster::{agent_token, jobs, scans, start_agent_in, start_run};
use common::{Logged, free_port, pg_db, portwatch, stderr, stdout, wait_for};
use portwatch_store::{JobRow, JobStatus, ScanStatus};
use receiver::{Received, Receiver};
use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

/// A listener on `ip` at a port that is also free on `also` (the same port on both).
fn listeners(ip: &str, also: &str) -> (TcpListener, TcpListener, u16) {
    for _ in 0..50 {
        let a = TcpListener::bind((ip, 0)).unwrap();
        let port = a.local_addr().unwrap().port();
        if !(21..=65_000).contains(&port) {
            continue;
        }
        if let Ok(b) = TcpListener::bind((also, port)) {
            return (a, b, port);
        }
    }
    panic!("no port free on both {ip} and {also}");
}

/// The group: 127.0.0.0/28 × the 40 ports around `open`, in shards of 8 addresses × 20 ports.
fn config(dir: &Path, open: u16, vantage: &str, rx: &Receiver, every: &str) -> String {
    let path = dir.join("pw.toml");
    std::fs::write(
        &path,
        format!(
            "[alerts]\nconfirm_after = \"500ms\"\n\n\
             [[notify]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\n\n\
             [[group]]\nname = \"big\"\ntargets = [\"127.0.0.0/28\"]\nports = \"T:{}-{}\"\n\
             every = \"{every}\"\nvantages = [\"{vantage}\"]\n\
             shard = {{ addresses = 8, ports = 20 }}\n\
             [group.scan]\nrate = 400\n\
             [group.policy]\nmust_be_closed = [\"T:{open}\"]\n",
            rx.url("/hook"),
            open - 20,
            open + 19
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

/// Complete scheduled (not confirmation) scans of `big`.
fn rounds(db: &str) -> usize {
    scans(db)
        .iter()
        .filter(|s| s.source == "monitor:big" && s.status == ScanStatus::Complete)
        .count()
}

/// Applied shard jobs (not confirmations) of `big`.
fn applied_shards(jobs: &[JobRow]) -> usize {
    jobs.iter()
        .filter(|j| j.group == "big" && j.shard.starts_with('a'))
        .filter(|j| j.status == JobStatus::Applied)
        .count()
}

/// Who claimed shard jobs of `big`.
fn claimers(jobs: &[JobRow]) -> BTreeSet<String> {
    jobs.iter()
        .filter(|j| j.group == "big" && j.shard.starts_with('a'))
        .filter_map(|j| j.claimed_by.clone())
        .collect()
}

/// Waits (at most 2 minutes, then fails with `logs()`) until two claimers scanned shard
/// jobs of `big`; returns them.
fn two_claimers(db: &str, logs: impl Fn() -> String) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_mins(2);
    while seen.len() < 2 {
        assert!(std::time::Instant::now() < deadline, "{seen:?}\n{}", logs());
        std::thread::sleep(Duration::from_millis(200));
        seen = claimers(&jobs(db));
    }
    seen
}

/// Checks that the applied shard jobs are 4 per recorded round (the scan row and its
/// shards' marks are written in one transaction; rounds may end between the two reads), and
/// returns the jobs.
fn one_row_per_round(db: &str) -> Vec<JobRow> {
    let before = rounds(db);
    let jobs = jobs(db);
    let after = rounds(db);
    let applied = applied_shards(&jobs);
    assert!(
        before >= 1 && applied.is_multiple_of(4) && (before..=after).contains(&(applied / 4)),
        "{applied} applied shards, {before}..={after} rounds"
    );
    jobs
}

fn opened(got: &[Received]) -> Vec<String> {
    got.iter()
        .map(Received::json)
        .filter(|j| j["event"] == "opened" && j["alert"]["rule"] == "must be closed")
        .map(|j| j["alert"]["host"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn start_server(config: &str, db: &str, port: u16) -> Logged {
    let listen = format!("127.0.0.1:{port}");
    let args = [
        "--config",
        config,
        "--listen",
        &listen,
        "--database",
        db,
        "--agent-lease",
        "5s",
    ];
    start_run(&args, Duration::from_mins(1))
}

#[test]
fn two_agents_share_the_shards_of_a_group_recorded_as_one_observation_per_round() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("pw.db").display());
    let (_l3, _l9, open) = listeners("127.0.0.3", "127.0.0.9");
    let rx = Receiver::start();
    let config = config(dir.path(), open, "lan", &rx, "3s");
    let tokens = [
        agent_token(&db, "lan", "lan-1"),
        agent_token(&db, "lan", "lan-2"),
    ];
    let port = free_port();
    let server = start_server(&config, &db, port);
    let url = format!("http://127.0.0.1:{port}");
    let agents: Vec<Logged> = ["lan-1", "lan-2"]
        .iter()
        .zip(&tokens)
        .map(|(name, token)| {
            let spool = dir.path().join(format!("spool-{name}"));
            start_agent_in(None, &url, token, name, &spool, &[])
        })
        .collect();
    let logs = || {
        format!(
            "server:\n{}\nlan-1:\n{}\nlan-2:\n{}",
            server.log.lock().unwrap(),
            agents[0].log.lock().unwrap(),
            agents[1].log.lock().unwrap()
        )
    };
    // Both agents scan shards (rounds go on until each has had one).
    let seen = two_claimers(&db, logs);
    assert_eq!(
        seen,
        BTreeSet::from(["lan-1".to_string(), "lan-2".to_string()])
    );
    // The two listeners, in two shards, are announced once each, and stay announced once.
    let got = rx.wait_for(Duration::from_mins(1), |g| opened(g).len() >= 2);
    let mut hosts = opened(&got);
    hosts.sort();
    assert_eq!(hosts, ["127.0.0.3", "127.0.0.9"], "{}", logs());
    let before = rounds(&db);
    wait_for("two more rounds", Duration::from_mins(1), || {
        rounds(&db) >= before + 2
    });
    assert_eq!(opened(&rx.received()).len(), 2);
    // Every recorded round is one scan row of its 4 shards, each shard applied once.
    let jobs = one_row_per_round(&db);
    let names: BTreeSet<&str> = jobs
        .iter()
        .filter(|j| j.shard.starts_with('a'))
        .map(|j| j.shard.as_str())
        .collect();
    let (lo, hi) = (open - 20, open - 1);
    assert!(
        names.contains(format!("a0/p0 127.0.0.0-127.0.0.7 T:{lo}-{hi}").as_str()),
        "{names:?}"
    );
    assert_eq!(names.len(), 4, "{names:?}");
}

#[test]
fn two_replicas_on_postgres_share_the_local_shards_of_a_group() {
    let dir = tempfile::tempdir().unwrap();
    let pg = pg_db();
    let (_l3, _l9, open) = listeners("127.0.0.3", "127.0.0.9");
    let rx = Receiver::start();
    let config = config(dir.path(), open, "local", &rx, "3s");
    let replicas = [
        start_server(&config, &pg.url, free_port()),
        start_server(&config, &pg.url, free_port()),
    ];
    let logs = || {
        format!(
            "replica 1:\n{}\nreplica 2:\n{}",
            replicas[0].log.lock().unwrap(),
            replicas[1].log.lock().unwrap()
        )
    };
    let seen = two_claimers(&pg.url, logs);
    assert!(seen.iter().all(|c| c.starts_with("replica ")), "{seen:?}");
    let got = rx.wait_for(Duration::from_mins(1), |g| opened(g).len() >= 2);
    let mut hosts = opened(&got);
    hosts.sort();
    assert_eq!(hosts, ["127.0.0.3", "127.0.0.9"], "{}", logs());
    let jobs = one_row_per_round(&pg.url);
    assert!(jobs.iter().all(|j| j.vantage == "local"));
}

#[test]
fn config_check_shows_the_split_and_names_a_bad_shard_key_at_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pw.toml");
    let group = "[[group]]\nname = \"big\"\ntargets = [\"127.0.0.0/28\"]\nports = \"T:1-40\"\n";
    std::fs::write(
        &path,
        format!("{group}shard = {{ addresses = 8, ports = 20 }}\n"),
    )
    .unwrap();
    let out = portwatch(&["config", "check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("big: 1 target, 40 ports, every 5m, in 4 shards of 8 addresses × 20 ports"),
        "{text}"
    );
    std::fs::write(&path, format!("{group}[group.shard]\nports = 0\n")).unwrap();
    let out = portwatch(&["config", "check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("pw.toml:6:9") && err.contains("shard.ports must be a positive"),
        "{err}"
    );
}
