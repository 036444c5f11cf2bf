//! Agent-stale alerts by a hand-set clock: an agent heard from raises nothing; once the clock
//! passes `[cluster] agent_stale_after` since its last heartbeat, one alert is queued in the
//! outbox (and a later look queues no second one); heard from again, one resolve is queued.

use portwatch_monitor::config;
use portwatch_monitor::daemon::{Clock, Daemon};
use portwatch_store::{AgentSeen, OutboxRow, Store};
use std::path::Path;

/// 2026-06-01T00:00:00Z.
const T0: i64 = 1_780_272_000_000;

const CONFIG: &str = "[cluster]\nagent_stale_after = \"3s\"\n\n\
    [[notify]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\n\n\
    [[group]]\nname = \"lab\"\ntargets = [\"127.0.0.1\"]\nports = \"T:1\"\nevery = \"1h\"\n";

async fn heartbeat(store: &Store, at: i64) {
    let seen = AgentSeen {
        name: "lan-1",
        vantage: "lan",
        token_id: 1,
        version: "test",
        addr: "127.0.0.1:40000",
        current_job: None,
    };
    store.agent_seen(&seen, at).await.unwrap();
}

async fn outbox(store: &Store) -> Vec<OutboxRow> {
    store.outbox_due(i64::MAX, 100).await.unwrap()
}

fn title(row: &OutboxRow) -> String {
    let alert: portwatch_monitor::notify::Alert =
        serde_json::from_value(row.payload.clone()).unwrap();
    alert.title()
}

#[tokio::test]
async fn a_quiet_agent_alerts_once_and_resolves_once_when_heard_again() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("pw.db").display());
    let store = Store::open(&url).await.unwrap();
    let settings = config::parse(CONFIG, Path::new("test.toml")).unwrap();
    let clock = Clock::manual(T0);
    let daemon = Daemon::with_clock(settings, store.clone(), clock.clone())
        .await
        .unwrap();

    heartbeat(&store, T0).await;
    clock.advance_ms(3_000);
    daemon.check_agents().await;
    assert!(
        outbox(&store).await.is_empty(),
        "3s unheard is not yet stale"
    );

    clock.advance_ms(1);
    daemon.check_agents().await;
    clock.advance_ms(1_000);
    daemon.check_agents().await;
    let rows = outbox(&store).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].channel, "hook");
    assert!(
        rows[0]
            .idempotency_key
            .starts_with("agents|lan-1|agent-stale|Opened"),
        "{}",
        rows[0].idempotency_key
    );
    assert_eq!(rows[0].payload["vantage"], "lan");
    assert_eq!(
        title(&rows[0]),
        "AGENT STALE lan-1 (vantage lan): not heard from since 2026-06-01T00:00:00Z"
    );
    let book = daemon.book().await;
    assert!(book.get("agents|lan-1|agent-stale").is_some());

    heartbeat(&store, clock.now_ms()).await;
    daemon.check_agents().await;
    daemon.check_agents().await;
    let rows = outbox(&store).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows[1]
            .idempotency_key
            .starts_with("agents|lan-1|agent-stale|Resolved"),
        "{}",
        rows[1].idempotency_key
    );
    assert!(title(&rows[1]).starts_with("AGENT BACK lan-1 (vantage lan)"));
    assert!(daemon.book().await.is_empty());
}
