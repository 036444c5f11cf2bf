//! The daemon as an admin runs it: alerts by email through a real SMTP server, SIGHUP reload
//! (a bad new file is rejected and the old one keeps running), SIGTERM stops cleanly, JSON
//! logs, and `notify test`.

mod common;
#[path = "common/receiver.rs"]
mod receiver;
use common::{ChildGuard, free_port, portwatch, start_ready, stdout, watch_command};
use receiver::Receiver;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A plain SMTP server (aiosmtpd) that writes each message it receives to `dir`.
fn smtp_server(dir: &std::path::Path) -> (ChildGuard, u16) {
    let port = free_port();
    let script = format!(
        "import asyncio, pathlib, time\n\
         from aiosmtpd.controller import Controller\n\
         class H:\n\
         \x20   async def handle_DATA(self, server, session, envelope):\n\
         \x20       p = pathlib.Path({dir:?}) / f'{{time.time_ns()}}.eml'\n\
         \x20       p.write_bytes(envelope.original_content or envelope.content)\n\
         \x20       return '250 OK'\n\
         c = Controller(H(), hostname='127.0.0.1', port={port})\n\
         c.start()\n\
         print('ready', flush=True)\n\
         import threading; threading.Event().wait()\n",
        dir = dir.display().to_string()
    );
    let child = start_ready(
        Command::new("python3")
            .args(["-c", &script])
            .stderr(Stdio::inherit()),
        "python3 with aiosmtpd (scripts/install-test-deps.sh installs it)",
        || "aiosmtpd did not start: run scripts/install-test-deps.sh".to_string(),
    );
    (child, port)
}

#[test]
fn alert_and_resolve_by_email() {
    let mail = tempfile::tempdir().unwrap();
    let (_smtp, smtp_port) = smtp_server(mail.path());
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = watch_command(port)
        .args(["--notify", "email=ops@example.org", "--database"])
        .arg(format!("sqlite://{}", dir.path().join("pw.db").display()))
        .env(
            "PORTWATCH_SMTP",
            format!("smtp://127.0.0.1:{smtp_port}?tls=none"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _watch = ChildGuard(child);
    let mails = || -> Vec<String> {
        let mut v: Vec<_> = std::fs::read_dir(mail.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        v.sort();
        v.iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    };
    let wait = |n: usize| {
        let end = Instant::now() + Duration::from_secs(20);
        while mails().len() < n && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(100));
        }
        mails()
    };
    std::thread::sleep(Duration::from_secs(2));
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let got = wait(1);
    assert_eq!(got.len(), 1);
    assert!(got[0].contains("To: ops@example.org"), "{}", got[0]);
    assert!(
        got[0].contains(&format!("Subject: OPEN {port}/tcp on 127.0.0.1")),
        "{}",
        got[0]
    );
    assert!(got[0].contains("must be closed"));
    drop(listener);
    let got = wait(2);
    assert_eq!(got.len(), 2);
    assert!(
        got[1].contains(&format!("Subject: CLOSED {port}/tcp")),
        "{}",
        got[1]
    );
}

fn write_config(path: &std::path::Path, port: u16, hook: &str, every: &str) {
    std::fs::write(
        path,
        format!(
            "[alerts]\nconfirm_after = \"1s\"\n\n[[notify]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{hook}\"\n\n\
             [[group]]\nname = \"local\"\ntargets = [\"127.0.0.1\"]\nevery = \"{every}\"\n[group.policy]\nmust_be_closed = [\"{port}\"]\n"
        ),
    )
    .unwrap();
}

#[test]
fn sighup_reloads_rejects_bad_files_and_sigterm_stops_cleanly() {
    let rx = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pw.toml");
    let (first_port, second_port) = (free_port(), free_port());
    write_config(&config, first_port, &rx.url("/hook"), "1s");
    let mut child = Command::new(env!("CARGO_BIN_EXE_portwatch"))
        .args([
            "run",
            "--config",
            config.to_str().unwrap(),
            "--log-format",
            "json",
            "--listen",
            "127.0.0.1:0",
            "--database",
        ])
        .arg(format!("sqlite://{}", dir.path().join("pw.db").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let stderr = child.stderr.take().unwrap();
    let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let mut daemon = ChildGuard(child);
    std::thread::sleep(Duration::from_secs(2));
    // A broken file: rejected, the old policy keeps running.
    std::fs::write(&config, "[[group]]\nname = \"local\"\nbogus = 1\n").unwrap();
    Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let l1 = TcpListener::bind(("127.0.0.1", first_port)).unwrap();
    let got = rx.wait_for(Duration::from_secs(15), |g| !g.is_empty());
    assert_eq!(got.len(), 1, "the old policy still alerts");
    assert_eq!(got[0].json()["alert"]["port"], first_port);
    drop(l1);
    // A good file with another port: the new policy takes over.
    write_config(&config, second_port, &rx.url("/hook"), "1s");
    Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    let l2 = TcpListener::bind(("127.0.0.1", second_port)).unwrap();
    let got = rx.wait_for(Duration::from_secs(15), |g| {
        g.iter().any(|r| r.json()["alert"]["port"] == second_port)
    });
    assert!(
        got.iter().any(|r| r.json()["alert"]["port"] == second_port),
        "{got:?}"
    );
    drop(l2);
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = daemon.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "SIGTERM did not stop the daemon");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
    let logs = logs.lock().unwrap().clone();
    assert!(!logs.is_empty());
    for line in &logs {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not JSON: {line}: {e}"));
    }
    assert!(logs.iter().any(|l| l.contains("rejected")), "{logs:?}");
    assert!(logs.iter().any(|l| l.contains("reloaded")), "{logs:?}");
    assert!(logs.iter().any(|l| l.contains("SIGTERM")), "{logs:?}");
    drop(daemon);
}

#[test]
fn notify_test_reports_each_channel() {
    let rx = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pw.toml");
    std::fs::write(
        &config,
        format!(
            "[[notify]]\nname = \"good\"\ntype = \"webhook\"\nurl = \"{}\"\n\n[[notify]]\nname = \"dead\"\ntype = \"slack\"\nurl = \"http://127.0.0.1:{}/x\"\n\n\
             [[group]]\nname = \"g\"\ntargets = [\"127.0.0.1\"]\n[group.policy]\nmust_be_closed = [\"445\"]\n",
            rx.url("/hook"),
            free_port()
        ),
    )
    .unwrap();
    let out = portwatch(&["notify", "test", "--config", config.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "one channel failed: {text}");
    assert!(text.contains("good: ok (HTTP 200"), "{text}");
    assert!(text.contains("dead: FAILED"), "{text}");
    assert_eq!(rx.received()[0].json()["event"], "test");
}
