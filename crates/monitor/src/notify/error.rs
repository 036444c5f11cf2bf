//! The one error of the notifiers: who failed, why, and whether another attempt may succeed.

use std::time::Duration;

/// A failed validation or delivery attempt.
///
/// A webhook notifier named `ops` answered 429 and asked for 30 seconds:
///
/// ```
/// use portwatch_monitor::notify::NotifyError;
/// use std::time::Duration;
///
/// let error = NotifyError::transient("webhook", "HTTP 429 Too Many Requests")
///     .named("ops")
///     .with_retry_after(Some(Duration::from_secs(30)));
/// assert!(error.retryable);
/// assert_eq!(error.retry_after, Some(Duration::from_secs(30)));
/// assert_eq!(error.to_string(), "notifier ops: HTTP 429 Too Many Requests");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("notifier {notifier}: {message}")]
pub struct NotifyError {
    /// The notifier's name (its kind, such as `slack`, before it has a name).
    pub notifier: String,
    /// What went wrong, naming the field or the peer's answer.
    pub message: String,
    /// True when the same message may go through later (network trouble, 429, 5xx).
    pub retryable: bool,
    /// How long the peer asked us to wait (from `Retry-After` or the provider's own field).
    pub retry_after: Option<Duration>,
}

impl NotifyError {
    /// A failure that will repeat on every attempt (bad config, 4xx, rejected address).
    pub fn permanent(notifier: impl Into<String>, message: impl Into<String>) -> Self {
        NotifyError {
            notifier: notifier.into(),
            message: message.into(),
            retryable: false,
            retry_after: None,
        }
    }

    /// A failure worth retrying (connection refused, timeout, 5xx).
    pub fn transient(notifier: impl Into<String>, message: impl Into<String>) -> Self {
        NotifyError {
            retryable: true,
            ..NotifyError::permanent(notifier, message)
        }
    }

    /// The same error attributed to the notifier called `name`.
    pub fn named(mut self, name: &str) -> Self {
        name.clone_into(&mut self.notifier);
        self
    }

    /// The same error with the delay the peer asked for.
    pub fn with_retry_after(mut self, wait: Option<Duration>) -> Self {
        self.retry_after = wait;
        self
    }
}

/// The certificate error somewhere in `error`'s chain, if that is what it was (also inside
/// `io::Error`s, whose `source()` skips the error they wrap): retrying cannot help until the
/// certificate or the configuration changes.
pub(crate) fn certificate_problem(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(tls @ rustls::Error::InvalidCertificate(_)) = error.downcast_ref::<rustls::Error>()
    {
        return Some(tls.to_string());
    }
    let wrapped = error
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref());
    if let Some(found) = wrapped.and_then(|inner| certificate_problem(inner)) {
        return Some(found);
    }
    error.source().and_then(certificate_problem)
}
