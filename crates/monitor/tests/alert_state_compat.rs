//! Alert states written by portwatch before the encoding was versioned (the committed fixture
//! `fixtures/alert_states_v0.json`, in the exact shape the daemon stored them) load into the
//! book under the same keys, so an upgrade re-alerts nothing; a row no version can read is
//! reported by key, not dropped in silence.

use portwatch_monitor::alerts::{MessageKind, STATE_VERSION, Status, decode_entry};
use portwatch_monitor::config;
use portwatch_monitor::daemon::{Daemon, state_row};
use portwatch_monitor::policy::Rule;
use portwatch_store::{AlertStateRow, Effects, Store};
use serde_json::{Value, json};
use std::path::Path;

const FIXTURE: &str = include_str!("fixtures/alert_states_v0.json");

fn fixture_rows() -> Vec<AlertStateRow> {
    let rows: Vec<Value> = serde_json::from_str(FIXTURE).unwrap();
    rows.into_iter()
        .map(|r| AlertStateRow {
            key: r["key"].as_str().unwrap().into(),
            status: r["status"].as_str().unwrap().into(),
            since: r["since"].as_i64().unwrap(),
            data: r["data"].clone(),
            updated_at: r["since"].as_i64().unwrap(),
            version: 0,
        })
        .collect()
}

async fn store_with(rows: Vec<AlertStateRow>) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("pw.db").display());
    let store = Store::open(&url).await.unwrap();
    store
        .write_effects(&Effects {
            alert_states: rows,
            outbox: vec![],
            ..Default::default()
        })
        .await
        .unwrap();
    (dir, store)
}

fn settings() -> config::Settings {
    config::parse(
        "[[group]]\nname = \"file-servers\"\ntargets = [\"127.0.0.1\"]\ncron = \"0 0 1 1 *\"\n\
         [group.policy]\nmust_be_closed = [\"445\"]\n",
        Path::new("test.toml"),
    )
    .unwrap()
}

#[tokio::test]
async fn states_written_before_versioning_load_under_the_same_keys() {
    let (_dir, store) = store_with(fixture_rows()).await;
    let daemon = Daemon::new(settings(), store).await.unwrap();
    assert!(daemon.unreadable_states().is_empty());
    let book = daemon.book().await;
    let keys: Vec<&str> = book.iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "file-servers|10.0.0.5|445/tcp|MustBeClosed",
            "web-servers|192.0.2.10|8080/tcp|Unexpected",
            "web-servers|192.0.2.11|HostDown",
        ]
    );
    for (key, entry) in book.iter() {
        assert_eq!(
            &entry.finding.key(),
            key,
            "the key rebuilt from the finding matches"
        );
    }
    let smb = book
        .get("file-servers|10.0.0.5|445/tcp|MustBeClosed")
        .expect("tracked");
    assert_eq!(smb.status, Status::Firing);
    assert!(smb.acknowledged);
    assert_eq!(smb.notified_ms, Some(1_700_000_001_000));
    assert_eq!(smb.finding.rule, Rule::MustBeClosed);
    let web = book
        .get("web-servers|192.0.2.10|8080/tcp|Unexpected")
        .expect("tracked");
    assert_eq!(web.status, Status::Resolving);
    assert_eq!(web.silenced_until_ms, Some(1_700_100_000_000));
    let down = book
        .get("web-servers|192.0.2.11|HostDown")
        .expect("tracked");
    assert_eq!(
        (down.status, down.finding.rule),
        (Status::Pending, Rule::HostDown)
    );
}

#[tokio::test]
async fn saved_states_carry_the_version_and_read_back() {
    let rows = fixture_rows();
    for row in &rows {
        let entry = decode_entry(row.data.clone()).unwrap();
        let saved = state_row(&row.key, Some(&entry), 0);
        assert_eq!(saved.data["v"], json!(STATE_VERSION));
        assert_eq!(saved.status, row.status, "the status word is unchanged");
        assert_eq!(decode_entry(saved.data).unwrap(), entry);
    }
}

#[tokio::test]
async fn unreadable_rows_are_reported_by_key_not_dropped_silently() {
    let mut rows = fixture_rows();
    let mut newer = rows[0].clone();
    newer.key = "file-servers|10.0.0.9|445/tcp|MustBeClosed".into();
    newer.data["v"] = json!(STATE_VERSION + 1);
    let mut garbled = rows[0].clone();
    garbled.key = "file-servers|10.0.0.8|445/tcp|MustBeClosed".into();
    garbled.data["finding"]["rule"] = json!("must-be-shut");
    rows.extend([newer, garbled]);
    let (_dir, store) = store_with(rows).await;
    let daemon = Daemon::new(settings(), store).await.unwrap();
    let mut bad = daemon.unreadable_states().to_vec();
    bad.sort();
    assert_eq!(
        bad,
        [
            "file-servers|10.0.0.8|445/tcp|MustBeClosed",
            "file-servers|10.0.0.9|445/tcp|MustBeClosed",
        ]
    );
    assert_eq!(daemon.book().await.len(), 3, "the readable rows still load");
}

#[test]
fn idempotency_keys_use_the_frozen_spellings() {
    let names: Vec<&str> = [
        MessageKind::Opened,
        MessageKind::Reminder,
        MessageKind::Resolved,
    ]
    .iter()
    .map(|k| k.key_name())
    .collect();
    assert_eq!(names, ["Opened", "Reminder", "Resolved"]);
    let rules: Vec<&str> = [
        Rule::MustBeClosed,
        Rule::Unexpected,
        Rule::ExpectedOpen,
        Rule::HostDown,
        Rule::CannotVerify,
    ]
    .iter()
    .map(|r| r.key_name())
    .collect();
    assert_eq!(
        rules,
        [
            "MustBeClosed",
            "Unexpected",
            "ExpectedOpen",
            "HostDown",
            "CannotVerify"
        ]
    );
}

#[tokio::test]
async fn states_without_a_vantage_are_local_and_other_vantages_get_their_own_key() {
    let mut rows = fixture_rows();
    // Written before vantages existed: the finding has no `vantage`, so it is `local` and its
    // key is the one stored.
    assert!(rows[0].data["finding"].get("vantage").is_none());
    let mut internet = rows[0].clone();
    internet.data["finding"]["vantage"] = json!("internet");
    internet.key = "file-servers|10.0.0.5|445/tcp|MustBeClosed|from:internet".into();
    rows.push(internet);
    let (_dir, store) = store_with(rows).await;
    let daemon = Daemon::new(settings(), store).await.unwrap();
    assert!(daemon.unreadable_states().is_empty());
    let book = daemon.book().await;
    let local = book
        .get("file-servers|10.0.0.5|445/tcp|MustBeClosed")
        .expect("tracked");
    assert_eq!(local.finding.vantage, "local");
    let remote = book
        .get("file-servers|10.0.0.5|445/tcp|MustBeClosed|from:internet")
        .expect("tracked");
    assert_eq!(remote.finding.vantage, "internet");
    for (key, entry) in book.iter() {
        assert_eq!(&entry.finding.key(), key);
    }
    // Saved again, the local entry's JSON names its vantage and reads back the same.
    let saved = state_row(&local.finding.key(), Some(local), 0);
    assert_eq!(saved.data["finding"]["vantage"], json!("local"));
    assert_eq!(decode_entry(saved.data).unwrap(), *local);
}
