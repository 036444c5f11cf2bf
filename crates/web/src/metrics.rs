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
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once (later calls reuse it).
pub fn install() {
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().ok());
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
    if let Some(daemon) = state.daemon() {
        let book = daemon.book().await;
        for s in severities {
            let n = book
                .entries
                .values()
                .filter(|e| {
                    e.status == portwatch_monitor::alerts::Status::Firing && e.finding.severity == s
                })
                .count();
            metrics::gauge!("portwatch_violations", "severity" => s.to_string()).set(n as f64);
        }
    }
    let started = std::time::Instant::now();
    // Spans still current (nothing has ended after the end of time): every open port, at once.
    if let Ok(spans) = state.store().spans_since(i64::MAX).await {
        metrics::histogram!("portwatch_store_latency_seconds", "query" => "current_spans")
            .record(started.elapsed().as_secs_f64());
        let mut by_risk = std::collections::BTreeMap::new();
        for s in spans
            .iter()
            .filter(|s| s.to_scan.is_none() && s.snapshot.state == portwatch_scan::PortState::Open)
        {
            let risk = portwatch_kb::risk(s.port, s.proto.transport());
            let (sev, _) = portwatch_kb::severity_at(s.host, risk);
            *by_risk.entry(sev).or_insert(0u64) += 1;
        }
        for s in severities {
            metrics::gauge!("portwatch_open_ports", "risk" => s.to_string())
                .set(*by_risk.get(&s).unwrap_or(&0) as f64);
        }
    }
}
