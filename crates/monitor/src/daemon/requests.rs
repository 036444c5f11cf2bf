//! "Scan now" and its undo. Every request is a store row (see `portwatch_store`'s
//! `scan_requests`), whichever replica was asked: the leader's group loop claims the pending
//! requests of its group when it wakes and runs one scan for them, and any replica can read
//! how a request went or cancel it.
//!
//! A cancel never touches a scheduled scan or a confirmation: a pending request is cancelled in
//! the store and no scan starts for it; a running one is marked `cancelling`, and the leader
//! (at once when it was asked itself, else within a second) stops the scan that was started
//! for it, once every request that scan serves is cancelled. A stopped scan applies nothing:
//! its row is marked failed with the reason, the history, alert states and outbox stay as
//! they were, and it asks for no confirmation. An observation already being recorded when
//! the cancel arrives is recorded whole, and its request ends `done`.

use super::schedule::RequestRun;
use super::{Daemon, store_error};
use crate::config::Group;
use portwatch_store::{ScanRequestRow, ScanRequestState};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio_util::sync::CancellationToken;

/// How long requests are kept after they were asked for (their outcome can be read that long;
/// one never taken, for a group removed meanwhile, is forgotten then too).
const KEEP_MS: i64 = 86_400_000;

/// Every how many polls the leader forgets old requests.
const PRUNE_EVERY: u32 = 60;

impl Daemon {
    /// Asks for a scan of `group` now; `None` if there is no such group. On the replica that
    /// schedules the group's loop wakes at once; any other replica's request is taken by the
    /// leader within a second ([`Daemon::poll_scan_requests`]).
    pub async fn request_scan(&self, group: &str) -> crate::Result<Option<ScanRequestRow>> {
        let known = self.settings().await.groups.iter().any(|g| g.name == group);
        if !known {
            return Ok(None);
        }
        let row = self
            .store
            .scan_request_add(group, self.clock.now_ms())
            .await
            .map_err(store_error)?;
        if self.leadership().leader {
            self.trigger(group).await.notify_one();
        }
        Ok(Some(row))
    }

    /// [`Daemon::request_scan`], answering only whether the group exists.
    pub async fn scan_now(&self, group: &str) -> crate::Result<bool> {
        Ok(self.request_scan(group).await?.is_some())
    }

    /// Request `id` as the store has it now, if it exists.
    pub async fn scan_request(&self, id: i64) -> crate::Result<Option<ScanRequestRow>> {
        self.store.scan_request(id).await.map_err(store_error)
    }

    /// Cancels request `id`, from any replica: the request as it is afterwards (`cancelled`
    /// when no scan had started for it; `cancelling` while the scan started for it is being
    /// stopped; `done` or `interrupted` when it had ended already), or `None` when there is
    /// no such request.
    pub async fn cancel_scan(&self, id: i64) -> crate::Result<Option<ScanRequestRow>> {
        let row = self
            .store
            .scan_request_cancel(id, self.clock.now_ms())
            .await
            .map_err(store_error)?;
        if row
            .as_ref()
            .is_some_and(|r| r.state == ScanRequestState::Cancelling)
        {
            self.stop_cancelled_runs().await;
        }
        Ok(row)
    }

    /// The leader's look at the requests (every second): wakes the groups that have pending
    /// ones, stops the requested scans whose requests were all cancelled, and now and then
    /// forgets old requests.
    pub(super) async fn poll_scan_requests(&self, polls: &AtomicU32) {
        match self.store.scan_requests_in(ScanRequestState::Pending).await {
            Ok(rows) => {
                let groups: BTreeSet<String> = rows.into_iter().map(|r| r.group).collect();
                for group in groups {
                    self.trigger(&group).await.notify_one();
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the scans asked for"),
        }
        self.stop_cancelled_runs().await;
        if polls
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(PRUNE_EVERY)
        {
            let before = self.clock.now_ms() - KEEP_MS;
            if let Err(e) = self.store.scan_requests_prune(before).await {
                tracing::warn!(error = %e, "cannot forget old scan requests");
            }
        }
    }

    /// Cancels the requested scans this replica runs whose requests are all `cancelling`.
    async fn stop_cancelled_runs(&self) {
        let runs = self.runs().clone();
        if runs.is_empty() {
            return;
        }
        let cancelling: BTreeSet<i64> = match self
            .store
            .scan_requests_in(ScanRequestState::Cancelling)
            .await
        {
            Ok(rows) => rows.into_iter().map(|r| r.id).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read which requested scans were cancelled");
                return;
            }
        };
        for run in runs {
            if run.ids.iter().all(|id| cancelling.contains(id)) && !run.cancel.is_cancelled() {
                tracing::info!(requests = ?run.ids, "stopping a requested scan: it was cancelled");
                run.cancel.cancel();
            }
        }
    }

    /// Claims the pending requests of `group` for a scan starting now, registered so that a
    /// cancel finds it; `None` when none is pending (or the store cannot be written: the
    /// next poll wakes the group again).
    pub(super) async fn claim_requests(&self, group: &Group) -> Option<RequestRun> {
        let ids = match self
            .store
            .scan_requests_claim(&group.name, self.clock.now_ms())
            .await
        {
            Ok(ids) if !ids.is_empty() => ids,
            Ok(_) => return None,
            Err(e) => {
                tracing::warn!(error = %e, group = %group.name, "cannot take the scans asked for");
                return None;
            }
        };
        let run = RequestRun {
            ids: ids.into(),
            cancel: CancellationToken::new(),
            stopped: Arc::default(),
        };
        self.runs().push(run.clone());
        // A cancel may have come between the claim and the registration.
        self.stop_cancelled_runs().await;
        Some(run)
    }

    /// Records how the requested scan `run` ended (`interrupted` when the daemon stopped it)
    /// and forgets it.
    pub(super) async fn finish_requests(&self, run: &RequestRun, interrupted: bool) {
        self.runs().retain(|r| !Arc::ptr_eq(&r.ids, &run.ids));
        let state = if interrupted {
            ScanRequestState::Interrupted
        } else if run.stopped.load(Ordering::SeqCst) {
            ScanRequestState::Cancelled
        } else {
            ScanRequestState::Done
        };
        if let Err(e) = self
            .store
            .scan_requests_finish(&run.ids, state, self.clock.now_ms())
            .await
        {
            tracing::warn!(error = %e, requests = ?run.ids, "cannot record how requested scans ended");
        }
    }

    /// Gives up the requests an earlier leader was running (at the start of a term).
    pub(super) async fn interrupt_earlier_requests(&self) {
        match self
            .store
            .scan_requests_interrupt_running(self.clock.now_ms())
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(n, "requested scans of an earlier leader marked interrupted"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot give up the requested scans of an earlier leader");
            }
        }
    }

    fn runs(&self) -> std::sync::MutexGuard<'_, Vec<RequestRun>> {
        self.requested_runs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
