//! Two daemons on one database: only the holder of the scheduler lease scans; when it dies
//! the other takes over once the lease ran out by the (hand-set) clock and continues with the
//! same alert book. Each daemon's loops run on a runtime of their own, so "dies" is that
//! runtime shut down with everything on it, lease unreleased, as in a kill -9.

mod notify_support;

use notify_support::Receiver;
use portwatch_monitor::config;
use portwatch_monitor::daemon::{Clock, Daemon, Event};
use portwatch_store::Store;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// 2026-06-01T00:00:00Z.
const T0: i64 = 1_780_272_000_000;
/// The lease in the test configuration (renewals and attempts every 100 ms of real time).
const LEASE_MS: i64 = 300;

struct Replica {
    daemon: Arc<Daemon>,
    events: broadcast::Receiver<Event>,
    stop: CancellationToken,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Replica {
    async fn start(url: &str, config_text: &str, clock: &Clock) -> Replica {
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
    fn kill(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }

    /// Waits (at most 20 s, a bound only reached on failure) for an event `pick` accepts.
    async fn wait<T>(&mut self, what: &str, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
        let found = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match self.events.recv().await {
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

    async fn becomes_leader(&mut self) -> i64 {
        self.wait("leadership", |e| match e {
            Event::Leadership {
                leader: true,
                token,
            } => Some(*token),
            _ => None,
        })
        .await
    }

    async fn scan_and_confirm(&mut self, group: &str) {
        assert!(self.daemon.scan_now(group).await.unwrap());
        self.wait("confirmation scan", |e| match e {
            Event::Scanned {
                confirmation: true, ..
            } => Some(()),
            _ => None,
        })
        .await;
    }

    /// Scans the group now and waits until that scan is recorded (a scan that changes
    /// nothing asks for no confirmation).
    async fn scan_once(&mut self, group: &str) {
        assert!(self.daemon.scan_now(group).await.unwrap());
        self.wait("scan", |e| match e {
            Event::Scanned {
                confirmation: false,
                ..
            } => Some(()),
            _ => None,
        })
        .await;
    }

    /// The events seen so far that are scans.
    fn scans_seen(&mut self) -> usize {
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

fn kinds(r: &Receiver) -> Vec<String> {
    r.requests()
        .iter()
        .map(|q| q.header("X-Portwatch-Event").unwrap_or("?").to_string())
        .collect()
}

/// Waits until the receiver got `n` requests (or 20 s).
async fn received(r: &Receiver, n: usize) {
    for _ in 0..400 {
        if r.requests().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn config(port: u16, receiver: &Receiver, remind_every: &str) -> String {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_schedules_and_the_other_takes_over_with_the_same_book() {
    let receiver = Receiver::start().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("pw.db").display());
    let text = config(port, &receiver, "0");
    let clock = Clock::manual(T0);

    let mut a = Replica::start(&url, &text, &clock).await;
    let first = a.becomes_leader().await;
    let mut b = Replica::start(&url, &text, &clock).await;
    assert!(a.daemon.leadership().leader);

    // The leader scans and announces the open port once; the follower schedules nothing
    // and does not take the lease while it is renewed.
    a.scan_and_confirm("g").await;
    received(&receiver, 1).await;
    tokio::time::sleep(Duration::from_millis(4 * LEASE_MS as u64)).await;
    assert_eq!(b.scans_seen(), 0, "the follower scanned");
    assert!(!b.daemon.leadership().leader);
    assert_eq!(kinds(&receiver), ["opened"]);
    // The follower's API sees the leader's book.
    assert_eq!(b.daemon.book().await.entries.len(), 1);

    // The leader dies without releasing the lease: nobody takes over before it runs out.
    a.kill();
    tokio::time::sleep(Duration::from_millis(LEASE_MS as u64)).await;
    assert!(
        !b.daemon.leadership().leader,
        "taken over before the lease ran out"
    );
    clock.advance_ms(LEASE_MS);
    let second = b.becomes_leader().await;
    assert_eq!(
        second,
        first + 1,
        "the next term has the next fencing token"
    );

    // The new leader continues the book: the port still open is not announced again, and
    // its close is announced once.
    b.scan_once("g").await;
    b.daemon.deliver_due().await;
    assert_eq!(
        kinds(&receiver),
        ["opened"],
        "announced again after failover"
    );
    drop(listener);
    b.scan_and_confirm("g").await;
    received(&receiver, 2).await;
    b.daemon.deliver_due().await;
    assert_eq!(kinds(&receiver), ["opened", "resolved"]);
    assert!(b.daemon.book().await.entries.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_on_the_follower_reaches_the_leader() {
    let receiver = Receiver::start().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("pw.db").display());
    let text = config(port, &receiver, "1m");
    let clock = Clock::manual(T0);
    let mut a = Replica::start(&url, &text, &clock).await;
    a.becomes_leader().await;
    let mut b = Replica::start(&url, &text, &clock).await;
    a.scan_and_confirm("g").await;
    received(&receiver, 1).await;
    let key = b
        .daemon
        .book()
        .await
        .entries
        .keys()
        .next()
        .cloned()
        .expect("the follower reads the leader's entry");
    assert!(b.daemon.acknowledge(&key).await.unwrap());
    // (The follower goes, so that moving the clock cannot hand it the lease.)
    b.kill();
    // The leader's decisions start from the acknowledged entry: a scan keeps it, and the
    // reminder due a minute later is not sent.
    a.scan_once("g").await;
    clock.advance_ms(120_000);
    a.daemon.remind().await;
    a.daemon.deliver_due().await;
    assert_eq!(
        kinds(&receiver),
        ["opened"],
        "reminded of an acknowledged violation"
    );
    let entry = a.daemon.book().await.entries.remove(&key).expect("tracked");
    assert!(entry.acknowledged);
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_daemon_leads_at_once_and_hands_the_lease_back_on_shutdown() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("pw.db").display());
    let text = config(9, &receiver, "0");
    let clock = Clock::manual(T0);
    let mut a = Replica::start(&url, &text, &clock).await;
    assert_eq!(a.becomes_leader().await, 1);
    a.stop.cancel();
    a.wait("end of leadership", |e| match e {
        Event::Leadership { leader: false, .. } => Some(()),
        _ => None,
    })
    .await;
    // Released: the next daemon leads at once, without the clock moving.
    let mut b = Replica::start(&url, &text, &clock).await;
    assert_eq!(b.becomes_leader().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_now_asked_of_the_follower_runs_on_the_leader_once() {
    let receiver = Receiver::start().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("pw.db").display());
    let text = config(port, &receiver, "0");
    let clock = Clock::manual(T0);
    let mut a = Replica::start(&url, &text, &clock).await;
    a.becomes_leader().await;
    let mut b = Replica::start(&url, &text, &clock).await;
    assert!(!b.daemon.leadership().leader);
    assert!(!b.daemon.scan_now("nope").await.unwrap(), "unknown group");

    // The group's schedule is once a year: only the request can start this scan.
    assert!(b.daemon.scan_now("g").await.unwrap());
    a.wait("scan on the leader", |e| match e {
        Event::Scanned {
            confirmation: false,
            ..
        } => Some(()),
        _ => None,
    })
    .await;
    a.wait("its confirmation", |e| match e {
        Event::Scanned {
            confirmation: true, ..
        } => Some(()),
        _ => None,
    })
    .await;
    received(&receiver, 1).await;
    assert_eq!(kinds(&receiver), ["opened"]);
    assert_eq!(b.scans_seen(), 0, "the follower scanned");
    // The request was taken once: no second scheduled scan follows.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let again = a.scans_seen();
    assert_eq!(again, 0, "the request ran {again} more time(s)");
    assert!(
        a.daemon
            .store()
            .scan_requests_take()
            .await
            .unwrap()
            .is_empty(),
        "the request is still pending"
    );
    drop(listener);
}
