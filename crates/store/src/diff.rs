//! The pure part of applying a scan: which spans close and which open. No I/O here.

use crate::canon::{canonical_json, port_spec, sha256_hex};
use crate::error::{Result, StoreError};
use crate::model::{Details, HostOutcome, PortSnapshot, ScanCounts, ScanOutcome, SpanChange};
use portwatch_model::ports::{PortList, parse_port_spec};
use portwatch_model::{PortState, Proto, Reason};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

/// A remembered state with its stored encodings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Remembered {
    pub(crate) state: PortState,
    pub(crate) reason: Reason,
    pub(crate) service: Option<String>,
    pub(crate) details: Details,
    pub(crate) details_json: String,
    pub(crate) details_hash: String,
}

impl Remembered {
    /// Encodes a state for storage (canonical details and their hash).
    pub(crate) fn new(
        state: PortState,
        reason: Reason,
        service: Option<String>,
        details: Details,
    ) -> Self {
        let details_json = canonical_json(&serde_json::Value::Object(details.clone()));
        let details_hash = sha256_hex(&details_json);
        Remembered {
            state,
            reason,
            service,
            details,
            details_json,
            details_hash,
        }
    }

    /// Whether two states are the same for the history (the reason alone does not count).
    /// Without identification only the state can be compared.
    fn same_as(&self, other: &Remembered, identified: bool) -> bool {
        self.state == other.state
            && (!identified
                || (self.service == other.service && self.details_hash == other.details_hash))
    }

    /// The public form.
    pub(crate) fn snapshot(&self) -> PortSnapshot {
        PortSnapshot {
            state: self.state,
            reason: self.reason,
            service: self.service.clone(),
            details: self.details.clone(),
        }
    }
}

/// Whether a state is kept in the history (closed and filtered are the implicit default).
pub(crate) fn remembered_state(state: PortState) -> bool {
    matches!(state, PortState::Open | PortState::OpenFiltered)
}

/// A checked scan outcome, indexed for the diff.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Every host, in the order given.
    pub(crate) hosts: Vec<HostOutcome>,
    /// Covered (transport, port) pairs.
    pub(crate) coverage: HashSet<(Proto, u16)>,
    /// The same, as the outcome gave it.
    pub(crate) coverage_list: PortList,
    /// Remembered results of up hosts.
    pub(crate) wanted: HashMap<IpAddr, BTreeMap<(Proto, u16), Remembered>>,
    /// Counts for the scan row.
    pub(crate) counts: ScanCounts,
    /// Whether the scan identified services (see [`ScanOutcome::identified`]).
    pub(crate) identified: bool,
}

/// Checks an outcome for caller mistakes and indexes it.
pub(crate) fn plan(outcome: &ScanOutcome) -> Result<Plan> {
    let op = "finish a scan";
    let usage = |reason: String| StoreError::Usage { op, reason };
    let mut up: HashMap<IpAddr, bool> = HashMap::new();
    for h in &outcome.hosts {
        if up.insert(h.addr, h.up).is_some() {
            return Err(usage(format!("host {} is listed twice", h.addr)));
        }
    }
    let coverage: HashSet<(Proto, u16)> = outcome
        .coverage
        .tcp
        .iter()
        .map(|p| (Proto::Tcp, *p))
        .chain(outcome.coverage.udp.iter().map(|p| (Proto::Udp, *p)))
        .collect();
    let mut seen: HashSet<(IpAddr, Proto, u16)> = HashSet::new();
    let mut wanted: HashMap<IpAddr, BTreeMap<(Proto, u16), Remembered>> = HashMap::new();
    let mut counts = ScanCounts::default();
    for r in &outcome.results {
        let Some(&is_up) = up.get(&r.host) else {
            return Err(usage(format!(
                "a result for {}:{}/{} names a host that is not in the outcome's host list",
                r.host, r.port, r.proto
            )));
        };
        if !coverage.contains(&(r.proto, r.port)) {
            return Err(usage(format!(
                "a result for {}:{}/{} is outside the scan's coverage (port {}/{} was not probed)",
                r.host, r.port, r.proto, r.port, r.proto
            )));
        }
        if !seen.insert((r.host, r.proto, r.port)) {
            return Err(usage(format!(
                "{}:{}/{} has two results",
                r.host, r.port, r.proto
            )));
        }
        // A down host proves nothing about its ports: its results change nothing.
        if !is_up || !remembered_state(r.state) {
            continue;
        }
        match r.state {
            PortState::Open => counts.open += 1,
            _ => counts.open_filtered += 1,
        }
        wanted.entry(r.host).or_default().insert(
            (r.proto, r.port),
            Remembered::new(r.state, r.reason, r.service.clone(), r.details.clone()),
        );
    }
    counts.hosts_up = up.values().filter(|u| **u).count() as u64;
    counts.hosts_down = up.len() as u64 - counts.hosts_up;
    Ok(Plan {
        hosts: outcome.hosts.clone(),
        coverage,
        coverage_list: outcome.coverage.clone(),
        wanted,
        counts,
        identified: outcome.identified,
    })
}

/// What earlier observations from the scan's vantage probed on one host.
#[derive(Debug, Clone)]
pub(crate) enum Probed {
    /// Nothing: the vantage never found the host up.
    Nothing,
    /// Not recorded (a host row from before vantages existed): every port counts as probed.
    Unknown,
    /// These ports.
    Ports(Arc<HashSet<(Proto, u16)>>),
}

/// Per host of a scan, what earlier observations from its vantage probed.
#[derive(Debug, Default)]
pub(crate) struct Prior {
    hosts: HashMap<IpAddr, Probed>,
}

fn parse_probed(spec: &str) -> Option<PortList> {
    if spec.is_empty() {
        return Some(PortList::default());
    }
    parse_port_spec(spec, &[Proto::Tcp]).ok()
}

fn port_set(list: &PortList) -> HashSet<(Proto, u16)> {
    list.tcp
        .iter()
        .map(|p| (Proto::Tcp, *p))
        .chain(list.udp.iter().map(|p| (Proto::Udp, *p)))
        .collect()
}

impl Prior {
    /// From the host rows the vantage had before the scan: `probed_of` gives a known host's
    /// `probed` spec (`Some(None)`: none recorded) and `None` for a host with no row.
    pub(crate) fn of<'a>(
        probed_of: impl Fn(&IpAddr) -> Option<Option<&'a str>>,
        plan: &Plan,
    ) -> Prior {
        let mut parsed: HashMap<&str, Probed> = HashMap::new();
        let mut hosts = HashMap::new();
        for h in plan.hosts.iter().filter(|h| h.up) {
            let probed = match probed_of(&h.addr) {
                None => Probed::Nothing,
                Some(None) => Probed::Unknown,
                Some(Some(spec)) => parsed
                    .entry(spec)
                    .or_insert_with(|| match parse_probed(spec) {
                        Some(list) => Probed::Ports(Arc::new(port_set(&list))),
                        None => Probed::Unknown,
                    })
                    .clone(),
            };
            hosts.insert(h.addr, probed);
        }
        Prior { hosts }
    }

    /// Whether an earlier observation probed this port of this host.
    fn covered(&self, host: IpAddr, proto: Proto, port: u16) -> bool {
        match self.hosts.get(&host) {
            None | Some(Probed::Nothing) => false,
            Some(Probed::Unknown) => true,
            Some(Probed::Ports(set)) => set.contains(&(proto, port)),
        }
    }
}

/// The `probed` spec of a host after a scan: what was probed before plus the scan's coverage
/// (computed once per distinct earlier spec, since most hosts of a group share one).
pub(crate) struct ProbedSpecs<'a> {
    coverage: &'a PortList,
    cache: HashMap<Option<String>, String>,
}

impl<'a> ProbedSpecs<'a> {
    pub(crate) fn new(coverage: &'a PortList) -> Self {
        ProbedSpecs {
            coverage,
            cache: HashMap::new(),
        }
    }

    /// The spec after the scan, given the one before (`None`: none recorded).
    pub(crate) fn after(&mut self, before: Option<&str>) -> String {
        let coverage = self.coverage;
        self.cache
            .entry(before.map(str::to_string))
            .or_insert_with(|| {
                let earlier = before.and_then(parse_probed).unwrap_or_default();
                port_spec(&earlier.union(coverage))
            })
            .clone()
    }
}

/// A span that is current before the scan.
#[derive(Debug, Clone)]
pub(crate) struct CurrentSpan {
    pub(crate) id: i64,
    pub(crate) host: IpAddr,
    pub(crate) proto: Proto,
    pub(crate) port: u16,
    pub(crate) state: Remembered,
}

/// A span to open.
#[derive(Debug, Clone)]
pub(crate) struct NewSpan {
    pub(crate) host: IpAddr,
    pub(crate) proto: Proto,
    pub(crate) port: u16,
    pub(crate) state: Remembered,
}

/// What to write: spans to close, spans to open, and the changes to report.
#[derive(Debug, Default)]
pub(crate) struct SpanDiff {
    pub(crate) close: Vec<i64>,
    pub(crate) open: Vec<NewSpan>,
    pub(crate) changes: Vec<SpanChange>,
}

/// Compares the current spans of the up hosts with what the scan found on its covered ports.
pub(crate) fn diff(plan: &Plan, current: Vec<CurrentSpan>, prior: &Prior) -> SpanDiff {
    let names: HashMap<IpAddr, Option<String>> = plan
        .hosts
        .iter()
        .map(|h| (h.addr, h.hostname.clone()))
        .collect();
    let up: HashSet<IpAddr> = plan.hosts.iter().filter(|h| h.up).map(|h| h.addr).collect();
    let mut out = SpanDiff::default();
    let mut kept: HashSet<(IpAddr, Proto, u16)> = HashSet::new();
    // Before-states of closed spans, to pair them with the spans that replace them.
    let mut closed: BTreeMap<(IpAddr, Proto, u16), Remembered> = BTreeMap::new();
    for span in current {
        let key = (span.proto, span.port);
        if !up.contains(&span.host) || !plan.coverage.contains(&key) {
            continue;
        }
        let wanted = plan.wanted.get(&span.host).and_then(|w| w.get(&key));
        if wanted.is_some_and(|w| w.same_as(&span.state, plan.identified)) {
            kept.insert((span.host, span.proto, span.port));
        } else {
            out.close.push(span.id);
            closed.insert((span.host, span.proto, span.port), span.state);
        }
    }
    let mut after: BTreeMap<(IpAddr, Proto, u16), Remembered> = BTreeMap::new();
    for (host, ports) in &plan.wanted {
        for ((proto, port), state) in ports {
            if kept.contains(&(*host, *proto, *port)) {
                continue;
            }
            out.open.push(NewSpan {
                host: *host,
                proto: *proto,
                port: *port,
                state: state.clone(),
            });
            after.insert((*host, *proto, *port), state.clone());
        }
    }
    let keys: std::collections::BTreeSet<(IpAddr, Proto, u16)> =
        closed.keys().chain(after.keys()).copied().collect();
    for key in keys {
        let (host, proto, port) = key;
        out.changes.push(SpanChange {
            host,
            hostname: names.get(&host).cloned().flatten(),
            port,
            proto,
            before: closed.get(&key).map(Remembered::snapshot),
            after: after.get(&key).map(Remembered::snapshot),
            covered_before: closed.contains_key(&key) || prior.covered(host, proto, port),
        });
    }
    out.open.sort_by_key(|a| (a.host, a.proto, a.port));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use portwatch_model::PortResult;
    use portwatch_model::ports::PortList;

    fn result(host: &str, port: u16, state: PortState) -> PortResult {
        // Built from JSON so fields the scan crate adds later (with defaults) need no change here.
        let v = serde_json::json!({
            "host": host, "hostname": null, "port": port, "proto": "tcp",
            "state": state.as_str(), "reason": "syn-ack", "service": null, "rtt_ms": null
        });
        match serde_json::from_value(v) {
            Ok(r) => r,
            Err(e) => panic!("test result does not decode: {e}"),
        }
    }

    fn outcome(results: Vec<PortResult>, up: bool) -> ScanOutcome {
        ScanOutcome {
            identified: true,
            hosts: vec![HostOutcome {
                addr: IpAddr::from([10, 0, 0, 1]),
                hostname: None,
                up,
            }],
            coverage: PortList {
                tcp: vec![22, 80, 443],
                udp: vec![],
            },
            results,
        }
    }

    #[test]
    fn an_outcome_of_hosts_keeps_every_host_and_only_reachable_ports() {
        let summary = |host: &str, status: &str| -> portwatch_model::HostSummary {
            let v = serde_json::json!({
                "host": host, "hostname": null, "status": status, "reason": null,
                "ports_scanned": 3, "ports_skipped": 0, "open": 0, "closed": 0,
                "filtered": 0, "open_filtered": 0, "srtt_ms": null
            });
            serde_json::from_value(v).expect("test summary decodes")
        };
        let up = summary("10.0.0.1", "up");
        let down = summary("10.0.0.2", "down");
        let found = vec![
            result("10.0.0.1", 22, PortState::Open),
            result("10.0.0.1", 80, PortState::Closed),
            result("10.0.0.1", 443, PortState::OpenFiltered),
        ];
        let ports = PortList {
            tcp: vec![22, 80, 443],
            udp: vec![],
        };
        let o = ScanOutcome::of_hosts(
            [(&up, found.as_slice()), (&down, &[][..])],
            ports.clone(),
            false,
        );
        let hosts: Vec<(IpAddr, bool)> = o.hosts.iter().map(|h| (h.addr, h.up)).collect();
        assert_eq!(
            hosts,
            [
                (IpAddr::from([10, 0, 0, 1]), true),
                (IpAddr::from([10, 0, 0, 2]), false)
            ]
        );
        let ports_kept: Vec<u16> = o.results.iter().map(|r| r.port).collect();
        assert_eq!(ports_kept, [22, 443]);
        assert_eq!(o.coverage, ports);
        assert!(!o.identified);
    }

    fn span(id: i64, port: u16) -> CurrentSpan {
        CurrentSpan {
            id,
            host: IpAddr::from([10, 0, 0, 1]),
            proto: Proto::Tcp,
            port,
            state: Remembered::new(PortState::Open, Reason::SynAck, None, Details::new()),
        }
    }

    #[test]
    fn unchanged_ports_cost_nothing_and_changes_pair_up() {
        let p = plan(&outcome(
            vec![
                result("10.0.0.1", 22, PortState::Open),
                result("10.0.0.1", 80, PortState::Closed),
                result("10.0.0.1", 443, PortState::Open),
            ],
            true,
        ));
        let Ok(p) = p else {
            panic!("plan failed");
        };
        let d = diff(
            &p,
            vec![span(1, 22), span(2, 80), span(3, 8080)],
            &Prior::default(),
        );
        assert_eq!(d.close, vec![2]);
        assert_eq!(d.open.len(), 1);
        assert_eq!(d.open[0].port, 443);
        let ports: Vec<u16> = d.changes.iter().map(|c| c.port).collect();
        assert_eq!(ports, vec![80, 443]);
    }

    #[test]
    fn down_hosts_keep_their_spans() {
        let Ok(p) = plan(&outcome(vec![], false)) else {
            panic!("plan failed");
        };
        let d = diff(&p, vec![span(1, 22)], &Prior::default());
        assert!(d.close.is_empty() && d.open.is_empty() && d.changes.is_empty());
    }

    #[test]
    fn uncovered_and_unknown_results_are_usage_errors() {
        let e = plan(&outcome(
            vec![result("10.0.0.1", 8080, PortState::Open)],
            true,
        ));
        assert!(matches!(e, Err(StoreError::Usage { .. })));
        let e = plan(&outcome(
            vec![result("10.0.0.2", 22, PortState::Open)],
            true,
        ));
        assert!(matches!(e, Err(StoreError::Usage { .. })));
        let e = plan(&outcome(
            vec![
                result("10.0.0.1", 22, PortState::Open),
                result("10.0.0.1", 22, PortState::Open),
            ],
            true,
        ));
        assert!(matches!(e, Err(StoreError::Usage { .. })));
    }

    #[test]
    fn a_scan_without_identification_keeps_what_was_learned() {
        let mut with_banner = span(1, 22);
        let mut details = Details::new();
        details.insert("banner".into(), "SSH-2.0-OpenSSH_9.2".into());
        with_banner.state =
            Remembered::new(PortState::Open, Reason::SynAck, Some("ssh".into()), details);
        let mut bare = outcome(vec![result("10.0.0.1", 22, PortState::Open)], true);
        bare.identified = false;
        let Ok(p) = plan(&bare) else {
            panic!("plan failed");
        };
        let d = diff(&p, vec![with_banner.clone()], &Prior::default());
        assert!(d.close.is_empty() && d.open.is_empty() && d.changes.is_empty());
        // The same answer from an identifying scan is a change of what answers.
        bare.identified = true;
        let Ok(p) = plan(&bare) else {
            panic!("plan failed");
        };
        let d = diff(&p, vec![with_banner], &Prior::default());
        assert_eq!((d.close.len(), d.open.len()), (1, 1));
    }
}
