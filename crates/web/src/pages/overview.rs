//! `GET /`: the groups and whether they comply, the violations (firing first, worst first),
//! what is reachable now from the internet, the LAN and this machine only, the hosts (riskiest
//! first, paged, each with its risk), and the exposure chart of the last 30 days.

use super::error::PageError;
use super::exposure::{Exposure, ExposureCache, Ratings, Reach};
use super::format::{self, encode_component};
use super::layout::{Chrome, Section};
use super::pager::{Pager, page_number};
use super::render;
use super::source::{self, LastScan, Violation};
use super::svg::{self, BarChart};
use crate::auth::Page;
use crate::state::AppState;
use askama::Template;
use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Response;
use portwatch_store::HostRow;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Hosts per page.
pub const HOSTS_PER_PAGE: usize = 200;
/// Violations per page.
pub const VIOLATIONS_PER_PAGE: usize = 100;

/// The overview's query: which page of hosts and of violations.
#[derive(Debug, Default, Deserialize)]
pub struct OverviewQuery {
    page: Option<String>,
    vpage: Option<String>,
}

/// A group's row.
pub struct GroupRow {
    name: String,
    name_url: String,
    schedule: String,
    windows: Vec<source::WindowLine>,
    targets: String,
    compliance: &'static str,
    compliance_class: &'static str,
    detail: String,
    last: Option<LastScan>,
}

/// A host's row.
pub struct HostLine {
    addr: String,
    vantage: String,
    url: String,
    hostname: Option<String>,
    last_seen: String,
    last_seen_iso: String,
    open_ports: u64,
    /// Its worst open port's rating where it can be reached from.
    risk: portwatch_kb::Severity,
    risk_class: &'static str,
    /// From where it can be reached (`internet`, `LAN`, `loopback`).
    reach: &'static str,
    /// Ports rated high or critical among those open now.
    risky: u32,
}

/// One line of the "reachable now" summary.
pub struct ReachLine {
    /// `From the internet`, `From the LAN`, `From this machine only`.
    place: &'static str,
    hosts: u32,
    open: u32,
    high: u32,
    critical: u32,
}

fn reach_line(r: &Reach) -> ReachLine {
    ReachLine {
        place: match r.exposure {
            portwatch_kb::Exposure::Internet => "From the internet",
            portwatch_kb::Exposure::Lan => "From the LAN",
            portwatch_kb::Exposure::Loopback => "From this machine only",
        },
        hosts: r.hosts,
        open: r.open,
        high: r.high,
        critical: r.critical,
    }
}

/// An agent's row.
pub struct AgentLine {
    name: String,
    vantage: String,
    version: String,
    addr: String,
    last_seen: String,
    last_seen_iso: String,
    jobs_done: i64,
    current_job: Option<i64>,
}

fn agent_line(a: &portwatch_store::AgentRow) -> AgentLine {
    AgentLine {
        name: a.name.clone(),
        vantage: a.vantage.clone(),
        version: a.version.clone(),
        addr: a.addr.clone(),
        last_seen: format::when(a.last_seen_at),
        last_seen_iso: format::iso(a.last_seen_at),
        jobs_done: a.jobs_done,
        current_job: a.current_job,
    }
}

/// A day of the chart's data table.
pub struct DayRow {
    date: String,
    critical: u32,
    high: u32,
    total: u32,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    chrome: Chrome,
    live: bool,
    groups: Vec<GroupRow>,
    violations: Vec<Violation>,
    /// Whether more than one vantage appears: the lists then show each row's.
    multi_vantage: bool,
    firing: usize,
    /// Tracked violations acknowledged, and silenced now.
    acknowledged: usize,
    silenced: usize,
    vpager: Pager,
    hosts: Vec<HostLine>,
    pager: Pager,
    chart: BarChart,
    days: Vec<DayRow>,
    reach: Vec<ReachLine>,
    chart_stale: bool,
    chart_computed: String,
    agents: Vec<AgentLine>,
}

fn group_rows(
    settings: Option<&portwatch_monitor::config::Settings>,
    violations: &[Violation],
    scans: &BTreeMap<String, portwatch_store::ScanRow>,
    now: i64,
) -> Vec<GroupRow> {
    let Some(settings) = settings else {
        return Vec::new();
    };
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for v in violations {
        let c = counts.entry(v.group.as_str()).or_default();
        c.0 += 1;
        if v.status == "firing" {
            c.1 += 1;
        }
    }
    settings
        .groups
        .iter()
        .map(|g| {
            let (all, firing) = counts.get(g.name.as_str()).copied().unwrap_or_default();
            let last = source::last_scan_of(scans, &g.name, now);
            let (compliance, compliance_class, detail) = if firing > 0 {
                (
                    "Violating",
                    "state-bad",
                    format!("{firing} confirmed violation{}", plural(firing)),
                )
            } else if all > 0 {
                (
                    "Checking",
                    "state-warn",
                    format!("{all} change{} being confirmed", plural(all)),
                )
            } else if last.as_ref().is_some_and(|l| l.status == "complete") {
                ("Compliant", "state-ok", "no violation".to_string())
            } else {
                (
                    "Unknown",
                    "state-unknown",
                    "no complete scan among the recent ones".to_string(),
                )
            };
            GroupRow {
                name: g.name.clone(),
                name_url: encode_component(&g.name),
                schedule: source::schedule(g),
                windows: source::windows(g, now),
                targets: g.targets.join(", "),
                compliance,
                compliance_class,
                detail,
                last,
            }
        })
        .collect()
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn host_line(h: &HostRow, exposure: &Exposure, ratings: &Ratings) -> HostLine {
    let seen = h.last_seen_at.unwrap_or(0);
    let now = exposure.host(h.addr, &h.vantage);
    let risk = now.map_or(portwatch_kb::Severity::None, |n| n.worst);
    HostLine {
        risk,
        risk_class: format::severity_class(risk),
        reach: now
            .map_or_else(|| ratings.exposure(h.addr, &h.vantage), |n| n.exposure)
            .label(),
        risky: now.map_or(0, |n| n.risky),
        addr: h.addr.to_string(),
        vantage: h.vantage.clone(),
        url: format!("/hosts/{}", encode_component(&h.addr.to_string())),
        hostname: h.hostname.clone(),
        last_seen: h.last_seen_at.map_or_else(|| "never".into(), format::when),
        last_seen_iso: format::iso(seen),
        open_ports: h.open_ports,
    }
}

/// The hosts with the worst open port first; hosts of equal risk keep the store's order.
fn riskiest_first<'a>(hosts: &'a [HostRow], exposure: &Exposure) -> Vec<&'a HostRow> {
    let mut ordered: Vec<&HostRow> = hosts.iter().collect();
    ordered.sort_by_cached_key(|h| {
        std::cmp::Reverse(
            exposure
                .host(h.addr, &h.vantage)
                .map_or(portwatch_kb::Severity::None, |n| n.worst),
        )
    });
    ordered
}

fn day_rows(e: &Exposure) -> Vec<DayRow> {
    e.days
        .iter()
        .rev()
        .map(|d| DayRow {
            date: format::date(d.start_ms),
            critical: d.critical,
            high: d.high,
            total: d.total(),
        })
        .collect()
}

fn link(page: usize, vpage: usize) -> String {
    match (page, vpage) {
        (1, 1) => "/".into(),
        (p, 1) => format!("/?page={p}"),
        (1, v) => format!("/?vpage={v}"),
        (p, v) => format!("/?page={p}&vpage={v}"),
    }
}

/// `GET /`.
pub async fn overview(
    State(state): State<AppState>,
    Extension(cache): Extension<Arc<ExposureCache>>,
    Page(user): Page,
    Query(q): Query<OverviewQuery>,
) -> Result<Response, PageError> {
    let now = format::now_ms();
    let (page, vpage) = (
        page_number(q.page.as_deref()),
        page_number(q.vpage.as_deref()),
    );
    let groups_and_scans = async {
        let settings = source::settings(&state).await;
        let groups = settings.as_deref().map_or(&[][..], |s| &s.groups[..]);
        let scans = source::last_scans(&state, groups).await;
        (settings, scans)
    };
    let (hosts, (settings, scans), violations, agents) = tokio::join!(
        state.hosts(),
        groups_and_scans,
        source::violations(&state),
        state.store().agents(),
    );
    let (hosts, scans, violations, agents) = (hosts?, scans?, violations?, agents?);
    let ratings = Ratings::new(settings.as_deref(), &violations);
    let served = cache.get(&state, &hosts, now, ratings.clone()).await?;

    // Each pager's links keep the other list's page.
    let vpage = Pager::new(vpage, violations.len(), VIOLATIONS_PER_PAGE, |_| {
        String::new()
    })
    .page;
    let pager = Pager::new(page, hosts.len(), HOSTS_PER_PAGE, |n| link(n, vpage));
    let vpager = Pager::new(vpage, violations.len(), VIOLATIONS_PER_PAGE, |n| {
        link(pager.page, n)
    });
    let here = link(pager.page, vpager.page);
    let groups = group_rows(settings.as_deref(), &violations, &scans, now);
    let firing = violations.iter().filter(|v| v.status == "firing").count();
    let acknowledged = violations.iter().filter(|v| v.acknowledged).count();
    let silenced = violations
        .iter()
        .filter(|v| v.silenced_until.is_some())
        .count();
    let multi_vantage = source::several_vantages(
        hosts
            .iter()
            .map(|h| h.vantage.as_str())
            .chain(violations.iter().map(|v| v.vantage.as_str())),
    );
    let page = OverviewPage {
        chrome: Chrome::new(&user, Section::Overview, here, state.actions())
            .with_flash(state.take_flash(&user)),
        live: state.daemon().is_some(),
        groups,
        violations: vpager.slice(&violations).to_vec(),
        multi_vantage,
        firing,
        acknowledged,
        silenced,
        hosts: pager
            .slice(&riskiest_first(&hosts, &served.exposure))
            .iter()
            .map(|h| host_line(h, &served.exposure, &ratings))
            .collect(),
        pager,
        vpager,
        chart: svg::exposure_chart(&served.exposure),
        days: day_rows(&served.exposure),
        reach: served.exposure.reach.iter().map(reach_line).collect(),
        chart_stale: served.stale,
        chart_computed: format::when(served.exposure.computed_at),
        agents: agents.iter().map(agent_line).collect(),
    };
    Ok(render(&page))
}
