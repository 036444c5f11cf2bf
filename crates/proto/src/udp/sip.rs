//! SIP (RFC 3261): an OPTIONS request, which any SIP element answers.

use crate::error::{ProtoError, Result};
use crate::head::Head;

/// Builds an OPTIONS request; `id` goes in the branch, tag and Call-ID so answers can be matched.
pub fn options_request(id: u32) -> Vec<u8> {
    format!(
        "OPTIONS sip:portwatch@portwatch.invalid SIP/2.0\r\n\
         Via: SIP/2.0/UDP portwatch.invalid:5060;branch=z9hG4bK{id:08x};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:portwatch@portwatch.invalid>;tag={id:08x}\r\n\
         To: <sip:portwatch@portwatch.invalid>\r\n\
         Call-ID: {id:08x}@portwatch.invalid\r\n\
         CSeq: 1 OPTIONS\r\n\
         Contact: <sip:portwatch@portwatch.invalid>\r\n\
         Accept: application/sdp\r\n\
         User-Agent: portwatch\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// A parsed SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SipAnswer {
    /// Status code (200, 404, 401...).
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Server (or User-Agent) header: the product.
    pub server: Option<String>,
    /// Allow header: supported methods.
    pub allow: Option<String>,
    /// Call-ID header, echoed from the request.
    pub call_id: Option<String>,
}

impl SipAnswer {
    /// Parses a `SIP/2.0 <code> <reason>` response.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "SIP response";
        let head = Head::parse(bytes, WHAT)?;
        let Some((proto, status, reason)) = head.status() else {
            return Err(ProtoError::malformed(
                WHAT,
                format!("status line {:?}", head.start_line),
            ));
        };
        if proto != "SIP/2.0" {
            return Err(ProtoError::unexpected(WHAT, format!("protocol {proto:?}")));
        }
        let reason = reason.to_string();
        let field = |long: &str, short: &str| {
            head.get(long)
                .or_else(|| head.get(short))
                .map(str::to_string)
        };
        Ok(Self {
            status,
            reason,
            server: field("server", "user-agent"),
            allow: field("allow", "allow"),
            call_id: field("call-id", "i"),
        })
    }

    /// The id carried in Call-ID, when it is one of ours.
    pub fn id(&self) -> Option<u32> {
        let call_id = self.call_id.as_deref()?;
        u32::from_str_radix(call_id.strip_suffix("@portwatch.invalid")?, 16).ok()
    }

    /// One readable line.
    pub fn summary(&self) -> String {
        let mut line = format!("SIP {} {}", self.status, self.reason);
        if let Some(s) = &self.server {
            line.push_str(&format!(", server {s}"));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_answer() {
        let req = options_request(0xab);
        assert!(
            req.starts_with(
                b"OPTIONS sip:portwatch@portwatch.invalid SIP/2.0\r\nVia: SIP/2.0/UDP "
            )
        );
        assert!(
            String::from_utf8(req)
                .unwrap()
                .contains("Call-ID: 000000ab@portwatch.invalid\r\n")
        );
        let a = SipAnswer::parse(
            b"SIP/2.0 200 OK\r\nVia: x\r\nCall-ID: 000000ab@portwatch.invalid\r\n\
              Server: Asterisk PBX 18.10.0\r\nAllow: INVITE, ACK, OPTIONS\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(a.status, 200);
        assert_eq!(a.id(), Some(0xab));
        assert_eq!(a.summary(), "SIP 200 OK, server Asterisk PBX 18.10.0");
        assert!(SipAnswer::parse(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }
}
