//! SMB negotiation: the first exchange on 139/445, which tells dialects, signing and server identity.
//!
//! Messages here are unframed; wrap requests with
//! [`netbios::session::frame`](crate::netbios::session::frame) and strip answers with
//! [`netbios::session::unframe`](crate::netbios::session::unframe).

pub mod smb1;
pub mod smb2;
mod wintime;

pub use wintime::{filetime_to_unix, format_guid};

use crate::error::{ProtoError, Result};

/// The first four bytes of an SMB1 message.
pub const SMB1_MAGIC: [u8; 4] = [0xff, b'S', b'M', b'B'];
/// The first four bytes of an SMB2/3 message.
pub const SMB2_MAGIC: [u8; 4] = [0xfe, b'S', b'M', b'B'];

/// A negotiate answer in either generation of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum NegotiateResponse {
    /// An SMB1 (CIFS) negotiate response.
    Smb1(smb1::Smb1NegotiateResponse),
    /// An SMB2/3 negotiate response, possibly to an SMB1 request that offered "SMB 2.???".
    Smb2(smb2::Smb2NegotiateResponse),
}

/// Parses an unframed negotiate response, choosing SMB1 or SMB2 from its magic bytes.
pub fn parse_negotiate_response(bytes: &[u8]) -> Result<NegotiateResponse> {
    match bytes.get(..4) {
        Some(magic) if magic == SMB1_MAGIC => {
            smb1::Smb1NegotiateResponse::parse(bytes).map(NegotiateResponse::Smb1)
        }
        Some(magic) if magic == SMB2_MAGIC => {
            smb2::Smb2NegotiateResponse::parse(bytes).map(NegotiateResponse::Smb2)
        }
        Some(magic) => Err(ProtoError::unexpected(
            "SMB negotiate response",
            format!("protocol id {magic:02x?} is neither SMB1 nor SMB2"),
        )),
        None => Err(ProtoError::Truncated {
            what: "SMB protocol id",
            needed: 4,
            got: bytes.len(),
        }),
    }
}
