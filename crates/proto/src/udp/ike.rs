//! IKE (RFC 2408/2409 for v1, RFC 7296 for v2): a v1 Main Mode proposal, and a
//! parser for the header and payload chain of either version's answer.

use crate::error::{ProtoError, Result};
use crate::reader::Reader;
use crate::text;

/// Length of the ISAKMP/IKE header.
pub const HEADER_LEN: usize = 28;
/// Most payloads walked in one message.
const MAX_PAYLOADS: usize = 32;

/// Builds an IKEv1 Main Mode first message: one proposal with one transform
/// (AES-128-CBC, SHA-1, pre-shared key, MODP-1024 group, 8-hour lifetime).
/// `initiator_spi` is the initiator cookie, echoed in every answer.
pub fn v1_main_mode(initiator_spi: u64) -> Vec<u8> {
    // Transform attributes, all in the short (type-value) form: AF bit | type, value.
    let attrs: [(u16, u16); 7] = [
        (1, 7),      // encryption: AES-CBC
        (14, 128),   // key length: 128 bits
        (2, 2),      // hash: SHA-1
        (3, 1),      // authentication: pre-shared key
        (4, 2),      // group: MODP-1024
        (11, 1),     // life type: seconds
        (12, 28800), // life duration
    ];
    let mut transform = vec![0, 0, 0, 0, 1, 1, 0, 0]; // last, reserved, length, #1, KEY_IKE, reserved
    for (kind, value) in attrs {
        transform.extend_from_slice(&(0x8000 | kind).to_be_bytes());
        transform.extend_from_slice(&value.to_be_bytes());
    }
    let tlen = transform.len() as u16;
    transform[2..4].copy_from_slice(&tlen.to_be_bytes());

    // Proposal #1, protocol ISAKMP, SPI size 0, one transform.
    let mut proposal = vec![0, 0, 0, 0, 1, 1, 0, 1];
    proposal.extend_from_slice(&transform);
    let plen = proposal.len() as u16;
    proposal[2..4].copy_from_slice(&plen.to_be_bytes());

    // SA payload: DOI 1 (IPsec), situation 1 (identity only).
    let mut sa = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1];
    sa.extend_from_slice(&proposal);
    let salen = sa.len() as u16;
    sa[2..4].copy_from_slice(&salen.to_be_bytes());

    let mut out = Vec::with_capacity(HEADER_LEN + sa.len());
    out.extend_from_slice(&initiator_spi.to_be_bytes());
    out.extend_from_slice(&[0; 8]); // responder SPI
    out.push(1); // next payload: SA
    out.push(0x10); // version 1.0
    out.push(2); // exchange: Identity Protection (Main Mode)
    out.push(0); // flags
    out.extend_from_slice(&[0; 4]); // message id
    out.extend_from_slice(&((HEADER_LEN + sa.len()) as u32).to_be_bytes());
    out.extend_from_slice(&sa);
    out
}

/// A parsed IKE message header and the interesting parts of its payloads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct IkeAnswer {
    /// Major version (1 or 2).
    pub major_version: u8,
    /// Minor version.
    pub minor_version: u8,
    /// Exchange type (2 Main Mode, 4 Aggressive, 5 Informational in v1; 34 IKE_SA_INIT in v2).
    pub exchange_type: u8,
    /// Initiator SPI / cookie, echoed from the request.
    pub initiator_spi: u64,
    /// Responder SPI / cookie.
    pub responder_spi: u64,
    /// Payload types in order.
    pub payloads: Vec<u8>,
    /// Notify message types found.
    pub notifications: Vec<u16>,
    /// Vendor ID payloads, hex.
    pub vendor_ids: Vec<String>,
}

impl IkeAnswer {
    /// Parses an IKE message received on port 4500, after its 4-byte non-ESP marker.
    pub fn parse_nat_t(bytes: &[u8]) -> Result<Self> {
        match bytes {
            [0, 0, 0, 0, rest @ ..] => Self::parse(rest),
            _ => Err(ProtoError::unexpected(
                "IKE over NAT-T",
                "no non-ESP marker (ESP traffic)",
            )),
        }
    }

    /// Parses an IKE message as received on port 500.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "IKE header";
        let mut r = Reader::new(bytes);
        let initiator_spi = r.u64_be(WHAT)?;
        let responder_spi = r.u64_be(WHAT)?;
        let mut next = r.u8(WHAT)?;
        let version = r.u8(WHAT)?;
        let exchange_type = r.u8(WHAT)?;
        r.skip(1 + 4, WHAT)?; // flags, message id
        let length = r.u32_be(WHAT)? as usize;
        let (major_version, minor_version) = (version >> 4, version & 0x0f);
        if !(1..=2).contains(&major_version) {
            return Err(ProtoError::malformed(
                WHAT,
                format!("version {version:#04x}"),
            ));
        }
        if length < HEADER_LEN {
            return Err(ProtoError::malformed(WHAT, format!("length {length}")));
        }
        let mut answer = Self {
            major_version,
            minor_version,
            exchange_type,
            initiator_spi,
            responder_spi,
            payloads: Vec::new(),
            notifications: Vec::new(),
            vendor_ids: Vec::new(),
        };
        // v2 encrypted payload (46) hides the rest; stop there.
        while next != 0 && answer.payloads.len() < MAX_PAYLOADS && r.remaining() > 0 {
            let kind = next;
            next = r.u8("IKE payload header")?;
            r.skip(1, "IKE payload header")?;
            let plen = usize::from(r.u16_be("IKE payload length")?);
            if plen < 4 {
                return Err(ProtoError::malformed(
                    "IKE payload",
                    format!("length {plen}"),
                ));
            }
            let body = r.take(plen - 4, "IKE payload body")?;
            answer.payloads.push(kind);
            answer.note_payload(kind, body);
            if kind == 46 {
                break;
            }
        }
        Ok(answer)
    }

    fn note_payload(&mut self, kind: u8, body: &[u8]) {
        let notify_type_at = match kind {
            11 => Some(6), // v1: DOI(4) protocol(1) spi size(1)
            41 => Some(2), // v2: protocol(1) spi size(1)
            _ => None,
        };
        let notify_type = notify_type_at.and_then(|at| body.get(at..at + 2));
        if let Some(pair) = notify_type {
            self.notifications
                .push(u16::from_be_bytes([pair[0], pair[1]]));
        }
        if (kind == 13 || kind == 43) && self.vendor_ids.len() < 16 {
            self.vendor_ids
                .push(text::hex_joined(&body[..body.len().min(32)], ""));
        }
    }

    /// One readable line.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "IKEv{}.{} exchange {}, payloads {:?}",
            self.major_version, self.minor_version, self.exchange_type, self.payloads
        );
        if !self.notifications.is_empty() {
            line.push_str(&format!(", notify {:?}", self.notifications));
        }
        if !self.vendor_ids.is_empty() {
            line.push_str(&format!(", {} vendor ids", self.vendor_ids.len()));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_mode_layout() {
        let m = v1_main_mode(0x1122_3344_5566_7788);
        // Header 28 + SA 12 + proposal 8 + transform 8 + 7 attributes * 4 = 84.
        assert_eq!(m.len(), 84);
        assert_eq!(&m[..8], &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
        assert_eq!(&m[16..20], &[1, 0x10, 2, 0]);
        assert_eq!(&m[24..28], &[0, 0, 0, 84]);
        assert_eq!(&m[28..40], &[0, 0, 0, 56, 0, 0, 0, 1, 0, 0, 0, 1]);
        assert_eq!(&m[40..48], &[0, 0, 0, 44, 1, 1, 0, 1]);
        assert_eq!(&m[48..56], &[0, 0, 0, 36, 1, 1, 0, 0]);
        assert_eq!(&m[56..60], &[0x80, 0x01, 0x00, 0x07]);
        assert_eq!(&m[80..84], &[0x80, 0x0c, 0x70, 0x80]);
    }

    #[test]
    fn parses_own_request_and_notify() {
        let a = IkeAnswer::parse(&v1_main_mode(5)).unwrap();
        assert_eq!(
            (a.major_version, a.exchange_type, a.initiator_spi),
            (1, 2, 5)
        );
        assert_eq!(a.payloads, [1]);
        // An informational NO-PROPOSAL-CHOSEN (14) answer.
        let mut b = v1_main_mode(5);
        b.truncate(HEADER_LEN);
        b[16] = 11;
        b[18] = 5;
        b.extend_from_slice(&[0, 0, 0, 12, 0, 0, 0, 1, 1, 0, 0, 14]);
        let a = IkeAnswer::parse(&b).unwrap();
        assert_eq!(a.notifications, [14]);
        let mut marker = vec![0, 0, 0, 0];
        marker.extend_from_slice(&b);
        assert_eq!(IkeAnswer::parse_nat_t(&marker).unwrap(), a);
        assert!(IkeAnswer::parse_nat_t(&b).is_err());
        b[31] = 2;
        assert!(IkeAnswer::parse(&b).is_err());
    }
}
