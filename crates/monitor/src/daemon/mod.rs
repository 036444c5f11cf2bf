//! The monitor daemon: one loop per group (interval or cron, with jitter, never overlapping
//! itself, under a cap on concurrent scans), confirmation re-probes, the alert book, an outbox
//! delivery loop with retries and backoff, and reminders. Every state change and the messages
//! it causes are written in one transaction with the scan that caused them.

mod delivery;
mod payload;
mod process;
mod schedule;

use crate::alerts::{AlertBook, AlertRules, Entry, Status};
use crate::config::Settings;
use crate::notify::{self, Notifier};
use portwatch_store::{AlertStateRow, Effects, Store};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{Mutex, Notify, RwLock, Semaphore, broadcast};
use tokio_util::sync::CancellationToken;

pub use payload::alert_for;

/// Something that happened, for people watching (`watch` prints these; the web shows them).
#[derive(Debug, Clone)]
pub enum Event {
    /// A group scan finished and was recorded.
    Scanned {
        /// The group.
        group: String,
        /// The stored scan id.
        scan: i64,
        /// Whether it was a confirmation re-probe.
        confirmation: bool,
        /// Hosts scanned and hosts up.
        hosts: (usize, usize),
        /// Violations seen in this scan (before confirmation).
        violations: usize,
        /// Seconds it took.
        elapsed_s: f64,
    },
    /// A scan failed.
    ScanFailed {
        /// The group.
        group: String,
        /// Why.
        error: String,
    },
    /// A message was queued for delivery.
    Queued(Box<notify::Alert>),
    /// A message was delivered.
    Delivered {
        /// Notifier name.
        channel: String,
        /// Alert title.
        title: String,
        /// What the peer answered.
        status: String,
    },
    /// A delivery attempt failed (it will be retried).
    DeliveryFailed {
        /// Notifier name.
        channel: String,
        /// Alert title.
        title: String,
        /// Why.
        error: String,
    },
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Shared state of a running daemon.
pub struct Daemon {
    settings: RwLock<Arc<Settings>>,
    store: Store,
    notifiers: RwLock<BTreeMap<String, Arc<dyn Notifier>>>,
    book: Mutex<AlertBook>,
    permits: Arc<Semaphore>,
    triggers: Mutex<BTreeMap<String, Arc<Notify>>>,
    group_locks: Mutex<BTreeMap<String, Arc<Mutex<()>>>>,
    outbox_wake: Notify,
    delivery: std::sync::Mutex<delivery::DeliveryState>,
    reloaded: Notify,
    events: broadcast::Sender<Event>,
}

/// The status the store keeps for a resolved (removed) entry.
const RESOLVED: &str = "resolved";

impl Daemon {
    /// A daemon over `store`, with the alert book the store remembers.
    pub async fn new(settings: Settings, store: Store) -> crate::Result<Arc<Daemon>> {
        let notifiers = build_notifiers(&settings)?;
        let mut book = AlertBook::default();
        for row in store.alert_states().await.map_err(store_error)? {
            if row.status == RESOLVED {
                continue;
            }
            if let Ok(entry) = serde_json::from_value::<Entry>(row.data) {
                book.entries.insert(row.key, entry);
            }
        }
        let (events, _) = broadcast::channel(1024);
        Ok(Arc::new(Daemon {
            permits: Arc::new(Semaphore::new(settings.max_concurrent_scans)),
            settings: RwLock::new(Arc::new(settings)),
            store,
            notifiers: RwLock::new(notifiers),
            book: Mutex::new(book),
            triggers: Mutex::new(BTreeMap::new()),
            group_locks: Mutex::new(BTreeMap::new()),
            outbox_wake: Notify::new(),
            delivery: Default::default(),
            reloaded: Notify::new(),
            events,
        }))
    }

    /// Events as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The configuration in force.
    pub async fn settings(&self) -> Arc<Settings> {
        self.settings.read().await.clone()
    }

    /// A copy of the alert book.
    pub async fn book(&self) -> AlertBook {
        self.book.lock().await.clone()
    }

    /// Runs every loop until `shutdown` is cancelled; in-flight scans get `grace` to finish.
    pub async fn run(self: &Arc<Self>, shutdown: CancellationToken) {
        let mut generation = 0u64;
        loop {
            let settings = self.settings().await;
            let round = shutdown.child_token();
            let mut tasks = tokio::task::JoinSet::new();
            for group in settings.groups.clone() {
                let me = self.clone();
                let stop = round.clone();
                let trigger = self.trigger(&group.name).await;
                tasks.spawn(async move { me.group_loop(group, trigger, stop, generation).await });
            }
            {
                let me = self.clone();
                let stop = round.clone();
                tasks.spawn(async move { me.delivery_loop(stop).await });
            }
            {
                let me = self.clone();
                let stop = round.clone();
                tasks.spawn(async move { me.reminder_loop(stop).await });
            }
            {
                let me = self.clone();
                let stop = round.clone();
                tasks.spawn(async move { me.retention_loop(stop).await });
            }
            // Wait for shutdown, or for a reload (which cancels only this round).
            let reloaded = self.reloaded.notified();
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = reloaded => {}
            }
            round.cancel();
            while tasks.join_next().await.is_some() {}
            if shutdown.is_cancelled() {
                return;
            }
            generation += 1;
        }
    }

    async fn trigger(&self, group: &str) -> Arc<Notify> {
        self.triggers
            .lock()
            .await
            .entry(group.to_string())
            .or_insert_with(|| Arc::new(Notify::new()))
            .clone()
    }

    /// Asks for an immediate scan of `group`; false if there is no such group.
    pub async fn scan_now(&self, group: &str) -> bool {
        let known = self.settings().await.groups.iter().any(|g| g.name == group);
        if known {
            self.trigger(group).await.notify_one();
        }
        known
    }

    /// Replaces the configuration (already validated); the loops restart with it.
    pub async fn reload(&self, settings: Settings) -> crate::Result<()> {
        let notifiers = build_notifiers(&settings)?;
        *self.notifiers.write().await = notifiers;
        *self.settings.write().await = Arc::new(settings);
        self.reloaded.notify_one();
        Ok(())
    }

    /// Marks a violation acknowledged (no more reminders); false if it is not tracked.
    pub async fn acknowledge(&self, key: &str) -> crate::Result<bool> {
        self.update_entry(key, |e| e.acknowledged = true).await
    }

    /// Silences a violation's messages until `until_ms`; false if it is not tracked.
    pub async fn silence(&self, key: &str, until_ms: i64) -> crate::Result<bool> {
        self.update_entry(key, |e| e.silenced_until_ms = Some(until_ms))
            .await
    }

    /// Changes one tracked entry and saves it; false if `key` is not tracked.
    async fn update_entry(
        &self,
        key: &str,
        change: impl FnOnce(&mut Entry),
    ) -> crate::Result<bool> {
        let mut book = self.book.lock().await;
        let Some(entry) = book.entries.get_mut(key) else {
            return Ok(false);
        };
        change(entry);
        let row = state_row(key, Some(entry), now_ms());
        drop(book);
        self.store
            .write_effects(&Effects {
                alert_states: vec![row],
                outbox: vec![],
            })
            .await
            .map_err(store_error)?;
        Ok(true)
    }

    fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    async fn rules(&self) -> AlertRules {
        self.settings().await.alerts.clone()
    }
}

fn build_notifiers(settings: &Settings) -> crate::Result<BTreeMap<String, Arc<dyn Notifier>>> {
    settings
        .notifiers
        .iter()
        .map(|n| {
            notify::build(&n.name, &n.config)
                .map(|built| (n.name.clone(), built))
                .map_err(|e| crate::MonitorError::Invalid {
                    path: settings.path.clone(),
                    key: format!("notify \"{}\"", n.name),
                    message: e.to_string(),
                })
        })
        .collect()
}

/// The store's share of a book decision: the changed entries and one outbox row per message
/// and notifier (`notifiers_for` names the notifiers of an alert's group).
fn effects_of(
    decision: &crate::alerts::Decision,
    alerts: &[notify::Alert],
    notifiers_for: impl Fn(&notify::Alert) -> Vec<String>,
    now: i64,
) -> Effects {
    Effects {
        alert_states: decision
            .changed
            .iter()
            .map(|(k, e)| state_row(k, e.as_ref(), now))
            .collect(),
        outbox: alerts
            .iter()
            .flat_map(|a| {
                notifiers_for(a)
                    .into_iter()
                    .map(move |n| portwatch_store::NewOutboxMessage {
                        idempotency_key: format!("{}|{n}", a.key),
                        channel: n,
                        payload: serde_json::to_value(a).unwrap_or_default(),
                    })
            })
            .collect(),
    }
}

/// The store row for an alert entry (`None`: resolved and forgotten), as the daemon saves it
/// and restores it on start.
pub fn state_row(key: &str, entry: Option<&Entry>, now: i64) -> AlertStateRow {
    match entry {
        Some(e) => AlertStateRow {
            key: key.to_string(),
            status: match e.status {
                Status::Pending => "pending",
                Status::Firing => "firing",
                Status::Resolving => "resolving",
            }
            .to_string(),
            since: e.since_ms,
            data: serde_json::to_value(e).unwrap_or_default(),
            updated_at: now,
        },
        None => AlertStateRow {
            key: key.to_string(),
            status: RESOLVED.to_string(),
            since: now,
            data: serde_json::Value::Null,
            updated_at: now,
        },
    }
}

fn store_error(e: portwatch_store::StoreError) -> crate::MonitorError {
    crate::MonitorError::Store(e.to_string())
}
