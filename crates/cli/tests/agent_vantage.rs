//! The whole path through real processes: `portwatch run` (SQLite) with a group scanned from
//! vantage `lan`, a `portwatch agent` holding a `lan` token, and a webhook receiver. A
//! must-be-closed port open on 127.0.0.1 gives exactly one OPEN alert naming the vantage, the
//! stored scan is from `lan`, and closing the port gives exactly one RESOLVED. The agent
//! killed with SIGKILL gives one AGENT STALE alert, started again one AGENT BACK.

#[path = "common/cluster.rs"]
mod cluster;
mod common;
#[path = "common/receiver.rs"]
mod receiver;

use cluster::{agent_token, jobs, scans, start_agent_in, start_run};
use common::{Logged, free_port, pg_db, wait_for};
use portwatch_store::JobStatus;
use receiver::{Received, Receiver};
use std::path::Path;
use std::time::Duration;

fn start_agent(port: u16, token: &str, spool: &Path) -> Logged {
    let url = format!("http://127.0.0.1:{port}");
    start_agent_in(None, &url, token, "lan-1", spool, &[])
}

fn events<'a>(got: &'a [Received], event: &str, rule: &str) -> Vec<&'a Received> {
    got.iter()
        .filter(|r| {
            let j = r.json();
            j["event"] == event && j["alert"]["rule"] == rule
        })
        .collect()
}

/// Finished scheduled scans of `lab` from `lan` in the store.
fn lan_scans(db: &str) -> usize {
    scans(db)
        .iter()
        .filter(|s| s.source == "monitor:lab" && s.vantage == "lan")
        .filter(|s| s.finished_at.is_some())
        .count()
}

/// Jobs of `lab` from `lan` recorded as an observation (`applied`).
fn applied_jobs(db: &str) -> usize {
    jobs(db)
        .iter()
        .filter(|j| j.group == "lab" && j.vantage == "lan")
        .filter(|j| j.status == JobStatus::Applied)
        .count()
}

#[test]
fn a_port_seen_from_lan_and_an_agent_gone_quiet_alert_once_each_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("pw.db").display());
    end_to_end(dir.path(), &db);
}

#[test]
fn a_port_seen_from_lan_and_an_agent_gone_quiet_alert_once_each_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let db = pg_db();
    end_to_end(dir.path(), &db.url);
}

fn end_to_end(dir: &Path, db: &str) {
    let db = db.to_string();
    let rx = Receiver::start();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let config = dir.join("pw.toml");
    std::fs::write(
        &config,
        format!(
            "[cluster]\nagent_stale_after = \"3s\"\n\n[alerts]\nconfirm_after = \"500ms\"\n\n\
             [[notify]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\n\n\
             [[group]]\nname = \"lab\"\ntargets = [\"127.0.0.1\"]\nports = \"T:{open}\"\n\
             every = \"2s\"\nvantages = [\"lan\"]\n[group.policy]\nmust_be_closed = [\"{open}\"]\n",
            rx.url("/hook")
        ),
    )
    .unwrap();
    let token = agent_token(&db, "lan", "lan-1");
    let port = free_port();
    let server = start_run(
        &[
            "--config",
            config.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database",
            &db,
            "--agent-lease",
            "2s",
        ],
        Duration::from_secs(30),
    );
    let spool = dir.join("spool");
    let mut agent = start_agent(port, &token, &spool);

    // The open port: one OPEN, from lan.
    let got = rx.wait_for(Duration::from_secs(30), |g| {
        !events(g, "opened", "must be closed").is_empty()
    });
    let opened = events(&got, "opened", "must be closed");
    assert_eq!(
        opened.len(),
        1,
        "server:\n{}\nagent:\n{}",
        server.log.lock().unwrap(),
        agent.log.lock().unwrap()
    );
    let j = opened[0].json();
    assert_eq!(j["vantage"], "lan", "{j}");
    let text = j["text"].as_str().unwrap_or_default();
    assert!(text.contains("from lan"), "{text}");
    assert!(lan_scans(&db) >= 1, "a finished scan from lan is stored");
    assert!(
        applied_jobs(&db) >= 1,
        "the agent's jobs are recorded as applied"
    );
    // Two more rounds while it stays open: still one OPEN.
    let before = lan_scans(&db);
    wait_for("two more scans from lan", Duration::from_secs(20), || {
        lan_scans(&db) >= before + 2
    });
    assert_eq!(events(&rx.received(), "opened", "must be closed").len(), 1);

    // Closed: one RESOLVED.
    drop(listener);
    let got = rx.wait_for(Duration::from_secs(30), |g| {
        !events(g, "resolved", "must be closed").is_empty()
    });
    assert_eq!(events(&got, "resolved", "must be closed").len(), 1);

    // The agent killed: one AGENT STALE naming it and its vantage.
    agent.child.0.kill().unwrap();
    let _ = agent.child.0.wait();
    let got = rx.wait_for(Duration::from_secs(30), |g| {
        !events(g, "opened", "agent stale").is_empty()
    });
    let stale = events(&got, "opened", "agent stale");
    assert_eq!(stale.len(), 1, "{got:?}");
    let j = stale[0].json();
    assert_eq!(j["vantage"], "lan", "{j}");
    let title = j["title"].as_str().unwrap_or_default();
    assert!(
        title.starts_with("AGENT STALE lan-1 (vantage lan): not heard from since "),
        "{title}"
    );
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(events(&rx.received(), "opened", "agent stale").len(), 1);

    // Back: one resolve.
    let _agent = start_agent(port, &token, &spool);
    let got = rx.wait_for(Duration::from_secs(30), |g| {
        !events(g, "resolved", "agent stale").is_empty()
    });
    let back = events(&got, "resolved", "agent stale");
    assert_eq!(back.len(), 1, "{got:?}");
    let title = back[0].json()["title"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        title.starts_with("AGENT BACK lan-1 (vantage lan)"),
        "{title}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(events(&rx.received(), "resolved", "agent stale").len(), 1);
    assert_eq!(events(&rx.received(), "opened", "agent stale").len(), 1);
}
