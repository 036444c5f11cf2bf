//! What the pages read besides plain store rows: the violations (from the running monitor's
//! alert book, else from the alert states it saved), the groups (from the monitor's settings,
//! else from the configuration text) and each group's last scan.

use super::error::PageError;
use super::format::{self, encode_component};
use crate::state::AppState;
use portwatch_kb::Severity;
use portwatch_monitor::alerts::{Entry, Status};
use portwatch_monitor::config::{self, Group, Schedule, Settings};
use portwatch_store::{ScanRow, ScanStatus};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// One tracked violation, ready to show.
#[derive(Debug, Clone)]
pub struct Violation {
    /// The alert book's key.
    pub key: String,
    /// The key as a path segment.
    pub key_url: String,
    /// The group.
    pub group: String,
    /// Where it was seen from.
    pub vantage: String,
    /// How serious.
    pub severity: Severity,
    /// `firing`, `resolving` or `pending`.
    pub status: &'static str,
    /// Acknowledged by an admin.
    pub acknowledged: bool,
    /// Silenced until this time, when the silence is still on.
    pub silenced_until: Option<String>,
    /// The host's address.
    pub host: String,
    /// Its page.
    pub host_url: String,
    /// Its name, if known.
    pub hostname: Option<String>,
    /// `445/tcp`, if the finding is about a port.
    pub port: Option<String>,
    /// That port's page.
    pub port_url: Option<String>,
    /// What answered: service and one line of details.
    pub answered: String,
    /// Since when (UTC).
    pub since: String,
    /// Since when, for `<time datetime>`.
    pub since_iso: String,
    /// How long ago that was.
    pub since_ago: String,
    /// Since when (ms), for sorting.
    pub since_ms: i64,
    /// The rule, e.g. `must be closed`.
    pub rule: &'static str,
    /// The host as an address value, to match on host pages.
    pub addr: std::net::IpAddr,
    /// The port and transport as values, when the finding is about a port.
    pub port_proto: Option<(u16, portwatch_model::Proto)>,
}

impl Violation {
    fn rank(&self) -> u8 {
        match self.status {
            "firing" => 0,
            "resolving" => 1,
            _ => 2,
        }
    }

    /// The CSS class of the severity badge.
    pub fn severity_class(&self) -> &'static str {
        format::severity_class(self.severity)
    }
}

/// Whether more than one vantage appears among `names` (the lists then show a vantage column).
pub fn several_vantages<'a>(mut names: impl Iterator<Item = &'a str>) -> bool {
    let Some(first) = names.next() else {
        return false;
    };
    names.any(|n| n != first)
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Pending => "pending",
        Status::Firing => "firing",
        Status::Resolving => "resolving",
    }
}

fn violation(key: &str, e: &Entry, now: i64) -> Violation {
    let f = &e.finding;
    let port = f.port.zip(f.proto);
    let answered = match (&f.service, &f.answered) {
        (Some(s), Some(a)) if !a.contains(s.as_str()) => format!("{s}: {a}"),
        (_, Some(a)) => a.clone(),
        (Some(s), None) => s.clone(),
        (None, None) => f.state.map(|s| s.to_string()).unwrap_or_default(),
    };
    Violation {
        key: key.to_string(),
        key_url: encode_component(key),
        group: f.group.clone(),
        vantage: f.vantage.clone(),
        severity: f.severity,
        status: status_word(e.status),
        acknowledged: e.acknowledged,
        silenced_until: e.silenced_until_ms.filter(|t| *t > now).map(format::when),
        host: f.host.to_string(),
        host_url: format!("/hosts/{}", encode_component(&f.host.to_string())),
        hostname: f.hostname.clone(),
        port: port.map(|(p, t)| format!("{p}/{t}")),
        port_url: port.map(|(p, t)| format!("/ports/{p}?proto={t}")),
        answered,
        since: format::when(e.since_ms),
        since_iso: format::iso(e.since_ms),
        since_ago: format::ago(e.since_ms, now),
        since_ms: e.since_ms,
        rule: f.rule.label(),
        addr: f.host,
        port_proto: port,
    }
}

/// Every tracked violation, firing first, then by severity (worst first) and age (oldest
/// first). From the running monitor when there is one (live), else from its saved states.
pub async fn violations(state: &AppState) -> Result<Vec<Violation>, PageError> {
    let now = format::now_ms();
    let book = portwatch_monitor::daemon::current_book(state.daemon().map(|d| &**d), state.store())
        .await?;
    let mut list: Vec<Violation> = book.iter().map(|(k, e)| violation(k, e, now)).collect();
    list.sort_by(|a, b| {
        a.rank()
            .cmp(&b.rank())
            .then(b.severity.cmp(&a.severity))
            .then(a.since_ms.cmp(&b.since_ms))
            .then(a.key.cmp(&b.key))
    });
    Ok(list)
}

/// The groups in force: the monitor's settings, else the configuration text parsed, else none.
pub async fn settings(state: &AppState) -> Option<Arc<Settings>> {
    match state.daemon() {
        Some(d) => Some(d.settings().await),
        None => state
            .config_text()
            .await
            .and_then(|text| config::parse(&text, Path::new("configuration")).ok())
            .map(Arc::new),
    }
}

/// How a group's schedule reads: `every 1 min` or `cron */10 * * * *`.
pub fn schedule(group: &Group) -> String {
    match &group.schedule {
        Schedule::Every(d) => format!("every {}", format::interval(*d)),
        Schedule::Cron(c) => format!("cron {c}"),
    }
}

/// One maintenance window of a group, as the pages list it.
#[derive(Debug, Clone)]
pub struct WindowLine {
    /// When, in UTC (`2026-11-24T22:00:00Z to …` or `cron 0 2 * * SUN UTC, for 7200 s`).
    pub when: String,
    /// Why, as the configuration says.
    pub reason: Option<String>,
    /// Whether it holds alerts back right now.
    pub active: bool,
}

/// A group's maintenance windows, in configuration order.
pub fn windows(group: &Group, now_ms: i64) -> Vec<WindowLine> {
    group
        .silences
        .iter()
        .map(|w| WindowLine {
            when: w.describe(),
            reason: w.reason().map(str::to_string),
            active: w.covers(now_ms),
        })
        .collect()
}

/// A scan as a group's row shows it.
#[derive(Debug, Clone)]
pub struct LastScan {
    /// When it finished (or started, if it has not).
    pub when: String,
    /// The same, for `<time datetime>`.
    pub iso: String,
    /// How long ago.
    pub ago: String,
    /// How long it took, when finished.
    pub took: Option<String>,
    /// `complete`, `running`, `failed` or `incomplete`.
    pub status: &'static str,
    /// Why it failed.
    pub error: Option<String>,
    /// Hosts up / hosts scanned, for complete scans.
    pub hosts: Option<String>,
}

/// The source of a group's own scans (not its confirmation re-probes).
fn group_source(group: &str) -> String {
    format!("monitor:{group}")
}

/// The newest scan of each of `groups`, by source (see [`last_scan_of`]): one query.
pub async fn last_scans(
    state: &AppState,
    groups: &[Group],
) -> Result<BTreeMap<String, ScanRow>, PageError> {
    let sources: Vec<String> = groups.iter().map(|g| group_source(&g.name)).collect();
    Ok(state.store().latest_scans(&sources).await?)
}

/// The newest scan (not a confirmation re-probe) of a group, from [`last_scans`].
pub fn last_scan_of(latest: &BTreeMap<String, ScanRow>, group: &str, now: i64) -> Option<LastScan> {
    let s = latest.get(&group_source(group))?;
    let at = s.finished_at.unwrap_or(s.started_at);
    Some(LastScan {
        when: format::when(at),
        iso: format::iso(at),
        ago: format::ago(at, now),
        took: s.finished_at.map(|f| format::duration_ms(f - s.started_at)),
        status: match s.status {
            ScanStatus::Running => "running",
            ScanStatus::Complete => "complete",
            ScanStatus::Incomplete => "incomplete",
            ScanStatus::Failed => "failed",
        },
        error: s.error.clone(),
        hosts: s
            .counts
            .map(|c| format!("{} of {}", c.hosts_up, c.hosts_up + c.hosts_down)),
    })
}
