//! Parsing the SMB2 NEGOTIATE response (MS-SMB2 2.2.4).

use super::capabilities::Smb2Capabilities;
use super::contexts::{Cipher, HashAlgorithm, NegotiateContext, SigningAlgorithm, parse_contexts};
use super::dialect::Dialect;
use super::header::{COMMAND_NEGOTIATE, FLAGS_SERVER_TO_REDIR, read_header};
use super::signing::Signing;
use crate::error::{ProtoError, Result};
use crate::reader::Reader;
use crate::smb::{filetime_to_unix, format_guid};

const WHAT: &str = "SMB2 negotiate response";

/// A parsed SMB2 negotiate response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Smb2NegotiateResponse {
    /// The dialect the server chose (0x02FF when answering an SMB1 "SMB 2.???" offer).
    pub dialect: Dialect,
    /// Signing as announced by SecurityMode.
    pub signing: Signing,
    /// Raw SecurityMode bits.
    pub security_mode: u16,
    /// Server capabilities.
    pub capabilities: Smb2Capabilities,
    /// Server GUID, formatted `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
    pub server_guid: String,
    /// Largest transaction buffer.
    pub max_transact_size: u32,
    /// Largest read.
    pub max_read_size: u32,
    /// Largest write.
    pub max_write_size: u32,
    /// Server clock as Unix seconds.
    pub system_time: i64,
    /// Server boot time as Unix seconds; `None` when the server sends zero (most do).
    pub boot_time: Option<i64>,
    /// Length of the SPNEGO security buffer.
    pub security_buffer_len: usize,
    /// Negotiate contexts (3.1.1 only).
    pub contexts: Vec<NegotiateContext>,
}

impl Smb2NegotiateResponse {
    /// Parses an unframed SMB2 negotiate response.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let header = read_header(&mut r)?;
        if header.command != COMMAND_NEGOTIATE {
            return Err(ProtoError::unexpected(
                WHAT,
                format!("command {:#06x}", header.command),
            ));
        }
        if header.flags & FLAGS_SERVER_TO_REDIR == 0 {
            return Err(ProtoError::unexpected(WHAT, "message is a request"));
        }
        if header.status != 0 {
            return Err(ProtoError::unexpected(
                WHAT,
                format!("status {:#010x}", header.status),
            ));
        }
        let structure_size = r.u16_le(WHAT)?;
        if structure_size != 65 {
            return Err(ProtoError::malformed(
                WHAT,
                format!("StructureSize {structure_size}"),
            ));
        }
        let security_mode = r.u16_le(WHAT)?;
        let dialect = Dialect::from_code(r.u16_le(WHAT)?);
        let context_count = r.u16_le(WHAT)?;
        let server_guid = format_guid(&r.array::<16>(WHAT)?);
        let capabilities = Smb2Capabilities(r.u32_le(WHAT)?);
        let max_transact_size = r.u32_le(WHAT)?;
        let max_read_size = r.u32_le(WHAT)?;
        let max_write_size = r.u32_le(WHAT)?;
        let system_time = filetime_to_unix(r.u64_le(WHAT)?);
        let boot = r.u64_le(WHAT)?;
        r.skip(2, WHAT)?; // SecurityBufferOffset
        let security_buffer_len = usize::from(r.u16_le(WHAT)?);
        let context_offset = r.u32_le(WHAT)? as usize;
        let contexts = if dialect == Dialect::Smb311 && context_count > 0 {
            parse_contexts(bytes, context_offset, context_count)?
        } else {
            Vec::new()
        };
        Ok(Self {
            dialect,
            signing: Signing::from_flags(security_mode & 0x01 != 0, security_mode & 0x02 != 0),
            security_mode,
            capabilities,
            server_guid,
            max_transact_size,
            max_read_size,
            max_write_size,
            system_time,
            boot_time: (boot != 0).then(|| filetime_to_unix(boot)),
            security_buffer_len,
            contexts,
        })
    }

    /// The pre-authentication hash the server chose (3.1.1).
    pub fn preauth_hash(&self) -> Option<HashAlgorithm> {
        self.contexts.iter().find_map(|c| match c {
            NegotiateContext::PreauthIntegrity {
                hash_algorithms, ..
            } => hash_algorithms.first().copied(),
            _ => None,
        })
    }

    /// The cipher the server chose (3.1.1); [`Cipher::NoneSelected`] if none is common.
    pub fn cipher(&self) -> Option<Cipher> {
        self.contexts.iter().find_map(|c| match c {
            NegotiateContext::Encryption { ciphers } => ciphers.first().copied(),
            _ => None,
        })
    }

    /// The signing algorithm the server chose (3.1.1).
    pub fn signing_algorithm(&self) -> Option<SigningAlgorithm> {
        self.contexts.iter().find_map(|c| match c {
            NegotiateContext::Signing { algorithms } => algorithms.first().copied(),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smb::smb2::header::request_header;

    /// A 3.0.2 response built field by field (no contexts).
    fn response_302() -> Vec<u8> {
        let mut b = request_header(0).to_vec();
        b[16] = 0x01; // SERVER_TO_REDIR
        b.extend_from_slice(&65u16.to_le_bytes());
        b.extend_from_slice(&3u16.to_le_bytes()); // signing enabled + required
        b.extend_from_slice(&0x0302u16.to_le_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&[0xab; 16]);
        b.extend_from_slice(&0x2fu32.to_le_bytes());
        b.extend_from_slice(&8_388_608u32.to_le_bytes());
        b.extend_from_slice(&8_388_608u32.to_le_bytes());
        b.extend_from_slice(&8_388_608u32.to_le_bytes());
        b.extend_from_slice(&133_485_408_000_000_000u64.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend_from_slice(&128u16.to_le_bytes());
        b.extend_from_slice(&4u16.to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(b"blob");
        b
    }

    #[test]
    fn parses_fields() {
        let resp = Smb2NegotiateResponse::parse(&response_302()).unwrap();
        assert_eq!(resp.dialect, Dialect::Smb302);
        assert_eq!(resp.signing, Signing::Required);
        assert_eq!(resp.server_guid, "abababab-abab-abab-abab-abababababab");
        assert_eq!(resp.system_time, 1_704_067_200);
        assert_eq!(resp.boot_time, None);
        assert_eq!(resp.max_read_size, 8_388_608);
        assert_eq!(resp.security_buffer_len, 4);
        assert_eq!(
            resp.capabilities.names(),
            vec![
                "DFS",
                "LEASING",
                "LARGE_MTU",
                "MULTI_CHANNEL",
                "DIRECTORY_LEASING"
            ]
        );
        assert!(resp.contexts.is_empty());
    }

    #[test]
    fn error_status_and_requests_are_rejected() {
        let mut b = response_302();
        b[8..12].copy_from_slice(&0xc000_00bbu32.to_le_bytes());
        assert!(matches!(
            Smb2NegotiateResponse::parse(&b),
            Err(ProtoError::Unexpected { .. })
        ));
        let mut b = response_302();
        b[16] = 0;
        assert!(Smb2NegotiateResponse::parse(&b).is_err());
    }
}
