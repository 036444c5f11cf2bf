//! `GET /ports/{port}?proto=&platform=&host=`: the knowledge base's page for a port (what it
//! is, its history, its risks and attacks, a safe policy) and the commands that close it on one
//! platform: the one asked for (`platform=`), else the one guessed from what the host (`host=`,
//! set by the host page's links) told about its system, else ufw. The other platforms are
//! links to the same page with their `platform=`.

use super::error::PageError;
use super::format::{self, encode_component, paragraphs};
use super::layout::{Actions, Chrome, Section};
use super::render;
use crate::auth::Page;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use portwatch_kb::fix::{self, Platform, Stage};
use portwatch_kb::{Severity, Transport};
use portwatch_model::{PortState, Proto};
use portwatch_store::SpanRow;
use serde::Deserialize;
use std::net::IpAddr;

/// The port page's query.
#[derive(Debug, Default, Deserialize)]
pub struct PortQuery {
    proto: Option<String>,
    platform: Option<String>,
    host: Option<String>,
}

/// The platform shown when neither the query nor the host says which.
pub const DEFAULT_PLATFORM: Platform = Platform::Ufw;

/// A platform's link among the others.
pub struct PlatformLink {
    name: &'static str,
    url: String,
}

/// The risk on one transport.
pub struct RiskLine {
    transport: Transport,
    lan: Severity,
    lan_class: &'static str,
    internet: Severity,
    internet_class: &'static str,
    from_page: bool,
}

/// One attack.
pub struct AttackLine {
    name: String,
    year: u16,
    cves: String,
    note: String,
}

/// A curated page, as paragraphs.
pub struct PageView {
    title: String,
    /// The name admins know the service by.
    name: String,
    /// IANA's name, where it is not `name` (it belongs to another service).
    iana: Option<String>,
    transports: String,
    summary: String,
    description: Vec<String>,
    history: Vec<String>,
    software: Vec<String>,
    lan_risk: Vec<String>,
    internet_risk: Vec<String>,
    safe_policy: Vec<String>,
    attacks: Vec<AttackLine>,
    /// Related ports with the name admins know each by.
    related: Vec<(u16, String)>,
}

/// One step of a plan.
pub struct StepLine {
    say: String,
    run: String,
}

/// The plan for one platform, by stage.
pub struct PlatformPlan {
    platform: &'static str,
    id: String,
    close: Vec<StepLine>,
    harden: Vec<StepLine>,
    verify: Vec<StepLine>,
    unavailable: Option<String>,
}

#[derive(Template)]
#[template(path = "port.html")]
struct PortPage {
    chrome: Chrome,
    port: u16,
    label: String,
    headline: String,
    risks: Vec<RiskLine>,
    registry: Vec<(String, String, String)>,
    pages: Vec<PageView>,
    plan: PlatformPlan,
    /// Why this platform's plan is the one shown.
    chosen_because: String,
    other_platforms: Vec<PlatformLink>,
    other_transports: Vec<(String, String)>,
}

/// Words in what a host's services say about themselves, and the platform each points to
/// (checked in this order: a Samba server is closed in Samba's configuration first).
const HINTS: [(&str, Platform); 12] = [
    ("samba", Platform::Samba),
    ("windows", Platform::Windows),
    ("microsoft", Platform::Windows),
    ("ubuntu", Platform::Ufw),
    ("debian", Platform::Ufw),
    ("fedora", Platform::Firewalld),
    ("red hat", Platform::Firewalld),
    ("centos", Platform::Firewalld),
    ("rocky", Platform::Firewalld),
    ("almalinux", Platform::Firewalld),
    ("darwin", Platform::Macos),
    ("macos", Platform::Macos),
];

/// The platform that what a host's open ports answered points to, with the word that says
/// so: a banner or detail (not a service name) naming a system, else Windows when RDP (3389/tcp) or MSRPC
/// (135/tcp) is open. A Samba hint counts only for Samba's own ports.
pub fn guess_platform(port: u16, spans: &[SpanRow]) -> Option<(Platform, String)> {
    let open: Vec<&SpanRow> = spans
        .iter()
        .filter(|s| s.to_scan.is_none() && s.snapshot.state == PortState::Open)
        .collect();
    // What the services said (banners, SMB and NetBIOS details), not the registry's service
    // names: 445's is "microsoft-ds" on every system.
    let text = open
        .iter()
        .map(|s| serde_json::to_string(&s.snapshot.details).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    let samba_port = matches!(port, 137..=139 | 445);
    for (word, platform) in HINTS {
        if platform == Platform::Samba && !samba_port {
            continue;
        }
        if text.contains(word) {
            return Some((platform, format!("its services mention \"{word}\"")));
        }
    }
    open.iter()
        .find(|s| s.proto == Proto::Tcp && matches!(s.port, 3389 | 135))
        .map(|s| (Platform::Windows, format!("{}/tcp is open on it", s.port)))
}

fn page_view(p: &portwatch_kb::Page) -> PageView {
    PageView {
        title: p.title.clone(),
        // The name admins know first; IANA's stays visible where it belongs to another service.
        name: p.known_name().to_owned(),
        iana: p.known_as.as_ref().map(|_| p.name.clone()),
        transports: p
            .transports
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        summary: p.summary.clone(),
        description: paragraphs(&p.description),
        history: paragraphs(&p.history),
        software: p.software.clone(),
        lan_risk: paragraphs(&p.lan_risk),
        internet_risk: paragraphs(&p.internet_risk),
        safe_policy: paragraphs(&p.safe_policy),
        attacks: p
            .attacks
            .iter()
            .map(|a| AttackLine {
                name: a.name.clone(),
                year: a.year,
                cves: a.cves.join(", "),
                note: a.note.clone(),
            })
            .collect(),
        related: p
            .related
            .iter()
            .map(|&port| {
                let name = portwatch_kb::pages::pages_for_port(port)
                    .first()
                    .map_or_else(String::new, |rp| rp.known_name().to_owned());
                (port, name)
            })
            .collect(),
    }
}

fn plan_for(port: u16, transport: Option<Transport>, platform: Platform) -> PlatformPlan {
    let mut out = PlatformPlan {
        platform: platform.as_str(),
        id: format!("fix-{}", platform.as_str()),
        close: Vec::new(),
        harden: Vec::new(),
        verify: Vec::new(),
        unavailable: None,
    };
    match fix::plan(u32::from(port), transport, platform, None) {
        Ok(plan) => {
            for s in plan.steps {
                let line = StepLine {
                    say: s.say,
                    run: s.run,
                };
                match s.stage {
                    Stage::Close => out.close.push(line),
                    Stage::Harden => out.harden.push(line),
                    Stage::Verify => out.verify.push(line),
                }
            }
        }
        Err(e) => out.unavailable = Some(e.to_string()),
    }
    out
}

/// `GET /ports/{port}`.
pub async fn port(
    State(state): State<AppState>,
    Page(user): Page,
    Path(text): Path<String>,
    Query(q): Query<PortQuery>,
) -> Result<Response, PageError> {
    let number: u32 = text.trim().parse().map_err(|_| {
        PageError::BadRequest(format!("\"{text}\" is not a port number (1-65535)."))
    })?;
    let transport = match q.proto.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => Some(p.parse::<Transport>().map_err(|_| {
            PageError::BadRequest(format!(
                "\"{p}\" is not a transport; use proto=tcp, udp or sctp."
            ))
        })?),
    };
    let asked = match q
        .platform
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        None => None,
        Some(p) => Some(
            p.parse::<Platform>()
                .map_err(|e| PageError::BadRequest(format!("{e}.")))?,
        ),
    };
    let host = match q.host.as_deref().map(str::trim).filter(|h| !h.is_empty()) {
        None => None,
        Some(h) => Some(h.parse::<IpAddr>().map_err(|_| {
            PageError::BadRequest(format!("\"{h}\" is not an IPv4 or IPv6 address."))
        })?),
    };
    let e = portwatch_kb::explain(number, transport)
        .map_err(|_| PageError::NotFound(format!("{number} is not a port number (1-65535).")))?;
    let guessed = match (asked, host) {
        (None, Some(addr)) => guess_platform(e.port, &state.store().history(addr, None).await?),
        _ => None,
    };
    let (platform, chosen_because) = match (asked, guessed, host) {
        (Some(p), ..) => (p, "chosen on this page".to_string()),
        (None, Some((p, why)), Some(addr)) => (p, format!("guessed for {addr}: {why}")),
        (None, _, Some(addr)) => (
            DEFAULT_PLATFORM,
            format!("nothing {addr} answered names its system, so the default is shown"),
        ),
        (None, ..) => (
            DEFAULT_PLATFORM,
            "no host or platform was given, so the default is shown".to_string(),
        ),
    };
    let label = match transport {
        Some(t) => format!("{}/{t}", e.port),
        None => e.port.to_string(),
    };
    let link = |platform: Option<Platform>| {
        let mut params = Vec::new();
        if let Some(t) = transport {
            params.push(format!("proto={t}"));
        }
        if let Some(p) = platform {
            params.push(format!("platform={p}"));
        }
        if let Some(h) = host {
            params.push(format!("host={}", encode_component(&h.to_string())));
        }
        if params.is_empty() {
            format!("/ports/{}", e.port)
        } else {
            format!("/ports/{}?{}", e.port, params.join("&"))
        }
    };
    let here = link(asked);
    let other_platforms = Platform::ALL
        .iter()
        .copied()
        .filter(|p| *p != platform)
        .map(|p| PlatformLink {
            name: p.as_str(),
            url: link(Some(p)),
        })
        .collect();
    let other_transports = match transport {
        Some(t) => Transport::ALL
            .iter()
            .copied()
            .filter(|o| *o != t && *o != Transport::Sctp)
            .map(|o| {
                (
                    format!("{}/{o}", e.port),
                    format!("/ports/{}?proto={o}", e.port),
                )
            })
            .chain([(
                format!("{} on every transport", e.port),
                format!("/ports/{}", e.port),
            )])
            .collect(),
        None => Vec::new(),
    };
    let page = PortPage {
        chrome: Chrome::new(&user, Section::Ports, here, Actions::Withheld)
            .with_flash(state.take_flash(&user)),
        port: e.port,
        label,
        headline: e.headline.clone(),
        risks: e
            .risks
            .iter()
            .map(|r| RiskLine {
                transport: r.transport,
                lan: r.lan,
                lan_class: format::severity_class(r.lan),
                internet: r.internet,
                internet_class: format::severity_class(r.internet),
                from_page: r.page,
            })
            .collect(),
        registry: e
            .registry
            .iter()
            .map(|r| {
                (
                    r.transport.to_string(),
                    r.name.to_string(),
                    r.description.to_string(),
                )
            })
            .collect(),
        pages: e.pages.iter().map(|p| page_view(p)).collect(),
        plan: plan_for(e.port, transport, platform),
        chosen_because,
        other_platforms,
        other_transports,
    };
    Ok(render(&page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use portwatch_model::Reason;
    use portwatch_store::{PortSnapshot, ScanId};

    fn open(port: u16, details: serde_json::Value) -> SpanRow {
        SpanRow {
            host: "10.0.0.5".parse().unwrap(),
            vantage: "local".into(),
            hostname: None,
            port,
            proto: Proto::Tcp,
            snapshot: PortSnapshot {
                state: PortState::Open,
                reason: Reason::SynAck,
                service: Some("microsoft-ds".into()),
                details: serde_json::from_value(details).unwrap(),
            },
            from_scan: ScanId(1),
            from_at: 0,
            to_scan: None,
            to_at: None,
        }
    }

    #[test]
    fn the_platform_is_guessed_from_what_the_services_said() {
        let debian = open(
            22,
            serde_json::json!({"banner": {"text": "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"}}),
        );
        assert_eq!(
            guess_platform(22, std::slice::from_ref(&debian)).map(|g| g.0),
            Some(Platform::Ufw)
        );
        let samba = open(445, serde_json::json!({"smb": {"native_os": "Samba 4.17"}}));
        let both = [debian.clone(), samba];
        assert_eq!(
            guess_platform(445, &both).map(|g| g.0),
            Some(Platform::Samba)
        );
        // Samba's configuration does not close SSH: the next hint counts.
        assert_eq!(guess_platform(22, &both).map(|g| g.0), Some(Platform::Ufw));
        // RDP open: Windows; a service name alone ("microsoft-ds") is no hint.
        let plain = open(445, serde_json::json!({}));
        assert_eq!(guess_platform(445, std::slice::from_ref(&plain)), None);
        let rdp = [plain, open(3389, serde_json::json!({}))];
        let (platform, why) = guess_platform(445, &rdp).unwrap();
        assert_eq!(platform, Platform::Windows);
        assert!(why.contains("3389/tcp"), "{why}");
        // A port no longer open says nothing.
        let mut closed = debian;
        closed.to_scan = Some(ScanId(2));
        assert_eq!(guess_platform(22, &[closed]), None);
    }
}
