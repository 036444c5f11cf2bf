//! `/api/v1/hosts`: every host ever found up, one host with its open ports and their risk, and
//! a host's history of port states.

use super::extract::{ApiPath, parse_addr};
use super::model::{
    ErrorBody, HostPortRisk, IpAddress, Page, PortSpan, ProtoName, ScanSummary, time,
};
use super::query::{ApiQuery, FromQuery, NoQuery, Pagination, QueryParams};
use crate::auth::User;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use portwatch_model::Proto;
use portwatch_store::{HostFilter, HostRow};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

/// How many recent scans a host's page lists.
const RECENT_SCANS: u32 = 10;

/// One host.
#[derive(Debug, Serialize, ToSchema)]
pub struct HostSummary {
    /// Its address.
    #[schema(example = "10.0.0.5")]
    pub address: String,
    /// The vantage it was observed from (one entry per address and vantage).
    #[schema(example = "local")]
    pub vantage: String,
    /// Its name, if one was ever given.
    pub hostname: Option<String>,
    /// When a complete scan first found it up.
    #[schema(format = DateTime)]
    pub first_seen: Option<String>,
    /// When a complete scan last found it up.
    #[schema(format = DateTime)]
    pub last_seen: Option<String>,
    /// That scan.
    pub last_scan_id: Option<i64>,
    /// Ports open (or open|filtered) now.
    pub open_ports: u64,
}

impl From<&HostRow> for HostSummary {
    fn from(h: &HostRow) -> Self {
        HostSummary {
            address: h.addr.to_string(),
            vantage: h.vantage.clone(),
            hostname: h.hostname.clone(),
            first_seen: h.first_seen_at.map(time),
            last_seen: h.last_seen_at.map(time),
            last_scan_id: h.last_scan_id.map(|id| id.0),
            open_ports: h.open_ports,
        }
    }
}

/// A port open on a host now, with what the knowledge base says about it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenPort {
    /// The state, where it came from and what answered.
    #[serde(flatten)]
    pub span: PortSpan,
    /// One sentence on what the port is.
    pub headline: Option<String>,
    /// How risky it is on this host.
    pub risk: HostPortRisk,
}

/// One host, its open ports and its recent scans.
#[derive(Debug, Serialize, ToSchema)]
pub struct HostDetail {
    /// The host.
    pub host: HostSummary,
    /// Its ports open now, by transport and port.
    pub ports: Vec<OpenPort>,
    /// The newest complete scans that covered it, newest first.
    pub recent_scans: Vec<ScanSummary>,
}

/// A host's history: every remembered state of its ports.
#[derive(Debug, Serialize, ToSchema)]
pub struct HostHistory {
    /// The host.
    #[schema(example = "10.0.0.5")]
    pub address: String,
    /// The spans, by transport, port and time.
    pub spans: Vec<PortSpan>,
}

/// Filters and pagination of the host list.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HostsQuery {
    /// Part of the address or hostname (letters, digits, `.`, `:`, `-`, `_`), case-insensitive.
    #[param(min_length = 1, max_length = 255, pattern = r"^[A-Za-z0-9.:_-]+$")]
    pub q: Option<String>,
    /// Only hosts with (`true`) or without (`false`) open ports now.
    pub has_open: Option<bool>,
    /// Only hosts as this vantage observed them (`local`, `lan`, `internet`, …).
    #[param(pattern = r"^[a-z0-9-]{1,32}$")]
    pub vantage: Option<String>,
    /// Items per page.
    #[param(minimum = 1, maximum = 500, default = 50)]
    pub limit: Option<u32>,
    /// Items to skip (up to 4294967295).
    #[param(minimum = 0, maximum = 4_294_967_295.0, format = Int64, default = 0)]
    pub offset: Option<u32>,
}

impl FromQuery for HostsQuery {
    fn from_query(p: &mut QueryParams) -> Result<Self, ApiError> {
        Ok(HostsQuery {
            q: p.text("q", search_char, "letters, digits, '.', ':', '-' and '_'")?
                .map(|q| q.to_ascii_lowercase()),
            has_open: p.boolean("has_open")?,
            vantage: p.vantage()?,
            limit: p.limit()?,
            offset: p.offset()?,
        })
    }
}

/// Filters of a host's history.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Only this port.
    #[param(minimum = 1, maximum = 65535)]
    pub port: Option<u16>,
    /// Only this transport.
    #[param(inline)]
    pub proto: Option<ProtoName>,
}

impl FromQuery for HistoryQuery {
    fn from_query(p: &mut QueryParams) -> Result<Self, ApiError> {
        Ok(HistoryQuery {
            port: p.port("port")?,
            proto: p.choice("proto")?,
        })
    }
}

/// Characters an address or hostname may contain.
fn search_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '_')
}

/// Lists hosts.
#[utoipa::path(
    get,
    path = "/hosts",
    operation_id = "list_hosts",
    tag = "hosts",
    params(HostsQuery),
    responses(
        (status = 200, description = "A page of hosts, by address then vantage", body = Page<HostSummary>),
        (status = 400, description = "A bad query parameter", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    _user: User,
    ApiQuery(query): ApiQuery<HostsQuery>,
) -> Result<Json<Page<HostSummary>>, ApiError> {
    let HostsQuery {
        q,
        has_open,
        vantage,
        limit,
        offset,
    } = query;
    let pagination = Pagination::new(limit, offset);
    let filter = HostFilter {
        q,
        has_open,
        vantage,
    };
    let page = state
        .store()
        .host_page(&filter, pagination.limit, pagination.offset)
        .await?;
    let items = page.hosts.iter().map(HostSummary::from).collect();
    Ok(Json(pagination.answer(items, page.total)))
}

/// The host at `addr`, or 404.
async fn find_host(state: &AppState, addr: std::net::IpAddr) -> Result<HostRow, ApiError> {
    state
        .store()
        .host(addr)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no host {addr} in the history")))
}

/// One host: its open ports with their risk, and its recent scans.
#[utoipa::path(
    get,
    path = "/hosts/{addr}",
    operation_id = "get_host",
    tag = "hosts",
    params(("addr" = inline(IpAddress), Path, description = "IPv4 or IPv6 address", example = "10.0.0.5")),
    responses(
        (status = 200, description = "The host", body = HostDetail),
        (status = 400, description = "Not an IP address", body = ErrorBody),
        (status = 404, description = "No such host in the history", body = ErrorBody),
    )
)]
pub async fn detail(
    State(state): State<AppState>,
    _user: User,
    ApiPath(addr): ApiPath<String>,
    _query: ApiQuery<NoQuery>,
) -> Result<Json<HostDetail>, ApiError> {
    let addr = parse_addr(&addr)?;
    let host = find_host(&state, addr).await?;
    let spans = state.store().history(addr, None).await?;
    let vantages = state.vantages().await;
    let ports = spans
        .iter()
        .filter(|s| s.to_scan.is_none())
        .map(|s| OpenPort {
            span: PortSpan::from(s),
            headline: portwatch_kb::explain(u32::from(s.port), Some(s.proto.transport()))
                .ok()
                .map(|e| e.headline),
            risk: HostPortRisk::of(
                portwatch_monitor::config::vantage::named(&vantages, &s.vantage).exposure_of(addr),
                s.port,
                s.proto,
            ),
        })
        .collect();
    let recent_scans = state
        .store()
        .last_complete_scans(addr, RECENT_SCANS)
        .await?
        .iter()
        .map(ScanSummary::from)
        .collect();
    Ok(Json(HostDetail {
        host: HostSummary::from(&host),
        ports,
        recent_scans,
    }))
}

/// A host's history of port states.
#[utoipa::path(
    get,
    path = "/hosts/{addr}/history",
    operation_id = "get_host_history",
    tag = "hosts",
    params(
        ("addr" = inline(IpAddress), Path, description = "IPv4 or IPv6 address", example = "10.0.0.5"),
        HistoryQuery,
    ),
    responses(
        (status = 200, description = "The host's spans", body = HostHistory),
        (status = 400, description = "A bad address or query parameter", body = ErrorBody),
        (status = 404, description = "No such host in the history", body = ErrorBody),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    _user: User,
    ApiPath(addr): ApiPath<String>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<HostHistory>, ApiError> {
    let addr = parse_addr(&addr)?;
    let port = query.port;
    let proto: Option<Proto> = query.proto.map(Proto::from);
    find_host(&state, addr).await?;
    let spans = match (port, proto) {
        (Some(port), Some(proto)) => state.store().history(addr, Some((port, proto))).await?,
        _ => state.store().history(addr, None).await?,
    };
    let spans = spans
        .iter()
        .filter(|s| port.is_none_or(|p| s.port == p) && proto.is_none_or(|t| s.proto == t))
        .map(PortSpan::from)
        .collect();
    Ok(Json(HostHistory {
        address: addr.to_string(),
        spans,
    }))
}
