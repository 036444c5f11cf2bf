//! `--format table`: for people. One block per up host when the host is finished, ports
//! sorted. Down hosts are counted and listed only under `--all` (or when the scan had a single
//! host): a sweep of a /24 with five live hosts prints five blocks and one line for the rest.

use super::{RunTotals, Shown, Sink};
use comfy_table::{Table, presets};
use portwatch_scan::{HostStatus, HostSummary, PortResult, PortState};
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::IpAddr;

/// Writes a table per host.
pub struct TableSink {
    out: Box<dyn Write>,
    shown: Shown,
    pending: HashMap<IpAddr, Vec<PortResult>>,
    /// Down hosts not printed yet (without `--all`), kept for a single-host scan.
    down: Vec<HostSummary>,
}

impl TableSink {
    /// A sink writing to `out`, listing what `shown` says.
    pub fn new(out: Box<dyn Write>, shown: Shown) -> Self {
        TableSink {
            out,
            shown,
            pending: HashMap::new(),
            down: Vec::new(),
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
        let ports = self.pending.remove(&h.host).unwrap_or_default();
        if h.status == HostStatus::Down {
            if self.shown == Shown::Everything {
                return self.down_line(h);
            }
            self.down.push(h.clone());
            return Ok(());
        }
        self.block(h, ports, false)
    }

    fn finish(&mut self, totals: &RunTotals) -> io::Result<()> {
        for (h, ports) in super::drain_unfinished(&mut self.pending, None) {
            self.block(&h, ports, true)?;
        }
        let down = std::mem::take(&mut self.down);
        if totals.hosts == 1 {
            for h in &down {
                self.down_line(h)?;
            }
        } else if !down.is_empty() {
            writeln!(
                self.out,
                "{} host{} down (nothing answered; --all lists them, --assume-up scans them anyway).\n",
                down.len(),
                if down.len() == 1 { "" } else { "s" },
            )?;
        }
        writeln!(self.out, "{}", totals.line())?;
        self.out.flush()
    }

    fn summary_on_stdout(&self) -> bool {
        true
    }
}

impl TableSink {
    /// The block of an up host: its line, its ports, what is not shown. `unfinished`: the run
    /// was interrupted before the host was finished, so the block holds only what was found.
    fn block(
        &mut self,
        h: &HostSummary,
        mut ports: Vec<PortResult>,
        unfinished: bool,
    ) -> io::Result<()> {
        let rtt = h
            .srtt_ms
            .map(|ms| format!(", rtt {ms:.2} ms"))
            .unwrap_or_default();
        let note = if unfinished {
            " (unfinished: the scan was interrupted; only the ports found so far)"
        } else {
            ""
        };
        writeln!(self.out, "{}: up{rtt}{note}", host_label(h))?;
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
        .filter(|(_, n)| *n > 0 && self.shown == Shown::Answering && !unfinished)
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

    /// One line for a down host: why, and how many ports went unanswered or were skipped.
    fn down_line(&mut self, h: &HostSummary) -> io::Result<()> {
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
        )
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
    p.summary().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use portwatch_scan::Reason;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn summary(last: u8, up: bool) -> HostSummary {
        HostSummary {
            host: IpAddr::from([10, 0, 0, last]),
            hostname: None,
            status: if up { HostStatus::Up } else { HostStatus::Down },
            reason: (!up).then_some(Reason::Timeout),
            ports_scanned: 100,
            ports_skipped: 0,
            open: 0,
            closed: if up { 99 } else { 0 },
            filtered: if up { 1 } else { 100 },
            open_filtered: 0,
            srtt_ms: None,
            tcp_method: None,
        }
    }

    fn render(shown: Shown, hosts: &[HostSummary]) -> (String, RunTotals) {
        let buf = Shared::default();
        let mut sink = TableSink::new(Box::new(buf.clone()), shown);
        let mut totals = RunTotals::default();
        for h in hosts {
            totals.add(h);
            sink.host(h).unwrap();
        }
        sink.finish(&totals).unwrap();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        (text, totals)
    }

    #[test]
    fn down_hosts_are_one_count_and_their_ports_count_nowhere() {
        let hosts: Vec<_> = (1..=5).map(|i| summary(i, i == 3)).collect();
        let (text, totals) = render(Shown::Answering, &hosts);
        assert!(text.contains("10.0.0.3: up"), "{text}");
        assert!(!text.contains(": down ("), "no line per down host: {text}");
        assert!(text.contains("4 hosts down"), "{text}");
        assert_eq!((totals.ports, totals.filtered, totals.closed), (100, 1, 99));
        assert!(
            text.contains(
                "5 hosts scanned (1 up, 4 down), 100 ports: 0 open, 99 closed, 1 filtered"
            ),
            "{text}"
        );
    }

    #[test]
    fn all_lists_every_down_host() {
        let hosts: Vec<_> = (1..=3).map(|i| summary(i, false)).collect();
        let (text, _) = render(Shown::Everything, &hosts);
        for i in 1..=3 {
            assert!(
                text.contains(&format!("10.0.0.{i}: down (timeout")),
                "{text}"
            );
        }
        assert!(!text.contains("hosts down"), "{text}");
    }

    #[test]
    fn a_single_down_host_keeps_its_line() {
        let (text, _) = render(Shown::Answering, &[summary(9, false)]);
        assert!(
            text.contains("10.0.0.9: down (timeout; 100 ports"),
            "{text}"
        );
    }
}
