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
        self.push_host(h, ports, true)
    }

    fn finish(&mut self, t: &RunTotals) -> io::Result<()> {
        let tcp = self.info.tcp.clone();
        for (h, ports) in super::drain_unfinished(&mut self.pending, tcp.as_deref()) {
            self.push_host(&h, ports, false)?;
        }
        let doc = json!({
            "scanner": "portwatch",
            "version": env!("CARGO_PKG_VERSION"),
            "args": self.info.args,
            "start": unix_secs(self.info.started),
            "interrupted": t.interrupted,
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

impl JsonSink {
    /// Adds one host with its ports; `finished` false marks a host the run was interrupted on
    /// (its ports are only those found so far).
    fn push_host(
        &mut self,
        h: &HostSummary,
        ports: Vec<PortResult>,
        finished: bool,
    ) -> io::Result<()> {
        let mut host = serde_json::to_value(h)?;
        if let Value::Object(map) = &mut host {
            // Always present: `null` when no TCP port was probed.
            map.entry("tcp_method").or_insert(Value::Null);
            map.insert("finished".into(), Value::Bool(finished));
            map.insert("ports".into(), serde_json::to_value(ports)?);
        }
        self.hosts.push(host);
        Ok(())
    }
}
