//! Discord webhooks: `content` (the title, shown in the notification) and one embed with
//! the facts as fields, what the port is and the fix, coloured by severity. Mentions are
//! switched off so text from a scanned banner can never ping anyone.

use portwatch_kb::Severity;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::format::{escape_markdown, rfc3339_utc, truncate_chars};
use super::validate::http_url;
use super::{Alert, AlertKind, NotifyError, NotifyOptions, http};

const EXAMPLE: &str = "https://discord.com/api/webhooks/ID/TOKEN";
/// Discord's limits: content 2,000, description 4,096, field value 1,024, 25 fields.
const CONTENT_MAX: usize = 2000;
const DESCRIPTION_MAX: usize = 4096;
const FIELD_MAX: usize = 1024;

/// `[[notify]] type = "discord"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    /// The webhook URL (a secret).
    #[serde(deserialize_with = "super::secret::url")]
    pub url: String,
}

impl DiscordConfig {
    /// Checks the URL.
    pub fn validate(&self) -> Result<(), NotifyError> {
        http_url("discord", "url", &self.url, EXAMPLE).map(drop)
    }
}

/// The embed colour: green for a resolve, grey for a test, else by severity.
pub fn colour(alert: &Alert) -> u32 {
    match (alert.kind, alert.severity) {
        (AlertKind::Resolved, _) => 0x2E_B8_6E,
        (AlertKind::Test, _) => 0x5B_65_F2,
        (_, Severity::Critical) => 0xB0_00_20,
        (_, Severity::High) => 0xE0_4E_2B,
        (_, Severity::Medium) => 0xF0_A0_20,
        (_, Severity::Low) => 0x3B_82_C4,
        (_, Severity::None) => 0x8A_8F_98,
    }
}

/// The JSON body posted to the webhook.
pub fn payload(alert: &Alert) -> Value {
    let fields: Vec<Value> = alert
        .facts()
        .into_iter()
        .map(|(label, value)| {
            json!({"name": label, "value": truncate_chars(&escape_markdown(&value), FIELD_MAX), "inline": true})
        })
        .collect();
    let mut description = escape_markdown(&alert.lead());
    if let Some(explain) = alert.explain.as_deref().filter(|e| !e.is_empty()) {
        description.push_str(&format!("\n\n**What it is:** {}", escape_markdown(explain)));
    }
    if let Some(advice) = alert.advice() {
        let body = if advice.commands {
            let commands = advice.lines.join("\n").replace("```", "'''");
            format!("```sh\n{commands}\n```")
        } else {
            escape_markdown(&advice.lines.join("\n"))
        };
        description.push_str(&format!("\n\n**{}:**\n{body}", advice.heading));
    }
    json!({
        "content": truncate_chars(&alert.title(), CONTENT_MAX),
        "allowed_mentions": {"parse": []},
        "embeds": [{
            "title": truncate_chars(&alert.target(), 256),
            "description": truncate_chars(&description, DESCRIPTION_MAX),
            "color": colour(alert),
            "fields": fields,
            "timestamp": rfc3339_utc(alert.at_ms),
            "footer": {"text": truncate_chars(&format!("portwatch · {}", alert.key), 2048)}
        }]
    })
}

/// Validates the URL and builds the notifier that posts [`payload`] to a Discord webhook.
pub(crate) fn notifier(
    name: &str,
    config: &DiscordConfig,
    options: &NotifyOptions,
) -> Result<http::JsonWebhook, NotifyError> {
    let url = http_url("discord", "url", &config.url, EXAMPLE)?;
    http::JsonWebhook::new(name, url, payload, options)
}

impl std::fmt::Debug for DiscordConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        super::validate::debug_url_only(f, "DiscordConfig", &self.url)
    }
}
