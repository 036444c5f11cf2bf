//! A portwatch system of real processes for the tests: its database (SQLite file or a
//! PostgreSQL database of the test's own) read through the store, tokens, `portwatch run`
//! servers and `portwatch agent`s (in a network namespace when given), their spools, the
//! jobs' results, and plain HTTP/1.1 requests to a server. A test file includes it next to
//! `common`: `#[path = "common/cluster.rs"] mod cluster;`.
#![allow(dead_code)]

use crate::common::{Logged, TestDb, pg_db, portwatch, spawn_logged, stderr, stdout};
use portwatch_monitor::job::JobResult;
use portwatch_store::{AgentRow, JobRow, JobStatus, ScanRow, Store};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// What `portwatch run` logs once its dashboard and API accept connections.
pub const SERVING: &str = "dashboard and API listening";

/// What `portwatch agent` logs once the server's answer gave it attempt `attempt` of job `job`.
pub fn taken(job: i64, attempt: i64) -> String {
    format!("job taken; scanning job={job} attempt={attempt} ")
}

/// A runtime for one blocking call into the store.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Opens the store at `url`, runs `f` on it and closes it.
pub fn with_store<T>(url: &str, f: impl AsyncFnOnce(&Store) -> T) -> T {
    rt().block_on(async {
        let store = Store::open(url).await.unwrap();
        let out = f(&store).await;
        store.close().await;
        out
    })
}

/// Milliseconds since the epoch, as the store writes times.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A test's database: a SQLite file, or a PostgreSQL database dropped after.
pub struct Db {
    /// What `--database` takes.
    pub url: String,
    _pg: Option<TestDb>,
}

impl Db {
    /// `pw.db` in `dir`.
    pub fn sqlite(dir: &Path) -> Db {
        Db {
            url: format!("sqlite://{}", dir.join("pw.db").display()),
            _pg: None,
        }
    }

    /// A database of the test's own on the test PostgreSQL server.
    pub fn postgres() -> Db {
        Db::from_pg(pg_db())
    }

    /// A database of the test's own on the PostgreSQL server of admin URL `admin`.
    pub fn postgres_on(admin: &str) -> Db {
        Db::from_pg(TestDb::postgres_blocking_on(admin).expect("a database of the test's own"))
    }

    fn from_pg(pg: TestDb) -> Db {
        Db {
            url: pg.url.clone(),
            _pg: Some(pg),
        }
    }

    /// Runs `f` on the store.
    pub fn with_store<T>(&self, f: impl AsyncFnOnce(&Store) -> T) -> T {
        with_store(&self.url, f)
    }

    /// Every job (up to 100 000).
    pub fn jobs(&self) -> Vec<JobRow> {
        jobs(&self.url)
    }

    /// Job `id`, which exists.
    pub fn job(&self, id: i64) -> JobRow {
        self.with_store(async |s| s.job(id).await.unwrap().expect("the job exists"))
    }

    /// Every scan (up to 100 000).
    pub fn scans(&self) -> Vec<ScanRow> {
        scans(&self.url)
    }

    /// The registered agents.
    pub fn agents(&self) -> Vec<AgentRow> {
        self.with_store(async |s| s.agents().await.unwrap())
    }

    /// `portwatch token create --database URL ARGS`: the token.
    pub fn token(&self, args: &[&str]) -> String {
        token(&self.url, args)
    }
}

/// Every job (up to 100 000) of the store at `url`.
pub fn jobs(url: &str) -> Vec<JobRow> {
    with_store(url, async |s| s.jobs(100_000).await.unwrap())
}

/// Every scan (up to 100 000) of the store at `url`.
pub fn scans(url: &str) -> Vec<ScanRow> {
    with_store(url, async |s| s.scans(100_000, None).await.unwrap())
}

/// `portwatch token create --database URL ARGS`: the token.
pub fn token(url: &str, args: &[&str]) -> String {
    let mut all = vec!["token", "create", "--database", url];
    all.extend_from_slice(args);
    let out = portwatch(&all);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_string()
}

/// An agent token of vantage `vantage` for agent `name`.
pub fn agent_token(url: &str, vantage: &str, name: &str) -> String {
    token(
        url,
        &["--role", "agent", "--vantage", vantage, "--name", name],
    )
}

/// `portwatch ARGS`, with what it logs on stderr.
pub fn spawn_portwatch(args: &[&str]) -> Logged {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portwatch"));
    cmd.args(args);
    spawn_logged(cmd)
}

/// Waits until `server` logged that it serves, at most `limit`.
pub fn wait_serving(server: &Logged, limit: Duration) {
    server.wait_logged("the server to listen", limit, SERVING);
}

/// `portwatch run ARGS`, once it serves (at most `limit`).
pub fn start_run(args: &[&str], limit: Duration) -> Logged {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    let server = spawn_portwatch(&all);
    wait_serving(&server, limit);
    server
}

/// `portwatch agent --server URL --token TOKEN --name NAME EXTRA… --spool SPOOL`, inside
/// namespace `ns` when given.
pub fn start_agent_in(
    ns: Option<&str>,
    url: &str,
    token: &str,
    name: &str,
    spool: &Path,
    extra: &[&str],
) -> Logged {
    let bin = env!("CARGO_BIN_EXE_portwatch");
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, bin]);
            c
        }
        None => Command::new(bin),
    };
    cmd.args(["agent", "--server", url])
        .args(["--token", token, "--name", name])
        .args(extra)
        .arg("--spool")
        .arg(spool);
    spawn_logged(cmd)
}

/// The results an agent spooled in `dir` (not yet delivered).
pub fn spooled(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default()
}

/// The ports of every result in a job's scan result, in its order.
pub fn result_ports(row: &JobRow) -> Vec<u16> {
    let result: JobResult =
        serde_json::from_value(row.result.clone().expect("a result")).expect("a scan result");
    result
        .hosts
        .iter()
        .flat_map(|h| h.results.iter().map(|r| r.port))
        .collect()
}

/// The applied scheduled (not confirmation) jobs of `group` from `vantage` that hold a
/// result, oldest first.
pub fn applied<'a>(jobs: &'a [JobRow], group: &str, vantage: &str) -> Vec<&'a JobRow> {
    let mut done: Vec<&JobRow> = jobs
        .iter()
        .filter(|j| j.group == group && j.vantage == vantage && j.shard.is_empty())
        .filter(|j| j.status == JobStatus::Applied && j.result.is_some())
        .collect();
    done.sort_by_key(|j| j.id);
    done
}

/// One line per job: id, group, vantage, shard, status, attempt, claimer.
pub fn jobs_summary(jobs: &[JobRow]) -> String {
    jobs.iter()
        .map(|j| {
            format!(
                "{} {} {} {:?} {:?} attempt {} by {:?}",
                j.id, j.group, j.vantage, j.shard, j.status, j.attempt, j.claimed_by
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Sends the whole HTTP/1.1 request `request` (it closes the connection) to `addr`
/// (`IP:PORT`) and returns the whole response, waiting at most `timeout` to connect and for
/// each read.
pub fn http_exchange(addr: &str, request: &str, timeout: Duration) -> std::io::Result<String> {
    let addr: std::net::SocketAddr = addr
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.write_all(request.as_bytes())?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    Ok(raw)
}

/// The status code (0 when there is none), the head and the body of a raw HTTP response.
pub fn split_response(raw: &str) -> (u16, &str, &str) {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head, body)
}

/// The status code (0 when there is none) and the body of a raw HTTP response.
pub fn status_and_body(raw: &str) -> (u16, String) {
    let (status, _, body) = split_response(raw);
    (status, body.to_string())
}

/// Signs in on the dashboard of the server on loopback `port` with `token`: the session
/// cookie (`name=value`).
pub fn dashboard_login(port: u16, token: &str) -> String {
    let body = format!("token={token}&next=%2F");
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let raw = http_exchange(
        &format!("127.0.0.1:{port}"),
        &request,
        Duration::from_secs(10),
    )
    .expect("a request to the dashboard");
    let (_, head, _) = split_response(&raw);
    head.lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no session cookie in:\n{head}"))
        .to_string()
}

/// Waits until each of `vantages` has `n` more applied scheduled rounds of `group` than in
/// `before`, at most `limit` (then fails with the jobs and `logs()`); returns the new counts.
pub fn rounds(
    db: &Db,
    group: &str,
    vantages: [&str; 2],
    before: (usize, usize),
    n: usize,
    limit: Duration,
    logs: impl Fn() -> String,
) -> (usize, usize) {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let jobs = db.jobs();
        let now = (
            applied(&jobs, group, vantages[0]).len(),
            applied(&jobs, group, vantages[1]).len(),
        );
        if now.0 >= before.0 + n && now.1 >= before.1 + n {
            return now;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {n} more {group} rounds from each of {vantages:?} after \
             {before:?} (now {now:?}); jobs:\n{}\n{}",
            jobs_summary(&jobs),
            logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
