//! The small RFC services: echo (7), daytime (13), qotd (17), chargen (19) and time (37).

use crate::error::{ProtoError, Result};
use crate::text;

/// Seconds from 1900-01-01 to 1970-01-01, for the time protocol (RFC 868).
const TIME_UNIX_OFFSET: i64 = 2_208_988_800;

/// The datagram sent to echo: the server must send back exactly these bytes.
pub fn echo_request(id: u32) -> Vec<u8> {
    format!("portwatch-{id:08x}\r\n").into_bytes()
}

/// Any datagram makes daytime, qotd, chargen and time answer; send a line break.
pub fn any_request() -> Vec<u8> {
    b"\r\n".to_vec()
}

/// A text answer from echo, daytime, qotd or chargen.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TextAnswer {
    /// The service that answered.
    #[cfg_attr(
        feature = "serde",
        serde(deserialize_with = "crate::serde_static::deserialize")
    )]
    pub service: crate::Label,
    /// The first part of the text, cleaned.
    pub text: String,
    /// Bytes received.
    pub len: usize,
}

impl TextAnswer {
    /// Wraps any non-empty datagram.
    pub fn parse(service: &'static str, bytes: &[u8]) -> Result<Self> {
        if bytes.is_empty() {
            return Err(ProtoError::Truncated {
                what: "text service answer",
                needed: 1,
                got: 0,
            });
        }
        Ok(Self {
            service,
            text: text::printable(bytes, 80),
            len: bytes.len(),
        })
    }

    /// One readable line.
    pub fn summary(&self) -> String {
        match self.service {
            "echo" => format!("echo: {} bytes reflected", self.len),
            "chargen" => format!("chargen: {} bytes", self.len),
            other => format!("{other}: {}", self.text),
        }
    }
}

/// The 4-byte answer of the time protocol (RFC 868).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TimeAnswer {
    /// The server's clock as Unix seconds.
    pub unix_seconds: i64,
}

impl TimeAnswer {
    /// Parses exactly four bytes of seconds since 1900.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let raw: [u8; 4] = bytes.try_into().map_err(|_| {
            ProtoError::malformed(
                "time protocol answer",
                format!("{} bytes instead of 4", bytes.len()),
            )
        })?;
        Ok(Self {
            unix_seconds: i64::from(u32::from_be_bytes(raw)) - TIME_UNIX_OFFSET,
        })
    }

    /// One readable line.
    pub fn summary(&self) -> String {
        format!("time: server clock {} (Unix seconds)", self.unix_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        assert_eq!(echo_request(1), b"portwatch-00000001\r\n");
        let d = TextAnswer::parse("daytime", b"Mon Jan  1 00:00:00 2024\r\n").unwrap();
        assert_eq!(d.summary(), "daytime: Mon Jan  1 00:00:00 2024");
        assert!(TextAnswer::parse("qotd", b"").is_err());
        let t =
            TimeAnswer::parse(&((1_704_067_200 + TIME_UNIX_OFFSET) as u32).to_be_bytes()).unwrap();
        assert_eq!(t.unix_seconds, 1_704_067_200);
        assert!(TimeAnswer::parse(&[0; 5]).is_err());
    }
}
