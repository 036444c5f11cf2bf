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
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// 2026-06-01T00:00:00Z.
pub const T0: i64 = 1_780_272_000_000;
/// The lease in the test configuration (renewals and attempts every 100 ms of real time).
pub const LEASE_MS: i64 = 300;

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
        let settings = config::parse(config_text, Path::new("test.toml")).unwrap();
        let store = Store::open(url).await.unwrap();
        let daemon = Daemon::with_clock(settings, store, clock.clone())
            .await
            .unwrap();
        let events = daemon.subscribe();
        let stop = CancellationToken::new();
        {
            let (daemon, stop) = (daemon.clone(), stop.clone());
            runtime.spawn(async move { daemon.run(stop).await });
        }
        Replica {
            daemon,
            events,
            stop,
            runtime: Some(runtime),
        }
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

pub fn config(port: u16, receiver: &Receiver, remind_every: &str) -> String {
    format!(
        r#"
[cluster]
lease = "{LEASE_MS}ms"

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
[group.scan]
probes = false
[group.policy]
must_be_closed = ["{port}"]
"#,
        url = receiver.url("/hook")
    )
}
