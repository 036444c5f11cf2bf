//! What a scan job carries to an agent (`JobSpec`) and back (`JobResult`): the wire form of a
//! group's scan, run by the agent with the same engine as a scan run here.

use crate::config::{Group, RawScanOptions, ScanOptions};
use crate::runner::{GroupScan, HostScan};
use portwatch_scan::ports::PortList;
use portwatch_scan::{HostSummary, PortResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

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
    pub fn for_group(group: &Group, targets: &[String], ports: &PortList, identify: bool) -> Self {
        JobSpec {
            group: group.name.clone(),
            targets: targets.to_vec(),
            exclude: group.exclude.clone(),
            ports: WirePorts::from(ports),
            scan: group.scan.raw().clone(),
            identify,
        }
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
    /// Every host, in the order they finished.
    pub hosts: Vec<WireHost>,
}

impl From<&GroupScan> for JobResult {
    fn from(s: &GroupScan) -> Self {
        JobResult {
            started_ms: s
                .started
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            elapsed_ms: u64::try_from(s.elapsed.as_millis()).unwrap_or(u64::MAX),
            ports: WirePorts::from(&s.ports),
            hosts: s
                .hosts
                .iter()
                .map(|h| WireHost {
                    summary: h.summary.clone(),
                    results: h.results.clone(),
                })
                .collect(),
        }
    }
}

impl JobResult {
    /// The group scan this result describes, as the result of job `job`.
    pub fn into_group_scan(self, group: &str, job: i64) -> GroupScan {
        GroupScan {
            group: group.to_string(),
            started: UNIX_EPOCH + Duration::from_millis(self.started_ms.max(0).unsigned_abs()),
            elapsed: Duration::from_millis(self.elapsed_ms),
            ports: self.ports.to_list(),
            hosts: self
                .hosts
                .into_iter()
                .map(|h| HostScan {
                    summary: h.summary,
                    results: h.results,
                })
                .collect(),
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
}
