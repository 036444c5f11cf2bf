//! `/api/v1/ports/{port}`: what the knowledge base knows about a port: its IANA assignments,
//! its risk pages and its risk on each transport.

use super::extract::{ApiPath, parse_port};
use super::model::{ErrorBody, SeverityName};
use super::query::{ApiQuery, Choice, FromQuery, QueryParams};
use crate::auth::User;
use crate::error::ApiError;
use axum::Json;
use portwatch_kb::Transport;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

/// A transport a port number belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TransportName {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Choice for TransportName {
    const CHOICES: &'static [(&'static str, Self)] =
        &[("tcp", Self::Tcp), ("udp", Self::Udp), ("sctp", Self::Sctp)];
}

impl From<Transport> for TransportName {
    fn from(t: Transport) -> Self {
        match t {
            Transport::Tcp => Self::Tcp,
            Transport::Udp => Self::Udp,
            Transport::Sctp => Self::Sctp,
        }
    }
}

impl From<TransportName> for Transport {
    fn from(t: TransportName) -> Self {
        match t {
            TransportName::Tcp => Transport::Tcp,
            TransportName::Udp => Transport::Udp,
            TransportName::Sctp => Transport::Sctp,
        }
    }
}

/// One IANA assignment.
#[derive(Debug, Serialize, ToSchema)]
pub struct Assignment {
    /// The transport.
    pub transport: TransportName,
    /// IANA's service name.
    #[schema(example = "microsoft-ds")]
    pub name: String,
    /// IANA's short description.
    pub description: String,
}

/// A notable attack on the service.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttackView {
    /// Its common name.
    pub name: String,
    /// When it became public.
    pub year: u16,
    /// CVE ids.
    pub cves: Vec<String>,
    /// What it was.
    pub note: String,
}

/// A hardening step.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepView {
    /// What the step does and why.
    pub say: String,
    /// The command or configuration line.
    pub run: String,
}

/// Service-level hardening, by platform family.
#[derive(Debug, Serialize, ToSchema)]
pub struct HardeningView {
    /// Linux hosts.
    pub linux: Vec<StepView>,
    /// Windows hosts (PowerShell).
    pub windows: Vec<StepView>,
    /// macOS hosts.
    pub macos: Vec<StepView>,
    /// Samba's `smb.conf`.
    pub samba: Vec<StepView>,
}

/// A curated risk page.
#[derive(Debug, Serialize, ToSchema)]
pub struct RiskPage {
    /// The service keyword.
    pub name: String,
    /// A short title.
    pub title: String,
    /// The transports it covers.
    pub transports: Vec<TransportName>,
    /// What it is and the headline risk.
    pub summary: String,
    /// What the service does.
    pub description: String,
    /// Where it came from.
    pub history: String,
    /// Typical software behind it.
    pub software: Vec<String>,
    /// Severity when reachable only from the local network.
    pub lan_severity: SeverityName,
    /// Severity when reachable from the internet.
    pub internet_severity: SeverityName,
    /// Why, on the local network.
    pub lan_risk: String,
    /// Why, on the internet.
    pub internet_risk: String,
    /// Who should reach it and what to use instead.
    pub safe_policy: String,
    /// Ports that belong with this one.
    pub related: Vec<u16>,
    /// Notable attacks.
    pub attacks: Vec<AttackView>,
    /// Hardening steps.
    pub hardening: HardeningView,
}

/// The risk on one transport.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransportRiskView {
    /// The transport.
    pub transport: TransportName,
    /// Severity when reachable only from the local network.
    pub lan: SeverityName,
    /// Severity when reachable from the internet.
    pub internet: SeverityName,
    /// Whether a page gave these values (false: defaults).
    pub from_page: bool,
}

/// Everything known about a port.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortInfo {
    /// The port.
    pub port: u16,
    /// The transport asked about (null: all).
    pub proto: Option<TransportName>,
    /// One sentence: what the port is.
    pub headline: String,
    /// Whether IANA assigns it.
    pub assigned: bool,
    /// IANA's assignments.
    pub registry: Vec<Assignment>,
    /// Curated risk pages.
    pub pages: Vec<RiskPage>,
    /// Risk per transport.
    pub risks: Vec<TransportRiskView>,
}

fn steps(list: &[portwatch_kb::pages::FixStep]) -> Vec<StepView> {
    list.iter()
        .map(|s| StepView {
            say: s.say.clone(),
            run: s.run.clone(),
        })
        .collect()
}

impl From<&portwatch_kb::Page> for RiskPage {
    fn from(p: &portwatch_kb::Page) -> Self {
        RiskPage {
            name: p.name.clone(),
            title: p.title.clone(),
            transports: p.transports.iter().map(|t| (*t).into()).collect(),
            summary: p.summary.clone(),
            description: p.description.clone(),
            history: p.history.clone(),
            software: p.software.clone(),
            lan_severity: p.lan_severity.into(),
            internet_severity: p.internet_severity.into(),
            lan_risk: p.lan_risk.clone(),
            internet_risk: p.internet_risk.clone(),
            safe_policy: p.safe_policy.clone(),
            related: p.related.clone(),
            attacks: p
                .attacks
                .iter()
                .map(|a| AttackView {
                    name: a.name.clone(),
                    year: a.year,
                    cves: a.cves.clone(),
                    note: a.note.clone(),
                })
                .collect(),
            hardening: HardeningView {
                linux: steps(&p.fix.linux),
                windows: steps(&p.fix.windows),
                macos: steps(&p.fix.macos),
                samba: steps(&p.fix.samba),
            },
        }
    }
}

/// Which transport to explain.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PortQuery {
    /// Only this transport (default: every transport the port has).
    #[param(inline)]
    pub proto: Option<TransportName>,
}

impl FromQuery for PortQuery {
    fn from_query(p: &mut QueryParams) -> Result<Self, ApiError> {
        Ok(PortQuery {
            proto: p.choice("proto")?,
        })
    }
}

/// What a port is and how risky it is.
#[utoipa::path(
    get,
    path = "/ports/{port}",
    operation_id = "explain_port",
    tag = "ports",
    params(("port" = u16, Path, description = "Port number", minimum = 1, maximum = 65535, example = 445), PortQuery),
    responses(
        (status = 200, description = "The explanation", body = PortInfo),
        (status = 400, description = "Not a port number, or a bad query parameter", body = ErrorBody),
    )
)]
pub async fn explain(
    _user: User,
    ApiPath(port): ApiPath<String>,
    ApiQuery(query): ApiQuery<PortQuery>,
) -> Result<Json<PortInfo>, ApiError> {
    let port = parse_port(&port, "path", "port")?;
    let e = portwatch_kb::explain(u32::from(port), query.proto.map(Transport::from))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(Json(PortInfo {
        port: e.port,
        proto: e.transport.map(TransportName::from),
        headline: e.headline,
        assigned: e.assigned,
        registry: e
            .registry
            .iter()
            .map(|r| Assignment {
                transport: r.transport.into(),
                name: r.name.to_string(),
                description: r.description.to_string(),
            })
            .collect(),
        pages: e.pages.iter().map(|p| RiskPage::from(*p)).collect(),
        risks: e
            .risks
            .iter()
            .map(|r| TransportRiskView {
                transport: r.transport.into(),
                lan: r.lan.into(),
                internet: r.internet.into(),
                from_page: r.page,
            })
            .collect(),
    }))
}
