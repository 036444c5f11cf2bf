//! `--format json`: one document at the end, hosts with their ports, and the totals.
//!
//! Hosts are kept as the engine's typed records until the end and each is turned into its
//! JSON object only while it is written: a sweep of 65,536 hosts held as `serde_json::Value`s
//! took 346 MB, as typed records 27 MB (`portwatch scan 127.50.0.0/16 -p 1 --assume-up`).

use super::{RunInfo, RunTotals, Sink, unix_secs};
use portwatch_scan::{HostSummary, PortResult};
use serde::ser::{SerializeSeq, Serializer};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::IpAddr;

/// One finished (or, when interrupted, unfinished) host with its ports.
struct HostRecord {
    summary: HostSummary,
    ports: Vec<PortResult>,
    finished: bool,
}

impl HostRecord {
    /// The host's JSON object: its summary's fields, `finished` and `ports`.
    fn to_value(&self) -> serde_json::Result<Value> {
        let mut host = serde_json::to_value(&self.summary)?;
        if let Value::Object(map) = &mut host {
            // Always present: `null` when no TCP port was probed.
            map.entry("tcp_method").or_insert(Value::Null);
            map.insert("finished".into(), Value::Bool(self.finished));
            map.insert("ports".into(), serde_json::to_value(&self.ports)?);
        }
        Ok(host)
    }
}

/// The host list, serialised one host at a time.
struct Hosts<'a>(&'a [HostRecord]);

impl serde::Serialize for Hosts<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for host in self.0 {
            seq.serialize_element(&host.to_value().map_err(serde::ser::Error::custom)?)?;
        }
        seq.end()
    }
}

/// The document, its keys in the order a JSON object of them has always been written
/// (alphabetical, as `serde_json`'s map keeps them).
#[derive(serde::Serialize)]
struct Document<'a> {
    args: &'a str,
    elapsed_s: f64,
    hosts: Hosts<'a>,
    interrupted: bool,
    scanner: &'static str,
    start: Value,
    summary: Value,
    version: &'static str,
}

/// Collects everything and writes one JSON document.
pub struct JsonSink {
    out: Box<dyn Write>,
    info: RunInfo,
    pending: HashMap<IpAddr, Vec<PortResult>>,
    hosts: Vec<HostRecord>,
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
        self.push_host(h, ports, true);
        Ok(())
    }

    fn finish(&mut self, t: &RunTotals) -> io::Result<()> {
        let tcp = self.info.tcp.clone();
        for (h, ports) in super::drain_unfinished(&mut self.pending, tcp.as_deref()) {
            self.push_host(&h, ports, false);
        }
        let doc = Document {
            args: &self.info.args,
            elapsed_s: (t.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            hosts: Hosts(&self.hosts),
            interrupted: t.interrupted,
            scanner: "portwatch",
            start: json!(unix_secs(self.info.started)),
            summary: json!({
                "hosts": t.hosts, "up": t.up, "down": t.hosts - t.up, "ports": t.ports,
                "open": t.open, "closed": t.closed, "filtered": t.filtered,
                "open_filtered": t.open_filtered,
            }),
            version: env!("CARGO_PKG_VERSION"),
        };
        serde_json::to_writer_pretty(&mut self.out, &doc)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

impl JsonSink {
    /// Adds one host with its ports; `finished` false marks a host the run was interrupted on
    /// (its ports are only those found so far).
    fn push_host(&mut self, h: &HostSummary, ports: Vec<PortResult>, finished: bool) {
        self.hosts.push(HostRecord {
            summary: h.clone(),
            ports,
            finished,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_without_a_tcp_method_says_null() {
        let summary = HostSummary {
            host: "127.0.0.2".parse().unwrap(),
            hostname: None,
            status: portwatch_scan::HostStatus::Up,
            reason: None,
            ports_scanned: 1,
            ports_skipped: 0,
            open: 0,
            closed: 1,
            filtered: 0,
            open_filtered: 0,
            srtt_ms: None,
            tcp_method: None,
        };
        let record = HostRecord {
            summary,
            ports: vec![],
            finished: true,
        };
        let text = serde_json::to_string(&Hosts(std::slice::from_ref(&record))).unwrap();
        assert!(text.contains(r#""tcp_method":null"#), "{text}");
    }
}
