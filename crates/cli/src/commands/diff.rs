//! `portwatch diff A B`: what changed between two scans (files of portwatch JSON lines or nmap
//! XML, stored scan ids, or the last two scans of a host). Exit 0 when nothing changed, 1 when
//! something did, 2 on errors (ndiff's convention).

use crate::args::{DiffArgs, TextOrJson};
use anyhow::{Context, Result, bail};
use portwatch_monitor::diff::{self, Change, ChangeKind, Snapshot};
use std::io::Write;
use std::path::Path;

/// Runs the command.
pub fn run(args: DiffArgs) -> Result<u8> {
    let (a, b) = match (&args.before, &args.after, &args.host) {
        (Some(a), Some(b), None) => (load(a, &args)?, load(b, &args)?),
        (None, None, Some(host)) => super::history::last_two(host, args.db.url())?,
        (_, _, Some(_)) => bail!("give either two scans or --host, not both"),
        _ => bail!("give two scans to compare (files or stored scan ids), or --host HOST"),
    };
    let changes = diff::diff(&a, &b);
    let mut out = std::io::stdout().lock();
    match args.format {
        TextOrJson::Json => {
            serde_json::to_writer_pretty(
                &mut out,
                &serde_json::json!({ "before": a.label, "after": b.label, "changes": changes }),
            )?;
            writeln!(out)?;
        }
        TextOrJson::Text => text(&mut out, &a, &b, &changes)?,
    }
    Ok(if changes.is_empty() {
        crate::exit::OK
    } else {
        crate::exit::FINDINGS
    })
}

fn load(what: &str, args: &DiffArgs) -> Result<Snapshot> {
    if !what.is_empty() && what.bytes().all(|b| b.is_ascii_digit()) && !Path::new(what).exists() {
        let id: i64 = what.parse().context("scan id")?;
        return super::history::snapshot_of_scan(id, args.db.url());
    }
    let text = std::fs::read_to_string(what).with_context(|| format!("cannot read {what}"))?;
    Snapshot::parse(what, &text).map_err(anyhow::Error::msg)
}

fn text(
    out: &mut impl Write,
    a: &Snapshot,
    b: &Snapshot,
    changes: &[Change],
) -> std::io::Result<()> {
    writeln!(out, "--- {}", a.label)?;
    writeln!(out, "+++ {}", b.label)?;
    let mut host = None;
    for c in changes {
        if host != Some(&c.host) {
            writeln!(out, "\n{}:", c.host)?;
            host = Some(&c.host);
        }
        let port = match (c.port, &c.proto) {
            (Some(p), Some(t)) => format!("{p}/{t}"),
            _ => String::new(),
        };
        let before = c.before.as_deref().unwrap_or("-");
        let after = c.after.as_deref().unwrap_or("-");
        match c.kind {
            ChangeKind::HostAdded => writeln!(out, "+ host only in {}", b.label)?,
            ChangeKind::HostRemoved => writeln!(out, "- host only in {}", a.label)?,
            ChangeKind::HostStatus => writeln!(out, "~ host {before} -> {after}")?,
            ChangeKind::Opened => writeln!(out, "+ {port:<10} {after}")?,
            ChangeKind::Closed => writeln!(out, "- {port:<10} {before}")?,
            ChangeKind::State | ChangeKind::Service | ChangeKind::Details => {
                writeln!(out, "~ {port:<10} {before} -> {after}")?;
            }
        }
    }
    if changes.is_empty() {
        writeln!(out, "\nno differences")?;
    }
    Ok(())
}
