//! Outbox claims: several stores (processes) on one database share the outbox, each message
//! claimed by one of them at a time, with leases that expire and fenced records. Same
//! behaviour on SQLite and PostgreSQL; times are passed in, so leases are tested in ms.

mod common;

use anyhow::{Result, ensure};
use common::{OpenStore, TestDb};
use portwatch_store::{Effects, NewOutboxMessage, Store};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

both_backends!(
    two_stores_claim_each_message_once,
    an_expired_claim_is_taken_over_and_its_late_record_refused,
    released_and_failed_messages_come_back_when_due,
    claims_of_a_dead_process_end_when_the_store_is_opened,
);

async fn claims_of_a_dead_process_end_when_the_store_is_opened(db: TestDb) -> Result<()> {
    let a = db.open().await?;
    queue(&a, ["m".to_string()], "webhook").await?;
    let t0 = base_time();
    let lease = Duration::from_hours(1);
    ensure!(a.outbox_claim(t0, lease, 10, &[]).await?.len() == 1);
    let machine = a
        .claimant()
        .rsplitn(3, '/')
        .nth(2)
        .unwrap_or_default()
        .to_string();
    // A live claimant of this machine (this test process) keeps its claim across opens.
    let b = db.open().await?;
    ensure!(b.outbox_claim(t0 + 1, lease, 10, &[]).await?.is_empty());
    // The same claim as if held by a process that no longer exists.
    db.exec(&format!(
        "UPDATE outbox SET claimed_by = '{machine}/2147483646/0'"
    ))
    .await?;
    let c = db.open().await?;
    let taken = c.outbox_claim(t0 + 1, lease, 10, &[]).await?;
    ensure!(
        taken.len() == 1 && taken[0].message.attempts == 0,
        "{taken:?}"
    );
    Ok(())
}

async fn queue(store: &Store, keys: impl IntoIterator<Item = String>, channel: &str) -> Result<()> {
    let outbox = keys
        .into_iter()
        .map(|k| NewOutboxMessage {
            idempotency_key: k,
            channel: channel.into(),
            payload: json!({"n": 1}),
        })
        .collect();
    store
        .write_effects(&Effects {
            alert_states: vec![],
            outbox,
            ..Default::default()
        })
        .await?;
    Ok(())
}

/// Claims and records until nothing is left; returns the ids this store delivered.
async fn drain(store: Store, now: i64) -> Result<Vec<i64>> {
    let mut mine = Vec::new();
    loop {
        let claims = store
            .outbox_claim(now, Duration::from_mins(1), 3, &[])
            .await?;
        if claims.is_empty() {
            return Ok(mine);
        }
        for c in claims {
            ensure!(store.outbox_record_delivered(c.ticket, now).await?);
            mine.push(c.message.id);
        }
        tokio::task::yield_now().await;
    }
}

async fn two_stores_claim_each_message_once(db: TestDb) -> Result<()> {
    let a = db.open().await?;
    let b = db.open().await?;
    ensure!(a.claimant() != b.claimant());
    queue(&a, (0..60).map(|i| format!("m{i}")), "webhook").await?;
    let now = base_time();
    let (ra, rb) = tokio::join!(
        tokio::spawn(drain(a.clone(), now)),
        tokio::spawn(drain(b.clone(), now))
    );
    let (ra, rb) = (ra??, rb??);
    let sa: BTreeSet<i64> = ra.iter().copied().collect();
    let sb: BTreeSet<i64> = rb.iter().copied().collect();
    ensure!(
        sa.len() == ra.len() && sb.len() == rb.len(),
        "one store claimed a message twice"
    );
    ensure!(
        sa.is_disjoint(&sb),
        "both stores claimed {:?}",
        sa.intersection(&sb).collect::<Vec<_>>()
    );
    ensure!(sa.len() + sb.len() == 60, "{} + {}", sa.len(), sb.len());
    ensure!(
        db.scalar("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NOT NULL AND attempts = 1 AND claimed_by IS NULL")
            .await?
            == 60
    );
    Ok(())
}

fn base_time() -> i64 {
    1_800_000_000_000
}

async fn an_expired_claim_is_taken_over_and_its_late_record_refused(db: TestDb) -> Result<()> {
    let a = db.open().await?;
    let b = db.open().await?;
    queue(&a, ["only".to_string()], "webhook").await?;
    let t0 = base_time();
    let lease = Duration::from_millis(500);
    let first = a.outbox_claim(t0, lease, 10, &[]).await?;
    ensure!(
        first.len() == 1 && first[0].expires_at == t0 + 500,
        "{first:?}"
    );
    // While the lease runs, nobody else gets it, not even the same store again.
    ensure!(b.outbox_claim(t0 + 499, lease, 10, &[]).await?.is_empty());
    ensure!(a.outbox_claim(t0 + 499, lease, 10, &[]).await?.is_empty());
    // Its holder died (or hangs): after the lease, another store takes it over.
    let second = b.outbox_claim(t0 + 500, lease, 10, &[]).await?;
    ensure!(second.len() == 1 && second[0].ticket.id == first[0].ticket.id);
    ensure!(second[0].ticket.token == first[0].ticket.token + 1);
    // The first holder's late records are refused and change nothing.
    ensure!(!a.outbox_record_delivered(first[0].ticket, t0 + 600).await?);
    ensure!(
        !a.outbox_record_failed(first[0].ticket, "late", t0 + 9_000)
            .await?
    );
    ensure!(!a.outbox_release(first[0].ticket, t0).await?);
    // A ticket of b's is not a's to use either.
    ensure!(
        !a.outbox_record_delivered(second[0].ticket, t0 + 600)
            .await?
    );
    ensure!(
        db.scalar("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND attempts = 0")
            .await?
            == 1
    );
    ensure!(
        b.outbox_record_delivered(second[0].ticket, t0 + 700)
            .await?
    );
    // Recorded once; a repeat of the same record is refused.
    ensure!(
        !b.outbox_record_delivered(second[0].ticket, t0 + 800)
            .await?
    );
    ensure!(
        db.scalar("SELECT delivered_at FROM outbox").await? == t0 + 700
            && db.scalar("SELECT attempts FROM outbox").await? == 1
    );
    ensure!(a.outbox_claim(i64::MAX, lease, 10, &[]).await?.is_empty());
    Ok(())
}

async fn released_and_failed_messages_come_back_when_due(db: TestDb) -> Result<()> {
    let s = db.open().await?;
    queue(&s, ["a1".to_string(), "a2".to_string()], "slow").await?;
    queue(&s, ["b1".to_string()], "fast").await?;
    let t0 = base_time();
    let lease = Duration::from_mins(1);
    // A channel can be left out (its notifier is busy).
    let fast = s.outbox_claim(t0, lease, 10, &["slow".to_string()]).await?;
    ensure!(
        fast.len() == 1 && fast[0].message.channel == "fast",
        "{fast:?}"
    );
    let slow = s.outbox_claim(t0, lease, 10, &[]).await?;
    ensure!(slow.len() == 2 && slow[0].message.idempotency_key == "a1");
    ensure!(
        s.outbox_record_failed(slow[0].ticket, "timeout", t0 + 2_000)
            .await?
    );
    ensure!(s.outbox_release(slow[1].ticket, t0 + 2_000).await?);
    ensure!(
        s.outbox_claim(t0 + 1_999, lease, 10, &["fast".to_string()])
            .await?
            .is_empty()
    );
    let again = s
        .outbox_claim(t0 + 2_000, lease, 10, &["fast".to_string()])
        .await?;
    ensure!(again.len() == 2, "{again:?}");
    ensure!(
        again[0].message.attempts == 1 && again[0].message.last_error.as_deref() == Some("timeout")
    );
    ensure!(
        again[1].message.attempts == 0,
        "a release is not an attempt"
    );
    Ok(())
}
