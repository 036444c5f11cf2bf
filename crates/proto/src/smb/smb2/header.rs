//! The 64-byte SMB2 sync header.

use crate::error::{ProtoError, Result};
use crate::reader::Reader;
use crate::smb::SMB2_MAGIC;

/// Length of the SMB2 header.
pub const HEADER_LEN: usize = 64;
/// Command code of SMB2 NEGOTIATE.
pub(crate) const COMMAND_NEGOTIATE: u16 = 0x0000;
/// Header flag: the message goes from server to client.
pub(crate) const FLAGS_SERVER_TO_REDIR: u32 = 0x0000_0001;

/// Encodes a request header for `command` with message id 0 and one credit requested.
pub(crate) fn request_header(command: u16) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    out[..4].copy_from_slice(&SMB2_MAGIC);
    out[4..6].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
    // CreditCharge (6..8) and Status (8..12) stay zero.
    out[12..14].copy_from_slice(&command.to_le_bytes());
    out[14..16].copy_from_slice(&1u16.to_le_bytes()); // CreditRequest
    // Flags, NextCommand, MessageId, Reserved, TreeId, SessionId, Signature: zero.
    out
}

/// The header fields a negotiate response is checked against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResponseHeader {
    pub(crate) status: u32,
    pub(crate) command: u16,
    pub(crate) flags: u32,
}

/// Reads and checks the header at the start of `r`.
pub(crate) fn read_header(r: &mut Reader<'_>) -> Result<ResponseHeader> {
    const WHAT: &str = "SMB2 header";
    let magic = r.array::<4>(WHAT)?;
    if magic != SMB2_MAGIC {
        return Err(ProtoError::unexpected(
            WHAT,
            format!("protocol id {magic:02x?}"),
        ));
    }
    let size = r.u16_le(WHAT)?;
    if usize::from(size) != HEADER_LEN {
        return Err(ProtoError::malformed(WHAT, format!("StructureSize {size}")));
    }
    r.skip(2, WHAT)?; // CreditCharge
    let status = r.u32_le(WHAT)?;
    let command = r.u16_le(WHAT)?;
    r.skip(2, WHAT)?; // CreditResponse
    let flags = r.u32_le(WHAT)?;
    r.skip(HEADER_LEN - 20, WHAT)?;
    Ok(ResponseHeader {
        status,
        command,
        flags,
    })
}
