//! `--format jsonl`: one object per port result, written as soon as it is known. A TCP
//! result also says how its host's TCP ports are probed (`tcp_method`, from the plan the
//! engine follows): the line is written before the host is finished.

use super::{RunTotals, Sink};
use portwatch_scan::engine::TcpPlanner;
use portwatch_scan::{HostSummary, PortResult, Proto};
use serde_json::Value;
use std::io::{self, Write};
use std::sync::Arc;

/// Streams port results as JSON lines.
pub struct JsonlSink {
    out: Box<dyn Write>,
    tcp: Option<Arc<TcpPlanner>>,
}

impl JsonlSink {
    /// A sink writing to `out`; `tcp` is the scan's TCP plan (`None` without TCP ports).
    pub fn new(out: Box<dyn Write>, tcp: Option<Arc<TcpPlanner>>) -> Self {
        JsonlSink { out, tcp }
    }
}

impl Sink for JsonlSink {
    fn port(&mut self, r: &PortResult) -> io::Result<()> {
        match (&self.tcp, r.proto) {
            (Some(plan), Proto::Tcp) => {
                let mut line = serde_json::to_value(r)?;
                if let Value::Object(map) = &mut line {
                    map.insert("tcp_method".into(), plan.method_for(r.host).as_str().into());
                }
                serde_json::to_writer(&mut self.out, &line)?;
            }
            _ => serde_json::to_writer(&mut self.out, r)?,
        }
        self.out.write_all(b"\n")
    }

    fn host(&mut self, _h: &HostSummary) -> io::Result<()> {
        Ok(())
    }

    fn idle(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self, _totals: &RunTotals) -> io::Result<()> {
        self.out.flush()
    }
}
