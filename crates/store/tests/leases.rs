//! Named leases: one holder at a time, taken over after expiry with the next fencing token,
//! and writes made under a lease refused once it moved on. Same behaviour on SQLite and
//! PostgreSQL; times are passed in, so expiry is tested in ms.

mod common;

use anyhow::{Result, ensure};
use common::{OpenStore, TestDb};
use portwatch_store::{AlertStateRow, Effects, Fence, NewOutboxMessage, StoreError};
use serde_json::json;

both_backends!(
    a_lease_has_one_holder_until_it_expires,
    an_expired_lease_is_taken_over_with_the_next_token,
    writes_under_a_lost_lease_are_refused,
    of_many_concurrent_takers_exactly_one_wins,
    the_lease_of_a_dead_local_process_is_freed,
);

const T0: i64 = 1_800_000_000_000;
const TTL: i64 = 1_000;

async fn a_lease_has_one_holder_until_it_expires(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    ensure!(store.lease_holder("scheduler").await?.is_none());
    let mut a = store
        .lease_acquire("scheduler", "a", TTL, T0)
        .await?
        .expect("a free lease is taken");
    ensure!(a.token == 1 && a.expires_at == T0 + TTL, "{a:?}");
    ensure!(
        store
            .lease_acquire("scheduler", "b", TTL, T0 + 999)
            .await?
            .is_none()
    );
    // Its holder taking it again keeps the token.
    let again = store.lease_acquire("scheduler", "a", TTL, T0 + 10).await?;
    ensure!(again.as_ref().map(|t| t.token) == Some(1), "{again:?}");
    // Renewed, it outlives its first expiry.
    ensure!(store.lease_renew(&mut a, TTL, T0 + 500).await?);
    ensure!(a.expires_at == T0 + 500 + TTL);
    ensure!(
        store
            .lease_acquire("scheduler", "b", TTL, T0 + 1_200)
            .await?
            .is_none()
    );
    let row = store.lease_holder("scheduler").await?.expect("stored");
    ensure!(
        row.holder == "a" && row.token == 1 && row.acquired_at == T0,
        "{row:?}"
    );
    // Released, the next holder takes it at once, with the next token.
    ensure!(store.lease_release(&a).await?);
    let b = store
        .lease_acquire("scheduler", "b", TTL, T0 + 1_201)
        .await?;
    ensure!(b.map(|t| t.token) == Some(2));
    ensure!(
        !store.lease_release(&a).await?,
        "a released lease is not a's any more"
    );
    // Another name is another lease.
    let other = store.lease_acquire("other", "a", TTL, T0).await?;
    ensure!(other.map(|t| t.token) == Some(1));
    Ok(())
}

async fn an_expired_lease_is_taken_over_with_the_next_token(db: TestDb) -> Result<()> {
    let one = db.open().await?;
    let two = db.open().await?;
    let mut a = one
        .lease_acquire("scheduler", one.claimant(), TTL, T0)
        .await?
        .expect("taken");
    ensure!(
        two.lease_acquire("scheduler", two.claimant(), TTL, T0 + TTL - 1)
            .await?
            .is_none()
    );
    let mut b = two
        .lease_acquire("scheduler", two.claimant(), TTL, T0 + TTL)
        .await?
        .expect("an expired lease is taken over");
    ensure!(b.token == a.token + 1, "{a:?} then {b:?}");
    // The old holder learns it lost the lease and cannot take it back while b renews.
    ensure!(!one.lease_renew(&mut a, TTL, T0 + TTL + 1).await?);
    ensure!(two.lease_renew(&mut b, TTL, T0 + TTL + 900).await?);
    ensure!(
        one.lease_acquire("scheduler", one.claimant(), TTL, T0 + 2 * TTL)
            .await?
            .is_none()
    );
    // A holder that renews late, before anyone took over, still has it.
    ensure!(two.lease_renew(&mut b, TTL, T0 + 5 * TTL).await?);
    let back = one
        .lease_acquire("scheduler", one.claimant(), TTL, T0 + 7 * TTL)
        .await?
        .expect("expired again");
    ensure!(back.token == b.token + 1);
    Ok(())
}

fn effects(fence: Option<Fence>, tag: &str) -> Effects {
    Effects {
        alert_states: vec![AlertStateRow {
            key: format!("k-{tag}"),
            status: "firing".into(),
            since: T0,
            data: json!({"tag": tag}),
            updated_at: T0,
            version: 0,
        }],
        outbox: vec![NewOutboxMessage {
            idempotency_key: format!("m-{tag}"),
            channel: "webhook".into(),
            payload: json!({}),
        }],
        fence,
        jobs_applied: vec![],
    }
}

fn fenced(e: &StoreError, token: i64) -> bool {
    matches!(e, StoreError::Fenced { lease, token: t, .. } if lease == "scheduler" && *t == token)
}

async fn writes_under_a_lost_lease_are_refused(db: TestDb) -> Result<()> {
    let one = db.open().await?;
    let two = db.open().await?;
    let a = one
        .lease_acquire("scheduler", one.claimant(), TTL, T0)
        .await?
        .expect("taken");
    // Held: fenced writes land.
    one.write_effects(&effects(Some(a.fence()), "held")).await?;
    let o = common::outcome(
        &[("10.9.0.1", true)],
        &[22],
        vec![common::port("10.9.0.1", 22, "open")],
    );
    let id = one.begin_scan(&common::new_scan(&o)).await?;
    one.finish_scan(id, &o, &effects(Some(a.fence()), "scan"))
        .await?;
    // Taken over: the old holder's writes are refused, whole.
    let b = two
        .lease_acquire("scheduler", two.claimant(), TTL, T0 + TTL)
        .await?
        .expect("taken over");
    let before = db.counts().await?;
    let e = one
        .write_effects(&effects(Some(a.fence()), "late"))
        .await
        .expect_err("a write under a lost lease must be refused");
    ensure!(fenced(&e, a.token), "{e}");
    ensure!(e.to_string().contains("no longer held"), "{e}");
    let id = one.begin_scan(&common::new_scan(&o)).await?;
    let o2 = common::outcome(
        &[("10.9.0.1", true)],
        &[22, 80],
        vec![
            common::port("10.9.0.1", 22, "open"),
            common::port("10.9.0.1", 80, "open"),
        ],
    );
    let e = one
        .finish_scan(id, &o2, &effects(Some(a.fence()), "late-scan"))
        .await
        .expect_err("a scan finished under a lost lease must be refused");
    ensure!(fenced(&e, a.token), "{e}");
    let after = db.counts().await?;
    for table in ["alert_states", "outbox", "spans"] {
        ensure!(
            before[table] == after[table],
            "{table}: {before:?} then {after:?}"
        );
    }
    ensure!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM scans WHERE id = {} AND status = 'running'",
            id.0
        ))
        .await?
            == 1,
        "the refused scan is left running for its caller to fail"
    );
    // The new holder's writes land; unfenced writes (acknowledgements) land whoever leads.
    two.write_effects(&effects(Some(b.fence()), "new")).await?;
    one.write_effects(&effects(None, "ack")).await?;
    ensure!(db.counts().await?["alert_states"] == before["alert_states"] + 2);
    Ok(())
}

async fn of_many_concurrent_takers_exactly_one_wins(db: TestDb) -> Result<()> {
    let mut stores = Vec::new();
    for _ in 0..8 {
        stores.push(db.open().await?);
    }
    // Twice: for a lease never taken (INSERT race) and for an expired one (UPDATE race).
    for (round, now) in [(1, T0), (2, T0 + TTL)] {
        let tasks: Vec<_> = stores
            .iter()
            .cloned()
            .map(|s| {
                tokio::spawn(async move {
                    let holder = format!("{}-{round}", s.claimant());
                    s.lease_acquire("scheduler", &holder, TTL, now).await
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            if let Some(ticket) = t.await?? {
                winners.push(ticket);
            }
        }
        ensure!(winners.len() == 1, "round {round}: {winners:?}");
        ensure!(winners[0].token == round, "round {round}: {winners:?}");
    }
    Ok(())
}

async fn the_lease_of_a_dead_local_process_is_freed(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    let machine = store
        .claimant()
        .rsplitn(3, '/')
        .nth(2)
        .unwrap_or_default()
        .to_string();
    // A live holder (this process) keeps it.
    let mine = store
        .lease_acquire("scheduler", store.claimant(), TTL, T0)
        .await?
        .expect("taken");
    ensure!(!store.lease_release_dead("scheduler").await?);
    ensure!(!store.lease_release_dead("never-taken").await?);
    db.exec(&format!(
        "UPDATE leases SET holder = '{machine}/2147483646/0'"
    ))
    .await?;
    ensure!(store.lease_release_dead("scheduler").await?);
    let next = store
        .lease_acquire("scheduler", store.claimant(), TTL, T0 + 1)
        .await?
        .expect("freed at once, long before its expiry");
    ensure!(next.token == mine.token + 1);
    Ok(())
}
