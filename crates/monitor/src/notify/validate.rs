//! Checks shared by every provider's `validate`: each message names the provider and field,
//! and never repeats a secret (webhook URLs and tokens are secrets).

use url::Url;

use super::error::NotifyError;

/// Parses an http(s) URL with a host, or says what is wrong with it.
pub(crate) fn http_url(
    kind: &str,
    field: &str,
    value: &str,
    example: &str,
) -> Result<Url, NotifyError> {
    let url = Url::parse(value.trim()).map_err(|e| {
        NotifyError::permanent(
            kind,
            format!("{kind}.{field}: not a URL ({e}); expected {example}"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(NotifyError::permanent(
            kind,
            format!(
                "{kind}.{field}: scheme `{}` is not http or https; expected {example}",
                url.scheme()
            ),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(NotifyError::permanent(
            kind,
            format!("{kind}.{field}: the URL has no host; expected {example}"),
        ));
    }
    Ok(url)
}

/// Rejects an empty or blank value.
pub(crate) fn non_empty(
    kind: &str,
    field: &str,
    value: &str,
    hint: &str,
) -> Result<(), NotifyError> {
    if value.trim().is_empty() {
        return Err(NotifyError::permanent(
            kind,
            format!("{kind}.{field}: must not be empty; {hint}"),
        ));
    }
    Ok(())
}

/// Rejects whitespace and control characters in a token that travels in a URL or header.
pub(crate) fn token_chars(kind: &str, field: &str, value: &str) -> Result<(), NotifyError> {
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(NotifyError::permanent(
            kind,
            format!("{kind}.{field}: contains whitespace or control characters"),
        ));
    }
    Ok(())
}

/// The `Debug` of a provider's config whose only field is its secret URL, redacted
/// ([`portwatch_store::redact::origin`]).
pub(crate) fn debug_url_only(
    f: &mut std::fmt::Formatter<'_>,
    config: &str,
    url: &str,
) -> std::fmt::Result {
    f.debug_struct(config)
        .field("url", &portwatch_store::redact::origin(url))
        .finish()
}
