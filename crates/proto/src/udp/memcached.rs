//! memcached's UDP protocol: an 8-byte frame header, then the text protocol.

use crate::error::{ProtoError, Result};
use crate::reader::Reader;
use crate::text;

/// Builds a `stats` request with the frame header (request id, sequence 0, 1 datagram).
pub fn stats_request(request_id: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(15);
    out.extend_from_slice(&request_id.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 1, 0, 0]);
    out.extend_from_slice(b"stats\r\n");
    out
}

/// The first datagram of a memcached `stats` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MemcachedAnswer {
    /// Request id echoed from the request.
    pub request_id: u16,
    /// Sequence number of this datagram.
    pub sequence: u16,
    /// Total datagrams in the answer.
    pub total: u16,
    /// `STAT version` value.
    pub version: Option<String>,
    /// `STAT uptime` value in seconds.
    pub uptime: Option<u64>,
    /// Number of STAT lines in this datagram.
    pub stat_lines: usize,
}

impl MemcachedAnswer {
    /// Parses one answer datagram; its text must start like a memcached reply.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "memcached UDP frame";
        let mut r = Reader::new(bytes);
        let request_id = r.u16_be(WHAT)?;
        let sequence = r.u16_be(WHAT)?;
        let total = r.u16_be(WHAT)?;
        r.skip(2, WHAT)?;
        let body = r.take_rest();
        let starts_ok = [
            &b"STAT "[..],
            b"END",
            b"ERROR",
            b"SERVER_ERROR",
            b"CLIENT_ERROR",
        ]
        .iter()
        .any(|p| body.starts_with(p));
        if sequence == 0 && !starts_ok {
            return Err(ProtoError::unexpected(
                "memcached answer",
                "text is not a memcached reply",
            ));
        }
        let mut answer = Self {
            request_id,
            sequence,
            total,
            version: None,
            uptime: None,
            stat_lines: 0,
        };
        for line in body.split(|&b| b == b'\n') {
            let Some(rest) = line.strip_prefix(b"STAT ") else {
                continue;
            };
            answer.stat_lines += 1;
            let line = text::printable(rest, 128);
            let mut kv = line.splitn(2, ' ');
            match (kv.next(), kv.next()) {
                (Some("version"), Some(v)) => answer.version = Some(v.to_string()),
                (Some("uptime"), Some(v)) => answer.uptime = v.parse().ok(),
                _ => {}
            }
        }
        Ok(answer)
    }

    /// One readable line.
    pub fn summary(&self) -> String {
        match &self.version {
            Some(v) => format!("memcached {v} (UDP stats open)"),
            None => "memcached (UDP stats open)".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_answer() {
        assert_eq!(stats_request(0x0102), b"\x01\x02\0\0\0\x01\0\0stats\r\n");
        let a = MemcachedAnswer::parse(
            b"\x01\x02\0\0\0\x01\0\0STAT pid 12\r\nSTAT uptime 3600\r\nSTAT version 1.6.21\r\nEND\r\n",
        )
        .unwrap();
        assert_eq!(a.request_id, 0x0102);
        assert_eq!(a.version.as_deref(), Some("1.6.21"));
        assert_eq!(a.uptime, Some(3600));
        assert_eq!(a.stat_lines, 3);
        assert!(MemcachedAnswer::parse(b"\x01\x02\0\0\0\x01\0\0HTTP/1.1").is_err());
    }
}
