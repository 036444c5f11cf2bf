//! Parsing the SMB1 SMB_COM_NEGOTIATE response.
//!
//! Three shapes exist, told apart by WordCount: 1 (only a dialect index, e.g.
//! 0xFFFF "none acceptable"), 13 (LAN Manager dialects) and 17 (NT LM 0.12).

use super::capabilities::Smb1Capabilities;
use super::header::{COM_NEGOTIATE, FLAGS_REPLY, FLAGS2_UNICODE, Smb1Header};
use crate::error::{ProtoError, Result};
use crate::reader::Reader;
use crate::smb::smb2::Signing;
use crate::smb::{filetime_to_unix, format_guid};
use crate::text;

/// Dialect index meaning the server accepted none of the offered dialects.
pub const NO_DIALECT: u16 = 0xffff;
const WHAT: &str = "SMB1 negotiate response";

/// The SecurityMode bits of an SMB1 negotiate response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Smb1SecurityMode {
    /// User-level security (otherwise share-level).
    pub user_level: bool,
    /// Challenge/response passwords (otherwise plaintext).
    pub challenge_response: bool,
    /// Message signing is enabled.
    pub signing_enabled: bool,
    /// Message signing is required.
    pub signing_required: bool,
}

impl Smb1SecurityMode {
    fn from_bits(bits: u8) -> Self {
        Self {
            user_level: bits & 0x01 != 0,
            challenge_response: bits & 0x02 != 0,
            signing_enabled: bits & 0x04 != 0,
            signing_required: bits & 0x08 != 0,
        }
    }
}

/// A parsed SMB1 negotiate response. Fields the response's shape does not carry are zero or `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Smb1NegotiateResponse {
    /// Index into the offered dialect list, or [`NO_DIALECT`].
    pub dialect_index: u16,
    /// Security mode bits.
    pub security_mode: Smb1SecurityMode,
    /// Maximum outstanding requests.
    pub max_mpx: u16,
    /// Maximum virtual circuits.
    pub max_vcs: u16,
    /// Largest message the server accepts.
    pub max_buffer: u32,
    /// Capabilities (NT LM 0.12 only).
    pub capabilities: Smb1Capabilities,
    /// Server clock as Unix seconds (NT LM 0.12 only).
    pub system_time: Option<i64>,
    /// Server time zone in minutes west of UTC.
    pub time_zone: Option<i16>,
    /// The response uses extended (SPNEGO) security.
    pub extended_security: bool,
    /// Server GUID, when extended security is used.
    pub server_guid: Option<String>,
    /// Length of the SPNEGO blob, when extended security is used.
    pub security_blob_len: usize,
    /// Length of the authentication challenge, when extended security is not used.
    pub challenge_len: usize,
    /// Primary domain or workgroup (without extended security).
    pub domain: Option<String>,
    /// Server's NetBIOS name (without extended security).
    pub server_name: Option<String>,
}

impl Smb1NegotiateResponse {
    /// Parses an unframed SMB1 negotiate response.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let header = Smb1Header::read(&mut r)?;
        if header.command != COM_NEGOTIATE {
            return Err(ProtoError::unexpected(
                WHAT,
                format!("command {:#04x}", header.command),
            ));
        }
        if header.flags & FLAGS_REPLY == 0 {
            return Err(ProtoError::unexpected(WHAT, "message is a request"));
        }
        if header.status != 0 {
            return Err(ProtoError::unexpected(
                WHAT,
                format!("status {:#010x}", header.status),
            ));
        }
        let word_count = r.u8("SMB1 WordCount")?;
        let words = r.take(usize::from(word_count) * 2, "SMB1 negotiate words")?;
        let byte_count = usize::from(r.u16_le("SMB1 ByteCount")?);
        // Servers have been seen to overstate ByteCount; use what actually arrived.
        let data = r.rest().get(..byte_count).unwrap_or(r.rest());
        let unicode = header.flags2 & FLAGS2_UNICODE != 0;
        match word_count {
            1 => Ok(Self {
                dialect_index: u16::from_le_bytes([words[0], words[1]]),
                ..Self::default()
            }),
            13 => parse_lanman(words),
            17 => parse_nt_lm(words, data, unicode),
            other => Err(ProtoError::malformed(WHAT, format!("WordCount {other}"))),
        }
    }

    /// Whether the server accepted one of the offered dialects.
    pub fn accepted(&self) -> bool {
        self.dialect_index != NO_DIALECT
    }

    /// The accepted dialect's name, given the list that was offered.
    pub fn dialect_name<'a>(&self, offered: &[&'a str]) -> Option<&'a str> {
        offered.get(usize::from(self.dialect_index)).copied()
    }

    /// Signing in the same three states SMB2 reports.
    pub fn signing(&self) -> Signing {
        Signing::from_flags(
            self.security_mode.signing_enabled,
            self.security_mode.signing_required,
        )
    }
}

fn parse_lanman(words: &[u8]) -> Result<Smb1NegotiateResponse> {
    let mut w = Reader::new(words);
    let dialect_index = w.u16_le(WHAT)?;
    let security_mode = Smb1SecurityMode::from_bits(w.u16_le(WHAT)? as u8);
    let max_buffer = u32::from(w.u16_le(WHAT)?);
    let max_mpx = w.u16_le(WHAT)?;
    let max_vcs = w.u16_le(WHAT)?;
    // RawMode(2) SessionKey(4) ServerTime(2) ServerDate(2).
    w.skip(10, WHAT)?;
    let time_zone = w.u16_le(WHAT)? as i16;
    Ok(Smb1NegotiateResponse {
        dialect_index,
        security_mode,
        max_mpx,
        max_vcs,
        max_buffer,
        time_zone: Some(time_zone),
        ..Smb1NegotiateResponse::default()
    })
}

fn parse_nt_lm(words: &[u8], data: &[u8], unicode: bool) -> Result<Smb1NegotiateResponse> {
    let mut w = Reader::new(words);
    let dialect_index = w.u16_le(WHAT)?;
    let security_mode = Smb1SecurityMode::from_bits(w.u8(WHAT)?);
    let max_mpx = w.u16_le(WHAT)?;
    let max_vcs = w.u16_le(WHAT)?;
    let max_buffer = w.u32_le(WHAT)?;
    w.skip(4 + 4, WHAT)?; // MaxRawSize, SessionKey
    let capabilities = Smb1Capabilities(w.u32_le(WHAT)?);
    let system_time = filetime_to_unix(w.u64_le(WHAT)?);
    let time_zone = w.u16_le(WHAT)? as i16;
    let challenge_len = usize::from(w.u8(WHAT)?);
    let mut out = Smb1NegotiateResponse {
        dialect_index,
        security_mode,
        max_mpx,
        max_vcs,
        max_buffer,
        capabilities,
        system_time: Some(system_time),
        time_zone: Some(time_zone),
        ..Smb1NegotiateResponse::default()
    };
    let mut d = Reader::new(data);
    if capabilities.contains(Smb1Capabilities::EXTENDED_SECURITY) {
        out.extended_security = true;
        let guid = d.array::<16>("SMB1 server GUID")?;
        out.server_guid = Some(format_guid(&guid));
        out.security_blob_len = d.remaining();
    } else {
        out.challenge_len = challenge_len;
        d.skip(challenge_len, "SMB1 negotiate challenge")?;
        out.domain = read_string(&mut d, unicode);
        out.server_name = read_string(&mut d, unicode);
    }
    Ok(out)
}

/// Reads a NUL-terminated string (UTF-16LE or OEM); `None` when nothing is left or it is empty.
fn read_string(d: &mut Reader<'_>, unicode: bool) -> Option<String> {
    let rest = d.rest();
    if rest.is_empty() {
        return None;
    }
    let (body, consumed) = if unicode {
        let end = rest
            .chunks_exact(2)
            .position(|pair| pair == [0, 0])
            .map_or(rest.len() - rest.len() % 2, |units| units * 2);
        (&rest[..end], (end + 2).min(rest.len()))
    } else {
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        (&rest[..end], (end + 1).min(rest.len()))
    };
    let _ = d.skip(consumed, "SMB1 string");
    let s = if unicode {
        text::utf16le(body, text::MAX_TEXT)
    } else {
        text::printable(body, text::MAX_TEXT)
    };
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(flags2: u16) -> Vec<u8> {
        let mut h = Smb1Header::request(COM_NEGOTIATE, flags2).to_vec();
        h[9] |= FLAGS_REPLY;
        h
    }

    #[test]
    fn none_acceptable() {
        let mut b = header(0);
        b.extend_from_slice(&[1, 0xff, 0xff, 0, 0]);
        let resp = Smb1NegotiateResponse::parse(&b).unwrap();
        assert!(!resp.accepted());
        assert_eq!(resp.dialect_name(&["x"]), None);
    }

    #[test]
    fn nt_lm_with_oem_names() {
        let mut b = header(0);
        b.push(17);
        b.extend_from_slice(&5u16.to_le_bytes());
        b.push(0x0f);
        b.extend_from_slice(&50u16.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&16644u32.to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&0x0000_e3fdu32.to_le_bytes());
        b.extend_from_slice(&116_444_736_000_000_000u64.to_le_bytes());
        b.extend_from_slice(&(-60i16).to_le_bytes());
        b.push(8);
        let data = b"CHALLNGEWORKGROUP\0SRV\0";
        b.extend_from_slice(&(data.len() as u16).to_le_bytes());
        b.extend_from_slice(data);
        let resp = Smb1NegotiateResponse::parse(&b).unwrap();
        assert_eq!(
            resp.dialect_name(super::super::CLASSIC_DIALECTS),
            Some("NT LM 0.12")
        );
        assert!(resp.security_mode.signing_required);
        assert_eq!(resp.signing(), Signing::Required);
        assert_eq!(resp.system_time, Some(0));
        assert_eq!(resp.time_zone, Some(-60));
        assert_eq!(resp.domain.as_deref(), Some("WORKGROUP"));
        assert_eq!(resp.server_name.as_deref(), Some("SRV"));
        assert!(!resp.extended_security);
    }

    #[test]
    fn rejects_wrong_command_and_status() {
        let mut b = header(0);
        b[4] = 0x73;
        b.extend_from_slice(&[1, 0, 0, 0, 0]);
        assert!(Smb1NegotiateResponse::parse(&b).is_err());
        let mut b = header(0);
        b[5] = 0x22;
        b.extend_from_slice(&[1, 0, 0, 0, 0]);
        assert!(Smb1NegotiateResponse::parse(&b).is_err());
    }
}
