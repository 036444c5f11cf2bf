//! The HTTP side shared by every web provider: one client (rustls with ring, no redirects,
//! a timeout), one POST, and one reading of the answer into `Delivery` or a classified error.

use std::error::Error as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};

use super::error::{NotifyError, certificate_problem};
use super::{Alert, Delivery, Notifier, NotifyOptions, SendFuture};

/// Most of an error body that is kept for the message.
const ERROR_BODY_CHARS: usize = 300;
/// Most of any answer that is read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Builds the client every HTTP notifier uses: rustls with the ring provider and the
/// platform's roots, no redirects (a redirected POST is a misconfigured URL), a timeout.
pub(crate) fn client(kind: &str, options: &NotifyOptions) -> Result<reqwest::Client, NotifyError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone()).map_err(|e| {
        NotifyError::permanent(kind, format!("cannot load the system's TLS roots: {e}"))
    })?;
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| NotifyError::permanent(kind, format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(options.timeout)
        .connect_timeout(options.timeout)
        .user_agent(options.user_agent.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| {
            NotifyError::permanent(kind, format!("HTTP client setup: {}", e.without_url()))
        })
}

/// POSTs `body` as JSON to `url` (with the message's key, see [`with_key`]) and reads the
/// answer into a delivery or a classified error, as [`send`] does.
pub(crate) async fn post_json_and_read(
    name: &str,
    client: &reqwest::Client,
    url: url::Url,
    body: &serde_json::Value,
    key: &str,
) -> Result<Delivery, NotifyError> {
    send(name, post_json(client, url, body, key)).await
}

/// How a provider turns an alert into the JSON body it posts.
type Payload = Box<dyn Fn(&Alert) -> serde_json::Value + Send + Sync>;

/// A notifier whose whole job is one JSON POST per alert to a URL, the body made by its
/// provider's `payload` (Slack, Discord, Teams, Telegram, PagerDuty).
pub(crate) struct JsonWebhook {
    name: String,
    url: url::Url,
    client: reqwest::Client,
    payload: Payload,
}

impl JsonWebhook {
    /// Builds the client for `url` (already validated).
    pub(crate) fn new(
        name: &str,
        url: url::Url,
        payload: impl Fn(&Alert) -> serde_json::Value + Send + Sync + 'static,
        options: &NotifyOptions,
    ) -> Result<Self, NotifyError> {
        Ok(JsonWebhook {
            name: name.to_string(),
            url,
            client: client(name, options)?,
            payload: Box::new(payload),
        })
    }
}

impl Notifier for JsonWebhook {
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'a>(&'a self, alert: &'a Alert) -> SendFuture<'a> {
        Box::pin(async move {
            let body = (self.payload)(alert);
            post_json_and_read(
                &self.name,
                &self.client,
                self.url.clone(),
                &body,
                &alert.key,
            )
            .await
        })
    }
}

/// A POST of `body` as JSON.
fn post_json(
    client: &reqwest::Client,
    url: url::Url,
    body: &serde_json::Value,
    key: &str,
) -> RequestBuilder {
    with_key(
        client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string()),
        key,
    )
}

/// Adds the message's idempotency key as `X-Portwatch-Key` (when HTTP allows the value; the
/// body carries it in any case). Delivery is at least once; a peer or proxy that looks at the
/// header can drop a repeat.
pub(crate) fn with_key(request: RequestBuilder, key: &str) -> RequestBuilder {
    match reqwest::header::HeaderValue::from_str(key) {
        Ok(v) => request.header("X-Portwatch-Key", v),
        Err(_) => request,
    }
}

/// Sends one request and reads the answer: 2xx is a delivery; 429, 408 and 5xx are
/// retryable (with the peer's `Retry-After`); other statuses and redirects are not.
pub(crate) async fn send(name: &str, request: RequestBuilder) -> Result<Delivery, NotifyError> {
    let mut response = request.send().await.map_err(|e| transport_error(name, e))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = read_capped(&mut response).await;
    if status.is_success() {
        return Ok(Delivery {
            status: format!("HTTP {status}"),
        });
    }
    Err(status_error(name, status, &headers, &body))
}

/// Reads at most `MAX_ANSWER_BYTES` of the body; a body that breaks off is kept as read.
async fn read_capped(response: &mut reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = MAX_ANSWER_BYTES - bytes.len();
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if bytes.len() >= MAX_ANSWER_BYTES {
            break;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Classifies a non-2xx status.
pub(crate) fn status_error(
    name: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
) -> NotifyError {
    let said = one_line(body);
    let said = if said.is_empty() {
        String::new()
    } else {
        format!(": {said}")
    };
    if status.is_redirection() {
        let to = headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| format!(" to {}", portwatch_store::redact::origin(l)))
            .unwrap_or_default();
        return NotifyError::permanent(
            name,
            format!("HTTP {status}: redirected{to}; configure the final URL"),
        );
    }
    let wait = retry_after(headers, body);
    let error = if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
    {
        NotifyError::transient(name, format!("HTTP {status}{said}"))
    } else {
        NotifyError::permanent(name, format!("HTTP {status}{said}"))
    };
    error.with_retry_after(wait)
}

/// The delay a peer asked for: the `Retry-After` header (seconds or an HTTP date), else a
/// `retry_after` in a JSON body (Discord: seconds as a float; Telegram: under `parameters`).
pub(crate) fn retry_after(headers: &HeaderMap, body: &str) -> Option<Duration> {
    if let Some(value) = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()) {
        let value = value.trim();
        if let Ok(secs) = value.parse::<f64>() {
            return Duration::try_from_secs_f64(secs.max(0.0)).ok();
        }
        if let Ok(when) = httpdate::parse_http_date(value) {
            return Some(
                when.duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO),
            );
        }
    }
    let json: serde_json::Value = serde_json::from_str(body).ok()?;
    let secs = json
        .get("retry_after")
        .or_else(|| json.get("parameters").and_then(|p| p.get("retry_after")))
        .and_then(serde_json::Value::as_f64)?;
    Duration::try_from_secs_f64(secs.max(0.0)).ok()
}

/// Classifies a failure to get any answer. The URL is left out: for webhooks and Telegram
/// it carries the secret.
fn transport_error(name: &str, error: reqwest::Error) -> NotifyError {
    let error = error.without_url();
    if let Some(tls) = certificate_problem(&error) {
        return NotifyError::permanent(name, format!("TLS certificate rejected: {tls}"));
    }
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    NotifyError::transient(name, format!("{what}: {}", causes(&error)))
}

/// The error and its causes on one line, without the URL.
fn causes(error: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = error.source();
    while let Some(err) = source {
        let text = err.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = err.source();
    }
    if parts.is_empty() {
        parts.push(error.to_string());
    }
    parts.join(": ")
}

/// Collapses whitespace and cuts a peer's answer for an error message.
fn one_line(body: &str) -> String {
    let flat = body.split_whitespace().collect::<Vec<_>>().join(" ");
    super::format::truncate_chars(&flat, ERROR_BODY_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(RETRY_AFTER, value.parse().unwrap());
        map
    }

    #[test]
    fn retry_after_reads_seconds_dates_and_json() {
        assert_eq!(
            retry_after(&headers("30"), ""),
            Some(Duration::from_secs(30))
        );
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(90));
        let wait = retry_after(&headers(&later), "").unwrap();
        assert!((85..=90).contains(&wait.as_secs()), "{wait:?}");
        let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(90));
        assert_eq!(retry_after(&headers(&past), ""), Some(Duration::ZERO));
        let telegram = r#"{"ok":false,"error_code":429,"parameters":{"retry_after":12}}"#;
        assert_eq!(
            retry_after(&HeaderMap::new(), telegram),
            Some(Duration::from_secs(12))
        );
        assert_eq!(retry_after(&HeaderMap::new(), "not json"), None);
    }

    #[test]
    fn statuses_are_classified() {
        let none = HeaderMap::new();
        let cases = [
            (408, true),
            (429, true),
            (500, true),
            (502, true),
            (400, false),
            (401, false),
            (403, false),
            (404, false),
            (410, false),
        ];
        for (code, retryable) in cases {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(
                status_error("n", status, &none, "").retryable,
                retryable,
                "{code}"
            );
        }
    }
}
