//! `portwatch local`: this machine's listening sockets (like `ss -tulpn`), with process,
//! exposure, knowledge-base risk and host firewall verdict; `--watch` follows them live.
//!
//! The table is for people: it leaves out loopback-only listeners unless `--all` (they cannot
//! be reached from other machines) and says how many it left out. The JSON document is the
//! whole snapshot for programs: every listener, `--all` or not. `--tcp`/`--udp` filter both.

use anyhow::{Context, Result};
use clap::ValueEnum;
use comfy_table::{Table, presets};
use portwatch_local::watch::{Event, Watcher};
use portwatch_local::{FirewallVerdict, Listener, Proto, Snapshot};
use std::io::Write;
use std::net::SocketAddr;

/// Output formats of `local`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LocalFormat {
    /// A table for people (loopback-only listeners only with --all).
    Table,
    /// The whole snapshot as one JSON document; with --watch, one JSON object per event.
    Json,
}

/// Arguments of `portwatch local`.
#[derive(Debug, clap::Args)]
pub struct LocalArgs {
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = LocalFormat::Table)]
    pub format: LocalFormat,

    /// Keep running: print a line when a listener opens (+) or closes (-). Ctrl-C stops.
    #[arg(long, short = 'w')]
    pub watch: bool,

    /// Only TCP listeners (with --udp: both, the default).
    #[arg(long, short = 't')]
    pub tcp: bool,

    /// Only UDP listeners (with --tcp: both, the default).
    #[arg(long, short = 'u')]
    pub udp: bool,

    /// Also show loopback-only listeners in the table and watch lines (JSON always has them).
    #[arg(long, short = 'a')]
    pub all: bool,
}

impl LocalArgs {
    /// Whether `proto` passes the --tcp/--udp filter.
    fn wants(&self, proto: Proto) -> bool {
        match (self.tcp, self.udp) {
            (true, false) => proto == Proto::Tcp,
            (false, true) => proto == Proto::Udp,
            _ => true,
        }
    }

    /// Whether a human-readable line shows `listener`.
    fn shows(&self, listener: &Listener) -> bool {
        self.wants(listener.proto) && (self.all || !listener.exposure.is_loopback())
    }
}

/// Runs the command; returns the exit code.
pub fn run(args: LocalArgs) -> Result<u8> {
    if args.watch {
        return super::runtime()?.block_on(watch(&args));
    }
    let mut snapshot =
        portwatch_local::snapshot().context("cannot list this machine's listening sockets")?;
    snapshot.listeners.retain(|l| args.wants(l.proto));
    for note in &snapshot.notes {
        eprintln!("portwatch: note: {note}");
    }
    let mut out = std::io::stdout().lock();
    match args.format {
        LocalFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &snapshot)?;
            writeln!(out)?;
        }
        LocalFormat::Table => write_table(&mut out, &snapshot, &args)?,
    }
    out.flush()?;
    Ok(crate::exit::OK)
}

/// The table, then what it left out and why some firewall verdicts are unknown.
fn write_table(out: &mut impl Write, snapshot: &Snapshot, args: &LocalArgs) -> Result<()> {
    let shown: Vec<&Listener> = snapshot
        .listeners
        .iter()
        .filter(|l| args.shows(l))
        .collect();
    let hidden = snapshot.listeners.len() - shown.len();
    if shown.is_empty() && hidden > 0 {
        writeln!(out, "no listening sockets reachable from other machines")?;
    } else if shown.is_empty() {
        writeln!(out, "no listening sockets")?;
    } else {
        let mut table = Table::new();
        table.load_style(presets::NOTHING);
        table.set_header([
            "PROTO", "ADDRESS", "PORT", "EXPOSURE", "PROCESS", "USER", "SERVICE", "RISK",
            "FIREWALL",
        ]);
        for l in &shown {
            table.add_row([
                l.proto.to_string(),
                l.addr.to_string(),
                l.port.to_string(),
                l.exposure.to_string(),
                process_label(l),
                l.user.clone().unwrap_or_else(|| l.uid.to_string()),
                l.service.clone().unwrap_or_else(|| "-".into()),
                risk_label(l),
                firewall_label(&l.firewall),
            ]);
        }
        writeln!(out, "{table}")?;
    }
    if hidden > 0 {
        writeln!(
            out,
            "{hidden} loopback-only listener{} not shown (--all shows them)",
            if hidden == 1 { "" } else { "s" }
        )?;
    }
    let mut reasons: Vec<String> = Vec::new();
    for l in &shown {
        if let FirewallVerdict::Unknown(why) = &l.firewall
            && !snapshot.notes.contains(why)
        {
            let line = format!("  {}/{}: {why}", l.port, l.proto);
            if !reasons.contains(&line) {
                reasons.push(line);
            }
        }
    }
    if !reasons.is_empty() {
        writeln!(out, "firewall verdicts that could not be decided:")?;
        for line in reasons {
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

/// `1234/sshd`, `1234`, or `-` when the process is not visible.
fn process_label(l: &Listener) -> String {
    match (l.pid, &l.process) {
        (Some(pid), Some(name)) => format!("{pid}/{name}"),
        (Some(pid), None) => pid.to_string(),
        _ => "-".into(),
    }
}

/// The effective severity, with the level it was lowered from when the firewall lowered it.
fn risk_label(l: &Listener) -> String {
    let by_exposure = l.risk.at(l.exposure.class());
    if l.effective_severity < by_exposure {
        format!("{} (was {by_exposure})", l.effective_severity)
    } else {
        l.effective_severity.to_string()
    }
}

/// A short firewall verdict for a table cell (unknown reasons are listed under the table).
fn firewall_label(v: &FirewallVerdict) -> String {
    match v {
        FirewallVerdict::Accepted => "accepted".into(),
        FirewallVerdict::Blocked { how } => format!("blocked ({how})"),
        FirewallVerdict::AllowedFrom(sources) => format!("only {}", sources.join(", ")),
        FirewallVerdict::NoFirewall => "no firewall".into(),
        FirewallVerdict::Unknown(_) => "unknown".into(),
    }
}

/// One watch line: `+ tcp 0.0.0.0:8080 python3[1234] user root, all interfaces, ...`.
fn event_line(sign: char, l: &Listener) -> String {
    let process = match (&l.process, l.pid) {
        (Some(name), Some(pid)) => format!("{name}[{pid}]"),
        (None, Some(pid)) => format!("[{pid}]"),
        _ => "-".into(),
    };
    let user = l.user.clone().unwrap_or_else(|| l.uid.to_string());
    let service = l
        .service
        .as_deref()
        .map(|s| format!(" {s},"))
        .unwrap_or_default();
    format!(
        "{sign} {} {} {process} user {user}, {},{service} risk {}, firewall {}",
        l.proto,
        SocketAddr::new(l.addr, l.port),
        l.exposure,
        risk_label(l),
        firewall_label(&l.firewall),
    )
}

/// `--watch`: events until Ctrl-C, one flushed line each.
async fn watch(args: &LocalArgs) -> Result<u8> {
    let mut watcher = Watcher::new().context("cannot read this machine's socket tables")?;
    let present = watcher
        .current()
        .iter()
        .filter(|l| args.wants(l.proto))
        .count();
    eprintln!(
        "portwatch: watching {present} listener{}; openings (+) and closings (-) follow (Ctrl-C stops)",
        if present == 1 { "" } else { "s" }
    );
    if !watcher.complete() {
        eprintln!("portwatch: note: {}", portwatch_local::NOT_ROOT_NOTE);
    }
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let out = std::io::stdout();
    loop {
        let event = tokio::select! {
            event = watcher.next() => event?,
            _ = &mut ctrl_c => return Ok(crate::exit::OK),
        };
        let (sign, listener) = match &event {
            Event::Opened(l) => ('+', l),
            Event::Closed(l) => ('-', l),
        };
        let line = match args.format {
            LocalFormat::Json if args.wants(listener.proto) => serde_json::to_string(&event)?,
            LocalFormat::Table if args.shows(listener) => event_line(sign, listener),
            _ => continue,
        };
        let mut lock = out.lock();
        writeln!(lock, "{line}")?;
        lock.flush()?;
    }
}
