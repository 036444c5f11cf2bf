//! `portwatch run` serves the dashboard and API: the first run creates an admin token and
//! writes it to a 0600 file (never to the logs), everything but `/healthz` wants it,
//! `token create|list|revoke` manage tokens, HTTPS certificates are reloaded on SIGHUP, and an
//! unsafe or taken listen address stops the start with exit code 2.

#[path = "common/cluster.rs"]
mod cluster;
mod common;

use cluster::{dashboard_login as login, http_exchange, status_and_body};
use common::{ChildGuard, free_port, portwatch, stderr, stdout};
use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
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

/// One whole HTTP/1.1 exchange with the dashboard on loopback: the raw response.
fn exchange(port: u16, request: &str) -> String {
    http_exchange(
        &format!("127.0.0.1:{port}"),
        request,
        Duration::from_secs(10),
    )
    .expect("a request to the dashboard")
}

/// One HTTP/1.1 GET on loopback: (status, body).
fn get(port: u16, path: &str, token: Option<&str>) -> (u16, String) {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    status_and_body(&exchange(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"),
    ))
}

/// One GET with a session cookie: the status.
fn get_with_cookie(port: u16, path: &str, cookie: &str) -> u16 {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    );
    status_and_body(&exchange(port, &request)).0
}

/// Sends signal `sig` (`-TERM`, `-HUP`) to `child`.
fn signal(child: &ChildGuard, sig: &str) {
    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success()
    );
}

/// Starts `portwatch run` on `listen` with `extra` arguments; returns the child, its stdout
/// and stderr lines as they come, and everything it wrote so far.
fn start(
    dir: &std::path::Path,
    listen: &str,
    extra: &[&str],
) -> (ChildGuard, mpsc::Receiver<String>, Arc<Mutex<String>>) {
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
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let transcript = Arc::new(Mutex::new(String::new()));
    let out: Box<dyn Read + Send> = Box::new(child.stdout.take().unwrap());
    let err: Box<dyn Read + Send> = Box::new(child.stderr.take().unwrap());
    for stream in [out, err] {
        let (tx, transcript) = (tx.clone(), transcript.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                transcript.lock().unwrap().push_str(&format!("{line}\n"));
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
    }
    (ChildGuard(child), rx, transcript)
}

/// The first-run token file next to the test's database, and its mode.
fn token_file(dir: &std::path::Path) -> (String, u32) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("first-run-admin-token");
    let mode = std::fs::metadata(&path)
        .expect("the first-run token file exists")
        .permissions()
        .mode();
    (
        std::fs::read_to_string(&path).unwrap().trim().to_string(),
        mode & 0o777,
    )
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
fn first_run_writes_a_token_file_that_opens_the_api_and_logs_only_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (mut child, rx, transcript) = start(
        dir.path(),
        &format!("127.0.0.1:{port}"),
        &["--log-format", "json"],
    );
    let line = wait_line(&rx, |l| l.contains("an admin token was created"));
    let (token, mode) = token_file(dir.path());
    assert!(token.starts_with("pw_") && token.len() == 67, "{token}");
    assert_eq!(mode, 0o600, "the token file is readable by its owner only");
    assert!(
        line.contains("first-run-admin-token"),
        "the log names the file: {line}"
    );
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
    signal(&child, "-TERM");
    let code = child.0.wait().unwrap();
    assert_eq!(code.code(), Some(0));
    let said = transcript.lock().unwrap().clone();
    assert!(
        said.contains("portwatch stopped") && !said.contains(&token),
        "the token is nowhere in stdout or stderr:\n{said}"
    );

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
    let (_child, rx, _) = start(dir.path(), &format!("127.0.0.1:{port}"), &[]);
    wait_healthy(port);
    assert!(
        rx.try_iter()
            .all(|l| !l.contains("an admin token was created")),
        "tokens exist: no new one"
    );
    assert_eq!(get(port, "/api/v1/hosts", Some(&viewer)).0, 200);
    let session = login(port, &viewer);
    assert_eq!(get_with_cookie(port, "/api/v1/hosts", &session), 200);
    let id = stdout(&portwatch(&["token", "list", "--database", &url]))
        .lines()
        .find(|l| l.contains("grafana"))
        .and_then(|l| l.split_whitespace().next())
        .map(|id| id.trim_start_matches('#').to_string())
        .unwrap();
    let revoked = portwatch(&["token", "revoke", &id, "--database", &url]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    assert_eq!(get(port, "/api/v1/hosts", Some(&viewer)).0, 401);
    // Revoked by another process: the dashboard session ends on its next request too.
    assert_eq!(get_with_cookie(port, "/api/v1/hosts", &session), 401);
    assert_eq!(get_with_cookie(port, "/", &session), 303);
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
    // `portwatch run` on `listen` with `extra`, which must stop at once with exit 2: what it
    // said.
    let refused = |listen: &str, extra: &[&str]| -> String {
        let mut args = vec![
            "run",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            listen,
            "--database",
            &url,
        ];
        args.extend_from_slice(extra);
        let out = portwatch(&args);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        stderr(&out)
    };
    let said = refused("0.0.0.0:0", &[]);
    assert!(said.contains("portwatch token create"), "{said}");
    assert!(stdout(&portwatch(&["token", "list", "--database", &url])).is_empty());

    // A taken address: exit 2 naming it, at once rather than after the first scans.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let said = refused(&addr, &[]);
    assert!(said.contains(&addr), "{said}");

    // With a token, plain HTTP on a non-loopback address is still refused, saying what to do.
    let made = portwatch(&["token", "create", "--role", "admin", "--database", &url]);
    assert!(made.status.success(), "{}", stderr(&made));
    let said = refused("0.0.0.0:0", &[]);
    assert_eq!(said.lines().count(), 1, "{said}");
    for what in [
        "plain HTTP",
        "--tls-cert",
        "--trusted-proxy",
        "--insecure-http",
    ] {
        assert!(said.contains(what), "{what}: {said}");
    }
    // Half a TLS pair, or files that are not one: exit 2 naming the problem.
    let said = refused("0.0.0.0:0", &["--tls-cert", "/nonexistent/cert.pem"]);
    assert!(said.contains("--tls-key"), "{said}");
    let said = refused(
        "0.0.0.0:0",
        &[
            "--tls-cert",
            "/nonexistent/cert.pem",
            "--tls-key",
            "/nonexistent/key.pem",
        ],
    );
    assert!(said.contains("/nonexistent/cert.pem"), "{said}");
}

/// `curl` over HTTPS trusting only `ca`: whether `/healthz` answered 200.
fn https_ok(port: u16, ca: &std::path::Path) -> bool {
    Command::new("curl")
        .args(["-sf", "-o", "/dev/null", "--max-time", "10", "--cacert"])
        .arg(ca)
        .arg(format!("https://127.0.0.1:{port}/healthz"))
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn https_certificate_is_reloaded_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    std::fs::create_dir(&pki).unwrap();
    portwatch_testkit::pki::ca_and_server(&pki, "a").expect("make the test PKI");
    let made = portwatch(&["token", "create", "--database", &db_url(dir.path())]);
    assert!(made.status.success(), "{}", stderr(&made));
    let port = free_port();
    let (cert, key) = (pki.join("cert.pem"), pki.join("key.pem"));
    let (child, rx, _) = start(
        dir.path(),
        &format!("127.0.0.1:{port}"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    wait_line(&rx, |l| l.contains("listening (HTTPS)"));
    assert!(https_ok(port, &pki.join("a-ca.pem")));

    portwatch_testkit::pki::ca_and_server(&pki, "b").expect("make the test PKI");
    assert!(
        !https_ok(port, &pki.join("b-ca.pem")),
        "served before the reload"
    );
    signal(&child, "-HUP");
    wait_line(&rx, |l| l.contains("TLS certificate reloaded"));
    assert!(
        https_ok(port, &pki.join("b-ca.pem")),
        "the new certificate is served"
    );
    assert!(!https_ok(port, &pki.join("a-ca.pem")), "the old one is not");
}
