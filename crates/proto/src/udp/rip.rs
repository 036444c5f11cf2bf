//! RIP (RFC 2453): a request for the whole routing table and the router's response.

use std::net::Ipv4Addr;

use crate::error::{ProtoError, Result};
use crate::reader::Reader;

/// Entries per RIP message, per the RFC.
const MAX_ENTRIES: usize = 25;

/// Builds a RIPv2 whole-table request: one entry with address family 0 and metric 16.
pub fn table_request() -> Vec<u8> {
    let mut out = vec![1, 2, 0, 0];
    out.extend_from_slice(&[0; 16]);
    out.extend_from_slice(&16u32.to_be_bytes());
    out
}

/// One advertised route.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RipRoute {
    /// Destination network.
    pub address: Ipv4Addr,
    /// Netmask (zero in RIPv1).
    pub mask: Ipv4Addr,
    /// Next hop (zero = the sender).
    pub next_hop: Ipv4Addr,
    /// Hop count (16 = unreachable).
    pub metric: u32,
}

/// A parsed RIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RipAnswer {
    /// RIP version (1 or 2).
    pub version: u8,
    /// IPv4 routes (authentication entries skipped).
    pub routes: Vec<RipRoute>,
}

impl RipAnswer {
    /// Parses a response (command 2).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "RIP response";
        let mut r = Reader::new(bytes);
        let command = r.u8(WHAT)?;
        let version = r.u8(WHAT)?;
        r.skip(2, WHAT)?;
        if command != 2 {
            return Err(ProtoError::unexpected(
                WHAT,
                format!("command {command}, expected 2"),
            ));
        }
        if version != 1 && version != 2 {
            return Err(ProtoError::malformed(WHAT, format!("version {version}")));
        }
        let mut routes = Vec::new();
        for _ in 0..MAX_ENTRIES {
            if r.remaining() < 20 {
                break;
            }
            let family = r.u16_be(WHAT)?;
            r.skip(2, WHAT)?;
            let address = Ipv4Addr::from(r.array::<4>(WHAT)?);
            let mask = Ipv4Addr::from(r.array::<4>(WHAT)?);
            let next_hop = Ipv4Addr::from(r.array::<4>(WHAT)?);
            let metric = r.u32_be(WHAT)?;
            if family == 2 {
                routes.push(RipRoute {
                    address,
                    mask,
                    next_hop,
                    metric,
                });
            }
        }
        Ok(Self { version, routes })
    }

    /// One readable line.
    pub fn summary(&self) -> String {
        format!(
            "RIPv{} router, {} routes advertised",
            self.version,
            self.routes.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_response() {
        let req = table_request();
        assert_eq!(req.len(), 24);
        assert_eq!(&req[..4], &[1, 2, 0, 0]);
        assert_eq!(&req[20..], &[0, 0, 0, 16]);
        let mut resp = vec![
            2, 2, 0, 0, 0, 2, 0, 0, 10, 1, 0, 0, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
        ];
        resp.extend_from_slice(&[0xff, 0xff, 0, 2]);
        resp.extend_from_slice(&[0; 16]);
        let a = RipAnswer::parse(&resp).unwrap();
        assert_eq!(a.routes.len(), 1);
        assert_eq!(a.routes[0].mask, Ipv4Addr::new(255, 255, 0, 0));
        assert_eq!(a.summary(), "RIPv2 router, 1 routes advertised");
        assert!(RipAnswer::parse(&req).is_err());
    }
}
