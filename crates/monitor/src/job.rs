//! What a scan job carries to an agent (`JobSpec`) and back (`JobResult`): the wire form of a
//! group's scan, run by the agent with the same engine as a scan run here.

use crate::config::{Group, RawScanOptions, ScanOptions};
use crate::runner::{GroupScan, HostScan};
use portwatch_scan::ports::PortList;
use portwatch_scan::targets::TargetSpec;
use portwatch_scan::{HostStatus, HostSummary, PortResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How many addresses a hostname among a job's targets may stand for in a result: the name is
/// resolved where the job runs, so the server cannot count them.
pub const NAME_ADDRESSES: u64 = 256;

/// Ports by transport, as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WirePorts {
    /// TCP ports.
    #[serde(default)]
    pub tcp: Vec<u16>,
    /// UDP ports.
    #[serde(default)]
    pub udp: Vec<u16>,
}

impl From<&PortList> for WirePorts {
    fn from(p: &PortList) -> Self {
        WirePorts {
            tcp: p.tcp.clone(),
            udp: p.udp.clone(),
        }
    }
}

impl WirePorts {
    /// The port list (sorted, without duplicates).
    pub fn to_list(&self) -> PortList {
        PortList {
            tcp: self.tcp.clone(),
            udp: self.udp.clone(),
        }
        .union(&PortList::default())
    }
}

/// What a scan is for. A round of the group's schedule identifies services (where the group's
/// `probes` allows) and is split into shards where the group is sharded; a confirmation
/// re-probes ports already seen and only checks their states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanKind {
    /// A scheduled or requested scan of the group.
    Round,
    /// A re-probe that confirms a change before it alerts.
    Confirmation,
}

/// What an agent needs to run one job: the group's targets, exclusions, ports and scan
/// options, and whether to identify services.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// The group's name.
    pub group: String,
    /// Target tokens.
    pub targets: Vec<String>,
    /// Exclusion tokens.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// The ports to probe.
    pub ports: WirePorts,
    /// The group's scan options, as configured.
    #[serde(default)]
    pub scan: RawScanOptions,
    /// Whether to identify services on open ports.
    #[serde(default)]
    pub identify: bool,
}

impl JobSpec {
    /// The job that scans `targets` × `ports` of `group`.
    pub fn for_group(group: &Group, targets: &[String], ports: &PortList, kind: ScanKind) -> Self {
        JobSpec {
            group: group.name.clone(),
            targets: targets.to_vec(),
            exclude: group.exclude.clone(),
            ports: WirePorts::from(ports),
            scan: group.scan.raw().clone(),
            identify: kind == ScanKind::Round,
        }
    }

    /// What the job's scan is for: only a round identifies services.
    pub fn kind(&self) -> ScanKind {
        if self.identify {
            ScanKind::Round
        } else {
            ScanKind::Confirmation
        }
    }

    /// The most hosts a result of this job can cover: the addresses its target tokens name
    /// (before exclusions), a hostname counted as [`NAME_ADDRESSES`].
    pub fn host_bound(&self) -> u128 {
        self.targets
            .iter()
            .map(|t| match TargetSpec::parse(t) {
                Ok(TargetSpec::Host(_)) | Err(_) => u128::from(NAME_ADDRESSES),
                Ok(spec) => spec.count(),
            })
            .fold(0, u128::saturating_add)
    }

    /// The scan options, checked as the configuration checks them.
    pub fn scan_options(&self) -> Result<ScanOptions, String> {
        ScanOptions::from_raw(self.scan.clone())
            .map_err(|(key, message)| format!("{key}: {message}"))
    }
}

/// One host of a job's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireHost {
    /// Up or down, counts.
    pub summary: HostSummary,
    /// Its open and open|filtered ports.
    #[serde(default)]
    pub results: Vec<PortResult>,
}

/// A job's result: what the agent's scan found.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobResult {
    /// When the scan started (ms since the Unix epoch).
    pub started_ms: i64,
    /// How long it took (ms).
    pub elapsed_ms: u64,
    /// The ports covered.
    pub ports: WirePorts,
    /// The hosts with something to say (an open or open|filtered port, a name, or down), in
    /// the order they finished.
    pub hosts: Vec<WireHost>,
    /// The other hosts: up, every port closed or filtered, as runs of consecutive addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quiet: Vec<QuietRun>,
}

/// Consecutive up hosts on which no port was open or open|filtered, with the same counts.
/// Closed is what coverage implies, so such a host travels as part of a run, not one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietRun {
    /// The first address of the run.
    pub first: IpAddr,
    /// How many addresses, from `first` on.
    pub count: u64,
    /// Closed ports of each host.
    pub closed: u32,
    /// Filtered ports of each host.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub filtered: u32,
    /// Ports skipped on each host.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped: u32,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The counts a quiet host is known by: (closed, filtered, skipped).
type QuietCounts = (u32, u32, u32);

/// Whether `host` is quiet (see [`QuietRun`]), and its counts if so. Its round-trip time is
/// not kept: nothing recorded or judged from a job's result reads it.
fn quiet_counts(host: &HostScan) -> Option<QuietCounts> {
    let s = &host.summary;
    let quiet = s.status == HostStatus::Up
        && s.hostname.is_none()
        && s.reason.is_none()
        && host.results.is_empty()
        && s.open == 0
        && s.open_filtered == 0
        && s.ports_scanned == s.closed + s.filtered;
    quiet.then_some((s.closed, s.filtered, s.ports_skipped))
}

/// Reads a job's result as pushed or stored, given the job's stored spec: refuses one that is
/// not a result or that covers more hosts than the job can have scanned ([`JobResult::check`]),
/// before anything expands its quiet runs. The error completes "the result …".
pub fn read_result(
    spec: &serde_json::Value,
    result: serde_json::Value,
) -> Result<JobResult, String> {
    let result: JobResult =
        serde_json::from_value(result).map_err(|e| format!("is not a scan result: {e}"))?;
    let spec: JobSpec = serde_json::from_value(spec.clone())
        .map_err(|e| format!("cannot be checked: the job's spec does not read: {e}"))?;
    result.check(&spec)?;
    Ok(result)
}

/// Collects a job's result host by host without keeping a record per quiet host: quiet hosts
/// are merged into runs as they finish (hosts finish nearly in address order, so the runs stay
/// few), the others are kept as they are.
///
/// Three neighbours with every port closed travel as one run:
///
/// ```
/// use portwatch_monitor::job::ResultBuilder;
/// use portwatch_monitor::runner::HostScan;
/// use portwatch_scan::ports::PortList;
/// use portwatch_scan::{HostStatus, HostSummary};
/// use std::time::{Duration, SystemTime};
///
/// let ports = PortList { tcp: vec![22, 80], udp: vec![] };
/// let closed = |last: u8| HostScan {
///     summary: HostSummary {
///         host: [192, 0, 2, last].into(),
///         hostname: None,
///         status: HostStatus::Up,
///         reason: None,
///         ports_scanned: 2,
///         ports_skipped: 0,
///         open: 0,
///         closed: 2,
///         filtered: 0,
///         open_filtered: 0,
///         srtt_ms: None,
///         tcp_method: None,
///     },
///     results: vec![],
/// };
/// let mut result = ResultBuilder::default();
/// for last in [1, 2, 3] {
///     result.push(closed(last));
/// }
/// assert_eq!(result.runs(), 1);
/// let result = result.finish(SystemTime::now(), Duration::from_secs(1), &ports);
/// assert_eq!(result.host_count(), 3);
/// assert!(result.hosts.is_empty());
/// ```
#[derive(Debug, Default)]
pub struct ResultBuilder {
    hosts: Vec<WireHost>,
    /// Runs by (is IPv6, first address as a number): (count, counts).
    runs: BTreeMap<(bool, u128), (u128, QuietCounts)>,
}

fn as_number(addr: IpAddr) -> (bool, u128) {
    match addr {
        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

fn from_number(v6: bool, n: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(n))
    } else {
        IpAddr::V4(Ipv4Addr::from(u32::try_from(n).unwrap_or(u32::MAX)))
    }
}

impl ResultBuilder {
    /// Adds one finished host.
    pub fn push(&mut self, host: HostScan) {
        match quiet_counts(&host) {
            Some(counts) => self.push_quiet(host.summary.host, counts),
            None => self.hosts.push(WireHost {
                summary: host.summary,
                results: host.results,
            }),
        }
    }

    fn push_quiet(&mut self, addr: IpAddr, counts: QuietCounts) {
        let (v6, n) = as_number(addr);
        let mut start = n;
        let mut len = 1u128;
        // Joins the run that ends just before this address.
        if let Some((&(f, first), &(count, c))) = self.runs.range(..(v6, n)).next_back()
            && f == v6
            && c == counts
            && first.checked_add(count) == Some(n)
        {
            self.runs.remove(&(f, first));
            start = first;
            len += count;
        }
        // And the run that starts just after it.
        if let Some(next) = n.checked_add(1)
            && let Some(&(count, c)) = self.runs.get(&(v6, next))
            && c == counts
        {
            self.runs.remove(&(v6, next));
            len += count;
        }
        self.runs.insert((v6, start), (len, counts));
    }

    /// How many quiet runs are held now.
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// The result, with the scan's start, duration and ports.
    pub fn finish(self, started: SystemTime, elapsed: Duration, ports: &PortList) -> JobResult {
        let quiet = self
            .runs
            .into_iter()
            .flat_map(|((v6, first), (count, (closed, filtered, skipped)))| {
                // A run longer than u64 (only in IPv6) is sent in parts.
                let mut out = Vec::new();
                let mut at = first;
                let mut left = count;
                while left > 0 {
                    let part = left.min(u128::from(u64::MAX));
                    out.push(QuietRun {
                        first: from_number(v6, at),
                        count: u64::try_from(part).unwrap_or(u64::MAX),
                        closed,
                        filtered,
                        skipped,
                    });
                    left -= part;
                    at = at.saturating_add(part);
                }
                out
            })
            .collect();
        JobResult {
            started_ms: started
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            ports: WirePorts::from(ports),
            hosts: self.hosts,
            quiet,
        }
    }
}

impl From<&GroupScan> for JobResult {
    fn from(s: &GroupScan) -> Self {
        let mut b = ResultBuilder::default();
        for h in &s.hosts {
            b.push(h.clone());
        }
        b.finish(s.started, s.elapsed, &s.ports)
    }
}

impl JobResult {
    /// How many hosts the result covers.
    pub fn host_count(&self) -> u128 {
        self.quiet
            .iter()
            .map(|r| u128::from(r.count))
            .fold(self.hosts.len() as u128, u128::saturating_add)
    }

    /// Refuses a result that covers more hosts than its job can have scanned
    /// ([`JobSpec::host_bound`]): reading it would make a host record for each.
    pub fn check(&self, spec: &JobSpec) -> Result<(), String> {
        let (count, bound) = (self.host_count(), spec.host_bound());
        if count > bound {
            return Err(format!(
                "covers {count} hosts, more than the job's targets name \
                 ({bound}, a hostname counted as {NAME_ADDRESSES})"
            ));
        }
        Ok(())
    }

    /// The group scan this result describes, as the result of job `job`: the listed hosts,
    /// then every host of the quiet runs (up, nothing open; no round-trip time).
    pub fn into_group_scan(self, group: &str, job: i64) -> GroupScan {
        let mut hosts: Vec<HostScan> = self
            .hosts
            .into_iter()
            .map(|h| HostScan {
                summary: h.summary,
                results: h.results,
            })
            .collect();
        for run in &self.quiet {
            let (v6, first) = as_number(run.first);
            let last = if v6 { u128::MAX } else { u128::from(u32::MAX) };
            let count = u128::from(run.count).min((last - first).saturating_add(1));
            hosts.extend((0..count).map(|i| HostScan {
                summary: HostSummary {
                    host: from_number(v6, first + i),
                    hostname: None,
                    status: HostStatus::Up,
                    reason: None,
                    ports_scanned: run.closed + run.filtered,
                    ports_skipped: run.skipped,
                    open: 0,
                    closed: run.closed,
                    filtered: run.filtered,
                    open_filtered: 0,
                    srtt_ms: None,
                    tcp_method: None,
                },
                results: Vec::new(),
            }));
        }
        GroupScan {
            group: group.to_string(),
            started: UNIX_EPOCH + Duration::from_millis(self.started_ms.max(0).unsigned_abs()),
            elapsed: Duration::from_millis(self.elapsed_ms),
            ports: self.ports.to_list(),
            hosts,
            local_severities: BTreeMap::new(),
            jobs: vec![job],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_survives_the_wire() {
        let json = serde_json::json!({
            "started_ms": 1_700_000_000_000i64,
            "elapsed_ms": 1500,
            "ports": {"tcp": [22, 80]},
            "hosts": [{
                "summary": {"host": "127.0.0.1", "hostname": null, "status": "up", "reason": null,
                    "ports_scanned": 2, "ports_skipped": 0, "open": 1, "closed": 1, "filtered": 0,
                    "open_filtered": 0, "srtt_ms": null},
                "results": [{"host": "127.0.0.1", "hostname": null, "port": 22, "proto": "tcp",
                    "state": "open", "reason": "syn-ack", "service": "ssh", "rtt_ms": 0.1}]
            }]
        });
        let r: JobResult = serde_json::from_value(json).expect("decodes");
        let scan = r.clone().into_group_scan("g", 7);
        assert_eq!(scan.jobs, vec![7]);
        assert_eq!(scan.ports.tcp, vec![22, 80]);
        assert_eq!(scan.hosts[0].results[0].port, 22);
        let back = serde_json::to_value(JobResult::from(&scan)).expect("encodes");
        assert_eq!(back["started_ms"], 1_700_000_000_000i64);
        assert!(serde_json::from_value::<JobResult>(serde_json::json!({"hosts": 1})).is_err());
    }
    fn summary(addr: &str, status: HostStatus, closed: u32) -> HostSummary {
        HostSummary {
            host: addr.parse().unwrap(),
            hostname: None,
            status,
            reason: None,
            ports_scanned: closed,
            ports_skipped: 0,
            open: 0,
            closed,
            filtered: 0,
            open_filtered: 0,
            srtt_ms: Some(0.05),
            tcp_method: None,
        }
    }

    fn quiet(addr: &str) -> HostScan {
        HostScan {
            summary: summary(addr, HostStatus::Up, 10),
            results: Vec::new(),
        }
    }

    /// What the daemon records and judges of a host: address, name, status, counts, results.
    fn observed(scan: &GroupScan) -> Vec<String> {
        let mut out: Vec<String> = scan
            .hosts
            .iter()
            .map(|h| {
                let s = &h.summary;
                let ports: Vec<String> = h
                    .results
                    .iter()
                    .map(|r| format!("{}/{} {}", r.port, r.proto, r.state))
                    .collect();
                format!(
                    "{} {:?} {:?} {:?} scanned={} skipped={} open={} closed={} filtered={} of={} [{}]",
                    s.host,
                    s.hostname,
                    s.status,
                    s.reason,
                    s.ports_scanned,
                    s.ports_skipped,
                    s.open,
                    s.closed,
                    s.filtered,
                    s.open_filtered,
                    ports.join(", ")
                )
            })
            .collect();
        out.sort();
        out
    }

    fn scan_of(hosts: Vec<HostScan>) -> GroupScan {
        GroupScan {
            group: "g".into(),
            started: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            elapsed: Duration::from_millis(900),
            ports: PortList {
                tcp: (1..=10).collect(),
                udp: vec![],
            },
            hosts,
            local_severities: BTreeMap::new(),
            jobs: vec![],
        }
    }

    #[test]
    fn a_compact_result_round_trips_to_the_same_observation() {
        let mut hosts = Vec::new();
        // Quiet hosts finishing out of order, with an open one, a named one and a down one
        // among them, and a quiet IPv6 pair.
        for last in [3u8, 1, 2, 0, 7, 5, 6, 9, 8] {
            hosts.push(quiet(&format!("127.0.0.{last}")));
        }
        let mut open = quiet("127.0.0.4");
        open.summary.open = 1;
        open.summary.closed = 9;
        open.results.push(PortResult {
            host: open.summary.host,
            hostname: None,
            port: 22,
            proto: portwatch_scan::Proto::Tcp,
            state: portwatch_scan::PortState::Open,
            reason: portwatch_scan::Reason::SynAck,
            service: Some("ssh".into()),
            rtt_ms: Some(0.1),
            details: serde_json::Map::new(),
            risk: None,
        });
        hosts.push(open);
        let mut named = quiet("127.0.0.10");
        named.summary.hostname = Some("box".into());
        hosts.push(named);
        let mut down = HostScan {
            summary: summary("127.0.0.11", HostStatus::Down, 0),
            results: Vec::new(),
        };
        down.summary.reason = Some(portwatch_scan::Reason::Timeout);
        down.summary.ports_skipped = 10;
        hosts.push(down);
        hosts.push(quiet("::2"));
        hosts.push(quiet("::1"));
        let scan = scan_of(hosts);

        let result = JobResult::from(&scan);
        assert_eq!(result.hosts.len(), 3, "open, named and down stay listed");
        assert_eq!(result.host_count(), 14);
        let runs: Vec<(String, u64)> = result
            .quiet
            .iter()
            .map(|r| (r.first.to_string(), r.count))
            .collect();
        assert_eq!(
            runs,
            vec![
                ("127.0.0.0".to_string(), 4),
                ("127.0.0.5".to_string(), 5),
                ("::1".to_string(), 2)
            ]
        );
        let wire = serde_json::to_string(&result).unwrap();
        let back: JobResult = serde_json::from_str(&wire).unwrap();
        let again = back.into_group_scan("g", 7);
        assert_eq!(observed(&again), observed(&scan));
        assert_eq!(again.jobs, vec![7]);
        assert_eq!(again.started, scan.started);
        assert_eq!(again.ports, scan.ports);
    }

    #[test]
    fn a_large_quiet_block_is_one_run_on_the_wire() {
        let mut b = ResultBuilder::default();
        // Hosts finish in groups, out of order inside each group.
        for group in 0u32..256 {
            for i in (0u32..256).rev() {
                let addr = std::net::Ipv4Addr::from(0x7f00_0000 + group * 256 + i);
                b.push(quiet(&addr.to_string()));
            }
            assert!(b.runs() <= 1, "runs merge as they fill");
        }
        let result = b.finish(UNIX_EPOCH, Duration::ZERO, &PortList::default());
        assert_eq!(
            result.quiet,
            vec![QuietRun {
                first: "127.0.0.0".parse().unwrap(),
                count: 65_536,
                closed: 10,
                filtered: 0,
                skipped: 0
            }]
        );
        assert!(serde_json::to_string(&result).unwrap().len() < 300);
    }

    #[test]
    fn a_result_from_an_older_agent_lists_every_host_and_still_reads() {
        let json = serde_json::json!({
            "started_ms": 0, "elapsed_ms": 0, "ports": {"tcp": [1]},
            "hosts": [{"summary": {"host": "127.0.0.1", "hostname": null, "status": "up",
                "reason": null, "ports_scanned": 1, "ports_skipped": 0, "open": 0, "closed": 1,
                "filtered": 0, "open_filtered": 0, "srtt_ms": null}}]
        });
        let r: JobResult = serde_json::from_value(json).expect("decodes");
        assert!(r.quiet.is_empty());
        assert_eq!(r.into_group_scan("g", 1).hosts.len(), 1);
    }

    fn spec_of(targets: &[&str]) -> JobSpec {
        JobSpec {
            targets: targets.iter().map(|t| (*t).to_string()).collect(),
            ..JobSpec::default()
        }
    }

    fn with_quiet(first: &str, count: u64) -> JobResult {
        JobResult {
            started_ms: 0,
            elapsed_ms: 0,
            ports: WirePorts::default(),
            hosts: Vec::new(),
            quiet: vec![QuietRun {
                first: first.parse().unwrap(),
                count,
                closed: 1,
                filtered: 0,
                skipped: 0,
            }],
        }
    }

    #[test]
    fn a_job_bounds_its_result_by_the_addresses_its_targets_name() {
        let spec = spec_of(&[
            "10.0.0.0/16",
            "10.1.0.1-10.1.0.4",
            "10.2.0.9",
            "files.example",
        ]);
        assert_eq!(
            spec.host_bound(),
            65_536 + 4 + 1 + u128::from(NAME_ADDRESSES)
        );
        assert!(with_quiet("10.0.0.0", 65_536).check(&spec).is_ok());
    }

    #[test]
    fn a_result_claiming_more_hosts_than_its_job_names_is_refused_before_expansion() {
        let spec = spec_of(&["10.0.0.0/16"]);
        let huge = with_quiet("10.0.0.0", 1 << 40);
        let e = huge.check(&spec).unwrap_err();
        assert!(
            e.contains("covers 1099511627776 hosts") && e.contains("targets name (65536,"),
            "{e}"
        );
        let pushed = serde_json::to_value(&huge).unwrap();
        let stored_spec = serde_json::to_value(&spec).unwrap();
        assert_eq!(read_result(&stored_spec, pushed).unwrap_err(), e);
        let mut two = with_quiet("::", u64::MAX);
        two.quiet.push(two.quiet[0]);
        assert_eq!(two.host_count(), 2 * u128::from(u64::MAX), "no overflow");
        assert!(two.check(&spec).is_err());
    }
}
