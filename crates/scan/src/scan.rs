//! The whole scan as a front end drives it: parse and resolve targets, then run the engines.

use crate::discover::{self, LiveHost, LiveReason, Verdict};
use crate::engine::{self, ScanConfig, ScanProgress};
use crate::error::{Result, ScanError};
use crate::model::{HostStatus, HostSummary, Reason, ScanEvent};
use crate::ports::PortList;
use crate::resolve::{HostResolver, ResolveMode};
use crate::targets::{Target, TargetSet, TargetSpec};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
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

/// How a scan of several hosts finds out which are up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// `--assume-up`: every host is up.
    AssumeUp,
    /// One host: the port scan itself tells (a host that answers nothing is down).
    PortScan,
    /// Raw-socket host discovery first (ARP, ICMP, TCP pings), then only live hosts.
    Discovery,
    /// No raw-socket privilege: the port scan's connect-based liveness.
    ConnectFallback,
}

/// Which liveness method a scan of `targets` uses with `cfg`.
pub fn liveness(cfg: &ScanConfig, targets: &TargetSet) -> Liveness {
    if cfg.assume_up() {
        Liveness::AssumeUp
    } else if targets.iter().nth(1).is_none() {
        Liveness::PortScan
    } else if discover::privileged() {
        Liveness::Discovery
    } else {
        Liveness::ConnectFallback
    }
}

/// Host discovery takes the targets in blocks of this many, and each block's live hosts are
/// port scanned before the next block is discovered: a scan of a million addresses holds one
/// block of targets and verdicts at a time, not a million.
pub const DISCOVERY_BLOCK: usize = 65_536;

/// How many events a front end's channel from [`run`] holds: the CLI and the monitor (its own
/// scans and an agent's jobs) use the same, so the engine waits on a slow reader alike.
pub const EVENT_CHANNEL: usize = 4096;

/// Runs every engine the port list needs and reports events until all hosts are done. A
/// multi-host scan with raw-socket privilege discovers the live hosts first (see
/// [`crate::discover`]), block by block ([`DISCOVERY_BLOCK`]); the others are reported down
/// with every port skipped, and the live ones are port scanned without a down verdict.
///
/// A scan of one port of this machine, as a front end runs it:
///
/// ```
/// use portwatch_scan::engine::{ScanConfig, ScanProgress};
/// use portwatch_scan::ports::parse_port_spec;
/// use portwatch_scan::scan::{self, TargetOptions};
/// use portwatch_scan::{PortState, Proto, ScanEvent};
/// use std::sync::Arc;
///
/// # #[tokio::main]
/// # async fn main() -> portwatch_scan::Result<()> {
/// let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a listener");
/// let port = listener.local_addr().expect("its address").port();
/// let config = ScanConfig::builder().identify(false).build()?;
/// let targets = scan::prepare_targets(&["127.0.0.1".into()], &[], &TargetOptions::default()).await?;
/// let ports = parse_port_spec(&port.to_string(), &[Proto::Tcp])?;
/// let (tx, mut rx) = tokio::sync::mpsc::channel(scan::EVENT_CHANNEL);
/// let progress = Arc::new(ScanProgress::default());
/// let engine = tokio::spawn(async move { scan::run(&config, &targets, &ports, tx, progress).await });
/// let mut open = Vec::new();
/// while let Some(event) = rx.recv().await {
///     match event {
///         ScanEvent::Port(r) if r.state == PortState::Open => open.push(r.port),
///         ScanEvent::Port(_) => {}
///         ScanEvent::Host(summary) => assert_eq!(summary.open, 1),
///     }
/// }
/// engine.await.expect("the engine task")?;
/// assert_eq!(open, [port]);
/// # Ok(())
/// # }
/// ```
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
    if liveness(cfg, targets) != Liveness::Discovery {
        return engine::run(cfg, targets, ports, events, progress).await;
    }
    discover_in_blocks(cfg, targets, ports, &events, &progress, DISCOVERY_BLOCK).await
}

/// [`run`]'s discovery path with blocks of `size` targets.
async fn discover_in_blocks(
    cfg: &ScanConfig,
    targets: &TargetSet,
    ports: &PortList,
    events: &mpsc::Sender<ScanEvent>,
    progress: &Arc<ScanProgress>,
    size: usize,
) -> Result<()> {
    let mut all = targets.iter();
    loop {
        let block: Vec<Target> = all.by_ref().take(size).collect();
        if block.is_empty() || events.is_closed() {
            return Ok(());
        }
        discover_then_scan(cfg, block, ports, events, progress).await?;
    }
}

/// Discovers which of `block` are up, reports the others down, and port scans the live ones.
async fn discover_then_scan(
    cfg: &ScanConfig,
    block: Vec<Target>,
    ports: &PortList,
    events: &mpsc::Sender<ScanEvent>,
    progress: &Arc<ScanProgress>,
) -> Result<()> {
    let verdicts = discover::discover(&block, &cfg.discover_options()).await?;
    let skipped = ports.len() as u32;
    let mut live = Vec::new();
    for (target, verdict) in block.into_iter().zip(verdicts) {
        let reason = match verdict {
            Verdict::Up(_) => {
                live.push(target);
                continue;
            }
            Verdict::Down(reason) => reason,
        };
        progress
            .total
            .fetch_add(u64::from(skipped), Ordering::Relaxed);
        progress
            .done
            .fetch_add(u64::from(skipped), Ordering::Relaxed);
        let summary = HostSummary {
            host: target.addr,
            hostname: target.hostname.as_deref().map(str::to_string),
            status: HostStatus::Down,
            reason: Some(reason),
            ports_scanned: 0,
            ports_skipped: skipped,
            open: 0,
            closed: 0,
            filtered: 0,
            open_filtered: 0,
            srtt_ms: None,
            tcp_method: None,
        };
        if events.send(ScanEvent::Host(summary)).await.is_err() {
            return Ok(());
        }
    }
    if live.is_empty() {
        return Ok(());
    }
    let count = live.len() as u128;
    engine::run_on(
        &cfg.with_assume_up(true),
        Box::new(live.into_iter()),
        count,
        ports,
        events.clone(),
        progress.clone(),
    )
    .await
}

/// Which of `targets` are up, and why (nmap's `-sn`): raw-socket discovery when privileged,
/// otherwise connects to TCP ports 80 and 443 (a SYN-ACK or a reset proves the host up).
pub async fn discover_hosts(
    cfg: &ScanConfig,
    targets: &TargetSet,
) -> Result<Vec<(Target, Verdict)>> {
    let list: Vec<Target> = targets.iter().collect();
    if discover::privileged() {
        let verdicts = discover::discover(&list, &cfg.discover_options()).await?;
        return Ok(list.into_iter().zip(verdicts).collect());
    }
    let ports = PortList {
        tcp: vec![80, 443],
        udp: Vec::new(),
    };
    let (tx, mut rx) = mpsc::channel(EVENT_CHANNEL);
    let count = list.len() as u128;
    let engine = {
        let cfg = cfg.for_liveness();
        let list = list.clone();
        tokio::spawn(async move {
            let progress = Arc::new(ScanProgress::default());
            engine::run_on(
                &cfg,
                Box::new(list.into_iter()),
                count,
                &ports,
                tx,
                progress,
            )
            .await
        })
    };
    let mut proof: HashMap<IpAddr, LiveReason> = HashMap::default();
    let mut down: HashMap<IpAddr, Reason> = HashMap::default();
    while let Some(event) = rx.recv().await {
        match event {
            ScanEvent::Port(p) => {
                let reason = match p.reason {
                    Reason::SynAck => LiveReason::SynAck,
                    Reason::ConnRefused => LiveReason::Reset,
                    Reason::AdminProhibited => LiveReason::AdminProhibited,
                    _ => continue,
                };
                let slot = proof.entry(p.host).or_insert(reason);
                if reason == LiveReason::SynAck {
                    *slot = reason;
                }
            }
            ScanEvent::Host(h) if h.status == HostStatus::Down => {
                down.insert(h.host, h.reason.unwrap_or(Reason::NoResponse));
            }
            ScanEvent::Host(_) => {}
        }
    }
    engine.await.map_err(|e| ScanError::Io {
        op: "run the connect liveness check".into(),
        source: std::io::Error::other(e.to_string()),
    })??;
    Ok(list
        .into_iter()
        .map(|t| {
            let verdict = match proof.get(&t.addr) {
                Some(reason) => Verdict::Up(LiveHost {
                    reason: *reason,
                    mac: None,
                    rtt: None,
                }),
                None => Verdict::Down(down.get(&t.addr).copied().unwrap_or(Reason::NoResponse)),
            };
            (t, verdict)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The host summaries of a scan of `target` × `ports` with `method`.
    async fn summaries(
        target: &str,
        ports: PortList,
        method: engine::TcpMethod,
    ) -> Vec<HostSummary> {
        let targets = TargetSet::new(vec![TargetSpec::parse(target).unwrap()], vec![], vec![]);
        let cfg = ScanConfig::builder().tcp_method(method).build().unwrap();
        let (tx, mut rx) = mpsc::channel(64);
        let progress = Arc::new(ScanProgress::default());
        run(&cfg, &targets, &ports, tx, progress).await.unwrap();
        let mut hosts = Vec::new();
        while let Some(event) = rx.recv().await {
            if let ScanEvent::Host(h) = event {
                hosts.push(h);
            }
        }
        hosts
    }

    /// Loopback is scanned by connects by default, with or without raw-socket privilege, and
    /// each host says so; a scan without TCP ports names no TCP method.
    #[tokio::test]
    async fn hosts_report_their_tcp_method() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let tcp = || PortList {
            tcp: vec![port],
            udp: vec![],
        };
        for method in [engine::TcpMethod::Auto, engine::TcpMethod::Connect] {
            let hosts = summaries("127.0.0.1", tcp(), method).await;
            assert_eq!(hosts.len(), 1, "{method:?}");
            assert_eq!(hosts[0].open, 1, "{method:?}");
            assert_eq!(
                hosts[0].tcp_method,
                Some(crate::model::ProbeMethod::Connect),
                "{method:?}"
            );
        }
        let udp_only = PortList {
            tcp: vec![],
            udp: vec![port],
        };
        let hosts = summaries("127.0.0.1", udp_only, engine::TcpMethod::Auto).await;
        assert_eq!(hosts.len(), 1);
        assert_eq!(hosts[0].tcp_method, None);
    }

    /// Blocks of 5 over 16 loopback addresses (all up at once): each host is reported once, up,
    /// with its port counted, and the listener's port open on its address only.
    #[tokio::test]
    async fn discovery_in_blocks_reports_every_host_once() {
        if !discover::privileged() {
            eprintln!("skipped: host discovery needs raw sockets (root or CAP_NET_RAW)");
            return;
        }
        let listener = std::net::TcpListener::bind("127.83.0.7:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let targets = TargetSet::new(
            vec![TargetSpec::parse("127.83.0.0/28").unwrap()],
            vec![],
            vec![],
        );
        let ports = PortList {
            tcp: vec![port],
            udp: vec![],
        };
        let cfg = ScanConfig::builder().build().unwrap();
        let (tx, mut rx) = mpsc::channel(64);
        let progress = Arc::new(ScanProgress::default());
        let collect = tokio::spawn(async move {
            let mut hosts: BTreeMap<IpAddr, Vec<HostSummary>> = BTreeMap::new();
            let mut open = Vec::new();
            while let Some(event) = rx.recv().await {
                match event {
                    ScanEvent::Host(h) => hosts.entry(h.host).or_default().push(h),
                    ScanEvent::Port(p) => open.push((p.host, p.port)),
                }
            }
            (hosts, open)
        });
        discover_in_blocks(&cfg, &targets, &ports, &tx, &progress, 5)
            .await
            .unwrap();
        drop(tx);
        let (hosts, open) = collect.await.unwrap();
        assert_eq!(hosts.len(), 16);
        for (addr, seen) in &hosts {
            assert_eq!(seen.len(), 1, "{addr} reported {} times", seen.len());
            assert_eq!(seen[0].status, HostStatus::Up, "{addr}");
            assert_eq!(seen[0].ports_scanned, 1, "{addr}");
        }
        assert_eq!(open, vec![("127.83.0.7".parse().unwrap(), port)]);
        drop(listener);
    }
}
