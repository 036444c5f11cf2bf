//! RMCP/ASF presence ping (DMTF DSP0136) on UDP 623, answered by IPMI BMCs.

use crate::error::{ProtoError, Result};
use crate::reader::Reader;

/// The ASF IANA enterprise number (4542).
const ASF_IANA: [u8; 4] = [0x00, 0x00, 0x11, 0xbe];

/// Builds a presence ping with message tag `tag`.
pub fn presence_ping(tag: u8) -> Vec<u8> {
    let mut out = vec![0x06, 0x00, 0xff, 0x06]; // RMCP v1.0, no ack, class ASF
    out.extend_from_slice(&ASF_IANA);
    out.extend_from_slice(&[0x80, tag, 0x00, 0x00]); // ping, tag, reserved, data length 0
    out
}

/// A parsed presence pong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RmcpPong {
    /// Message tag echoed from the ping.
    pub tag: u8,
    /// The entity supports IPMI.
    pub ipmi: bool,
    /// Supported interactions byte (bit 5 = RMCP security extensions).
    pub interactions: u8,
}

impl RmcpPong {
    /// Parses a pong (ASF message type 0x40).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "RMCP presence pong";
        let mut r = Reader::new(bytes);
        let version = r.u8(WHAT)?;
        r.skip(2, WHAT)?;
        let class = r.u8(WHAT)?;
        if version != 0x06 || class & 0x0f != 0x06 {
            return Err(ProtoError::unexpected(
                WHAT,
                format!("version {version:#04x}, class {class:#04x}"),
            ));
        }
        r.skip(4, WHAT)?; // IANA
        let kind = r.u8(WHAT)?;
        if kind != 0x40 {
            return Err(ProtoError::unexpected(
                WHAT,
                format!("ASF message type {kind:#04x}"),
            ));
        }
        let tag = r.u8(WHAT)?;
        r.skip(2, WHAT)?;
        r.skip(8, "RMCP pong data")?; // IANA, OEM
        let entities = r.u8("RMCP pong entities")?;
        let interactions = r.u8("RMCP pong interactions")?;
        Ok(Self {
            tag,
            ipmi: entities & 0x80 != 0,
            interactions,
        })
    }

    /// One readable line.
    pub fn summary(&self) -> String {
        if self.ipmi {
            "RMCP presence pong, IPMI supported".into()
        } else {
            "RMCP presence pong".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_and_pong() {
        assert_eq!(
            presence_ping(9),
            [6, 0, 0xff, 6, 0, 0, 0x11, 0xbe, 0x80, 9, 0, 0]
        );
        let mut pong = vec![6, 0, 0xff, 6, 0, 0, 0x11, 0xbe, 0x40, 9, 0, 0x10];
        pong.extend_from_slice(&[0, 0, 0x11, 0xbe, 0, 0, 0, 0, 0x81, 0, 0, 0, 0, 0, 0, 0]);
        let p = RmcpPong::parse(&pong).unwrap();
        assert_eq!((p.tag, p.ipmi), (9, true));
        assert!(RmcpPong::parse(&presence_ping(9)).is_err());
    }
}
