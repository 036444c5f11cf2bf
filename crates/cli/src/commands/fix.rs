//! `portwatch fix PORT --platform P [--source CIDR]`: the commands that close a port, and how
//! to check. It only prints; it never changes the system.

use super::explain::{Subject, parse_subject};
use crate::args::FixArgs;
use crate::text::Styles;
use anyhow::{Result, bail};
use portwatch_kb::fix::{self, Stage};
use std::io::Write;

/// Runs the command.
pub fn run(args: FixArgs) -> Result<u8> {
    let (port, transport) = match parse_subject(&args.port)? {
        Subject::Port(port, transport) => (port, transport),
        Subject::Name(name) => {
            let found = portwatch_kb::resolve_name(&name);
            let Some(&(port, transport)) = found.first() else {
                bail!("unknown service name '{name}'");
            };
            let same_port = found.iter().all(|(p, _)| *p == port);
            (
                u32::from(port),
                if same_port && found.len() > 1 {
                    None
                } else {
                    Some(transport)
                },
            )
        }
    };
    let transport = match (transport, &args.proto) {
        (Some(t), _) => Some(t),
        (None, Some(p)) => Some(p.parse().map_err(|e| anyhow::anyhow!("--proto: {e}"))?),
        (None, None) => None,
    };
    let platform: fix::Platform = args.platform.parse().map_err(|e| {
        let close = fix::Platform::ALL
            .iter()
            .copied()
            .map(|p| {
                (
                    edit_distance(&args.platform.to_ascii_lowercase(), p.as_str()),
                    p,
                )
            })
            .min_by_key(|(d, _)| *d)
            .filter(|(d, _)| *d <= 2);
        match close {
            Some((_, p)) => anyhow::anyhow!("{e}; did you mean '{p}'?"),
            None => anyhow::Error::from(e),
        }
    })?;
    let plan = fix::plan(port, transport, platform, args.source)?;
    let mut out = anstream::stdout().lock();
    if args.format == crate::args::TextOrJson::Json {
        serde_json::to_writer_pretty(&mut out, &plan)?;
        writeln!(out)?;
        return Ok(crate::exit::OK);
    }
    let st = Styles::default();
    let transports: Vec<String> = plan
        .transports
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    let what = match &plan.source {
        Some(net) => format!("Limit {}/{} to {net}", plan.port, transports.join("+")),
        None => format!("Close {}/{}", plan.port, transports.join("+")),
    };
    writeln!(out, "{b}# {what} on {}{b:#}", plan.platform, b = st.bold)?;
    writeln!(
        out,
        "# portwatch only prints these steps; it never changes the system."
    )?;
    if plan.proven_here {
        let what = if plan.platform == fix::Platform::Samba {
            "this plan to a real smbd and nmbd"
        } else {
            "the close steps"
        };
        writeln!(
            out,
            "# Proven: portwatch's tests apply {what} in a network namespace and scan the result."
        )?;
    } else {
        // Why: a platform the tests cannot run, or a rule they do not apply there.
        let why = if plan.platform.proven_here() || plan.platform == fix::Platform::Samba {
            "its tests apply other plans of this platform, not one like this"
        } else {
            "this platform needs a system other than the Linux the tests run on"
        };
        writeln!(
            out,
            "# Not proven here: portwatch's tests do not apply this {} plan ({why}); these steps are reviewed text.",
            plan.platform
        )?;
    }
    for caution in &plan.cautions {
        writeln!(out)?;
        for line in textwrap::wrap(
            &format!("Caution: {caution}"),
            textwrap::Options::with_termwidth()
                .initial_indent("# ")
                .subsequent_indent("# "),
        ) {
            writeln!(out, "{w}{line}{w:#}", w = st.warn)?;
        }
    }
    let mut stage = None;
    for step in &plan.steps {
        if stage != Some(step.stage) {
            stage = Some(step.stage);
            let title = match step.stage {
                Stage::Close => "Close the port",
                Stage::Harden => "Harden or stop the service",
                Stage::Verify => "Verify",
            };
            writeln!(out, "\n{h}## {title}{h:#}", h = st.heading)?;
        }
        for line in textwrap::wrap(
            &step.say,
            textwrap::Options::with_termwidth()
                .initial_indent("# ")
                .subsequent_indent("# "),
        ) {
            writeln!(out, "{c}{line}{c:#}", c = st.dim)?;
        }
        writeln!(out, "{}", step.run)?;
    }
    Ok(crate::exit::OK)
}

/// Levenshtein distance between two short ASCII words.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
