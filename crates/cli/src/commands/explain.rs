//! `portwatch explain PORT[/PROTO]|NAME`: the knowledge base's page for people (wrapped,
//! coloured on a terminal) or for programs (`--format json`).

use crate::args::ExplainArgs;
use crate::text::{Styles, heading, paragraph};
use anyhow::{Result, bail};
use portwatch_kb::{Explanation, Page, Severity, Transport};
use std::io::Write;

/// What the user asked about.
pub enum Subject {
    /// A port, perhaps with a transport.
    Port(u32, Option<Transport>),
    /// A service name.
    Name(String),
}

/// Parses `445`, `445/tcp`, `smb`, `netbios-ssn`.
pub fn parse_subject(text: &str) -> Result<Subject> {
    let (head, proto) = match text.split_once('/') {
        Some((h, p)) => (h, Some(p)),
        None => (text, None),
    };
    let transport = match proto {
        Some(p) => Some(
            p.parse::<Transport>()
                .map_err(|e| anyhow::anyhow!("'{text}': {e}"))?,
        ),
        None => None,
    };
    if !head.is_empty() && head.bytes().all(|b| b.is_ascii_digit()) {
        let port: u32 = head
            .parse()
            .map_err(|_| anyhow::anyhow!("port {head} is out of range 1-65535"))?;
        return Ok(Subject::Port(port, transport));
    }
    if transport.is_some() {
        bail!("'{text}': a transport suffix needs a port number (e.g. 445/tcp)");
    }
    if head.is_empty() {
        bail!("give a port (445, 445/tcp) or a service name (smb)");
    }
    Ok(Subject::Name(head.to_string()))
}

/// Runs the command.
pub fn run(args: ExplainArgs) -> Result<u8> {
    let (explanations, by_name) = match parse_subject(&args.subject)? {
        Subject::Port(port, transport) => (vec![portwatch_kb::explain(port, transport)?], false),
        Subject::Name(name) => (portwatch_kb::explain_name(&name)?, true),
    };
    let mut out = anstream::stdout().lock();
    if args.format == crate::args::TextOrJson::Json {
        // A port gives one object; a name may stand for several ports, so it gives an array.
        let doc = if by_name {
            serde_json::to_value(&explanations)?
        } else {
            serde_json::to_value(&explanations[0])?
        };
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
        return Ok(crate::exit::OK);
    }
    let styles = Styles::default();
    for (i, e) in explanations.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        render(&mut out, e, &styles)?;
    }
    Ok(crate::exit::OK)
}

fn severity_style(s: Severity, styles: &Styles) -> anstyle::Style {
    match s {
        Severity::Critical | Severity::High => styles.bad,
        Severity::Medium => styles.warn,
        _ => styles.good,
    }
}

fn render(out: &mut impl Write, e: &Explanation, st: &Styles) -> Result<()> {
    let b = st.bold;
    writeln!(out, "{b}{}{b:#}", e.headline)?;
    for r in &e.risks {
        let (lan, net) = (severity_style(r.lan, st), severity_style(r.internet, st));
        writeln!(
            out,
            "Risk on {}/{}: LAN {lan}{}{lan:#}, internet {net}{}{net:#}{}",
            e.port,
            r.transport,
            r.lan,
            r.internet,
            if r.page { "" } else { " (no page: defaults)" }
        )?;
    }
    for page in &e.pages {
        render_page(out, page, st)?;
    }
    if !e.aliases.is_empty() {
        heading(out, "Common names and unofficial assignments", st)?;
        for a in &e.aliases {
            let transports: Vec<&str> = a.transports.iter().map(|t| t.as_str()).collect();
            let names: Vec<&str> = a.names().collect();
            writeln!(
                out,
                "  {}/{}  {}  {} (source: {})",
                a.ports(),
                transports.join("+"),
                names.join(", "),
                a.service,
                a.source
            )?;
        }
    }
    if e.registry.is_empty() {
        writeln!(out, "\nIANA has no assignment for this port.")?;
    } else {
        heading(out, "IANA registry", st)?;
        for entry in &e.registry {
            writeln!(
                out,
                "  {}/{}  {}  {}",
                entry.port, entry.transport, entry.name, entry.description
            )?;
        }
    }
    writeln!(
        out,
        "\nTo close it: portwatch fix {} --platform ufw|firewalld|nftables|iptables|windows|macos{}",
        e.port,
        if matches!(e.port, 137..=139 | 445) {
            "|samba"
        } else {
            ""
        }
    )?;
    Ok(())
}

fn render_page(out: &mut impl Write, p: &Page, st: &Styles) -> Result<()> {
    writeln!(out)?;
    paragraph(out, &p.summary)?;
    if !p.aliases.is_empty() {
        paragraph(out, &format!("Also called: {}.", p.aliases.join(", ")))?;
    }
    heading(out, "What it is", st)?;
    paragraph(out, &p.description)?;
    heading(out, "History", st)?;
    paragraph(out, &p.history)?;
    heading(out, "Typical software", st)?;
    paragraph(out, &p.software.join(", "))?;
    heading(
        out,
        &format!("Reachable from the LAN: {}", p.lan_severity),
        st,
    )?;
    paragraph(out, &p.lan_risk)?;
    heading(
        out,
        &format!("Reachable from the internet: {}", p.internet_severity),
        st,
    )?;
    paragraph(out, &p.internet_risk)?;
    if !p.attacks.is_empty() {
        heading(out, "Notable attacks", st)?;
        for a in &p.attacks {
            let cves = if a.cves.is_empty() {
                String::new()
            } else {
                format!(" [{}]", a.cves.join(", "))
            };
            paragraph(out, &format!("- {} ({}){cves}: {}", a.name, a.year, a.note))?;
        }
    }
    heading(out, "Safe policy", st)?;
    paragraph(out, &p.safe_policy)?;
    if !p.related.is_empty() {
        let related: Vec<String> = p
            .related
            .iter()
            .map(
                |port| match portwatch_kb::pages::pages_for_port(*port).first() {
                    // The curated title, not the registry name (9200 is "wap-wsp" at IANA).
                    Some(rp) => format!("{port} ({})", rp.title),
                    None => port.to_string(),
                },
            )
            .collect();
        heading(out, "Related ports", st)?;
        paragraph(out, &related.join(", "))?;
    }
    Ok(())
}
