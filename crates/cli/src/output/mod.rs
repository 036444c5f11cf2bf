//! Renderers of scan results. Streaming formats write each result as it arrives; the others
//! hold only what they must (one host's ports until the host is finished, or the whole
//! document for `json`).

pub mod check;
mod csv;
pub mod discovery;
mod json;
mod jsonl;
mod table;
mod xml;

use crate::args::ScanFormat;
use portwatch_scan::engine::TcpPlanner;
use portwatch_scan::{HostStatus, HostSummary, PortResult, PortState, Proto};
use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Facts about the whole run that summaries and headers need.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The command line as typed.
    pub args: String,
    /// When the scan started.
    pub started: SystemTime,
    /// What was scanned how, for headers: one entry per scan type used.
    pub services: Vec<ScanInfo>,
    /// How each host's TCP ports are probed (`None` without TCP ports): the plan the engine
    /// follows, for formats that write a port before its host is finished.
    pub tcp: Option<Arc<TcpPlanner>>,
}

/// One scan type of the run (nmap's `scaninfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanInfo {
    /// `syn`, `connect` or `udp`.
    pub kind: &'static str,
    /// The transport.
    pub proto: Proto,
    /// How many ports.
    pub count: usize,
    /// The ports as a compact spec (`22,80,1000-2000`).
    pub services: String,
}

/// Totals at the end of a run.
#[derive(Debug, Clone, Default)]
pub struct RunTotals {
    /// Hosts finished.
    pub hosts: u64,
    /// Hosts up.
    pub up: u64,
    /// Ports concluded on hosts that are up (a down host's unanswered probes count nowhere).
    pub ports: u64,
    /// Open.
    pub open: u64,
    /// Closed.
    pub closed: u64,
    /// Filtered.
    pub filtered: u64,
    /// open|filtered.
    pub open_filtered: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Whether the run was stopped (Ctrl-C) before every host was finished.
    pub interrupted: bool,
    /// Hosts with results but no verdict yet when the run was interrupted.
    pub unfinished: u64,
}

impl RunTotals {
    /// Adds one finished host; only an up host's ports count.
    pub fn add(&mut self, h: &HostSummary) {
        self.hosts += 1;
        if h.status != portwatch_scan::HostStatus::Up {
            return;
        }
        self.up += 1;
        self.ports += u64::from(h.ports_scanned);
        self.open += u64::from(h.open);
        self.closed += u64::from(h.closed);
        self.filtered += u64::from(h.filtered);
        self.open_filtered += u64::from(h.open_filtered);
    }

    /// The one-line summary: hosts, ports of the up hosts, counts per state, elapsed. An
    /// interrupted run says so first; its counts are those of the finished hosts, and the
    /// hosts it did not finish are counted apart.
    pub fn line(&self) -> String {
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        let hosts = format!(
            "{} host{} {} ({} up, {} down)",
            self.hosts,
            plural(self.hosts),
            if self.interrupted {
                "finished"
            } else {
                "scanned"
            },
            self.up,
            self.hosts - self.up,
        );
        let mut ports = format!(
            "{} ports: {} open, {} closed, {} filtered",
            self.ports, self.open, self.closed, self.filtered,
        );
        if self.open_filtered > 0 {
            ports.push_str(&format!(", {} open|filtered", self.open_filtered));
        }
        let elapsed = format!("{:.2} s", self.elapsed.as_secs_f64());
        if self.interrupted {
            format!(
                "scan interrupted, results incomplete: {hosts} with {ports}; {} host{} unfinished; after {elapsed}",
                self.unfinished,
                plural(self.unfinished),
            )
        } else {
            format!("{hosts}, {ports} in {elapsed}")
        }
    }
}

/// A consumer of scan events that writes one output format.
pub trait Sink {
    /// A port result (already filtered by `--all`).
    fn port(&mut self, r: &PortResult) -> io::Result<()>;
    /// A host is finished.
    fn host(&mut self, h: &HostSummary) -> io::Result<()>;
    /// The channel of results is momentarily empty: a streaming sink writes out what it has.
    fn idle(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// The run is over (`totals.interrupted`: stopped early; a sink that holds results of
    /// unfinished hosts writes them now, marked as such).
    fn finish(&mut self, totals: &RunTotals) -> io::Result<()>;
    /// Whether the summary line belongs on stdout (people) or stderr (programs).
    fn summary_on_stdout(&self) -> bool {
        false
    }
}

/// What a listing for people shows (`--all`); machine formats always list everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// Open ports and up hosts; the rest as counts.
    Answering,
    /// Closed and filtered ports and down hosts too (`--all`).
    Everything,
}

/// The sink for `format`, writing to `out`.
pub fn sink(format: ScanFormat, out: Box<dyn Write>, info: RunInfo, shown: Shown) -> Box<dyn Sink> {
    match format {
        ScanFormat::Table => Box::new(table::TableSink::new(out, shown)),
        ScanFormat::Jsonl => Box::new(jsonl::JsonlSink::new(out, info.tcp)),
        ScanFormat::Json => Box::new(json::JsonSink::new(out, info)),
        ScanFormat::Csv => Box::new(csv::CsvSink::new(out)),
        ScanFormat::Xml => Box::new(xml::XmlSink::new(out, info)),
    }
}

/// A stand-in summary for a host the run was interrupted on: up (it has results), with the
/// counts of the results the sink saw, which are all that is known, and its planned TCP
/// method.
pub(crate) fn unfinished_host(
    results: &[PortResult],
    tcp: Option<&TcpPlanner>,
) -> Option<HostSummary> {
    let first = results.first()?;
    let count = |state: PortState| results.iter().filter(|r| r.state == state).count() as u32;
    Some(HostSummary {
        host: first.host,
        hostname: first.hostname.clone(),
        status: HostStatus::Up,
        reason: None,
        ports_scanned: results.len() as u32,
        ports_skipped: 0,
        open: count(PortState::Open),
        closed: count(PortState::Closed),
        filtered: count(PortState::Filtered),
        open_filtered: count(PortState::OpenFiltered),
        srtt_ms: None,
        tcp_method: tcp.map(|p| p.method_for(first.host)),
    })
}

/// The results held for hosts that never finished, one host at a time, in address order.
pub(crate) fn drain_unfinished(
    pending: &mut std::collections::HashMap<std::net::IpAddr, Vec<PortResult>>,
    tcp: Option<&TcpPlanner>,
) -> Vec<(HostSummary, Vec<PortResult>)> {
    let mut hosts: Vec<_> = pending.drain().collect();
    hosts.sort_by_key(|(addr, _)| *addr);
    hosts
        .into_iter()
        .filter_map(|(_, mut ports)| {
            ports.sort_by_key(|p| (p.proto, p.port));
            unfinished_host(&ports, tcp).map(|h| (h, ports))
        })
        .collect()
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
