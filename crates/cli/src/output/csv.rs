//! `--format csv`: a header, then one row per port result, streamed.

use super::{RunTotals, Sink};
use portwatch_scan::{HostSummary, PortResult};
use std::io::{self, Write};

/// Streams port results as CSV rows.
pub struct CsvSink {
    out: Box<dyn Write>,
    header_done: bool,
}

impl CsvSink {
    /// A sink writing to `out`.
    pub fn new(out: Box<dyn Write>) -> Self {
        CsvSink {
            out,
            header_done: false,
        }
    }

    fn header(&mut self) -> io::Result<()> {
        if !self.header_done {
            self.header_done = true;
            writeln!(
                self.out,
                "host,hostname,port,proto,state,reason,service,rtt_ms,details,risk_lan,risk_internet"
            )?;
        }
        Ok(())
    }
}

/// Quotes a field when it holds a separator, a quote or a line break (RFC 4180).
pub fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

impl Sink for CsvSink {
    fn port(&mut self, r: &PortResult) -> io::Result<()> {
        self.header()?;
        let details = if r.details.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&r.details).unwrap_or_default()
        };
        let (lan, internet) = match &r.risk {
            Some(risk) => (risk.lan.to_string(), risk.internet.to_string()),
            None => (String::new(), String::new()),
        };
        writeln!(
            self.out,
            "{},{},{},{},{},{},{},{},{},{lan},{internet}",
            r.host,
            field(r.hostname.as_deref().unwrap_or("")),
            r.port,
            r.proto,
            r.state,
            r.reason,
            field(r.service.as_deref().unwrap_or("")),
            r.rtt_ms.map(|v| v.to_string()).unwrap_or_default(),
            field(&details),
        )
    }

    fn host(&mut self, _h: &HostSummary) -> io::Result<()> {
        Ok(())
    }

    fn idle(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self, _totals: &RunTotals) -> io::Result<()> {
        self.header()?;
        self.out.flush()
    }
}
