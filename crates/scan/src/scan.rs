//! The whole scan as a front end drives it: parse and resolve targets, then run the engines.

use crate::engine::{self, ScanConfig, ScanProgress};
use crate::error::{Result, ScanError};
use crate::model::ScanEvent;
use crate::ports::PortList;
use crate::resolve::{HostResolver, ResolveMode};
use crate::targets::{TargetSet, TargetSpec};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc;

/// How to turn target tokens into addresses.
#[derive(Debug, Clone, Default)]
pub struct TargetOptions {
    /// Addresses of a hostname to scan.
    pub resolve: ResolveMode,
    /// DNS servers to use instead of the system configuration.
    pub dns_servers: Vec<SocketAddr>,
    /// The user confirmed a scan of more than a /16.
    pub confirmed_large: bool,
}

/// Parses every token (naming the first bad one), resolves hostnames, applies exclusions and
/// the size check.
pub async fn prepare_targets(
    tokens: &[String],
    exclude: &[String],
    opts: &TargetOptions,
) -> Result<TargetSet> {
    let specs = tokens
        .iter()
        .map(|t| TargetSpec::parse(t))
        .collect::<Result<Vec<_>>>()?;
    if specs.is_empty() {
        return Err(ScanError::NoTargets(String::new()));
    }
    let excluded = exclude
        .iter()
        .map(|t| TargetSpec::parse(t))
        .collect::<Result<Vec<_>>>()?;
    let hostnames: Vec<&str> = specs
        .iter()
        .chain(&excluded)
        .filter_map(|s| match s {
            TargetSpec::Host(h) => Some(h.as_str()),
            _ => None,
        })
        .collect();
    let mut resolved = Vec::new();
    let mut excluded_addrs = Vec::new();
    if !hostnames.is_empty() {
        let resolver = HostResolver::new(opts.resolve, &opts.dns_servers)?;
        for spec in &specs {
            if let TargetSpec::Host(h) = spec {
                resolved.push((h.clone(), resolver.resolve(h).await?));
            }
        }
        let every = HostResolver::new(ResolveMode::All, &opts.dns_servers)?;
        for spec in &excluded {
            if let TargetSpec::Host(h) = spec {
                excluded_addrs.extend(every.resolve(h).await?.into_iter().map(TargetSpec::Addr));
            }
        }
    }
    let exclusions = excluded
        .into_iter()
        .filter(|s| !matches!(s, TargetSpec::Host(_)))
        .chain(excluded_addrs)
        .collect();
    let set = TargetSet::new(specs, resolved, exclusions);
    set.check_size(opts.confirmed_large)?;
    if set.iter().next().is_none() {
        return Err(ScanError::NoTargets(" (every target is excluded)".into()));
    }
    Ok(set)
}

/// Runs every engine the port list needs and reports events until all hosts are done.
pub async fn run(
    cfg: &ScanConfig,
    targets: &TargetSet,
    ports: &PortList,
    events: mpsc::Sender<ScanEvent>,
    progress: Arc<ScanProgress>,
) -> Result<()> {
    if ports.is_empty() {
        return Err(ScanError::NoPorts);
    }
    engine::run(cfg, targets, ports, events, progress).await
}
