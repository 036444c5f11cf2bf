//! `portwatch local` against sockets these tests open themselves (run as root: the process of
//! every socket must be visible, and the firewall test makes a network namespace).

mod common;
#[path = "common/netns.rs"]
mod netns;

use common::{portwatch, stderr, stdout};
use netns::LoopbackNs;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// This process's name as the kernel reports it.
fn own_comm() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .expect("read /proc/self/comm")
        .trim_end()
        .to_string()
}

fn snapshot(args: &[&str]) -> Value {
    let mut all = vec!["local", "--format", "json"];
    all.extend_from_slice(args);
    let out = portwatch(&all);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("snapshot is JSON")
}

/// The listener with this transport, address and port.
fn listener<'a>(doc: &'a Value, proto: &str, addr: &str, port: u16) -> &'a Value {
    doc["listeners"]
        .as_array()
        .expect("listeners array")
        .iter()
        .find(|l| l["proto"] == proto && l["addr"] == addr && l["port"] == port)
        .unwrap_or_else(|| panic!("no {proto} listener on {addr}:{port} in {doc:#}"))
}

#[test]
fn json_lists_our_own_listeners_with_exposure_pid_and_process() {
    let tcp_any = TcpListener::bind("0.0.0.0:0").unwrap();
    let tcp_lo = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_v6 = TcpListener::bind("[::]:0").unwrap();
    let udp_any = UdpSocket::bind("0.0.0.0:0").unwrap();
    let udp_lo = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_v6 = UdpSocket::bind("[::]:0").unwrap();
    let doc = snapshot(&[]);
    assert_eq!(doc["complete"], true, "as root every process is visible");
    let dual_stack =
        std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only").is_ok_and(|v| v.trim() == "0");
    let cases = [
        (
            "tcp",
            "0.0.0.0",
            tcp_any.local_addr().unwrap().port(),
            "all_interfaces",
        ),
        (
            "tcp",
            "127.0.0.1",
            tcp_lo.local_addr().unwrap().port(),
            "loopback",
        ),
        (
            "tcp",
            "::",
            tcp_v6.local_addr().unwrap().port(),
            "all_interfaces",
        ),
        (
            "udp",
            "0.0.0.0",
            udp_any.local_addr().unwrap().port(),
            "all_interfaces",
        ),
        (
            "udp",
            "127.0.0.1",
            udp_lo.local_addr().unwrap().port(),
            "loopback",
        ),
        (
            "udp",
            "::",
            udp_v6.local_addr().unwrap().port(),
            "all_interfaces",
        ),
    ];
    for (proto, addr, port, exposure) in cases {
        let l = listener(&doc, proto, addr, port);
        assert_eq!(l["exposure"]["kind"], exposure, "{l:#}");
        assert_eq!(l["pid"], std::process::id(), "{l:#}");
        assert_eq!(l["process"], own_comm(), "{l:#}");
        assert_eq!(l["uid"], 0, "{l:#}");
        assert_eq!(l["user"], "root", "{l:#}");
        assert!(l["inode"].as_u64().unwrap() > 0);
        assert!(l["firewall"]["verdict"].is_string(), "{l:#}");
        if exposure == "loopback" {
            assert_eq!(l["effective_severity"], "none", "{l:#}");
        }
        let families: Vec<&str> = l["families"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let expected: &[&str] = match addr {
            "::" if dual_stack => &["ipv4", "ipv6"],
            "::" => &["ipv6"],
            _ => &["ipv4"],
        };
        assert_eq!(families, expected, "{l:#}");
    }
    // --udp keeps only UDP.
    let udp_only = snapshot(&["--udp"]);
    assert!(
        udp_only["listeners"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["proto"] == "udp")
    );
    drop((tcp_any, tcp_lo, tcp_v6, udp_any, udp_lo, udp_v6));
}

#[test]
fn table_hides_loopback_unless_all() {
    let any = TcpListener::bind("0.0.0.0:0").unwrap();
    let lo = TcpListener::bind("127.0.0.1:0").unwrap();
    let any_port = any.local_addr().unwrap().port().to_string();
    let lo_port = lo.local_addr().unwrap().port().to_string();
    let row_with = |text: &str, port: &str| {
        text.lines()
            .any(|l| l.split_whitespace().nth(2) == Some(port))
    };
    let out = portwatch(&["local", "--tcp"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("PROTO") && text.contains("FIREWALL"),
        "{text}"
    );
    assert!(row_with(&text, &any_port), "{text}");
    assert!(!row_with(&text, &lo_port), "{text}");
    assert!(text.contains("not shown (--all shows them)"), "{text}");
    let all = stdout(&portwatch(&["local", "--tcp", "--all"]));
    assert!(row_with(&all, &lo_port), "{all}");
}

/// Kills a child process when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Lines of a child's pipe, delivered through a channel so they can be read with a deadline.
fn lines(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The first line for which `want` holds, waiting at most until `deadline`.
fn wait_for(rx: &mpsc::Receiver<String>, deadline: Instant, want: impl Fn(&str) -> bool) -> String {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if want(&line) => return line,
            Ok(_) => {}
            Err(e) => panic!("no expected line before the deadline: {e}"),
        }
    }
}

#[test]
fn watch_reports_a_new_listener_within_a_second() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portwatch"))
        .args(["local", "--watch", "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start portwatch local --watch");
    let out = lines(child.stdout.take().unwrap());
    let err = lines(child.stderr.take().unwrap());
    let _guard = Killed(child);
    wait_for(&err, Instant::now() + Duration::from_secs(10), |l| {
        l.contains("watching")
    });

    let socket = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    let opened_at = Instant::now();
    let is_ours = |kind: &'static str| {
        move |line: &str| {
            let v: Value = serde_json::from_str(line).expect("one JSON object per line");
            v["event"] == kind && v["proto"] == "tcp" && v["port"] == port
        }
    };
    let line = wait_for(&out, opened_at + Duration::from_secs(1), is_ours("opened"));
    let elapsed = opened_at.elapsed();
    assert!(
        elapsed < Duration::from_secs(1),
        "noticed after {elapsed:?}"
    );
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["pid"], std::process::id());
    assert_eq!(event["addr"], "0.0.0.0");
    assert_eq!(event["exposure"]["kind"], "all_interfaces");

    drop(socket);
    wait_for(
        &out,
        Instant::now() + Duration::from_secs(2),
        is_ours("closed"),
    );
}

const RULESET: &str = "table inet pwlocal_test {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport 445 drop
		tcp dport 139 reject with tcp reset
		ip saddr 10.0.0.0/8 tcp dport 3389 accept
		tcp dport 3389 drop
		udp dport 137 drop
	}
}
";

const HOLD_SOCKETS: &str = "
import socket, time
held = []
for port in (445, 139, 3389, 8080):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(('0.0.0.0', port))
    s.listen()
    held.append(s)
for port in (137, 5353):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', port))
    held.append(s)
print('ready', flush=True)
time.sleep(120)
";

#[test]
fn firewall_verdicts_inside_a_namespace() {
    let ns = LoopbackNs::up(&format!("pwlocal-t{}", std::process::id()));
    let rules = std::env::temp_dir().join(format!("{}.nft", ns.0));
    std::fs::write(&rules, RULESET).unwrap();
    let status = ns.exec("nft").arg("-f").arg(&rules).status().unwrap();
    let _ = std::fs::remove_file(&rules);
    assert!(status.success(), "nft -f failed inside {}", ns.0);

    let python = if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let mut holder = ns
        .exec(python)
        .args(["-c", HOLD_SOCKETS])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python inside the namespace");
    let ready = lines(holder.stdout.take().unwrap());
    let holder = Killed(holder);
    wait_for(&ready, Instant::now() + Duration::from_secs(20), |l| {
        l == "ready"
    });

    let out = ns
        .exec(env!("CARGO_BIN_EXE_portwatch"))
        .args(["local", "--format", "json"])
        .output()
        .expect("run portwatch inside the namespace");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let verdict =
        |proto: &str, port: u16| listener(&doc, proto, "0.0.0.0", port)["firewall"].clone();

    assert_eq!(
        verdict("tcp", 445),
        serde_json::json!({"verdict": "blocked", "how": "drop"})
    );
    assert_eq!(
        verdict("tcp", 139),
        serde_json::json!({"verdict": "blocked", "how": "reject"})
    );
    assert_eq!(
        verdict("tcp", 3389),
        serde_json::json!({"verdict": "allowed_from", "sources": ["10.0.0.0/8"]})
    );
    assert_eq!(
        verdict("tcp", 8080),
        serde_json::json!({"verdict": "accepted"})
    );
    assert_eq!(
        verdict("udp", 137),
        serde_json::json!({"verdict": "blocked", "how": "drop"})
    );
    assert_eq!(
        verdict("udp", 5353),
        serde_json::json!({"verdict": "accepted"})
    );

    // A blocked port is lowered to low, and says so; the holder's pid is found.
    let smb = listener(&doc, "tcp", "0.0.0.0", 445);
    assert_eq!(smb["effective_severity"], "low", "{smb:#}");
    assert!(
        smb["severity_reason"]
            .as_str()
            .unwrap()
            .contains("the firewall drops"),
        "{smb:#}"
    );
    assert_eq!(smb["pid"], holder.0.id());
    // Only this namespace's sockets are listed: the test's own are elsewhere.
    assert_eq!(doc["listeners"].as_array().unwrap().len(), 6, "{doc:#}");
    drop(holder);
    drop(ns);
}

#[test]
fn without_root_it_says_so_and_still_lists() {
    let socket = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    // `nobody` sees the sockets but not root's processes, and cannot read the firewall.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_portwatch"))
        .args(["local", "--format", "json"])
        .output()
        .expect("run setpriv");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("run as root to see every process's sockets"),
        "{}",
        stderr(&out)
    );
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["complete"], false);
    let ours = listener(&doc, "tcp", "0.0.0.0", port);
    assert_eq!(ours["pid"], Value::Null);
    assert_eq!(ours["user"], "root");
    assert_eq!(ours["firewall"]["verdict"], "unknown");
    drop(socket);
}
