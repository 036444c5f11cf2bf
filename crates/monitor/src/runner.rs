//! Runs one group's scan and gathers each host's results, ready to evaluate and store.

use crate::config::{Group, Source, Vantage};
use crate::job::ScanKind;
use crate::policy::{self, HostVerdict};
use portwatch_scan::engine::ScanProgress;
use portwatch_scan::ports::PortList;
use portwatch_scan::scan::{self, TargetOptions};
use portwatch_scan::{HostSummary, PortResult, ScanEvent};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;

/// One host's part of a group scan.
#[derive(Debug, Clone)]
pub struct HostScan {
    /// Up or down, counts.
    pub summary: HostSummary,
    /// Its open and open|filtered ports.
    pub results: Vec<PortResult>,
}

/// A finished group scan.
#[derive(Debug, Clone)]
pub struct GroupScan {
    /// The group's name.
    pub group: String,
    /// When it started.
    pub started: SystemTime,
    /// How long it took.
    pub elapsed: Duration,
    /// The ports covered.
    pub ports: PortList,
    /// Every host, in the order they finished.
    pub hosts: Vec<HostScan>,
    /// For a `local` group: each listener's severity as `portwatch local` rates it (exposure
    /// and firewall), by (address, port, transport). Empty for a scan.
    pub local_severities: BTreeMap<(IpAddr, u16, portwatch_scan::Proto), portwatch_kb::Severity>,
    /// The scan jobs whose results this is (empty for a scan run in this process); the
    /// transaction that records it marks them applied.
    pub jobs: Vec<i64>,
}

impl GroupScan {
    /// Judges every host against the group's policy, as seen from this server.
    pub fn evaluate(&self, group: &Group) -> Vec<(IpAddr, HostVerdict)> {
        self.evaluate_from(group, &Vantage::local())
    }

    /// Judges every host against the group's policy as seen from `vantage` (the scan is what
    /// that vantage observed).
    pub fn evaluate_from(&self, group: &Group, vantage: &Vantage) -> Vec<(IpAddr, HostVerdict)> {
        if group.source == Source::Local {
            return crate::local_source::evaluate(group, self);
        }
        let policy = group.policy_for(&vantage.name);
        self.hosts
            .iter()
            .map(|h| {
                (
                    h.summary.host,
                    policy::evaluate_from(&group.name, vantage, &policy, &h.summary, &h.results),
                )
            })
            .collect()
    }
}

/// Scans `group` (targets resolved now) and returns every host's results; a `local` group
/// reads this machine's listening sockets instead and identifies them through loopback.
pub async fn scan_group(
    group: &Group,
    ports: Option<&PortList>,
) -> portwatch_scan::Result<GroupScan> {
    if group.source == Source::Local {
        return crate::local_source::observe_identified(group)
            .await
            .map_err(|e| portwatch_scan::ScanError::Io {
                op: "read this machine's listening sockets".into(),
                source: std::io::Error::other(e.to_string()),
            });
    }
    let ports = ports.cloned().unwrap_or_else(|| group.ports.clone());
    scan_targets(group, &group.targets, &ports, ScanKind::Round).await
}

/// Scans `targets` × `ports` with `group`'s options and exclusions.
pub async fn scan_targets(
    group: &Group,
    targets: &[String],
    ports: &PortList,
    kind: ScanKind,
) -> portwatch_scan::Result<GroupScan> {
    let what = Scope {
        group: &group.name,
        scan: &group.scan,
        exclude: &group.exclude,
    };
    scan_scope(what, targets, ports, kind).await
}

/// Runs a scan job (as an agent does) with the same engine as [`scan_targets`], and returns
/// its result in the wire form; quiet hosts are folded into runs as they finish, so memory
/// grows with what was found, not with the number of addresses.
pub async fn scan_job(spec: &crate::job::JobSpec) -> portwatch_scan::Result<crate::job::JobResult> {
    let options = spec
        .scan_options()
        .map_err(|reason| portwatch_scan::ScanError::Io {
            op: format!("read the scan options of job for group {}", spec.group),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, reason),
        })?;
    let what = Scope {
        group: &spec.group,
        scan: &options,
        exclude: &spec.exclude,
    };
    let ports = spec.ports.to_list();
    let mut result = crate::job::ResultBuilder::default();
    let (started, elapsed) =
        scan_each(what, &spec.targets, &ports, spec.kind(), |h| result.push(h)).await?;
    Ok(result.finish(started, elapsed, &ports))
}

/// What a scan needs of its group.
#[derive(Clone, Copy)]
struct Scope<'a> {
    group: &'a str,
    scan: &'a crate::config::ScanOptions,
    exclude: &'a [String],
}

async fn scan_scope(
    what: Scope<'_>,
    targets: &[String],
    ports: &PortList,
    kind: ScanKind,
) -> portwatch_scan::Result<GroupScan> {
    let mut hosts = Vec::new();
    let (started, elapsed) = scan_each(what, targets, ports, kind, |h| hosts.push(h)).await?;
    Ok(GroupScan {
        group: what.group.to_string(),
        started,
        elapsed,
        ports: ports.clone(),
        hosts,
        local_severities: BTreeMap::new(),
        jobs: Vec::new(),
    })
}

/// Scans and hands each finished host to `on_host`; returns when it started and how long it
/// took.
async fn scan_each(
    what: Scope<'_>,
    targets: &[String],
    ports: &PortList,
    kind: ScanKind,
    mut on_host: impl FnMut(HostScan),
) -> portwatch_scan::Result<(SystemTime, Duration)> {
    let config = what.scan.engine_config_for(kind)?;
    let opts = TargetOptions {
        resolve: what.scan.resolve,
        dns_servers: Vec::new(),
        confirmed_large: true,
    };
    let targets = scan::prepare_targets(targets, what.exclude, &opts).await?;
    let started = SystemTime::now();
    let clock = Instant::now();
    let (tx, mut rx) = mpsc::channel(scan::EVENT_CHANNEL);
    let engine = {
        let ports = ports.clone();
        tokio::spawn(async move {
            scan::run(
                &config,
                &targets,
                &ports,
                tx,
                Arc::new(ScanProgress::default()),
            )
            .await
        })
    };
    let mut pending: HashMap<IpAddr, Vec<PortResult>> = HashMap::new();
    while let Some(event) = rx.recv().await {
        match event {
            ScanEvent::Port(r) => pending.entry(r.host).or_default().push(r),
            ScanEvent::Host(summary) => {
                let mut results = pending.remove(&summary.host).unwrap_or_default();
                results.sort_by_key(|r| (r.proto, r.port));
                on_host(HostScan { summary, results });
            }
        }
    }
    match engine.await {
        Ok(result) => result?,
        Err(e) => {
            return Err(portwatch_scan::ScanError::Io {
                op: "run the scan engine".into(),
                source: std::io::Error::other(e.to_string()),
            });
        }
    }
    Ok((started, clock.elapsed()))
}
