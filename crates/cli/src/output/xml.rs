//! `--format xml`: nmap's XML layout (nmaprun/host/ports/port/state/service, extraports,
//! runstats), close enough for ndiff and tools that read nmap XML. Written host by host.

use super::{RunInfo, RunTotals, Sink, unix_secs};
use portwatch_scan::{HostStatus, HostSummary, PortResult, PortState};
use quick_xml::escape::escape;
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::IpAddr;
use std::time::SystemTime;

/// Writes nmap-compatible XML.
pub struct XmlSink {
    out: Box<dyn Write>,
    info: RunInfo,
    started: bool,
    pending: HashMap<IpAddr, Vec<PortResult>>,
    host_started: HashMap<IpAddr, u64>,
}

impl XmlSink {
    /// A sink writing to `out`.
    pub fn new(out: Box<dyn Write>, info: RunInfo) -> Self {
        XmlSink {
            out,
            info,
            started: false,
            pending: HashMap::new(),
            host_started: HashMap::new(),
        }
    }

    fn prologue(&mut self) -> io::Result<()> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        let start = unix_secs(self.info.started);
        writeln!(self.out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
        writeln!(self.out, "<!DOCTYPE nmaprun>")?;
        writeln!(
            self.out,
            r#"<nmaprun scanner="portwatch" args="{}" start="{start}" version="{}" xmloutputversion="1.05">"#,
            escape(&self.info.args),
            env!("CARGO_PKG_VERSION"),
        )?;
        for info in &self.info.services {
            writeln!(
                self.out,
                r#"<scaninfo type="{}" protocol="{}" numservices="{}" services="{}"/>"#,
                info.kind,
                info.proto,
                info.count,
                escape(&info.services),
            )?;
        }
        writeln!(self.out, r#"<verbose level="0"/>"#)?;
        writeln!(self.out, r#"<debugging level="0"/>"#)
    }
}

fn addrtype(addr: IpAddr) -> &'static str {
    if addr.is_ipv4() { "ipv4" } else { "ipv6" }
}

impl Sink for XmlSink {
    fn port(&mut self, r: &PortResult) -> io::Result<()> {
        self.host_started
            .entry(r.host)
            .or_insert_with(|| unix_secs(SystemTime::now()));
        self.pending.entry(r.host).or_default().push(r.clone());
        Ok(())
    }

    fn host(&mut self, h: &HostSummary) -> io::Result<()> {
        let mut ports = self.pending.remove(&h.host).unwrap_or_default();
        ports.sort_by_key(|p| (p.proto, p.port));
        self.write_host(h, &ports, true)
    }

    fn finish(&mut self, t: &RunTotals) -> io::Result<()> {
        self.prologue()?;
        let tcp = self.info.tcp.clone();
        for (h, ports) in super::drain_unfinished(&mut self.pending, tcp.as_deref()) {
            self.write_host(&h, &ports, false)?;
        }
        let now = unix_secs(SystemTime::now());
        // nmap's DTD: `exit` is success or error, `errormsg` says why a run ended early.
        let exit = if t.interrupted {
            r#"exit="error" errormsg="interrupted by the user (SIGINT): hosts without an endtime were not finished""#
        } else {
            r#"exit="success""#
        };
        writeln!(
            self.out,
            r#"<runstats><finished time="{now}" elapsed="{:.2}" summary="{}" {exit}/><hosts up="{}" down="{}" total="{}"/></runstats>"#,
            t.elapsed.as_secs_f64(),
            escape(t.line()),
            t.up,
            t.hosts - t.up,
            t.hosts
        )?;
        writeln!(self.out, "</nmaprun>")?;
        self.out.flush()
    }
}

impl XmlSink {
    /// One `<host>` element. A host the run was interrupted on (`finished` false) has no
    /// `endtime` and a `comment` saying so (both allowed by nmap's DTD).
    fn write_host(
        &mut self,
        h: &HostSummary,
        ports: &[PortResult],
        finished: bool,
    ) -> io::Result<()> {
        self.prologue()?;
        let now = unix_secs(SystemTime::now());
        let start = self.host_started.remove(&h.host).unwrap_or(now);
        let end = if finished {
            format!(r#"endtime="{now}""#)
        } else {
            r#"comment="unfinished: the scan was interrupted; only the ports found so far""#
                .to_string()
        };
        let status = match h.status {
            HostStatus::Up => "up",
            HostStatus::Down => "down",
        };
        let reason = h.reason.map_or("conn-refused", |r| r.as_str());
        writeln!(
            self.out,
            r#"<host starttime="{start}" {end}><status state="{status}" reason="{reason}" reason_ttl="0"/>"#
        )?;
        writeln!(
            self.out,
            r#"<address addr="{}" addrtype="{}"/>"#,
            h.host,
            addrtype(h.host)
        )?;
        match &h.hostname {
            Some(name) => writeln!(
                self.out,
                r#"<hostnames><hostname name="{}" type="user"/></hostnames>"#,
                escape(name)
            )?,
            None => writeln!(self.out, "<hostnames></hostnames>")?,
        }
        if h.status == HostStatus::Up {
            writeln!(self.out, "<ports>")?;
            let shown = |state: PortState| ports.iter().filter(|p| p.state == state).count() as u32;
            for (state, total) in [
                (PortState::Closed, h.closed),
                (PortState::Filtered, h.filtered),
                (PortState::OpenFiltered, h.open_filtered),
            ] {
                let hidden = total.saturating_sub(shown(state));
                if hidden > 0 {
                    writeln!(
                        self.out,
                        r#"<extraports state="{state}" count="{hidden}"></extraports>"#
                    )?;
                }
            }
            for p in ports {
                write!(
                    self.out,
                    r#"<port protocol="{}" portid="{}"><state state="{}" reason="{}" reason_ttl="0"/>"#,
                    p.proto, p.port, p.state, p.reason
                )?;
                if let Some(service) = &p.service {
                    write!(
                        self.out,
                        r#"<service name="{}" method="table" conf="3"/>"#,
                        escape(service)
                    )?;
                }
                writeln!(self.out, "</port>")?;
            }
            writeln!(self.out, "</ports>")?;
        }
        if let Some(srtt) = h.srtt_ms {
            let us = (srtt * 1000.0) as u64;
            writeln!(self.out, r#"<times srtt="{us}" rttvar="0" to="100000"/>"#)?;
        }
        writeln!(self.out, "</host>")?;
        self.out.flush()
    }
}
