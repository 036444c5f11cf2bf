//! CoAP (RFC 7252): a confirmable GET of `/.well-known/core` (RFC 6690 resource discovery).

use crate::error::{ProtoError, Result};
use crate::reader::Reader;
use crate::text;

/// Most options skipped before the payload.
const MAX_OPTIONS: usize = 64;

/// Builds the GET with message id `message_id` and a 2-byte token equal to it.
pub fn well_known_core(message_id: u16) -> Vec<u8> {
    let mut out = vec![0x42, 0x01]; // version 1, CON, token length 2; code 0.01 GET
    out.extend_from_slice(&message_id.to_be_bytes());
    out.extend_from_slice(&message_id.to_be_bytes()); // token
    out.push(0xbb); // option delta 11 (Uri-Path), length 11
    out.extend_from_slice(b".well-known");
    out.push(0x04); // delta 0 (Uri-Path again), length 4
    out.extend_from_slice(b"core");
    out
}

/// A parsed CoAP response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CoapAnswer {
    /// Message type (0 CON, 1 NON, 2 ACK, 3 RST).
    pub message_type: u8,
    /// Response code as "class.detail", e.g. "2.05".
    pub code: String,
    /// Message id (echoed in an ACK or RST).
    pub message_id: u16,
    /// Payload as text, e.g. the link-format resource list.
    pub payload: String,
}

impl CoapAnswer {
    /// Parses a CoAP message (version 1).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "CoAP message";
        let mut r = Reader::new(bytes);
        let first = r.u8(WHAT)?;
        if first >> 6 != 1 {
            return Err(ProtoError::unexpected(
                WHAT,
                format!("version {}", first >> 6),
            ));
        }
        let message_type = (first >> 4) & 0x03;
        let token_len = usize::from(first & 0x0f);
        if token_len > 8 {
            return Err(ProtoError::malformed(
                WHAT,
                format!("token length {token_len}"),
            ));
        }
        let code_byte = r.u8(WHAT)?;
        let message_id = r.u16_be(WHAT)?;
        r.skip(token_len, "CoAP token")?;
        let mut payload = String::new();
        for _ in 0..MAX_OPTIONS {
            if r.remaining() == 0 {
                break;
            }
            let head = r.u8("CoAP option")?;
            if head == 0xff {
                payload = text::printable(r.take_rest(), 1024);
                break;
            }
            extended(&mut r, head >> 4)?; // option delta: which option is not needed
            let len = extended(&mut r, head & 0x0f)?;
            r.skip(len, "CoAP option value")?;
        }
        Ok(Self {
            message_type,
            code: format!("{}.{:02}", code_byte >> 5, code_byte & 0x1f),
            message_id,
            payload,
        })
    }

    /// One readable line.
    pub fn summary(&self) -> String {
        let resources = self.payload.split(',').filter(|s| !s.is_empty()).count();
        format!("CoAP {} ({resources} resources listed)", self.code)
    }
}

/// Reads the extended form of an option delta or length nibble.
fn extended(r: &mut Reader<'_>, nibble: u8) -> Result<usize> {
    match nibble {
        0..=12 => Ok(usize::from(nibble)),
        13 => Ok(usize::from(r.u8("CoAP option extension")?) + 13),
        14 => Ok(usize::from(r.u16_be("CoAP option extension")?) + 269),
        _ => Err(ProtoError::malformed("CoAP option", "reserved nibble 15")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bytes_and_answer() {
        let req = well_known_core(0x1234);
        assert_eq!(&req[..6], &[0x42, 0x01, 0x12, 0x34, 0x12, 0x34]);
        assert_eq!(req.len(), 6 + 1 + 11 + 1 + 4);
        let mut ack = vec![0x62, 0x45, 0x12, 0x34, 0x12, 0x34, 0xc1, 0x28, 0xff];
        ack.extend_from_slice(b"</sensors/temp>;rt=\"t\",</light>");
        let a = CoapAnswer::parse(&ack).unwrap();
        assert_eq!(
            (a.message_type, a.code.as_str(), a.message_id),
            (2, "2.05", 0x1234)
        );
        assert_eq!(a.summary(), "CoAP 2.05 (2 resources listed)");
        assert!(CoapAnswer::parse(&[0x02, 0, 0, 0]).is_err());
        assert!(CoapAnswer::parse(&[0x40, 0x45, 0, 0, 0xf0]).is_err());
    }
}
