//! `--notify KIND=VALUE`, the one-line form of a notifier for `portwatch watch`.

use super::config::NotifierConfig;
use super::discord::DiscordConfig;
use super::email::EmailConfig;
use super::error::NotifyError;
use super::ntfy::NtfyConfig;
use super::pagerduty::{self, PagerDutyConfig};
use super::slack::SlackConfig;
use super::teams::TeamsConfig;
use super::telegram::{self, TelegramConfig};
use super::webhook::WebhookConfig;

/// The environment variable naming the SMTP server for `--notify email=…`.
pub const SMTP_ENV: &str = "PORTWATCH_SMTP";
/// The environment variable naming the sender for `--notify email=…`.
pub const SMTP_FROM_ENV: &str = "PORTWATCH_SMTP_FROM";
/// The SMTP server used when `PORTWATCH_SMTP` is unset: a relay on this machine.
pub const DEFAULT_SMTP: &str = "smtp://127.0.0.1:25?tls=none";
/// The sender used when `PORTWATCH_SMTP_FROM` is unset.
pub const DEFAULT_FROM: &str = "portwatch@localhost";

/// The accepted forms, for error messages.
pub const CLI_FORMS: &str = "webhook=URL, slack=URL, discord=URL, teams=URL, ntfy=URL, \
     pagerduty=ROUTING_KEY, telegram=BOT_TOKEN/CHAT_ID, email=ADDRESS[,ADDRESS…]";

impl NotifierConfig {
    /// Parses `KIND=VALUE` (see [`CLI_FORMS`]), reading `PORTWATCH_SMTP` and
    /// `PORTWATCH_SMTP_FROM` for email, and validates the result.
    pub fn from_cli(spec: &str) -> Result<NotifierConfig, NotifyError> {
        NotifierConfig::from_cli_with_env(spec, |name| std::env::var(name).ok())
    }

    /// [`NotifierConfig::from_cli`] with the environment given as a lookup function.
    pub fn from_cli_with_env(
        spec: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<NotifierConfig, NotifyError> {
        let Some((kind, value)) = spec.split_once('=') else {
            return Err(NotifyError::permanent(
                "--notify",
                format!("expected KIND=VALUE, one of: {CLI_FORMS}"),
            ));
        };
        let (kind, value) = (kind.trim().to_ascii_lowercase(), value.trim().to_string());
        if value.is_empty() {
            return Err(NotifyError::permanent(
                "--notify",
                format!("{kind}=: the value is empty; forms: {CLI_FORMS}"),
            ));
        }
        let config = match kind.as_str() {
            "webhook" => NotifierConfig::Webhook(WebhookConfig {
                url: value,
                secret: None,
                headers: Default::default(),
            }),
            "slack" => NotifierConfig::Slack(SlackConfig { url: value }),
            "discord" => NotifierConfig::Discord(DiscordConfig { url: value }),
            "teams" => NotifierConfig::Teams(TeamsConfig { url: value }),
            "ntfy" => NotifierConfig::Ntfy(NtfyConfig {
                url: value,
                token: None,
                tags: Vec::new(),
            }),
            "pagerduty" => NotifierConfig::PagerDuty(PagerDutyConfig {
                routing_key: value,
                url: pagerduty::DEFAULT_URL.to_string(),
            }),
            "telegram" => telegram_from_cli(&value)?,
            "email" => email_from_cli(&value, &env)?,
            other => {
                return Err(NotifyError::permanent(
                    "--notify",
                    format!(
                        "unknown notifier `{other}`; known: {}",
                        NotifierConfig::KINDS.join(", ")
                    ),
                ));
            }
        };
        config.validate().map_err(|e| e.named("--notify"))?;
        Ok(config)
    }
}

/// `BOT_TOKEN/CHAT_ID`: a token never contains `/`, and neither does a chat id, so the
/// first `/` splits them (the token's own `:` stays where it is).
fn telegram_from_cli(value: &str) -> Result<NotifierConfig, NotifyError> {
    let Some((token, chat)) = value.split_once('/') else {
        return Err(NotifyError::permanent(
            "--notify",
            "telegram=BOT_TOKEN/CHAT_ID, e.g. telegram=123456:ABC-def/-1001234567890 or telegram=123456:ABC-def/@mychannel",
        ));
    };
    Ok(NotifierConfig::Telegram(TelegramConfig {
        bot_token: token.to_string(),
        chat_id: chat.to_string(),
        api_url: telegram::DEFAULT_API_URL.to_string(),
    }))
}

/// `ADDRESS[,ADDRESS…]`, sent through `PORTWATCH_SMTP` (default a relay on 127.0.0.1:25).
fn email_from_cli(
    value: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<NotifierConfig, NotifyError> {
    let smtp = env(SMTP_ENV).filter(|s| !s.trim().is_empty());
    let from = env(SMTP_FROM_ENV)
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_FROM.to_string());
    let config = EmailConfig {
        to: value
            .split(',')
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect(),
        from,
        smtp: smtp.clone().unwrap_or_else(|| DEFAULT_SMTP.to_string()),
        password: None,
        accept_invalid_certs: false,
    };
    config.validate().map_err(|e| {
        let origin = match smtp {
            Some(_) => format!("{SMTP_ENV} is set"),
            None => format!("{SMTP_ENV} is unset, so the server is {DEFAULT_SMTP}"),
        };
        let message = if e.message.starts_with("email.smtp") {
            format!(
                "{} ({origin}; set {SMTP_ENV} to an SMTP URL)",
                e.message.replacen("email.smtp", SMTP_ENV, 1)
            )
        } else if e.message.starts_with("email.from") {
            format!(
                "{} (set {SMTP_FROM_ENV} to the sender address)",
                e.message.replacen("email.from", SMTP_FROM_ENV, 1)
            )
        } else {
            format!("{} (email=ADDRESS[,ADDRESS…])", e.message)
        };
        NotifyError::permanent("--notify", message)
    })?;
    Ok(NotifierConfig::Email(config))
}
