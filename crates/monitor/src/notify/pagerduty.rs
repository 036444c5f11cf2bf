//! PagerDuty Events API v2: `trigger` for an opened violation, its reminders and tests,
//! `resolve` for its end, with `dedup_key` tying them to one incident.

use portwatch_kb::Severity;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::format::{rfc3339_utc, truncate_chars};
use super::validate::{http_url, non_empty, token_chars};
use super::{Alert, AlertKind, NotifyError, NotifyOptions, http};

/// The Events API v2 endpoint unless `url` says otherwise.
pub const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// PagerDuty's limit on `payload.summary`.
const SUMMARY_MAX: usize = 1024;

fn default_url() -> String {
    DEFAULT_URL.to_string()
}

/// `[[notify]] type = "pagerduty"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyConfig {
    /// The integration's routing key (Events API v2, a secret).
    #[serde(deserialize_with = "super::secret::routing_key")]
    pub routing_key: String,
    /// The endpoint (default `https://events.pagerduty.com/v2/enqueue`).
    #[serde(default = "default_url")]
    pub url: String,
}

impl PagerDutyConfig {
    /// Checks the routing key and the endpoint.
    pub fn validate(&self) -> Result<(), NotifyError> {
        non_empty(
            "pagerduty",
            "routing_key",
            &self.routing_key,
            "copy the Integration Key of an Events API v2 integration",
        )?;
        token_chars("pagerduty", "routing_key", &self.routing_key)?;
        http_url("pagerduty", "url", &self.url, DEFAULT_URL).map(drop)
    }
}

/// PagerDuty's severity: critical, error (high), warning (medium), info (low, none).
pub fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::None => "info",
    }
}

/// The `dedup_key`: the incident's key, so that the resolve closes what the trigger
/// opened; a test uses its own key so that it never touches a real incident.
pub fn dedup_key(alert: &Alert) -> String {
    match alert.kind {
        AlertKind::Test => truncate_chars(&format!("portwatch-test:{}", alert.key), 255),
        _ => alert.incident_key(),
    }
}

/// The event posted to the endpoint.
pub fn payload(alert: &Alert, routing_key: &str) -> Value {
    if alert.kind == AlertKind::Resolved {
        return json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key(alert),
        });
    }
    let source = alert
        .hostname
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| alert.host.to_string());
    let level = if alert.kind == AlertKind::Test {
        "info"
    } else {
        severity(alert.severity)
    };
    let mut payload = json!({
        "summary": truncate_chars(&alert.title(), SUMMARY_MAX),
        "source": source,
        "severity": level,
        "timestamp": rfc3339_utc(alert.at_ms),
        "group": alert.group,
        "class": alert.rule,
        "custom_details": custom_details(alert),
    });
    if let Some(port) = alert.port_label() {
        payload["component"] = json!(port);
    }
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key(alert),
        "client": "portwatch",
        "payload": payload,
    })
}

/// Everything else an on-call engineer wants, shown in the incident's details.
fn custom_details(alert: &Alert) -> Value {
    let mut details = serde_json::Map::new();
    details.insert("kind".into(), json!(alert.kind));
    details.insert("key".into(), json!(alert.key));
    for (label, value) in alert.facts() {
        details.insert(label.to_lowercase(), json!(value));
    }
    if let Some(explain) = &alert.explain {
        details.insert("what it is".into(), json!(explain));
    }
    if let Some(advice) = alert.advice() {
        details.insert(advice.heading.to_lowercase(), json!(advice.lines));
    }
    if alert.details_json().is_some() {
        details.insert("details".into(), alert.details.clone());
    }
    Value::Object(details)
}

/// Validates and builds the notifier that posts [`payload`] to the Events API.
pub(crate) fn notifier(
    name: &str,
    config: &PagerDutyConfig,
    options: &NotifyOptions,
) -> Result<http::JsonWebhook, NotifyError> {
    config.validate()?;
    let url = http_url("pagerduty", "url", &config.url, DEFAULT_URL)?;
    let routing_key = config.routing_key.trim().to_string();
    http::JsonWebhook::new(name, url, move |a| payload(a, &routing_key), options)
}

impl std::fmt::Debug for PagerDutyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagerDutyConfig")
            .field("routing_key", &"***")
            .field("url", &self.url)
            .finish()
    }
}
