//! `smtp://user:pass@host:587?tls=starttls|tls|none` (and `smtps://host` for implicit TLS):
//! the one string that says where and how email is sent.

use std::fmt;

use url::Url;

use super::error::NotifyError;

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text (only for a relay on the same machine or a test server).
    None,
    /// Plain connection upgraded with STARTTLS, which is required (default for `smtp://`).
    StartTls,
    /// TLS from the first byte ("implicit TLS", default for `smtps://`).
    Tls,
}

impl SmtpTls {
    /// The port used when the URL names none: 25, 587 or 465.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::None => 25,
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
        }
    }
}

/// A parsed SMTP URL.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    /// Server name or address.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Transport security.
    pub tls: SmtpTls,
    /// Login name, when the server wants AUTH.
    pub user: Option<String>,
    /// Password (percent-decoded).
    pub password: Option<String>,
}

/// The shape the URL must have, for error messages.
pub const SMTP_URL_FORM: &str = "smtp://[user:password@]host[:port][?tls=starttls|tls|none]";

impl SmtpUrl {
    /// Parses and checks an SMTP URL; `field` names it in errors (`email.smtp`).
    pub fn parse(field: &str, text: &str) -> Result<Self, NotifyError> {
        let bad = |why: String| {
            NotifyError::permanent("email", format!("{field}: {why}; expected {SMTP_URL_FORM}"))
        };
        let url = Url::parse(text.trim()).map_err(|e| bad(format!("not a URL ({e})")))?;
        let mut tls = match url.scheme() {
            "smtp" => SmtpTls::StartTls,
            "smtps" => SmtpTls::Tls,
            other => return Err(bad(format!("scheme `{other}` is not smtp or smtps"))),
        };
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", "starttls") => tls = SmtpTls::StartTls,
                ("tls", "tls") => tls = SmtpTls::Tls,
                ("tls", "none") => tls = SmtpTls::None,
                ("tls", other) => {
                    return Err(bad(format!("tls=`{other}` is not starttls, tls or none")));
                }
                (other, _) => return Err(bad(format!("unknown parameter `{other}`"))),
            }
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if !matches!(url.path(), "" | "/") {
            return Err(bad("a path is not allowed".into()));
        }
        let decode = |s: &str| {
            percent_decode(s)
                .map_err(|()| bad("user or password is not valid percent-encoded UTF-8".into()))
        };
        let user = Some(decode(url.username())?).filter(|u| !u.is_empty());
        let password = url.password().map(decode).transpose()?;
        if password.is_some() && user.is_none() {
            return Err(bad("a password needs a user name".into()));
        }
        Ok(SmtpUrl {
            port: url.port().unwrap_or(tls.default_port()),
            host,
            tls,
            user,
            password,
        })
    }
}

/// Decodes `%XX` escapes into UTF-8; a `%` without two hex digits after it is an error.
fn percent_decode(text: &str) -> Result<String, ()> {
    let escapes_whole = text.split('%').skip(1).all(|after| {
        after
            .as_bytes()
            .get(..2)
            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    if !escapes_whole {
        return Err(());
    }
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(drop)
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpUrl")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let u = SmtpUrl::parse(
            "email.smtp",
            "smtp://alice:p%40ss@mail.example.com:2525?tls=none",
        )
        .unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.tls),
            ("mail.example.com", 2525, SmtpTls::None)
        );
        assert_eq!(
            (u.user.as_deref(), u.password.as_deref()),
            (Some("alice"), Some("p@ss"))
        );
        assert_eq!(SmtpUrl::parse("f", "smtp://mx").unwrap().port, 587);
        assert_eq!(SmtpUrl::parse("f", "smtps://mx").unwrap().tls, SmtpTls::Tls);
        assert_eq!(SmtpUrl::parse("f", "smtps://mx").unwrap().port, 465);
        assert_eq!(
            SmtpUrl::parse("f", "smtp://[::1]:25?tls=none")
                .unwrap()
                .host,
            "::1"
        );
    }

    #[test]
    fn rejects_what_it_cannot_use_without_echoing_passwords() {
        for bad in [
            "http://mx",
            "smtp://mx?tls=maybe",
            "smtp://mx?foo=1",
            "smtp://:pw@mx",
            "smtp:///x",
            "mx:25",
        ] {
            let err = SmtpUrl::parse("email.smtp", bad).unwrap_err();
            assert!(err.message.starts_with("email.smtp: "), "{bad}: {err}");
            assert!(!err.retryable);
        }
        let err = SmtpUrl::parse("email.smtp", "smtp://u:hunter2@mx?tls=x").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
