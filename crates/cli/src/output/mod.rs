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
use portwatch_scan::{HostSummary, PortResult};
use std::io::{self, Write};
use std::time::{Duration, SystemTime};

/// Facts about the whole run that summaries and headers need.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The command line as typed.
    pub args: String,
    /// When the scan started.
    pub started: SystemTime,
    /// Port spec description per transport for headers (e.g. `tcp` → `1-1024`).
    pub services: Vec<(String, usize, String)>,
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

    /// The one-line summary: hosts, ports of the up hosts, counts per state, elapsed.
    pub fn line(&self) -> String {
        let mut s = format!(
            "{} host{} scanned ({} up, {} down), {} ports: {} open, {} closed, {} filtered",
            self.hosts,
            if self.hosts == 1 { "" } else { "s" },
            self.up,
            self.hosts - self.up,
            self.ports,
            self.open,
            self.closed,
            self.filtered,
        );
        if self.open_filtered > 0 {
            s.push_str(&format!(", {} open|filtered", self.open_filtered));
        }
        s.push_str(&format!(" in {:.2} s", self.elapsed.as_secs_f64()));
        s
    }
}

/// A consumer of scan events that writes one output format.
pub trait Sink {
    /// A port result (already filtered by `--all`).
    fn port(&mut self, r: &PortResult) -> io::Result<()>;
    /// A host is finished.
    fn host(&mut self, h: &HostSummary) -> io::Result<()>;
    /// The run is over.
    fn finish(&mut self, totals: &RunTotals) -> io::Result<()>;
    /// Whether the summary line belongs on stdout (people) or stderr (programs).
    fn summary_on_stdout(&self) -> bool {
        false
    }
}

/// The sink for `format`, writing to `out`.
pub fn sink(format: ScanFormat, out: Box<dyn Write>, info: RunInfo, all: bool) -> Box<dyn Sink> {
    match format {
        ScanFormat::Table => Box::new(table::TableSink::new(out, all)),
        ScanFormat::Jsonl => Box::new(jsonl::JsonlSink::new(out)),
        ScanFormat::Json => Box::new(json::JsonSink::new(out, info)),
        ScanFormat::Csv => Box::new(csv::CsvSink::new(out)),
        ScanFormat::Xml => Box::new(xml::XmlSink::new(out, info)),
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
