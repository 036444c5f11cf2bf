//! Ubiquiti device discovery on UDP 10001 (version 1 TLVs, as documented by its users).

use std::net::Ipv4Addr;

use crate::error::{ProtoError, Result};
use crate::netbios::nbstat::format_mac;
use crate::reader::Reader;
use crate::text;

/// Most TLVs read from one answer.
const MAX_TLVS: usize = 64;

/// Builds the 4-byte version 1 discovery request.
pub fn discovery_request() -> Vec<u8> {
    vec![0x01, 0x00, 0x00, 0x00]
}

/// What a Ubiquiti device says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct UbiquitiAnswer {
    /// MAC address.
    pub mac: Option<String>,
    /// Addresses announced.
    pub addresses: Vec<Ipv4Addr>,
    /// Firmware version string.
    pub firmware: Option<String>,
    /// Host name.
    pub hostname: Option<String>,
    /// Model (long form when present, else short).
    pub model: Option<String>,
    /// Uptime in seconds.
    pub uptime: Option<u32>,
}

impl UbiquitiAnswer {
    /// Parses a version 1 answer (command 0x00).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "Ubiquiti discovery answer";
        let mut r = Reader::new(bytes);
        let version = r.u8(WHAT)?;
        let command = r.u8(WHAT)?;
        let length = usize::from(r.u16_be(WHAT)?);
        if version != 1 || command != 0 || length == 0 {
            return Err(ProtoError::unexpected(
                WHAT,
                format!("version {version}, command {command}, length {length}"),
            ));
        }
        let body = r.take(length.min(r.remaining()), WHAT)?;
        let mut b = Reader::new(body);
        let mut a = Self::default();
        for _ in 0..MAX_TLVS {
            if b.remaining() < 3 {
                break;
            }
            let kind = b.u8(WHAT)?;
            let len = usize::from(b.u16_be(WHAT)?);
            let v = b.take(len, "Ubiquiti TLV value")?;
            let text_value = || Some(text::printable(v, 128));
            match (kind, len) {
                (0x01, 6) => a.mac = Some(format_mac(&v.try_into().unwrap_or([0; 6]))),
                (0x02, 10) => {
                    if a.mac.is_none() {
                        a.mac = Some(format_mac(&v[..6].try_into().unwrap_or([0; 6])));
                    }
                    if a.addresses.len() < 16 {
                        a.addresses.push(Ipv4Addr::new(v[6], v[7], v[8], v[9]));
                    }
                }
                (0x03, _) => a.firmware = text_value(),
                (0x0a, 4) => a.uptime = Some(u32::from_be_bytes([v[0], v[1], v[2], v[3]])),
                (0x0b, _) => a.hostname = text_value(),
                (0x0c, _) if a.model.is_none() => a.model = text_value(),
                (0x14, _) => a.model = text_value(),
                _ => {}
            }
        }
        Ok(a)
    }

    /// One readable line.
    pub fn summary(&self) -> String {
        format!(
            "Ubiquiti {} {} firmware {}",
            self.model.as_deref().unwrap_or("device"),
            self.hostname.as_deref().unwrap_or("?"),
            self.firmware.as_deref().unwrap_or("?")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tlvs() {
        let mut body = vec![0x02, 0, 10, 0x24, 0xa4, 0x3c, 1, 2, 3, 192, 168, 1, 20];
        body.extend_from_slice(&[0x0b, 0, 4]);
        body.extend_from_slice(b"ap-1");
        body.extend_from_slice(&[0x03, 0, 5]);
        body.extend_from_slice(b"v6.5x");
        let mut b = vec![1, 0];
        b.extend_from_slice(&(body.len() as u16).to_be_bytes());
        b.extend_from_slice(&body);
        let a = UbiquitiAnswer::parse(&b).unwrap();
        assert_eq!(a.mac.as_deref(), Some("24:a4:3c:01:02:03"));
        assert_eq!(a.addresses, [Ipv4Addr::new(192, 168, 1, 20)]);
        assert_eq!(a.summary(), "Ubiquiti device ap-1 firmware v6.5x");
        assert!(UbiquitiAnswer::parse(&discovery_request()).is_err());
    }
}
