//! The shard worker every replica runs: it claims the jobs of vantage `local` (the shards of
//! sharded groups scanned from this server's side) by the same claim, lease and token path as
//! an agent, scans them here, and records the outcome. N replicas on one database so share
//! the scanning of a big group; unsharded `local` scans stay in the leader's own process.

use super::{Daemon, now_ms};
use crate::config::vantage::LOCAL;
use crate::job::JobSpec;
use crate::runner;
use portwatch_store::{Completion, JobClaim};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the worker looks for a job queued by another process.
const CLAIM_POLL: Duration = Duration::from_millis(500);

/// How long a worker's claim lasts unless renewed, until [`Daemon::set_shard_lease`].
pub(super) const DEFAULT_SHARD_LEASE_MS: i64 = 30_000;

impl Daemon {
    /// How long this replica's claim of a `local` shard lasts unless renewed (the worker
    /// renews it at a third of that while it scans).
    pub fn set_shard_lease(&self, lease: Duration) {
        let ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX).max(1);
        self.shard_lease_ms.store(ms, Ordering::Relaxed);
    }

    /// The name this replica's worker claims jobs under (the `claimed_by` of its jobs).
    pub fn worker_name(&self) -> String {
        format!("replica {}", self.store.claimant())
    }

    /// Claims and runs `local` shard jobs one at a time until `stop`.
    pub(super) async fn shard_worker_loop(self: &Arc<Self>, stop: CancellationToken) {
        let me = self.worker_name();
        loop {
            // Armed before the claim, so a job queued meanwhile by this process is not missed.
            let queued = self.store.job_queued();
            let lease = self.shard_lease_ms.load(Ordering::Relaxed);
            match self.store.job_claim(LOCAL, &me, lease, now_ms()).await {
                Ok(Some(claim)) => {
                    self.run_claim(claim, &stop).await;
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot claim a shard job; retrying"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = queued => {}
                () = tokio::time::sleep(CLAIM_POLL) => {}
            }
        }
    }

    /// Scans one claimed job while renewing its lease, and records its result or error. At
    /// `stop` it leaves the job: its lease runs out and the rescuer queues it again.
    async fn run_claim(&self, claim: JobClaim, stop: &CancellationToken) {
        let JobClaim {
            id,
            attempt,
            token,
            spec,
            lease_ms,
        } = claim;
        let renewer = {
            let store = self.store.clone();
            let token = token.clone();
            tokio::spawn(async move {
                let every = Duration::from_millis(u64::try_from(lease_ms / 3).unwrap_or(1).max(1));
                loop {
                    tokio::time::sleep(every).await;
                    match store.job_renew(id, &token, lease_ms, now_ms()).await {
                        Ok(true) => {}
                        Ok(false) => return,
                        Err(e) => tracing::warn!(job = id, error = %e, "cannot renew a shard job"),
                    }
                }
            })
        };
        let _stop_renewing = super::process::AbortOnDrop(renewer);
        let scanned = async {
            let spec: JobSpec = serde_json::from_value(spec)
                .map_err(|e| format!("this build cannot read the job: {e}"))?;
            runner::scan_job(&spec).await.map_err(|e| e.to_string())
        };
        let outcome = tokio::select! {
            r = scanned => r,
            () = stop.cancelled() => return,
        };
        let recorded = match outcome {
            Ok(result) => match serde_json::to_value(&result) {
                Ok(result) => {
                    self.store
                        .job_complete(id, attempt, &token, &result, now_ms())
                        .await
                }
                Err(e) => {
                    self.store
                        .job_fail(id, attempt, &token, &e.to_string(), now_ms())
                        .await
                }
            },
            Err(e) => self.store.job_fail(id, attempt, &token, &e, now_ms()).await,
        };
        match recorded {
            Ok(Completion::Accepted | Completion::AlreadyAccepted) => {
                tracing::debug!(job = id, attempt, "shard job done here");
            }
            Ok(other) => {
                tracing::info!(job = id, attempt, outcome = ?other, "shard job taken over elsewhere; its result here is dropped");
            }
            Err(e) => {
                tracing::warn!(job = id, error = %e, "cannot record a shard job's outcome; its lease will run out and it is scanned again");
            }
        }
    }
}
