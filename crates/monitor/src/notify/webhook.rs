//! Generic webhooks: a JSON document (version, event, title, text, markdown, incident and
//! the alert itself), signed when a secret is set: `X-Portwatch-Signature: sha256=<hex>` is
//! the HMAC-SHA256 of the exact body bytes, `X-Portwatch-Timestamp` the send time.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use super::format::hex;
use super::validate::{http_url, non_empty};
use super::{Alert, Notifier, NotifyError, NotifyOptions, SendFuture, http};

const EXAMPLE: &str = "https://alerts.example.com/portwatch";
/// The version of the body's layout.
pub const BODY_VERSION: u32 = 1;
/// Headers portwatch sets itself, which `headers` may not replace.
const RESERVED: [&str; 4] = [
    "content-type",
    "content-length",
    "host",
    "transfer-encoding",
];

/// `[[notify]] type = "webhook"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST.
    #[serde(deserialize_with = "super::secret::url")]
    pub url: String,
    /// Key of the HMAC-SHA256 signature; unsigned when absent.
    #[serde(default, deserialize_with = "super::secret::secret")]
    pub secret: Option<String>,
    /// Extra headers (e.g. `Authorization`).
    #[serde(default, deserialize_with = "super::secret::headers")]
    pub headers: BTreeMap<String, String>,
}

impl WebhookConfig {
    /// Checks the URL, the secret and every header name and value.
    pub fn validate(&self) -> Result<(), NotifyError> {
        http_url("webhook", "url", &self.url, EXAMPLE)?;
        if let Some(secret) = &self.secret {
            non_empty(
                "webhook",
                "secret",
                secret,
                "remove it to send unsigned requests",
            )?;
        }
        self.header_map().map(drop)
    }

    fn header_map(&self) -> Result<Vec<(HeaderName, HeaderValue)>, NotifyError> {
        let mut out = Vec::new();
        for (name, value) in &self.headers {
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                NotifyError::permanent(
                    "webhook",
                    format!("webhook.headers: `{name}` is not a valid header name"),
                )
            })?;
            let lower = header.as_str();
            if RESERVED.contains(&lower) || lower.starts_with("x-portwatch-") {
                return Err(NotifyError::permanent(
                    "webhook",
                    format!(
                        "webhook.headers: `{name}` is set by portwatch and cannot be overridden"
                    ),
                ));
            }
            let value = HeaderValue::from_str(value).map_err(|_| {
                NotifyError::permanent(
                    "webhook",
                    format!("webhook.headers.{name}: the value must be visible ASCII"),
                )
            })?;
            out.push((header, value));
        }
        Ok(out)
    }
}

/// The JSON document posted.
pub fn payload(alert: &Alert) -> Value {
    json!({
        "version": BODY_VERSION,
        "event": alert.kind,
        "title": alert.title(),
        "text": alert.text(),
        "markdown": alert.markdown(),
        "incident": alert.incident_key(),
        "vantage": alert.vantage,
        // The same on every attempt of this message (also in the X-Portwatch-Key header):
        // delivery is at least once, so a receiver drops a repeat by this key.
        "idempotency_key": alert.key,
        "alert": alert,
    })
}

/// `sha256=<hex HMAC-SHA256 of body under secret>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    format!("sha256={}", hex(ring::hmac::sign(&key, body).as_ref()))
}

/// Posts to a generic webhook.
pub(crate) struct Webhook {
    name: String,
    url: Url,
    secret: Option<String>,
    headers: Vec<(HeaderName, HeaderValue)>,
    client: reqwest::Client,
}

impl Webhook {
    /// Validates and builds.
    pub(crate) fn new(
        name: &str,
        config: &WebhookConfig,
        options: &NotifyOptions,
    ) -> Result<Self, NotifyError> {
        config.validate()?;
        Ok(Webhook {
            name: name.to_string(),
            url: http_url("webhook", "url", &config.url, EXAMPLE)?,
            secret: config.secret.clone(),
            headers: config.header_map()?,
            client: http::client(name, options)?,
        })
    }
}

impl Notifier for Webhook {
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'a>(&'a self, alert: &'a Alert) -> SendFuture<'a> {
        Box::pin(async move {
            let body = payload(alert).to_string().into_bytes();
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let mut request = self
                .client
                .post(self.url.clone())
                .header(CONTENT_TYPE, "application/json")
                .header("X-Portwatch-Event", alert.kind.as_str())
                .header("X-Portwatch-Timestamp", now.to_string());
            // The body carries the key in any case; the header only when HTTP allows it.
            if let Ok(key) = HeaderValue::from_bytes(alert.key.as_bytes()) {
                request = request.header("X-Portwatch-Key", key);
            }
            if let Some(secret) = &self.secret {
                request = request.header("X-Portwatch-Signature", signature(secret, &body));
            }
            for (name, value) in &self.headers {
                request = request.header(name.clone(), value.clone());
            }
            http::send(&self.name, request.body(body)).await
        })
    }
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &portwatch_store::redact::origin(&self.url))
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}
