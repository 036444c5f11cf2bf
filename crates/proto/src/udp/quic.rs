//! QUIC (RFC 9000 §6, RFC 8999): provoke a Version Negotiation packet on UDP 443.
//!
//! A long-header packet with a reserved version makes any QUIC server list the
//! versions it speaks. Servers ignore datagrams shorter than 1200 bytes.

use crate::error::{ProtoError, Result};
use crate::reader::Reader;

/// A reserved version (pattern 0x?a?a?a?a) that no server implements.
pub const GREASE_VERSION: u32 = 0x1a2a_3a4a;
/// Smallest datagram a client may send to start a connection.
pub const MIN_DATAGRAM: usize = 1200;
/// Most versions listed.
const MAX_VERSIONS: usize = 64;

/// Builds a 1200-byte long-header packet with `GREASE_VERSION`, an 8-byte
/// destination connection id equal to `id` and an empty source id.
pub fn version_probe(id: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(MIN_DATAGRAM);
    out.push(0xc0); // long header, fixed bit
    out.extend_from_slice(&GREASE_VERSION.to_be_bytes());
    out.push(8);
    out.extend_from_slice(&id.to_be_bytes());
    out.push(0); // source connection id length
    out.resize(MIN_DATAGRAM, 0);
    out
}

/// A parsed Version Negotiation packet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct QuicVersions {
    /// Source connection id, which echoes our destination id.
    pub source_cid: Vec<u8>,
    /// The id of our probe, if the echoed connection id is 8 bytes.
    pub id: Option<u64>,
    /// Versions the server supports, as numbers.
    pub versions: Vec<u32>,
}

impl QuicVersions {
    /// Parses a Version Negotiation packet (long header, version 0).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "QUIC version negotiation";
        let mut r = Reader::new(bytes);
        let first = r.u8(WHAT)?;
        let version = r.u32_be(WHAT)?;
        if first & 0x80 == 0 || version != 0 {
            return Err(ProtoError::unexpected(
                WHAT,
                format!("header {first:#04x}, version {version:#010x}"),
            ));
        }
        let dcid_len = usize::from(r.u8(WHAT)?);
        r.skip(dcid_len, "QUIC destination connection id")?;
        let scid_len = usize::from(r.u8(WHAT)?);
        let source_cid = r.take(scid_len, "QUIC source connection id")?.to_vec();
        let list = r.take_rest();
        if list.len() < 4 || !list.len().is_multiple_of(4) {
            return Err(ProtoError::malformed(
                WHAT,
                format!("version list of {} bytes", list.len()),
            ));
        }
        let versions = list
            .chunks_exact(4)
            .take(MAX_VERSIONS)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let id = <[u8; 8]>::try_from(source_cid.as_slice())
            .ok()
            .map(u64::from_be_bytes);
        Ok(Self {
            source_cid,
            id,
            versions,
        })
    }

    /// Human names of the supported versions, without reserved (grease) ones.
    pub fn version_names(&self) -> Vec<String> {
        self.versions
            .iter()
            .filter(|&&v| v & 0x0f0f_0f0f != 0x0a0a_0a0a)
            .map(|&v| match v {
                0x0000_0001 => "1".to_string(),
                0x6b33_43cf => "2".to_string(),
                v if v >> 8 == 0xff_0000 => format!("draft-{}", v & 0xff),
                v => format!("{v:#010x}"),
            })
            .collect()
    }

    /// One readable line.
    pub fn summary(&self) -> String {
        format!("QUIC versions {}", self.version_names().join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_and_negotiation() {
        let p = version_probe(0x0102_0304_0506_0708);
        assert_eq!(p.len(), 1200);
        assert_eq!(
            &p[..15],
            &[0xc0, 0x1a, 0x2a, 0x3a, 0x4a, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0]
        );
        let mut vn = vec![0x80, 0, 0, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
        vn.extend_from_slice(&[
            0, 0, 0, 1, 0x6b, 0x33, 0x43, 0xcf, 0xff, 0, 0, 29, 0x3a, 0x4a, 0x5a, 0x6a,
        ]);
        let v = QuicVersions::parse(&vn).unwrap();
        assert_eq!(v.id, Some(0x0102_0304_0506_0708));
        assert_eq!(v.summary(), "QUIC versions 1, 2, draft-29");
        assert!(QuicVersions::parse(&p).is_err());
        assert!(QuicVersions::parse(&vn[..17]).is_err());
    }
}
