//! A round of a sharded group from one vantage: every shard queued at once as its own job
//! (agents of the vantage, or for `local` the shard workers of every replica, claim them in
//! parallel), waited for together, and merged into one observation of the group.
//!
//! A round is whole or nothing: if a shard fails or is not done within the wait, the round
//! fails naming that shard, and nothing is recorded (a partial observation would make the
//! ports nobody probed look closed). Shards left behind are dealt with by the next round:
//! one still queued or claimed with the same spec is waited for again; one done with the
//! same spec is reused if it finished within one wait (a round's length) of the new
//! round's start, else it is superseded and queued again; one whose spec the configuration
//! changed is superseded and queued again.

use super::remote::{DONE_POLL, JobProgress, failure, human, job_progress, remote_wait};
use super::{Daemon, now_ms};
use crate::config::{Group, Sharding};
use crate::job::{JobSpec, ScanKind};
use crate::{runner, shard};
use portwatch_scan::ports::PortList;
use portwatch_store::{JobStatus, NewJob};

/// A shard of this round, once queued.
struct Queued {
    name: String,
    id: i64,
}

impl Daemon {
    /// Scans `targets` × `ports` of `group` from `vantage` in the shards `sharding` makes,
    /// and returns the merged scan, naming every shard's job.
    pub(super) async fn observe_sharded(
        &self,
        group: &Group,
        vantage: &str,
        targets: &[String],
        ports: &PortList,
        sharding: &Sharding,
    ) -> portwatch_scan::Result<runner::GroupScan> {
        let op = format!("scan group {} from vantage {vantage}", group.name);
        let shards = shard::plan(targets, &group.exclude, ports, sharding)
            .map_err(|m| failure(&op, format!("cannot split it into shards: {m}")))?;
        let wait = remote_wait(group);
        let oldest_reusable = now_ms() - i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
        let mut queued = Vec::with_capacity(shards.len());
        for s in shards {
            let spec = JobSpec::for_group(group, &s.targets, &s.ports, ScanKind::Round);
            let job = NewJob {
                group: group.name.clone(),
                vantage: vantage.to_string(),
                shard: s.name.clone(),
                spec: serde_json::to_value(&spec).map_err(|e| failure(&op, e.to_string()))?,
            };
            let id = self
                .enqueue_valid(&job, oldest_reusable)
                .await
                .map_err(|m| failure(&op, format!("shard {}: {m}", s.name)))?;
            queued.push(Queued { name: s.name, id });
        }
        tracing::debug!(group = %group.name, vantage, shards = queued.len(), "shard jobs queued");
        let total = queued.len();
        let deadline = tokio::time::Instant::now() + wait;
        let mut parts = Vec::with_capacity(total);
        let mut pending = queued;
        while !pending.is_empty() {
            let mut still = Vec::with_capacity(pending.len());
            for q in pending {
                let row = match self.store.job(q.id).await {
                    Ok(Some(row)) => row,
                    Ok(None) => {
                        return Err(failure(
                            &op,
                            format!("shard {} (job {}) vanished", q.name, q.id),
                        ));
                    }
                    Err(e) => {
                        tracing::warn!(job = q.id, error = %e, "cannot read a shard job; retrying");
                        still.push(q);
                        continue;
                    }
                };
                let what = format!("shard {} (job {})", q.name, q.id);
                match job_progress(row, &group.name, vantage, &what) {
                    Ok(JobProgress::Finished(scan)) => parts.push(scan),
                    Ok(JobProgress::Waiting) => still.push(q),
                    Err(message) => return Err(failure(&op, message)),
                }
            }
            pending = still;
            if pending.is_empty() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                let first = &pending[0];
                return Err(failure(
                    &op,
                    format!(
                        "{} of {total} shards were not finished within {} by vantage {vantage}, \
                         among them shard {} (job {})",
                        pending.len(),
                        human(wait),
                        first.name,
                        first.id
                    ),
                ));
            }
            tokio::time::sleep(DONE_POLL).await;
        }
        Ok(shard::merge(&group.name, parts))
    }

    /// Queues `job`, or finds its live job if that one is still valid for this round (same
    /// spec, and if done, finished at `oldest_reusable` or later); an invalid one is
    /// superseded and the job queued again. Returns the job's id.
    async fn enqueue_valid(&self, job: &NewJob, oldest_reusable: i64) -> Result<i64, String> {
        // A superseded job frees the shard for a new one (unless another enqueuer took it).
        for _ in 0..3 {
            let (id, new) = self
                .store
                .job_enqueue(job, now_ms())
                .await
                .map_err(|e| e.to_string())?;
            if new {
                return Ok(id);
            }
            let Some(row) = self.store.job(id).await.map_err(|e| e.to_string())? else {
                continue;
            };
            let reason = if row.spec != job.spec {
                "superseded: the group's configuration changed"
            } else if row.status == JobStatus::Done
                && row.finished_at.unwrap_or(i64::MIN) < oldest_reusable
            {
                "superseded: its result is older than one round"
            } else {
                return Ok(id);
            };
            tracing::info!(job = id, shard = %job.shard, reason, "shard job superseded");
            self.store
                .job_supersede(id, reason, now_ms())
                .await
                .map_err(|e| e.to_string())?;
        }
        Err("its job keeps being replaced by another process".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Vantage;
    use crate::daemon::schedule::{Cause, Run};
    use portwatch_store::{Completion, JobRow, ScanStatus, Store};
    use portwatch_testkit::TestDb;
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;
    use tokio_util::sync::CancellationToken;

    // Every test runs on SQLite and on PostgreSQL (the replicas' backend).
    portwatch_testkit::both_backends!(
        the_shards_done_by_agents_are_one_observation_of_the_group,
        a_failed_shard_fails_the_round_by_name_and_the_next_round_reuses_the_done_ones,
        a_shard_whose_claimer_died_is_rescued_and_its_result_applied_once,
        a_done_shard_is_reused_while_fresh_and_superseded_when_old_or_changed,
        a_shard_not_done_within_the_wait_fails_the_round_naming_it,
    );

    /// A daemon over the fresh store `db` with group `big`: 127.0.0.4/30 × four TCP ports from
    /// `first`, seen from `lan`, in shards of 2 addresses × 2 ports (four shards).
    async fn daemon(db: &TestDb, first: u16, every: &str) -> (Arc<Daemon>, Store, Group) {
        let store = Store::open(&db.url).await.unwrap();
        let text = format!(
            "[[group]]\nname = \"big\"\ntargets = [\"127.0.0.4/30\"]\nports = \"T:{first}-{}\"\n\
             every = \"{every}\"\nvantages = [\"lan\"]\nshard = {{ addresses = 2, ports = 2 }}\n",
            first + 3
        );
        let settings = crate::config::parse(&text, Path::new("test.toml")).unwrap();
        let d = Daemon::new(settings, store.clone()).await.unwrap();
        let group = d.settings().await.groups[0].clone();
        (d, store, group)
    }

    /// What a fake agent does with a claimed shard.
    #[derive(Clone, Copy)]
    enum Act {
        Scan,
        Fail,
    }

    /// An agent of `lan` called `name` that claims shards until `stop`, doing to each what
    /// `act` says of its shard name.
    fn agent(
        store: &Store,
        name: &'static str,
        act: fn(&str) -> Act,
        stop: &CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let store = store.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                let Some(c) = store
                    .job_claim("lan", name, 10_000, now_ms())
                    .await
                    .unwrap()
                else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let row = store.job(c.id).await.unwrap().unwrap();
                let done = match act(&row.shard) {
                    Act::Scan => {
                        let spec: JobSpec = serde_json::from_value(c.spec.clone()).unwrap();
                        let result =
                            serde_json::to_value(runner::scan_job(&spec).await.unwrap()).unwrap();
                        store
                            .job_complete(c.id, c.attempt, &c.token, &result, now_ms())
                            .await
                            .unwrap()
                    }
                    Act::Fail => store
                        .job_fail(c.id, c.attempt, &c.token, "boom", now_ms())
                        .await
                        .unwrap(),
                };
                assert_eq!(done, Completion::Accepted);
            }
        })
    }

    fn lan(group: &Group) -> Vantage {
        group.vantage("lan").unwrap().clone()
    }

    async fn shard_jobs(store: &Store) -> Vec<JobRow> {
        let mut jobs = store.jobs(100).await.unwrap();
        jobs.sort_by_key(|j| j.id);
        jobs
    }

    async fn the_shards_done_by_agents_are_one_observation_of_the_group(
        db: TestDb,
    ) -> anyhow::Result<()> {
        let listener = std::net::TcpListener::bind("127.0.0.5:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (d, store, group) = daemon(&db, port, "1m").await;
        let stop = CancellationToken::new();
        let agents = [
            agent(&store, "lan-1", |_| Act::Scan, &stop),
            agent(&store, "lan-2", |_| Act::Scan, &stop),
        ];
        d.process_vantage(&group, &lan(&group), Run::Full(Cause::Scheduled), &stop)
            .await;
        stop.cancel();
        for a in agents {
            a.await.unwrap();
        }
        let jobs = shard_jobs(&store).await;
        assert_eq!(jobs.len(), 4, "{jobs:?}");
        assert!(
            jobs.iter().all(|j| j.status == JobStatus::Applied),
            "{jobs:?}"
        );
        assert_eq!(
            jobs[0].shard,
            format!("a0/p0 127.0.0.4-127.0.0.5 T:{port}-{}", port + 1)
        );
        let scans = store.scans(10, None).await.unwrap();
        assert_eq!(scans.len(), 1, "{scans:?}");
        assert_eq!(scans[0].status, ScanStatus::Complete, "{scans:?}");
        assert_eq!(scans[0].vantage, "lan");
        let open = store
            .history("127.0.0.5".parse().unwrap(), None)
            .await
            .unwrap();
        let ports: Vec<u16> = open.iter().map(|s| s.port).collect();
        assert_eq!(ports, vec![port], "{open:?}");
        Ok(())
    }

    async fn a_failed_shard_fails_the_round_by_name_and_the_next_round_reuses_the_done_ones(
        db: TestDb,
    ) -> anyhow::Result<()> {
        let (d, store, group) = daemon(&db, 40_001, "1m").await;
        let stop = CancellationToken::new();
        let failing = agent(
            &store,
            "lan-1",
            |shard| {
                if shard.starts_with("a1/p1 ") {
                    Act::Fail
                } else {
                    Act::Scan
                }
            },
            &stop,
        );
        let err = d
            .observe(&group, "lan", &group.targets, &group.ports, ScanKind::Round)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("shard a1/p1 127.0.0.6-127.0.0.7 T:40003-40004 (job ")
                && err.contains("failed on vantage lan: boom"),
            "{err}"
        );
        // Nothing is applied; wait until the agent is done with every shard.
        let deadline = tokio::time::Instant::now() + Duration::from_mins(1);
        loop {
            let jobs = shard_jobs(&store).await;
            let finished = jobs
                .iter()
                .filter(|j| matches!(j.status, JobStatus::Done | JobStatus::Failed))
                .count();
            if finished == 4 {
                assert!(jobs.iter().all(|j| j.status != JobStatus::Applied));
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{jobs:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stop.cancel();
        failing.await.unwrap();
        let done_before: Vec<i64> = shard_jobs(&store)
            .await
            .into_iter()
            .filter(|j| j.status == JobStatus::Done)
            .map(|j| j.id)
            .collect();
        assert_eq!(done_before.len(), 3);
        // The next round queues the failed shard again and reuses the three done ones.
        let stop = CancellationToken::new();
        let good = agent(&store, "lan-2", |_| Act::Scan, &stop);
        let scan = d
            .observe(&group, "lan", &group.targets, &group.ports, ScanKind::Round)
            .await
            .unwrap();
        stop.cancel();
        good.await.unwrap();
        assert_eq!(scan.jobs.len(), 4);
        assert!(
            done_before.iter().all(|id| scan.jobs.contains(id)),
            "{:?}",
            scan.jobs
        );
        assert_eq!(scan.hosts.len(), 4);
        assert!(scan.hosts.iter().all(|h| h.summary.ports_scanned == 4));
        // A confirmation is one unsharded job.
        let before = shard_jobs(&store).await.len();
        let stop = CancellationToken::new();
        let confirmer = agent(&store, "lan-2", |_| Act::Scan, &stop);
        let confirmed = d
            .observe(
                &group,
                "lan",
                &["127.0.0.5".to_string()],
                &group.ports,
                ScanKind::Confirmation,
            )
            .await
            .unwrap();
        stop.cancel();
        confirmer.await.unwrap();
        assert_eq!(confirmed.jobs.len(), 1);
        let jobs = shard_jobs(&store).await;
        assert_eq!(jobs.len(), before + 1);
        assert_eq!(jobs.last().unwrap().shard, "confirm");
        Ok(())
    }

    async fn a_shard_whose_claimer_died_is_rescued_and_its_result_applied_once(
        db: TestDb,
    ) -> anyhow::Result<()> {
        let (d, store, group) = daemon(&db, 40_011, "1m").await;
        let stop = CancellationToken::new();
        let rescuer = {
            let d = d.clone();
            let stop = stop.clone();
            tokio::spawn(async move { d.rescue_loop(stop).await })
        };
        let round = {
            let d = d.clone();
            let group = group.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                d.process_vantage(&group, &lan(&group), Run::Full(Cause::Scheduled), &stop)
                    .await
            })
        };
        // A claimer takes the first shard for 300 ms and dies with it.
        let dead = loop {
            if let Some(c) = store.job_claim("lan", "dead", 300, now_ms()).await.unwrap() {
                break c;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let alive = agent(&store, "lan-2", |_| Act::Scan, &stop);
        tokio::time::timeout(Duration::from_mins(2), round)
            .await
            .expect("the round ends")
            .unwrap();
        let late = store
            .job_complete(
                dead.id,
                dead.attempt,
                &dead.token,
                &serde_json::json!({}),
                now_ms(),
            )
            .await
            .unwrap();
        assert_eq!(late, Completion::Superseded);
        stop.cancel();
        alive.await.unwrap();
        rescuer.await.unwrap();
        let jobs = shard_jobs(&store).await;
        assert_eq!(jobs.len(), 4, "{jobs:?}");
        assert!(
            jobs.iter().all(|j| j.status == JobStatus::Applied),
            "{jobs:?}"
        );
        let rescued = jobs.iter().find(|j| j.id == dead.id).unwrap();
        assert_eq!(rescued.attempt, 2);
        assert_eq!(rescued.claimed_by.as_deref(), Some("lan-2"));
        let scans = store.scans(10, None).await.unwrap();
        assert_eq!(scans.len(), 1, "{scans:?}");
        assert_eq!(scans[0].status, ScanStatus::Complete);
        Ok(())
    }

    async fn a_done_shard_is_reused_while_fresh_and_superseded_when_old_or_changed(
        db: TestDb,
    ) -> anyhow::Result<()> {
        let (d, store, _group) = daemon(&db, 40_031, "1m").await;
        let job = |targets: &str| NewJob {
            group: "big".into(),
            vantage: "lan".into(),
            shard: "a0/p0".into(),
            spec: serde_json::json!({ "group": "big", "targets": [targets] }),
        };
        let now = now_ms();
        let (id, _) = store.job_enqueue(&job("127.0.0.4"), now).await.unwrap();
        let c = store
            .job_claim("lan", "lan-1", 10_000, now)
            .await
            .unwrap()
            .unwrap();
        // Done two minutes ago.
        let done = store
            .job_complete(
                id,
                c.attempt,
                &c.token,
                &serde_json::json!({}),
                now - 120_000,
            )
            .await
            .unwrap();
        assert_eq!(done, Completion::Accepted);
        // Fresh enough for a round that reuses results up to three minutes old ...
        assert_eq!(
            d.enqueue_valid(&job("127.0.0.4"), now - 180_000).await,
            Ok(id)
        );
        // ... but not for one that reuses them up to one minute old.
        let fresh = d
            .enqueue_valid(&job("127.0.0.4"), now - 60_000)
            .await
            .unwrap();
        assert_ne!(fresh, id);
        let old = store.job(id).await.unwrap().unwrap();
        assert_eq!(old.status, JobStatus::Failed);
        assert_eq!(
            old.error.as_deref(),
            Some("superseded: its result is older than one round")
        );
        // A queued shard whose spec the configuration changed is superseded too.
        let changed = d.enqueue_valid(&job("127.0.0.5"), now).await.unwrap();
        assert_ne!(changed, fresh);
        let replaced = store.job(fresh).await.unwrap().unwrap();
        assert_eq!(
            replaced.error.as_deref(),
            Some("superseded: the group's configuration changed")
        );
        let live: Vec<i64> = shard_jobs(&store)
            .await
            .iter()
            .filter(|j| j.status == JobStatus::Queued)
            .map(|j| j.id)
            .collect();
        assert_eq!(live, vec![changed]);
        Ok(())
    }

    async fn a_shard_not_done_within_the_wait_fails_the_round_naming_it(
        db: TestDb,
    ) -> anyhow::Result<()> {
        let (d, store, group) = daemon(&db, 40_021, "1s").await;
        let err = d
            .observe(&group, "lan", &group.targets, &group.ports, ScanKind::Round)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("4 of 4 shards were not finished within 1s by vantage lan")
                && err.contains("shard a0/p0 127.0.0.4-127.0.0.5 T:40021-40022 (job "),
            "{err}"
        );
        assert_eq!(shard_jobs(&store).await.len(), 4);
        assert!(store.scans(10, None).await.unwrap().is_empty());
        Ok(())
    }
}
