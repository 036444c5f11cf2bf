//! `/api/v1/violations`: the alert book (pending, firing and resolving violations, each with
//! its stable key), acknowledging one, and silencing one for a while; both can be undone
//! (`DELETE` on the same path).

use super::extract::{ApiJson, ApiPath, echo, parse_key};
use super::model::{ErrorBody, ProtoName, SeverityName, time};
use super::query::{ApiQuery, Choice, FromQuery, NoQuery, QueryParams};
use crate::auth::{Admin, User};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use portwatch_monitor::alerts::{Entry, Status};
use portwatch_monitor::daemon::Daemon;
use portwatch_monitor::policy::Rule;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The longest silence the API grants.
pub const MAX_SILENCE_MS: i64 = 30 * 24 * 3600 * 1000;

/// Where a violation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ViolationStatus {
    /// Seen, being confirmed by a re-probe.
    Pending,
    /// Confirmed and announced (or silenced).
    Firing,
    /// Was firing; its absence is being confirmed.
    Resolving,
}

impl Choice for ViolationStatus {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("pending", Self::Pending),
        ("firing", Self::Firing),
        ("resolving", Self::Resolving),
    ];
}

impl From<Status> for ViolationStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Pending => Self::Pending,
            Status::Firing => Self::Firing,
            Status::Resolving => Self::Resolving,
        }
    }
}

/// Which policy rule a violation breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RuleName {
    /// A port that must be closed is open.
    MustBeClosed,
    /// An open port is not in `allowed_open`.
    Unexpected,
    /// A port that must be open is not.
    ExpectedOpen,
    /// The host did not answer.
    HostDown,
    /// A host that answered before answers nothing now: its rules cannot be verified.
    CannotVerify,
    /// An agent has not been heard from for too long.
    AgentStale,
}

impl From<Rule> for RuleName {
    fn from(r: Rule) -> Self {
        match r {
            Rule::MustBeClosed => Self::MustBeClosed,
            Rule::Unexpected => Self::Unexpected,
            Rule::ExpectedOpen => Self::ExpectedOpen,
            Rule::HostDown => Self::HostDown,
            Rule::CannotVerify => Self::CannotVerify,
            Rule::AgentStale => Self::AgentStale,
        }
    }
}

/// One tracked violation.
#[derive(Debug, Serialize, ToSchema)]
pub struct Violation {
    /// Its stable key (percent-encode it in paths: it contains `|` and `/`).
    #[schema(example = "file-servers|10.0.0.5|445/tcp|MustBeClosed")]
    pub key: String,
    /// Where it is in its life.
    pub status: ViolationStatus,
    /// The group whose policy it breaks.
    pub group: String,
    /// Where it was seen from (`local`: this server).
    #[schema(example = "internet")]
    pub vantage: String,
    /// The host.
    pub address: String,
    /// The host's name, if known.
    pub hostname: Option<String>,
    /// The port (null for a host-wide violation).
    pub port: Option<u16>,
    /// The transport.
    pub proto: Option<ProtoName>,
    /// The rule.
    pub rule: RuleName,
    /// How serious.
    pub severity: SeverityName,
    /// The port's state when last checked.
    pub state: Option<String>,
    /// The service that answered.
    pub service: Option<String>,
    /// One line on what answered.
    pub answered: Option<String>,
    /// What the port is, from the knowledge base.
    pub explain: Option<String>,
    /// How to close it.
    pub fix: Option<String>,
    /// When it was first seen.
    #[schema(format = DateTime)]
    pub since: String,
    /// When the opening message went out.
    #[schema(format = DateTime)]
    pub notified: Option<String>,
    /// Acknowledged by an admin (no reminders).
    pub acknowledged: bool,
    /// Silenced by an admin until then.
    #[schema(format = DateTime)]
    pub silenced_until: Option<String>,
}

impl Violation {
    fn new(key: &str, e: &Entry) -> Self {
        let f = &e.finding;
        Violation {
            key: key.to_string(),
            status: e.status.into(),
            group: f.group.clone(),
            vantage: f.vantage.clone(),
            address: f.host.to_string(),
            hostname: f.hostname.clone(),
            port: f.port,
            proto: f.proto.map(ProtoName::from),
            rule: f.rule.into(),
            severity: f.severity.into(),
            state: f.state.map(|s| s.as_str().to_string()),
            service: f.service.clone(),
            answered: f.answered.clone(),
            explain: f.explain.clone(),
            fix: f.fix.clone(),
            since: time(e.since_ms),
            notified: e.notified_ms.map(time),
            acknowledged: e.acknowledged,
            silenced_until: e.silenced_until_ms.map(time),
        }
    }
}

/// The current violations.
#[derive(Debug, Serialize, ToSchema)]
pub struct ViolationList {
    /// The violations, by key.
    pub items: Vec<Violation>,
    /// How many.
    pub total: u64,
}

/// Filters of the violation list.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ViolationsQuery {
    /// Only this group (1 to 255 characters, none of them a control character).
    #[param(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]+$"
    )]
    pub group: Option<String>,
    /// Only what this vantage saw (`local`, `lan`, `internet`, …).
    #[param(pattern = r"^[a-z0-9-]{1,32}$")]
    pub vantage: Option<String>,
    /// Only this severity.
    #[param(inline)]
    pub severity: Option<SeverityName>,
    /// Only this status.
    #[param(inline)]
    pub status: Option<ViolationStatus>,
}

impl FromQuery for ViolationsQuery {
    fn from_query(p: &mut QueryParams) -> Result<Self, ApiError> {
        Ok(ViolationsQuery {
            group: p.text("group", |c| !c.is_control(), "printable characters")?,
            vantage: p.vantage()?,
            severity: p.choice("severity")?,
            status: p.choice("status")?,
        })
    }
}

/// The answer to an acknowledgement.
#[derive(Debug, Serialize, ToSchema)]
pub struct Acknowledged {
    /// The violation.
    pub key: String,
    /// True after an acknowledgement, false after one was taken back.
    pub acknowledged: bool,
}

/// The answer to lifting a silence.
#[derive(Debug, Serialize, ToSchema)]
pub struct Unsilenced {
    /// The violation.
    pub key: String,
    /// Always false: its messages are sent as usual from now on.
    pub silenced: bool,
}

/// How long to silence a violation: exactly one of `until`, an RFC 3339 time, or `for`, a
/// duration; in the future and at most 30 days ahead.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1, max_properties = 1)]
pub struct SilenceRequest {
    /// Until when (RFC 3339).
    #[serde(default, deserialize_with = "given")]
    #[schema(format = DateTime, nullable = false, example = "2026-06-01T08:00:00Z")]
    pub until: Option<String>,
    /// For how long (`90m`, `2h`, `1d`…).
    #[serde(rename = "for", default, deserialize_with = "given")]
    #[schema(nullable = false, min_length = 1, example = "2h")]
    pub duration: Option<String>,
}

/// A field that, when present, is a string: `null` is refused (422) as the document says,
/// rather than read as absent.
fn given<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    String::deserialize(d).map(Some)
}

/// The answer to a silence.
#[derive(Debug, Serialize, ToSchema)]
pub struct Silenced {
    /// The violation.
    pub key: String,
    /// No messages about it before this time.
    #[schema(format = DateTime)]
    pub silenced_until: String,
}

/// Lists the current violations.
#[utoipa::path(
    get,
    path = "/violations",
    operation_id = "list_violations",
    tag = "violations",
    params(ViolationsQuery),
    responses(
        (status = 200, description = "The violations, by key", body = ViolationList),
        (status = 400, description = "A bad query parameter", body = ErrorBody),
        (status = 404, description = "No group of that name in the configuration", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    _user: User,
    ApiQuery(query): ApiQuery<ViolationsQuery>,
) -> Result<Json<ViolationList>, ApiError> {
    if let (Some(group), Some(daemon)) = (&query.group, state.daemon())
        && !daemon
            .settings()
            .await
            .groups
            .iter()
            .any(|g| &g.name == group)
    {
        return Err(ApiError::not_found(format!(
            "query parameter 'group': no group named '{}' in the configuration",
            echo(group)
        )));
    }
    let book = portwatch_monitor::daemon::current_book(state.daemon().map(|d| &**d), state.store())
        .await?;
    let items: Vec<Violation> = book
        .iter()
        .map(|(k, e)| Violation::new(k, e))
        .filter(|v| query.group.as_ref().is_none_or(|g| &v.group == g))
        .filter(|v| query.vantage.as_ref().is_none_or(|w| &v.vantage == w))
        .filter(|v| query.severity.is_none_or(|s| v.severity == s))
        .filter(|v| query.status.is_none_or(|s| v.status == s))
        .collect();
    Ok(Json(ViolationList {
        total: items.len() as u64,
        items,
    }))
}

/// Acknowledges a violation: no more reminders about it (admin).
#[utoipa::path(
    post,
    path = "/violations/{key}/ack",
    operation_id = "acknowledge_violation",
    tag = "violations",
    params(("key" = String, Path, description = "The violation's key, percent-encoded", max_length = 512,
             pattern = r"^[^\x00-\x1f\x7f-\x9f]+$",
             example = "file-servers%7C10.0.0.5%7C445%2Ftcp%7CMustBeClosed")),
    responses(
        (status = 200, description = "Acknowledged", body = Acknowledged),
        (status = 400, description = "A key too long or with a control character", body = ErrorBody),
        (status = 404, description = "No such violation (the message says why when the text is not a key)", body = ErrorBody),
        (status = 503, description = "No monitor runs in this process", body = ErrorBody),
    )
)]
pub async fn acknowledge(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(key): ApiPath<String>,
    _query: ApiQuery<NoQuery>,
) -> Result<Json<Acknowledged>, ApiError> {
    let key = on_tracked(&state, &key, async |d, k| d.acknowledge(k).await).await?;
    tracing::info!(%key, "violation acknowledged through the API");
    Ok(Json(Acknowledged {
        key,
        acknowledged: true,
    }))
}

/// What every change to one violation does first: parses `key`, finds the monitor and runs
/// `change` on it, answering 404 when no current violation has that key. The key, parsed.
async fn on_tracked(
    state: &AppState,
    key: &str,
    change: impl AsyncFnOnce(&Daemon, &str) -> portwatch_monitor::Result<bool>,
) -> Result<String, ApiError> {
    let key = parse_key(key)?;
    let daemon = state.daemon().ok_or_else(ApiError::no_daemon)?;
    if !change(daemon, &key).await.map_err(ApiError::internal)? {
        return Err(unknown_key(&key));
    }
    Ok(key)
}

fn unknown_key(key: &str) -> ApiError {
    ApiError::not_found(format!("no current violation with key '{}'", echo(key)))
}

/// Takes an acknowledgement back: reminders about the violation resume (admin). Answers the
/// same whether or not it was acknowledged.
#[utoipa::path(
    delete,
    path = "/violations/{key}/ack",
    operation_id = "unacknowledge_violation",
    tag = "violations",
    params(("key" = String, Path, description = "The violation's key, percent-encoded", max_length = 512,
             pattern = r"^[^\x00-\x1f\x7f-\x9f]+$",
             example = "file-servers%7C10.0.0.5%7C445%2Ftcp%7CMustBeClosed")),
    responses(
        (status = 200, description = "Not acknowledged (any more)", body = Acknowledged),
        (status = 400, description = "A key too long or with a control character", body = ErrorBody),
        (status = 404, description = "No such violation (the message says why when the text is not a key)", body = ErrorBody),
        (status = 503, description = "No monitor runs in this process", body = ErrorBody),
    )
)]
pub async fn unacknowledge(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(key): ApiPath<String>,
    _query: ApiQuery<NoQuery>,
) -> Result<Json<Acknowledged>, ApiError> {
    let key = on_tracked(&state, &key, async |d, k| d.unacknowledge(k).await).await?;
    tracing::info!(%key, "acknowledgement taken back through the API");
    Ok(Json(Acknowledged {
        key,
        acknowledged: false,
    }))
}

/// Lifts a violation's silence now: its next message is sent as usual (admin). Answers the
/// same whether or not it was silenced.
#[utoipa::path(
    delete,
    path = "/violations/{key}/silence",
    operation_id = "unsilence_violation",
    tag = "violations",
    params(("key" = String, Path, description = "The violation's key, percent-encoded", max_length = 512,
             pattern = r"^[^\x00-\x1f\x7f-\x9f]+$",
             example = "file-servers%7C10.0.0.5%7C445%2Ftcp%7CMustBeClosed")),
    responses(
        (status = 200, description = "Not silenced (any more)", body = Unsilenced),
        (status = 400, description = "A key too long or with a control character", body = ErrorBody),
        (status = 404, description = "No such violation (the message says why when the text is not a key)", body = ErrorBody),
        (status = 503, description = "No monitor runs in this process", body = ErrorBody),
    )
)]
pub async fn unsilence(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(key): ApiPath<String>,
    _query: ApiQuery<NoQuery>,
) -> Result<Json<Unsilenced>, ApiError> {
    let key = on_tracked(&state, &key, async |d, k| d.unsilence(k).await).await?;
    tracing::info!(%key, "silence lifted through the API");
    Ok(Json(Unsilenced {
        key,
        silenced: false,
    }))
}

/// When a silence asked for ends (Unix ms), checked against `now_ms`.
pub fn silence_end(req: &SilenceRequest, now_ms: i64) -> Result<i64, ApiError> {
    let until = match (&req.until, &req.duration) {
        (Some(until), None) => portwatch_monitor::config::parse_instant(until)
            .map_err(|e| ApiError::bad_request(format!("'until': {}", echo(&e))))?,
        (None, Some(text)) => {
            let d = portwatch_monitor::duration::parse(text)
                .map_err(|e| ApiError::bad_request(format!("'for': {}", echo(&e))))?;
            let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            now_ms.saturating_add(ms)
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give either 'until' or 'for', not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "give 'until' (an RFC 3339 time) or 'for' (a duration like 2h)",
            ));
        }
    };
    if until <= now_ms {
        return Err(ApiError::bad_request("the silence would end in the past"));
    }
    if until - now_ms > MAX_SILENCE_MS {
        return Err(ApiError::bad_request(
            "a silence may last at most 30 days; acknowledge the violation or change the policy instead",
        ));
    }
    Ok(until)
}

/// Silences a violation's messages for a while (admin).
#[utoipa::path(
    post,
    path = "/violations/{key}/silence",
    operation_id = "silence_violation",
    tag = "violations",
    params(("key" = String, Path, description = "The violation's key, percent-encoded", max_length = 512,
             pattern = r"^[^\x00-\x1f\x7f-\x9f]+$",
             example = "file-servers%7C10.0.0.5%7C445%2Ftcp%7CMustBeClosed")),
    request_body = SilenceRequest,
    responses(
        (status = 200, description = "Silenced", body = Silenced),
        (status = 400, description = "A key too long or with a control character, malformed JSON, or a bad, past or too distant time", body = ErrorBody),
        (status = 404, description = "No such violation (the message says why when the text is not a key)", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Extra or mistyped fields", body = ErrorBody),
        (status = 503, description = "No monitor runs in this process", body = ErrorBody),
    )
)]
pub async fn silence(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(key): ApiPath<String>,
    _query: ApiQuery<NoQuery>,
    ApiJson(body): ApiJson<SilenceRequest>,
) -> Result<Json<Silenced>, ApiError> {
    let key = parse_key(&key)?;
    let until = silence_end(&body, portwatch_monitor::daemon::now_ms())?;
    let daemon = state.daemon().ok_or_else(ApiError::no_daemon)?;
    if !daemon
        .silence(&key, until)
        .await
        .map_err(ApiError::internal)?
    {
        return Err(unknown_key(&key));
    }
    tracing::info!(%key, until = %time(until), "violation silenced through the API");
    Ok(Json(Silenced {
        key,
        silenced_until: time(until),
    }))
}
