//! TFTP (RFC 1350): a read request for a file that should not exist.
//!
//! Either a DATA packet (the file exists) or an ERROR packet proves a server.
//! Servers answer from a new port (their transfer id), not from port 69.

use crate::error::{ProtoError, Result};
use crate::reader::Reader;
use crate::text;

/// Builds a read request (octet mode) for `portwatch-<id>`.
pub fn read_request(id: u32) -> Vec<u8> {
    let mut out = vec![0, 1];
    out.extend_from_slice(format!("portwatch-{id:08x}").as_bytes());
    out.push(0);
    out.extend_from_slice(b"octet\0");
    out
}

/// A TFTP server's answer to a read request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum TftpAnswer {
    /// DATA: the file exists and this is its first block.
    Data {
        /// Block number (1 for the first).
        block: u16,
        /// Bytes of data in the block.
        len: usize,
    },
    /// ERROR with its code and message (1 = file not found, 2 = access violation).
    Error {
        /// Error code.
        code: u16,
        /// Error message.
        message: String,
    },
    /// OACK (RFC 2347): the server acknowledged options.
    OptionAck,
}

impl TftpAnswer {
    /// Parses a DATA, ERROR or OACK packet.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "TFTP packet";
        let mut r = Reader::new(bytes);
        match r.u16_be(WHAT)? {
            3 => Ok(Self::Data {
                block: r.u16_be(WHAT)?,
                len: r.remaining(),
            }),
            5 => {
                let code = r.u16_be(WHAT)?;
                let rest = r.take_rest();
                let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
                Ok(Self::Error {
                    code,
                    message: text::printable(&rest[..end], text::MAX_TEXT),
                })
            }
            6 => Ok(Self::OptionAck),
            op => Err(ProtoError::unexpected(WHAT, format!("opcode {op}"))),
        }
    }

    /// One readable line.
    pub fn summary(&self) -> String {
        match self {
            Self::Data { block, len } => {
                format!("TFTP DATA block {block} ({len} bytes): file readable")
            }
            Self::Error { code, message } => format!("TFTP ERROR {code}: {message}"),
            Self::OptionAck => "TFTP OACK".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_answers() {
        assert_eq!(
            read_request(0xdead_beef),
            b"\0\x01portwatch-deadbeef\0octet\0"
        );
        assert_eq!(
            TftpAnswer::parse(b"\0\x05\0\x01File not found\0").unwrap(),
            TftpAnswer::Error {
                code: 1,
                message: "File not found".into()
            }
        );
        assert_eq!(
            TftpAnswer::parse(b"\0\x03\0\x01abc").unwrap(),
            TftpAnswer::Data { block: 1, len: 3 }
        );
        assert!(TftpAnswer::parse(b"\0\x01x").is_err());
        assert!(TftpAnswer::parse(b"\0").is_err());
    }
}
