//! `/metrics` in Prometheus text format (token needed). Counters and histograms are recorded
//! where things happen (scans, deliveries, store calls, through the `metrics` facade); gauges
//! of the current state (open ports by risk, violations by severity) are set at scrape time.

use crate::auth::User;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// What kind of series a metric is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Counter,
    Gauge,
    /// A histogram with these upper bounds (seconds).
    Histogram(&'static [f64]),
}

/// Bounds for scan durations: a loopback check takes milliseconds, a large sweep minutes.
const SCAN_SECONDS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
];
/// Bounds for store calls.
const STORE_SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Every metric portwatch exports, with its type and help text: the one list `/metrics`
/// describes (Prometheus wants `# HELP` and `# TYPE` for each) and the tests check.
const CATALOGUE: &[(&str, Kind, &str)] = &[
    (
        "portwatch_scans_total",
        Kind::Counter,
        "Group scans recorded, by group and kind (scheduled, requested through the API or dashboard, or confirmation).",
    ),
    (
        "portwatch_scan_failures_total",
        Kind::Counter,
        "Group scans that failed before they could be recorded, by group.",
    ),
    (
        "portwatch_scan_duration_seconds",
        Kind::Histogram(SCAN_SECONDS),
        "Time a group scan took, by group and kind.",
    ),
    (
        "portwatch_ports_probed_total",
        Kind::Counter,
        "Host and port pairs probed by the monitor's scans.",
    ),
    (
        "portwatch_alerts_sent_total",
        Kind::Counter,
        "Alert messages a notifier accepted, by channel.",
    ),
    (
        "portwatch_alerts_failed_total",
        Kind::Counter,
        "Alert delivery attempts that failed (they are retried), by channel.",
    ),
    (
        "portwatch_store_latency_seconds",
        Kind::Histogram(STORE_SECONDS),
        "Time a store call took, by query.",
    ),
    (
        "portwatch_violations",
        Kind::Gauge,
        "Policy violations firing now, by vantage and severity.",
    ),
    (
        "portwatch_open_ports",
        Kind::Gauge,
        "Ports open now in the stored history, by vantage and the risk where the vantage reaches the host.",
    ),
];

/// Installs the process-wide recorder once (later calls reuse it) and describes every metric.
pub fn install() {
    HANDLE.get_or_init(|| {
        let mut builder = PrometheusBuilder::new();
        for (name, kind, _) in CATALOGUE {
            if let Kind::Histogram(bounds) = kind {
                builder = builder
                    .set_buckets_for_metric(Matcher::Full((*name).to_string()), bounds)
                    .ok()?;
            }
        }
        let handle = builder.install_recorder().ok()?;
        for (name, kind, help) in CATALOGUE {
            match kind {
                Kind::Counter => metrics::describe_counter!(*name, *help),
                Kind::Gauge => metrics::describe_gauge!(*name, *help),
                Kind::Histogram(_) => metrics::describe_histogram!(*name, *help),
            }
        }
        Some(handle)
    });
}

/// The names of every metric portwatch exports (for tests and docs).
pub fn names() -> impl Iterator<Item = &'static str> {
    CATALOGUE.iter().map(|(name, _, _)| *name)
}

/// Metrics routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(render))
}

async fn render(State(state): State<AppState>, _user: User) -> impl IntoResponse {
    set_state_gauges(&state).await;
    let body = HANDLE
        .get()
        .and_then(Option::as_ref)
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

async fn set_state_gauges(state: &AppState) {
    use portwatch_kb::Severity;
    let severities = [
        Severity::None,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];
    let vantages = state.vantages().await;
    if let Some(daemon) = state.daemon() {
        let book = daemon.book().await;
        let mut names: std::collections::BTreeSet<String> =
            vantages.iter().map(|v| v.name.clone()).collect();
        names.extend(book.vantages());
        for v in &names {
            for s in severities {
                let n = book.firing(v, s);
                metrics::gauge!("portwatch_violations", "vantage" => v.clone(), "severity" => s.to_string())
                    .set(n as f64);
            }
        }
    }
    let started = std::time::Instant::now();
    // Spans still current (nothing has ended after the end of time): every open port, at once.
    if let Ok(spans) = state.store().spans_since(i64::MAX).await {
        metrics::histogram!("portwatch_store_latency_seconds", "query" => "current_spans")
            .record(started.elapsed().as_secs_f64());
        let mut by_risk = std::collections::BTreeMap::new();
        let mut names: std::collections::BTreeSet<String> =
            vantages.iter().map(|v| v.name.clone()).collect();
        for s in spans
            .iter()
            .filter(|s| s.to_scan.is_none() && s.snapshot.state == portwatch_model::PortState::Open)
        {
            let risk = portwatch_kb::risk(s.port, s.proto.transport());
            let sev = risk.at(
                portwatch_monitor::config::vantage::named(&vantages, &s.vantage)
                    .exposure_of(s.host),
            );
            *by_risk.entry((s.vantage.clone(), sev)).or_insert(0u64) += 1;
            names.insert(s.vantage.clone());
        }
        for v in names {
            for s in severities {
                let n = *by_risk.get(&(v.clone(), s)).unwrap_or(&0);
                metrics::gauge!("portwatch_open_ports", "vantage" => v.clone(), "risk" => s.to_string())
                    .set(n as f64);
            }
        }
    }
}
