//! ONC RPC (RFC 5531) NULL-procedure calls, used to find the portmapper (111) and NFS (2049).

use crate::error::{ProtoError, Result};
use crate::reader::Reader;

/// Program number of the portmapper / rpcbind.
pub const PROG_PORTMAPPER: u32 = 100_000;
/// Program number of NFS.
pub const PROG_NFS: u32 = 100_003;
/// Program number of the mount daemon.
pub const PROG_MOUNT: u32 = 100_005;

/// Builds a NULL call (procedure 0, AUTH_NONE) to `program` version `version`.
pub fn null_call(xid: u32, program: u32, version: u32) -> Vec<u8> {
    let words = [xid, 0, 2, program, version, 0, 0, 0, 0, 0];
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

/// What the server said about the call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum RpcStatus {
    /// The call succeeded.
    Success,
    /// The program is not exported here.
    ProgramUnavailable,
    /// The program exists in versions `low..=high` only.
    ProgramMismatch {
        /// Lowest supported version.
        low: u32,
        /// Highest supported version.
        high: u32,
    },
    /// Another accept status (procedure unavailable, garbage args, system error).
    OtherAccepted(u32),
    /// The server speaks other RPC versions.
    RpcMismatch {
        /// Lowest RPC version.
        low: u32,
        /// Highest RPC version.
        high: u32,
    },
    /// The server rejected the credentials.
    AuthError(u32),
}

/// A parsed RPC reply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RpcReply {
    /// Transaction id echoed from the call.
    pub xid: u32,
    /// Outcome.
    pub status: RpcStatus,
}

impl RpcReply {
    /// Parses a reply message (UDP, no record marking).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "RPC reply";
        let mut r = Reader::new(bytes);
        let xid = r.u32_be(WHAT)?;
        let msg_type = r.u32_be(WHAT)?;
        if msg_type != 1 {
            return Err(ProtoError::unexpected(
                WHAT,
                format!("message type {msg_type}, expected 1 (reply)"),
            ));
        }
        let status = match r.u32_be(WHAT)? {
            0 => {
                r.skip(4, "RPC verifier flavor")?;
                let len = r.u32_be("RPC verifier length")? as usize;
                r.skip(len.div_ceil(4) * 4, "RPC verifier body")?;
                match r.u32_be("RPC accept status")? {
                    0 => RpcStatus::Success,
                    1 => RpcStatus::ProgramUnavailable,
                    2 => RpcStatus::ProgramMismatch {
                        low: r.u32_be(WHAT)?,
                        high: r.u32_be(WHAT)?,
                    },
                    other => RpcStatus::OtherAccepted(other),
                }
            }
            1 => match r.u32_be("RPC reject status")? {
                0 => RpcStatus::RpcMismatch {
                    low: r.u32_be(WHAT)?,
                    high: r.u32_be(WHAT)?,
                },
                1 => RpcStatus::AuthError(r.u32_be(WHAT)?),
                other => {
                    return Err(ProtoError::malformed(
                        WHAT,
                        format!("reject status {other}"),
                    ));
                }
            },
            other => return Err(ProtoError::malformed(WHAT, format!("reply status {other}"))),
        };
        Ok(Self { xid, status })
    }

    /// One readable line.
    pub fn summary(&self) -> String {
        match &self.status {
            RpcStatus::Success => "RPC NULL call accepted".into(),
            RpcStatus::ProgramUnavailable => "RPC server, program unavailable".into(),
            RpcStatus::ProgramMismatch { low, high } => {
                format!("RPC program versions {low}-{high}")
            }
            RpcStatus::OtherAccepted(s) => format!("RPC accepted with status {s}"),
            RpcStatus::RpcMismatch { low, high } => format!("RPC version mismatch ({low}-{high})"),
            RpcStatus::AuthError(s) => format!("RPC auth error {s}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_call_bytes() {
        let call = null_call(0x0102_0304, PROG_PORTMAPPER, 2);
        assert_eq!(call.len(), 40);
        assert_eq!(
            &call[..16],
            &[1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1, 0x86, 0xa0]
        );
        assert_eq!(&call[16..20], &[0, 0, 0, 2]);
        assert!(call[20..].iter().all(|&b| b == 0));
    }

    #[test]
    fn parses_replies() {
        let ok = [
            1, 2, 3, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(
            RpcReply::parse(&ok).unwrap(),
            RpcReply {
                xid: 0x0102_0304,
                status: RpcStatus::Success
            }
        );
        let mut mismatch = ok.to_vec();
        mismatch[23] = 2;
        mismatch.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 4]);
        assert_eq!(
            RpcReply::parse(&mismatch).unwrap().status,
            RpcStatus::ProgramMismatch { low: 2, high: 4 }
        );
        let mut huge_verf = ok.to_vec();
        huge_verf[16..20].copy_from_slice(&[0xff; 4]);
        assert!(RpcReply::parse(&huge_verf).is_err());
        assert!(RpcReply::parse(&null_call(1, 2, 3)).is_err());
    }
}
