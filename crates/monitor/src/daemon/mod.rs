//! The monitor daemon: one loop per group (interval or cron, with jitter, never overlapping
//! itself, under a cap on concurrent scans), confirmation re-probes, the alert book, an outbox
//! delivery loop with retries and backoff, and reminders. Every state change and the messages
//! it causes are written in one transaction with the scan that caused them. Replicas on one
//! database take turns at scheduling (see [`leader`]); every one delivers and scans the
//! `local` shards of sharded groups.

mod agents;
mod book;
mod clock;
mod delivery;
pub mod leader;
mod payload;
mod process;
mod queries;
mod remote;
mod requests;
mod schedule;
mod sharded;
mod worker;

use crate::alerts::{AlertBook, AlertRules, Entry};
use crate::config::{Group, Settings};
use crate::notify::{self, Notifier};
use portwatch_store::{Effects, Store};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{Mutex, Notify, RwLock, Semaphore, broadcast};
use tokio_util::sync::CancellationToken;

pub use book::{state_row, stored_book};
pub use clock::Clock;
pub use leader::Leadership;
pub use payload::alert_for;
pub use portwatch_store::{ScanRequestRow, ScanRequestState};
pub use queries::current_book;

/// Something that happened, for people watching (`watch` prints these; the web shows them).
#[derive(Debug, Clone)]
pub enum Event {
    /// A group scan finished and was recorded.
    Scanned {
        /// The group.
        group: String,
        /// The vantage it observed from.
        vantage: String,
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
    /// This replica took the scheduler lease (`leader`) or stopped scheduling.
    Leadership {
        /// Whether it schedules from now on.
        leader: bool,
        /// The lease's fencing token of the term that began or ended.
        token: i64,
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
    /// The last copy of the alert book this replica read from the store or wrote to it.
    ///
    /// The lock rule: this lock guards the copy in memory and nothing else. It is held only
    /// to copy the book in or out, never across an `.await` (a `std` mutex, so that clippy's
    /// `await_holding_lock` and the `Send` bound of spawned tasks refuse it), so no reader
    /// waits for a scan and no scan for another. What keeps decisions from overwriting one
    /// another is the store, not this lock: each decision reads the book afresh, decides on
    /// its own copy and writes its entries under the row versions it read, deciding again
    /// when one was changed meanwhile (see [`book`]). Holds on one replica and across
    /// replicas alike.
    book: std::sync::Mutex<book::BookCopy>,
    permits: Arc<Semaphore>,
    triggers: Mutex<BTreeMap<String, Arc<Notify>>>,
    group_locks: Mutex<BTreeMap<String, Arc<Mutex<()>>>>,
    outbox_wake: Notify,
    delivery: std::sync::Mutex<delivery::DeliveryState>,
    reloaded: Notify,
    events: broadcast::Sender<Event>,
    unreadable: Vec<String>,
    clock: Clock,
    scan_cap: Mutex<usize>,
    config_text: RwLock<Option<String>>,
    /// What `local` groups learned about their sockets through loopback.
    local_ids: crate::local_source::Identities,
    /// Whether this replica schedules, and the fence of its term.
    term: std::sync::Mutex<leader::Term>,
    /// How long this replica's shard worker claims a job for (ms).
    shard_lease_ms: std::sync::atomic::AtomicI64,
    /// The requested scans this replica runs now (leader only), for cancels to find.
    requested_runs: std::sync::Mutex<Vec<schedule::RequestRun>>,
}

/// What a reload could not apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Keys whose new values take effect only at the next restart (`database`, `listen`).
    pub needs_restart: Vec<&'static str>,
}

/// The file's text with a note on top naming the keys still running with their old values.
fn in_force_text(text: String, needs_restart: &[&str], old: &Settings) -> String {
    if needs_restart.is_empty() {
        return text;
    }
    let mut note = String::from(
        "# portwatch: this file was reloaded, but these keys take effect only at the next\n\
         # restart; in force until then:\n",
    );
    for key in needs_restart {
        let value = match *key {
            "database" => old.database.as_deref(),
            _ => old.listen.as_deref(),
        };
        note.push_str(&format!(
            "#   {key} = {}\n",
            value.map_or("(the default)".to_string(), |v| format!("{v:?}"))
        ));
    }
    note + &text
}

/// The status the store keeps for a resolved (removed) entry.
const RESOLVED: &str = "resolved";

impl Daemon {
    /// A daemon over `store`, with the alert book the store remembers.
    pub async fn new(settings: Settings, store: Store) -> crate::Result<Arc<Daemon>> {
        Daemon::with_clock(settings, store, Clock::System).await
    }

    /// [`Daemon::new`] deciding by `clock` (windows, schedules, confirmations, reminders,
    /// silences).
    pub async fn with_clock(
        settings: Settings,
        store: Store,
        clock: Clock,
    ) -> crate::Result<Arc<Daemon>> {
        let notifiers = build_notifiers(&settings)?;
        let (book, unreadable) = book::read(&store).await.map_err(store_error)?;
        for (key, error) in &unreadable {
            tracing::error!(
                key = %key,
                error = %error,
                "a stored alert state cannot be read and is left out: if its violation \
                 still holds it will be confirmed and announced again"
            );
        }
        let (events, _) = broadcast::channel(1024);
        Ok(Arc::new(Daemon {
            permits: Arc::new(Semaphore::new(settings.max_concurrent_scans)),
            scan_cap: Mutex::new(settings.max_concurrent_scans),
            config_text: RwLock::new(None),
            settings: RwLock::new(Arc::new(settings)),
            store,
            notifiers: RwLock::new(notifiers),
            book: std::sync::Mutex::new(book),
            triggers: Mutex::new(BTreeMap::new()),
            group_locks: Mutex::new(BTreeMap::new()),
            outbox_wake: Notify::new(),
            delivery: Default::default(),
            reloaded: Notify::new(),
            events,
            unreadable: unreadable.into_iter().map(|(k, _)| k).collect(),
            clock,
            local_ids: Default::default(),
            term: Default::default(),
            shard_lease_ms: worker::DEFAULT_SHARD_LEASE_MS.into(),
            requested_runs: Default::default(),
        }))
    }

    /// Keys of the stored alert states that could not be read at start (each logged as an
    /// error then).
    pub fn unreadable_states(&self) -> &[String] {
        &self.unreadable
    }

    /// The clock the daemon decides by.
    pub fn clock(&self) -> &Clock {
        &self.clock
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

    /// The alert book as the store has it now (a follower's acknowledgement and the leader's
    /// decisions included); the last copy this replica read when the store cannot be read.
    /// Waits for no scan in progress.
    pub async fn book(&self) -> AlertBook {
        self.read_copy().await.book
    }

    /// Runs every loop until `shutdown` is cancelled (which interrupts scans in progress):
    /// delivery and the shard worker (claiming `local` shard jobs) always, scheduling while this replica holds the scheduler lease
    /// ([`leader`]). A reload ([`Daemon::reload`]) keeps the loops of unchanged groups
    /// running, lets changed and removed groups finish the scan (and confirmations) they are
    /// in, then stops them, and starts the new and changed ones.
    pub async fn run(self: &Arc<Self>, shutdown: CancellationToken) {
        let delivery = {
            let me = self.clone();
            let stop = shutdown.clone();
            tokio::spawn(async move { me.delivery_loop(stop).await })
        };
        let worker = {
            let me = self.clone();
            let stop = shutdown.clone();
            tokio::spawn(async move { me.shard_worker_loop(stop).await })
        };
        self.clone().leadership_loop(shutdown).await;
        let _ = delivery.await;
        let _ = worker.await;
    }

    /// The leader's loops (groups, confirmations, reminders, retention, job rescue, stale
    /// agents) until `shutdown`.
    async fn schedule(self: &Arc<Self>, shutdown: CancellationToken) {
        let mut tasks = tokio::task::JoinSet::new();
        {
            let me = self.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move { me.reminder_loop(stop).await });
        }
        {
            let me = self.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move { me.retention_loop(stop).await });
        }
        {
            let me = self.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move { me.rescue_loop(stop).await });
        }
        {
            let me = self.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move { me.agents_loop(stop).await });
        }
        // Per running group: its definition and the token that retires its loop.
        let mut running: BTreeMap<String, (Group, CancellationToken)> = BTreeMap::new();
        let mut generation = 0u64;
        loop {
            // Arm the reload wake-up before reading the settings, so none is missed.
            let reloaded = self.reloaded.notified();
            let settings = self.settings().await;
            let wanted: BTreeMap<&str, &Group> = settings
                .groups
                .iter()
                .map(|g| (g.name.as_str(), g))
                .collect();
            running.retain(|name, (group, retire)| {
                let keep = wanted.get(name.as_str()).is_some_and(|g| g.same_as(group));
                if !keep {
                    retire.cancel();
                }
                keep
            });
            for group in &settings.groups {
                if running.contains_key(&group.name) {
                    continue;
                }
                let retire = shutdown.child_token();
                running.insert(group.name.clone(), (group.clone(), retire.clone()));
                let me = self.clone();
                let group = group.clone();
                let trigger = self.trigger(&group.name).await;
                if group.source == crate::config::Source::Local {
                    // The socket-table watcher wakes the group on every socket change, until
                    // the group is retired.
                    let trigger = trigger.clone();
                    let retire = retire.clone();
                    tasks.spawn(async move { crate::local_source::watch(trigger, retire).await });
                }
                let stop = shutdown.clone();
                tasks.spawn(async move {
                    me.group_loop(group, trigger, stop, retire, generation)
                        .await;
                });
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = reloaded => {}
            }
            generation += 1;
        }
        while tasks.join_next().await.is_some() {}
    }

    async fn trigger(&self, group: &str) -> Arc<Notify> {
        self.triggers
            .lock()
            .await
            .entry(group.to_string())
            .or_insert_with(|| Arc::new(Notify::new()))
            .clone()
    }

    /// Applies a new configuration (already validated) without interrupting scans in
    /// progress: groups, alert rules, notifiers, retention and the scan cap take effect now;
    /// `database` and `listen` keep their old values until a restart, and the answer names
    /// them. `text` is the new file's text, shown as the configuration in force.
    pub async fn reload(
        &self,
        mut settings: Settings,
        text: Option<String>,
    ) -> crate::Result<ReloadReport> {
        let notifiers = build_notifiers(&settings)?;
        let old = self.settings().await;
        let mut needs_restart = Vec::new();
        if settings.database != old.database {
            needs_restart.push("database");
            settings.database = old.database.clone();
        }
        if settings.listen != old.listen {
            needs_restart.push("listen");
            settings.listen = old.listen.clone();
        }
        self.resize_scan_cap(settings.max_concurrent_scans).await;
        let text = text.map(|t| in_force_text(t, &needs_restart, &old));
        *self.notifiers.write().await = notifiers;
        *self.settings.write().await = Arc::new(settings);
        if text.is_some() {
            *self.config_text.write().await = text;
        }
        self.reloaded.notify_one();
        Ok(ReloadReport { needs_restart })
    }

    /// The configuration text in force after a reload (`None` before any: the caller's own
    /// copy of the file it started with is then the one in force).
    pub async fn config_text(&self) -> Option<String> {
        self.config_text.read().await.clone()
    }

    /// The cap on concurrent scans in force.
    pub async fn scan_cap(&self) -> usize {
        *self.scan_cap.lock().await
    }

    /// Scans allowed at once from now on; a smaller cap takes effect as running scans end.
    async fn resize_scan_cap(&self, cap: usize) {
        let mut current = self.scan_cap.lock().await;
        if cap > *current {
            self.permits.add_permits(cap - *current);
        } else if cap < *current {
            let surplus = (*current - cap) as u32;
            let permits = self.permits.clone();
            // Take the surplus as scans give it back, and never return it.
            tokio::spawn(async move {
                if let Ok(p) = permits.acquire_many_owned(surplus).await {
                    p.forget();
                }
            });
        }
        *current = cap;
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

    /// Takes an acknowledgement back (reminders resume); false if it is not tracked.
    pub async fn unacknowledge(&self, key: &str) -> crate::Result<bool> {
        self.update_entry(key, |e| e.acknowledged = false).await
    }

    /// Ends a violation's silence now (its next message is sent as usual); false if it is
    /// not tracked.
    pub async fn unsilence(&self, key: &str) -> crate::Result<bool> {
        self.update_entry(key, |e| e.silenced_until_ms = None).await
    }

    /// Changes one tracked entry and saves it; false if `key` is not tracked.
    async fn update_entry(&self, key: &str, change: impl Fn(&mut Entry)) -> crate::Result<bool> {
        let written = self
            .decide(book::Write::Effects, |book| {
                let entry = book.entries.get_mut(key)?;
                change(entry);
                Some(book::Plan {
                    changed: [(key.to_string(), Some(entry.clone()))].into(),
                    effects: Effects::default(),
                    value: (),
                })
            })
            .await
            .map_err(store_error)?;
        Ok(written.is_some())
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

impl Daemon {
    /// What a book decision writes: its changed entries and one outbox row per message and
    /// notifier (`notifiers_for` names the notifiers of an alert's group), fenced by the
    /// scheduler lease of this replica's term.
    /// The plan keeps the alerts, to announce once it is written.
    fn plan_of(
        &self,
        changed: BTreeMap<String, Option<Entry>>,
        alerts: Vec<notify::Alert>,
        notifiers_for: impl Fn(&notify::Alert) -> Vec<String>,
    ) -> book::Plan<Vec<notify::Alert>> {
        book::Plan {
            changed,
            effects: Effects {
                fence: self.fence(),
                outbox: outbox_rows(&alerts, notifiers_for),
                ..Default::default()
            },
            value: alerts,
        }
    }
}

fn outbox_rows(
    alerts: &[notify::Alert],
    notifiers_for: impl Fn(&notify::Alert) -> Vec<String>,
) -> Vec<portwatch_store::NewOutboxMessage> {
    alerts
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
        .collect()
}

fn store_error(e: portwatch_store::StoreError) -> crate::MonitorError {
    crate::MonitorError::Store(e.to_string())
}
