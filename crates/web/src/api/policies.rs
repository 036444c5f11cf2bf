//! `/api/v1/policies`: the target groups the monitor runs, with their ports, schedule and
//! rules, read only.

use super::model::{ErrorBody, SeverityName};
use super::query::{ApiQuery, NoQuery};
use crate::auth::User;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use portwatch_monitor::config::{Group, Schedule};
use portwatch_scan::ports::PortList;
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
    /// Its rules.
    pub policy: PolicyView,
    /// Notifiers its alerts go to (null: every notifier).
    pub notify: Option<Vec<String>>,
    /// How many maintenance windows it has.
    pub silences: usize,
}

/// The groups.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyList {
    /// In configuration order.
    pub groups: Vec<GroupPolicy>,
}

/// `list` as a compact port spec: `T:22,80-90,U:53`.
pub fn port_spec(list: &PortList) -> String {
    let ranges = |ports: &[u16]| {
        let mut sorted = ports.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut out: Vec<String> = Vec::new();
        let mut i = 0;
        while i < sorted.len() {
            let start = sorted[i];
            let mut end = start;
            while i + 1 < sorted.len() && sorted[i + 1] == end.saturating_add(1) {
                i += 1;
                end = sorted[i];
            }
            out.push(if start == end {
                start.to_string()
            } else {
                format!("{start}-{end}")
            });
            i += 1;
        }
        out.join(",")
    };
    let mut parts = Vec::new();
    if !list.tcp.is_empty() {
        parts.push(format!("T:{}", ranges(&list.tcp)));
    }
    if !list.udp.is_empty() {
        parts.push(format!("U:{}", ranges(&list.udp)));
    }
    parts.join(",")
}

impl From<&Group> for GroupPolicy {
    fn from(g: &Group) -> Self {
        GroupPolicy {
            name: g.name.clone(),
            targets: g.targets.clone(),
            exclude: g.exclude.clone(),
            ports: port_spec(&g.ports),
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
            policy: PolicyView {
                must_be_closed: port_spec(&g.policy.must_be_closed),
                allowed_open: g.policy.allowed_open.as_ref().map(port_spec),
                expected_open: port_spec(&g.policy.expected_open),
                severity: g.policy.severity.map(SeverityName::from),
            },
            notify: g.notify.clone(),
            silences: g.silences.len(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs_are_compact() {
        let list = PortList {
            tcp: vec![445, 137, 138, 139, 22],
            udp: vec![53],
        };
        assert_eq!(port_spec(&list), "T:22,137-139,445,U:53");
        assert_eq!(port_spec(&PortList::default()), "");
        let top = PortList {
            tcp: vec![65535, 65534],
            udp: vec![],
        };
        assert_eq!(port_spec(&top), "T:65534-65535");
    }
}
