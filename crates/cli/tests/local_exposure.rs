//! The `local` source end to end, inside a network namespace of its own (prefix `pwx-ex-`,
//! range 10.214.0.0/16, on a veth pair whose ends are both inside it: no packet leaves it):
//!
//! - the `init` template's `check --config` is compliant with database-like services on
//!   loopback, and flags a risky port bound to a non-loopback address;
//! - `portwatch run` with that configuration alerts a webhook (listening on the namespace's
//!   loopback) when such a listener appears, and resolves it when it goes away.

mod common;
#[path = "common/netns.rs"]
mod netns;
use netns::{LoopbackNs, blackhole, ip_in};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RANGE: &str = "10.214.0.0/16";
const ADDR: &str = "10.214.0.2";

/// A namespace with `lo` up and a veth holding [`ADDR`], deleted (with the
/// blackhole route) when dropped.
struct Netns(LoopbackNs);

impl Netns {
    fn create() -> Netns {
        blackhole(RANGE, None);
        let ns = LoopbackNs::up(&format!("pwx-ex-{}", std::process::id()));
        // A veth pair with both ends inside the namespace: an address that is not loopback.
        let inside = |args: &[&str]| ip_in(&ns.0, args);
        inside(&[
            "link", "add", "pwx0", "type", "veth", "peer", "name", "pwx1",
        ]);
        inside(&["link", "set", "pwx1", "up"]);
        inside(&["addr", "add", &format!("{ADDR}/24"), "dev", "pwx0"]);
        inside(&["link", "set", "pwx0", "up"]);
        Netns(ns)
    }

    fn exec(&self, program: &str) -> Command {
        self.0.exec(program)
    }

    /// A Python TCP listener on `addr:port` inside the namespace (killed when dropped).
    fn listen(&self, addr: &str, port: u16) -> Kid {
        let kid = Kid(self
            .exec("python3")
            .args(["-m", "http.server", &port.to_string(), "--bind", addr])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.listening(port) {
            assert!(Instant::now() < deadline, "{addr}:{port} never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
        kid
    }

    fn listening(&self, port: u16) -> bool {
        let out = self
            .exec("ss")
            .args(["-Htln", &format!("sport = :{port}")])
            .output()
            .unwrap();
        !out.stdout.is_empty()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["route", "del", "blackhole", RANGE])
            .status();
    }
}

/// A child process killed when dropped.
struct Kid(Child);

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A webhook receiver inside the namespace: appends every POST body as one line to `file`.
const RECEIVER: &str = r"
import http.server, sys
out = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        with open(out, 'ab') as f:
            f.write(body.replace(b'\n', b' ') + b'\n')
        self.send_response(200)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
";

fn check(ns: &Netns, config: &str) -> (Option<i32>, Value) {
    let out = ns
        .exec(env!("CARGO_BIN_EXE_portwatch"))
        .args(["check", "--config", config, "--no-save", "--format", "json"])
        .output()
        .unwrap();
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), doc)
}

fn violations(doc: &Value) -> Vec<String> {
    doc["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["violations"].as_array().cloned().unwrap_or_default())
        .map(|v| {
            format!(
                "{}|{}/{}",
                v["host"].as_str().unwrap_or(""),
                v["port"],
                v["proto"].as_str().unwrap_or("")
            )
        })
        .collect()
}

fn lines(file: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn local_group_ignores_loopback_and_alerts_on_an_exposed_risky_port() {
    let ns = Netns::create();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("portwatch.toml");
    let config_s = config.to_str().unwrap();
    assert_eq!(
        common::portwatch(&["init", config_s]).status.code(),
        Some(0)
    );

    // Database-like services on loopback only: the template's first check is clean.
    let _db = [3306, 5432, 6379, 5672, 1883, 4222].map(|p| ns.listen("127.0.0.1", p));
    let (code, doc) = check(&ns, config_s);
    assert_eq!(code, Some(0), "compliant: {doc}");
    assert!(violations(&doc).is_empty(), "{doc}");

    // A risky port on the wildcard address and one on the dummy interface's address.
    {
        let _smb = ns.listen("0.0.0.0", 139);
        let _rdp = ns.listen(ADDR, 3389);
        let (code, doc) = check(&ns, config_s);
        assert_eq!(code, Some(1), "violations: {doc}");
        let found = violations(&doc);
        assert!(found.contains(&"0.0.0.0|139/tcp".to_string()), "{found:?}");
        assert!(found.contains(&format!("{ADDR}|3389/tcp")), "{found:?}");
        assert_eq!(found.len(), 2, "{found:?}");
    }
}

#[test]
fn run_alerts_a_webhook_when_a_risky_port_is_exposed_and_resolves_it() {
    let ns = Netns::create();
    let dir = tempfile::tempdir().unwrap();
    let _db = [3306, 5432, 6379].map(|p| ns.listen("127.0.0.1", p));
    // The daemon: the same policy, a webhook on the namespace's loopback.
    let hook_port = 18431;
    let received = dir.path().join("received.jsonl");
    let _hook = Kid(ns
        .exec("python3")
        .args([
            "-c",
            RECEIVER,
            &hook_port.to_string(),
            received.to_str().unwrap(),
        ])
        .spawn()
        .unwrap());
    let daemon_config = dir.path().join("daemon.toml");
    std::fs::write(
        &daemon_config,
        format!(
            "[alerts]\nconfirm_after = \"300ms\"\n\n[[notify]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{hook_port}/\"\n\n\
             [[group]]\nname = \"this-machine\"\nsource = \"local\"\nevery = \"5m\"\n[group.policy]\nmust_be_closed = [\"risky\"]\n"
        ),
    )
    .unwrap();
    let _daemon = Kid(ns
        .exec(env!("CARGO_BIN_EXE_portwatch"))
        .args([
            "run",
            "--config",
            daemon_config.to_str().unwrap(),
            "--no-web",
        ])
        .arg("--database")
        .arg(format!("sqlite://{}", dir.path().join("pw.db").display()))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("daemon.log")).unwrap())
        .spawn()
        .unwrap());
    // Let the first observation pass: loopback listeners must not alert.
    std::thread::sleep(Duration::from_secs(7));
    assert!(lines(&received).is_empty(), "{:?}", lines(&received));

    let smb = ns.listen("0.0.0.0", 139);
    let opened_at = Instant::now();
    let deadline = opened_at + Duration::from_secs(10);
    let opened = loop {
        if let Some(l) = lines(&received).into_iter().find(|l| l.contains("139")) {
            break l;
        }
        assert!(
            Instant::now() < deadline,
            "no alert for 139/tcp: {}",
            std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let latency = opened_at.elapsed();
    eprintln!("alert for 0.0.0.0:139 received {latency:?} after it listened");
    assert!(
        opened.contains("this-machine") && opened.contains("0.0.0.0"),
        "{opened}"
    );
    assert!(latency < Duration::from_secs(3), "{latency:?}");

    drop(smb);
    let deadline = Instant::now() + Duration::from_secs(10);
    while lines(&received).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "no resolve: {:?}",
            lines(&received)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let all = lines(&received);
    assert!(
        all[1].contains("139") && all[1].to_lowercase().contains("resolved"),
        "{all:?}"
    );
    assert_eq!(all.len(), 2, "loopback services never alerted: {all:?}");
}
