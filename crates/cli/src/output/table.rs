//! `--format table`: for people. One block per host when the host is finished, ports sorted.

use super::{RunTotals, Sink};
use comfy_table::{Table, presets};
use portwatch_scan::{HostStatus, HostSummary, PortResult, PortState};
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::IpAddr;

/// Writes a table per host.
pub struct TableSink {
    out: Box<dyn Write>,
    all: bool,
    pending: HashMap<IpAddr, Vec<PortResult>>,
}

impl TableSink {
    /// A sink writing to `out`; `all` means closed and filtered ports are listed too.
    pub fn new(out: Box<dyn Write>, all: bool) -> Self {
        TableSink {
            out,
            all,
            pending: HashMap::new(),
        }
    }
}

fn host_label(h: &HostSummary) -> String {
    match &h.hostname {
        Some(name) => format!("{} ({name})", h.host),
        None => h.host.to_string(),
    }
}

impl Sink for TableSink {
    fn port(&mut self, r: &PortResult) -> io::Result<()> {
        self.pending.entry(r.host).or_default().push(r.clone());
        Ok(())
    }

    fn host(&mut self, h: &HostSummary) -> io::Result<()> {
        let mut ports = self.pending.remove(&h.host).unwrap_or_default();
        if h.status == HostStatus::Down {
            let why = h.reason.map_or("no answer", |r| r.as_str());
            writeln!(
                self.out,
                "{}: down ({why}; {} port{} probed without an answer{}).\n",
                host_label(h),
                h.ports_scanned,
                if h.ports_scanned == 1 { "" } else { "s" },
                if h.ports_skipped > 0 {
                    format!(", {} skipped; --assume-up probes them all", h.ports_skipped)
                } else {
                    String::new()
                }
            )?;
            return Ok(());
        }
        let rtt = h
            .srtt_ms
            .map(|ms| format!(", rtt {ms:.2} ms"))
            .unwrap_or_default();
        writeln!(self.out, "{}: up{rtt}", host_label(h))?;
        ports.sort_by_key(|p| (p.proto, p.port));
        if !ports.is_empty() {
            let mut table = Table::new();
            table.load_style(presets::NOTHING);
            table.set_header(["PORT", "STATE", "SERVICE", "REASON", "RISK", "DETAILS"]);
            for p in &ports {
                table.add_row([
                    format!("{}/{}", p.port, p.proto),
                    p.state.to_string(),
                    p.service.clone().unwrap_or_default(),
                    p.reason.to_string(),
                    risk_cell(p),
                    details_line(p),
                ]);
            }
            writeln!(self.out, "{table}")?;
        }
        let hidden: Vec<String> = [
            (PortState::Closed, h.closed),
            (PortState::Filtered, h.filtered),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0 && !self.all)
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
        if !hidden.is_empty() {
            writeln!(self.out, "  not shown: {}", hidden.join(", "))?;
        }
        if ports.is_empty() && hidden.is_empty() {
            writeln!(self.out, "  no ports")?;
        }
        writeln!(self.out)?;
        self.out.flush()
    }

    fn finish(&mut self, totals: &RunTotals) -> io::Result<()> {
        writeln!(self.out, "{}", totals.line())?;
        self.out.flush()
    }

    fn summary_on_stdout(&self) -> bool {
        true
    }
}

/// The severity that applies to where the host is, with its exposure class (loopback, LAN,
/// internet).
fn risk_cell(p: &PortResult) -> String {
    match &p.risk {
        Some(risk) => {
            let (severity, exposure) = risk.for_host(p.host);
            format!("{severity} ({})", exposure.label())
        }
        None => String::new(),
    }
}

/// One readable line of what a probe learned (empty when nothing).
fn details_line(p: &PortResult) -> String {
    p.details
        .get("summary")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}
