//! Notifiers: an [`Alert`] delivered to a webhook, Slack, Discord, Teams, Telegram, ntfy,
//! PagerDuty or email. One module per provider behind one interface: each has a config
//! type with `validate()` and its defaults, a pure `payload()` (what goes on the wire) and
//! a [`Notifier`] that makes exactly one delivery attempt per [`Notifier::send`] call.
//!
//! Retries, backoff and the outbox live in the daemon; a [`NotifyError`] says whether
//! another attempt may succeed (`retryable`, `retry_after`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

mod alert;
mod cli;
mod config;
pub mod discord;
pub mod email;
mod error;
pub mod format;
mod http;
pub mod ntfy;
pub mod pagerduty;
mod secret;
pub mod slack;
pub mod smtp_url;
pub mod teams;
pub mod telegram;
mod validate;
pub mod webhook;
pub mod wording;

pub use alert::{AdviceText, Alert, AlertKind};
pub use cli::{CLI_FORMS, DEFAULT_FROM, DEFAULT_SMTP, SMTP_ENV, SMTP_FROM_ENV};
pub use config::{NotifierConfig, NotifierEntry};
pub use error::NotifyError;
pub use secret::CREDENTIALS_DIRECTORY;

/// What a successful attempt reports (`HTTP 200 OK`, `250 2.0.0 queued as …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The peer's answer, one line.
    pub status: String,
}

/// The future returned by [`Notifier::send`].
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<Delivery, NotifyError>> + Send + 'a>>;

/// One configured destination.
pub trait Notifier: Send + Sync {
    /// The configured name.
    fn name(&self) -> &str;
    /// Makes one delivery attempt.
    fn send<'a>(&'a self, alert: &'a Alert) -> SendFuture<'a>;
}

/// Settings shared by every notifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyOptions {
    /// Limit on connecting and on each request (each SMTP command; a whole SMTP dialogue
    /// gets three times this).
    pub timeout: Duration,
    /// The HTTP `User-Agent`.
    pub user_agent: String,
}

impl Default for NotifyOptions {
    fn default() -> Self {
        NotifyOptions {
            timeout: Duration::from_secs(10),
            user_agent: format!("portwatch/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Validates `config` and builds the notifier called `name`, with the default options.
pub fn build(name: &str, config: &NotifierConfig) -> Result<Arc<dyn Notifier>, NotifyError> {
    build_with(name, config, &NotifyOptions::default())
}

/// [`build`] with explicit options.
pub fn build_with(
    name: &str,
    config: &NotifierConfig,
    options: &NotifyOptions,
) -> Result<Arc<dyn Notifier>, NotifyError> {
    config::check_name(name)?;
    config.validate().map_err(|e| e.named(name))?;
    let notifier: Arc<dyn Notifier> = match config {
        NotifierConfig::Webhook(c) => Arc::new(webhook::Webhook::new(name, c, options)?),
        NotifierConfig::Slack(c) => Arc::new(slack::notifier(name, c, options)?),
        NotifierConfig::Discord(c) => Arc::new(discord::notifier(name, c, options)?),
        NotifierConfig::Teams(c) => Arc::new(teams::notifier(name, c, options)?),
        NotifierConfig::Telegram(c) => Arc::new(telegram::notifier(name, c, options)?),
        NotifierConfig::Ntfy(c) => Arc::new(ntfy::Ntfy::new(name, c, options)?),
        NotifierConfig::PagerDuty(c) => Arc::new(pagerduty::notifier(name, c, options)?),
        NotifierConfig::Email(c) => Arc::new(email::Email::new(name, c, options)?),
    };
    Ok(notifier)
}
