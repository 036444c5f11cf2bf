//! `GET /hosts/{addr}`: a host's open ports with what answered and their risk where the host
//! is, a timeline per port (coloured by that risk, on a date axis), its violations, and the alerts sent about it.

use super::details::{self, Fact};
use super::error::PageError;
use super::exposure::Ratings;
use super::format::{self, encode_component};
use super::layout::{Chrome, Section};
use super::render;
use super::source::{self, Violation};
use super::svg::{self, TimeAxis, TimelineRow};
use crate::auth::Page;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use portwatch_kb::Severity;
use portwatch_monitor::notify::Alert;
use portwatch_store::{OutboxRow, SpanRow};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// How many of the newest outbox messages are searched for a host's alerts.
pub const OUTBOX_SEARCHED: u32 = 2_000;
/// Outbox messages read per query.
const OUTBOX_PAGE: u32 = 500;

/// A port open now.
pub struct OpenPort {
    label: String,
    url: String,
    state: String,
    reason: String,
    service: Option<String>,
    severity: Severity,
    severity_class: &'static str,
    since: String,
    since_iso: String,
    facts: Vec<Fact>,
}

/// One alert about the host (one message, whatever the number of channels).
pub struct AlertLine {
    when: String,
    iso: String,
    kind: &'static str,
    port: Option<String>,
    rule: String,
    severity: Severity,
    severity_class: &'static str,
    channels: String,
    delivery: String,
}

#[derive(Template)]
#[template(path = "host.html")]
struct HostPage {
    chrome: Chrome,
    addr: String,
    hostname: Option<String>,
    location: &'static str,
    first_seen: Option<String>,
    last_seen: Option<String>,
    open: Vec<OpenPort>,
    timelines: Vec<TimelineRow>,
    axis: TimeAxis,
    timeline_from: String,
    violations: Vec<Violation>,
    /// Whether its violations come from more than one vantage (then shown per row).
    multi_vantage: bool,
    alerts: Vec<AlertLine>,
}

fn open_port(s: &SpanRow, ratings: &Ratings) -> OpenPort {
    let severity = ratings.severity(s.host, &s.vantage, s.port, s.proto);
    OpenPort {
        label: format!("{}/{}", s.port, s.proto),
        url: for_host(svg::port_url(s.port, s.proto), s.host),
        state: s.snapshot.state.to_string(),
        reason: s.snapshot.reason.to_string(),
        service: s.snapshot.service.clone(),
        severity,
        severity_class: format::severity_class(severity),
        since: format::when(s.from_at),
        since_iso: format::iso(s.from_at),
        facts: details::facts(&s.snapshot.details),
    }
}

/// A port page's link that names `addr`, so the page shows the fix for that host's platform.
fn for_host(port_url: String, addr: IpAddr) -> String {
    format!("{port_url}&host={}", encode_component(&addr.to_string()))
}

/// The alerts about `addr` among the newest outbox messages, newest first; the channels of
/// one message are folded into one line.
async fn alerts_for(state: &AppState, addr: IpAddr) -> Result<Vec<AlertLine>, PageError> {
    let mut rows: Vec<(Alert, OutboxRow)> = Vec::new();
    let mut offset = 0;
    while offset < OUTBOX_SEARCHED {
        let batch = state.store().outbox_recent(OUTBOX_PAGE, offset).await?;
        let n = batch.len() as u32;
        rows.extend(batch.into_iter().filter_map(|r| {
            let alert: Alert = serde_json::from_value(r.payload.clone()).ok()?;
            (alert.host == addr).then_some((alert, r))
        }));
        if n < OUTBOX_PAGE {
            break;
        }
        offset += n;
    }
    let mut by_message: BTreeMap<(i64, String), Vec<(Alert, OutboxRow)>> = BTreeMap::new();
    for (a, r) in rows {
        by_message
            .entry((-r.created_at, a.key.clone()))
            .or_default()
            .push((a, r));
    }
    Ok(by_message
        .into_values()
        .filter_map(|group| {
            let (alert, first) = group.first()?;
            let channels: Vec<&str> = group.iter().map(|(_, r)| r.channel.as_str()).collect();
            let delivered = group
                .iter()
                .filter(|(_, r)| r.delivered_at.is_some())
                .count();
            let failing = group.iter().find_map(|(_, r)| r.last_error.as_deref());
            let delivery = match (delivered, failing) {
                (d, _) if d == group.len() => "delivered".to_string(),
                (d, Some(e)) => format!("{d} of {} delivered; last error: {e}", group.len()),
                (d, None) => format!("{d} of {} delivered; pending", group.len()),
            };
            Some(AlertLine {
                when: format::when(first.created_at),
                iso: format::iso(first.created_at),
                kind: alert.kind.as_str(),
                port: alert.port_label(),
                rule: alert.rule.clone(),
                severity: alert.severity,
                severity_class: format::severity_class(alert.severity),
                channels: channels.join(", "),
                delivery,
            })
        })
        .collect())
}

/// `GET /hosts/{addr}`.
pub async fn host(
    State(state): State<AppState>,
    Page(user): Page,
    Path(text): Path<String>,
) -> Result<Response, PageError> {
    let addr: IpAddr = text.trim().parse().map_err(|_| {
        PageError::BadRequest(format!("\"{text}\" is not an IPv4 or IPv6 address."))
    })?;
    let now = format::now_ms();
    let (row, spans, violations, alerts, settings) = tokio::join!(
        state.store().host(addr),
        state.store().history(addr, None),
        source::violations(&state),
        alerts_for(&state, addr),
        source::settings(&state),
    );
    let (spans, violations, alerts) = (spans?, violations?, alerts?);
    let row = row?;
    if row.is_none() && spans.is_empty() {
        return Err(PageError::NotFound(format!(
            "No scan has found {addr} up: there is no history for it."
        )));
    }
    let exposure = portwatch_kb::Exposure::of(addr);
    let ratings = Ratings::new(settings.as_deref(), &violations);
    let mut open: Vec<&SpanRow> = spans.iter().filter(|s| s.to_scan.is_none()).collect();
    open.sort_by_key(|s| (s.proto, s.port));
    let start = spans
        .iter()
        .map(|s| s.from_at)
        .chain(row.as_ref().and_then(|h| h.first_seen_at))
        .min()
        .unwrap_or(now)
        .min(now - 3_600_000);
    let hostname = row
        .as_ref()
        .and_then(|h| h.hostname.clone())
        .or_else(|| spans.iter().find_map(|s| s.hostname.clone()));
    let page = HostPage {
        chrome: Chrome::new(
            &user,
            Section::Hosts,
            format!("/hosts/{}", encode_component(&addr.to_string())),
            state.actions(),
        )
        .with_flash(state.take_flash(&user)),
        addr: addr.to_string(),
        hostname,
        location: exposure.describe(),
        first_seen: row.as_ref().and_then(|h| h.first_seen_at).map(format::when),
        last_seen: row.as_ref().and_then(|h| h.last_seen_at).map(format::when),
        open: open.iter().map(|s| open_port(s, &ratings)).collect(),
        timelines: svg::timelines(&spans, start, now, |s| {
            ratings.severity(s.host, &s.vantage, s.port, s.proto)
        })
        .into_iter()
        .map(|mut t| {
            t.port_url = for_host(t.port_url, addr);
            t
        })
        .collect(),
        axis: svg::time_axis(start, now),
        timeline_from: format::when(start),
        multi_vantage: source::several_vantages(
            violations
                .iter()
                .filter(|v| v.addr == addr)
                .map(|v| v.vantage.as_str()),
        ),
        violations: violations.into_iter().filter(|v| v.addr == addr).collect(),
        alerts,
    };
    Ok(render(&page))
}
