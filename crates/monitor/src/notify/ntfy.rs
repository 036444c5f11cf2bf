//! ntfy: a POST of the plain-text body to `server/topic`, with the `Title`, `Priority`
//! (1–5, from the severity) and `Tags` headers, and a bearer token when one is set.

use base64::Engine as _;
use portwatch_kb::Severity;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::{Deserialize, Serialize};
use url::Url;

use super::format::truncate_bytes;
use super::validate::{http_url, non_empty, token_chars};
use super::{Alert, AlertKind, Notifier, NotifyError, NotifyOptions, SendFuture, http};

const EXAMPLE: &str = "https://ntfy.sh/my-portwatch-topic";
/// ntfy turns longer messages into attachments (or refuses them): keep under 4,096 bytes.
const BODY_MAX: usize = 4000;

/// `[[notify]] type = "ntfy"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NtfyConfig {
    /// Server and topic, e.g. `https://ntfy.sh/my-topic`.
    #[serde(deserialize_with = "super::secret::url")]
    pub url: String,
    /// An access token (`tk_…`) for protected topics, sent as `Authorization: Bearer`.
    #[serde(default, deserialize_with = "super::secret::token")]
    pub token: Option<String>,
    /// Tags added to the ones portwatch sets (emoji short codes show as emojis).
    #[serde(default)]
    pub tags: Vec<String>,
}

impl NtfyConfig {
    /// Checks the URL (it must name a topic), the token and the tags.
    pub fn validate(&self) -> Result<(), NotifyError> {
        let url = http_url("ntfy", "url", &self.url, EXAMPLE)?;
        if url.path().trim_matches('/').is_empty() {
            return Err(NotifyError::permanent(
                "ntfy",
                format!("ntfy.url: names no topic; expected {EXAMPLE}"),
            ));
        }
        if let Some(token) = &self.token {
            non_empty(
                "ntfy",
                "token",
                token,
                "remove it or set an access token (tk_…)",
            )?;
            token_chars("ntfy", "token", token)?;
        }
        for tag in &self.tags {
            if tag.trim().is_empty()
                || tag.contains(',')
                || !tag.is_ascii()
                || tag.chars().any(char::is_control)
            {
                return Err(NotifyError::permanent(
                    "ntfy",
                    format!("ntfy.tags: `{tag}` must be non-empty ASCII without commas"),
                ));
            }
        }
        Ok(())
    }
}

/// ntfy's priority: 5 (max) for critical down to 1 (min) for none; a resolve or a test
/// is 3 (default).
pub fn priority(alert: &Alert) -> u8 {
    match alert.kind {
        AlertKind::Resolved | AlertKind::Test => 3,
        AlertKind::Opened | AlertKind::Reminder => match alert.severity {
            Severity::Critical => 5,
            Severity::High => 4,
            Severity::Medium => 3,
            Severity::Low => 2,
            Severity::None => 1,
        },
    }
}

/// The tags: an emoji for the kind, the severity, `portwatch`, then the configured ones.
pub fn tags(alert: &Alert, extra: &[String]) -> Vec<String> {
    let emoji = match alert.kind {
        AlertKind::Opened => "rotating_light",
        AlertKind::Reminder => "bell",
        AlertKind::Resolved => "white_check_mark",
        AlertKind::Test => "test_tube",
    };
    let mut tags = vec![
        emoji.to_string(),
        alert.severity.to_string(),
        "portwatch".to_string(),
    ];
    tags.extend(extra.iter().map(|t| t.trim().to_string()));
    tags
}

/// A header value, RFC 2047-encoded (which ntfy decodes) when it is not plain ASCII.
pub fn header_text(text: &str) -> String {
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return text.to_string();
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    format!("=?UTF-8?B?{encoded}?=")
}

/// Publishes to an ntfy topic.
pub(crate) struct Ntfy {
    name: String,
    url: Url,
    token: Option<String>,
    tags: Vec<String>,
    client: reqwest::Client,
}

impl Ntfy {
    /// Validates and builds.
    pub(crate) fn new(
        name: &str,
        config: &NtfyConfig,
        options: &NotifyOptions,
    ) -> Result<Self, NotifyError> {
        config.validate()?;
        Ok(Ntfy {
            name: name.to_string(),
            url: http_url("ntfy", "url", &config.url, EXAMPLE)?,
            token: config.token.clone(),
            tags: config.tags.clone(),
            client: http::client(name, options)?,
        })
    }

    fn request(&self, alert: &Alert) -> Result<reqwest::RequestBuilder, NotifyError> {
        let header = |text: String| {
            HeaderValue::from_str(&text)
                .map_err(|e| NotifyError::permanent(&self.name, format!("ntfy header: {e}")))
        };
        let mut request = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, "text/plain; charset=utf-8")
            .header("Title", header(header_text(&alert.title()))?)
            .header("Priority", priority(alert).to_string())
            .header("Tags", header(tags(alert, &self.tags).join(","))?)
            .body(truncate_bytes(&alert.text(), BODY_MAX));
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, header(format!("Bearer {token}"))?);
        }
        // ntfy has no deduplication of its own; the key is for proxies and logs.
        Ok(super::http::with_key(request, &alert.key))
    }
}

impl Notifier for Ntfy {
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'a>(&'a self, alert: &'a Alert) -> SendFuture<'a> {
        Box::pin(async move {
            let request = self.request(alert)?;
            http::send(&self.name, request).await
        })
    }
}

impl std::fmt::Debug for NtfyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NtfyConfig")
            .field("url", &portwatch_store::redact::origin(&self.url))
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("tags", &self.tags)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_non_ascii_titles_as_rfc2047() {
        assert_eq!(header_text("plain"), "plain");
        assert_eq!(header_text("é"), "=?UTF-8?B?w6k=?=");
        assert_eq!(header_text("né"), "=?UTF-8?B?bsOp?=");
        assert_eq!(header_text("éé"), "=?UTF-8?B?w6nDqQ==?=");
    }
}
