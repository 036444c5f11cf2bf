//! `/metrics` read by a real consumer: Prometheus' own `promtool check metrics` accepts the
//! exposition (HELP and TYPE for every metric, histograms as histograms, no lint problems),
//! after the daemon has recorded a scan so that every kind of series is present.

mod common_api;

use anyhow::{Context, Result, ensure};
use common_api::{Api, TestDb};
use reqwest::StatusCode;
use serde_json::json;
use std::io::Write;
use std::process::{Command, Stdio};

/// The exposition as served, once it shows a recorded scan.
async fn exposition(api: &Api) -> Result<String> {
    let daemon = api.daemon.as_ref().context("the test runs a daemon")?;
    ensure!(
        daemon.scan_now("local").await.unwrap(),
        "no group named local"
    );
    common_api::eventually(30, || async {
        let (status, body) = api.get("/metrics").await?;
        ensure!(status == StatusCode::OK, "GET /metrics: {status}");
        let text = body.as_str().unwrap_or_default().to_string();
        Ok(text.contains("portwatch_scans_total{").then_some(text))
    })
    .await
}

/// `promtool check metrics` of `text`: fails with what promtool said.
fn promtool_check(text: &str) -> Result<()> {
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("promtool not found (scripts/install-test-deps.sh installs prometheus)")?;
    promtool
        .stdin
        .take()
        .context("promtool stdin")?
        .write_all(text.as_bytes())?;
    let out = promtool.wait_with_output()?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {}\n{said}\nexposition:\n{text}",
        out.status
    );
    Ok(())
}

/// The value of the sample `series` (name and labels exactly as exposed), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// A scan asked for through `POST /api/v1/scans` is counted with `kind="requested"`, never as
/// a scheduled one (the group's cron is yearly: no scheduled scan runs in the test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_requested_through_the_api_is_counted_as_requested() -> Result<()> {
    let api = Api::start(TestDb::sqlite().await?, true).await?;
    let (status, body) = api
        .post("/api/v1/scans", &json!({"group": "web-servers"}))
        .await?;
    ensure!(
        status == StatusCode::ACCEPTED,
        "POST /api/v1/scans: {status} {body}"
    );
    let requested = "portwatch_scans_total{group=\"web-servers\",kind=\"requested\"}";
    let text = common_api::eventually(60, || async {
        let (status, body) = api.get("/metrics").await?;
        ensure!(status == StatusCode::OK, "GET /metrics: {status}");
        let text = body.as_str().unwrap_or_default().to_string();
        Ok(sample(&text, requested).is_some().then_some(text))
    })
    .await?;
    ensure!(sample(&text, requested) == Some(1.0), "{text}");
    ensure!(
        !text.contains("kind=\"scheduled\""),
        "a requested scan was counted as scheduled:\n{text}"
    );
    ensure!(
        text.contains("# TYPE portwatch_scans_total counter")
            && text.contains(
                "portwatch_scan_duration_seconds_count{group=\"web-servers\",kind=\"requested\"} 1"
            ),
        "{text}"
    );
    promtool_check(&text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_accepts_the_exposition() -> Result<()> {
    let api = Api::start(TestDb::sqlite().await?, true).await?;
    let text = exposition(&api).await?;
    // Series appear once recorded; every one that appears is described, and every described
    // one is in the catalogue.
    let catalogue: Vec<&str> = portwatch_web::metrics::names().collect();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let series = line.split(['{', ' ']).next().unwrap_or_default();
        let name = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| series.strip_suffix(s))
            .filter(|base| catalogue.contains(base))
            .unwrap_or(series);
        ensure!(catalogue.contains(&name), "{name} is not in the catalogue");
        ensure!(
            text.contains(&format!("# HELP {name} ")) && text.contains(&format!("# TYPE {name} ")),
            "{name} lacks a HELP or TYPE line:\n{text}"
        );
    }
    for histogram in [
        "portwatch_scan_duration_seconds",
        "portwatch_store_latency_seconds",
    ] {
        ensure!(
            text.contains(&format!("# TYPE {histogram} histogram")),
            "{histogram} is not a histogram:\n{text}"
        );
        ensure!(
            text.contains(&format!("{histogram}_bucket{{")),
            "{histogram} has no buckets:\n{text}"
        );
    }
    // The per-violation and per-port gauges name the vantage.
    for series in [
        "portwatch_violations{vantage=\"local\",severity=\"high\"}",
        "portwatch_open_ports{vantage=\"local\",risk=\"high\"}",
    ] {
        ensure!(text.contains(series), "no {series}:\n{text}");
    }
    promtool_check(&text)
}
