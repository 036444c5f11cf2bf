//! What changed between two scans, like nmap's ndiff: ports that opened, closed, or changed
//! state, service or details. Scans come from our JSON lines, nmap XML (ours or nmap's), or
//! the store.

use portwatch_scan::{PortResult, PortState, Proto, details_summary};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One port as a scan saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortSnap {
    /// State.
    pub state: String,
    /// Service name, if any.
    pub service: Option<String>,
    /// One line of what answered (details summary, or product/version from nmap).
    pub answered: Option<String>,
}

/// One host as a scan saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HostSnap {
    /// "up", "down" or "unknown".
    pub status: String,
    /// Ports the scan reported, by (port, proto).
    pub ports: BTreeMap<(u16, String), PortSnap>,
}

/// A whole scan as a set of hosts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// Where it came from (a file name, "scan 12").
    pub label: String,
    /// Hosts by address (as text, sorted).
    pub hosts: BTreeMap<String, HostSnap>,
}

/// What kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// The host was only in the second scan.
    HostAdded,
    /// The host was only in the first scan.
    HostRemoved,
    /// The host went up or down.
    HostStatus,
    /// Open now, not before.
    Opened,
    /// Open before, not now.
    Closed,
    /// Another state change (e.g. closed → filtered).
    State,
    /// Same state, another service.
    Service,
    /// Same state and service, other details.
    Details,
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The host.
    pub host: String,
    /// The port, for port changes.
    pub port: Option<u16>,
    /// The transport, for port changes.
    pub proto: Option<String>,
    /// What changed.
    pub kind: ChangeKind,
    /// Before (state, or host status), as text.
    pub before: Option<String>,
    /// After.
    pub after: Option<String>,
}

impl Snapshot {
    /// A snapshot of engine results (one host entry per result's host, all up).
    pub fn from_results(label: &str, results: &[PortResult]) -> Snapshot {
        let mut snap = Snapshot {
            label: label.to_string(),
            ..Default::default()
        };
        for r in results {
            let host = snap
                .hosts
                .entry(r.host.to_string())
                .or_insert_with(|| HostSnap {
                    status: "up".into(),
                    ports: BTreeMap::new(),
                });
            host.ports.insert(
                (r.port, r.proto.to_string()),
                PortSnap {
                    state: r.state.to_string(),
                    service: r.service.clone(),
                    answered: r.summary().map(String::from),
                },
            );
        }
        snap
    }

    /// Parses our `--format jsonl` output.
    pub fn from_jsonl(label: &str, text: &str) -> Result<Snapshot, String> {
        let mut results = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let r: PortResult = serde_json::from_str(line)
                .map_err(|e| format!("{label}: line {}: not a portwatch result: {e}", i + 1))?;
            results.push(r);
        }
        Ok(Snapshot::from_results(label, &results))
    }

    /// Parses our `--format json` document: every host with its status and reported ports.
    pub fn from_json(label: &str, doc: &serde_json::Value) -> Result<Snapshot, String> {
        let hosts = doc
            .get("hosts")
            .and_then(|h| h.as_array())
            .ok_or_else(|| format!("{label}: not a portwatch JSON scan (no \"hosts\" list)"))?;
        let mut snap = Snapshot {
            label: label.to_string(),
            ..Default::default()
        };
        for (i, host) in hosts.iter().enumerate() {
            let addr = host
                .get("host")
                .and_then(|a| a.as_str())
                .ok_or_else(|| format!("{label}: host {} has no \"host\" address", i + 1))?;
            let results: Vec<PortResult> = match host.get("ports") {
                Some(ports) => serde_json::from_value(ports.clone()).map_err(|e| {
                    format!("{label}: ports of host {addr}: not portwatch results: {e}")
                })?,
                None => Vec::new(),
            };
            let mut entry = Snapshot::from_results(label, &results)
                .hosts
                .remove(addr)
                .unwrap_or_default();
            entry.status = host
                .get("status")
                .and_then(|s| s.as_str())
                .unwrap_or("unknown")
                .to_string();
            snap.hosts.insert(addr.to_string(), entry);
        }
        Ok(snap)
    }

    /// Parses our `--format csv` rows (the header names the columns).
    pub fn from_csv(label: &str, text: &str) -> Result<Snapshot, String> {
        let mut rows = portwatch_scan::csv::records(text);
        let header = rows.next().unwrap_or_default();
        let column = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| format!("{label}: CSV header has no \"{name}\" column"))
        };
        let (host, port, proto, state, service, details) = (
            column("host")?,
            column("port")?,
            column("proto")?,
            column("state")?,
            column("service")?,
            column("details")?,
        );
        let mut snap = Snapshot {
            label: label.to_string(),
            ..Default::default()
        };
        for (i, row) in rows.enumerate() {
            let line = i + 2;
            let cell = |c: usize| row.get(c).map(String::as_str).unwrap_or_default();
            let port_no: u16 = cell(port)
                .parse()
                .map_err(|_| format!("{label}: row {line}: bad port {:?}", cell(port)))?;
            let answered =
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(cell(details))
                    .ok()
                    .and_then(|d| details_summary(&d).map(String::from));
            let entry = snap
                .hosts
                .entry(cell(host).to_string())
                .or_insert_with(|| HostSnap {
                    status: "up".into(),
                    ports: BTreeMap::new(),
                });
            entry.ports.insert(
                (port_no, cell(proto).to_string()),
                PortSnap {
                    state: cell(state).to_string(),
                    service: Some(cell(service).to_string()).filter(|s| !s.is_empty()),
                    answered,
                },
            );
        }
        Ok(snap)
    }

    /// Parses nmap XML (nmap's own or portwatch's `--format xml`).
    pub fn from_nmap_xml(label: &str, text: &str) -> Result<Snapshot, String> {
        use quick_xml::Reader;
        use quick_xml::events::Event;
        let mut reader = Reader::from_str(text);
        let mut snap = Snapshot {
            label: label.to_string(),
            ..Default::default()
        };
        let mut host: Option<(String, HostSnap)> = None;
        let mut port: Option<((u16, String), PortSnap)> = None;
        let mut seen_root = false;
        loop {
            let event = reader.read_event().map_err(|e| {
                format!(
                    "{label}: not valid XML at byte {}: {e}",
                    reader.buffer_position()
                )
            })?;
            let (name, attrs, closing) = match &event {
                Event::Start(e) | Event::Empty(e) => (
                    e.name().as_ref().as_bytes().to_vec(),
                    e.attributes()
                        .flatten()
                        .map(|a| {
                            (
                                a.key.as_ref().to_string(),
                                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                    .map(std::borrow::Cow::into_owned)
                                    .unwrap_or_default(),
                            )
                        })
                        .collect::<BTreeMap<_, _>>(),
                    matches!(event, Event::Empty(_)),
                ),
                Event::End(e) => (e.name().as_ref().as_bytes().to_vec(), BTreeMap::new(), true),
                Event::Eof => break,
                _ => continue,
            };
            let is_end = matches!(event, Event::End(_));
            match (name.as_slice(), is_end) {
                (b"nmaprun", false) => seen_root = true,
                (b"host", false) => host = Some((String::new(), HostSnap::default())),
                (b"status", false) => {
                    if let Some((_, h)) = host.as_mut() {
                        h.status = attrs
                            .get("state")
                            .cloned()
                            .unwrap_or_else(|| "unknown".into());
                    }
                }
                (b"address", false) => {
                    if let Some((addr, _)) = host.as_mut()
                        && matches!(
                            attrs.get("addrtype").map(String::as_str),
                            Some("ipv4" | "ipv6") | None
                        )
                        && addr.is_empty()
                    {
                        *addr = attrs.get("addr").cloned().unwrap_or_default();
                    }
                }
                (b"port", false) => {
                    let id = attrs
                        .get("portid")
                        .and_then(|p| p.parse::<u16>().ok())
                        .ok_or_else(|| format!("{label}: <port> without a valid portid"))?;
                    let proto = attrs
                        .get("protocol")
                        .cloned()
                        .unwrap_or_else(|| "tcp".into());
                    port = Some((
                        (id, proto),
                        PortSnap {
                            state: String::new(),
                            service: None,
                            answered: None,
                        },
                    ));
                    if closing {
                        // An empty <port/> carries no state: skip it.
                        port = None;
                    }
                }
                (b"state", false) => {
                    if let Some((_, p)) = port.as_mut() {
                        p.state = attrs.get("state").cloned().unwrap_or_default();
                    }
                }
                (b"service", false) => {
                    if let Some((_, p)) = port.as_mut() {
                        p.service = attrs.get("name").cloned();
                        let product: Vec<&str> = ["product", "version", "extrainfo"]
                            .iter()
                            .filter_map(|k| attrs.get(*k).map(String::as_str))
                            .collect();
                        if !product.is_empty() {
                            p.answered = Some(product.join(" "));
                        }
                    }
                }
                (b"port", true) => {
                    if let (Some((key, p)), Some((_, h))) = (port.take(), host.as_mut()) {
                        h.ports.insert(key, p);
                    }
                }
                (b"host", true) => {
                    if let Some((addr, h)) = host.take()
                        && !addr.is_empty()
                    {
                        snap.hosts.insert(addr, h);
                    }
                }
                _ => {}
            }
        }
        if !seen_root {
            return Err(format!("{label}: not nmap XML (no <nmaprun> element)"));
        }
        Ok(snap)
    }

    /// Parses any format `scan` writes (except `table`, which is for people), telling them
    /// apart by their first characters: XML, one JSON document, JSON lines, or CSV.
    pub fn parse(label: &str, text: &str) -> Result<Snapshot, String> {
        let start = text.trim_start();
        if start.starts_with("host,") {
            return Snapshot::from_csv(label, text);
        }
        match start.chars().next() {
            Some('<') => Snapshot::from_nmap_xml(label, text),
            Some('{') => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(doc) if doc.get("hosts").is_some() => Snapshot::from_json(label, &doc),
                _ => Snapshot::from_jsonl(label, text),
            },
            None => Ok(Snapshot {
                label: label.to_string(),
                ..Default::default()
            }),
            Some(_) => Err(format!(
                "{label}: not a scan portwatch can read (nmap XML, or portwatch's json, jsonl or csv)"
            )),
        }
    }
}

fn is_open(state: &str) -> bool {
    state == PortState::Open.as_str()
}

/// Every difference between `a` (before) and `b` (after), hosts in address order.
pub fn diff(a: &Snapshot, b: &Snapshot) -> Vec<Change> {
    let mut changes = Vec::new();
    let hosts: BTreeSet<&String> = a.hosts.keys().chain(b.hosts.keys()).collect();
    for host in hosts {
        let (ha, hb) = (a.hosts.get(host), b.hosts.get(host));
        let change = |port: Option<(u16, String)>,
                      kind,
                      before: Option<String>,
                      after: Option<String>| Change {
            host: host.clone(),
            port: port.as_ref().map(|p| p.0),
            proto: port.map(|p| p.1),
            kind,
            before,
            after,
        };
        match (ha, hb) {
            (Some(_), None) => changes.push(change(None, ChangeKind::HostRemoved, None, None)),
            (None, Some(_)) => changes.push(change(None, ChangeKind::HostAdded, None, None)),
            _ => {}
        }
        let empty = HostSnap::default();
        let (ha, hb) = (ha.unwrap_or(&empty), hb.unwrap_or(&empty));
        if !ha.status.is_empty() && !hb.status.is_empty() && ha.status != hb.status {
            changes.push(change(
                None,
                ChangeKind::HostStatus,
                Some(ha.status.clone()),
                Some(hb.status.clone()),
            ));
        }
        let ports: BTreeSet<&(u16, String)> = ha.ports.keys().chain(hb.ports.keys()).collect();
        for key in ports {
            let (pa, pb) = (ha.ports.get(key), hb.ports.get(key));
            let sa = pa.map(|p| p.state.clone());
            let sb = pb.map(|p| p.state.clone());
            let open_a = sa.as_deref().is_some_and(is_open);
            let open_b = sb.as_deref().is_some_and(is_open);
            let kind = if !open_a && open_b {
                Some(ChangeKind::Opened)
            } else if open_a && !open_b {
                Some(ChangeKind::Closed)
            } else if let (Some(x), Some(y)) = (pa, pb) {
                if x.state != y.state {
                    Some(ChangeKind::State)
                } else if x.service != y.service {
                    Some(ChangeKind::Service)
                } else if x.answered != y.answered && x.answered.is_some() && y.answered.is_some() {
                    Some(ChangeKind::Details)
                } else {
                    None
                }
            } else {
                // Only one scan reported a non-open state: not a difference worth showing.
                None
            };
            if let Some(kind) = kind {
                let describe = |p: Option<&PortSnap>| {
                    p.map(|p| {
                        let mut s = p.state.clone();
                        if let Some(svc) = &p.service {
                            s.push(' ');
                            s.push_str(svc);
                        }
                        if let Some(a) = &p.answered {
                            s.push_str(&format!(" ({a})"));
                        }
                        s
                    })
                };
                changes.push(change(Some(key.clone()), kind, describe(pa), describe(pb)));
            }
        }
    }
    changes
}

/// The transport of a change as the scan engine's type, if it names one.
pub fn proto_of(change: &Change) -> Option<Proto> {
    change.proto.as_deref().and_then(|p| p.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = r#"<?xml version="1.0"?><nmaprun scanner="nmap" start="1"><host><status state="up"/><address addr="10.0.0.5" addrtype="ipv4"/><ports><port protocol="tcp" portid="22"><state state="open"/><service name="ssh" product="OpenSSH" version="9.2"/></port><port protocol="tcp" portid="445"><state state="open"/><service name="microsoft-ds"/></port></ports></host></nmaprun>"#;

    #[test]
    fn nmap_xml_against_jsonl() {
        let a = Snapshot::parse("a.xml", A).unwrap();
        let b = Snapshot::parse(
            "b.jsonl",
            r#"{"host":"10.0.0.5","hostname":null,"port":22,"proto":"tcp","state":"open","reason":"syn-ack","service":"ssh","rtt_ms":null}
{"host":"10.0.0.5","hostname":null,"port":3389,"proto":"tcp","state":"open","reason":"syn-ack","service":"ms-wbt-server","rtt_ms":null}"#,
        )
        .unwrap();
        let d = diff(&a, &b);
        let kinds: Vec<(Option<u16>, ChangeKind)> = d.iter().map(|c| (c.port, c.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                (Some(445), ChangeKind::Closed),
                (Some(3389), ChangeKind::Opened)
            ]
        );
        assert!(diff(&a, &a).is_empty());
    }

    #[test]
    fn json_document_and_csv_read_like_jsonl() {
        let json = r#"{"scanner":"portwatch","hosts":[
            {"host":"10.0.0.5","status":"up","ports":[
                {"host":"10.0.0.5","hostname":null,"port":22,"proto":"tcp","state":"open","reason":"syn-ack","service":"ssh","rtt_ms":null}]},
            {"host":"10.0.0.6","status":"down","ports":[]}]}"#;
        let csv = "host,hostname,port,proto,state,reason,service,rtt_ms,details,risk_lan,risk_internet\n\
                   10.0.0.5,,22,tcp,open,syn-ack,ssh,0.1,\"{\"\"summary\"\":\"\"OpenSSH, 9\"\"}\",low,high\n";
        let a = Snapshot::parse("a.json", json).unwrap();
        assert_eq!(a.hosts["10.0.0.6"].status, "down");
        assert_eq!(a.hosts["10.0.0.5"].ports[&(22, "tcp".into())].state, "open");
        let b = Snapshot::parse("b.csv", csv).unwrap();
        let p = &b.hosts["10.0.0.5"].ports[&(22, "tcp".into())];
        assert_eq!(p.answered.as_deref(), Some("OpenSSH, 9"));
        let kinds: Vec<ChangeKind> = diff(&a, &b).iter().map(|c| c.kind).collect();
        assert_eq!(kinds, vec![ChangeKind::HostRemoved]);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Snapshot::parse("x", "hello").is_err());
        assert!(Snapshot::parse("x", "{not json").is_err());
        assert!(Snapshot::parse("x", "<a><b>").is_err());
        assert!(Snapshot::parse("x", "<nmaprun><host><ports><port portid=\"99999\">").is_err());
    }
}
