//! "Scan now" request rows: pending until claimed, cancelled at once while pending, marked
//! cancelling while running, ended once, given up when a leader changes, and forgotten a day
//! later. Same behaviour on SQLite and PostgreSQL; times are passed in.

mod common;

use anyhow::{Context, Result, ensure};
use common::{OpenStore, TestDb};
use portwatch_store::ScanRequestState::{
    Cancelled, Cancelling, Done, Interrupted, Pending, Running,
};

both_backends!(
    a_request_goes_from_pending_to_running_to_done,
    a_cancel_stops_what_has_not_ended_and_leaves_the_rest,
    a_new_leader_gives_up_running_requests_and_old_ones_are_forgotten,
);

const T0: i64 = 1_800_000_000_000;

async fn a_request_goes_from_pending_to_running_to_done(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    let a = store.scan_request_add("lab", T0).await?;
    let b = store.scan_request_add("lab", T0 + 1).await?;
    let other = store.scan_request_add("web", T0 + 2).await?;
    ensure!(
        a.state == Pending && a.group == "lab" && a.requested_at == T0,
        "{a:?}"
    );
    ensure!(a.id < b.id && b.id < other.id);
    let pending: Vec<i64> = store
        .scan_requests_in(Pending)
        .await?
        .iter()
        .map(|r| r.id)
        .collect();
    ensure!(pending == [a.id, b.id, other.id], "{pending:?}");
    // One claim takes every pending request of the group, once.
    ensure!(store.scan_requests_claim("lab", T0 + 10).await? == [a.id, b.id]);
    ensure!(store.scan_requests_claim("lab", T0 + 11).await?.is_empty());
    let row = store.scan_request(a.id).await?.context("kept")?;
    ensure!(
        row.state == Running && row.updated_at == Some(T0 + 10),
        "{row:?}"
    );
    store
        .scan_requests_finish(&[a.id, b.id], Done, T0 + 20)
        .await?;
    // Ended once: a later finish changes nothing.
    store
        .scan_requests_finish(&[a.id], Cancelled, T0 + 30)
        .await?;
    let row = store.scan_request(a.id).await?.context("kept")?;
    ensure!(
        row.state == Done && row.updated_at == Some(T0 + 20),
        "{row:?}"
    );
    ensure!(store.scan_request(other.id).await?.context("kept")?.state == Pending);
    ensure!(store.scan_request(other.id + 100).await?.is_none());
    Ok(())
}

async fn a_cancel_stops_what_has_not_ended_and_leaves_the_rest(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    let pending = store.scan_request_add("lab", T0).await?;
    let after = store
        .scan_request_cancel(pending.id, T0 + 5)
        .await?
        .context("kept")?;
    ensure!(
        after.state == Cancelled && after.updated_at == Some(T0 + 5),
        "{after:?}"
    );
    // A cancelled request is not claimed.
    ensure!(store.scan_requests_claim("lab", T0 + 6).await?.is_empty());

    let running = store.scan_request_add("lab", T0 + 10).await?;
    store.scan_requests_claim("lab", T0 + 11).await?;
    let after = store
        .scan_request_cancel(running.id, T0 + 12)
        .await?
        .context("kept")?;
    ensure!(after.state == Cancelling, "{after:?}");
    let cancelling: Vec<i64> = store
        .scan_requests_in(Cancelling)
        .await?
        .iter()
        .map(|r| r.id)
        .collect();
    ensure!(cancelling == [running.id], "{cancelling:?}");
    store
        .scan_requests_finish(&[running.id], Cancelled, T0 + 13)
        .await?;
    ensure!(store.scan_request(running.id).await?.context("kept")?.state == Cancelled);

    let done = store.scan_request_add("lab", T0 + 20).await?;
    store.scan_requests_claim("lab", T0 + 21).await?;
    store
        .scan_requests_finish(&[done.id], Done, T0 + 22)
        .await?;
    let after = store
        .scan_request_cancel(done.id, T0 + 23)
        .await?
        .context("kept")?;
    ensure!(
        after.state == Done && after.updated_at == Some(T0 + 22),
        "{after:?}"
    );
    ensure!(
        store
            .scan_request_cancel(done.id + 100, T0)
            .await?
            .is_none()
    );
    Ok(())
}

async fn a_new_leader_gives_up_running_requests_and_old_ones_are_forgotten(
    db: TestDb,
) -> Result<()> {
    let store = db.open().await?;
    let day = 86_400_000;
    let running = store.scan_request_add("lab", T0).await?;
    store.scan_requests_claim("lab", T0 + 1).await?;
    let cancelling = store.scan_request_add("web", T0).await?;
    store.scan_requests_claim("web", T0 + 1).await?;
    store.scan_request_cancel(cancelling.id, T0 + 2).await?;
    let pending = store.scan_request_add("gone", T0).await?;
    ensure!(store.scan_requests_interrupt_running(T0 + 3).await? == 2);
    for id in [running.id, cancelling.id] {
        let row = store.scan_request(id).await?.context("kept")?;
        ensure!(row.state == Interrupted, "{row:?}");
    }
    let fresh = store.scan_request_add("lab", T0 + day).await?;
    // A day on, everything asked for before then that will not change is forgotten; the
    // request asked for since stays.
    ensure!(store.scan_requests_prune(T0 + day).await? == 3);
    ensure!(store.scan_request(pending.id).await?.is_none());
    ensure!(store.scan_request(running.id).await?.is_none());
    ensure!(store.scan_request(fresh.id).await?.context("kept")?.state == Pending);
    Ok(())
}
