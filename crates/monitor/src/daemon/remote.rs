//! Observations made elsewhere: a scan of a group from a vantage that agents stand in is queued
//! as a job, and the daemon waits for an agent's result. A rescuer puts jobs whose lease ran
//! out (the agent died or was cut off) back in the queue.

use super::{Daemon, now_ms};
use crate::config::{Group, Schedule};
use crate::job::{self, JobSpec, ScanKind};
use crate::runner;
use portwatch_scan::ports::PortList;
use portwatch_store::{JobRow, JobStatus, NewJob};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the daemon looks whether a queued job is done.
pub(super) const DONE_POLL: Duration = Duration::from_millis(250);

/// How often the rescuer looks for expired leases.
pub(super) const RESCUE_EVERY: Duration = Duration::from_secs(1);

/// How long to wait for a cron group's job (an interval group waits one interval).
const CRON_WAIT: Duration = Duration::from_mins(5);

/// The shard name of a confirmation's job, so it never meets the group's scheduled one.
const CONFIRMATION_SHARD: &str = "confirm";

/// How long the daemon waits for an agent to finish `group`'s job: one interval (a job that
/// takes longer stays queued, and the next round finds it rather than queueing another).
pub(super) fn remote_wait(group: &Group) -> Duration {
    match &group.schedule {
        Schedule::Every(d) => *d,
        Schedule::Cron(_) => CRON_WAIT,
    }
}

pub(super) fn failure(op: &str, message: impl Into<String>) -> portwatch_scan::ScanError {
    portwatch_scan::ScanError::Io {
        op: op.to_string(),
        source: std::io::Error::other(message.into()),
    }
}

/// What a job row says about the result a daemon waits for.
pub(super) enum JobProgress {
    /// Queued or claimed: an agent has not finished it yet.
    Waiting,
    /// Done: its result, as the group's scan (recording it marks the job applied).
    Finished(runner::GroupScan),
}

/// Reads job `row` of `group`, seen from `vantage`: its scan, "still waiting", or why there
/// will be no result. `what` names the job in the message (`job 7`, `shard a0/p1 (job 7)`).
/// The one place that turns a job row into an observation, for whole-group and shard jobs.
pub(super) fn job_progress(
    row: JobRow,
    group: &str,
    vantage: &str,
    what: &str,
) -> Result<JobProgress, String> {
    match row.status {
        JobStatus::Queued | JobStatus::Claimed => Ok(JobProgress::Waiting),
        JobStatus::Done => {
            let result = row
                .result
                .ok_or_else(|| format!("{what} is done but has no result"))?;
            let result = job::read_result(&row.spec, result)
                .map_err(|e| format!("the result of {what} {e}"))?;
            Ok(JobProgress::Finished(result.into_group_scan(group, row.id)))
        }
        JobStatus::Failed => Err(format!(
            "{what} failed on vantage {vantage}: {}",
            row.error.unwrap_or_default()
        )),
        JobStatus::Applied => Err(format!("{what} was recorded by another process")),
    }
}

/// A wait as people write it: `5m`, `90s`, `1500ms`.
pub(super) fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

impl Daemon {
    /// Scans `targets` × `ports` of `group` from `vantage`: queues the job (or finds the live
    /// one already queued for it), waits for an agent of that vantage to finish it, and
    /// returns its result, naming the job so that recording the observation marks it applied.
    // Called by `observe` for groups scanned from other vantages (wired with the vantages).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) async fn observe_remote(
        &self,
        group: &Group,
        vantage: &str,
        targets: &[String],
        ports: &PortList,
        kind: ScanKind,
    ) -> portwatch_scan::Result<runner::GroupScan> {
        let op = format!("scan group {} from vantage {vantage}", group.name);
        let spec = JobSpec::for_group(group, targets, ports, kind);
        let job = NewJob {
            group: group.name.clone(),
            vantage: vantage.to_string(),
            shard: match kind {
                ScanKind::Round => String::new(),
                ScanKind::Confirmation => CONFIRMATION_SHARD.to_string(),
            },
            spec: serde_json::to_value(&spec).map_err(|e| failure(&op, e.to_string()))?,
        };
        let (id, new) = self
            .store
            .job_enqueue(&job, now_ms())
            .await
            .map_err(|e| failure(&op, e.to_string()))?;
        tracing::debug!(group = %group.name, vantage, job = id, new, "scan job queued");
        let wait = remote_wait(group);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match self.store.job(id).await {
                Ok(Some(row)) => {
                    match job_progress(row, &group.name, vantage, &format!("job {id}")) {
                        Ok(JobProgress::Finished(scan)) => return Ok(scan),
                        Ok(JobProgress::Waiting) => {}
                        Err(message) => return Err(failure(&op, message)),
                    }
                }
                Ok(None) => return Err(failure(&op, format!("job {id} vanished"))),
                Err(e) => tracing::warn!(job = id, error = %e, "cannot read a scan job; retrying"),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(failure(
                    &op,
                    format!(
                        "no agent of vantage {vantage} finished the job within {}",
                        human(wait)
                    ),
                ));
            }
            tokio::time::sleep(DONE_POLL).await;
        }
    }

    /// Puts jobs whose lease expired back in the queue, every [`RESCUE_EVERY`], until `stop`.
    pub(super) async fn rescue_loop(self: &Arc<Self>, stop: CancellationToken) {
        loop {
            match self.store.jobs_rescue_expired(now_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(jobs = n, "requeued scan jobs whose lease expired"),
                Err(e) => tracing::warn!(error = %e, "cannot requeue expired scan jobs"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(RESCUE_EVERY) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portwatch_store::{Completion, Store};
    use std::path::Path;

    async fn daemon(every: &str) -> (Arc<Daemon>, Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("pw.db").display());
        let store = Store::open(&url).await.unwrap();
        let text = format!(
            "[[group]]\nname = \"lab\"\ntargets = [\"127.0.0.1\"]\nports = \"T:1\"\nevery = \"{every}\"\n"
        );
        let settings = crate::config::parse(&text, Path::new("test.toml")).unwrap();
        let d = Daemon::new(settings, store.clone()).await.unwrap();
        (d, store, dir)
    }

    #[tokio::test]
    async fn a_job_done_by_an_agent_is_the_observation() {
        let (d, store, _dir) = daemon("1m").await;
        let group = d.settings().await.groups[0].clone();
        let agent = {
            let store = store.clone();
            tokio::spawn(async move {
                loop {
                    if let Some(c) = store
                        .job_claim("lan", "a1", 10_000, now_ms())
                        .await
                        .unwrap()
                    {
                        let spec: JobSpec = serde_json::from_value(c.spec.clone()).unwrap();
                        let result =
                            serde_json::to_value(runner::scan_job(&spec).await.unwrap()).unwrap();
                        let done = store
                            .job_complete(c.id, c.attempt, &c.token, &result, now_ms())
                            .await
                            .unwrap();
                        assert_eq!(done, Completion::Accepted);
                        return (c.id, spec);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };
        let ports = PortList {
            tcp: vec![1],
            udp: vec![],
        };
        let targets = vec!["127.0.0.1".to_string()];
        let scan = d
            .observe_remote(&group, "lan", &targets, &ports, ScanKind::Round)
            .await
            .unwrap();
        let (id, spec) = agent.await.unwrap();
        assert_eq!(spec.targets, targets);
        assert_eq!(spec.ports.tcp, vec![1]);
        assert_eq!(scan.jobs, vec![id]);
        assert_eq!(scan.hosts.len(), 1);
        assert_eq!(scan.hosts[0].summary.host.to_string(), "127.0.0.1");
    }

    #[tokio::test]
    async fn no_agent_is_an_error_naming_the_vantage_and_the_job_stays_queued() {
        let (d, store, _dir) = daemon("1s").await;
        let group = d.settings().await.groups[0].clone();
        let ports = PortList {
            tcp: vec![1],
            udp: vec![],
        };
        let targets = vec!["127.0.0.1".to_string()];
        let err = d
            .observe_remote(&group, "lan", &targets, &ports, ScanKind::Round)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no agent of vantage lan finished the job within 1s"),
            "{err}"
        );
        // The next round finds the same job instead of queueing a second one.
        let again = d.observe_remote(&group, "lan", &targets, &ports, ScanKind::Round);
        let _ = tokio::time::timeout(Duration::from_millis(100), again).await;
        let jobs = store.jobs(10).await.unwrap();
        assert_eq!(jobs.len(), 1, "{jobs:?}");
        assert_eq!(jobs[0].status, JobStatus::Queued);
    }
}
