//! Scan jobs for agents and replicas: queued once per (group, vantage, shard), claimed under a
//! lease with a fencing token, done with one result, applied with the observation it records.
//!
//! On PostgreSQL a claim locks its row with `FOR UPDATE SKIP LOCKED`, so concurrent claimers
//! never wait on each other nor take the same job; on SQLite the claim runs in the write
//! transaction, which serialises claimers. Times are passed in (ms), so leases are testable.

use crate::canon::sha256_hex;
use crate::db::{DbRow, Dialect, Sql, Tx};
use crate::error::Result;
use crate::store::{Store, WriteKind};
use serde::{Deserialize, Serialize};
use std::hash::{BuildHasher, Hasher};

/// The statuses a job goes through.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum JobStatus {
    /// Waiting for a claimer.
    Queued,
    /// Held by a claimer until its lease expires.
    Claimed,
    /// Finished; its result waits to be applied.
    Done,
    /// Its result is recorded in the history.
    Applied,
    /// The claimer reported an error.
    Failed,
}

impl JobStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}

/// A job to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// The group it scans.
    pub group: String,
    /// Where it is scanned from.
    pub vantage: String,
    /// Which part of the group (`""` for all of it).
    pub shard: String,
    /// What the claimer needs to run it.
    pub spec: serde_json::Value,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRow {
    /// Id.
    pub id: i64,
    /// The group it scans.
    pub group: String,
    /// Where it is scanned from.
    pub vantage: String,
    /// Which part of the group (`""` for all of it).
    pub shard: String,
    /// What the claimer needs to run it.
    pub spec: serde_json::Value,
    /// Where it is.
    pub status: JobStatus,
    /// How many times it was claimed.
    pub attempt: i64,
    /// Who holds (or last held) it.
    pub claimed_by: Option<String>,
    /// When the current claim ends (ms).
    pub lease_expires_at: Option<i64>,
    /// When it was queued (ms).
    pub created_at: i64,
    /// When its result or error came (ms).
    pub finished_at: Option<i64>,
    /// The result of the attempt that was accepted.
    pub result: Option<serde_json::Value>,
    /// The error of a failed job.
    pub error: Option<String>,
}

/// A claimed job: what the claimer runs, and the (attempt, token) that its result must name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobClaim {
    /// The job's id.
    pub id: i64,
    /// This claim's number (1 for the first).
    pub attempt: i64,
    /// The fencing token of this claim.
    pub token: String,
    /// What to run.
    pub spec: serde_json::Value,
    /// How long the claim lasts unless renewed.
    pub lease_ms: i64,
}

/// What became of a pushed result or error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// Recorded now.
    Accepted,
    /// This attempt's outcome was recorded before; nothing changed.
    AlreadyAccepted,
    /// Another attempt holds or finished the job; this one's outcome is refused.
    Superseded,
    /// There is no such job.
    Unknown,
}

/// An agent as last heard from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRow {
    /// Its name.
    pub name: String,
    /// The vantage its token is bound to.
    pub vantage: String,
    /// The token it uses.
    pub token_id: i64,
    /// Its version.
    pub version: String,
    /// The address it connects from.
    pub addr: String,
    /// When it was first heard from (ms).
    pub first_seen_at: i64,
    /// When it was last heard from (ms).
    pub last_seen_at: i64,
    /// How many of its results were accepted.
    pub jobs_done: i64,
    /// The job it said it was running.
    pub current_job: Option<i64>,
}

/// A heartbeat from an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSeen<'a> {
    /// Its name.
    pub name: &'a str,
    /// The vantage of its token.
    pub vantage: &'a str,
    /// Its token.
    pub token_id: i64,
    /// Its version.
    pub version: &'a str,
    /// The address it connects from.
    pub addr: &'a str,
    /// The job it is running.
    pub current_job: Option<i64>,
}

const JOB_COLUMNS: &str = "id, group_name, vantage, shard, spec, status, attempt, claimed_by, \
     lease_expires_at, created_at, finished_at, result, error";

/// A fencing token no other claim has: a hash of the job, attempt, time, this store and a
/// per-process random key.
fn fencing_token(claimant: &str, id: i64, attempt: i64, now: i64) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(n);
    let salt = h.finish();
    sha256_hex(&format!("{claimant}/{id}/{attempt}/{now}/{n}/{salt}"))[..32].to_string()
}

impl Store {
    /// Queues a job unless a live one (queued, claimed or done) exists for its group,
    /// vantage and shard; returns the id of the job that is live now and whether it is new.
    /// The database's unique index decides, so concurrent enqueuers get one row.
    pub async fn job_enqueue(&self, job: &NewJob, now: i64) -> Result<(i64, bool)> {
        let op = "queue a scan job";
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        let inserted = tx
            .fetch_optional(
                &Sql::new(
                    "INSERT INTO jobs (group_name, vantage, shard, spec, status, created_at) \
                     VALUES ($1, $2, $3, $4, 'queued', $5) \
                     ON CONFLICT (group_name, vantage, shard) WHERE status IN ('queued', 'claimed', 'done') \
                     DO NOTHING RETURNING id",
                )
                .bind(job.group.as_str())
                .bind(job.vantage.as_str())
                .bind(job.shard.as_str())
                .bind(crate::canon::canonical_json(&job.spec))
                .bind(now),
            )
            .await
            .map_err(self.err(op))?;
        let (id, new) = if let Some(r) = inserted {
            (r.int("id").map_err(self.err(op))?, true)
        } else {
            let row = tx
                .fetch_optional(
                    &Sql::new(
                        "SELECT id FROM jobs WHERE group_name = $1 AND vantage = $2 AND shard = $3 \
                         AND status IN ('queued', 'claimed', 'done')",
                    )
                    .bind(job.group.as_str())
                    .bind(job.vantage.as_str())
                    .bind(job.shard.as_str()),
                )
                .await
                .map_err(self.err(op))?
                .ok_or_else(|| self.corrupt(op, "the live job vanished while queueing"))?;
            (row.int("id").map_err(self.err(op))?, false)
        };
        tx.commit().await.map_err(self.err(op))?;
        if new {
            self.inner.jobs_queued.notify_waiters();
        }
        Ok((id, new))
    }

    /// Resolves when a job is next queued through a store of this process (it counts from
    /// this call, before the future is first awaited). Another process's jobs wake nobody:
    /// poll [`Store::job_claim`] too.
    pub fn job_queued(&self) -> impl std::future::Future<Output = ()> + Send + '_ {
        self.inner.jobs_queued.notified()
    }

    /// Claims the oldest job of `vantage` that is queued (or claimed with an expired lease)
    /// for `agent` until `now + lease_ms`: the attempt counts one more, with a new token.
    pub async fn job_claim(
        &self,
        vantage: &str,
        agent: &str,
        lease_ms: i64,
        now: i64,
    ) -> Result<Option<JobClaim>> {
        let op = "claim a scan job";
        let lock = match self.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        let row = tx
            .fetch_optional(
                &Sql::new(format!(
                    "SELECT id, attempt FROM jobs WHERE vantage = $1 AND (status = 'queued' \
                     OR (status = 'claimed' AND lease_expires_at <= $2)) ORDER BY id LIMIT 1{lock}"
                ))
                .bind(vantage)
                .bind(now),
            )
            .await
            .map_err(self.err(op))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let id = row.int("id").map_err(self.err(op))?;
        let attempt = row.int("attempt").map_err(self.err(op))? + 1;
        let token = fencing_token(&self.inner.claimant, id, attempt, now);
        let spec = tx
            .fetch_optional(
                &Sql::new(
                    "UPDATE jobs SET status = 'claimed', attempt = $1, token = $2, claimed_by = $3, \
                     lease_expires_at = $4 WHERE id = $5 RETURNING spec",
                )
                .bind(attempt)
                .bind(token.as_str())
                .bind(agent)
                .bind(now.saturating_add(lease_ms))
                .bind(id),
            )
            .await
            .map_err(self.err(op))?
            .ok_or_else(|| self.corrupt(op, "the claimed job vanished"))?
            .text("spec")
            .map_err(self.err(op))?;
        tx.commit().await.map_err(self.err(op))?;
        Ok(Some(JobClaim {
            id,
            attempt,
            token,
            spec: self.json_col(&spec, "jobs.spec", op)?,
            lease_ms,
        }))
    }

    /// Extends a claim to `now + lease_ms`; false if the claim (job and token) is no longer held.
    pub async fn job_renew(&self, id: i64, token: &str, lease_ms: i64, now: i64) -> Result<bool> {
        let op = "renew a scan job's lease";
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        let n = tx
            .execute(
                &Sql::new(
                    "UPDATE jobs SET lease_expires_at = $1 WHERE id = $2 AND token = $3 AND status = 'claimed'",
                )
                .bind(now.saturating_add(lease_ms))
                .bind(id)
                .bind(token),
            )
            .await
            .map_err(self.err(op))?;
        tx.commit().await.map_err(self.err(op))?;
        Ok(n == 1)
    }

    /// Records the result of attempt `attempt` (with its token) of job `id`. The first
    /// outcome of the current attempt is accepted (also after its lease ran out, as long as
    /// no other claim took the job); the same attempt again is already accepted; any other
    /// attempt is superseded. Never two results for one job.
    pub async fn job_complete(
        &self,
        id: i64,
        attempt: i64,
        token: &str,
        result: &serde_json::Value,
        now: i64,
    ) -> Result<Completion> {
        self.job_finish(id, attempt, token, Outcome::Result(result), now)
            .await
    }

    /// Records that attempt `attempt` of job `id` failed with `error` (same rules as
    /// [`Store::job_complete`]); a failed job is not live, so the next enqueue makes a new one.
    pub async fn job_fail(
        &self,
        id: i64,
        attempt: i64,
        token: &str,
        error: &str,
        now: i64,
    ) -> Result<Completion> {
        self.job_finish(id, attempt, token, Outcome::Error(error), now)
            .await
    }

    async fn job_finish(
        &self,
        id: i64,
        attempt: i64,
        token: &str,
        outcome: Outcome<'_>,
        now: i64,
    ) -> Result<Completion> {
        let op = "record a scan job's outcome";
        let lock = match self.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        };
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        let Some(row) = tx
            .fetch_optional(
                &Sql::new(format!(
                    "SELECT status, attempt, token, claimed_by FROM jobs WHERE id = $1{lock}"
                ))
                .bind(id),
            )
            .await
            .map_err(self.err(op))?
        else {
            return Ok(Completion::Unknown);
        };
        let e = self.err(op);
        let status = row.text("status").map_err(&e)?;
        let status = JobStatus::parse(&status)
            .ok_or_else(|| self.corrupt(op, format!("unknown job status '{status}'")))?;
        let same = row.int("attempt").map_err(&e)? == attempt
            && row.opt_text("token").map_err(&e)?.as_deref() == Some(token);
        let claimed_by = row.opt_text("claimed_by").map_err(&e)?;
        let answer = match (same, status) {
            (false, _) => Completion::Superseded,
            (true, JobStatus::Queued | JobStatus::Claimed) => {
                let (status, result, error) = match outcome {
                    Outcome::Result(v) => ("done", Some(crate::canon::canonical_json(v)), None),
                    Outcome::Error(m) => ("failed", None, Some(m.to_string())),
                };
                tx.execute(
                    &Sql::new(
                        "UPDATE jobs SET status = $1, result = $2, error = $3, finished_at = $4, \
                         lease_expires_at = NULL WHERE id = $5",
                    )
                    .bind(status)
                    .bind(result)
                    .bind(error)
                    .bind(now)
                    .bind(id),
                )
                .await
                .map_err(&e)?;
                if let (Outcome::Result(_), Some(agent)) = (outcome, &claimed_by) {
                    tx.execute(
                        &Sql::new(
                            "UPDATE agents SET jobs_done = jobs_done + 1, \
                             current_job = CASE WHEN current_job = $1 THEN NULL ELSE current_job END \
                             WHERE name = $2",
                        )
                        .bind(id)
                        .bind(agent.as_str()),
                    )
                    .await
                    .map_err(&e)?;
                }
                Completion::Accepted
            }
            (true, JobStatus::Done | JobStatus::Applied) => match outcome {
                Outcome::Result(_) => Completion::AlreadyAccepted,
                Outcome::Error(_) => Completion::Superseded,
            },
            (true, JobStatus::Failed) => match outcome {
                Outcome::Error(_) => Completion::AlreadyAccepted,
                Outcome::Result(_) => Completion::Superseded,
            },
        };
        tx.commit().await.map_err(self.err(op))?;
        Ok(answer)
    }

    /// Ends a live job (queued, claimed or done) that is no longer wanted, e.g. a shard
    /// whose result is too old or whose spec the configuration changed: it becomes failed
    /// with `reason`, so the next enqueue makes a new job, and a result from its claim is
    /// refused. False if the job was not live.
    pub async fn job_supersede(&self, id: i64, reason: &str, now: i64) -> Result<bool> {
        let op = "supersede a scan job";
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        let n = tx
            .execute(
                &Sql::new(
                    "UPDATE jobs SET status = 'failed', error = $1, token = NULL, \
                     finished_at = $2, lease_expires_at = NULL \
                     WHERE id = $3 AND status IN ('queued', 'claimed', 'done')",
                )
                .bind(reason)
                .bind(now)
                .bind(id),
            )
            .await
            .map_err(self.err(op))?;
        tx.commit().await.map_err(self.err(op))?;
        Ok(n == 1)
    }

    /// Puts every claimed job whose lease expired before `now` back in the queue (the next
    /// claim is a new attempt with a new token); returns how many.
    pub async fn jobs_rescue_expired(&self, now: i64) -> Result<u64> {
        let op = "requeue scan jobs with expired leases";
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        let n = tx
            .execute(
                &Sql::new(
                    "UPDATE jobs SET status = 'queued', lease_expires_at = NULL \
                     WHERE status = 'claimed' AND lease_expires_at <= $1",
                )
                .bind(now),
            )
            .await
            .map_err(self.err(op))?;
        tx.commit().await.map_err(self.err(op))?;
        Ok(n)
    }

    /// One job.
    pub async fn job(&self, id: i64) -> Result<Option<JobRow>> {
        let op = "read a scan job";
        let mut tx = self.read_tx(op).await?;
        let row = tx
            .fetch_optional(
                &Sql::new(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1")).bind(id),
            )
            .await
            .map_err(self.err(op))?;
        row.map(|r| self.job_row(&r, op)).transpose()
    }

    /// Jobs, newest first, at most `limit`.
    pub async fn jobs(&self, limit: u32) -> Result<Vec<JobRow>> {
        let op = "list scan jobs";
        let mut tx = self.read_tx(op).await?;
        let rows = tx
            .fetch_all(
                &Sql::new(format!(
                    "SELECT {JOB_COLUMNS} FROM jobs ORDER BY id DESC LIMIT $1"
                ))
                .bind(i64::from(limit)),
            )
            .await
            .map_err(self.err(op))?;
        rows.iter().map(|r| self.job_row(r, op)).collect()
    }

    /// Marks done jobs applied, inside the transaction that records their observation.
    pub(crate) async fn jobs_applied_in(&self, tx: &mut Tx, ids: &[i64]) -> Result<()> {
        let op = "mark scan jobs applied";
        for id in ids {
            tx.execute(
                &Sql::new("UPDATE jobs SET status = 'applied' WHERE id = $1 AND status = 'done'")
                    .bind(*id),
            )
            .await
            .map_err(self.err(op))?;
        }
        Ok(())
    }

    /// Records a heartbeat from an agent at `now`.
    pub async fn agent_seen(&self, seen: &AgentSeen<'_>, now: i64) -> Result<()> {
        let op = "record an agent's heartbeat";
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        tx.execute(
            &Sql::new(
                "INSERT INTO agents (name, vantage, token_id, version, addr, first_seen_at, last_seen_at, \
                 jobs_done, current_job) VALUES ($1, $2, $3, $4, $5, $6, $6, 0, $7) \
                 ON CONFLICT (name) DO UPDATE SET vantage = excluded.vantage, token_id = excluded.token_id, \
                 version = excluded.version, addr = excluded.addr, last_seen_at = excluded.last_seen_at, \
                 current_job = excluded.current_job",
            )
            .bind(seen.name)
            .bind(seen.vantage)
            .bind(seen.token_id)
            .bind(seen.version)
            .bind(seen.addr)
            .bind(now)
            .bind(seen.current_job),
        )
        .await
        .map_err(self.err(op))?;
        tx.commit().await.map_err(self.err(op))
    }

    /// Every agent heard from, by vantage and name.
    pub async fn agents(&self) -> Result<Vec<AgentRow>> {
        let op = "list agents";
        let mut tx = self.read_tx(op).await?;
        let rows = tx
            .fetch_all(&Sql::new(
                "SELECT name, vantage, token_id, version, addr, first_seen_at, last_seen_at, jobs_done, \
                 current_job FROM agents ORDER BY vantage, name",
            ))
            .await
            .map_err(self.err(op))?;
        rows.iter()
            .map(|r| {
                let e = self.err(op);
                Ok(AgentRow {
                    name: r.text("name").map_err(&e)?,
                    vantage: r.text("vantage").map_err(&e)?,
                    token_id: r.int("token_id").map_err(&e)?,
                    version: r.text("version").map_err(&e)?,
                    addr: r.text("addr").map_err(&e)?,
                    first_seen_at: r.int("first_seen_at").map_err(&e)?,
                    last_seen_at: r.int("last_seen_at").map_err(&e)?,
                    jobs_done: r.int("jobs_done").map_err(&e)?,
                    current_job: r.opt_int("current_job").map_err(&e)?,
                })
            })
            .collect()
    }

    fn job_row(&self, r: &DbRow, op: &'static str) -> Result<JobRow> {
        let e = self.err(op);
        let status = r.text("status").map_err(&e)?;
        Ok(JobRow {
            id: r.int("id").map_err(&e)?,
            group: r.text("group_name").map_err(&e)?,
            vantage: r.text("vantage").map_err(&e)?,
            shard: r.text("shard").map_err(&e)?,
            spec: self.json_col(&r.text("spec").map_err(&e)?, "jobs.spec", op)?,
            status: JobStatus::parse(&status)
                .ok_or_else(|| self.corrupt(op, format!("unknown job status '{status}'")))?,
            attempt: r.int("attempt").map_err(&e)?,
            claimed_by: r.opt_text("claimed_by").map_err(&e)?,
            lease_expires_at: r.opt_int("lease_expires_at").map_err(&e)?,
            created_at: r.int("created_at").map_err(&e)?,
            finished_at: r.opt_int("finished_at").map_err(&e)?,
            result: r
                .opt_text("result")
                .map_err(&e)?
                .map(|t| self.json_col(&t, "jobs.result", op))
                .transpose()?,
            error: r.opt_text("error").map_err(&e)?,
        })
    }
}

#[derive(Clone, Copy)]
enum Outcome<'a> {
    Result(&'a serde_json::Value),
    Error(&'a str),
}
