//! Scan jobs and agents: each job claimed by one claimer at a time under a fenced lease, an
//! expired lease rescued and claimed again, one result per job whatever is pushed twice or
//! late, one live job per (group, vantage, shard) by the database's index. Same behaviour on
//! SQLite and PostgreSQL; times are passed in (ms).

mod common;

use anyhow::{Result, ensure};
use common::{OpenStore, TestDb};
use portwatch_store::{AgentSeen, Completion, Effects, JobStatus, NewJob, Store};
use serde_json::json;
use std::collections::BTreeSet;

both_backends!(
    concurrent_claimers_get_each_job_exactly_once,
    an_expired_lease_is_rescued_and_its_late_result_superseded,
    a_result_pushed_twice_is_already_accepted,
    enqueueing_a_live_job_again_finds_it,
    a_recorded_observation_marks_its_job_applied,
    agents_are_listed_with_their_heartbeat_and_jobs_done,
    agent_tokens_are_bound_to_a_vantage,
    pruning_forgets_finished_jobs_only,
    the_shards_of_a_round_are_queued_once_by_concurrent_rounds,
    concurrent_claimers_take_distinct_shards_of_one_group,
    a_superseded_shard_refuses_its_claims_result_and_is_queued_anew,
);

fn shard(group: &str, name: &str) -> NewJob {
    NewJob {
        shard: name.into(),
        spec: json!({"group": group, "targets": [name]}),
        ..job(group, "lan")
    }
}

const SHARDS: [&str; 4] = [
    "a0/p0 127.0.0.0-127.0.0.7 T:1-20",
    "a0/p1 127.0.0.0-127.0.0.7 T:21-40",
    "a1/p0 127.0.0.8-127.0.0.15 T:1-20",
    "a1/p1 127.0.0.8-127.0.0.15 T:21-40",
];

async fn the_shards_of_a_round_are_queued_once_by_concurrent_rounds(db: TestDb) -> Result<()> {
    // Three rounds (as from three replicas) queue the same four shards at once.
    let mut rounds = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let store = db.open().await?;
        rounds.spawn(async move {
            let mut ids = Vec::new();
            for name in SHARDS {
                ids.push(store.job_enqueue(&shard("big", name), T0).await?);
            }
            anyhow::Ok(ids)
        });
    }
    let mut ids = BTreeSet::new();
    let mut new = 0;
    while let Some(r) = rounds.join_next().await {
        for (id, created) in r?? {
            ids.insert(id);
            new += usize::from(created);
        }
    }
    ensure!(ids.len() == 4 && new == 4, "{ids:?} {new}");
    ensure!(db.scalar("SELECT COUNT(*) FROM jobs").await? == 4);
    Ok(())
}

async fn concurrent_claimers_take_distinct_shards_of_one_group(db: TestDb) -> Result<()> {
    let s = db.open().await?;
    let mut queued = BTreeSet::new();
    for n in 0..16 {
        queued.insert(
            s.job_enqueue(&shard("big", &format!("a{n}/p0")), T0)
                .await?
                .0,
        );
    }
    // Four agents of the vantage claim one shard each at the same moment, then the rest.
    let seen = claim_all(&db, 4).await?;
    let distinct: BTreeSet<i64> = seen.iter().copied().collect();
    ensure!(seen.len() == 16 && distinct == queued, "{seen:?}");
    let holders = db
        .scalar("SELECT COUNT(DISTINCT claimed_by) FROM jobs WHERE status = 'claimed'")
        .await?;
    ensure!((1..=4).contains(&holders), "{holders}");
    Ok(())
}

async fn a_superseded_shard_refuses_its_claims_result_and_is_queued_anew(db: TestDb) -> Result<()> {
    let s = db.open().await?;
    let (id, _) = s.job_enqueue(&shard("big", SHARDS[0]), T0).await?;
    let c = s.job_claim("lan", "a1", 60_000, T0).await?.expect("a job");
    ensure!(s.job_supersede(id, "superseded: test", T0 + 1).await?);
    ensure!(!s.job_supersede(id, "again", T0 + 2).await?);
    let row = s.job(id).await?.expect("job");
    ensure!(row.status == JobStatus::Failed && row.error.as_deref() == Some("superseded: test"));
    // Its holder can neither renew nor push.
    ensure!(!s.job_renew(id, &c.token, 60_000, T0 + 3).await?);
    let late = s
        .job_complete(id, c.attempt, &c.token, &json!({}), T0 + 4)
        .await?;
    ensure!(late == Completion::Superseded, "{late:?}");
    let (next, created) = s.job_enqueue(&shard("big", SHARDS[0]), T0 + 5).await?;
    ensure!(created && next != id);
    Ok(())
}

async fn pruning_forgets_finished_jobs_only(db: TestDb) -> Result<()> {
    let s = db.open().await?;
    let (failed, _) = s.job_enqueue(&job("a", "lan"), T0).await?;
    let c = s.job_claim("lan", "x", 1_000, T0).await?.expect("a job");
    s.job_fail(failed, c.attempt, &c.token, "boom", T0 + 1)
        .await?;
    let (queued, _) = s.job_enqueue(&job("b", "lan"), T0).await?;
    // T0 lies years ahead of now: a keep of zero is "before now" for none of them.
    ensure!(s.prune(std::time::Duration::ZERO).await?.jobs == 0);
    db.exec("UPDATE jobs SET created_at = 1, finished_at = 2")
        .await?;
    let r = s.prune(std::time::Duration::from_secs(1)).await?;
    ensure!(r.jobs == 1, "{r:?}");
    ensure!(s.job(failed).await?.is_none() && s.job(queued).await?.is_some());
    Ok(())
}

const T0: i64 = 1_800_000_000_000;

/// `claimers` agents of `lan` (`agent-0`, …), each on a store of its own, claim at the same
/// moment until none is left; the ids of every job they got.
async fn claim_all(db: &TestDb, claimers: usize) -> Result<Vec<i64>> {
    let mut set = tokio::task::JoinSet::new();
    for c in 0..claimers {
        let store = db.open().await?;
        set.spawn(async move {
            let mut mine = Vec::new();
            while let Some(claim) = store
                .job_claim("lan", &format!("agent-{c}"), 60_000, T0 + 1)
                .await?
            {
                mine.push(claim.id);
            }
            anyhow::Ok(mine)
        });
    }
    let mut seen = Vec::new();
    while let Some(r) = set.join_next().await {
        seen.extend(r??);
    }
    Ok(seen)
}

fn job(group: &str, vantage: &str) -> NewJob {
    NewJob {
        group: group.into(),
        vantage: vantage.into(),
        shard: String::new(),
        spec: json!({"targets": ["127.0.0.1"], "group": group}),
    }
}

async fn concurrent_claimers_get_each_job_exactly_once(db: TestDb) -> Result<()> {
    let s = db.open().await?;
    let mut queued = BTreeSet::new();
    for n in 0..24 {
        queued.insert(s.job_enqueue(&job(&format!("g{n}"), "lan"), T0).await?.0);
    }
    // Another vantage's job is never handed to a `lan` claimer.
    let (other, _) = s.job_enqueue(&job("g0", "internet"), T0).await?;
    let seen = claim_all(&db, 6).await?;
    let distinct: BTreeSet<i64> = seen.iter().copied().collect();
    ensure!(seen.len() == 24 && distinct == queued, "{seen:?}");
    ensure!(!distinct.contains(&other));
    let row = s.job(seen[0]).await?.expect("the job exists");
    ensure!(
        row.status == JobStatus::Claimed && row.attempt == 1,
        "{row:?}"
    );
    Ok(())
}

async fn an_expired_lease_is_rescued_and_its_late_result_superseded(db: TestDb) -> Result<()> {
    let s = db.open().await?;
    let (id, _) = s.job_enqueue(&job("web", "lan"), T0).await?;
    let first = s.job_claim("lan", "a1", 1_000, T0).await?.expect("a job");
    ensure!(first.attempt == 1);
    // Held while the lease runs: nobody else gets it, and the holder may renew.
    ensure!(s.job_claim("lan", "a2", 1_000, T0 + 500).await?.is_none());
    ensure!(s.job_renew(id, &first.token, 1_000, T0 + 500).await?);
    ensure!(!s.job_renew(id, "not-the-token", 1_000, T0 + 500).await?);
    ensure!(s.jobs_rescue_expired(T0 + 1_400).await? == 0);
    // The holder went silent: the lease ends, the rescuer queues it again.
    ensure!(s.jobs_rescue_expired(T0 + 1_600).await? == 1);
    ensure!(s.job(id).await?.expect("job").status == JobStatus::Queued);
    let second = s
        .job_claim("lan", "a2", 1_000, T0 + 1_700)
        .await?
        .expect("a job");
    ensure!(second.id == id && second.attempt == 2 && second.token != first.token);
    ensure!(!s.job_renew(id, &first.token, 1_000, T0 + 1_800).await?);
    // The first attempt's late result is refused; the second's is the job's result.
    let late = s
        .job_complete(id, 1, &first.token, &json!({"from": 1}), T0 + 1_900)
        .await?;
    ensure!(late == Completion::Superseded, "{late:?}");
    let done = s
        .job_complete(id, 2, &second.token, &json!({"from": 2}), T0 + 2_000)
        .await?;
    ensure!(done == Completion::Accepted, "{done:?}");
    let row = s.job(id).await?.expect("job");
    ensure!(row.status == JobStatus::Done && row.result == Some(json!({"from": 2})));
    // A claim whose lease ran out is also taken by the next claimer without the rescuer.
    let (id2, _) = s.job_enqueue(&job("db", "lan"), T0).await?;
    let c1 = s.job_claim("lan", "a1", 1_000, T0).await?.expect("a job");
    let c2 = s
        .job_claim("lan", "a2", 1_000, T0 + 1_001)
        .await?
        .expect("a job");
    ensure!(c1.id == id2 && c2.id == id2 && c2.attempt == 2);
    let late = s.job_fail(id2, 1, &c1.token, "boom", T0 + 1_100).await?;
    ensure!(late == Completion::Superseded);
    Ok(())
}

async fn a_result_pushed_twice_is_already_accepted(db: TestDb) -> Result<()> {
    let s = db.open().await?;
    let (id, _) = s.job_enqueue(&job("web", "lan"), T0).await?;
    let c = s.job_claim("lan", "a1", 1_000, T0).await?.expect("a job");
    let first = s
        .job_complete(id, 1, &c.token, &json!({"n": 1}), T0 + 10)
        .await?;
    let again = s
        .job_complete(id, 1, &c.token, &json!({"n": 2}), T0 + 20)
        .await?;
    ensure!(first == Completion::Accepted && again == Completion::AlreadyAccepted);
    let row = s.job(id).await?.expect("job");
    ensure!(row.result == Some(json!({"n": 1})) && row.finished_at == Some(T0 + 10));
    ensure!(s.job_complete(9_999, 1, "x", &json!({}), T0).await? == Completion::Unknown);
    // A result pushed after the lease ran out, before anyone claimed the job again, counts.
    let (id2, _) = s.job_enqueue(&job("db", "lan"), T0).await?;
    let c2 = s.job_claim("lan", "a1", 1_000, T0).await?.expect("a job");
    ensure!(s.jobs_rescue_expired(T0 + 5_000).await? == 1);
    let late = s
        .job_complete(id2, 1, &c2.token, &json!({}), T0 + 6_000)
        .await?;
    ensure!(late == Completion::Accepted, "{late:?}");
    Ok(())
}

async fn enqueueing_a_live_job_again_finds_it(db: TestDb) -> Result<()> {
    let s = db.open().await?;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let store = db.open().await?;
        tasks.spawn(async move { store.job_enqueue(&job("web", "lan"), T0).await });
    }
    let mut ids = BTreeSet::new();
    let mut new = 0;
    while let Some(r) = tasks.join_next().await {
        let (id, created) = r??;
        ids.insert(id);
        new += usize::from(created);
    }
    ensure!(ids.len() == 1 && new == 1, "{ids:?} {new}");
    ensure!(db.scalar("SELECT COUNT(*) FROM jobs").await? == 1);
    // Another shard or vantage is another job; a failed job is not live any more.
    let (shard, _) = s
        .job_enqueue(
            &NewJob {
                shard: "10.0.0.0/25".into(),
                ..job("web", "lan")
            },
            T0,
        )
        .await?;
    ensure!(!ids.contains(&shard));
    let id = *ids.iter().next().expect("one id");
    let c = s.job_claim("lan", "a1", 1_000, T0).await?.expect("a job");
    ensure!(c.id == id);
    ensure!(
        s.job_fail(id, 1, &c.token, "cannot resolve", T0 + 1)
            .await?
            == Completion::Accepted
    );
    let row = s.job(id).await?.expect("job");
    ensure!(row.status == JobStatus::Failed && row.error.as_deref() == Some("cannot resolve"));
    let (next, created) = s.job_enqueue(&job("web", "lan"), T0 + 2).await?;
    ensure!(created && next != id);
    Ok(())
}

async fn a_recorded_observation_marks_its_job_applied(db: TestDb) -> Result<()> {
    let s = db.open().await?;
    let (id, _) = s.job_enqueue(&job("web", "lan"), T0).await?;
    let c = s.job_claim("lan", "a1", 1_000, T0).await?.expect("a job");
    s.job_complete(id, 1, &c.token, &json!({}), T0 + 1).await?;
    // While done and not yet applied, the job is live: a daemon that restarts finds it.
    ensure!(s.job_enqueue(&job("web", "lan"), T0 + 2).await? == (id, false));
    let o = common::outcome(&[("10.0.0.1", true)], &[22], vec![]);
    let scan = s.begin_scan(&common::new_scan(&o)).await?;
    let effects = Effects {
        jobs_applied: vec![id],
        ..Default::default()
    };
    s.finish_scan(scan, &o, &effects).await?;
    ensure!(s.job(id).await?.expect("job").status == JobStatus::Applied);
    let (next, created) = s.job_enqueue(&job("web", "lan"), T0 + 3).await?;
    ensure!(created && next != id);
    Ok(())
}

async fn agents_are_listed_with_their_heartbeat_and_jobs_done(db: TestDb) -> Result<()> {
    let s = db.open().await?;
    let seen = |now_job| AgentSeen {
        name: "lan-1",
        vantage: "lan",
        token_id: 7,
        version: "0.1.0",
        addr: "127.0.0.1",
        current_job: now_job,
    };
    s.agent_seen(&seen(None), T0).await?;
    let (id, _) = s.job_enqueue(&job("web", "lan"), T0).await?;
    let c = s
        .job_claim("lan", "lan-1", 1_000, T0)
        .await?
        .expect("a job");
    s.agent_seen(&seen(Some(id)), T0 + 100).await?;
    let agents = s.agents().await?;
    ensure!(
        agents.len() == 1 && agents[0].current_job == Some(id),
        "{agents:?}"
    );
    s.job_complete(id, 1, &c.token, &json!({}), T0 + 200)
        .await?;
    s.job_complete(id, 1, &c.token, &json!({}), T0 + 300)
        .await?;
    let a = &s.agents().await?[0];
    ensure!(a.jobs_done == 1 && a.current_job.is_none(), "{a:?}");
    ensure!(a.first_seen_at == T0 && a.last_seen_at == T0 + 100 && a.vantage == "lan");
    Ok(())
}

async fn agent_tokens_are_bound_to_a_vantage(db: TestDb) -> Result<()> {
    let s: Store = db.open().await?;
    let id = s
        .create_token_for("lan-agent", "agent", Some("lan"), "h1")
        .await?;
    let row = s.find_token("h1").await?.expect("the token");
    ensure!(row.id == id && row.role == "agent" && row.vantage.as_deref() == Some("lan"));
    // The database refuses an agent token without a vantage, and a vantage on another role.
    ensure!(s.create_token_for("x", "agent", None, "h2").await.is_err());
    ensure!(
        s.create_token_for("x", "viewer", Some("lan"), "h3")
            .await
            .is_err()
    );
    ensure!(s.create_token("v", "viewer", "h4").await.is_ok());
    Ok(())
}
