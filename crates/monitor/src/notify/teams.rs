//! Microsoft Teams through a Workflows webhook ("Post to a channel when a webhook request is
//! received"), the replacement Microsoft documents for the retired Office 365 connectors:
//! a `message` whose one attachment is an Adaptive Card (version 1.4). Legacy incoming
//! webhooks accept the same shape.

use portwatch_kb::Severity;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::validate::http_url;
use super::{Alert, AlertKind, NotifyError, NotifyOptions, http};

const EXAMPLE: &str = "https://….logic.azure.com/workflows/… (the Workflows webhook URL)";

/// `[[notify]] type = "teams"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsConfig {
    /// The Workflows (or legacy incoming) webhook URL (a secret).
    #[serde(deserialize_with = "super::secret::url")]
    pub url: String,
}

impl TeamsConfig {
    /// Checks the URL.
    pub fn validate(&self) -> Result<(), NotifyError> {
        http_url("teams", "url", &self.url, EXAMPLE).map(drop)
    }
}

/// The title's colour in the card's palette.
fn title_colour(alert: &Alert) -> &'static str {
    match (alert.kind, alert.severity) {
        (AlertKind::Resolved, _) => "Good",
        (AlertKind::Test, _) => "Accent",
        (_, Severity::Critical | Severity::High) => "Attention",
        (_, Severity::Medium) => "Warning",
        _ => "Default",
    }
}

/// The Adaptive Card alone.
pub fn card(alert: &Alert) -> Value {
    let facts: Vec<Value> = alert
        .facts()
        .into_iter()
        .map(|(label, value)| json!({"title": label, "value": value}))
        .collect();
    let mut body = vec![
        json!({"type": "TextBlock", "text": alert.title(), "weight": "Bolder", "size": "Medium",
               "color": title_colour(alert), "wrap": true}),
        json!({"type": "TextBlock", "text": alert.lead(), "wrap": true, "spacing": "Small"}),
        json!({"type": "FactSet", "facts": facts}),
    ];
    if let Some(explain) = alert.explain.as_deref().filter(|e| !e.is_empty()) {
        body.push(
            json!({"type": "TextBlock", "text": "What it is", "weight": "Bolder", "wrap": true}),
        );
        body.push(json!({"type": "TextBlock", "text": explain, "wrap": true, "spacing": "Small"}));
    }
    if let Some(advice) = alert.advice() {
        body.push(
            json!({"type": "TextBlock", "text": advice.heading, "weight": "Bolder", "wrap": true}),
        );
        let font = if advice.commands {
            "Monospace"
        } else {
            "Default"
        };
        body.push(
            json!({"type": "TextBlock", "text": advice.lines.join("\n\n"), "fontType": font,
                         "wrap": true, "spacing": "Small"}),
        );
    }
    body.push(
        json!({"type": "TextBlock", "text": format!("portwatch · {}", alert.key),
                     "isSubtle": true, "size": "Small", "wrap": true}),
    );
    json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body
    })
}

/// The JSON body posted to the webhook: a message with the card as its attachment.
pub fn payload(alert: &Alert) -> Value {
    json!({
        "type": "message",
        "summary": alert.title(),
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card(alert)
        }]
    })
}

/// Validates the URL and builds the notifier that posts [`payload`] to a Teams Workflows webhook.
pub(crate) fn notifier(
    name: &str,
    config: &TeamsConfig,
    options: &NotifyOptions,
) -> Result<http::JsonWebhook, NotifyError> {
    let url = http_url("teams", "url", &config.url, EXAMPLE)?;
    http::JsonWebhook::new(name, url, payload, options)
}

impl std::fmt::Debug for TeamsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        super::validate::debug_url_only(f, "TeamsConfig", &self.url)
    }
}
