//! How a banner is shown to people. A text protocol's greeting is a line worth reading as it
//! is; a binary protocol's answer is not text at all, and printing its bytes lossily gives
//! stray letters and replacement characters. Such answers are shown by their decoded facts
//! (the [`ServiceMatch`]) and, for whoever wants the bytes, in escaped form.

use super::ServiceMatch;
use crate::text;

/// Longest text line kept, in characters.
pub const MAX_LINE: usize = 200;
/// Bytes of a binary answer kept in escaped form.
pub const ESCAPED_BYTES: usize = 64;

/// Services whose answers are binary structures, never a line of text, even when the bytes
/// happen to be printable (PostgreSQL answers an SSLRequest with the single byte `N` or `S`).
const BINARY_SERVICES: &[&str] = &[
    "amqp",
    "ldap",
    "mongodb",
    "mqtt",
    "ms-sql-s",
    "mysql",
    "postgresql",
    "rdp",
    "x11",
];

/// A banner in printable form: at most one of the two is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BannerView {
    /// The first line of a text banner, cleaned of control characters.
    pub text: Option<String>,
    /// A binary answer's first bytes, escaped (see [`text::escaped`]).
    pub escaped: Option<String>,
}

impl BannerView {
    /// The one line to show for the banner itself: its text, or its escaped bytes.
    pub fn line(&self) -> Option<&str> {
        self.text.as_deref().or(self.escaped.as_deref())
    }
}

/// The printable form of `data`, a service's answer, knowing what [`super::identify`] made of
/// it: text when the service speaks text and its first line is clean UTF-8, escaped bytes
/// otherwise.
pub fn view(data: &[u8], found: Option<&ServiceMatch>) -> BannerView {
    if data.is_empty() {
        return BannerView::default();
    }
    let binary_service = found.is_some_and(|m| BINARY_SERVICES.contains(&m.service));
    match text_line(data) {
        Some(line) if !binary_service => BannerView {
            text: Some(line),
            escaped: None,
        },
        _ => BannerView {
            text: None,
            escaped: Some(text::escaped(data, ESCAPED_BYTES)),
        },
    }
}

/// The first line of `data` when it is text: valid UTF-8, not empty, and free of control
/// characters other than tabs and the line's closing CR.
fn text_line(data: &[u8]) -> Option<String> {
    let line = data.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // A line longer than what is kept may be cut inside a character; judge only what is kept.
    let judged = line.get(..MAX_LINE * 4).unwrap_or(line);
    let decoded = match std::str::from_utf8(judged) {
        Ok(s) => s,
        Err(e) if e.error_len().is_none() && judged.len() < line.len() => {
            std::str::from_utf8(&judged[..e.valid_up_to()]).ok()?
        }
        Err(_) => return None,
    };
    if decoded.chars().any(|c| c.is_control() && c != '\t') {
        return None;
    }
    let cleaned = text::clean_str(decoded, MAX_LINE);
    (!cleaned.is_empty()).then_some(cleaned)
}

#[cfg(test)]
mod tests {
    use super::super::identify;
    use super::*;

    fn shown(data: &[u8]) -> BannerView {
        view(data, identify(data).as_ref())
    }

    #[test]
    fn text_greetings_keep_their_first_line() {
        let v = shown(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6\r\nrest");
        assert_eq!(
            v.text.as_deref(),
            Some("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6")
        );
        assert_eq!(v.escaped, None);
        assert_eq!(shown(b"").line(), None);
    }

    #[test]
    fn binary_services_are_escaped_even_when_printable() {
        let v = shown(b"N");
        assert_eq!(v.text, None);
        assert_eq!(v.line(), Some("N"));
        let greeting = b"\x64\x00\x00\x00\x0a5.5.5-10.11.19-MariaDB\x00";
        assert_eq!(
            shown(greeting).escaped.as_deref(),
            Some("d\\0\\0\\0\\n5.5.5-10.11.19-MariaDB\\0")
        );
    }

    #[test]
    fn unknown_bytes_with_controls_are_escaped() {
        let v = view(b"\x01\x02hello\xff\n", None);
        assert_eq!(v.text, None);
        assert_eq!(v.escaped.as_deref(), Some("\\x01\\x02hello\\xff\\n"));
        assert_eq!(
            view(b"\xc3\xa9t\xc3\xa9\r\n", None).text.as_deref(),
            Some("été")
        );
    }
}
