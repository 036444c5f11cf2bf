//! "Scan now" and its undo, on SQLite and PostgreSQL, with a hand-set clock: a request cancelled
//! before its scan started never runs and leaves the scheduled scan in progress alone; one
//! cancelled while its scan runs (asked of the replica that does not schedule) stops that scan
//! with nothing of it applied. The group scans from a vantage no agent serves, so an
//! observation waits for an agent until the test plays one.

mod notify_support;
mod replica_support;

use anyhow::{Context, Result, ensure};
use portwatch_monitor::daemon::{Clock, Event, ScanRequestState};
use portwatch_store::{ScanRow, ScanStatus, Store};
use portwatch_testkit::{TestDb, both_backends};
use replica_support::{LEASE_MS, Replica, T0};
use std::time::Duration;

/// 2027-01-01T00:00:00Z: the occurrence of the group's yearly schedule after [`T0`].
const NEW_YEAR: i64 = 1_798_761_600_000;

both_backends!(
    a_running_requested_scan_cancelled_on_the_follower_stops_with_nothing_applied,
    a_running_requested_scan_cancelled_on_the_leader_stops_and_the_loop_goes_on,
    a_request_cancelled_before_its_scan_started_never_runs_and_the_scheduled_scan_goes_on,
);

fn config() -> String {
    format!(
        r#"
[cluster]
lease = "{LEASE_MS}ms"

[[group]]
name = "g"
targets = ["127.0.0.1"]
ports = "T:1"
cron = "0 0 1 1 *"
vantages = ["internet"]
[group.scan]
probes = false
[group.policy]
must_be_closed = ["T:1"]
"#
    )
}

/// Polls `check` until it gives a value (at most 20 s, reached only on failure).
async fn until<T, F, Fut>(what: &str, check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    portwatch_testkit::eventually(what, Duration::from_secs(20), check).await
}

async fn running_scan(store: &Store) -> Result<ScanRow> {
    until("a running scan", || async {
        Ok(store
            .scans(10, None)
            .await?
            .into_iter()
            .find(|s| s.status == ScanStatus::Running))
    })
    .await
}

async fn state_of(replica: &Replica, id: i64) -> Result<ScanRequestState> {
    Ok(replica
        .daemon
        .scan_request(id)
        .await?
        .context("the request is kept")?
        .state)
}

async fn a_running_requested_scan_cancelled_on_the_follower_stops_with_nothing_applied(
    db: TestDb,
) -> Result<()> {
    // The group's schedule comes due next year by this clock: only the request scans.
    let clock = Clock::manual(T0);
    let (mut a, _) = Replica::leader(&db.url, &config(), &clock).await;
    let b = Replica::start(&db.url, &config(), &clock).await;
    ensure!(
        b.daemon.request_scan("nope").await?.is_none(),
        "unknown group"
    );

    let request = b.daemon.request_scan("g").await?.context("group g")?;
    ensure!(request.state == ScanRequestState::Pending, "{request:?}");
    // The leader takes it and its scan starts (waiting for an agent of `internet`).
    until("the request running", || async {
        Ok((state_of(&b, request.id).await? == ScanRequestState::Running).then_some(()))
    })
    .await?;
    let store = b.daemon.store();
    let scan = running_scan(store).await?;

    let answer = b.daemon.cancel_scan(request.id).await?.context("kept")?;
    ensure!(
        answer.state == ScanRequestState::Cancelling,
        "asked of the follower, the running scan is stopped by the leader: {answer:?}"
    );
    until("the request cancelled", || async {
        Ok((state_of(&b, request.id).await? == ScanRequestState::Cancelled).then_some(()))
    })
    .await?;
    let row = store.scan(scan.id).await?.context("the scan row stays")?;
    ensure!(row.status == ScanStatus::Failed, "{row:?}");
    ensure!(
        row.error.as_deref()
            == Some(&*format!(
                "cancelled: scan request {} withdrawn",
                request.id
            )),
        "{row:?}"
    );
    ensure!(a.daemon.book().await.is_empty(), "alert states changed");
    ensure!(
        a.scans_seen() == 0,
        "a scan was recorded or reported failed"
    );
    // Cancelling again answers the request as it is; an unknown request is none.
    let again = b.daemon.cancel_scan(request.id).await?.context("kept")?;
    ensure!(again.state == ScanRequestState::Cancelled, "{again:?}");
    ensure!(b.daemon.cancel_scan(request.id + 1000).await?.is_none());
    // The group's loop goes on: a new request runs a new scan.
    let next = b.daemon.request_scan("g").await?.context("group g")?;
    until("the next request running", || async {
        Ok((state_of(&b, next.id).await? == ScanRequestState::Running).then_some(()))
    })
    .await?;
    Ok(())
}

async fn a_request_cancelled_before_its_scan_started_never_runs_and_the_scheduled_scan_goes_on(
    db: TestDb,
) -> Result<()> {
    // 300 ms before the group's yearly occurrence: its scheduled scan starts at once and waits
    // for an agent, so the group is busy when the request comes.
    let clock = Clock::manual(NEW_YEAR - 300);
    let (mut a, _) = Replica::leader(&db.url, &config(), &clock).await;
    let store = a.daemon.store().clone();
    let scheduled = running_scan(&store).await?;

    let request = a.daemon.request_scan("g").await?.context("group g")?;
    // Longer than the leader's look at the requests (every second): still waiting.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ensure!(state_of(&a, request.id).await? == ScanRequestState::Pending);
    let answer = a.daemon.cancel_scan(request.id).await?.context("kept")?;
    ensure!(answer.state == ScanRequestState::Cancelled, "{answer:?}");
    let row = store.scan(scheduled.id).await?.context("kept")?;
    ensure!(
        row.status == ScanStatus::Running,
        "the scheduled scan was touched: {row:?}"
    );

    // The test is the agent: the scheduled scan gets its result and is recorded.
    let claim = until("the scheduled job", || async {
        Ok(store
            .job_claim(
                "internet",
                "test-agent",
                60_000,
                portwatch_monitor::daemon::now_ms(),
            )
            .await?)
    })
    .await?;
    let spec: portwatch_monitor::job::JobSpec = serde_json::from_value(claim.spec.clone())?;
    let result = serde_json::to_value(portwatch_monitor::runner::scan_job(&spec).await?)?;
    store
        .job_complete(
            claim.id,
            claim.attempt,
            &claim.token,
            &result,
            portwatch_monitor::daemon::now_ms(),
        )
        .await?;
    a.wait("the scheduled scan recorded", |e| match e {
        Event::Scanned {
            scan,
            confirmation: false,
            ..
        } if *scan == scheduled.id.0 => Some(()),
        _ => None,
    })
    .await;
    // The loop is free again and woken for the request: it finds nothing to run.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let scans = store.scans(10, None).await?;
    ensure!(
        scans.len() == 1 && scans[0].status == ScanStatus::Complete,
        "only the scheduled scan ran: {scans:?}"
    );
    ensure!(state_of(&a, request.id).await? == ScanRequestState::Cancelled);
    Ok(())
}

async fn a_running_requested_scan_cancelled_on_the_leader_stops_and_the_loop_goes_on(
    db: TestDb,
) -> Result<()> {
    let clock = Clock::manual(T0);
    let (mut a, _) = Replica::leader(&db.url, &config(), &clock).await;
    let store = a.daemon.store().clone();
    let request = a.daemon.request_scan("g").await?.context("group g")?;
    until("the request running", || async {
        Ok((state_of(&a, request.id).await? == ScanRequestState::Running).then_some(()))
    })
    .await?;
    let scan = running_scan(&store).await?;
    let answer = a.daemon.cancel_scan(request.id).await?.context("kept")?;
    ensure!(answer.state == ScanRequestState::Cancelling, "{answer:?}");
    until("the request cancelled", || async {
        Ok((state_of(&a, request.id).await? == ScanRequestState::Cancelled).then_some(()))
    })
    .await?;
    let row = store.scan(scan.id).await?.context("kept")?;
    ensure!(
        row.status == ScanStatus::Failed
            && row.error.as_deref()
                == Some(&*format!(
                    "cancelled: scan request {} withdrawn",
                    request.id
                )),
        "{row:?}"
    );
    ensure!(a.daemon.book().await.is_empty());
    ensure!(
        a.scans_seen() == 0,
        "a scan was recorded or reported failed"
    );
    // The group's loop goes on: the next request starts a new scan.
    let next = a.daemon.request_scan("g").await?.context("group g")?;
    until("the next request running", || async {
        Ok((state_of(&a, next.id).await? == ScanRequestState::Running).then_some(()))
    })
    .await?;
    ensure!(state_of(&a, request.id).await? == ScanRequestState::Cancelled);
    Ok(())
}
