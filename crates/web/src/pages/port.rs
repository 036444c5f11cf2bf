//! `GET /ports/{port}?proto=`: the knowledge base's page for a port (what it is, its history,
//! its risks and attacks, a safe policy) and the commands that close it on every platform.

use super::error::PageError;
use super::format::{self, paragraphs};
use super::layout::{Chrome, Section};
use super::render;
use crate::auth::Page;
use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Response;
use portwatch_kb::fix::{self, Platform, Stage};
use portwatch_kb::{Severity, Transport};
use serde::Deserialize;

/// The port page's query.
#[derive(Debug, Default, Deserialize)]
pub struct PortQuery {
    proto: Option<String>,
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
    name: String,
    transports: String,
    summary: String,
    description: Vec<String>,
    history: Vec<String>,
    software: Vec<String>,
    lan_risk: Vec<String>,
    internet_risk: Vec<String>,
    safe_policy: Vec<String>,
    attacks: Vec<AttackLine>,
    related: Vec<u16>,
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
    plans: Vec<PlatformPlan>,
    other_transports: Vec<(String, String)>,
}

fn page_view(p: &portwatch_kb::Page) -> PageView {
    PageView {
        title: p.title.clone(),
        name: p.name.clone(),
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
        related: p.related.clone(),
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
    let e = portwatch_kb::explain(number, transport)
        .map_err(|_| PageError::NotFound(format!("{number} is not a port number (1-65535).")))?;
    let label = match transport {
        Some(t) => format!("{}/{t}", e.port),
        None => e.port.to_string(),
    };
    let here = match transport {
        Some(t) => format!("/ports/{}?proto={t}", e.port),
        None => format!("/ports/{}", e.port),
    };
    let other_transports = match transport {
        Some(t) => Transport::ALL
            .into_iter()
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
        chrome: Chrome::new(&user, Section::Ports, here, false),
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
        plans: Platform::ALL
            .into_iter()
            .map(|p| plan_for(e.port, transport, p))
            .collect(),
        other_transports,
    };
    Ok(render(&page))
}
