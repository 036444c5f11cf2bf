//! `portwatch run` serves the dashboard and API: the first run creates and prints an admin
//! token, everything but `/healthz` wants it, `token create|list|revoke` manage tokens, and
//! an unsafe or taken listen address stops the start with exit code 2.

mod common;

use common::{ChildGuard, free_port, portwatch, stderr, stdout};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A config that watches one closed loopback port, rarely.
fn write_config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("pw.toml");
    let port = free_port();
    std::fs::write(
        &path,
        format!(
            "[[group]]\nname = \"lab\"\ntargets = [\"127.0.0.1\"]\nevery = \"1h\"\n\
             [group.policy]\nmust_be_closed = [\"{port}\"]\n"
        ),
    )
    .unwrap();
    path
}

fn db_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("pw.db").display())
}

/// One HTTP/1.1 GET on loopback: (status, body).
fn get(port: u16, path: &str, token: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the dashboard");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_string())
}

/// Starts `portwatch run` on `port`; returns the child and its stderr lines as they come.
fn start(dir: &std::path::Path, listen: &str) -> (ChildGuard, mpsc::Receiver<String>) {
    let config = write_config(dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_portwatch"))
        .args([
            "run",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            listen,
        ])
        .args(["--database", &db_url(dir)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (ChildGuard(child), rx)
}

/// Waits for a stderr line that satisfies `want`.
fn wait_line(rx: &mpsc::Receiver<String>, want: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) if want(&line) => return line,
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    panic!("no such line on stderr; saw:\n{}", seen.join("\n"));
}

fn wait_healthy(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() && get(port, "/healthz", None).0 == 200 {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the dashboard did not come up on {port}");
}

#[test]
fn first_run_prints_a_token_that_opens_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (mut child, rx) = start(dir.path(), &format!("127.0.0.1:{port}"));
    wait_line(&rx, |l| l.contains("an admin token was created"));
    let token = wait_line(&rx, |l| l.trim_start().starts_with("pw_"))
        .trim()
        .to_string();
    wait_healthy(port);

    let (status, body) = get(port, "/api/v1/hosts", None);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"error\""), "{body}");
    let (status, body) = get(port, "/api/v1/hosts", Some(&token));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"items\""), "{body}");
    let (status, body) = get(port, "/api/openapi.json", Some(&token));
    assert_eq!(status, 200);
    assert!(body.contains("\"openapi\""), "{body}");
    let (status, _) = get(port, "/metrics", Some(&token));
    assert_eq!(status, 200);
    // The dashboard sends a browser without a session to the sign-in page.
    let (status, _) = get(port, "/", None);
    assert_eq!(status, 303);

    // SIGTERM: a clean stop.
    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let code = child.0.wait().unwrap();
    assert_eq!(code.code(), Some(0));

    // The token is stored hashed and listed; a new one works; a revoked one does not.
    let url = db_url(dir.path());
    let list = portwatch(&["token", "list", "--database", &url]);
    assert!(stdout(&list).contains("first-run"), "{}", stdout(&list));
    assert!(
        !stdout(&list).contains(&token),
        "tokens are never shown again"
    );
    let made = portwatch(&[
        "token",
        "create",
        "--role",
        "viewer",
        "--name",
        "grafana",
        "--database",
        &url,
    ]);
    assert!(made.status.success(), "{}", stderr(&made));
    let viewer = stdout(&made).trim().to_string();
    assert!(viewer.starts_with("pw_"), "{viewer}");
    let bad_role = portwatch(&["token", "create", "--role", "root", "--database", &url]);
    assert_eq!(bad_role.status.code(), Some(2), "{}", stderr(&bad_role));

    let port = free_port();
    let (_child, rx) = start(dir.path(), &format!("127.0.0.1:{port}"));
    wait_healthy(port);
    assert!(
        rx.try_iter()
            .all(|l| !l.contains("an admin token was created")),
        "tokens exist: no new one"
    );
    assert_eq!(get(port, "/api/v1/hosts", Some(&viewer)).0, 200);
    let id = stdout(&portwatch(&["token", "list", "--database", &url]))
        .lines()
        .find(|l| l.contains("grafana"))
        .and_then(|l| l.split_whitespace().next())
        .map(|id| id.trim_start_matches('#').to_string())
        .unwrap();
    let revoked = portwatch(&["token", "revoke", &id, "--database", &url]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    assert_eq!(get(port, "/api/v1/hosts", Some(&viewer)).0, 401);
    let again = portwatch(&["token", "revoke", &id, "--database", &url]);
    assert_eq!(again.status.code(), Some(2));
}

#[test]
fn unsafe_or_taken_addresses_stop_the_start() {
    // A non-loopback address without any token: refused, and no token is made behind the
    // user's back.
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let url = db_url(dir.path());
    let out = portwatch(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "0.0.0.0:0",
        "--database",
        &url,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("portwatch token create"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&portwatch(&["token", "list", "--database", &url])).is_empty());

    // A taken address: exit 2 naming it, at once rather than after the first scans.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = portwatch(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--listen",
        &addr,
        "--database",
        &url,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(&addr), "{}", stderr(&out));
}
