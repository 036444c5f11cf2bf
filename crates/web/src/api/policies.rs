//! `/api/v1/policies`: the target groups the monitor runs, with their ports, schedule and
//! rules, read only.

use super::model::{ErrorBody, SeverityName};
use super::query::{ApiQuery, NoQuery};
use crate::auth::User;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use portwatch_model::ports::PortList;
use portwatch_monitor::config::{Group, Schedule};
use serde::Serialize;
use utoipa::ToSchema;

/// When a group is scanned: `every` seconds or on a `cron` schedule.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleView {
    /// Interval in seconds.
    pub every_seconds: Option<u64>,
    /// Cron pattern.
    #[schema(example = "*/10 * * * *")]
    pub cron: Option<String>,
}

/// A group's rules, as port specs.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyView {
    /// Ports that must never be open.
    #[schema(example = "T:137-139,445,U:137-138")]
    pub must_be_closed: String,
    /// Ports that may be open (null: no rule about other open ports).
    pub allowed_open: Option<String>,
    /// Ports that must be open.
    pub expected_open: String,
    /// Fixed severity of violations, if set.
    pub severity: Option<SeverityName>,
}

/// A group's rules as seen from one of its vantages.
#[derive(Debug, Serialize, ToSchema)]
pub struct VantagePolicyView {
    /// The vantage.
    #[schema(example = "lan")]
    pub vantage: String,
    /// The rules from there (`[group.policy]` with the vantage's `from` table applied).
    pub policy: PolicyView,
}

impl PolicyView {
    fn of(p: &portwatch_monitor::config::Policy) -> Self {
        PolicyView {
            must_be_closed: p.must_be_closed.to_spec(),
            allowed_open: p.allowed_open.as_ref().map(PortList::to_spec),
            expected_open: p.expected_open.to_spec(),
            severity: p.severity.map(SeverityName::from),
        }
    }
}

/// One target group.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupPolicy {
    /// Its name.
    pub name: String,
    /// Targets as written.
    pub targets: Vec<String>,
    /// Exclusions as written.
    pub exclude: Vec<String>,
    /// Every port its scans cover, as a port spec.
    pub ports: String,
    /// When it is scanned.
    pub schedule: ScheduleView,
    /// Its rules, from every vantage.
    pub policy: PolicyView,
    /// The vantages it is observed from, each with its rules from there.
    pub vantages: Vec<VantagePolicyView>,
    /// Notifiers its alerts go to (null: every notifier).
    pub notify: Option<Vec<String>>,
    /// How many maintenance windows it has.
    pub silences: usize,
    /// Its maintenance windows (UTC), each with the reason the configuration gives.
    pub windows: Vec<WindowView>,
}

/// One maintenance window of a group.
#[derive(Debug, Serialize, ToSchema)]
pub struct WindowView {
    /// When, in words: `2026-11-24T22:00:00Z to 2026-11-24T23:00:00Z` or
    /// `cron 0 2 * * SUN UTC, for 7200 s`.
    pub when: String,
    /// Why, as the configuration says.
    pub reason: Option<String>,
}

/// The groups.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyList {
    /// In configuration order.
    pub groups: Vec<GroupPolicy>,
}

impl From<&Group> for GroupPolicy {
    fn from(g: &Group) -> Self {
        GroupPolicy {
            name: g.name.clone(),
            targets: g.targets.clone(),
            exclude: g.exclude.clone(),
            ports: g.ports.to_spec(),
            schedule: match &g.schedule {
                Schedule::Every(d) => ScheduleView {
                    every_seconds: Some(d.as_secs()),
                    cron: None,
                },
                Schedule::Cron(c) => ScheduleView {
                    every_seconds: None,
                    cron: Some(c.to_string()),
                },
            },
            policy: PolicyView::of(&g.policy),
            vantages: g
                .vantages
                .iter()
                .map(|v| VantagePolicyView {
                    vantage: v.name.clone(),
                    policy: PolicyView::of(&g.policy_for(&v.name)),
                })
                .collect(),
            notify: g.notify.clone(),
            silences: g.silences.len(),
            windows: g
                .silences
                .iter()
                .map(|w| WindowView {
                    when: w.describe(),
                    reason: w.reason().map(str::to_string),
                })
                .collect(),
        }
    }
}

/// The target groups and their rules.
#[utoipa::path(
    get,
    path = "/policies",
    operation_id = "list_policies",
    tag = "policies",
    responses(
        (status = 200, description = "The groups, in configuration order", body = PolicyList),
        (status = 503, description = "No monitor runs in this process", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    _user: User,
    _query: ApiQuery<NoQuery>,
) -> Result<Json<PolicyList>, ApiError> {
    let daemon = state.daemon().ok_or_else(ApiError::no_daemon)?;
    let settings = daemon.settings().await;
    Ok(Json(PolicyList {
        groups: settings.groups.iter().map(GroupPolicy::from).collect(),
    }))
}
