//! `portwatch agent` against a real `portwatch run` (SQLite, then PostgreSQL): jobs are queued
//! through the store as the daemon queues them, the agent scans a listener on 127.0.0.1 and
//! its result is stored once; an agent killed mid-job loses its lease and a second agent
//! finishes the job; a result finished while the server is down waits in the spool and is
//! delivered once when the server is back. Bad arguments exit 2 with a clear message.

#[path = "common/cluster.rs"]
mod cluster;
mod common;

use cluster::{
    Db, http_exchange, now_ms, result_ports as open_ports, spooled, start_agent_in, start_run,
    status_and_body, taken,
};
use common::{Logged, free_port, portwatch, stderr, wait_for};
use portwatch_monitor::job::{JobResult, JobSpec, QuietRun, WirePorts};
use portwatch_store::{JobStatus, NewJob};
use portwatch_testkit::pki;
use std::path::Path;
use std::time::{Duration, Instant};

/// The lease the test servers give (`--agent-lease`).
const LEASE: &str = "2s";

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A test's database: a SQLite file in its directory, or a PostgreSQL database dropped after.
fn new_db(backend: Backend, dir: &Path) -> Db {
    match backend {
        Backend::Sqlite => Db::sqlite(dir),
        Backend::Postgres => Db::postgres(),
    }
}

/// A running `portwatch run` and what it logged.
type Server = Logged;

fn start_server(dir: &Path, db: &Db, port: u16) -> Server {
    start_server_with(dir, db, port, &[])
}

fn start_server_with(dir: &Path, db: &Db, port: u16, extra: &[&str]) -> Server {
    let config = dir.join("pw.toml");
    std::fs::write(
        &config,
        format!(
            "[[group]]\nname = \"lab\"\ntargets = [\"127.0.0.1\"]\nevery = \"1h\"\n\
             [group.policy]\nmust_be_closed = [\"{}\"]\n",
            free_port()
        ),
    )
    .unwrap();
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec![
        "--config",
        config.to_str().unwrap(),
        "--listen",
        &listen,
        "--database",
        &db.url,
        "--agent-lease",
        LEASE,
    ];
    args.extend_from_slice(extra);
    start_run(&args, Duration::from_secs(30))
}

/// A running `portwatch agent` and what it logged.
type Agent = Logged;

fn start_agent(port: u16, token: &str, spool: &Path, name: &str) -> Agent {
    start_agent_at(&format!("http://127.0.0.1:{port}"), token, spool, name, &[])
}

fn start_agent_at(url: &str, token: &str, spool: &Path, name: &str, extra: &[&str]) -> Agent {
    start_agent_in(None, url, token, name, spool, extra)
}

/// One HTTP/1.1 request on loopback: (status, body).
fn http(port: u16, method: &str, path: &str, token: &str, body: Option<&str>) -> (u16, String) {
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let raw = http_exchange(
        &format!("127.0.0.1:{port}"),
        &request,
        Duration::from_secs(30),
    )
    .expect("a request to the server");
    status_and_body(&raw)
}

/// Waits until `agent` logged that it took the first attempt of job `id`, which the database
/// then shows as claimed. The agent's own word, not the claim in the database: a server stopped
/// between committing the claim and answering the poll leaves an agent that never got the job.
fn wait_taken(agent: &Logged, db: &Db, id: i64) {
    agent.wait_logged(
        "the agent to take the job",
        Duration::from_secs(20),
        &taken(id, 1),
    );
    assert_eq!(db.job(id).status, JobStatus::Claimed);
}

/// Queues a job for vantage `lan` as the daemon does; returns its id.
fn enqueue(db: &Db, group: &str, spec: &JobSpec) -> i64 {
    let job = NewJob {
        group: group.into(),
        vantage: "lan".into(),
        shard: String::new(),
        spec: serde_json::to_value(spec).unwrap(),
    };
    db.with_store(async |store| store.job_enqueue(&job, now_ms()).await.unwrap().0)
}

/// A job that scans `ports` of 127.0.0.1 (no identification).
fn spec(ports: Vec<u16>, rate: Option<u32>) -> JobSpec {
    let scan = portwatch_monitor::config::RawScanOptions {
        rate,
        assume_up: Some(true),
        ..Default::default()
    };
    JobSpec {
        group: "lab".into(),
        targets: vec!["127.0.0.1".into()],
        exclude: vec![],
        ports: WirePorts {
            tcp: ports,
            udp: vec![],
        },
        scan,
        identify: false,
    }
}

/// A job that takes seconds: 150 closed ports at 30 probes/s, plus the listener's.
fn slow_spec(listener: u16) -> JobSpec {
    let mut ports: Vec<u16> = (40_000..40_150).collect();
    ports.push(listener);
    spec(ports, Some(30))
}

fn round_trip(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = new_db(backend, dir.path());
    let agent_token = db.token(&["--role", "agent", "--vantage", "lan", "--name", "lan-1"]);
    let admin = db.token(&["--role", "admin", "--name", "ops"]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = free_port();
    let port = free_port();
    let server = start_server(dir.path(), &db, port);

    // Roles: an agent token reaches only the agent endpoints, others not those.
    let (status, body) = http(port, "GET", "/api/v1/hosts", &agent_token, None);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("only the agent endpoints"), "{body}");
    let poll = r#"{"version":"test"}"#;
    let (status, body) = http(port, "POST", "/api/v1/agent/poll", &admin, Some(poll));
    assert_eq!(status, 403, "{body}");
    let (status, body) = http(
        port,
        "POST",
        "/api/v1/agent/poll",
        &agent_token,
        Some(r#"{"version": 3}"#),
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("\"error\""), "{body}");

    let id = enqueue(&db, "lab", &spec(vec![open, closed], None));
    let spool = dir.path().join("spool");
    let agent = start_agent(port, &agent_token, &spool, "lan-1");
    wait_for("the job to be done", Duration::from_secs(30), || {
        db.job(id).status == JobStatus::Done
    });
    let row = db.job(id);
    assert_eq!(row.attempt, 1);
    assert_eq!(row.claimed_by.as_deref(), Some("lan-1"));
    assert_eq!(open_ports(&row), vec![open], "only the listener is open");
    agent.wait_logged(
        "the agent to log the job",
        Duration::from_secs(10),
        "job finished and delivered",
    );
    assert!(
        spooled(&spool).is_empty(),
        "delivered results leave the spool"
    );
    let a = db.agents();
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!((a[0].vantage.as_str(), a[0].jobs_done), ("lan", 1), "{a:?}");
    let (status, body) = http(port, "GET", "/api/v1/agents", &admin, None);
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list["items"][0]["vantage"], "lan", "{body}");
    assert_eq!(list["items"][0]["address"], "127.0.0.1", "{body}");
    assert_eq!(list["items"][0]["jobs_done"], 1, "{body}");
    // The same attempt pushed again changes nothing.
    let again = format!(
        r#"{{"token":"wrong","result":{}}}"#,
        serde_json::to_string(row.result.as_ref().unwrap()).unwrap()
    );
    let path = format!("/api/v1/agent/jobs/{id}/attempts/1");
    let (status, body) = http(port, "PUT", &path, &agent_token, Some(&again));
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("superseded"), "{body}");
    assert_eq!(db.job(id).result, row.result);
    // A result claiming a run of 2^40 quiet hosts for a job of one address is refused with the
    // limit before anything expands it.
    let mut huge: JobResult = serde_json::from_value(row.result.clone().unwrap()).unwrap();
    huge.quiet.push(QuietRun {
        first: "127.0.0.2".parse().unwrap(),
        count: 1 << 40,
        closed: 2,
        filtered: 0,
        skipped: 0,
    });
    let body = format!(
        r#"{{"token":"wrong","result":{}}}"#,
        serde_json::to_string(&huge).unwrap()
    );
    let (status, body) = http(port, "PUT", &path, &agent_token, Some(&body));
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("covers 1099511627777 hosts, more than the job's targets name (1,"),
        "{body}"
    );
    assert_eq!(db.job(id).result, row.result);
    drop(agent);
    drop(server);
}

fn killed_agent(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = new_db(backend, dir.path());
    let t1 = db.token(&["--role", "agent", "--vantage", "lan", "--name", "a"]);
    let t2 = db.token(&["--role", "agent", "--vantage", "lan", "--name", "b"]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let port = free_port();
    let _server = start_server(dir.path(), &db, port);
    let id = enqueue(&db, "lab", &slow_spec(open));
    let mut a = start_agent(port, &t1, &dir.path().join("spool-a"), "a");
    wait_taken(&a, &db, id);
    std::thread::sleep(Duration::from_millis(500));
    a.child.0.kill().unwrap();
    let _ = a.child.0.wait();
    let killed_at = Instant::now();
    let _b = start_agent(port, &t2, &dir.path().join("spool-b"), "b");
    wait_for("agent b to finish the job", Duration::from_secs(40), || {
        db.job(id).status == JobStatus::Done
    });
    let row = db.job(id);
    assert_eq!(row.attempt, 2, "{row:?}");
    assert_eq!(row.claimed_by.as_deref(), Some("b"));
    assert!(open_ports(&row).contains(&open));
    assert!(
        killed_at.elapsed() >= Duration::from_secs(2),
        "not before the lease ran out"
    );
    let by_name: std::collections::BTreeMap<String, i64> = db
        .agents()
        .into_iter()
        .map(|a| (a.name, a.jobs_done))
        .collect();
    assert_eq!(by_name.get("a"), Some(&0), "{by_name:?}");
    assert_eq!(by_name.get("b"), Some(&1), "{by_name:?}");
}

fn spooled_while_server_down(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = new_db(backend, dir.path());
    let t = db.token(&["--role", "agent", "--vantage", "lan", "--name", "a"]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let port = free_port();
    let server = start_server(dir.path(), &db, port);
    // 901 ports at 30 probes/s: about 30 s of probing, paced by the rate, so never faster on a
    // loaded machine. The wait for the claim below gives up after 20 s, so when it sees the job
    // claimed the probing cannot be over yet, and the server is stopped before the agent can
    // push (a 10 s job lost that race once under CI's load, with PostgreSQL's slower polls).
    let mut slower = slow_spec(open);
    slower.ports.tcp = (40_000..40_900).chain([open]).collect();
    let id = enqueue(&db, "lab", &slower);
    let spool = dir.path().join("spool");
    let agent = start_agent(port, &t, &spool, "a");
    wait_taken(&agent, &db, id);
    drop(server);
    agent.wait_until("the result to be spooled", Duration::from_mins(2), || {
        spooled(&spool).len() == 1
    });
    assert_ne!(db.job(id).status, JobStatus::Done);
    let _server = start_server(dir.path(), &db, port);
    wait_for(
        "the spooled result to arrive",
        Duration::from_mins(1),
        || db.job(id).status == JobStatus::Done,
    );
    wait_for("the spool to empty", Duration::from_secs(10), || {
        spooled(&spool).is_empty()
    });
    let row = db.job(id);
    assert_eq!(row.attempt, 1, "{row:?}");
    assert!(open_ports(&row).contains(&open));
    assert_eq!(db.agents()[0].jobs_done, 1, "delivered once");
    let log = agent.log.lock().unwrap().clone();
    assert_eq!(
        log.matches("job finished and delivered").count(),
        1,
        "{log}"
    );
}

/// Two replicas of the server on one database; the agent names both. Replica A, which the
/// agent talks to first, is killed with SIGKILL while the agent is scanning: the agent renews
/// its claim through replica B within the lease, so the job ends in its first attempt, and the
/// result is stored once.
fn replica_failover(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = new_db(backend, dir.path());
    let t = db.token(&["--role", "agent", "--vantage", "lan", "--name", "a"]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let (port_a, port_b) = (free_port(), free_port());
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    let mut replica_a = start_server(&dir.path().join("a"), &db, port_a);
    let _replica_b = start_server(&dir.path().join("b"), &db, port_b);
    let id = enqueue(&db, "lab", &slow_spec(open));
    let servers = format!("http://127.0.0.1:{port_a},http://127.0.0.1:{port_b}");
    let agent = start_agent_at(&servers, &t, &dir.path().join("spool"), "a", &[]);
    wait_taken(&agent, &db, id);
    replica_a.child.0.kill().unwrap();
    let _ = replica_a.child.0.wait();
    wait_for("the job to be done", Duration::from_mins(1), || {
        db.job(id).status == JobStatus::Done
    });
    let row = db.job(id);
    assert_eq!(
        row.attempt, 1,
        "the claim was renewed through replica B: {row:?}"
    );
    assert_eq!(row.claimed_by.as_deref(), Some("a"));
    assert!(open_ports(&row).contains(&open));
    agent.wait_logged(
        "the agent to log the delivery",
        Duration::from_secs(10),
        "job finished and delivered",
    );
    let log = agent.log.lock().unwrap().clone();
    assert!(log.contains("switched to another server"), "{log}");
    assert!(log.contains(&format!("127.0.0.1:{port_b}")), "{log}");
    assert_eq!(
        log.matches("job finished and delivered").count(),
        1,
        "{log}"
    );
    assert_eq!(db.agents()[0].jobs_done, 1, "delivered once");
}

/// Over HTTPS the agent verifies the server's certificate: against the system's roots a
/// certificate from a private CA is refused (the agent keeps retrying, the job stays queued);
/// with `--ca` naming that CA the job is done.
#[test]
fn tls_verifies_the_server_certificate() {
    let dir = tempfile::tempdir().unwrap();
    pki::ca_and_server(dir.path(), "lab").expect("make the test PKI");
    let db = new_db(Backend::Sqlite, dir.path());
    let t = db.token(&["--role", "agent", "--vantage", "lan", "--name", "a"]);
    let port = free_port();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let _server = start_server_with(
        dir.path(),
        &db,
        port,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let id = enqueue(&db, "lab", &spec(vec![free_port()], None));
    let url = format!("https://127.0.0.1:{port}");
    let untrusting = start_agent_at(&url, &t, &dir.path().join("s1"), "a", &[]);
    untrusting.wait_logged(
        "a certificate error",
        Duration::from_secs(20),
        "certificate",
    );
    assert_eq!(db.job(id).status, JobStatus::Queued);
    drop(untrusting);
    let ca = dir.path().join("lab-ca.pem");
    let _trusting = start_agent_at(
        &url,
        &t,
        &dir.path().join("s2"),
        "a",
        &["--ca", ca.to_str().unwrap()],
    );
    wait_for(
        "the job to be done over HTTPS",
        Duration::from_secs(30),
        || db.job(id).status == JobStatus::Done,
    );
}

#[test]
fn round_trip_sqlite() {
    round_trip(Backend::Sqlite);
}

#[test]
fn round_trip_postgres() {
    round_trip(Backend::Postgres);
}

#[test]
fn killed_agent_sqlite() {
    killed_agent(Backend::Sqlite);
}

#[test]
fn killed_agent_postgres() {
    killed_agent(Backend::Postgres);
}

#[test]
fn spooled_while_server_down_sqlite() {
    spooled_while_server_down(Backend::Sqlite);
}

#[test]
fn spooled_while_server_down_postgres() {
    spooled_while_server_down(Backend::Postgres);
}

#[test]
fn replica_failover_sqlite() {
    replica_failover(Backend::Sqlite);
}

#[test]
fn replica_failover_postgres() {
    replica_failover(Backend::Postgres);
}

#[test]
fn bad_arguments_exit_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let good = format!("pw_{}", "a".repeat(64));
    let cases: [(&[&str], &str); 4] = [
        (
            &["--server", "ftp://x", "--token", &good],
            "http:// or https://",
        ),
        (&["--server", "not a url", "--token", &good], "not a URL"),
        (
            &["--server", "http://127.0.0.1:1", "--token", "secret"],
            "--token",
        ),
        (
            &[
                "--server",
                "https://127.0.0.1:1",
                "--token",
                &good,
                "--ca",
                "/nonexistent/ca.pem",
            ],
            "--ca /nonexistent/ca.pem",
        ),
    ];
    for (args, want) in cases {
        let mut all = vec!["agent", "--spool", spool.to_str().unwrap()];
        all.extend_from_slice(args);
        let out = portwatch(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
    }
    // An unknown token is refused by the server: exit 2, naming the refusal.
    let db = new_db(Backend::Sqlite, dir.path());
    db.token(&["--role", "admin", "--name", "ops"]);
    let port = free_port();
    let _server = start_server(dir.path(), &db, port);
    let url = format!("http://127.0.0.1:{port}");
    let out = portwatch(&[
        "agent",
        "--server",
        &url,
        "--token",
        &good,
        "--spool",
        spool.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("refused the token"),
        "{}",
        stderr(&out)
    );
    // Token creation: an agent token needs a vantage, other roles take none.
    let out = portwatch(&["token", "create", "--database", &db.url, "--role", "agent"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--vantage"), "{}", stderr(&out));
    let out = portwatch(&[
        "token",
        "create",
        "--database",
        &db.url,
        "--role",
        "viewer",
        "--vantage",
        "lan",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("only for --role agent"),
        "{}",
        stderr(&out)
    );
}
