//! Slack incoming webhooks: `text` (the notification line and the fallback) plus Block Kit
//! `blocks` (a header, the facts as fields, what the port is, the fix commands).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::format::{escape_html, truncate_chars};
use super::validate::http_url;
use super::{Alert, NotifyError, NotifyOptions, http};

const EXAMPLE: &str = "https://hooks.slack.com/services/T000/B000/XXXX";
/// Slack's limits: header text 150 characters, section text 3,000, 10 fields per section.
const HEADER_MAX: usize = 150;
const SECTION_MAX: usize = 3000;
const FIELDS_MAX: usize = 10;

/// `[[notify]] type = "slack"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// The incoming-webhook URL (a secret).
    #[serde(deserialize_with = "super::secret::url")]
    pub url: String,
}

impl SlackConfig {
    /// Checks the URL.
    pub fn validate(&self) -> Result<(), NotifyError> {
        http_url("slack", "url", &self.url, EXAMPLE).map(drop)
    }
}

/// The JSON body posted to the webhook.
pub fn payload(alert: &Alert) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": truncate_chars(&alert.title(), HEADER_MAX), "emoji": false}
    })];
    blocks.push(section(&escape_html(&alert.lead())));
    let fields: Vec<Value> = alert
        .facts()
        .into_iter()
        .take(FIELDS_MAX)
        .map(|(label, value)| {
            json!({"type": "mrkdwn", "text": truncate_chars(&format!("*{label}*\n{}", escape_html(&value)), 2000)})
        })
        .collect();
    blocks.push(json!({"type": "section", "fields": fields}));
    if let Some(explain) = alert.explain.as_deref().filter(|e| !e.is_empty()) {
        blocks.push(section(&format!("*What it is*\n{}", escape_html(explain))));
    }
    if let Some(advice) = alert.advice() {
        let lines = escape_html(&advice.lines.join("\n"));
        let body = if advice.commands {
            format!("```{}```", lines.replace("```", "'''"))
        } else {
            lines
        };
        blocks.push(section(&format!("*{}*\n{body}", advice.heading)));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": truncate_chars(&format!("portwatch · {}", escape_html(&alert.key)), SECTION_MAX)}]
    }));
    json!({"text": alert.title(), "blocks": blocks})
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate_chars(text, SECTION_MAX)}})
}

/// Validates the URL and builds the notifier that posts [`payload`] to a Slack incoming webhook.
pub(crate) fn notifier(
    name: &str,
    config: &SlackConfig,
    options: &NotifyOptions,
) -> Result<http::JsonWebhook, NotifyError> {
    let url = http_url("slack", "url", &config.url, EXAMPLE)?;
    http::JsonWebhook::new(name, url, payload, options)
}

impl std::fmt::Debug for SlackConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        super::validate::debug_url_only(f, "SlackConfig", &self.url)
    }
}
