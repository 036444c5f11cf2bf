//! Stored history: `portwatch history HOST[:PORT]`, `portwatch hosts`, and the stored scans
//! `diff` compares.

use crate::args::{HistoryArgs, HostsArgs, TextOrJson};
use anyhow::{Context, Result, anyhow, bail};
use comfy_table::{Table, presets};
use portwatch_monitor::diff::{HostSnap, PortSnap, Snapshot};
use portwatch_scan::{Proto, details_summary};
use portwatch_store::{ScanId, ScanStatus, SpanRow, Store};
use std::io::Write;
use std::net::IpAddr;

/// Formats Unix milliseconds as UTC `YYYY-MM-DD HH:MM:SS`.
pub fn when(ms: i64) -> String {
    portwatch_scan::identify::utc_seconds(ms.div_euclid(1000))
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_string()
}

fn span_length(from: i64, to: Option<i64>) -> String {
    let end = to.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    });
    let secs = (end - from).max(0) / 1000;
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Parses `HOST`, `HOST:PORT`, `HOST:PORT/PROTO`, `[v6]:PORT`.
fn parse_subject(text: &str) -> Result<(String, Option<(u16, Proto)>)> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok((ip.to_string(), None));
    }
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (h, p) = rest
            .split_once("]:")
            .ok_or_else(|| anyhow!("'{text}': expected [ADDR]:PORT"))?;
        (h.to_string(), Some(p))
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (text.to_string(), None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => {
            let (num, proto) = match p.split_once('/') {
                Some((n, t)) => (n, t.parse::<Proto>().map_err(|e| anyhow!("'{text}': {e}"))?),
                None => (p, Proto::Tcp),
            };
            let n: u16 = num
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| anyhow!("'{text}': '{num}' is not a port 1-65535"))?;
            Some((n, proto))
        }
    };
    Ok((host, port))
}

async fn resolve_host(store: &Store, host: &str) -> Result<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip);
    }
    let hosts = store.hosts().await?;
    hosts
        .iter()
        .find(|h| h.hostname.as_deref() == Some(host))
        .map(|h| h.addr)
        .ok_or_else(|| anyhow!("no stored host named '{host}' (history knows addresses and the names scans were given)"))
}

/// `portwatch history`.
pub fn run_history(args: HistoryArgs) -> Result<u8> {
    let (host, port) = parse_subject(&args.subject)?;
    super::runtime()?.block_on(async {
        let store = crate::db::open(args.db.url(), None).await?;
        let addr = resolve_host(&store, &host).await?;
        let spans = store.history(addr, port).await?;
        let scans = store.scans(5, Some(addr)).await?;
        let mut out = std::io::stdout().lock();
        if args.format == TextOrJson::Json {
            serde_json::to_writer_pretty(
                &mut out,
                &serde_json::json!({ "host": addr, "spans": spans, "recent_scans": scans }),
            )?;
            writeln!(out)?;
            return Ok(crate::exit::OK);
        }
        if spans.is_empty() {
            writeln!(
                out,
                "{addr}: no open ports recorded{}",
                port.map(|(p, t)| format!(" on {p}/{t}"))
                    .unwrap_or_default()
            )?;
        } else {
            let mut table = Table::new();
            table.load_style(presets::NOTHING);
            table.set_header([
                "PORT", "STATE", "SERVICE", "FROM", "UNTIL", "FOR", "DETAILS",
            ]);
            for s in &spans {
                table.add_row([
                    format!("{}/{}", s.port, s.proto),
                    s.snapshot.state.to_string(),
                    s.snapshot.service.clone().unwrap_or_default(),
                    when(s.from_at),
                    s.to_at.map_or_else(|| "now".into(), when),
                    span_length(s.from_at, s.to_at),
                    details_summary(&s.snapshot.details)
                        .unwrap_or_default()
                        .to_string(),
                ]);
            }
            writeln!(out, "{addr}:\n{table}")?;
        }
        if let Some(last) = scans.first() {
            writeln!(
                out,
                "last scan: #{} {} ({})",
                last.id,
                when(last.started_at),
                last.status
            )?;
        }
        Ok(crate::exit::OK)
    })
}

/// `portwatch hosts`.
pub fn run_hosts(args: HostsArgs) -> Result<u8> {
    super::runtime()?.block_on(async {
        let store = crate::db::open(args.db.url(), None).await?;
        let hosts = store.hosts().await?;
        let mut out = std::io::stdout().lock();
        if args.format == TextOrJson::Json {
            serde_json::to_writer_pretty(&mut out, &hosts)?;
            writeln!(out)?;
            return Ok(crate::exit::OK);
        }
        let mut table = Table::new();
        table.load_style(presets::NOTHING);
        table.set_header(["HOST", "NAME", "FIRST SEEN", "LAST SEEN", "OPEN PORTS"]);
        for h in &hosts {
            table.add_row([
                h.addr.to_string(),
                h.hostname.clone().unwrap_or_default(),
                h.first_seen_at.map(when).unwrap_or_default(),
                h.last_seen_at.map_or_else(|| "never up".into(), when),
                h.open_ports.to_string(),
            ]);
        }
        writeln!(out, "{table}")?;
        writeln!(
            out,
            "{} host{}",
            hosts.len(),
            if hosts.len() == 1 { "" } else { "s" }
        )?;
        Ok(crate::exit::OK)
    })
}

fn snapshot(label: String, spans: &[SpanRow], hosts: &[IpAddr]) -> Snapshot {
    let mut snap = Snapshot {
        label,
        ..Default::default()
    };
    for h in hosts {
        snap.hosts.insert(
            h.to_string(),
            HostSnap {
                status: "up".into(),
                ports: Default::default(),
            },
        );
    }
    for s in spans {
        let host = snap
            .hosts
            .entry(s.host.to_string())
            .or_insert_with(|| HostSnap {
                status: "up".into(),
                ports: Default::default(),
            });
        host.ports.insert(
            (s.port, s.proto.to_string()),
            PortSnap {
                state: s.snapshot.state.to_string(),
                service: s.snapshot.service.clone(),
                answered: details_summary(&s.snapshot.details).map(String::from),
            },
        );
    }
    snap
}

async fn stored(store: &Store, id: ScanId) -> Result<Snapshot> {
    let scan = store
        .scan(id)
        .await?
        .ok_or_else(|| anyhow!("no stored scan #{id}"))?;
    if scan.status != ScanStatus::Complete {
        bail!(
            "scan #{id} is {}: only complete scans can be compared",
            scan.status
        );
    }
    let spans = store.open_at(id).await?;
    Ok(snapshot(
        format!("scan #{id} ({})", when(scan.started_at)),
        &spans,
        &[],
    ))
}

/// The remembered state as of stored scan `id`.
pub fn snapshot_of_scan(id: i64, database: Option<&str>) -> Result<Snapshot> {
    super::runtime()?.block_on(async {
        let store = crate::db::open(database, None).await?;
        stored(&store, ScanId(id)).await
    })
}

/// The last two stored complete scans of `host`.
pub fn last_two(host: &str, database: Option<&str>) -> Result<(Snapshot, Snapshot)> {
    super::runtime()?.block_on(async {
        let store = crate::db::open(database, None).await?;
        let addr = resolve_host(&store, host).await?;
        let scans = store
            .last_complete_scans(addr, 2)
            .await
            .context("stored scans")?;
        let [newer, older] = scans.as_slice() else {
            bail!("{host}: fewer than two complete scans are stored");
        };
        let only = |s: Snapshot| Snapshot {
            hosts: s
                .hosts
                .into_iter()
                .filter(|(h, _)| h == &addr.to_string())
                .collect(),
            ..s
        };
        Ok((
            only(stored(&store, older.id).await?),
            only(stored(&store, newer.id).await?),
        ))
    })
}
