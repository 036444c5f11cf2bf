//! The alert book while a scan's transaction is in progress, on PostgreSQL: the test holds
//! the history lock every scan's transaction takes, so a scan that has decided waits inside
//! its transaction for as long as the test wants (seen in `pg_locks`, not guessed by a
//! sleep). Meanwhile the book can be read and an acknowledgement lands, on the scanning
//! daemon itself or on a follower replica; and the scan, committing afterwards, keeps the
//! acknowledgement instead of writing over it.
//!
//! Needs the test PostgreSQL server (`PORTWATCH_TEST_PG_URL`, as `scripts/test.sh` sets it).

mod notify_support;
mod replica_support;

use notify_support::Receiver;
use portwatch_monitor::daemon::{Clock, Event};
use portwatch_testkit::TestDb;
use replica_support::{Replica, Setup, first_key, kinds, received};
use sqlx::Connection;
use std::time::Duration;

/// How long a call may take while the scan waits before the test calls it blocked (a bound
/// reached only on failure: unblocked, each takes milliseconds).
const BLOCKED: Duration = Duration::from_secs(5);

/// The history lock, held by the test on a connection of its own until released.
struct HistoryLock(sqlx::PgConnection);

impl HistoryLock {
    async fn take(url: &str) -> HistoryLock {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(portwatch_store::PG_HISTORY_LOCK)
            .execute(&mut c)
            .await
            .unwrap();
        HistoryLock(c)
    }

    /// Waits until a transaction of another connection waits for the lock (at most 20 s).
    async fn until_waited_for(&mut self) {
        for _ in 0..400 {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
                 WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()",
            )
            .fetch_one(&mut self.0)
            .await
            .unwrap();
            if waiting > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no scan came to wait for the history lock");
    }

    async fn release(mut self) {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(portwatch_store::PG_HISTORY_LOCK)
            .execute(&mut self.0)
            .await
            .unwrap();
    }
}

/// [`Setup`] on a PostgreSQL database, with reminders every minute.
async fn setup() -> Setup {
    Setup::on(TestDb::postgres().await.unwrap(), "1m").await
}

/// A leader that has announced the open port once, and the entry's key.
async fn firing(s: &Setup) -> (Replica, String) {
    let (mut leader, _) = s.leader().await;
    leader.scan_and_confirm("g").await;
    received(&s.receiver, 1).await;
    let key = first_key(&leader.daemon)
        .await
        .expect("the entry is tracked");
    (leader, key)
}

/// Starts a scan of `g` on `leader` and returns once its transaction waits for `lock`.
async fn scan_held_in_its_transaction(leader: &Replica, lock: &mut HistoryLock) {
    assert!(leader.daemon.scan_now("g").await.unwrap());
    lock.until_waited_for().await;
}

async fn scan_recorded(leader: &mut Replica) {
    leader
        .wait("the held scan", |e| match e {
            Event::Scanned {
                confirmation: false,
                ..
            } => Some(()),
            Event::ScanFailed { error, .. } => panic!("the held scan failed: {error}"),
            _ => None,
        })
        .await;
}

/// After the scan: the entry is still acknowledged, and the reminder due is not sent.
async fn acknowledgement_kept(leader: &Replica, key: &str, clock: &Clock, receiver: &Receiver) {
    let entry = leader
        .daemon
        .book()
        .await
        .get(key)
        .cloned()
        .expect("tracked");
    assert!(
        entry.acknowledged,
        "the scan wrote over the acknowledgement"
    );
    clock.advance_ms(120_000);
    leader.daemon.remind().await;
    leader.daemon.deliver_due().await;
    assert_eq!(
        kinds(receiver),
        ["opened"],
        "reminded of an acknowledged violation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_a_scan_commits_the_book_is_read_and_an_acknowledgement_is_kept() {
    let s = setup().await;
    let (mut leader, key) = firing(&s).await;

    let mut lock = HistoryLock::take(&s.db.url).await;
    scan_held_in_its_transaction(&leader, &mut lock).await;
    // What /metrics, the dashboard and the API do: read the book.
    let book = tokio::time::timeout(BLOCKED, leader.daemon.book())
        .await
        .expect("reading the book waited for the scan's transaction");
    assert!(book.get(&key).is_some());
    let acknowledged = tokio::time::timeout(BLOCKED, leader.daemon.acknowledge(&key))
        .await
        .expect("the acknowledgement waited for the scan's transaction");
    assert!(acknowledged.unwrap());

    lock.release().await;
    scan_recorded(&mut leader).await;
    acknowledgement_kept(&leader, &key, &s.clock, &s.receiver).await;
    drop(s.listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_on_the_follower_during_the_leaders_scan_is_kept() {
    let s = setup().await;
    let (mut leader, key) = firing(&s).await;
    let mut follower = s.replica().await;
    assert!(!follower.daemon.leadership().leader);

    let mut lock = HistoryLock::take(&s.db.url).await;
    scan_held_in_its_transaction(&leader, &mut lock).await;
    let acknowledged = tokio::time::timeout(BLOCKED, follower.daemon.acknowledge(&key))
        .await
        .expect("the follower's acknowledgement waited for the leader's scan");
    assert!(acknowledged.unwrap());
    // (The follower goes, so that moving the clock cannot hand it the lease.)
    follower.kill();

    lock.release().await;
    scan_recorded(&mut leader).await;
    acknowledgement_kept(&leader, &key, &s.clock, &s.receiver).await;
    drop(s.listener);
}
