//! The agent's side of the agent endpoints: poll, renew, push. Every answer is sorted into
//! done, refused for good (a bad token: stop), or worth retrying (network, 5xx).
//!
//! An agent may know several replicas of one server (`--server` repeated): they share one
//! database, so any of them can take any request. Requests go to the replica that answered
//! last; when it cannot be reached or answers 5xx, the others are tried in turn before the
//! request counts as failed, so one dead replica costs a request's connect time, not a backoff.

use super::spool::Spooled;
use anyhow::{Context, Result, bail};
use reqwest::StatusCode;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How long one request may take (a poll waits up to about 20 s on the server).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(45);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a request came to.
#[derive(Debug)]
pub enum Answer<T> {
    /// Done.
    Ok(T),
    /// Refused for good: the token is unknown, revoked or not an agent token.
    Refused(String),
    /// Try again later.
    Retry(String),
}

/// A job the server gave us.
#[derive(Debug, Clone, Deserialize)]
pub struct Offer {
    /// The job.
    pub id: i64,
    /// The claim's number.
    pub attempt: i64,
    /// The claim's fencing token.
    pub token: String,
    /// How long the claim lasts unless renewed.
    pub lease_ms: i64,
    /// What to scan.
    pub spec: serde_json::Value,
}

#[derive(Deserialize)]
struct Pushed {
    status: String,
}

/// The server, as this agent reaches it: one or more replicas.
#[derive(Clone)]
pub struct Server {
    client: reqwest::Client,
    bases: Arc<[reqwest::Url]>,
    /// The replica that answered last (an index into `bases`), tried first.
    current: Arc<AtomicUsize>,
    token: Arc<str>,
    name: Arc<str>,
}

/// Checks one `--server` URL and makes it a base URL that relative paths join onto.
fn base_url(url: &str) -> Result<reqwest::Url> {
    let mut base = reqwest::Url::parse(url.trim()).with_context(|| {
        format!("--server '{url}': not a URL (e.g. https://portwatch.example:8080)")
    })?;
    if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
        bail!("--server '{url}': the URL must start with http:// or https:// and name a host");
    }
    if base.query().is_some() || base.fragment().is_some() {
        bail!("--server '{url}': give the server's base URL, without ?query or #fragment");
    }
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    Ok(base)
}

fn well_formed(token: &str) -> bool {
    token.len() == 67
        && token.starts_with("pw_")
        && token[3..].bytes().all(|b| b.is_ascii_hexdigit())
}

fn tls_config(ca: Option<&Path>) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS setup")?;
    Ok(if let Some(path) = ca {
        let mut roots = rustls::RootCertStore::empty();
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .with_context(|| format!("--ca {}: cannot read it", path.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("--ca {}: not a PEM certificate file", path.display()))?;
        if certs.is_empty() {
            bail!("--ca {}: no certificate in it", path.display());
        }
        for c in certs {
            roots.add(c).with_context(|| {
                format!("--ca {}: a certificate cannot be used", path.display())
            })?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        let verifier = rustls_platform_verifier::Verifier::new(provider)
            .context("cannot load the system's TLS roots")?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth()
    })
}

impl Server {
    /// Checks the URLs (one per replica), token and CA file, and builds the client.
    pub fn new(urls: &[String], token: &str, ca: Option<&Path>, name: &str) -> Result<Self> {
        let mut bases = Vec::with_capacity(urls.len());
        for url in urls.iter().filter(|u| !u.trim().is_empty()) {
            let base = base_url(url)?;
            if !bases.contains(&base) {
                bases.push(base);
            }
        }
        if bases.is_empty() {
            bail!("--server: give the server's URL (e.g. https://portwatch.example:8080)");
        }
        let token = token.trim();
        if !well_formed(token) {
            bail!(
                "--token: not a portwatch token (pw_ followed by 64 hex digits; create one with `portwatch token create --role agent --vantage NAME`)"
            );
        }
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config(ca)?)
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(format!("portwatch-agent/{}", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("HTTP client setup")?;
        Ok(Server {
            client,
            bases: bases.into(),
            current: Arc::new(AtomicUsize::new(0)),
            token: token.into(),
            name: name.into(),
        })
    }

    /// The replicas' base URLs, comma-separated (for the log).
    pub fn bases(&self) -> String {
        let urls: Vec<&str> = self.bases.iter().map(reqwest::Url::as_str).collect();
        urls.join(",")
    }

    /// The agent's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends a request to the replica that answered last, then to each other replica while
    /// the answer is a network error or a 5xx; the last failure is what is returned.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Answer<reqwest::Response> {
        let first = self.current.load(Ordering::Relaxed) % self.bases.len();
        let mut failed = String::new();
        for i in 0..self.bases.len() {
            let at = (first + i) % self.bases.len();
            let base = &self.bases[at];
            // The path is ours and relative: joining cannot fail.
            let url = base.join(path).unwrap_or_else(|_| base.clone());
            let sent = self
                .client
                .request(method.clone(), url)
                .bearer_auth(&*self.token)
                .json(body)
                .send()
                .await;
            let answer = match sent {
                Err(e) => {
                    failed = format!("{base}: {}", causes(&e));
                    continue;
                }
                Ok(r) if r.status().is_server_error() && i + 1 < self.bases.len() => {
                    failed = format!("{base}: {}", r.status());
                    continue;
                }
                Ok(r) if matches!(r.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
                    let status = r.status();
                    let text = error_text(r).await;
                    Answer::Refused(format!("the server refused the token ({status}): {text}"))
                }
                Ok(r) => Answer::Ok(r),
            };
            if at != first {
                tracing::warn!(from = %self.bases[first], to = %base, reason = %failed, "switched to another server");
                self.current.store(at, Ordering::Relaxed);
            }
            return answer;
        }
        Answer::Retry(failed)
    }

    /// Asks for a job (`current_job: None`), or sends a heartbeat while running one.
    pub async fn poll(&self, current_job: Option<i64>) -> Answer<Option<Offer>> {
        let body = serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "current_job": current_job,
            "name": &*self.name,
        });
        let r = match self
            .send(reqwest::Method::POST, "api/v1/agent/poll", &body)
            .await
        {
            Answer::Ok(r) => r,
            Answer::Refused(m) => return Answer::Refused(m),
            Answer::Retry(m) => return Answer::Retry(m),
        };
        match r.status() {
            StatusCode::NO_CONTENT => Answer::Ok(None),
            StatusCode::OK => match r.json::<Offer>().await {
                Ok(offer) => Answer::Ok(Some(offer)),
                Err(e) => Answer::Retry(format!("the server's job cannot be read: {}", causes(&e))),
            },
            s => Answer::Retry(format!("poll: {s}: {}", error_text(r).await)),
        }
    }

    /// Renews a claim: refused when the claim is lost.
    pub async fn renew(&self, id: i64, attempt: i64, token: &str) -> Answer<()> {
        let body = serde_json::json!({"attempt": attempt, "token": token});
        let path = format!("api/v1/agent/jobs/{id}/renew");
        let r = match self.send(reqwest::Method::POST, &path, &body).await {
            Answer::Ok(r) => r,
            Answer::Refused(m) => return Answer::Refused(m),
            Answer::Retry(m) => return Answer::Retry(m),
        };
        match r.status() {
            StatusCode::OK => Answer::Ok(()),
            StatusCode::CONFLICT | StatusCode::NOT_FOUND => Answer::Refused(error_text(r).await),
            s => Answer::Retry(format!("renew: {s}: {}", error_text(r).await)),
        }
    }

    /// Pushes an outcome; `Ok` with the server's word once it has answered for it for good
    /// (accepted, already accepted, superseded, or refused as malformed or unknown).
    pub async fn push(&self, item: &Spooled) -> Answer<String> {
        let body = match &item.result {
            Some(result) => serde_json::json!({"token": item.token, "result": result}),
            None => serde_json::json!({
                "token": item.token,
                "error": item.error.as_deref().filter(|e| !e.is_empty()).unwrap_or("unknown error"),
            }),
        };
        let path = format!("api/v1/agent/jobs/{}/attempts/{}", item.id, item.attempt);
        let r = match self.send(reqwest::Method::PUT, &path, &body).await {
            Answer::Ok(r) => r,
            Answer::Refused(m) => return Answer::Refused(m),
            Answer::Retry(m) => return Answer::Retry(m),
        };
        let status = r.status();
        match status {
            StatusCode::OK | StatusCode::CONFLICT => match r.json::<Pushed>().await {
                Ok(p) => Answer::Ok(p.status),
                Err(e) => Answer::Retry(format!(
                    "the server's answer cannot be read: {}",
                    causes(&e)
                )),
            },
            s if s.is_client_error()
                && s != StatusCode::REQUEST_TIMEOUT
                && s != StatusCode::TOO_MANY_REQUESTS =>
            {
                let text = error_text(r).await;
                tracing::error!(job = item.id, attempt = item.attempt, status = %s, error = %text, "the server refused a result for good; it is dropped");
                Answer::Ok(format!("refused ({s})"))
            }
            s => Answer::Retry(format!("push: {s}: {}", error_text(r).await)),
        }
    }
}

async fn error_text(r: reqwest::Response) -> String {
    let text = r.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or(text);
    message.chars().take(300).collect()
}

fn causes(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let t = s.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        source = s.source();
    }
    text
}
