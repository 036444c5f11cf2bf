//! Telegram bots: `sendMessage` with `chat_id`, `text` in Telegram's HTML subset
//! (`parse_mode = "HTML"`) and link previews off.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use super::format::{escape_html, truncate_chars};
use super::validate::{http_url, non_empty, token_chars};
use super::{Alert, NotifyError, NotifyOptions, http};

/// Where the Bot API lives unless `api_url` says otherwise.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";
/// Telegram's limit on a message's text, in characters after entity parsing.
const TEXT_MAX: usize = 4096;

fn default_api_url() -> String {
    DEFAULT_API_URL.to_string()
}

/// `[[notify]] type = "telegram"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// The bot's token from @BotFather (`123456:ABC…`, a secret).
    #[serde(deserialize_with = "super::secret::bot_token")]
    pub bot_token: String,
    /// The chat: a numeric id (`-1001234567890`) or a public channel (`@name`).
    pub chat_id: String,
    /// The Bot API server (default `https://api.telegram.org`).
    #[serde(default = "default_api_url")]
    pub api_url: String,
}

impl TelegramConfig {
    /// Checks the token's shape, the chat id and the API URL.
    pub fn validate(&self) -> Result<(), NotifyError> {
        non_empty(
            "telegram",
            "bot_token",
            &self.bot_token,
            "ask @BotFather for a token",
        )?;
        token_chars("telegram", "bot_token", &self.bot_token)?;
        let shaped = self.bot_token.split_once(':').is_some_and(|(id, secret)| {
            !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && !secret.is_empty()
        });
        if !shaped || self.bot_token.contains('/') {
            return Err(NotifyError::permanent(
                "telegram",
                "telegram.bot_token: expected the form 123456:ABC-DEF… (digits, a colon, the secret)",
            ));
        }
        non_empty(
            "telegram",
            "chat_id",
            &self.chat_id,
            "use the numeric chat id or @channelname",
        )?;
        let chat = self.chat_id.trim();
        if !(chat.starts_with('@') && chat.len() > 1) && chat.parse::<i64>().is_err() {
            return Err(NotifyError::permanent(
                "telegram",
                "telegram.chat_id: expected a number such as -1001234567890 or a @channelname",
            ));
        }
        self.endpoint().map(drop)
    }

    /// `API_URL/bot<TOKEN>/sendMessage`.
    fn endpoint(&self) -> Result<Url, NotifyError> {
        let base = http_url("telegram", "api_url", &self.api_url, DEFAULT_API_URL)?;
        let joined = format!(
            "{}/bot{}/sendMessage",
            base.as_str().trim_end_matches('/'),
            self.bot_token
        );
        Url::parse(&joined)
            .map_err(|e| NotifyError::permanent("telegram", format!("telegram.api_url: {e}")))
    }
}

/// The message text in Telegram HTML, cut to fit 4,096 characters (the explanation gives
/// way first, then the fix).
pub fn html(alert: &Alert) -> String {
    let mut head = format!(
        "<b>{}</b>\n{}\n\n",
        escape_html(&alert.title()),
        escape_html(&alert.lead())
    );
    for (label, value) in alert.facts() {
        head.push_str(&format!("<b>{label}:</b> {}\n", escape_html(&value)));
    }
    let explain = alert.explain.clone().unwrap_or_default();
    let advice = alert.advice();
    let fix = advice
        .as_ref()
        .map(|a| a.lines.join("\n"))
        .unwrap_or_default();
    let tail = format!("\n<i>portwatch · {}</i>", escape_html(&alert.key));
    // Cut the raw text, then escape, until it fits: an entity is never split.
    let (mut explain_max, mut fix_max) = (explain.chars().count(), fix.chars().count());
    loop {
        let mut text = head.clone();
        if explain_max > 0 {
            text.push_str(&format!(
                "\n<b>What it is:</b> {}\n",
                escape_html(&truncate_chars(&explain, explain_max))
            ));
        }
        if let Some(advice) = advice.as_ref().filter(|_| fix_max > 0) {
            let lines = escape_html(&truncate_chars(&fix, fix_max));
            let lines = if advice.commands {
                format!("<pre>{lines}</pre>")
            } else {
                lines
            };
            text.push_str(&format!(
                "\n<b>{}:</b>\n{lines}\n",
                escape_html(&advice.heading)
            ));
        }
        text.push_str(&tail);
        let over = text.chars().count().saturating_sub(TEXT_MAX);
        if over == 0 {
            return text;
        }
        if explain_max > 0 {
            explain_max = explain_max.saturating_sub(over.max(16));
        } else if fix_max > 0 {
            fix_max = fix_max.saturating_sub(over.max(16));
        } else {
            return truncate_chars(&escape_html(&alert.title()), TEXT_MAX);
        }
    }
}

/// The JSON body of `sendMessage`.
pub fn payload(alert: &Alert, chat_id: &str) -> Value {
    let chat: Value = match chat_id.trim().parse::<i64>() {
        Ok(id) => json!(id),
        Err(_) => json!(chat_id.trim()),
    };
    json!({
        "chat_id": chat,
        "text": html(alert),
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": true}
    })
}

/// Validates and builds the notifier that posts [`payload`] to the bot's `sendMessage`.
pub(crate) fn notifier(
    name: &str,
    config: &TelegramConfig,
    options: &NotifyOptions,
) -> Result<http::JsonWebhook, NotifyError> {
    config.validate()?;
    let chat_id = config.chat_id.clone();
    http::JsonWebhook::new(
        name,
        config.endpoint()?,
        move |a| payload(a, &chat_id),
        options,
    )
}

impl std::fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("bot_token", &"***")
            .field("chat_id", &self.chat_id)
            .field("api_url", &self.api_url)
            .finish()
    }
}
