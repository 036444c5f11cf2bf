//! The daemon's alert book: read from the store, decided on, written back under row versions.
//!
//! The store holds the book; replicas on one database share it. Every decision (a scan or
//! re-probe, a reminder tick, a look at the agents, an acknowledgement or a silence, on any
//! replica) is made on a copy read from the store just before, and its changed entries are
//! written naming the row version each had in that copy. A write that meets a row changed by
//! someone else since is refused whole (`StoreError::Conflict`), and the decision is made again
//! from a new read. So no decision overwrites another one unseen, and no decision waits for
//! another one's transaction.

use super::{Daemon, RESOLVED};
use crate::alerts::{AlertBook, Entry, decode_entry, encode_entry};
use portwatch_store::{AlertStateRow, Effects, ScanId, ScanOutcome, Store, StoreError};
use std::collections::BTreeMap;

/// Attempts of one decision whose write keeps meeting rows changed since its read. Each
/// refusal means another decision was written meanwhile, so running out takes that many
/// writers on the same entries within one decision's time.
const DECIDE_ATTEMPTS: u32 = 8;

/// The book as read from the store, with the version of every stored row.
#[derive(Debug, Clone, Default)]
pub(super) struct BookCopy {
    /// The entries (resolved and unreadable rows left out).
    pub(super) book: AlertBook,
    /// The version of every row read, resolved and unreadable ones included; a key missing
    /// here had no row.
    versions: BTreeMap<String, i64>,
}

impl BookCopy {
    /// The row for `key` as the decision leaves it, naming the version it was read at.
    fn row(&self, key: &str, entry: Option<&Entry>, now: i64) -> AlertStateRow {
        AlertStateRow {
            version: self.versions.get(key).copied().unwrap_or(0),
            ..state_row(key, entry, now)
        }
    }

    /// This copy after its decision's rows were written: each at its next version.
    fn written(mut self, rows: &[AlertStateRow]) -> BookCopy {
        for r in rows {
            self.versions.insert(r.key.clone(), r.version + 1);
        }
        self
    }
}

/// What a decision wants written: its changed entries (`None`: resolved) and the rest of its
/// effects (outbox, jobs, fence), whose alert states are filled in from `changed`.
pub(super) struct Plan<T> {
    /// Entries the decision changed.
    pub(super) changed: BTreeMap<String, Option<Entry>>,
    /// Everything else it writes.
    pub(super) effects: Effects,
    /// What the caller keeps of the decision once it is written.
    pub(super) value: T,
}

impl<T> Plan<T> {
    /// The same plan keeping something else.
    pub(super) fn map<U>(self, f: impl FnOnce(T) -> U) -> Plan<U> {
        Plan {
            changed: self.changed,
            effects: self.effects,
            value: f(self.value),
        }
    }
}

/// Where a decision is written: on its own, or as the end of a scan.
#[derive(Clone, Copy)]
pub(super) enum Write<'a> {
    /// Alert states and outbox rows in a transaction of their own.
    Effects,
    /// In the transaction that finishes scan `id` with its `outcome`.
    Scan(ScanId, &'a ScanOutcome),
}

/// The store row for an alert entry (`None`: resolved and forgotten) as a new row (version 0):
/// how the daemon saves an entry and restores it on start.
pub fn state_row(key: &str, entry: Option<&Entry>, now: i64) -> AlertStateRow {
    match entry {
        Some(e) => AlertStateRow {
            key: key.to_string(),
            status: e.status.as_str().to_string(),
            since: e.since_ms,
            data: encode_entry(e),
            updated_at: now,
            version: 0,
        },
        None => AlertStateRow {
            key: key.to_string(),
            status: RESOLVED.to_string(),
            since: now,
            data: serde_json::Value::Null,
            updated_at: now,
            version: 0,
        },
    }
}

/// The alert book the store keeps: its current entries (resolved and unreadable rows left
/// out). What the dashboard, the API and `/metrics` show when no daemon runs in their
/// process, and what a running one answers with [`Daemon::book`].
pub async fn stored_book(store: &Store) -> Result<AlertBook, StoreError> {
    Ok(read(store).await?.0.book)
}

/// The stored book with its row versions, and the keys of the states that cannot be read,
/// with why.
pub(super) async fn read(store: &Store) -> Result<(BookCopy, Vec<(String, String)>), StoreError> {
    let mut copy = BookCopy::default();
    let mut unreadable = Vec::new();
    for row in store.alert_states().await? {
        copy.versions.insert(row.key.clone(), row.version);
        if row.status == RESOLVED {
            continue;
        }
        match decode_entry(row.data) {
            Ok(entry) => {
                copy.book.entries.insert(row.key, entry);
            }
            Err(e) => unreadable.push((row.key, e.to_string())),
        }
    }
    Ok((copy, unreadable))
}

impl Daemon {
    /// A copy of the book as the store has it now; the last copy this replica read or wrote
    /// when the store cannot be read.
    pub(super) async fn read_copy(&self) -> BookCopy {
        match read(&self.store).await {
            Ok((copy, _)) => {
                self.remember(&copy);
                copy
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the alert states; deciding on the last copy read");
                self.cache().clone()
            }
        }
    }

    /// The last copy read or written.
    pub(super) fn cache(&self) -> std::sync::MutexGuard<'_, BookCopy> {
        self.book
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn remember(&self, copy: &BookCopy) {
        self.cache().clone_from(copy);
    }

    /// Makes a decision on a fresh copy of the book and writes it to `write`: `decide` gets the
    /// copy and says what to write (`None`: nothing). A write refused because an entry it
    /// changes was written by someone else since the read is decided again on a new copy.
    /// Answers what the written decision kept (`None`: nothing to write); any other store
    /// error means nothing was written.
    pub(super) async fn decide<T>(
        &self,
        write: Write<'_>,
        mut decide: impl FnMut(&mut AlertBook) -> Option<Plan<T>>,
    ) -> Result<Option<T>, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut copy = self.read_copy().await;
            let Some(plan) = decide(&mut copy.book) else {
                return Ok(None);
            };
            let now = self.clock.now_ms();
            let rows: Vec<AlertStateRow> = plan
                .changed
                .iter()
                .map(|(k, e)| copy.row(k, e.as_ref(), now))
                .collect();
            let effects = Effects {
                alert_states: rows,
                ..plan.effects
            };
            let written = match write {
                Write::Effects => self.store.write_effects(&effects).await,
                Write::Scan(id, outcome) => self
                    .store
                    .finish_scan(id, outcome, &effects)
                    .await
                    .map(drop),
            };
            match written {
                Ok(()) => {
                    self.remember(&copy.written(&effects.alert_states));
                    return Ok(Some(plan.value));
                }
                Err(e) if e.is_conflict() && attempt < DECIDE_ATTEMPTS => {
                    tracing::debug!(error = %e, attempt, "an alert state changed meanwhile; deciding again");
                }
                Err(e) => return Err(e),
            }
        }
    }
}
