//! The NetBIOS session service (RFC 1002 §4.3) and the 4-byte framing SMB uses on 139 and 445.

use std::net::Ipv4Addr;

use crate::error::{ProtoError, Result};
use crate::netbios::name::NetbiosName;
use crate::reader::Reader;

/// Session packet type: session message (carries SMB).
pub const SESSION_MESSAGE: u8 = 0x00;
/// Session packet type: session request.
pub const SESSION_REQUEST: u8 = 0x81;
/// Session packet type: positive session response.
pub const POSITIVE_RESPONSE: u8 = 0x82;
/// Session packet type: negative session response.
pub const NEGATIVE_RESPONSE: u8 = 0x83;
/// Session packet type: retarget session response.
pub const RETARGET_RESPONSE: u8 = 0x84;
/// Session packet type: keep-alive.
pub const KEEPALIVE: u8 = 0x85;
/// Largest payload the 24-bit length of a direct-TCP frame can describe.
pub const MAX_FRAME_PAYLOAD: usize = 0x00ff_ffff;
/// The called name Windows and Samba accept when the real name is unknown.
pub const SMBSERVER: &str = "*SMBSERVER";

/// Builds a session request calling `called<20>` (the file server) from `calling<00>`.
pub fn session_request(called: &str, calling: &str) -> Vec<u8> {
    session_request_names(
        &NetbiosName::new(called, 0x20),
        &NetbiosName::new(calling, 0x00),
    )
}

/// Builds a session request between two explicit NetBIOS names (72 bytes).
pub fn session_request_names(called: &NetbiosName, calling: &NetbiosName) -> Vec<u8> {
    let mut out = Vec::with_capacity(72);
    out.extend_from_slice(&[SESSION_REQUEST, 0x00, 0x00, 68]);
    out.extend_from_slice(&called.to_wire());
    out.extend_from_slice(&calling.to_wire());
    out
}

/// The server's answer to a session request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SessionResponse {
    /// The session is established (0x82).
    Positive,
    /// The session was refused (0x83).
    Negative {
        /// The error code byte.
        code: u8,
        /// What RFC 1002 says the code means.
        #[cfg_attr(
            feature = "serde",
            serde(deserialize_with = "crate::serde_static::deserialize")
        )]
        meaning: crate::Label,
    },
    /// Connect to another address instead (0x84).
    Retarget {
        /// Address to connect to.
        ip: Ipv4Addr,
        /// Port to connect to.
        port: u16,
    },
    /// A keep-alive (0x85), which a server should not send in reply to a request.
    Keepalive,
}

impl SessionResponse {
    /// Parses the first session packet of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "NetBIOS session response";
        let mut r = Reader::new(bytes);
        let kind = r.u8(WHAT)?;
        r.skip(3, WHAT)?;
        match kind {
            POSITIVE_RESPONSE => Ok(Self::Positive),
            NEGATIVE_RESPONSE => {
                let code = r.u8("NetBIOS negative response code")?;
                Ok(Self::Negative {
                    code,
                    meaning: negative_meaning(code),
                })
            }
            RETARGET_RESPONSE => {
                let ip = Ipv4Addr::from(r.array::<4>("NetBIOS retarget address")?);
                let port = r.u16_be("NetBIOS retarget port")?;
                Ok(Self::Retarget { ip, port })
            }
            KEEPALIVE => Ok(Self::Keepalive),
            other => Err(ProtoError::unexpected(
                WHAT,
                format!("packet type {other:#04x}"),
            )),
        }
    }
}

/// Explains a negative session response code.
pub fn negative_meaning(code: u8) -> &'static str {
    match code {
        0x80 => "not listening on called name",
        0x81 => "not listening for calling name",
        0x82 => "called name not present",
        0x83 => "called name present, but insufficient resources",
        0x8f => "unspecified error",
        _ => "unknown error code",
    }
}

/// Prefixes `payload` with the session-message header (type 0, 24-bit big-endian length).
pub fn frame(payload: &[u8]) -> Result<Vec<u8>> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&l| l as usize <= MAX_FRAME_PAYLOAD)
        .ok_or_else(|| ProtoError::Unencodable {
            what: "session message frame",
            detail: format!("payload of {} bytes exceeds 24-bit length", payload.len()),
        })?;
    let mut out = Vec::with_capacity(4 + payload.len());
    out.push(SESSION_MESSAGE);
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(payload);
    Ok(out)
}

/// How many bytes the session packet starting at `buf` occupies, header included,
/// or `None` while fewer than the 4 header bytes have arrived.
///
/// Session messages use a 24-bit length (direct TCP on 445, compatible with
/// 139); other packet types use RFC 1002's 17-bit length.
pub fn frame_len(buf: &[u8]) -> Option<usize> {
    let header: [u8; 4] = buf.get(..4)?.try_into().ok()?;
    let len = if header[0] == SESSION_MESSAGE {
        u32::from_be_bytes([0, header[1], header[2], header[3]])
    } else {
        (u32::from(header[1] & 0x01) << 16) | u32::from(u16::from_be_bytes([header[2], header[3]]))
    };
    Some(4 + len as usize)
}

/// The payload of a complete session message at the start of `buf`.
pub fn unframe(buf: &[u8]) -> Result<&[u8]> {
    const WHAT: &str = "session message frame";
    let total = frame_len(buf).ok_or(ProtoError::Truncated {
        what: WHAT,
        needed: 4,
        got: buf.len(),
    })?;
    if buf[0] != SESSION_MESSAGE {
        return Err(ProtoError::unexpected(
            WHAT,
            format!("packet type {:#04x}", buf[0]),
        ));
    }
    buf.get(4..total).ok_or(ProtoError::Truncated {
        what: WHAT,
        needed: total,
        got: buf.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_request_layout() {
        let req = session_request("samba1", "portwatch");
        assert_eq!(req.len(), 72);
        assert_eq!(&req[..4], &[0x81, 0, 0, 68]);
        assert_eq!(req[4], 32);
        // "SAMBA1" -> S=0x53 "FD", A=0x41 "EB".
        assert_eq!(&req[5..9], b"FDEB");
        // Called suffix 0x20 -> "CA", then the root label.
        assert_eq!(&req[35..38], b"CA\0");
        assert_eq!(req[38], 32);
        // Calling suffix 0x00 -> "AA".
        assert_eq!(&req[69..72], b"AA\0");
    }

    #[test]
    fn parses_every_response_type() {
        assert_eq!(
            SessionResponse::parse(&[0x82, 0, 0, 0]).unwrap(),
            SessionResponse::Positive
        );
        assert_eq!(
            SessionResponse::parse(&[0x83, 0, 0, 1, 0x82]).unwrap(),
            SessionResponse::Negative {
                code: 0x82,
                meaning: "called name not present"
            }
        );
        assert_eq!(
            SessionResponse::parse(&[0x84, 0, 0, 6, 10, 0, 0, 9, 0, 139]).unwrap(),
            SessionResponse::Retarget {
                ip: Ipv4Addr::new(10, 0, 0, 9),
                port: 139
            }
        );
        assert_eq!(
            SessionResponse::parse(&[0x85, 0, 0, 0]).unwrap(),
            SessionResponse::Keepalive
        );
        assert!(SessionResponse::parse(&[0x83, 0, 0, 1]).is_err());
        assert!(SessionResponse::parse(&[0x00, 0, 0, 0]).is_err());
        assert!(SessionResponse::parse(&[0x82]).is_err());
    }

    #[test]
    fn framing_round_trip() {
        let framed = frame(b"hello").unwrap();
        assert_eq!(framed, b"\0\0\0\x05hello");
        assert_eq!(frame_len(&framed), Some(9));
        assert_eq!(frame_len(&framed[..3]), None);
        assert_eq!(unframe(&framed).unwrap(), b"hello");
        assert!(unframe(&framed[..8]).is_err());
        assert_eq!(frame_len(&[0x00, 0x01, 0x00, 0x00]), Some(4 + 65536));
        assert_eq!(frame_len(&[0x83, 0x01, 0x00, 0x01]), Some(4 + 65537));
        assert!(frame(&vec![0; MAX_FRAME_PAYLOAD + 1]).is_err());
    }
}
