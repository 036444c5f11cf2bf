//! The start line and header fields of text protocols shaped like HTTP (HTTP, SSDP, SIP, RTSP).

use crate::error::{ProtoError, Result};
use crate::text;

/// Most header fields kept from one message.
const MAX_HEADERS: usize = 64;
/// Longest header block examined, in bytes.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// A parsed message head: status or request line, then `Name: value` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    /// The first line, cleaned.
    pub(crate) start_line: String,
    /// Header fields with lower-cased names and cleaned values, in order.
    pub(crate) fields: Vec<(String, String)>,
    /// Offset of the body, when the blank line ending the head was seen.
    pub(crate) body_offset: Option<usize>,
}

impl Head {
    /// Parses the head of `bytes`; lines may end in CRLF or LF.
    pub(crate) fn parse(bytes: &[u8], what: &'static str) -> Result<Self> {
        let window = &bytes[..bytes.len().min(MAX_HEAD_BYTES)];
        let mut lines = Vec::new();
        let mut pos = 0;
        let mut body_offset = None;
        while pos < window.len() {
            let end = window[pos..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|i| pos + i);
            let (line, next) = match end {
                Some(e) => (&window[pos..e], e + 1),
                None => (&window[pos..], window.len()),
            };
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() && !lines.is_empty() {
                body_offset = Some(next);
                break;
            }
            lines.push(line);
            pos = next;
        }
        let Some((first, rest)) = lines.split_first() else {
            return Err(ProtoError::Truncated {
                what,
                needed: 1,
                got: 0,
            });
        };
        let fields = rest
            .iter()
            .filter_map(|line| {
                let colon = line.iter().position(|&b| b == b':')?;
                let name = text::printable(&line[..colon], 64).to_ascii_lowercase();
                let value = text::printable(&line[colon + 1..], text::MAX_TEXT);
                Some((name, value))
            })
            .take(MAX_HEADERS)
            .collect();
        Ok(Self {
            start_line: text::printable(first, text::MAX_TEXT),
            fields,
            body_offset,
        })
    }

    /// The first value of the field `name` (give it lower-case).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Splits a status line "PROTO/1.1 200 Reason" into protocol, code and reason.
    pub(crate) fn status(&self) -> Option<(&str, u16, &str)> {
        let mut parts = self.start_line.splitn(3, ' ');
        let proto = parts.next()?;
        let code = parts.next()?.parse().ok()?;
        Some((proto, code, parts.next().unwrap_or("")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_fields() {
        let h = Head::parse(
            b"HTTP/1.1 200 OK\r\nServer: x\r\nST:  upnp:rootdevice \r\n\r\nbody",
            "t",
        )
        .unwrap();
        assert_eq!(h.status(), Some(("HTTP/1.1", 200, "OK")));
        assert_eq!(h.get("server"), Some("x"));
        assert_eq!(h.get("st"), Some("upnp:rootdevice"));
        assert_eq!(h.body_offset, Some(53));
        assert!(Head::parse(b"", "t").is_err());
        let lf = Head::parse(b"SIP/2.0 404 Not Found\nA: b\n", "t").unwrap();
        assert_eq!(lf.status(), Some(("SIP/2.0", 404, "Not Found")));
        assert_eq!(lf.body_offset, None);
    }
}
