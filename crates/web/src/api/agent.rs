//! `/api/v1/agent/…`: what agents call (agent tokens only): long-poll for a job of the token's
//! vantage, renew the claim while scanning, push the result keyed by (job, attempt); and
//! `/api/v1/agents`, the list of agents as last heard from (viewer and admin).

use super::extract::{ApiJson, ApiPath, echo};
use super::model::{ErrorBody, time};
use super::query::{ApiQuery, NoQuery};
use crate::auth::{AgentUser, User};
use crate::client::Client;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portwatch_store::{AgentSeen, Completion, JobClaim};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;

/// Largest body an agent may push (a result lists every host and open port of a scan).
pub const MAX_RESULT_BYTES: usize = 32 * 1024 * 1024;

/// How often a poll looks at the job table when no job is queued by this process (another
/// replica may queue one).
const POLL_EVERY: Duration = Duration::from_secs(1);

/// An agent asking for work; also its heartbeat.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PollRequest {
    /// The agent's version.
    #[schema(example = "0.1.0")]
    pub version: String,
    /// The job it is running, if any.
    #[serde(default)]
    pub current_job: Option<i64>,
    /// Its name (default: the token's name); one row per name in the agent list.
    #[serde(default)]
    pub name: Option<String>,
}

/// A job given to an agent: run `spec`, renew before `lease_ms` passes, push the result with
/// `attempt` and `token`.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobOffer {
    /// The job's id.
    pub id: i64,
    /// This claim's number.
    pub attempt: i64,
    /// The claim's fencing token.
    pub token: String,
    /// How long the claim lasts unless renewed (ms).
    pub lease_ms: i64,
    /// What to scan: targets, exclude, ports, scan options, identify.
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
}

impl From<JobClaim> for JobOffer {
    fn from(c: JobClaim) -> Self {
        JobOffer {
            id: c.id,
            attempt: c.attempt,
            token: c.token,
            lease_ms: c.lease_ms,
            spec: c.spec,
        }
    }
}

/// A claim to renew.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    /// The claim's number.
    pub attempt: i64,
    /// The claim's fencing token.
    pub token: String,
}

/// A renewed claim.
#[derive(Debug, Serialize, ToSchema)]
pub struct Renewed {
    /// How long the claim lasts now unless renewed again (ms).
    pub lease_ms: i64,
}

/// An attempt's outcome: exactly one of `result` and `error`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttemptOutcome {
    /// The claim's fencing token.
    pub token: String,
    /// The scan's result (hosts and their open ports).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// Why the job could not be run.
    #[serde(default)]
    pub error: Option<String>,
}

/// What became of a pushed outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct Pushed {
    /// `accepted` (recorded now), `already-accepted` (this attempt's outcome was recorded
    /// before) or `superseded` (another attempt holds or finished the job; refused).
    #[schema(example = "accepted")]
    pub status: String,
    /// Why it was refused (superseded only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One agent, as last heard from.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentView {
    /// Its name.
    pub name: String,
    /// The vantage it scans from.
    #[schema(example = "lan")]
    pub vantage: String,
    /// Its version.
    pub version: String,
    /// The address it connects from.
    pub address: String,
    /// When it was first heard from.
    #[schema(format = DateTime)]
    pub first_seen: String,
    /// When it was last heard from.
    #[schema(format = DateTime)]
    pub last_seen: String,
    /// How many of its results were accepted.
    pub jobs_done: i64,
    /// The job it said it was running.
    pub current_job: Option<i64>,
}

impl From<&portwatch_store::AgentRow> for AgentView {
    fn from(a: &portwatch_store::AgentRow) -> Self {
        AgentView {
            name: a.name.clone(),
            vantage: a.vantage.clone(),
            version: a.version.clone(),
            address: a.addr.clone(),
            first_seen: time(a.first_seen_at),
            last_seen: time(a.last_seen_at),
            jobs_done: a.jobs_done,
            current_job: a.current_job,
        }
    }
}

/// The agent list.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentList {
    /// Every agent heard from, by vantage and name.
    pub items: Vec<AgentView>,
}

fn bounded(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("'{field}' must be 1 to {max} printable characters"),
        ));
    }
    Ok(())
}

fn job_id(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::bad_request(format!("'{}' is not a job id", echo(text))))
}

/// The job, if it exists and belongs to the agent's vantage (any other is "no such job").
async fn own_job(
    state: &AppState,
    agent: &AgentUser,
    id: i64,
) -> Result<portwatch_store::JobRow, ApiError> {
    match state.store().job(id).await? {
        Some(job) if job.vantage == agent.vantage => Ok(job),
        _ => Err(ApiError::not_found(format!(
            "no job {id} for vantage {}",
            agent.vantage
        ))),
    }
}

/// Long-polls for a job of the token's vantage (up to about 20 s) and records a heartbeat.
#[utoipa::path(
    post,
    path = "/agent/poll",
    operation_id = "agent_poll",
    tag = "agents",
    request_body = PollRequest,
    responses(
        (status = 200, description = "A job, now claimed by this agent", body = JobOffer),
        (status = 204, description = "No job came while the poll waited; poll again"),
        (status = 403, description = "Not an agent token", body = ErrorBody),
        (status = 422, description = "Missing, extra or mistyped fields", body = ErrorBody),
    )
)]
pub async fn poll(
    State(state): State<AppState>,
    agent: AgentUser,
    client: Client,
    _query: ApiQuery<NoQuery>,
    ApiJson(body): ApiJson<PollRequest>,
) -> Result<Response, ApiError> {
    bounded("version", &body.version, 64)?;
    let name = body.name.clone().unwrap_or_else(|| agent.name.clone());
    bounded("name", &name, 128)?;
    let addr = client.ip.to_string();
    let mut seen = AgentSeen {
        name: &name,
        vantage: &agent.vantage,
        token_id: agent.token_id,
        version: &body.version,
        addr: &addr,
        current_job: body.current_job,
    };
    let store = state.store();
    store.agent_seen(&seen, now_ms()).await?;
    if body.current_job.is_some() {
        // Busy: a heartbeat only.
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let deadline = tokio::time::Instant::now() + state.agent_poll_wait();
    loop {
        // Armed before the claim, so a job queued in between wakes this poll.
        let queued = store.job_queued();
        tokio::pin!(queued);
        if let Some(claim) = store
            .job_claim(&agent.vantage, &name, state.agent_lease_ms(), now_ms())
            .await?
        {
            seen.current_job = Some(claim.id);
            store.agent_seen(&seen, now_ms()).await?;
            tracing::info!(job = claim.id, attempt = claim.attempt, agent = %name, vantage = %agent.vantage, "scan job claimed");
            return Ok(Json(JobOffer::from(claim)).into_response());
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        tokio::select! {
            () = &mut queued => {}
            () = tokio::time::sleep(left.min(POLL_EVERY)) => {}
            () = state.stopping().cancelled() => return Ok(StatusCode::NO_CONTENT.into_response()),
        }
    }
}

/// Now in ms, the clock of leases (shared by every process on the database).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Extends the agent's claim of a job.
#[utoipa::path(
    post,
    path = "/agent/jobs/{id}/renew",
    operation_id = "agent_renew",
    tag = "agents",
    params(("id" = i64, Path, description = "The job's id", minimum = 1)),
    request_body = RenewRequest,
    responses(
        (status = 200, description = "The claim is extended", body = Renewed),
        (status = 404, description = "No such job of this vantage", body = ErrorBody),
        (status = 409, description = "The claim is lost (expired and taken, or finished)", body = ErrorBody),
    )
)]
pub async fn renew(
    State(state): State<AppState>,
    agent: AgentUser,
    ApiPath(id): ApiPath<String>,
    _query: ApiQuery<NoQuery>,
    ApiJson(body): ApiJson<RenewRequest>,
) -> Result<Json<Renewed>, ApiError> {
    let id = job_id(&id)?;
    own_job(&state, &agent, id).await?;
    let lease_ms = state.agent_lease_ms();
    if !state
        .store()
        .job_renew(id, &body.token, lease_ms, now_ms())
        .await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "the claim of job {id} (attempt {}) is lost: stop working on it",
                body.attempt
            ),
        ));
    }
    Ok(Json(Renewed { lease_ms }))
}

/// Pushes the outcome of one attempt of a job (idempotent: the same attempt again is
/// `already-accepted`, never a second result).
#[utoipa::path(
    put,
    path = "/agent/jobs/{id}/attempts/{attempt}",
    operation_id = "agent_push",
    tag = "agents",
    params(
        ("id" = i64, Path, description = "The job's id", minimum = 1),
        ("attempt" = i64, Path, description = "The claim's number", minimum = 1),
    ),
    request_body = AttemptOutcome,
    responses(
        (status = 200, description = "Accepted now or before", body = Pushed),
        (status = 404, description = "No such job of this vantage", body = ErrorBody),
        (status = 409, description = "Superseded by another attempt", body = Pushed),
        (status = 422, description = "Not exactly one of result and error, a result of the wrong shape, or one covering more hosts than the job's targets name", body = ErrorBody),
    )
)]
pub async fn push(
    State(state): State<AppState>,
    agent: AgentUser,
    ApiPath((id, attempt)): ApiPath<(String, String)>,
    _query: ApiQuery<NoQuery>,
    ApiJson(body): ApiJson<AttemptOutcome>,
) -> Result<Response, ApiError> {
    let id = job_id(&id)?;
    let attempt = attempt
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            ApiError::bad_request(format!("'{}' is not an attempt number", echo(&attempt)))
        })?;
    let job = own_job(&state, &agent, id).await?;
    let store = state.store();
    let now = now_ms();
    let done = match (&body.result, &body.error) {
        (Some(result), None) => {
            if let Err(e) = portwatch_monitor::job::read_result(&job.spec, result.clone()) {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("'result' {e}"),
                ));
            }
            store
                .job_complete(id, attempt, &body.token, result, now)
                .await?
        }
        (None, Some(error)) => {
            bounded("error", error, 4096)?;
            store.job_fail(id, attempt, &body.token, error, now).await?
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "send exactly one of 'result' and 'error'",
            ));
        }
    };
    let pushed = |status: &str, error: Option<String>| Pushed {
        status: status.to_string(),
        error,
    };
    Ok(match done {
        Completion::Accepted => {
            tracing::info!(job = id, attempt, vantage = %agent.vantage, "scan job finished");
            Json(pushed("accepted", None)).into_response()
        }
        Completion::AlreadyAccepted => Json(pushed("already-accepted", None)).into_response(),
        Completion::Superseded => (
            StatusCode::CONFLICT,
            Json(pushed(
                "superseded",
                Some(format!(
                    "attempt {attempt} of job {id} is superseded: another claim holds or finished it"
                )),
            )),
        )
            .into_response(),
        Completion::Unknown => return Err(ApiError::not_found(format!("no job {id}"))),
    })
}

/// Lists the agents as last heard from.
#[utoipa::path(
    get,
    path = "/agents",
    operation_id = "list_agents",
    tag = "agents",
    responses((status = 200, description = "Every agent, by vantage and name", body = AgentList))
)]
pub async fn list(
    State(state): State<AppState>,
    _user: User,
    _query: ApiQuery<NoQuery>,
) -> Result<Json<AgentList>, ApiError> {
    let items = state
        .store()
        .agents()
        .await?
        .iter()
        .map(AgentView::from)
        .collect();
    Ok(Json(AgentList { items }))
}
