//! The 32-byte SMB1 header.

use crate::error::{ProtoError, Result};
use crate::reader::Reader;
use crate::smb::SMB1_MAGIC;

/// Length of the SMB1 header.
pub const HEADER_LEN: usize = 32;
/// Command code of SMB_COM_NEGOTIATE.
pub const COM_NEGOTIATE: u8 = 0x72;
/// Flags: pathnames are case-insensitive.
pub(crate) const FLAGS_CASE_INSENSITIVE: u8 = 0x08;
/// Flags: pathnames are canonicalized.
pub(crate) const FLAGS_CANONICALIZED_PATHS: u8 = 0x10;
/// Flags: the message is a reply.
pub(crate) const FLAGS_REPLY: u8 = 0x80;
/// Flags2: long names allowed.
pub(crate) const FLAGS2_LONG_NAMES: u16 = 0x0001;
/// Flags2: extended security negotiation.
pub(crate) const FLAGS2_EXTENDED_SECURITY: u16 = 0x0800;
/// Flags2: 32-bit NT status codes.
pub(crate) const FLAGS2_NT_STATUS: u16 = 0x4000;
/// Flags2: strings are UTF-16LE.
pub(crate) const FLAGS2_UNICODE: u16 = 0x8000;

/// The fields of an SMB1 header that a negotiate exchange needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Smb1Header {
    /// Command code.
    pub command: u8,
    /// 32-bit status (NT status when the NT_STATUS flag is set).
    pub status: u32,
    /// The Flags byte.
    pub flags: u8,
    /// The Flags2 word.
    pub flags2: u16,
    /// Multiplex id.
    pub mid: u16,
}

impl Smb1Header {
    /// Encodes a request header for `command` with the given Flags2 (all ids zero).
    pub(crate) fn request(command: u8, flags2: u16) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..4].copy_from_slice(&SMB1_MAGIC);
        out[4] = command;
        // Status (5..9) zero.
        out[9] = FLAGS_CASE_INSENSITIVE | FLAGS_CANONICALIZED_PATHS;
        out[10..12].copy_from_slice(&flags2.to_le_bytes());
        // PIDHigh, SecurityFeatures, Reserved, TID, PIDLow, UID, MID all zero.
        out
    }

    /// Reads and checks the header at the start of `r`.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        const WHAT: &str = "SMB1 header";
        let magic = r.array::<4>(WHAT)?;
        if magic != SMB1_MAGIC {
            return Err(ProtoError::unexpected(
                WHAT,
                format!("protocol id {magic:02x?}"),
            ));
        }
        let command = r.u8(WHAT)?;
        let status = r.u32_le(WHAT)?;
        let flags = r.u8(WHAT)?;
        let flags2 = r.u16_le(WHAT)?;
        // PIDHigh(2) SecurityFeatures(8) Reserved(2) TID(2) PIDLow(2) UID(2).
        r.skip(18, WHAT)?;
        let mid = r.u16_le(WHAT)?;
        Ok(Self {
            command,
            status,
            flags,
            flags2,
            mid,
        })
    }
}
