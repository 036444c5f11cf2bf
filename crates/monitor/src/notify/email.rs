//! Email over SMTP: one plain-text message per alert (subject = title, body = `text()`),
//! threaded per incident, marked `Auto-Submitted`, sent with lettre over plain, STARTTLS or
//! implicit TLS (rustls with ring).

use std::time::{Duration, UNIX_EPOCH};

use lettre::message::Mailbox;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use super::error::certificate_problem;
use super::format::hex;
use super::smtp_url::{SmtpTls, SmtpUrl};
use super::{Alert, AlertKind, Delivery, Notifier, NotifyError, NotifyOptions, SendFuture};

/// `[[notify]] type = "email"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// Recipients (`ops@example.com` or `Ops <ops@example.com>`).
    pub to: Vec<String>,
    /// Sender address.
    pub from: String,
    /// `smtp://user:pass@host:587?tls=starttls|tls|none` (`smtps://` means implicit TLS).
    #[serde(deserialize_with = "super::secret::smtp")]
    pub smtp: String,
    /// The SMTP user's password, when it is not in the `smtp` URL (typically given by
    /// reference: `password = { credential = "smtp-password" }`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::secret::password"
    )]
    pub password: Option<String>,
    /// Accept any server certificate. UNSAFE: anyone on the path can read the mail and the
    /// password. Only for self-signed test servers.
    #[serde(default)]
    pub accept_invalid_certs: bool,
}

impl EmailConfig {
    /// Checks the addresses and the SMTP URL.
    pub fn validate(&self) -> Result<(), NotifyError> {
        self.parts().map(drop)
    }

    fn parts(&self) -> Result<(Vec<Mailbox>, Mailbox, SmtpUrl), NotifyError> {
        if self.to.is_empty() {
            return Err(NotifyError::permanent(
                "email",
                "email.to: needs at least one address",
            ));
        }
        let to = self
            .to
            .iter()
            .map(|addr| mailbox("email.to", addr))
            .collect::<Result<Vec<_>, _>>()?;
        let from = mailbox("email.from", &self.from)?;
        let mut smtp = SmtpUrl::parse("email.smtp", &self.smtp)?;
        if let Some(password) = &self.password {
            let why = if smtp.user.is_none() {
                "the smtp URL names no user to log in as (smtp://user@host)"
            } else if smtp.password.is_some() {
                "the smtp URL has a password too; give it in one place"
            } else if password.is_empty() {
                "is empty"
            } else {
                ""
            };
            if !why.is_empty() {
                return Err(NotifyError::permanent(
                    "email",
                    format!("email.password: {why}"),
                ));
            }
            smtp.password = Some(password.clone());
        }
        Ok((to, from, smtp))
    }
}

fn mailbox(field: &str, text: &str) -> Result<Mailbox, NotifyError> {
    text.trim().parse::<Mailbox>().map_err(|e| {
        NotifyError::permanent(
            "email",
            format!("{field}: `{text}` is not an email address ({e})"),
        )
    })
}

/// The `Message-ID` of the message that opened an incident; reminders and the resolve
/// refer to it, so mail clients show one thread per incident.
fn thread_id(alert: &Alert) -> String {
    format!("<{}@portwatch>", short_hash(&alert.incident_key()))
}

fn short_hash(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    hex(&digest.as_ref()[..16])
}

/// Builds the message: stable `Message-ID` (a retry is recognisably the same mail),
/// threading headers, `Auto-Submitted` and `X-Portwatch-*` for filters.
pub fn message(alert: &Alert, from: &Mailbox, to: &[Mailbox]) -> Result<Message, NotifyError> {
    let raw = |name: &'static str, value: &str| {
        HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_string())
    };
    let mut builder = Message::builder()
        .from(from.clone())
        .subject(alert.title())
        .date(UNIX_EPOCH + Duration::from_millis(u64::try_from(alert.at_ms).unwrap_or(0)))
        .header(ContentType::TEXT_PLAIN)
        .raw_header(raw("Auto-Submitted", "auto-generated"))
        .raw_header(raw("X-Portwatch-Kind", alert.kind.as_str()))
        .raw_header(raw("X-Portwatch-Severity", alert.severity.as_str()))
        .raw_header(raw("X-Portwatch-Key", &alert.key));
    builder = match alert.kind {
        AlertKind::Opened => builder.message_id(Some(thread_id(alert))),
        AlertKind::Test => {
            builder.message_id(Some(format!("<{}@portwatch>", short_hash(&alert.key))))
        }
        AlertKind::Reminder | AlertKind::Resolved => builder
            .message_id(Some(format!("<{}@portwatch>", short_hash(&alert.key))))
            .in_reply_to(thread_id(alert))
            .references(thread_id(alert)),
    };
    for mailbox in to {
        builder = builder.to(mailbox.clone());
    }
    builder
        .body(alert.text())
        .map_err(|e| NotifyError::permanent("email", format!("cannot build the message: {e}")))
}

/// Sends alerts by email.
pub(crate) struct Email {
    name: String,
    from: Mailbox,
    to: Vec<Mailbox>,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    deadline: Duration,
}

impl Email {
    /// Validates and builds the SMTP transport (no connection is made here).
    pub(crate) fn new(
        name: &str,
        config: &EmailConfig,
        options: &NotifyOptions,
    ) -> Result<Self, NotifyError> {
        let (to, from, smtp) = config.parts()?;
        let tls_parameters = || {
            TlsParameters::builder(smtp.host.clone())
                .dangerous_accept_invalid_certs(config.accept_invalid_certs)
                .build_rustls()
                .map_err(|e| NotifyError::permanent(name, format!("email TLS setup: {e}")))
        };
        let tls = match smtp.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::StartTls => Tls::Required(tls_parameters()?),
            SmtpTls::Tls => Tls::Wrapper(tls_parameters()?),
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.clone())
                .port(smtp.port)
                .tls(tls)
                .timeout(Some(options.timeout));
        if let Some(user) = &smtp.user {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                smtp.password.clone().unwrap_or_default(),
            ));
        }
        Ok(Email {
            name: name.to_string(),
            from,
            to,
            transport: builder.build(),
            // Each SMTP command has `timeout`; the whole dialogue gets a few of them.
            deadline: options.timeout * 3,
        })
    }
}

impl Notifier for Email {
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'a>(&'a self, alert: &'a Alert) -> SendFuture<'a> {
        Box::pin(async move {
            let message = message(alert, &self.from, &self.to).map_err(|e| e.named(&self.name))?;
            let sent = tokio::time::timeout(self.deadline, self.transport.send(message))
                .await
                .map_err(|_| {
                    NotifyError::transient(
                        &self.name,
                        format!("SMTP timed out after {:?}", self.deadline),
                    )
                })?;
            match sent {
                Ok(response) => {
                    let lines: Vec<&str> = response.message().collect();
                    Ok(Delivery {
                        status: format!("{} {}", response.code(), lines.join(" "))
                            .trim()
                            .to_string(),
                    })
                }
                Err(error) => Err(classify(&self.name, &error)),
            }
        })
    }
}

/// 4xx replies, timeouts and network trouble are worth retrying; 5xx replies (a refused
/// login or address), certificate problems and client errors are not.
fn classify(name: &str, error: &lettre::transport::smtp::Error) -> NotifyError {
    let text = chain(error);
    if let Some(cert) = certificate_problem(error) {
        return NotifyError::permanent(
            name,
            format!(
                "SMTP TLS: {cert} (for a self-signed test server only: accept_invalid_certs = true)"
            ),
        );
    }
    if error.is_permanent() {
        NotifyError::permanent(name, format!("SMTP server refused: {text}"))
    } else if error.is_transient() {
        NotifyError::transient(name, format!("SMTP server deferred: {text}"))
    } else if error.is_tls() {
        NotifyError::permanent(
            name,
            format!(
                "SMTP TLS failed: {text} (for a self-signed test server only: accept_invalid_certs = true)"
            ),
        )
    } else if error.is_client() {
        NotifyError::permanent(name, format!("SMTP: {text}"))
    } else {
        NotifyError::transient(name, format!("SMTP: {text}"))
    }
}

/// The error and its causes on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(err) = source {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = err.source();
    }
    parts.join(": ")
}

impl std::fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let smtp = SmtpUrl::parse("email.smtp", &self.smtp)
            .map_or_else(|_| "<invalid>".into(), |u| format!("{u:?}"));
        f.debug_struct("EmailConfig")
            .field("to", &self.to)
            .field("from", &self.from)
            .field("smtp", &smtp)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .finish()
    }
}
