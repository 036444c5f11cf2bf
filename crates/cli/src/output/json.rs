//! `--format json`: one document at the end, hosts with their ports, and the totals.

use super::{RunInfo, RunTotals, Sink, unix_secs};
use portwatch_scan::{HostSummary, PortResult};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::IpAddr;

/// Collects everything and writes one JSON document.
pub struct JsonSink {
    out: Box<dyn Write>,
    info: RunInfo,
    pending: HashMap<IpAddr, Vec<PortResult>>,
    hosts: Vec<Value>,
}

impl JsonSink {
    /// A sink writing to `out`.
    pub fn new(out: Box<dyn Write>, info: RunInfo) -> Self {
        JsonSink {
            out,
            info,
            pending: HashMap::new(),
            hosts: Vec::new(),
        }
    }
}

impl Sink for JsonSink {
    fn port(&mut self, r: &PortResult) -> io::Result<()> {
        self.pending.entry(r.host).or_default().push(r.clone());
        Ok(())
    }

    fn host(&mut self, h: &HostSummary) -> io::Result<()> {
        let mut ports = self.pending.remove(&h.host).unwrap_or_default();
        ports.sort_by_key(|p| (p.proto, p.port));
        let mut host = serde_json::to_value(h)?;
        if let Value::Object(map) = &mut host {
            map.insert("ports".into(), serde_json::to_value(ports)?);
        }
        self.hosts.push(host);
        Ok(())
    }

    fn finish(&mut self, t: &RunTotals) -> io::Result<()> {
        let doc = json!({
            "scanner": "portwatch",
            "version": env!("CARGO_PKG_VERSION"),
            "args": self.info.args,
            "start": unix_secs(self.info.started),
            "elapsed_s": (t.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "hosts": self.hosts,
            "summary": {
                "hosts": t.hosts, "up": t.up, "down": t.hosts - t.up, "ports": t.ports,
                "open": t.open, "closed": t.closed, "filtered": t.filtered,
                "open_filtered": t.open_filtered,
            },
        });
        serde_json::to_writer_pretty(&mut self.out, &doc)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}
