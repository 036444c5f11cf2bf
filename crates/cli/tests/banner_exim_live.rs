//! A real mail server's banner, live: Debian's Exim (`exim4-daemon-light`) runs inside a
//! network namespace of this test's own (`pwa-exim`, 10.242.1.2, reached from 10.242.1.1) on
//! port 25, and `portwatch scan` from the root namespace names it `smtp`, Exim, with the version
//! the installed package has (read from dpkg) and the host name it greets with.
//!
//! Exim runs with the machine's own configuration under `-oX`, which makes it listen on the
//! namespace address only. It runs in private mount and UTS namespaces: its spool and log
//! directories are tmpfs mounts that vanish with it and its host name is set there, so the
//! machine's spool, logs and host name are never touched. Needs root and exim4-daemon-light
//! (scripts/install-test-deps.sh installs it without starting its service).

mod common;

use common::{ChildGuard, json_lines, portwatch, stderr, stdout};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NS: &str = "pwa-exim";
const VETH: &str = "pwa-eximh";
const PEER: &str = "pwa-eximn";
const HOST: &str = "10.242.1.2";
const OURS: &str = "10.242.1.1";
/// The whole range of this helper's tests, blackholed in the root namespace while one runs.
const RANGE: &str = "10.242.0.0/16";
const EXIM: &str = "/usr/sbin/exim4";
/// The name Exim greets with, set in its own UTS namespace.
const MAIL_NAME: &str = "mail.pwa.test";

/// The namespace, its veth pair, a scratch directory and the server. Everything is removed on
/// drop, also when the test fails.
struct Lab {
    dir: PathBuf,
    server: Option<ChildGuard>,
}

impl Lab {
    fn new() -> Lab {
        remove_namespace();
        let dir = std::env::temp_dir().join(format!("{NS}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let lab = Lab { dir, server: None };
        // The blackhole keeps a scan of a vanished host from leaving the machine.
        ip(&["route", "replace", "blackhole", RANGE]);
        ip(&["netns", "add", NS]);
        ip(&["link", "add", VETH, "type", "veth", "peer", "name", PEER]);
        ip(&["link", "set", PEER, "netns", NS]);
        ip(&["addr", "add", &format!("{OURS}/24"), "dev", VETH]);
        ip(&["link", "set", VETH, "up"]);
        ip(&["-n", NS, "addr", "add", &format!("{HOST}/24"), "dev", PEER]);
        ip(&["-n", NS, "link", "set", PEER, "up"]);
        ip(&["-n", NS, "link", "set", "lo", "up"]);
        let route = stdout(
            &Command::new("ip")
                .args(["route", "get", HOST])
                .output()
                .unwrap(),
        );
        assert!(
            route.contains(&format!("dev {VETH} ")),
            "refusing to scan {HOST}: route is {route}"
        );
        lab
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("exim.log")).unwrap_or_default()
    }

    /// Starts Exim in the namespace, in mount and UTS namespaces of its own.
    fn start_exim(&mut self) {
        let script = format!(
            "set -e\n\
             mount -t tmpfs tmpfs /var/spool/exim4\n\
             mount -t tmpfs tmpfs /var/log/exim4\n\
             chown Debian-exim:Debian-exim /var/spool/exim4 /var/log/exim4\n\
             hostname {MAIL_NAME}\n\
             exec {EXIM} -bdf -oX {HOST}:25 -oP {pid}\n",
            pid = self.dir.join("exim.pid").display()
        );
        let log = std::fs::File::create(self.dir.join("exim.log")).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", NS, "unshare", "-m", "-u"])
            .args(["--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start exim");
        self.server = Some(ChildGuard(child));
    }

    /// Waits until Exim accepts connections on port 25.
    fn wait_listening(&mut self, limit: Duration) {
        let addr: SocketAddr = format!("{HOST}:25").parse().unwrap();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
                return;
            }
            if let Some(guard) = self.server.as_mut()
                && let Ok(Some(status)) = guard.0.try_wait()
            {
                panic!("exim exited ({status}):\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "exim did not listen on 25 within {limit:?}:\n{}",
            self.log()
        );
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.server = None;
        remove_namespace();
        // Other tests of this range may still run; the route goes with the last namespace.
        let left = stdout(&Command::new("ip").args(["netns", "list"]).output().unwrap());
        if !left.lines().any(|l| l.starts_with("pwa-")) {
            let _ = Command::new("ip")
                .args(["route", "del", "blackhole", RANGE])
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Kills every process left in the namespace, then deletes it and the veth.
fn remove_namespace() {
    let pids = Command::new("ip")
        .args(["netns", "pids", NS])
        .stderr(Stdio::null())
        .output()
        .map(|o| stdout(&o))
        .unwrap_or_default();
    for pid in pids.split_whitespace() {
        let _ = Command::new("kill").args(["-KILL", pid]).status();
    }
    for args in [["netns", "del", NS], ["link", "del", VETH]] {
        let _ = Command::new("ip").args(args).stderr(Stdio::null()).status();
    }
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("run ip");
    assert!(
        status.success(),
        "ip {args:?} failed (this test needs root)"
    );
}

/// The upstream version of an installed Debian package: `4.96-15+deb12u11` is `4.96`.
fn upstream_version(package: &str) -> String {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", package])
        .output()
        .expect("run dpkg-query");
    let full = stdout(&out).trim().to_string();
    assert!(
        out.status.success() && !full.is_empty(),
        "{package} is not installed (scripts/install-test-deps.sh installs it)"
    );
    let no_epoch = full.split_once(':').map_or(full.as_str(), |(_, v)| v);
    no_epoch
        .rsplit_once('-')
        .map_or(no_epoch, |(v, _)| v)
        .to_string()
}

#[test]
fn exim_is_named_with_its_version_and_greeting_host() {
    assert!(
        Path::new(EXIM).is_file(),
        "{EXIM} not found: install exim4-daemon-light (scripts/install-test-deps.sh does)"
    );
    let version = upstream_version("exim4-daemon-light");
    let mut lab = Lab::new();
    lab.start_exim();
    lab.wait_listening(Duration::from_secs(30));

    let out = portwatch(&["scan", HOST, "-p", "25", "--format", "jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let results = json_lines(&stdout(&out));
    let r = results
        .iter()
        .find(|r| r["port"] == 25)
        .unwrap_or_else(|| panic!("no result for 25 in {results:?}"));
    assert_eq!(r["state"], "open", "{r}");
    assert_eq!(r["service"], "smtp", "{r}");
    let banner = &r["details"]["banner"];
    assert_eq!(banner["product"], "Exim", "{r}");
    assert_eq!(banner["version"], version.as_str(), "{r}");
    assert_eq!(banner["info"], format!("host {MAIL_NAME}"), "{r}");
    let text = banner["text"].as_str().unwrap_or_else(|| panic!("{r}"));
    assert!(
        text.starts_with(&format!("220 {MAIL_NAME} ESMTP Exim {version} ")),
        "{text:?}"
    );

    // The table names it the same way.
    let table = portwatch(&["scan", HOST, "-p", "25"]);
    assert_eq!(table.status.code(), Some(0), "{}", stderr(&table));
    let text = stdout(&table);
    assert!(text.contains(&format!("Exim {version}")), "{text}");
}
