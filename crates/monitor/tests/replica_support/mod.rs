//! Shared by the tests that run several daemons on one database: a replica (a daemon with
//! its loops on a runtime of its own, so that killing it ends everything on it where it
//! stands, lease unreleased, as in a kill -9), waiting for its events (also a single daemon's:
//! `daemon_clock.rs`), and a configuration with one group whose must-be-closed port the test
//! opens and closes.

#![allow(dead_code)]

use crate::notify_support::Receiver;
use portwatch_monitor::config;
use portwatch_monitor::daemon::{Clock, Daemon, Event};
use portwatch_store::Store;
use portwatch_testkit::TestDb;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// 2026-06-01T00:00:00Z.
pub const T0: i64 = 1_780_272_000_000;
/// The lease in the test configuration (renewals and attempts every 100 ms of real time).
pub const LEASE_MS: i64 = 300;

/// What the replica tests start from: a receiver, a port held open on 127.0.0.1 for group
/// `g` (drop `listener` to close it), a database, the replicas' configuration over them
/// ([`config`]) and a hand-set clock at [`T0`].
pub struct Setup {
    pub receiver: Receiver,
    pub listener: std::net::TcpListener,
    pub db: TestDb,
    pub text: String,
    pub clock: Clock,
}

impl Setup {
    /// The setup on `db`, with reminders every `remind_every`.
    pub async fn on(db: TestDb, remind_every: &str) -> Setup {
        let (receiver, listener, port) = receiver_and_open_port().await;
        let text = config(port, &receiver, remind_every);
        Setup {
            receiver,
            listener,
            db,
            text,
            clock: Clock::manual(T0),
        }
    }

    /// A replica on the setup's database, configuration and clock.
    pub async fn replica(&self) -> Replica {
        Replica::start(&self.db.url, &self.text, &self.clock).await
    }

    /// A replica that has become the leader ([`Replica::leader`]), and its fencing token.
    pub async fn leader(&self) -> (Replica, i64) {
        Replica::leader(&self.db.url, &self.text, &self.clock).await
    }
}

/// A daemon whose loops run on a runtime of its own.
pub struct Replica {
    pub daemon: Arc<Daemon>,
    pub events: broadcast::Receiver<Event>,
    pub stop: CancellationToken,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Replica {
    pub async fn start(url: &str, config_text: &str, clock: &Clock) -> Replica {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let store = Store::open(url).await.unwrap();
        let (daemon, events, stop) =
            spawn_daemon(store, config_text, clock, runtime.handle()).await;
        Replica {
            daemon,
            events,
            stop,
            runtime: Some(runtime),
        }
    }

    /// A replica started ([`Replica::start`]) that has become the leader, and its term's
    /// fencing token.
    pub async fn leader(url: &str, config_text: &str, clock: &Clock) -> (Replica, i64) {
        let mut replica = Replica::start(url, config_text, clock).await;
        let token = replica.becomes_leader().await;
        (replica, token)
    }

    /// Everything on its runtime ends where it stands; the lease is not released.
    pub fn kill(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }

    /// Waits for an event `pick` accepts ([`wait_event`]).
    pub async fn wait<T>(&mut self, what: &str, pick: impl FnMut(&Event) -> Option<T>) -> T {
        wait_event(&mut self.events, what, pick).await
    }

    pub async fn becomes_leader(&mut self) -> i64 {
        self.wait("leadership", |e| match e {
            Event::Leadership {
                leader: true,
                token,
            } => Some(*token),
            _ => None,
        })
        .await
    }

    /// Scans the group now and waits until its confirmation re-probe is recorded.
    pub async fn scan_and_confirm(&mut self, group: &str) {
        scan_and_confirm(&self.daemon, &mut self.events, group).await;
    }

    /// Scans the group now and waits until that scan is recorded (a scan that changes
    /// nothing asks for no confirmation).
    pub async fn scan_once(&mut self, group: &str) {
        assert!(self.daemon.scan_now(group).await.unwrap());
        self.wait("scan", round_scanned).await;
    }

    /// The events seen so far that are scans.
    pub fn scans_seen(&mut self) -> usize {
        let mut n = 0;
        while let Ok(e) = self.events.try_recv() {
            if matches!(e, Event::Scanned { .. } | Event::ScanFailed { .. }) {
                n += 1;
            }
        }
        n
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.stop.cancel();
        self.kill();
    }
}

/// A daemon configured by `config_text` over `store`, deciding by `clock`, with its loops
/// running on `runtime`; its events, and the token that stops the loops.
pub async fn spawn_daemon(
    store: Store,
    config_text: &str,
    clock: &Clock,
    runtime: &tokio::runtime::Handle,
) -> (Arc<Daemon>, broadcast::Receiver<Event>, CancellationToken) {
    let settings = config::parse(config_text, Path::new("test.toml")).unwrap();
    let daemon = Daemon::with_clock(settings, store, clock.clone())
        .await
        .unwrap();
    let events = daemon.subscribe();
    let stop = CancellationToken::new();
    {
        let (daemon, stop) = (daemon.clone(), stop.clone());
        runtime.spawn(async move { daemon.run(stop).await });
    }
    (daemon, events, stop)
}

/// Waits (at most 20 s, a bound only reached on failure) for an event on `events` that `pick`
/// accepts; panics naming `what` when none comes or the events end.
pub async fn wait_event<T>(
    events: &mut broadcast::Receiver<Event>,
    what: &str,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match events.recv().await {
                Ok(e) => {
                    if let Some(t) = pick(&e) {
                        return t;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("events ended: {e}"),
            }
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no {what} event"))
}

/// For [`wait_event`]: a scan recorded, by the schedule or on request (not a confirmation).
pub fn round_scanned(e: &Event) -> Option<()> {
    matches!(
        e,
        Event::Scanned {
            confirmation: false,
            ..
        }
    )
    .then_some(())
}

/// For [`wait_event`]: a confirmation re-probe recorded.
pub fn confirmation_scanned(e: &Event) -> Option<()> {
    matches!(
        e,
        Event::Scanned {
            confirmation: true,
            ..
        }
    )
    .then_some(())
}

/// Scans `group` on `daemon` now and waits (on its `events`) until its confirmation re-probe
/// is recorded.
pub async fn scan_and_confirm(
    daemon: &Daemon,
    events: &mut broadcast::Receiver<Event>,
    group: &str,
) {
    assert!(daemon.scan_now(group).await.unwrap());
    wait_event(events, "confirmation scan", confirmation_scanned).await;
}

/// The key of the first entry of `daemon`'s alert book, if it has one.
pub async fn first_key(daemon: &Daemon) -> Option<String> {
    daemon
        .book()
        .await
        .iter()
        .map(|(k, _)| k.to_string())
        .next()
}

pub fn kinds(r: &Receiver) -> Vec<String> {
    r.requests()
        .iter()
        .map(|q| q.header("X-Portwatch-Event").unwrap_or("?").to_string())
        .collect()
}

/// Waits until the receiver got `n` requests (or 20 s).
pub async fn received(r: &Receiver, n: usize) {
    for _ in 0..400 {
        if r.requests().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A webhook receiver, and a port held open on 127.0.0.1 for the configuration's group to
/// find (dropping the listener closes it).
pub async fn receiver_and_open_port() -> (Receiver, std::net::TcpListener, u16) {
    let receiver = Receiver::start().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (receiver, listener, port)
}

/// The replicas' configuration: a [`LEASE_MS`] lease and [`group_config`].
pub fn config(port: u16, receiver: &Receiver, remind_every: &str) -> String {
    format!(
        "\n[cluster]\nlease = \"{LEASE_MS}ms\"\n{}",
        group_config(port, receiver, remind_every, "")
    )
}

/// Alerts confirmed after two scans and reminded every `remind_every`, a webhook on
/// `receiver`, and group `g` (127.0.0.1 on a yearly schedule, `group_extra` added to it) whose
/// `port` must be closed.
pub fn group_config(
    port: u16,
    receiver: &Receiver,
    remind_every: &str,
    group_extra: &str,
) -> String {
    format!(
        r#"
[alerts]
confirmations = 2
confirm_after = "1ms"
remind_every = "{remind_every}"

[[notify]]
name = "hook"
type = "webhook"
url = "{url}"

[[group]]
name = "g"
targets = ["127.0.0.1"]
cron = "0 0 1 1 *"
{group_extra}
[group.scan]
probes = false
[group.policy]
must_be_closed = ["{port}"]
"#,
        url = receiver.url("/hook")
    )
}
