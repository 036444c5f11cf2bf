//! The monitor with real peers: a webhook receiver started here, listeners that open and
//! close on a must-be-closed port. One alert per violation, one resolve, no alert for a flap
//! shorter than the confirmation, delivery after a receiver outage, and after the daemon is
//! killed between the state change and the delivery (before any attempt reached the peer).
//! Delivery is at least once: `monitor_faults.rs` kills the daemon after the peer got the
//! message and shows it sent again with the same idempotency key.

mod common;
use common::{ChildGuard, free_port, watch_command};
#[path = "common/receiver.rs"]
mod receiver;
use receiver::{Received, Receiver};
use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

fn watch(port: u16, hook: &str, db: &str, extra: &[&str]) -> ChildGuard {
    let child = watch_command(port)
        .args(["--notify", &format!("webhook={hook}"), "--database", db])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start portwatch watch");
    ChildGuard(child)
}

fn kinds(got: &[Received]) -> Vec<String> {
    got.iter()
        .map(|r| r.json()["event"].as_str().unwrap_or("?").to_string())
        .collect()
}

fn db(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("pw.db").display())
}

#[test]
fn one_alert_when_it_opens_one_resolve_when_it_closes() {
    let rx = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _w = watch(port, &rx.url("/hook"), &db(&dir), &[]);
    std::thread::sleep(Duration::from_secs(3));
    assert!(rx.received().is_empty(), "nothing open, nothing sent");
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let got = rx.wait_for(Duration::from_secs(15), |g| !g.is_empty());
    assert_eq!(kinds(&got), ["opened"], "{got:?}");
    let alert = got[0].json()["alert"].clone();
    assert_eq!(alert["port"], port);
    assert_eq!(alert["host"], "127.0.0.1");
    assert_eq!(alert["rule"], "must be closed");
    assert!(alert["since_ms"].as_i64().unwrap() > 0);
    let key = got[0]
        .headers
        .iter()
        .find(|(k, _)| k == "x-portwatch-key")
        .map(|(_, v)| v.clone());
    assert_eq!(
        key.as_deref(),
        alert["key"].as_str(),
        "the idempotency key travels in a header"
    );
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(rx.received().len(), 1, "alerts once while it lasts");
    drop(listener);
    let got = rx.wait_for(Duration::from_secs(15), |g| g.len() >= 2);
    assert_eq!(kinds(&got), ["opened", "resolved"], "{got:?}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(rx.received().len(), 2, "resolves once");
}

#[test]
fn a_flap_shorter_than_the_confirmation_raises_nothing() {
    let rx = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Confirmation after 3 s; the port is open for about 1.5 s, once per scan cycle at most.
    let _w = watch(
        port,
        &rx.url("/hook"),
        &db(&dir),
        &["--confirm-after", "3s", "--every", "2s"],
    );
    for _ in 0..3 {
        let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        drop(l);
        std::thread::sleep(Duration::from_secs(4));
    }
    assert!(rx.received().is_empty(), "{:?}", rx.received());
}

#[test]
fn a_receiver_that_was_down_gets_the_alert_when_it_is_back() {
    let rx = Receiver::start();
    rx.set_down(true);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _w = watch(port, &rx.url("/hook"), &db(&dir), &[]);
    let _l = TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::sleep(Duration::from_secs(8));
    assert!(rx.received().is_empty());
    rx.set_down(false);
    let got = rx.wait_for(Duration::from_secs(30), |g| !g.is_empty());
    assert_eq!(kinds(&got), ["opened"], "{got:?}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        rx.received().len(),
        1,
        "delivered once, not again after it was recorded"
    );
}

#[test]
fn killed_before_any_attempt_reached_the_peer_delivers_once_after_restart() {
    let rx = Receiver::start();
    rx.set_down(true);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _l = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let mut first = watch(port, &rx.url("/hook"), &db(&dir), &[]);
    // Let it confirm the violation and queue the alert; the receiver refuses delivery.
    std::thread::sleep(Duration::from_secs(8));
    let _ = first.0.kill(); // SIGKILL: no clean shutdown.
    let _ = first.0.wait();
    assert!(rx.received().is_empty());
    rx.set_down(false);
    let _second = watch(port, &rx.url("/hook"), &db(&dir), &[]);
    let got = rx.wait_for(Duration::from_secs(20), |g| !g.is_empty());
    assert_eq!(kinds(&got), ["opened"], "{got:?}");
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        kinds(&rx.received()),
        ["opened"],
        "not sent again, and the restart did not re-alert"
    );
}
