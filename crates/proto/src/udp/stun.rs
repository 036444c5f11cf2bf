//! STUN (RFC 8489): a Binding request and the mapped address in its answer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::error::{ProtoError, Result};
use crate::reader::Reader;
use crate::text;

/// The fixed magic cookie of every STUN message.
pub const MAGIC_COOKIE: u32 = 0x2112_a442;
/// Most attributes examined in one message.
const MAX_ATTRIBUTES: usize = 32;

/// The 12-byte transaction id a request with `id` carries: "pw" ++ 2 zero bytes ++ id.
pub fn transaction_id(id: u64) -> [u8; 12] {
    let mut t = [0u8; 12];
    t[..2].copy_from_slice(b"pw");
    t[4..].copy_from_slice(&id.to_be_bytes());
    t
}

/// Builds a 20-byte Binding request without attributes.
pub fn binding_request(id: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(20);
    out.extend_from_slice(&0x0001u16.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    out.extend_from_slice(&transaction_id(id));
    out
}

/// A parsed Binding response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StunAnswer {
    /// Message type (0x0101 success, 0x0111 error).
    pub message_type: u16,
    /// Transaction id, hex.
    pub transaction_id: String,
    /// The id of our request, if the transaction id is one of ours.
    pub id: Option<u64>,
    /// Our address as the server saw it.
    pub mapped_address: Option<SocketAddr>,
    /// SOFTWARE attribute.
    pub software: Option<String>,
    /// ERROR-CODE as class*100+number.
    pub error_code: Option<u16>,
}

impl StunAnswer {
    /// Parses a Binding success or error response.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "STUN message";
        let mut r = Reader::new(bytes);
        let message_type = r.u16_be(WHAT)?;
        let length = usize::from(r.u16_be(WHAT)?);
        let cookie = r.u32_be(WHAT)?;
        let tid = r.array::<12>(WHAT)?;
        if cookie != MAGIC_COOKIE {
            return Err(ProtoError::unexpected(
                WHAT,
                format!("magic cookie {cookie:#010x}"),
            ));
        }
        if message_type != 0x0101 && message_type != 0x0111 {
            return Err(ProtoError::unexpected(
                WHAT,
                format!("message type {message_type:#06x}"),
            ));
        }
        let attrs = r.take(length.min(r.remaining()), WHAT)?;
        let mut answer = Self {
            message_type,
            transaction_id: text::hex_joined(&tid, ""),
            id: (tid[..4] == *b"pw\0\0")
                .then(|| u64::from_be_bytes(tid[4..].try_into().unwrap_or([0; 8]))),
            mapped_address: None,
            software: None,
            error_code: None,
        };
        let mut a = Reader::new(attrs);
        for _ in 0..MAX_ATTRIBUTES {
            if a.remaining() < 4 {
                break;
            }
            let kind = a.u16_be("STUN attribute")?;
            let len = usize::from(a.u16_be("STUN attribute")?);
            let value = a.take(len, "STUN attribute value")?;
            a.skip((4 - len % 4) % 4, "STUN attribute padding").ok();
            match kind {
                0x0020 => {
                    answer.mapped_address =
                        decode_address(value, Some(&tid)).or(answer.mapped_address);
                }
                0x0001 if answer.mapped_address.is_none() => {
                    answer.mapped_address = decode_address(value, None);
                }
                0x8022 => answer.software = Some(text::printable(value, 128)),
                0x0009 if value.len() >= 4 => {
                    answer.error_code =
                        Some(u16::from(value[2] & 0x07) * 100 + u16::from(value[3]));
                }
                _ => {}
            }
        }
        Ok(answer)
    }

    /// One readable line.
    pub fn summary(&self) -> String {
        let mut line = match self.error_code {
            Some(code) => format!("STUN error {code}"),
            None => "STUN binding success".to_string(),
        };
        if let Some(addr) = self.mapped_address {
            line.push_str(&format!(", mapped {addr}"));
        }
        if let Some(sw) = &self.software {
            line.push_str(&format!(", software {sw}"));
        }
        line
    }
}

/// Decodes (XOR-)MAPPED-ADDRESS; `xor_tid` given means XOR with cookie and transaction id.
fn decode_address(v: &[u8], xor_tid: Option<&[u8; 12]>) -> Option<SocketAddr> {
    let family = *v.get(1)?;
    let mut port = u16::from_be_bytes([*v.get(2)?, *v.get(3)?]);
    let cookie = MAGIC_COOKIE.to_be_bytes();
    if xor_tid.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    let ip = match family {
        1 => {
            let mut a: [u8; 4] = v.get(4..8)?.try_into().ok()?;
            if xor_tid.is_some() {
                a.iter_mut().zip(cookie).for_each(|(b, k)| *b ^= k);
            }
            IpAddr::V4(Ipv4Addr::from(a))
        }
        2 => {
            let mut a: [u8; 16] = v.get(4..20)?.try_into().ok()?;
            if let Some(tid) = xor_tid {
                let key = cookie.iter().chain(tid.iter());
                a.iter_mut().zip(key).for_each(|(b, k)| *b ^= k);
            }
            IpAddr::V6(Ipv6Addr::from(a))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_xor_mapped_answer() {
        let req = binding_request(7);
        assert_eq!(&req[..8], &[0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42]);
        assert_eq!(&req[8..20], &transaction_id(7));
        let mut resp = req.clone();
        resp[0..2].copy_from_slice(&[0x01, 0x01]);
        // XOR-MAPPED-ADDRESS 192.0.2.1:32853 -> port ^ 0x2112, address ^ cookie.
        let attr = [0x00, 0x20, 0, 8, 0, 1, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43];
        resp.extend_from_slice(&attr);
        resp.extend_from_slice(&[0x80, 0x22, 0, 3, b'p', b'w', b'!', 0]);
        resp[2..4].copy_from_slice(&20u16.to_be_bytes());
        let a = StunAnswer::parse(&resp).unwrap();
        assert_eq!(a.id, Some(7));
        assert_eq!(a.mapped_address, Some("192.0.2.1:32853".parse().unwrap()));
        assert_eq!(a.software.as_deref(), Some("pw!"));
        assert!(StunAnswer::parse(&req).is_err());
    }
}
