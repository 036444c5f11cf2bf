//! Test support: run the binary, read the test bed's manifest, check routes before scanning.
#![allow(dead_code)]

use serde_json::Value;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Output};

/// Where `scripts/testbed.sh up` writes its manifest.
pub const MANIFEST: &str = "/run/portwatch-testbed/testbed.json";

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `portwatch ARGS…` and returns its output.
pub fn portwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portwatch"))
        .args(args)
        .output()
        .expect("run portwatch")
}

/// Runs `portwatch ARGS…` without CAP_NET_RAW in its bounding set (no raw sockets, even as
/// root).
pub fn without_net_raw(args: &[&str]) -> Output {
    Command::new("setpriv")
        .args(["--bounding-set", "-net_raw"])
        .arg(env!("CARGO_BIN_EXE_portwatch"))
        .args(args)
        .output()
        .expect("run setpriv")
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Parses JSON lines.
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// The test bed manifest; fails with instructions when the test bed is not up.
pub fn testbed() -> Value {
    let text = std::fs::read_to_string(MANIFEST).unwrap_or_else(|e| {
        panic!(
            "test bed not up ({MANIFEST}: {e}); run `sudo scripts/testbed.sh up` \
             (scripts/test.sh does it for you)"
        )
    });
    serde_json::from_str(&text).expect("manifest is JSON")
}

/// One host of the manifest by name.
pub fn testbed_host(name: &str) -> Value {
    let m = testbed();
    m["hosts"]
        .as_array()
        .and_then(|hosts| hosts.iter().find(|h| h["name"] == name).cloned())
        .unwrap_or_else(|| panic!("test bed has no host named {name}"))
}

/// Refuses to go on unless `addr` is loopback or routed through our own test-bed veth.
pub fn assert_route_is_ours(addr: &str) {
    let ip: IpAddr = addr.parse().expect("address");
    if ip.is_loopback() {
        return;
    }
    let status = Command::new(repo_root().join("scripts/testbed.sh"))
        .args(["route-check", addr])
        .status()
        .expect("run scripts/testbed.sh route-check");
    assert!(
        status.success(),
        "refusing to scan {addr}: its route does not go through a test-bed veth"
    );
}

/// Port numbers from a JSON array.
pub fn ports(v: &Value) -> Vec<u16> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(serde_json::Value::as_u64)
                .map(|p| p as u16)
                .collect()
        })
        .unwrap_or_default()
}

/// A free loopback TCP port (bound once, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .expect("local address")
        .port()
}

/// A child process killed (and reaped) when the test ends, even on failure.
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A child process (killed when dropped) and what it has written to stderr so far.
pub struct Logged {
    /// The process.
    pub child: ChildGuard,
    /// Its stderr lines, each ending in a newline.
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Logged {
    /// Whether the process has logged `needle` so far.
    pub fn logged(&self, needle: &str) -> bool {
        self.log.lock().unwrap().contains(needle)
    }

    /// Waits until the process has logged `needle`, at most `limit`; then fails naming `what`
    /// and showing the log.
    pub fn wait_logged(&self, what: &str, limit: std::time::Duration, needle: &str) {
        self.wait_until(what, limit, || self.logged(needle));
    }

    /// Polls `ok` until it holds, at most `limit`; then fails naming `what` and showing the
    /// process's log.
    pub fn wait_until(&self, what: &str, limit: std::time::Duration, ok: impl FnMut() -> bool) {
        assert!(
            poll_until(limit, ok),
            "timed out waiting for {what}; its log:\n{}",
            self.log.lock().unwrap()
        );
    }
}

/// Starts `cmd` with stdout discarded and stderr collected, line by line, into the log.
pub fn spawn_logged(mut cmd: Command) -> Logged {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the process");
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let err = child.stderr.take().expect("piped stderr");
    {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                log.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
    }
    Logged {
        child: ChildGuard(child),
        log,
    }
}

/// Starts `cmd` with its stdout piped and waits for its first line, which must be `ready`;
/// `spawning` says what failed to start, `failure()` what to show when it said otherwise.
pub fn start_ready(
    cmd: &mut Command,
    spawning: &str,
    failure: impl FnOnce() -> String,
) -> ChildGuard {
    use std::io::BufRead;
    let mut child = ChildGuard(
        cmd.stdout(std::process::Stdio::piped())
            .spawn()
            .expect(spawning),
    );
    let mut line = String::new();
    let out = child.0.stdout.take().expect("piped stdout");
    std::io::BufReader::new(out)
        .read_line(&mut line)
        .expect("read the first line");
    assert_eq!(line.trim(), "ready", "{}", failure());
    child
}

/// `portwatch watch 127.0.0.1 --must-be-closed PORT --every 1s --confirm-after 1s`, the
/// daemon the monitor tests run on one loopback port; the caller adds notifiers and the
/// database.
pub fn watch_command(port: u16) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portwatch"));
    cmd.args(["watch", "127.0.0.1", "--must-be-closed", &port.to_string()])
        .args(["--every", "1s", "--confirm-after", "1s"]);
    cmd
}

/// Polls `ok` until it holds; panics naming `what` once `limit` has passed.
pub fn wait_for(what: &str, limit: std::time::Duration, ok: impl FnMut() -> bool) {
    assert!(poll_until(limit, ok), "timed out waiting for {what}");
}

/// Polls `ok` every 100 ms until it holds (true) or `limit` has passed (false).
pub fn poll_until(limit: std::time::Duration, mut ok: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if ok() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

// PostgreSQL for the tests (portwatch-testkit); not every test file uses each of these.
#[allow(unused_imports)]
pub use portwatch_testkit::{OwnCluster, TestDb, pg_admin_url, psql};

/// The test cluster's admin URL (`PORTWATCH_TEST_PG_URL`, from scripts/test-pg.sh); unlike
/// [`pg_admin_url`] never the machine's own PostgreSQL.
pub fn pg_test_cluster() -> String {
    std::env::var("PORTWATCH_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("PORTWATCH_TEST_PG_URL names the test cluster (scripts/test-pg.sh url)")
}

/// A PostgreSQL database of one test's own on the test server, dropped when the test ends.
pub fn pg_db() -> TestDb {
    TestDb::postgres_blocking()
        .expect("a database on the test PostgreSQL server (scripts/test.sh starts it)")
}
