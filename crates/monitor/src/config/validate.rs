//! From what the file says to what portwatch runs: every target, port spec, duration and
//! schedule parsed once, each error naming the group and key.

use super::raw::{
    RawAlerts, RawConfig, RawGroup, RawPolicy, RawScanOptions, RawSilence, RawSource,
};
use super::silence::{Silence, parse_instant};
use crate::alerts::{AlertRules, ResolveInWindow};
use crate::duration;
use crate::error::{MonitorError, Result};
use crate::notify::NotifierEntry;
use portwatch_kb::Severity;
use portwatch_scan::Proto;
use portwatch_scan::engine::ScanConfig;
use portwatch_scan::ports::{PortList, parse_policy_spec, parse_port_spec};
use portwatch_scan::resolve::ResolveMode;
use portwatch_scan::targets::TargetSpec;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The file it came from.
    pub path: PathBuf,
    /// Database URL, if the file (or environment) names one.
    pub database: Option<String>,
    /// Dashboard/API address, if set.
    pub listen: Option<String>,
    /// How long closed history is kept.
    pub keep: Option<Duration>,
    /// The groups, in file order.
    pub groups: Vec<Group>,
    /// How alerts behave.
    pub alerts: AlertRules,
    /// Scans running at once at most.
    pub max_concurrent_scans: usize,
    /// Where alerts go.
    pub notifiers: Vec<NotifierEntry>,
    /// How replicas on one database share the work.
    pub cluster: Cluster,
}

/// How replicas on one database share the work (`[cluster]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// How long the scheduler lease lasts unless renewed: the leader renews it every third of
    /// this, and another replica takes over at most this long after the leader died.
    pub lease: Duration,
    /// The store lease whose holder schedules (not in the file: `watch` takes one of its own
    /// so it runs beside a `run` on the same database).
    pub lease_name: String,
}

/// The scheduler lease unless `[cluster] lease` says otherwise.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            lease: DEFAULT_LEASE,
            lease_name: crate::daemon::leader::SCHEDULER.to_string(),
        }
    }
}

fn cluster(raw: &super::raw::RawCluster, path: &Path) -> Result<Cluster> {
    let Some(text) = raw.lease.as_deref() else {
        return Ok(Cluster::default());
    };
    let invalid = |message: String| MonitorError::Invalid {
        path: path.to_path_buf(),
        key: "cluster.lease".into(),
        message,
    };
    let lease = duration::parse(text).map_err(invalid)?;
    if lease < Duration::from_millis(100) || lease > Duration::from_secs(3600) {
        return Err(invalid(format!(
            "{text} is out of range: the scheduler lease must be 100ms to 1h"
        )));
    }
    Ok(Cluster {
        lease,
        ..Cluster::default()
    })
}

/// A validated target group.
#[derive(Debug, Clone)]
pub struct Group {
    /// Unique name.
    pub name: String,
    /// What the group watches.
    pub source: Source,
    /// Target tokens (each already checked to parse; empty for a local group).
    pub targets: Vec<String>,
    /// Exclusion tokens.
    pub exclude: Vec<String>,
    /// Every port the group's scans cover: the requested ones plus the policy's.
    pub ports: PortList,
    /// When to scan.
    pub schedule: Schedule,
    /// How to scan.
    pub scan: ScanOptions,
    /// The rules.
    pub policy: Policy,
    /// Notifier names for this group's alerts (`None`: every notifier).
    pub notify: Option<Vec<String>>,
    /// Maintenance windows.
    pub silences: Vec<Silence>,
    /// When a resolve confirmed in one of its windows is sent (`None`: as `[alerts]` says).
    pub resolve_in_window: Option<ResolveInWindow>,
}

impl Group {
    /// The alert rules for this group: `[alerts]` with the group's own overrides.
    pub fn rules(&self, alerts: &AlertRules) -> AlertRules {
        AlertRules {
            resolve_in_window: self.resolve_in_window.unwrap_or(alerts.resolve_in_window),
            ..alerts.clone()
        }
    }

    /// Whether `other` is the same group in every setting (a reload keeps its loop running).
    pub fn same_as(&self, other: &Group) -> bool {
        // Every field is plain data (the cron schedules included); their Debug text is a
        // complete rendering of them.
        format!("{self:?}") == format!("{other:?}")
    }

    /// The maintenance window covering `now_ms`, if any.
    pub fn active_silence(&self, now_ms: i64) -> Option<&Silence> {
        self.silences.iter().find(|s| s.covers(now_ms))
    }

    /// Whether a maintenance window covers `now_ms`.
    pub fn silenced(&self, now_ms: i64) -> bool {
        self.silences.iter().any(|s| s.covers(now_ms))
    }

    /// Whether this group's alerts go to the notifier called `name`.
    pub fn notifies(&self, name: &str) -> bool {
        self.notify
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == name))
    }
}

/// What a group watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// Its targets, scanned over the network on its schedule.
    #[default]
    Scan,
    /// This machine's listening sockets: read on every change of the socket tables (and on
    /// the schedule), identified by connecting through loopback.
    Local,
}

/// When a group is scanned.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// At a fixed interval.
    Every(Duration),
    /// On a cron schedule.
    Cron(Box<croner::Cron>),
}

/// Validated scan options.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    raw: RawScanOptions,
    /// Hostname resolution.
    pub resolve: ResolveMode,
}

impl ScanOptions {
    /// The engine configuration these options describe.
    pub fn engine_config(&self) -> portwatch_scan::Result<ScanConfig> {
        self.engine_config_with(self.raw.probes.unwrap_or(true))
    }

    /// Whether scans identify services (`probes`, default true).
    pub fn identifies(&self) -> bool {
        self.raw.probes.unwrap_or(true)
    }

    /// The engine configuration, with identification on or off.
    pub fn engine_config_with(&self, identify: bool) -> portwatch_scan::Result<ScanConfig> {
        let r = &self.raw;
        let mut b = ScanConfig::builder()
            .assume_up(r.assume_up.unwrap_or(false))
            .identify(identify);
        if let Some(n) = r.retries {
            b = b.retries(n);
        }
        if let Some(n) = r.max_retries {
            b = b.max_retries(n);
        }
        if let Some(n) = r.rate {
            b = b.rate(n);
        }
        if let Some(n) = r.max_parallel {
            b = b.max_parallel(n);
        }
        let d = |t: &Option<String>| t.as_deref().and_then(|t| duration::parse(t).ok());
        if let Some(t) = d(&r.min_rtt_timeout) {
            b = b.min_rtt_timeout(t);
        }
        if let Some(t) = d(&r.max_rtt_timeout) {
            b = b.max_rtt_timeout(t);
        }
        if let Some(t) = d(&r.initial_rtt_timeout) {
            b = b.initial_rtt_timeout(t);
        }
        b.build()
    }
}

/// Validated port rules.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Ports that must never be open.
    pub must_be_closed: PortList,
    /// Ports that may be open; `None` means no rule about other open ports.
    pub allowed_open: Option<PortList>,
    /// Ports that must be open.
    pub expected_open: PortList,
    /// Fixed severity of violations, if set.
    pub severity: Option<Severity>,
}

impl Policy {
    /// Every port a scan must cover to judge this policy.
    pub fn ports(&self) -> PortList {
        let mut all = self.must_be_closed.union(&self.expected_open);
        if let Some(allowed) = &self.allowed_open {
            all = all.union(allowed);
        }
        all
    }

    /// Whether the policy has no rule at all.
    pub fn is_empty(&self) -> bool {
        self.must_be_closed.is_empty()
            && self.allowed_open.is_none()
            && self.expected_open.is_empty()
    }
}

/// Default interval when neither the group nor `[defaults]` sets one.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(300);
/// Ports scanned besides the policy's when `allowed_open` needs to see unexpected ones.
pub const DEFAULT_TOP_FOR_ALLOWED: usize = 1000;

/// Parses a list of policy port sets: port specs (a bare number means the transports the knowledge
/// base gives the port, TCP when it has none; see `parse_policy_spec`) or `risky`.
pub fn parse_port_set(items: &[String]) -> std::result::Result<PortList, String> {
    let mut list = PortList::default();
    for item in items {
        let part = if item.trim().eq_ignore_ascii_case("risky") {
            let mut risky = PortList::default();
            for (port, transport) in portwatch_kb::risky_ports() {
                match transport {
                    portwatch_kb::Transport::Tcp => risky.tcp.push(port),
                    portwatch_kb::Transport::Udp => risky.udp.push(port),
                    portwatch_kb::Transport::Sctp => {}
                }
            }
            risky
        } else {
            parse_policy_spec(item).map_err(|e| e.to_string())?
        };
        list = list.union(&part);
    }
    Ok(list)
}

pub(super) fn validate(raw: RawConfig, path: &Path) -> Result<Settings> {
    let invalid = |key: String, message: String| MonitorError::Invalid {
        path: path.to_path_buf(),
        key,
        message,
    };
    let keep = raw
        .keep
        .as_deref()
        .map(|k| duration::parse(k).map_err(|m| invalid("keep".into(), m)))
        .transpose()?;
    let default_every = raw
        .defaults
        .every
        .as_deref()
        .map(|e| duration::parse(e).map_err(|m| invalid("defaults.every".into(), m)))
        .transpose()?
        .unwrap_or(DEFAULT_EVERY);
    let mut notifier_names = BTreeSet::new();
    for n in &raw.notify {
        n.validate()
            .map_err(|e| invalid(format!("notify \"{}\"", n.name), e.to_string()))?;
        if !notifier_names.insert(n.name.clone()) {
            return Err(invalid(
                format!("notify \"{}\"", n.name),
                "this name is used twice; notifier names must be unique".into(),
            ));
        }
    }
    let known: Vec<String> = notifier_names.into_iter().collect();
    let mut names = BTreeSet::new();
    let mut groups = Vec::new();
    for g in raw.groups {
        if !names.insert(g.name.clone()) {
            return Err(invalid(
                format!("group \"{}\"", g.name),
                "this name is used twice; group names must be unique".into(),
            ));
        }
        groups.push(group(g, &raw.defaults.scan, default_every, &known, path)?);
    }
    let (alerts, max_concurrent_scans) = alert_rules(&raw.alerts, path)?;
    Ok(Settings {
        path: path.to_path_buf(),
        database: raw.database,
        listen: raw.listen,
        keep,
        groups,
        alerts,
        max_concurrent_scans,
        notifiers: raw.notify,
        cluster: cluster(&raw.cluster, path)?,
    })
}

/// Default number of scans at once.
pub const DEFAULT_MAX_CONCURRENT_SCANS: usize = 4;

fn alert_rules(raw: &RawAlerts, path: &Path) -> Result<(AlertRules, usize)> {
    let invalid = |key: &str, message: String| MonitorError::Invalid {
        path: path.to_path_buf(),
        key: format!("alerts.{key}"),
        message,
    };
    let defaults = AlertRules::default();
    let confirmations = raw.confirmations.unwrap_or(defaults.confirmations);
    if !(1..=10).contains(&confirmations) {
        return Err(invalid("confirmations", "must be 1 to 10".into()));
    }
    let confirm_after = raw
        .confirm_after
        .as_deref()
        .map(|t| duration::parse(t).map_err(|m| invalid("confirm_after", m)))
        .transpose()?
        .unwrap_or(defaults.confirm_after);
    let remind_every = match raw.remind_every.as_deref() {
        None => defaults.remind_every,
        Some(t) => {
            let d = duration::parse(t).map_err(|m| invalid("remind_every", m))?;
            (!d.is_zero()).then_some(d)
        }
    };
    let max = raw
        .max_concurrent_scans
        .unwrap_or(DEFAULT_MAX_CONCURRENT_SCANS);
    if max == 0 {
        return Err(invalid("max_concurrent_scans", "must be at least 1".into()));
    }
    let resolve_in_window = raw
        .resolve_in_window
        .as_deref()
        .map(|t| resolve_in_window(t).map_err(|m| invalid("resolve_in_window", m)))
        .transpose()?
        .unwrap_or(defaults.resolve_in_window);
    Ok((
        AlertRules {
            confirmations,
            confirm_after,
            remind_every,
            send_resolved: raw.send_resolved.unwrap_or(true),
            resolve_in_window,
        },
        max,
    ))
}

fn resolve_in_window(text: &str) -> std::result::Result<ResolveInWindow, String> {
    ResolveInWindow::parse(text)
        .ok_or_else(|| format!("'{text}': expected {}", ResolveInWindow::NAMES))
}

fn silence(s: &RawSilence) -> std::result::Result<Silence, String> {
    let length = s.length.as_deref().map(duration::parse).transpose()?;
    match (&s.from, &s.until, &s.cron, length) {
        (Some(from), Some(until), None, None) => {
            let (from_ms, until_ms) = (parse_instant(from)?, parse_instant(until)?);
            if until_ms <= from_ms {
                return Err("`until` must be after `from`".into());
            }
            Ok(Silence::Window {
                from_ms,
                until_ms,
                reason: s.reason.clone(),
            })
        }
        (None, None, Some(cron), Some(length)) => Ok(Silence::Recurring {
            cron: Box::new(
                cron.parse::<croner::Cron>()
                    .map_err(|e| format!("cron '{cron}': {e}"))?,
            ),
            length,
            reason: s.reason.clone(),
        }),
        _ => Err("a silence is either `from` + `until`, or `cron` + `for`".into()),
    }
}

pub(super) fn group(
    g: RawGroup,
    defaults: &RawScanOptions,
    every: Duration,
    notifiers: &[String],
    path: &Path,
) -> Result<Group> {
    let key = |k: &str| format!("group \"{}\" {k}", g.name);
    let invalid = |k: &str, message: String| MonitorError::Invalid {
        path: path.to_path_buf(),
        key: key(k),
        message,
    };
    if g.name.trim().is_empty() {
        return Err(invalid("name", "must not be empty".into()));
    }
    let source = match g.source {
        None | Some(RawSource::Scan) => Source::Scan,
        Some(RawSource::Local) => Source::Local,
    };
    if source == Source::Local {
        let scan_only = [
            ("targets", !g.targets.is_empty()),
            ("exclude", !g.exclude.is_empty()),
            ("ports", g.ports.is_some()),
            ("top", g.top.is_some()),
        ];
        if let Some((k, _)) = scan_only.iter().find(|(_, set)| *set) {
            return Err(invalid(
                k,
                format!(
                    "a `source = \"local\"` group watches every listening socket of this machine; remove `{k}`"
                ),
            ));
        }
    } else if g.targets.is_empty() {
        return Err(invalid(
            "targets",
            "give at least one address, network or hostname (or `source = \"local\"` to watch this machine's listening sockets)".into(),
        ));
    }
    for t in g.targets.iter().chain(&g.exclude) {
        TargetSpec::parse(t).map_err(|e| invalid("targets", e.to_string()))?;
    }
    let policy = policy(g.policy.unwrap_or_default(), &|k, m| invalid(k, m))?;
    let mut ports = match source {
        // Every listening socket is seen: the whole port range is covered.
        Source::Local => PortList {
            tcp: (1..=u16::MAX).collect(),
            udp: (1..=u16::MAX).collect(),
        },
        Source::Scan => policy.ports(),
    };
    if let Some(spec) = &g.ports {
        let extra =
            parse_port_spec(spec, &[Proto::Tcp]).map_err(|e| invalid("ports", e.to_string()))?;
        ports = ports.union(&extra);
    }
    let top = g.top.or((source == Source::Scan
        && policy.allowed_open.is_some()
        && g.ports.is_none())
    .then_some(DEFAULT_TOP_FOR_ALLOWED));
    if let Some(n) = top {
        let extra = PortList::top(n, &[Proto::Tcp]).map_err(|e| invalid("top", e.to_string()))?;
        ports = ports.union(&extra);
    }
    if ports.is_empty() {
        return Err(invalid(
            "ports",
            "the group scans nothing: give `ports`, `top` or a policy".into(),
        ));
    }
    let schedule = match (&g.every, &g.cron) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "cron",
                "set either `every` or `cron`, not both".into(),
            ));
        }
        (Some(e), None) => Schedule::Every(duration::parse(e).map_err(|m| invalid("every", m))?),
        (None, Some(c)) => Schedule::Cron(Box::new(
            c.parse::<croner::Cron>()
                .map_err(|e| invalid("cron", format!("'{c}': {e}")))?,
        )),
        (None, None) => Schedule::Every(every),
    };
    if let Schedule::Every(d) = schedule
        && d < Duration::from_secs(1)
    {
        return Err(invalid("every", "must be at least 1s".into()));
    }
    let merged = merge_scan(&g.scan, defaults);
    for (k, v) in [
        ("scan.min_rtt_timeout", &merged.min_rtt_timeout),
        ("scan.max_rtt_timeout", &merged.max_rtt_timeout),
        ("scan.initial_rtt_timeout", &merged.initial_rtt_timeout),
    ] {
        if let Some(v) = v {
            duration::parse(v).map_err(|m| invalid(k, m))?;
        }
    }
    let resolve = match merged.resolve.as_deref() {
        None | Some("first") => ResolveMode::First,
        Some("all") => ResolveMode::All,
        Some(other) => {
            return Err(invalid(
                "scan.resolve",
                format!("'{other}': expected \"first\" or \"all\""),
            ));
        }
    };
    let scan = ScanOptions {
        raw: merged,
        resolve,
    };
    scan.engine_config()
        .map_err(|e| invalid("scan", e.to_string()))?;
    if let Some(names) = &g.notify
        && let Some(unknown) = names.iter().find(|n| !notifiers.contains(n))
    {
        return Err(invalid(
            "notify",
            format!(
                "no notifier named \"{unknown}\" (known: {})",
                notifiers.join(", ")
            ),
        ));
    }
    let silences = g
        .silence
        .iter()
        .map(|s| silence(s).map_err(|m| invalid("silence", m)))
        .collect::<Result<Vec<_>>>()?;
    let resolve_in_window = g
        .resolve_in_window
        .as_deref()
        .map(|t| resolve_in_window(t).map_err(|m| invalid("resolve_in_window", m)))
        .transpose()?;
    if source == Source::Local && policy.is_empty() {
        return Err(invalid(
            "policy",
            "a local group needs a policy, e.g. must_be_closed = [\"risky\"]".into(),
        ));
    }
    Ok(Group {
        resolve_in_window,
        name: g.name,
        source,
        targets: g.targets,
        exclude: g.exclude,
        ports,
        schedule,
        scan,
        policy,
        notify: g.notify,
        silences,
    })
}

fn merge_scan(group: &RawScanOptions, defaults: &RawScanOptions) -> RawScanOptions {
    RawScanOptions {
        retries: group.retries.or(defaults.retries),
        max_retries: group.max_retries.or(defaults.max_retries),
        rate: group.rate.or(defaults.rate),
        max_parallel: group.max_parallel.or(defaults.max_parallel),
        min_rtt_timeout: group
            .min_rtt_timeout
            .clone()
            .or(defaults.min_rtt_timeout.clone()),
        max_rtt_timeout: group
            .max_rtt_timeout
            .clone()
            .or(defaults.max_rtt_timeout.clone()),
        initial_rtt_timeout: group
            .initial_rtt_timeout
            .clone()
            .or(defaults.initial_rtt_timeout.clone()),
        assume_up: group.assume_up.or(defaults.assume_up),
        probes: group.probes.or(defaults.probes),
        resolve: group.resolve.clone().or(defaults.resolve.clone()),
    }
}

fn policy(p: RawPolicy, invalid: &dyn Fn(&str, String) -> MonitorError) -> Result<Policy> {
    let set = |k: &str, items: &[String]| {
        parse_port_set(items).map_err(|m| invalid(&format!("policy.{k}"), m))
    };
    let severity = p
        .severity
        .as_deref()
        .map(|s| {
            s.parse::<Severity>()
                .map_err(|e| invalid("policy.severity", e.to_string()))
        })
        .transpose()?;
    Ok(Policy {
        must_be_closed: set("must_be_closed", &p.must_be_closed)?,
        allowed_open: p
            .allowed_open
            .as_deref()
            .map(|a| set("allowed_open", a))
            .transpose()?,
        expected_open: set("expected_open", &p.expected_open)?,
        severity,
    })
}
