//! From what the file says to what portwatch runs: every target, port spec, duration and
//! schedule parsed once, each error naming the group and key.

use super::raw::{
    RawAlerts, RawConfig, RawGroup, RawPolicy, RawScanOptions, RawSilence, RawSource,
    RawVantagePolicy,
};
use super::silence::{Silence, parse_instant};
use super::vantage::{self, Known, Vantage};
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
use std::collections::{BTreeMap, BTreeSet};
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
    /// An agent not heard from for this long is stale (an alert through the notifiers);
    /// agents' long polls are kept to a third of it, so a live agent is heard from in time.
    pub agent_stale_after: Duration,
}

/// The scheduler lease unless `[cluster] lease` says otherwise.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);

/// How long an agent may go unheard unless `[cluster] agent_stale_after` says otherwise:
/// three times the longest long poll (20 s).
pub const DEFAULT_AGENT_STALE_AFTER: Duration = Duration::from_mins(1);

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            lease: DEFAULT_LEASE,
            lease_name: crate::daemon::leader::SCHEDULER.to_string(),
            agent_stale_after: DEFAULT_AGENT_STALE_AFTER,
        }
    }
}

fn cluster(raw: &super::raw::RawCluster, path: &Path) -> Result<Cluster> {
    let within = |key: &str, text: Option<&str>, min: Duration, max: Duration, what: &str| {
        let invalid = |message: String| MonitorError::Invalid {
            path: path.to_path_buf(),
            key: format!("cluster.{key}"),
            message,
        };
        let Some(text) = text else {
            return Ok(None);
        };
        let d = duration::parse(text).map_err(invalid)?;
        if d < min || d > max {
            return Err(invalid(format!("{text} is out of range: {what}")));
        }
        Ok(Some(d))
    };
    let defaults = Cluster::default();
    Ok(Cluster {
        lease: within(
            "lease",
            raw.lease.as_deref(),
            Duration::from_millis(100),
            Duration::from_hours(1),
            "the scheduler lease must be 100ms to 1h",
        )?
        .unwrap_or(defaults.lease),
        agent_stale_after: within(
            "agent_stale_after",
            raw.agent_stale_after.as_deref(),
            Duration::from_secs(1),
            Duration::from_hours(168),
            "agents must be allowed 1s to 7d before they count as stale",
        )?
        .unwrap_or(defaults.agent_stale_after),
        ..defaults
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
    /// The vantages it is observed from, in config order (`local` by default).
    pub vantages: Vec<Vantage>,
    /// The rules, as seen from every vantage (see [`Group::policy_for`] for one vantage's).
    pub policy: Policy,
    /// What changes as seen from one vantage, by vantage name.
    pub from: BTreeMap<String, VantagePolicy>,
    /// Notifier names for this group's alerts (`None`: every notifier).
    pub notify: Option<Vec<String>>,
    /// Maintenance windows.
    pub silences: Vec<Silence>,
    /// When a resolve confirmed in one of its windows is sent (`None`: as `[alerts]` says).
    pub resolve_in_window: Option<ResolveInWindow>,
    /// How a round's scan is split into shards (`None`: one shard).
    pub shard: Option<super::Sharding>,
}

/// A policy as seen from one vantage (`[group.policy.from.NAME]`): each rule given replaces
/// the group's, then `allow` is taken out of `must_be_closed`.
#[derive(Debug, Clone, Default)]
pub struct VantagePolicy {
    /// Replaces the group's `must_be_closed`.
    pub must_be_closed: Option<PortList>,
    /// Replaces the group's `allowed_open`.
    pub allowed_open: Option<PortList>,
    /// Replaces the group's `expected_open`.
    pub expected_open: Option<PortList>,
    /// Replaces the group's `severity`.
    pub severity: Option<Severity>,
    /// May be open from this vantage.
    pub allow: PortList,
}

/// `list` without the ports of `minus`.
fn without(list: &PortList, minus: &PortList) -> PortList {
    let keep = |ports: &[u16], gone: &[u16]| -> Vec<u16> {
        ports
            .iter()
            .copied()
            .filter(|p| !gone.contains(p))
            .collect()
    };
    PortList {
        tcp: keep(&list.tcp, &minus.tcp),
        udp: keep(&list.udp, &minus.udp),
    }
}

impl Group {
    /// The policy as seen from `vantage`. The one composition rule: start from the group's
    /// `[group.policy]` (it applies from every vantage); each key that
    /// `[group.policy.from.VANTAGE]` sets (`must_be_closed`, `allowed_open`, `expected_open`,
    /// `severity`) replaces the group's key of the same name; then the ports of its `allow`
    /// are taken out of `must_be_closed` (and, when the policy lists `allowed_open`, added to
    /// it). A vantage without a `from` table gets the group's policy unchanged.
    pub fn policy_for(&self, vantage: &str) -> Policy {
        let mut p = self.policy.clone();
        let Some(o) = self.from.get(vantage) else {
            return p;
        };
        if let Some(m) = &o.must_be_closed {
            p.must_be_closed = m.clone();
        }
        if let Some(a) = &o.allowed_open {
            p.allowed_open = Some(a.clone());
        }
        if let Some(e) = &o.expected_open {
            p.expected_open = e.clone();
        }
        if o.severity.is_some() {
            p.severity = o.severity;
        }
        p.must_be_closed = without(&p.must_be_closed, &o.allow);
        if let Some(a) = &p.allowed_open {
            p.allowed_open = Some(a.union(&o.allow));
        }
        p
    }

    /// The vantage of this group called `name`, if the group is observed from it.
    pub fn vantage(&self, name: &str) -> Option<&Vantage> {
        self.vantages.iter().find(|v| v.name == name)
    }

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
    /// Checks raw options (durations, resolve mode, engine limits); an error names the key
    /// (`scan.…`) and what is wrong.
    pub fn from_raw(raw: RawScanOptions) -> Result<Self, (&'static str, String)> {
        for (k, v) in [
            ("scan.min_rtt_timeout", &raw.min_rtt_timeout),
            ("scan.max_rtt_timeout", &raw.max_rtt_timeout),
            ("scan.initial_rtt_timeout", &raw.initial_rtt_timeout),
        ] {
            if let Some(v) = v {
                duration::parse(v).map_err(|m| (k, m))?;
            }
        }
        let resolve = match raw.resolve.as_deref() {
            None | Some("first") => ResolveMode::First,
            Some("all") => ResolveMode::All,
            Some(other) => {
                return Err((
                    "scan.resolve",
                    format!("'{other}': expected \"first\" or \"all\""),
                ));
            }
        };
        let scan = ScanOptions { raw, resolve };
        scan.engine_config().map_err(|e| ("scan", e.to_string()))?;
        Ok(scan)
    }

    /// The options as configured.
    pub fn raw(&self) -> &RawScanOptions {
        &self.raw
    }

    /// The engine configuration these options describe.
    pub fn engine_config(&self) -> portwatch_scan::Result<ScanConfig> {
        self.engine_config_for(crate::job::ScanKind::Round)
    }

    /// Whether scans identify services (`probes`, default true).
    pub fn identifies(&self) -> bool {
        self.raw.probes.unwrap_or(true)
    }

    /// The engine configuration for a scan of `kind`: a round identifies services where
    /// [`ScanOptions::identifies`], a confirmation never does.
    pub fn engine_config_for(
        &self,
        kind: crate::job::ScanKind,
    ) -> portwatch_scan::Result<ScanConfig> {
        let r = &self.raw;
        let mut b = ScanConfig::builder()
            .assume_up(r.assume_up.unwrap_or(false))
            .identify(kind == crate::job::ScanKind::Round && self.identifies());
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
pub const DEFAULT_EVERY: Duration = Duration::from_mins(5);
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
    if let Some(url) = &raw.database {
        portwatch_store::Dialect::of_url(url)
            .map_err(|e| invalid("database".into(), e.to_string()))?;
    }
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
    let vantages = vantage::declared(&raw.vantage).map_err(|(k, m)| invalid(k, m))?;
    let mut names = BTreeSet::new();
    let mut groups = Vec::new();
    for g in raw.groups {
        if !names.insert(g.name.clone()) {
            return Err(invalid(
                format!("group \"{}\"", g.name),
                "this name is used twice; group names must be unique".into(),
            ));
        }
        groups.push(group(
            g,
            &raw.defaults.scan,
            default_every,
            &known,
            &vantages,
            path,
        )?);
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
    known_vantages: &Known,
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
    let mut raw_policy = g.policy.unwrap_or_default();
    let raw_from = std::mem::take(&mut raw_policy.from);
    let policy = policy(raw_policy, &|k, m| invalid(k, m))?;
    let vantages = group_vantages(g.vantages.as_deref(), source, known_vantages)
        .map_err(|m| invalid("vantages", m))?;
    let mut from = BTreeMap::new();
    for (name, o) in raw_from {
        let k = format!("policy.from.{name}");
        check_from(&name, &vantages).map_err(|m| invalid(&k, m))?;
        from.insert(
            name,
            vantage_policy(o, &|sub, m| invalid(&format!("{k}.{sub}"), m))?,
        );
    }
    let mut ports = match source {
        // Every listening socket is seen: the whole port range is covered.
        Source::Local => PortList {
            tcp: (1..=u16::MAX).collect(),
            udp: (1..=u16::MAX).collect(),
        },
        Source::Scan => policy.ports(),
    };
    if source == Source::Scan {
        for o in from.values() {
            for list in [&o.must_be_closed, &o.allowed_open, &o.expected_open]
                .into_iter()
                .flatten()
            {
                ports = ports.union(list);
            }
        }
    }
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
    let scan = ScanOptions::from_raw(merged).map_err(|(k, m)| invalid(k, m))?;
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
    let shard = super::shard::sharding(g.shard.as_ref()).map_err(|m| invalid("shard", m))?;
    if source == Source::Local && shard.is_some() {
        return Err(invalid(
            "shard",
            "a `source = \"local\"` group reads this machine's sockets and is never split; remove `shard`".into(),
        ));
    }
    if let Some(s) = &shard {
        crate::shard::plan(&g.targets, &g.exclude, &ports, s).map_err(|m| invalid("shard", m))?;
    }
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
        vantages,
        policy,
        from,
        notify: g.notify,
        silences,
        shard,
    })
}

/// A group's `vantages`: each known, none twice, `["local"]` when not given; a local group
/// reads this machine's sockets, so `local` is its only vantage.
pub(super) fn group_vantages(
    names: Option<&[String]>,
    source: Source,
    known: &Known,
) -> std::result::Result<Vec<Vantage>, String> {
    let Some(names) = names else {
        return Ok(vec![Vantage::local()]);
    };
    if names.is_empty() {
        return Err("give at least one vantage (or leave `vantages` out for [\"local\"])".into());
    }
    let mut out: Vec<Vantage> = Vec::new();
    for name in names {
        let v = known.get(name)?;
        if out.iter().any(|o| o.name == v.name) {
            return Err(format!("'{name}' is listed twice"));
        }
        if source == Source::Local && !v.is_local() {
            return Err(format!(
                "a `source = \"local\"` group reads this machine's sockets; it has no vantage '{name}' (remove it)"
            ));
        }
        out.push(v);
    }
    Ok(out)
}

/// A `[group.policy.from.NAME]` must name one of the group's vantages.
pub(super) fn check_from(name: &str, vantages: &[Vantage]) -> std::result::Result<(), String> {
    if vantages.iter().any(|v| v.name == name) {
        return Ok(());
    }
    let names: Vec<&str> = vantages.iter().map(|v| v.name.as_str()).collect();
    Err(format!(
        "the group is not observed from '{name}' (vantages = {names:?}); add it to `vantages` or remove this table"
    ))
}

fn vantage_policy(
    o: RawVantagePolicy,
    invalid: &dyn Fn(&str, String) -> MonitorError,
) -> Result<VantagePolicy> {
    let set = |k: &str, items: &[String]| parse_port_set(items).map_err(|m| invalid(k, m));
    Ok(VantagePolicy {
        must_be_closed: o
            .must_be_closed
            .as_deref()
            .map(|v| set("must_be_closed", v))
            .transpose()?,
        allowed_open: o
            .allowed_open
            .as_deref()
            .map(|v| set("allowed_open", v))
            .transpose()?,
        expected_open: o
            .expected_open
            .as_deref()
            .map(|v| set("expected_open", v))
            .transpose()?,
        severity: o
            .severity
            .as_deref()
            .map(|s| {
                s.parse::<Severity>()
                    .map_err(|e| invalid("severity", e.to_string()))
            })
            .transpose()?,
        allow: set("allow", &o.allow)?,
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
