//! The history's behaviour, the same on SQLite and PostgreSQL.

mod common;

use anyhow::{Result, ensure};
use common::{
    OpenStore, TestDb, open_on, outcome, port, ports_of, run_scan, run_scan_from, with_details,
    with_service,
};
use portwatch_model::{PortState, Proto};
use portwatch_store::{AlertStateRow, Effects, NewOutboxMessage, ScanStatus, StoreError};
use serde_json::json;
use std::collections::BTreeMap;

const A: &str = "10.0.0.1";
const B: &str = "10.0.0.2";
const PORTS: [u16; 4] = [22, 80, 443, 8080];

both_backends!(
    spans_open_close_and_change,
    unchanged_scan_adds_only_its_scan_row,
    unchanged_scans_write_only_their_scan_row,
    down_hosts_keep_their_spans,
    uncovered_ports_are_left_alone,
    caller_mistakes_change_nothing,
    history_and_open_at,
    scans_apply_in_finish_order,
    effects_and_outbox,
    prune_keeps_current_state,
    scan_lifecycle_errors,
    stale_running_scans_become_incomplete,
    vantages_keep_apart_and_only_probed_ports_open,
);

async fn spans_open_close_and_change(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    let (_, r1) = run_scan(&store, &open_on(A, &PORTS, &[22, 80])).await?;
    ensure!(r1.opened == 2 && r1.closed == 0, "first scan: {r1:?}");
    ensure!(
        r1.changed
            .iter()
            .all(|c| c.before.is_none() && c.after.is_some())
    );

    // 80 closes, 443 opens, 22 unchanged (closed results are ignored, not remembered).
    let (_, r2) = run_scan(
        &store,
        &outcome(
            &[(A, true)],
            &PORTS,
            vec![
                port(A, 22, "open"),
                port(A, 80, "closed"),
                port(A, 443, "open"),
            ],
        ),
    )
    .await?;
    ensure!(r2.opened == 1 && r2.closed == 1, "second scan: {r2:?}");
    let changed: Vec<(u16, bool, bool)> = r2
        .changed
        .iter()
        .map(|c| (c.port, c.before.is_some(), c.after.is_some()))
        .collect();
    ensure!(
        changed == vec![(80, true, false), (443, false, true)],
        "{changed:?}"
    );

    // A new service name and new details on 22 (keys in another order than stored) change it;
    // the same details in another key order do not.
    let ssh = with_details(
        with_service(port(A, 22, "open"), "ssh"),
        json!({"banner": "SSH-2.0", "algos": {"b": 1, "a": 2}}),
    );
    let (_, r3) = run_scan(
        &store,
        &outcome(
            &[(A, true)],
            &PORTS,
            vec![ssh.clone(), port(A, 443, "open")],
        ),
    )
    .await?;
    ensure!(
        r3.opened == 1 && r3.closed == 1 && r3.changed.len() == 1,
        "{r3:?}"
    );
    let c = &r3.changed[0];
    ensure!(c.port == 22 && c.before.as_ref().is_some_and(|b| b.service.is_none()));
    ensure!(
        c.after
            .as_ref()
            .is_some_and(|a| a.service.as_deref() == Some("ssh"))
    );
    let reordered = with_details(
        with_service(port(A, 22, "open"), "ssh"),
        json!({"algos": {"a": 2, "b": 1}, "banner": "SSH-2.0"}),
    );
    let (_, r4) = run_scan(
        &store,
        &outcome(&[(A, true)], &PORTS, vec![reordered, port(A, 443, "open")]),
    )
    .await?;
    ensure!(
        r4.opened == 0 && r4.closed == 0 && r4.changed.is_empty(),
        "{r4:?}"
    );

    // open -> open|filtered is a change of state.
    let mut of = port(A, 443, "open|filtered");
    of.reason = portwatch_model::Reason::NoResponse;
    let (_, r5) = run_scan(&store, &outcome(&[(A, true)], &PORTS, vec![ssh, of])).await?;
    ensure!(r5.opened == 1 && r5.closed == 1, "{r5:?}");
    let hosts = store.hosts().await?;
    ensure!(hosts.len() == 1 && hosts[0].open_ports == 2, "{hosts:?}");
    ensure!(db.counts().await?["spans"] == 5);
    Ok(())
}

async fn unchanged_scan_adds_only_its_scan_row(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    let o = outcome(
        &[(A, true), (B, true)],
        &PORTS,
        vec![
            with_details(port(A, 22, "open"), json!({"banner": "x"})),
            port(B, 80, "open"),
            port(B, 443, "closed"),
        ],
    );
    run_scan(&store, &o).await?;
    let before = db.counts().await?;
    let export_before = export_without_scans(&store).await?;
    let (id, report) = run_scan(&store, &o).await?;
    let after = db.counts().await?;
    ensure!(report.opened == 0 && report.closed == 0 && report.changed.is_empty());
    for (table, n) in &before {
        let expected = if *table == "scans" { n + 1 } else { *n };
        ensure!(after[table] == expected, "{table}: {n} -> {}", after[table]);
    }
    ensure!(
        export_without_scans(&store).await? == export_before,
        "spans or hosts changed"
    );
    let row = store.scan(id).await?;
    ensure!(
        row.as_ref()
            .is_some_and(|r| r.status == ScanStatus::Complete)
    );
    let counts = row.and_then(|r| r.counts);
    ensure!(
        counts.is_some_and(|c| c.hosts_up == 2 && c.open == 2),
        "{counts:?}"
    );
    Ok(())
}

/// Rows written per table, counted by triggers: a scan that changes nothing writes only its
/// scan row (inserted when it begins, updated when it finishes), also while a host stays down;
/// a host found down, or back up, writes its host row once. "Last seen" follows.
async fn unchanged_scans_write_only_their_scan_row(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    db.count_writes().await?;
    let both_up = outcome(
        &[(A, true), (B, true)],
        &PORTS,
        vec![port(A, 22, "open"), port(B, 80, "open")],
    );
    let b_down = outcome(&[(A, true), (B, false)], &PORTS, vec![port(A, 22, "open")]);
    let scan_only = BTreeMap::from([("scans".to_string(), 2)]);
    let scan_and_host = BTreeMap::from([("hosts".to_string(), 1), ("scans".to_string(), 2)]);
    let last_seen = |id: portwatch_store::ScanId| {
        let store = &store;
        async move {
            let at = store.scan(id).await?.and_then(|s| s.finished_at);
            anyhow::Ok((at, Some(id)))
        }
    };
    let seen_of = |addr: &'static str| {
        let store = &store;
        async move {
            let h = store.host(addr.parse()?).await?;
            anyhow::Ok(h.map(|h| (h.last_seen_at, h.last_scan_id)))
        }
    };

    run_scan(&store, &both_up).await?;
    db.take_writes().await?;
    let (second, _) = run_scan(&store, &both_up).await?;
    let w = db.take_writes().await?;
    ensure!(w == scan_only, "second scan, nothing changed: {w:?}");
    ensure!(seen_of(A).await? == Some(last_seen(second).await?));
    ensure!(seen_of(B).await? == Some(last_seen(second).await?));

    let (third, _) = run_scan(&store, &b_down).await?;
    let w = db.take_writes().await?;
    ensure!(w == scan_and_host, "B found down: {w:?}");
    let (fourth, _) = run_scan(&store, &b_down).await?;
    let w = db.take_writes().await?;
    ensure!(w == scan_only, "B still down: {w:?}");
    ensure!(seen_of(A).await? == Some(last_seen(fourth).await?));
    ensure!(
        seen_of(B).await? == Some(last_seen(second).await?),
        "B was last seen up by the second scan, not by {third:?} or {fourth:?}"
    );
    let history: Vec<u16> = ports_of(&store.open_at(fourth).await?, B);
    ensure!(
        history == vec![80],
        "a down host keeps its spans: {history:?}"
    );
    // An export and import keeps when each host was last seen up.
    let mut export = Vec::new();
    store.export(&mut export).await?;
    let copy_db = TestDb::sqlite().await?;
    let copy = copy_db.open().await?;
    copy.import(&export[..]).await?;
    for addr in [A, B] {
        let h = copy.host(addr.parse()?).await?;
        let copied = h.map(|h| (h.last_seen_at, h.last_scan_id));
        ensure!(
            copied == seen_of(addr).await?,
            "{addr} after import: {copied:?}"
        );
    }

    let (fifth, _) = run_scan(&store, &both_up).await?;
    let w = db.take_writes().await?;
    ensure!(w == scan_and_host, "B back up: {w:?}");
    ensure!(seen_of(B).await? == Some(last_seen(fifth).await?));
    let (sixth, _) = run_scan(&store, &both_up).await?;
    let w = db.take_writes().await?;
    ensure!(w == scan_only, "both up again, nothing changed: {w:?}");
    ensure!(seen_of(B).await? == Some(last_seen(sixth).await?));
    Ok(())
}

/// The export minus the lines that must change with every scan (the scan rows, and the
/// hosts' last-seen fields), to compare the rest.
async fn export_without_scans(store: &portwatch_store::Store) -> Result<Vec<String>> {
    let mut out = Vec::new();
    store.export(&mut out).await?;
    Ok(String::from_utf8(out)?
        .lines()
        .filter(|l| !l.contains(r#""kind":"scan""#) && !l.contains(r#""kind":"host""#))
        .map(str::to_string)
        .collect())
}

async fn down_hosts_keep_their_spans(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    run_scan(
        &store,
        &outcome(
            &[(A, true), (B, true)],
            &PORTS,
            vec![port(A, 22, "open"), port(B, 80, "open")],
        ),
    )
    .await?;
    // A is down: its results (if any) prove nothing; B is up and 80 closed.
    let (down_scan, r) = run_scan(
        &store,
        &outcome(
            &[(A, false), (B, true)],
            &PORTS,
            vec![port(A, 22, "filtered")],
        ),
    )
    .await?;
    ensure!(
        r.closed == 1 && r.changed.len() == 1 && r.changed[0].host.to_string() == B,
        "{r:?}"
    );
    let at = store.open_at(down_scan).await?;
    ensure!(
        ports_of(&at, A) == vec![22] && ports_of(&at, B).is_empty(),
        "{at:?}"
    );
    let hosts = store.hosts().await?;
    ensure!(
        hosts
            .iter()
            .any(|h| h.addr.to_string() == A && h.open_ports == 1)
    );
    // A never-seen host that is down gets no row.
    run_scan(&store, &outcome(&[("10.0.0.99", false)], &PORTS, vec![])).await?;
    ensure!(store.hosts().await?.len() == 2);
    // A comes back without 22: now it closes.
    let (_, r) = run_scan(&store, &open_on(A, &PORTS, &[])).await?;
    ensure!(r.closed == 1, "{r:?}");
    Ok(())
}

async fn uncovered_ports_are_left_alone(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    run_scan(&store, &open_on(A, &PORTS, &[22, 8080])).await?;
    // A scan of 22 only says nothing about 8080.
    let (id, r) = run_scan(&store, &open_on(A, &[22], &[])).await?;
    ensure!(r.closed == 1 && r.changed[0].port == 22, "{r:?}");
    let at = store.open_at(id).await?;
    ensure!(ports_of(&at, A) == vec![8080], "{at:?}");
    Ok(())
}

async fn caller_mistakes_change_nothing(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    run_scan(&store, &open_on(A, &PORTS, &[22])).await?;
    let before = db.counts().await?;
    let bad = open_on(A, &[22], &[80]);
    let id = store.begin_scan(&common::new_scan(&bad)).await?;
    let e = store.finish_scan(id, &bad, &Effects::default()).await;
    ensure!(matches!(e, Err(StoreError::Usage { .. })), "{e:?}");
    let unknown_host = outcome(&[(A, true)], &[22], vec![port(B, 22, "open")]);
    let e = store
        .finish_scan(id, &unknown_host, &Effects::default())
        .await;
    ensure!(matches!(e, Err(StoreError::Usage { .. })), "{e:?}");
    // The scan is still running and can be finished properly.
    ensure!(
        store
            .scan(id)
            .await?
            .is_some_and(|s| s.status == ScanStatus::Running)
    );
    let good = open_on(A, &[22], &[22]);
    store.finish_scan(id, &good, &Effects::default()).await?;
    let after = db.counts().await?;
    ensure!(after["spans"] == before["spans"] && after["scans"] == before["scans"] + 1);
    Ok(())
}

async fn history_and_open_at(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    let (s1, _) = run_scan(&store, &open_on(A, &PORTS, &[22])).await?;
    let (s2, _) = run_scan(
        &store,
        &outcome(
            &[(A, true), (B, true)],
            &PORTS,
            vec![
                port(A, 22, "open"),
                port(A, 80, "open"),
                port(B, 443, "open"),
            ],
        ),
    )
    .await?;
    let (s3, _) = run_scan(&store, &open_on(A, &PORTS, &[80])).await?;
    // A failed scan is never used.
    let failed = store
        .begin_scan(&common::new_scan(&open_on(A, &PORTS, &[])))
        .await?;
    store.fail_scan(failed, "interrupted").await?;

    ensure!(ports_of(&store.open_at(s1).await?, A) == vec![22]);
    let at2 = store.open_at(s2).await?;
    ensure!(
        ports_of(&at2, A) == vec![22, 80] && ports_of(&at2, B) == vec![443],
        "{at2:?}"
    );
    // s3 did not cover B, so B's still-current span is not part of s3's picture.
    let at3 = store.open_at(s3).await?;
    ensure!(
        ports_of(&at3, A) == vec![80] && ports_of(&at3, B).is_empty(),
        "{at3:?}"
    );
    let e = store.open_at(failed).await;
    ensure!(
        matches!(e, Err(StoreError::ScanNotComplete { .. })),
        "{e:?}"
    );

    let addr = A.parse()?;
    let h = store.history(addr, None).await?;
    let rows: Vec<(u16, i64, Option<i64>)> = h
        .iter()
        .map(|s| (s.port, s.from_scan.0, s.to_scan.map(|t| t.0)))
        .collect();
    ensure!(
        rows == vec![(22, s1.0, Some(s3.0)), (80, s2.0, None)],
        "{rows:?}"
    );
    ensure!(
        h.iter()
            .all(|s| s.snapshot.state == PortState::Open && s.from_at > 0)
    );
    ensure!(h[0].to_at.is_some_and(|t| t >= h[0].from_at));
    let one = store.history(addr, Some((80, Proto::Tcp))).await?;
    ensure!(one.len() == 1 && one[0].port == 80);
    ensure!(
        store
            .history(addr, Some((80, Proto::Udp)))
            .await?
            .is_empty()
    );

    // Every host's spans since a moment: ended ones only if they ended then or later.
    let all = store.spans_since(0).await?;
    ensure!(
        ports_of(&all, A) == vec![22, 80] && ports_of(&all, B) == vec![443],
        "{all:?}"
    );
    let after_s3 = h[0].to_at.map_or(i64::MAX, |t| t + 1);
    let recent = store.spans_since(after_s3).await?;
    ensure!(
        ports_of(&recent, A) == vec![80] && ports_of(&recent, B) == vec![443],
        "{recent:?}"
    );

    let one_host = store.host(addr).await?;
    ensure!(
        one_host.is_some_and(|h| h.addr == addr && h.open_ports == 1),
        "host {A}"
    );
    ensure!(store.host("10.9.9.9".parse()?).await?.is_none());

    let last = store.last_complete_scans(addr, 2).await?;
    let ids: Vec<i64> = last.iter().map(|s| s.id.0).collect();
    ensure!(ids == vec![s3.0, s2.0], "{ids:?}");
    let of_b = store.scans(10, Some(B.parse()?)).await?;
    ensure!(of_b.len() == 1 && of_b[0].id == s2);
    let all = store.scans(10, None).await?;
    ensure!(all.len() == 4 && all[0].id == failed && all[0].status == ScanStatus::Failed);
    ensure!(all[0].error.as_deref() == Some("interrupted"));
    ensure!(all[1].ports == "T:22,80,443,8080", "{}", all[1].ports);
    Ok(())
}

async fn scans_apply_in_finish_order(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    // The older scan finishes last: its view wins, and spans stay ordered by application.
    let slow = open_on(A, &PORTS, &[]);
    let fast = open_on(A, &PORTS, &[22]);
    let slow_id = store.begin_scan(&common::new_scan(&slow)).await?;
    let fast_id = store.begin_scan(&common::new_scan(&fast)).await?;
    store
        .finish_scan(fast_id, &fast, &Effects::default())
        .await?;
    let r = store
        .finish_scan(slow_id, &slow, &Effects::default())
        .await?;
    ensure!(r.closed == 1);
    let h = store.history(A.parse()?, None).await?;
    ensure!(h.len() == 1 && h[0].from_scan == fast_id && h[0].to_scan == Some(slow_id));
    ensure!(ports_of(&store.open_at(fast_id).await?, A) == vec![22]);
    ensure!(store.open_at(slow_id).await?.is_empty());
    let fast_seq = store.scan(fast_id).await?.and_then(|s| s.seq);
    let slow_seq = store.scan(slow_id).await?.and_then(|s| s.seq);
    ensure!(
        fast_seq < slow_seq && fast_seq.is_some(),
        "{fast_seq:?} {slow_seq:?}"
    );
    Ok(())
}

async fn effects_and_outbox(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    let o = open_on(A, &PORTS, &[22]);
    let message = |key: &str| NewOutboxMessage {
        idempotency_key: key.into(),
        channel: "email".into(),
        payload: json!({"text": "22/tcp opened on 10.0.0.1", "z": 1, "a": [1, 2]}),
    };
    let state = AlertStateRow {
        key: "group:web/10.0.0.1:22/tcp".into(),
        status: "firing".into(),
        since: 1_700_000_000_000,
        data: json!({"confirmations": 2}),
        updated_at: 1_700_000_000_000,
        version: 0,
    };
    let id = store.begin_scan(&common::new_scan(&o)).await?;
    let effects = Effects {
        alert_states: vec![state.clone()],
        outbox: vec![message("open-22-1"), message("open-22-1")],
        ..Default::default()
    };
    store.finish_scan(id, &o, &effects).await?;
    // Replaying the same transition (same key) queues nothing more.
    let id = store.begin_scan(&common::new_scan(&o)).await?;
    let r = store
        .finish_scan_with(id, &o, |report| {
            assert!(report.changed.is_empty());
            Effects {
                alert_states: vec![AlertStateRow {
                    status: "resolved".into(),
                    version: 1,
                    ..state.clone()
                }],
                outbox: vec![message("open-22-1"), message("resolve-22-1")],
                ..Default::default()
            }
        })
        .await?;
    ensure!(r.changed.is_empty());
    let states = store.alert_states().await?;
    ensure!(states.len() == 1 && states[0].status == "resolved" && states[0].data == state.data);

    let due = store.outbox_due(i64::MAX, 10).await?;
    let keys: Vec<&str> = due.iter().map(|m| m.idempotency_key.as_str()).collect();
    ensure!(keys == vec!["open-22-1", "resolve-22-1"], "{keys:?}");
    ensure!(due[0].payload == message("x").payload && due[0].attempts == 0);
    store
        .outbox_failed(due[0].id, "connection refused", i64::MAX - 1)
        .await?;
    store.outbox_delivered(due[1].id, 5).await?;
    ensure!(store.outbox_due(i64::MAX - 2, 10).await?.is_empty());
    let again = store.outbox_due(i64::MAX, 10).await?;
    ensure!(again.len() == 1 && again[0].attempts == 1);
    ensure!(again[0].last_error.as_deref() == Some("connection refused"));
    store
        .write_effects(&Effects {
            alert_states: vec![],
            outbox: vec![message("later")],
            ..Default::default()
        })
        .await?;
    ensure!(db.counts().await?["outbox"] == 3);
    Ok(())
}

async fn prune_keeps_current_state(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    let mut last = None;
    for round in 0..6u16 {
        // 22 always open; 1000+round open for one scan each (then closed).
        let o = outcome(
            &[(A, true)],
            &[22, 1000, 1001, 1002, 1003, 1004, 1005],
            vec![port(A, 22, "open"), port(A, 1000 + round, "open")],
        );
        last = Some(run_scan(&store, &o).await?.0);
    }
    let Some(last) = last else { unreachable!() };
    let failed = store
        .begin_scan(&common::new_scan(&open_on(A, &[22], &[])))
        .await?;
    store.fail_scan(failed, "test").await?;
    let picture = store.open_at(last).await?;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    // Keeping a day deletes nothing.
    let none = store.prune(std::time::Duration::from_hours(24)).await?;
    ensure!(none == portwatch_store::PruneReport::default(), "{none:?}");

    let report = store.prune(std::time::Duration::ZERO).await?;
    ensure!(report.spans == 5, "{report:?}");
    // Kept: the scan 22 opened in, the last scan (host's last scan and start of the current
    // 1005 span); the others, including the failed one, go.
    ensure!(report.scans == 5, "{report:?}");
    ensure!(
        store.open_at(last).await? == picture,
        "current state changed"
    );
    let h = store.history(A.parse()?, None).await?;
    ensure!(
        h.len() == 2 && h.iter().all(|s| s.to_scan.is_none()),
        "{h:?}"
    );
    ensure!(db.counts().await?["scans"] == 2);
    // Still consistent for the next scan.
    let (_, r) = run_scan(&store, &open_on(A, &[22, 1005], &[22])).await?;
    ensure!(r.closed == 1 && r.opened == 0);
    Ok(())
}

async fn scan_lifecycle_errors(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    let o = open_on(A, &PORTS, &[]);
    let (id, _) = run_scan(&store, &o).await?;
    let e = store.finish_scan(id, &o, &Effects::default()).await;
    ensure!(matches!(e, Err(StoreError::ScanNotRunning { .. })), "{e:?}");
    let e = store.heartbeat(id).await;
    ensure!(matches!(e, Err(StoreError::ScanNotRunning { .. })), "{e:?}");
    let e = store.fail_scan(portwatch_store::ScanId(9999), "x").await;
    ensure!(matches!(e, Err(StoreError::ScanNotFound { .. })), "{e:?}");
    let running = store.begin_scan(&common::new_scan(&o)).await?;
    store.heartbeat(running).await?;
    let row = store.scan(running).await?;
    ensure!(row.as_ref().is_some_and(|r| r.status == ScanStatus::Running
        && r.pid == Some(i64::from(std::process::id()))
        && r.machine.is_some()
        && r.counts.is_none()));
    // Our own process is alive: reopening does not give the scan up.
    drop(store);
    let store = db.open().await?;
    ensure!(
        store
            .scan(running)
            .await?
            .is_some_and(|r| r.status == ScanStatus::Running)
    );
    Ok(())
}

async fn stale_running_scans_become_incomplete(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    let o = open_on(A, &PORTS, &[22]);
    run_scan(&store, &o).await?;
    let quiet = store.begin_scan(&common::new_scan(&o)).await?;
    let foreign = store.begin_scan(&common::new_scan(&o)).await?;
    let fresh = store.begin_scan(&common::new_scan(&o)).await?;
    // `quiet`: alive pid but no heartbeat for 11 minutes; `foreign`: another machine, fresh.
    db.exec(&format!(
        "UPDATE scans SET heartbeat_at = heartbeat_at - 660000 WHERE id = {}",
        quiet.0
    ))
    .await?;
    db.exec(&format!(
        "UPDATE scans SET hostname = 'elsewhere', pid = 1 WHERE id = {}",
        foreign.0
    ))
    .await?;
    ensure!(store.recover_stale_scans().await? == 1);
    let status = |id| {
        let store = store.clone();
        async move { Ok::<_, anyhow::Error>(store.scan(id).await?.map(|s| s.status)) }
    };
    ensure!(status(quiet).await? == Some(ScanStatus::Incomplete));
    ensure!(status(foreign).await? == Some(ScanStatus::Running));
    ensure!(status(fresh).await? == Some(ScanStatus::Running));
    let e = store.finish_scan(quiet, &o, &Effects::default()).await;
    ensure!(matches!(e, Err(StoreError::ScanNotRunning { .. })), "{e:?}");
    ensure!(store.open_at(quiet).await.is_err());
    Ok(())
}

/// The same address seen from two vantages is two hosts with their own spans; a port is only
/// reported opened when an earlier observation from the SAME vantage probed it.
async fn vantages_keep_apart_and_only_probed_ports_open(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    // From lan: 22 and 445 open on A, the group probes 22 and 445.
    let (_, r1) = run_scan_from(&store, "lan", &open_on(A, &[22, 445], &[22, 445])).await?;
    ensure!(r1.opened == 2, "{r1:?}");
    ensure!(
        r1.changed.iter().all(|c| !c.covered_before && !c.opened()),
        "a host seen for the first time has no port that opened: {r1:?}"
    );
    // From internet: only 22 answers. Nothing of lan's state is touched.
    let (internet_scan, r2) =
        run_scan_from(&store, "internet", &open_on(A, &[22, 445], &[22])).await?;
    ensure!(r2.opened == 1 && r2.closed == 0, "{r2:?}");
    let rows = store.host_rows(A.parse()?, None).await?;
    let seen: Vec<(&str, u64)> = rows
        .iter()
        .map(|h| (h.vantage.as_str(), h.open_ports))
        .collect();
    ensure!(seen == vec![("internet", 1), ("lan", 2)], "{seen:?}");
    let open = store.open_at(internet_scan).await?;
    ensure!(
        open.iter().all(|s| s.vantage == "internet") && ports_of(&open, A) == vec![22],
        "{open:?}"
    );
    let scan = store.scan(internet_scan).await?;
    ensure!(scan.is_some_and(|s| s.vantage == "internet"));
    // lan's port list grows to 8080 (open all along) while 443 opens... 443 was never probed
    // either: both are first observations. 445 closing is a change lan saw.
    let (_, r3) = run_scan_from(
        &store,
        "lan",
        &open_on(A, &[22, 443, 445, 8080], &[22, 443, 8080]),
    )
    .await?;
    let changes: Vec<(u16, bool, bool)> = r3
        .changed
        .iter()
        .map(|c| (c.port, c.covered_before, c.opened()))
        .collect();
    ensure!(
        changes
            == vec![
                (443, false, false),
                (445, true, false),
                (8080, false, false)
            ],
        "{changes:?}"
    );
    // 445 opens again from lan: probed before, so it opened.
    let (_, r4) = run_scan_from(
        &store,
        "lan",
        &open_on(A, &[22, 443, 445, 8080], &[22, 443, 445, 8080]),
    )
    .await?;
    ensure!(
        r4.changed.len() == 1 && r4.changed[0].port == 445 && r4.changed[0].opened(),
        "{r4:?}"
    );
    // 445 from internet: the internet vantage probed it before (closed), so it opened there
    // too, as a change of internet's own host row.
    let (_, r5) = run_scan_from(&store, "internet", &open_on(A, &[22, 445], &[22, 445])).await?;
    ensure!(
        r5.opened == 1 && r5.changed.len() == 1 && r5.changed[0].opened(),
        "{r5:?}"
    );
    let history = store
        .history_from(A.parse()?, Some("internet"), None)
        .await?;
    let ports: Vec<u16> = history.iter().map(|s| s.port).collect();
    ensure!(ports == vec![22, 445], "{ports:?}");
    ensure!(store.history(A.parse()?, None).await?.len() == 7);
    // The local row was never made: `host` finds the first vantage by name.
    ensure!(
        store
            .host(A.parse()?)
            .await?
            .is_some_and(|h| h.vantage == "internet")
    );
    Ok(())
}
