//! `scan --discover-only`: which hosts are up and why, in every format but xml.

use super::Shown;
use crate::args::ScanFormat;
use portwatch_scan::discover::{Verdict, format_mac, vendor};
use portwatch_scan::targets::Target;
use serde_json::{Value, json};
use std::io::{self, Write};
use std::time::Duration;

/// Whether `format` can carry a discovery listing.
pub fn supports(format: ScanFormat) -> bool {
    !matches!(format, ScanFormat::Xml)
}

fn record(t: &Target, v: &Verdict) -> Value {
    match v {
        Verdict::Up(live) => json!({
            "host": t.addr,
            "hostname": t.hostname.as_deref(),
            "status": "up",
            "reason": live.reason.as_str(),
            "mac": live.mac.map(format_mac),
            "vendor": live.mac.and_then(vendor::vendor),
            "rtt_ms": live.rtt.map(|d| (d.as_secs_f64() * 1e6).round() / 1e3),
        }),
        Verdict::Down(reason) => json!({
            "host": t.addr,
            "hostname": t.hostname.as_deref(),
            "status": "down",
            "reason": reason.as_str(),
            "mac": null,
            "vendor": null,
            "rtt_ms": null,
        }),
    }
}

/// The summary line: hosts, up, down, elapsed.
pub fn summary(hosts: &[(Target, Verdict)], elapsed: Duration) -> String {
    let up = hosts
        .iter()
        .filter(|(_, v)| matches!(v, Verdict::Up(_)))
        .count();
    format!(
        "{} host{} ({up} up, {} down) in {:.2} s",
        hosts.len(),
        if hosts.len() == 1 { "" } else { "s" },
        hosts.len() - up,
        elapsed.as_secs_f64()
    )
}

/// Writes the listing. The table shows up hosts, and down hosts under [`Shown::Everything`] (or when there
/// is a single host), otherwise their count; machine formats list every host.
pub fn write(
    format: ScanFormat,
    out: &mut dyn Write,
    hosts: &[(Target, Verdict)],
    shown: Shown,
    elapsed: Duration,
) -> io::Result<()> {
    match format {
        ScanFormat::Table | ScanFormat::Xml => {
            let mut down = 0usize;
            for (t, v) in hosts {
                let label = match &t.hostname {
                    Some(name) => format!("{} ({name})", t.addr),
                    None => t.addr.to_string(),
                };
                match v {
                    Verdict::Up(live) => {
                        let mut extra = String::new();
                        if let Some(mac) = live.mac {
                            extra.push_str(&format!(", MAC {}", format_mac(mac)));
                            if let Some(name) = vendor::vendor(mac) {
                                extra.push_str(&format!(" ({name})"));
                            }
                        }
                        if let Some(rtt) = live.rtt {
                            extra.push_str(&format!(", {:.2} ms", rtt.as_secs_f64() * 1e3));
                        }
                        writeln!(out, "{label}: up ({}{extra})", live.reason)?;
                    }
                    Verdict::Down(reason) if shown == Shown::Everything || hosts.len() == 1 => {
                        writeln!(out, "{label}: down ({reason})")?;
                    }
                    Verdict::Down(_) => down += 1,
                }
            }
            if down > 0 {
                writeln!(
                    out,
                    "{down} host{} down (--all lists them).",
                    if down == 1 { "" } else { "s" }
                )?;
            }
            writeln!(out, "{}", summary(hosts, elapsed))?;
        }
        ScanFormat::Jsonl => {
            for (t, v) in hosts {
                serde_json::to_writer(&mut *out, &record(t, v))?;
                out.write_all(b"\n")?;
            }
        }
        ScanFormat::Json => {
            let list: Vec<Value> = hosts.iter().map(|(t, v)| record(t, v)).collect();
            let up = list.iter().filter(|h| h["status"] == "up").count();
            let doc = json!({
                "scanner": "portwatch",
                "version": env!("CARGO_PKG_VERSION"),
                "elapsed_s": (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
                "hosts": list,
                "summary": {"hosts": hosts.len(), "up": up, "down": hosts.len() - up},
            });
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            out.write_all(b"\n")?;
        }
        ScanFormat::Csv => {
            writeln!(out, "host,hostname,status,reason,mac,vendor,rtt_ms")?;
            for (t, v) in hosts {
                let r = record(t, v);
                let text = |k: &str| match &r[k] {
                    Value::Null => String::new(),
                    Value::String(s) => super::csv::field(s),
                    other => other.to_string(),
                };
                writeln!(
                    out,
                    "{},{},{},{},{},{},{}",
                    text("host"),
                    text("hostname"),
                    text("status"),
                    text("reason"),
                    text("mac"),
                    text("vendor"),
                    text("rtt_ms")
                )?;
            }
        }
    }
    out.flush()
}
