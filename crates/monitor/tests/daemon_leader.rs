//! Two daemons on one database: only the holder of the scheduler lease scans; when it dies
//! the other takes over once the lease ran out by the (hand-set) clock and continues with the
//! same alert book. Each daemon's loops run on a runtime of their own, so "dies" is that
//! runtime shut down with everything on it, lease unreleased, as in a kill -9.

mod notify_support;
mod replica_support;

use portwatch_monitor::daemon::Event;
use portwatch_testkit::TestDb;
use replica_support::{
    LEASE_MS, Replica, Setup, confirmation_scanned, first_key, kinds, received, round_scanned,
};
use std::time::Duration;

/// [`Setup`] on a SQLite database, with reminders every `remind_every`.
async fn setup(remind_every: &str) -> Setup {
    Setup::on(TestDb::sqlite().await.unwrap(), remind_every).await
}

/// A replica that leads (with its term's fencing token), then a second one.
async fn leader_and_follower(s: &Setup) -> (Replica, i64, Replica) {
    let (a, token) = s.leader().await;
    let b = s.replica().await;
    (a, token, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_schedules_and_the_other_takes_over_with_the_same_book() {
    let s = setup("0").await;
    let (mut a, first, mut b) = leader_and_follower(&s).await;
    assert!(a.daemon.leadership().leader);

    // The leader scans and announces the open port once; the follower schedules nothing
    // and does not take the lease while it is renewed.
    a.scan_and_confirm("g").await;
    received(&s.receiver, 1).await;
    tokio::time::sleep(Duration::from_millis(4 * LEASE_MS as u64)).await;
    assert_eq!(b.scans_seen(), 0, "the follower scanned");
    assert!(!b.daemon.leadership().leader);
    assert_eq!(kinds(&s.receiver), ["opened"]);
    // The follower's API sees the leader's book.
    assert_eq!(b.daemon.book().await.len(), 1);

    // The leader dies without releasing the lease: nobody takes over before it runs out.
    a.kill();
    tokio::time::sleep(Duration::from_millis(LEASE_MS as u64)).await;
    assert!(
        !b.daemon.leadership().leader,
        "taken over before the lease ran out"
    );
    s.clock.advance_ms(LEASE_MS);
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
        kinds(&s.receiver),
        ["opened"],
        "announced again after failover"
    );
    drop(s.listener);
    b.scan_and_confirm("g").await;
    received(&s.receiver, 2).await;
    b.daemon.deliver_due().await;
    assert_eq!(kinds(&s.receiver), ["opened", "resolved"]);
    assert!(b.daemon.book().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_on_the_follower_reaches_the_leader() {
    let s = setup("1m").await;
    let (mut a, _, mut b) = leader_and_follower(&s).await;
    a.scan_and_confirm("g").await;
    received(&s.receiver, 1).await;
    let key = first_key(&b.daemon)
        .await
        .expect("the follower reads the leader's entry");
    assert!(b.daemon.acknowledge(&key).await.unwrap());
    // (The follower goes, so that moving the clock cannot hand it the lease.)
    b.kill();
    // The leader's decisions start from the acknowledged entry: a scan keeps it, and the
    // reminder due a minute later is not sent.
    a.scan_once("g").await;
    s.clock.advance_ms(120_000);
    a.daemon.remind().await;
    a.daemon.deliver_due().await;
    assert_eq!(
        kinds(&s.receiver),
        ["opened"],
        "reminded of an acknowledged violation"
    );
    let entry = a.daemon.book().await.get(&key).cloned().expect("tracked");
    assert!(entry.acknowledged);
    drop(s.listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_daemon_leads_at_once_and_hands_the_lease_back_on_shutdown() {
    let s = setup("0").await;
    let mut a = s.replica().await;
    assert_eq!(a.becomes_leader().await, 1);
    a.stop.cancel();
    a.wait("end of leadership", |e| match e {
        Event::Leadership { leader: false, .. } => Some(()),
        _ => None,
    })
    .await;
    // Released: the next daemon leads at once, without the clock moving.
    let mut b = s.replica().await;
    assert_eq!(b.becomes_leader().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_now_asked_of_the_follower_runs_on_the_leader_once() {
    let s = setup("0").await;
    let (mut a, _, mut b) = leader_and_follower(&s).await;
    assert!(!b.daemon.leadership().leader);
    assert!(!b.daemon.scan_now("nope").await.unwrap(), "unknown group");

    // The group's schedule is once a year: only the request can start this scan.
    assert!(b.daemon.scan_now("g").await.unwrap());
    a.wait("scan on the leader", round_scanned).await;
    a.wait("its confirmation", confirmation_scanned).await;
    received(&s.receiver, 1).await;
    assert_eq!(kinds(&s.receiver), ["opened"]);
    assert_eq!(b.scans_seen(), 0, "the follower scanned");
    // The request was taken once: no second scheduled scan follows.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let again = a.scans_seen();
    assert_eq!(again, 0, "the request ran {again} more time(s)");
    assert!(
        a.daemon
            .store()
            .scan_requests_in(portwatch_store::ScanRequestState::Pending)
            .await
            .unwrap()
            .is_empty(),
        "the request is still pending"
    );
    drop(s.listener);
}
