//! `[[notify]]` in the configuration file: a name plus one provider's settings, told apart
//! by `type`. Unknown keys are rejected.

use serde::{Deserialize, Serialize};

use super::discord::DiscordConfig;
use super::email::EmailConfig;
use super::error::NotifyError;
use super::ntfy::NtfyConfig;
use super::pagerduty::PagerDutyConfig;
use super::slack::SlackConfig;
use super::teams::TeamsConfig;
use super::telegram::TelegramConfig;
use super::webhook::WebhookConfig;

/// One provider's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum NotifierConfig {
    /// A generic JSON webhook, optionally signed.
    Webhook(WebhookConfig),
    /// A Slack incoming webhook.
    Slack(SlackConfig),
    /// A Discord webhook.
    Discord(DiscordConfig),
    /// A Microsoft Teams Workflows webhook.
    Teams(TeamsConfig),
    /// A Telegram bot and chat.
    Telegram(TelegramConfig),
    /// An ntfy topic.
    Ntfy(NtfyConfig),
    /// A PagerDuty Events API v2 integration.
    PagerDuty(PagerDutyConfig),
    /// Email over SMTP.
    Email(EmailConfig),
}

impl NotifierConfig {
    /// Every `type`, as written in the config and on the command line.
    pub const KINDS: [&'static str; 8] = [
        "webhook",
        "slack",
        "discord",
        "teams",
        "telegram",
        "ntfy",
        "pagerduty",
        "email",
    ];

    /// The `type` of this configuration.
    pub fn kind(&self) -> &'static str {
        match self {
            NotifierConfig::Webhook(_) => "webhook",
            NotifierConfig::Slack(_) => "slack",
            NotifierConfig::Discord(_) => "discord",
            NotifierConfig::Teams(_) => "teams",
            NotifierConfig::Telegram(_) => "telegram",
            NotifierConfig::Ntfy(_) => "ntfy",
            NotifierConfig::PagerDuty(_) => "pagerduty",
            NotifierConfig::Email(_) => "email",
        }
    }

    /// Checks every field; errors name the provider and the field (`slack.url: …`).
    pub fn validate(&self) -> Result<(), NotifyError> {
        match self {
            NotifierConfig::Webhook(c) => c.validate(),
            NotifierConfig::Slack(c) => c.validate(),
            NotifierConfig::Discord(c) => c.validate(),
            NotifierConfig::Teams(c) => c.validate(),
            NotifierConfig::Telegram(c) => c.validate(),
            NotifierConfig::Ntfy(c) => c.validate(),
            NotifierConfig::PagerDuty(c) => c.validate(),
            NotifierConfig::Email(c) => c.validate(),
        }
    }
}

/// One `[[notify]]` table: a unique name and the provider's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifierEntry {
    /// The name alerts are routed by and errors are reported with.
    pub name: String,
    /// The provider and its settings (`type = "slack"`, `url = …`).
    #[serde(flatten)]
    pub config: NotifierConfig,
}

impl NotifierEntry {
    /// Checks the name and the settings; errors carry the name.
    pub fn validate(&self) -> Result<(), NotifyError> {
        check_name(&self.name)?;
        self.config.validate().map_err(|e| e.named(&self.name))
    }
}

/// A notifier's name: non-empty, printable, at most 64 characters.
pub(crate) fn check_name(name: &str) -> Result<(), NotifyError> {
    let ok = !name.trim().is_empty()
        && name.chars().count() <= 64
        && !name.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(NotifyError::permanent(
            name,
            "name: must be 1 to 64 printable characters",
        ))
    }
}
