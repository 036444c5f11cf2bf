//! NAT-PMP (RFC 6886): the external-address request on UDP 5351.

use std::net::Ipv4Addr;

use crate::error::{ProtoError, Result};
use crate::reader::Reader;

/// Builds the two-byte external address request (version 0, opcode 0).
pub fn external_address_request() -> Vec<u8> {
    vec![0, 0]
}

/// A parsed NAT-PMP answer (or a PCP server's "unsupported version" reply).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NatPmpAnswer {
    /// Version byte (0 NAT-PMP, 2 PCP).
    pub version: u8,
    /// Opcode (128 = external address response).
    pub opcode: u8,
    /// Result code (0 success).
    pub result_code: u16,
    /// Seconds since the gateway's mapping table was initialised.
    pub epoch_seconds: Option<u32>,
    /// The gateway's external address, on success.
    pub external_ip: Option<Ipv4Addr>,
}

impl NatPmpAnswer {
    /// Parses a response.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "NAT-PMP response";
        let mut r = Reader::new(bytes);
        let version = r.u8(WHAT)?;
        let opcode = r.u8(WHAT)?;
        if opcode & 0x80 == 0 {
            return Err(ProtoError::unexpected(
                WHAT,
                format!("opcode {opcode} is a request"),
            ));
        }
        if version != 0 && version != 2 {
            return Err(ProtoError::malformed(WHAT, format!("version {version}")));
        }
        let result_code = r.u16_be(WHAT)?;
        let epoch_seconds = r.u32_be(WHAT).ok();
        let external_ip = if version == 0 && opcode == 128 && result_code == 0 {
            Some(Ipv4Addr::from(r.array::<4>(WHAT)?))
        } else {
            None
        };
        Ok(Self {
            version,
            opcode,
            result_code,
            epoch_seconds,
            external_ip,
        })
    }

    /// One readable line.
    pub fn summary(&self) -> String {
        match self.external_ip {
            Some(ip) => format!("NAT-PMP gateway, external address {ip}"),
            None => format!("NAT-PMP/PCP gateway, result code {}", self.result_code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer() {
        let a = NatPmpAnswer::parse(&[0, 128, 0, 0, 0, 0, 1, 0, 203, 0, 113, 7]).unwrap();
        assert_eq!(a.external_ip, Some(Ipv4Addr::new(203, 0, 113, 7)));
        assert_eq!(a.epoch_seconds, Some(256));
        let pcp = NatPmpAnswer::parse(&[2, 128, 0, 1]).unwrap();
        assert_eq!(pcp.summary(), "NAT-PMP/PCP gateway, result code 1");
        assert!(NatPmpAnswer::parse(&external_address_request()).is_err());
        assert!(NatPmpAnswer::parse(&[0, 128, 0, 0, 0, 0, 1, 0, 203]).is_err());
    }
}
