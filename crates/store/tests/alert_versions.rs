//! Row versions of alert states: a write names the version it read and is refused, whole,
//! when another writer got there first; a refused scan can be finished again. Same behaviour
//! on SQLite and PostgreSQL, and a database from before versions upgrades with its rows kept.

mod common;

use anyhow::{Result, ensure};
use common::{OpenStore, TestDb};
use portwatch_store::{AlertStateRow, Effects, NewOutboxMessage, StoreError};
use serde_json::json;

both_backends!(
    a_write_at_the_version_read_lands_and_a_stale_one_is_refused,
    a_new_row_is_refused_when_another_writer_created_it,
    a_scan_refused_for_a_stale_state_writes_nothing_and_can_finish_again,
    a_database_from_before_versions_upgrades_with_its_rows_at_version_1,
);

const T0: i64 = 1_800_000_000_000;

fn state(key: &str, tag: &str, version: i64) -> AlertStateRow {
    AlertStateRow {
        key: key.into(),
        status: "firing".into(),
        since: T0,
        data: json!({ "tag": tag }),
        updated_at: T0,
        version,
    }
}

fn effects(states: Vec<AlertStateRow>, message: &str) -> Effects {
    Effects {
        alert_states: states,
        outbox: vec![NewOutboxMessage {
            idempotency_key: message.into(),
            channel: "webhook".into(),
            payload: json!({}),
        }],
        ..Default::default()
    }
}

fn conflict(e: &StoreError, key: &str, expected: i64) -> bool {
    e.is_conflict()
        && matches!(e, StoreError::Conflict { key: k, expected: v, .. } if k == key && *v == expected)
}

async fn read(store: &portwatch_store::Store, key: &str) -> Result<AlertStateRow> {
    let rows = store.alert_states().await?;
    let row = rows.into_iter().find(|r| r.key == key);
    row.ok_or_else(|| anyhow::anyhow!("no row {key}"))
}

async fn a_write_at_the_version_read_lands_and_a_stale_one_is_refused(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    store
        .write_effects(&effects(vec![state("k", "created", 0)], "m1"))
        .await?;
    let first = read(&store, "k").await?;
    ensure!(first.version == 1, "{first:?}");
    // Two writers read version 1; the first to write wins and moves the row to version 2.
    store
        .write_effects(&effects(vec![state("k", "acknowledged", 1)], "m2"))
        .await?;
    ensure!(read(&store, "k").await?.version == 2);
    let before = db.counts().await?;
    let e = store
        .write_effects(&effects(
            vec![state("other", "new", 0), state("k", "stale", 1)],
            "m3",
        ))
        .await
        .expect_err("a write based on version 1 after version 2 must be refused");
    ensure!(conflict(&e, "k", 1), "{e}");
    ensure!(e.to_string().contains("changed by another writer"), "{e}");
    // Refused whole: neither the other row nor the message of that write was written.
    ensure!(db.counts().await? == before);
    let row = read(&store, "k").await?;
    ensure!(
        row.data == json!({"tag": "acknowledged"}) && row.version == 2,
        "{row:?}"
    );
    // Read again, decided again: it lands.
    store
        .write_effects(&effects(vec![state("k", "decided again", 2)], "m3"))
        .await?;
    ensure!(read(&store, "k").await?.version == 3);
    Ok(())
}

async fn a_new_row_is_refused_when_another_writer_created_it(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    let other = db.open().await?;
    other
        .write_effects(&effects(vec![state("k", "theirs", 0)], "m1"))
        .await?;
    let e = store
        .write_effects(&effects(vec![state("k", "mine", 0)], "m2"))
        .await
        .expect_err("creating a row that exists must be refused");
    ensure!(conflict(&e, "k", 0), "{e}");
    ensure!(read(&store, "k").await?.data == json!({"tag": "theirs"}));
    // A version no row has (deleted meanwhile) is refused too.
    let e = store
        .write_effects(&effects(vec![state("gone", "x", 4)], "m3"))
        .await
        .expect_err("updating a row that is not there must be refused");
    ensure!(conflict(&e, "gone", 4), "{e}");
    Ok(())
}

async fn a_scan_refused_for_a_stale_state_writes_nothing_and_can_finish_again(
    db: TestDb,
) -> Result<()> {
    let store = db.open().await?;
    store
        .write_effects(&effects(vec![state("k", "created", 0)], "m1"))
        .await?;
    store
        .write_effects(&effects(vec![state("k", "acknowledged", 1)], "m2"))
        .await?;
    let o = common::outcome(
        &[("10.9.0.1", true)],
        &[22],
        vec![common::port("10.9.0.1", 22, "open")],
    );
    let id = store.begin_scan(&common::new_scan(&o)).await?;
    let before = db.counts().await?;
    let e = store
        .finish_scan(id, &o, &effects(vec![state("k", "scan", 1)], "m3"))
        .await
        .expect_err("a scan deciding on version 1 must be refused");
    ensure!(conflict(&e, "k", 1), "{e}");
    ensure!(
        db.counts().await? == before,
        "the refused scan wrote something"
    );
    let running = format!(
        "SELECT COUNT(*) FROM scans WHERE id = {} AND status = 'running'",
        id.0
    );
    ensure!(db.scalar(&running).await? == 1);
    // Decided again on version 2, the same scan finishes.
    store
        .finish_scan(id, &o, &effects(vec![state("k", "scan", 2)], "m3"))
        .await?;
    ensure!(db.scalar(&running).await? == 0);
    let row = read(&store, "k").await?;
    ensure!(
        row.data == json!({"tag": "scan"}) && row.version == 3,
        "{row:?}"
    );
    ensure!(db.counts().await?["spans"] == before["spans"] + 1);
    Ok(())
}

async fn a_database_from_before_versions_upgrades_with_its_rows_at_version_1(
    db: TestDb,
) -> Result<()> {
    // The schema of the previous release: migration 8 not applied, no version column, and a
    // row written the way that release wrote it.
    drop(db.open().await?);
    db.exec("ALTER TABLE alert_states DROP COLUMN version")
        .await?;
    db.exec("DELETE FROM _sqlx_migrations WHERE version = 8")
        .await?;
    db.exec(&format!(
        "INSERT INTO alert_states (key, status, since, data, updated_at) \
         VALUES ('old', 'firing', {T0}, '{{\"tag\":\"old\"}}', {T0})"
    ))
    .await?;
    let store = db.open().await?;
    let row = read(&store, "old").await?;
    ensure!(
        row.version == 1 && row.data == json!({"tag": "old"}),
        "{row:?}"
    );
    let e = store
        .write_effects(&effects(vec![state("old", "stale", 0)], "m1"))
        .await
        .expect_err("the old row exists");
    ensure!(conflict(&e, "old", 0), "{e}");
    store
        .write_effects(&effects(vec![state("old", "new", 1)], "m1"))
        .await?;
    ensure!(read(&store, "old").await?.version == 2);
    Ok(())
}
