//! Shapes shared by several resources: errors, pages, scans, spans, risks and the small
//! vocabularies (transport, severity, scan status) with their accepted words.

use super::query::Choice;
use portwatch_model::Proto;
use portwatch_store::{ScanRow, ScanStatus, SpanRow};
use serde::Serialize;
use utoipa::ToSchema;

/// Every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong and, where possible, what to send instead.
    #[schema(example = "query parameter 'limit': '0' is not a whole number from 1 to 500")]
    pub error: String,
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// How many items match in all.
    pub total: u64,
    /// The page size asked for.
    pub limit: u32,
    /// How many matching items come before this page.
    #[schema(format = Int64, maximum = 4_294_967_295.0)]
    pub offset: u32,
}

/// The schema of an IPv4 or IPv6 address in a path: exactly what the server parses.
pub struct IpAddress;

impl utoipa::PartialSchema for IpAddress {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type,
        };
        let address = |format| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(format)))
        };
        OneOfBuilder::new()
            .item(address(KnownFormat::Ipv4))
            .item(address(KnownFormat::Ipv6))
            .into()
    }
}

impl ToSchema for IpAddress {}

/// A Unix time in milliseconds as RFC 3339 UTC (`2026-05-01T12:00:00.000Z`).
pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    )
}

/// A transport protocol of a scanned port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProtoName {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Choice for ProtoName {
    const CHOICES: &'static [(&'static str, Self)] = &[("tcp", Self::Tcp), ("udp", Self::Udp)];
}

impl From<Proto> for ProtoName {
    fn from(p: Proto) -> Self {
        match p {
            Proto::Tcp => Self::Tcp,
            Proto::Udp => Self::Udp,
        }
    }
}

impl From<ProtoName> for Proto {
    fn from(p: ProtoName) -> Self {
        match p {
            ProtoName::Tcp => Proto::Tcp,
            ProtoName::Udp => Proto::Udp,
        }
    }
}

/// How bad an exposure or a violation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SeverityName {
    /// Harmless.
    None,
    /// Normally fine when patched.
    Low,
    /// Configuration decides.
    Medium,
    /// A serious exposure.
    High,
    /// Routinely exploited.
    Critical,
}

impl Choice for SeverityName {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("none", Self::None),
        ("low", Self::Low),
        ("medium", Self::Medium),
        ("high", Self::High),
        ("critical", Self::Critical),
    ];
}

impl From<portwatch_kb::Severity> for SeverityName {
    fn from(s: portwatch_kb::Severity) -> Self {
        use portwatch_kb::Severity as S;
        match s {
            S::None => Self::None,
            S::Low => Self::Low,
            S::Medium => Self::Medium,
            S::High => Self::High,
            S::Critical => Self::Critical,
        }
    }
}

/// Where a scan is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScanStatusName {
    /// Begun, not finished.
    Running,
    /// Finished and applied to the history.
    Complete,
    /// Its process died; nothing of it was applied.
    Incomplete,
    /// It failed; nothing of it was applied.
    Failed,
}

impl Choice for ScanStatusName {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("running", Self::Running),
        ("complete", Self::Complete),
        ("incomplete", Self::Incomplete),
        ("failed", Self::Failed),
    ];
}

impl From<ScanStatusName> for ScanStatus {
    fn from(s: ScanStatusName) -> Self {
        match s {
            ScanStatusName::Running => Self::Running,
            ScanStatusName::Complete => Self::Complete,
            ScanStatusName::Incomplete => Self::Incomplete,
            ScanStatusName::Failed => Self::Failed,
        }
    }
}

impl From<ScanStatus> for ScanStatusName {
    fn from(s: ScanStatus) -> Self {
        match s {
            ScanStatus::Running => Self::Running,
            ScanStatus::Complete => Self::Complete,
            ScanStatus::Incomplete => Self::Incomplete,
            ScanStatus::Failed => Self::Failed,
        }
    }
}

/// Counts of a complete scan.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanCountsView {
    /// Hosts that answered.
    pub hosts_up: u64,
    /// Hosts that did not.
    pub hosts_down: u64,
    /// `open` ports found.
    pub open: u64,
    /// `open|filtered` ports found.
    pub open_filtered: u64,
}

/// One scan.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanSummary {
    /// Its id.
    pub id: i64,
    /// Its status.
    pub status: ScanStatusName,
    /// Who ran it: `scan`, `check`, `monitor:GROUP`…
    #[schema(example = "monitor:file-servers")]
    pub source: String,
    /// Where it observed from (`local`: this server).
    #[schema(example = "local")]
    pub vantage: String,
    /// When it began.
    #[schema(format = DateTime)]
    pub started: String,
    /// When it completed, failed or was given up.
    #[schema(format = DateTime)]
    pub finished: Option<String>,
    /// Its targets as given.
    pub targets: Vec<String>,
    /// Its ports, as a port spec.
    #[schema(example = "T:22,80-90,U:53")]
    pub ports: String,
    /// The machine that ran it.
    pub machine: Option<String>,
    /// Counts (complete scans only).
    pub counts: Option<ScanCountsView>,
    /// Why it failed or was given up.
    pub error: Option<String>,
}

impl From<&ScanRow> for ScanSummary {
    fn from(s: &ScanRow) -> Self {
        ScanSummary {
            id: s.id.0,
            status: s.status.into(),
            source: s.source.clone(),
            vantage: s.vantage.clone(),
            started: time(s.started_at),
            finished: s.finished_at.map(time),
            targets: s.targets.clone(),
            ports: s.ports.clone(),
            machine: s.machine.clone(),
            counts: s.counts.map(|c| ScanCountsView {
                hosts_up: c.hosts_up,
                hosts_down: c.hosts_down,
                open: c.open,
                open_filtered: c.open_filtered,
            }),
            error: s.error.clone(),
        }
    }
}

/// One remembered state of one port, from the scan that found it to the one that found it gone.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortSpan {
    /// The host.
    #[schema(example = "10.0.0.5")]
    pub address: String,
    /// The vantage the state was observed from (`local`: this server).
    #[schema(example = "local")]
    pub vantage: String,
    /// Its name, if known.
    pub hostname: Option<String>,
    /// The port.
    pub port: u16,
    /// Its transport.
    pub proto: ProtoName,
    /// `open` or `open|filtered`.
    #[schema(example = "open")]
    pub state: String,
    /// Why, as seen by the scan that found it.
    #[schema(example = "syn-ack")]
    pub reason: String,
    /// The service that answered, if identified.
    pub service: Option<String>,
    /// Protocol details (NetBIOS names, SMB dialects, banners).
    #[schema(value_type = Object)]
    pub details: serde_json::Map<String, serde_json::Value>,
    /// The scan that found this state.
    pub from_scan: i64,
    /// When that scan completed.
    #[schema(format = DateTime)]
    pub from: String,
    /// The scan that found it gone (null: still current).
    pub to_scan: Option<i64>,
    /// When that scan completed.
    #[schema(format = DateTime)]
    pub to: Option<String>,
}

impl From<&SpanRow> for PortSpan {
    fn from(s: &SpanRow) -> Self {
        PortSpan {
            address: s.host.to_string(),
            vantage: s.vantage.clone(),
            hostname: s.hostname.clone(),
            port: s.port,
            proto: s.proto.into(),
            state: s.snapshot.state.as_str().to_string(),
            reason: s.snapshot.reason.as_str().to_string(),
            service: s.snapshot.service.clone(),
            details: s.snapshot.details.clone(),
            from_scan: s.from_scan.0,
            from: time(s.from_at),
            to_scan: s.to_scan.map(|id| id.0),
            to: s.to_at.map(time),
        }
    }
}

// Not the engine's `portwatch_model::PortRisk` (a port's ratings, whatever the host): this one
// is judged by the host's exposure. The OpenAPI document keeps calling it `PortRisk`, as it
// always has, so generated clients do not change.
/// The knowledge base's risk of an open port on this host.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PortRisk)]
pub struct HostPortRisk {
    /// `loopback` (this machine only), `lan` (private, link-local, unique-local, CGNAT) or
    /// `internet`.
    #[schema(example = "lan")]
    pub exposure: String,
    /// The severity that applies to this exposure.
    pub severity: SeverityName,
    /// Severity when reachable only from the local network.
    pub lan: SeverityName,
    /// Severity when reachable from the internet.
    pub internet: SeverityName,
    /// Whether a curated page gave these values (false: defaults).
    pub from_page: bool,
}

impl HostPortRisk {
    /// The risk of `port`/`proto` open where it can be reached from `exposure` (the vantage's
    /// reach, [`portwatch_monitor::config::vantage::named`]).
    pub fn of(exposure: portwatch_kb::Exposure, port: u16, proto: Proto) -> Self {
        let r = portwatch_kb::risk(port, proto.transport());
        let severity = r.at(exposure);
        HostPortRisk {
            exposure: exposure.as_str().to_string(),
            severity: severity.into(),
            lan: r.lan.into(),
            internet: r.internet.into(),
            from_page: r.page,
        }
    }
}
