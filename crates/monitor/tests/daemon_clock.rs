//! The daemon end to end (real scans of 127.0.0.1 or a silent test-bed address, a real HTTP
//! receiver) deciding by a hand-set clock: maintenance windows, reminders, silences and
//! confirmations are exercised in milliseconds of waiting, not in minutes.

mod notify_support;
mod replica_support;

use notify_support::Receiver;
use portwatch_monitor::alerts::Status;
use portwatch_monitor::config;
use portwatch_monitor::daemon::{Clock, Daemon, Event};
use portwatch_store::{HostOutcome, NewScan, ScanOutcome, ScanStatus, Store};
use portwatch_testkit::TestDb;
use replica_support::{
    T0, confirmation_scanned, first_key, group_config, kinds, receiver_and_open_port,
    round_scanned, spawn_daemon, wait_event,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

struct Running {
    daemon: Arc<Daemon>,
    events: broadcast::Receiver<Event>,
    stop: CancellationToken,
    clock: Clock,
    _db: TestDb,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn start(config_text: &str, seed: impl AsyncFnOnce(&Store)) -> Running {
    start_at(config_text, seed, T0).await
}

async fn start_at(config_text: &str, seed: impl AsyncFnOnce(&Store), t0: i64) -> Running {
    let db = TestDb::sqlite().await.unwrap();
    let store = Store::open(&db.url).await.unwrap();
    seed(&store).await;
    let clock = Clock::manual(t0);
    let (daemon, events, stop) = spawn_daemon(
        store,
        config_text,
        &clock,
        &tokio::runtime::Handle::current(),
    )
    .await;
    Running {
        daemon,
        events,
        stop,
        clock,
        _db: db,
    }
}

impl Running {
    /// Waits for an event `pick` accepts ([`wait_event`]).
    async fn wait<T>(&mut self, what: &str, pick: impl FnMut(&Event) -> Option<T>) -> T {
        wait_event(&mut self.events, what, pick).await
    }

    /// Scans the group now and waits until its confirmation re-probe is recorded.
    async fn scan_and_confirm(&mut self, group: &str) {
        replica_support::scan_and_confirm(&self.daemon, &mut self.events, group).await;
    }

    async fn delivered(&mut self) -> String {
        self.wait("delivery", |e| match e {
            Event::Delivered { title, .. } => Some(title.clone()),
            Event::DeliveryFailed { error, .. } => panic!("delivery failed: {error}"),
            _ => None,
        })
        .await
    }
}

const WINDOW: &str = r#"
[[group.silence]]
from = "2026-06-01T00:01:00Z"
until = "2026-06-01T00:02:00Z"
reason = "switch firmware update"
"#;

#[tokio::test]
async fn resolve_during_a_window_is_sent_when_the_window_ends() {
    let (receiver, listener, port) = receiver_and_open_port().await;
    let mut run = start(&group_config(port, &receiver, "0", WINDOW), async |_| {}).await;

    run.scan_and_confirm("g").await;
    let title = run.delivered().await;
    assert!(title.contains(&port.to_string()), "{title}");
    assert_eq!(kinds(&receiver), ["opened"]);

    // Inside the window: the port closes and its end is confirmed, but the receiver still
    // has the incident open, so the resolve is held, not dropped.
    run.clock.set_ms(T0 + 90_000);
    let settings = run.daemon.settings().await;
    let window = settings.groups[0].active_silence(T0 + 90_000).unwrap();
    assert_eq!(window.reason(), Some("switch firmware update"));
    drop(listener);
    run.scan_and_confirm("g").await;
    let book = run.daemon.book().await;
    let entry = book.iter().map(|(_, e)| e).next().expect("kept while held");
    assert_eq!(entry.status, Status::Resolving);
    assert_eq!(entry.resolved_ms, Some(T0 + 90_000));
    run.daemon.remind().await;
    run.daemon.deliver_due().await;
    assert_eq!(
        kinds(&receiver),
        ["opened"],
        "held while the window is open"
    );

    // The window ends: the held resolve goes out, once.
    run.clock.set_ms(T0 + 121_000);
    run.daemon.remind().await;
    let title = run.delivered().await;
    assert!(title.starts_with("CLOSED"), "{title}");
    assert_eq!(kinds(&receiver), ["opened", "resolved"]);
    assert!(run.daemon.book().await.is_empty());
    run.daemon.remind().await;
    run.daemon.deliver_due().await;
    assert_eq!(kinds(&receiver), ["opened", "resolved"]);
}

#[tokio::test]
async fn resolve_in_window_at_once_is_sent_inside_the_window() {
    let (receiver, listener, port) = receiver_and_open_port().await;
    let group = format!("resolve_in_window = \"at-once\"\n{WINDOW}");
    let mut run = start(&group_config(port, &receiver, "0", &group), async |_| {}).await;
    run.scan_and_confirm("g").await;
    run.delivered().await;
    run.clock.set_ms(T0 + 90_000);
    drop(listener);
    run.scan_and_confirm("g").await;
    run.delivered().await;
    assert_eq!(kinds(&receiver), ["opened", "resolved"]);
}

#[tokio::test]
async fn reminders_and_silences_follow_the_clock() {
    let (receiver, listener, port) = receiver_and_open_port().await;
    let text = group_config(port, &receiver, "1h", "");
    let mut run = start(&text, async |_| {}).await;
    run.scan_and_confirm("g").await;
    run.delivered().await;
    run.clock.set_ms(T0 + 3_599_000);
    run.daemon.remind().await;
    run.daemon.deliver_due().await;
    assert_eq!(kinds(&receiver), ["opened"], "not due before an hour");
    run.clock.set_ms(T0 + 3_600_500);
    run.daemon.remind().await;
    run.delivered().await;
    assert_eq!(kinds(&receiver), ["opened", "reminder"]);

    // Silenced for two hours: the next reminder waits for the silence to end.
    let key = first_key(&run.daemon).await.unwrap();
    assert!(run.daemon.silence(&key, T0 + 3 * 3_600_000).await.unwrap());
    run.clock.set_ms(T0 + 2 * 3_600_000 + 1_000);
    run.daemon.remind().await;
    run.daemon.deliver_due().await;
    assert_eq!(kinds(&receiver), ["opened", "reminder"], "silenced");
    run.clock.set_ms(T0 + 3 * 3_600_000 + 1_000);
    run.daemon.remind().await;
    run.delivered().await;
    assert_eq!(kinds(&receiver), ["opened", "reminder", "reminder"]);
    drop(listener);
}

/// An address on the test bed's `tcp` link that no host holds.
fn silent_testbed_addr() -> Option<String> {
    let text = std::fs::read_to_string("/run/portwatch-testbed/testbed.json").ok()?;
    let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
    let tcp = doc["hosts"]
        .as_array()?
        .iter()
        .find(|h| h["name"] == "tcp")?;
    let addr = tcp["addr4"].as_str()?;
    let silent = format!("{}.99", addr.rsplit_once('.')?.0);
    let route = std::process::Command::new("ip")
        .args(["route", "get", &silent])
        .output()
        .ok()?;
    let veth = tcp["veth_root"].as_str()?;
    String::from_utf8_lossy(&route.stdout)
        .contains(&format!("dev {veth} "))
        .then_some(silent)
}

#[tokio::test]
async fn host_that_answered_before_and_now_answers_nothing_raises_cannot_verify() {
    let silent = silent_testbed_addr().expect("the shared test bed is up (scripts/testbed.sh)");
    let receiver = Receiver::start().await;
    let text = group_config(445, &receiver, "0", "")
        .replace("targets = [\"127.0.0.1\"]", &format!("targets = [\"{silent}\"]"))
        .replace("[group.scan]\n", "[group.scan]\nretries = 0\nmax_rtt_timeout = \"200ms\"\ninitial_rtt_timeout = \"200ms\"\n");
    let addr = silent.parse().unwrap();
    // History says the host was up once (an earlier scan found it).
    let mut run = start(&text, async |store: &Store| {
        let id = store
            .begin_scan(&NewScan {
                source: "check".into(),
                vantage: portwatch_store::LOCAL_VANTAGE.into(),
                args: vec![],
                targets: vec![silent.clone()],
                ports: Default::default(),
            })
            .await
            .unwrap();
        let outcome = ScanOutcome {
            hosts: vec![HostOutcome {
                addr,
                hostname: None,
                up: true,
            }],
            ..Default::default()
        };
        store
            .finish_scan(id, &outcome, &Default::default())
            .await
            .unwrap();
    })
    .await;
    run.scan_and_confirm("g").await;
    let title = run.delivered().await;
    assert!(title.contains("cannot verify"), "{title}");
    let book = run.daemon.book().await;
    let key = format!("g|{silent}|CannotVerify");
    assert_eq!(
        book.get(&key).expect("tracked").status,
        Status::Firing,
        "{book:?}"
    );
    assert_eq!(kinds(&receiver), ["opened"]);
}

fn two_groups(silent: &str, slow_every: &str, db: &str, cap: usize) -> String {
    format!(
        r#"
database = "{db}"
[alerts]
max_concurrent_scans = {cap}

[[group]]
name = "slow"
targets = ["{silent}"]
{slow_every}
[group.scan]
retries = 2
initial_rtt_timeout = "1s"
min_rtt_timeout = "1s"
max_rtt_timeout = "1s"
[group.policy]
must_be_closed = ["445"]

[[group]]
name = "fast"
targets = ["127.0.0.1"]
cron = "0 0 1 1 *"
[group.policy]
must_be_closed = ["1"]
"#
    )
}

#[tokio::test]
async fn reload_lets_scans_in_progress_finish_and_names_what_needs_a_restart() {
    let silent = silent_testbed_addr().expect("the shared test bed is up (scripts/testbed.sh)");
    let before = two_groups(&silent, "cron = \"0 0 1 1 *\"", "sqlite:///tmp/a.db", 1);
    let mut run = start(&before, async |_| {}).await;
    assert!(run.daemon.scan_now("slow").await.unwrap());
    // Wait until the slow group's scan is under way (its row is `running`).
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let scans = run.daemon.store().scans(10, None).await.unwrap();
            if scans.iter().any(|s| s.status == ScanStatus::Running) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the scan started");

    // The slow group changes (schedule), the database too, and the cap grows.
    let after = two_groups(&silent, "cron = \"0 0 2 1 *\"", "sqlite:///tmp/b.db", 3);
    let new = config::parse(&after, Path::new("test.toml")).unwrap();
    let report = run.daemon.reload(new, Some(after.clone())).await.unwrap();
    assert_eq!(report.needs_restart, ["database"]);

    let outcome = run
        .wait("the slow scan's end", |e| match e {
            Event::Scanned { group, .. } if group == "slow" => Some(Ok(())),
            Event::ScanFailed { group, error } if group == "slow" => Some(Err(error.clone())),
            _ => None,
        })
        .await;
    assert_eq!(outcome, Ok(()), "the scan in progress was not interrupted");

    let settings = run.daemon.settings().await;
    assert_eq!(
        settings.database.as_deref(),
        Some("sqlite:///tmp/a.db"),
        "in force"
    );
    assert_eq!(settings.max_concurrent_scans, 3);
    assert_eq!(run.daemon.scan_cap().await, 3);
    let text = run.daemon.config_text().await.unwrap();
    assert!(text.contains("database = \"sqlite:///tmp/a.db\""), "{text}");
    assert!(text.ends_with(&after), "{text}");

    // The unchanged group still answers triggers after the reload.
    assert!(run.daemon.scan_now("fast").await.unwrap());
    run.wait("a scan of the unchanged group", |e| match e {
        Event::Scanned { group, .. } if group == "fast" => Some(()),
        _ => None,
    })
    .await;
}

#[tokio::test]
async fn each_vantage_of_a_group_is_its_own_observation() {
    let (receiver, listener, port) = receiver_and_open_port().await;
    let text = group_config(port, &receiver, "0", "vantages = [\"local\", \"internet\"]");
    let mut run = start(&text, async |_| {}).await;
    assert!(run.daemon.scan_now("g").await.unwrap());
    // From internet no agent runs: that observation waits for one (its job stays queued),
    // and the server's own observation goes ahead meanwhile.
    run.wait("confirmation scan", confirmation_scanned).await;
    let title = run.delivered().await;
    assert!(!title.contains(" from "), "seen from local: {title}");
    let book = run.daemon.book().await;
    let keys: Vec<&str> = book.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, [&format!("g|127.0.0.1|{port}/tcp|MustBeClosed")]);
    let jobs = run.daemon.store().jobs(10).await.unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(
        (jobs[0].group.as_str(), jobs[0].vantage.as_str()),
        ("g", "internet")
    );
    assert_eq!(jobs[0].status, portwatch_store::JobStatus::Queued);
    let scans = run.daemon.store().scans(10, None).await.unwrap();
    let internet: Vec<_> = scans.iter().filter(|s| s.vantage == "internet").collect();
    assert_eq!(
        internet.len(),
        1,
        "the confirmation only re-probes from local"
    );
    assert_eq!(internet[0].status, ScanStatus::Running);
    assert!(
        scans
            .iter()
            .filter(|s| s.vantage == "local")
            .all(|s| s.status == ScanStatus::Complete)
    );
    drop(listener);
}

#[tokio::test]
async fn a_cron_group_runs_each_occurrence_once_by_the_daemons_clock() {
    // The daemon's clock reads 150 ms before a minute boundary and stays there, as if the
    // timer ran ahead of the clock: the occurrence runs once, then the next one is a minute
    // away.
    let text = r#"
[[group]]
name = "g"
targets = ["127.0.0.1"]
cron = "* * * * *"
[group.scan]
probes = false
[group.policy]
must_be_closed = ["T:9"]
"#;
    let mut run = start_at(text, async |_| {}, T0 - 150).await;
    run.wait("the scan at the occurrence", round_scanned).await;
    let again = tokio::time::timeout(Duration::from_millis(1500), async {
        loop {
            if let Ok(Event::Scanned { .. }) = run.events.recv().await {
                return;
            }
        }
    })
    .await;
    assert!(again.is_err(), "one occurrence ran twice");
    let scans = run.daemon.store().scans(10, None).await.unwrap();
    assert_eq!(scans.len(), 1, "{scans:?}");
}
