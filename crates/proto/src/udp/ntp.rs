//! NTP (RFC 5905): a version 4 client request and the server's answer.

use std::net::Ipv4Addr;

use crate::error::{ProtoError, Result};
use crate::reader::Reader;
use crate::text;

/// Length of an NTP packet without extensions.
pub const PACKET_LEN: usize = 48;
/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
const NTP_UNIX_OFFSET: i64 = 2_208_988_800;

/// Builds a 48-byte v4 client request; `id` goes in the transmit timestamp,
/// which the server copies into its origin timestamp.
pub fn client_request(id: u64) -> Vec<u8> {
    let mut out = vec![0u8; PACKET_LEN];
    out[0] = (4 << 3) | 3; // LI 0, version 4, mode 3 (client)
    out[40..48].copy_from_slice(&id.to_be_bytes());
    out
}

/// A parsed NTP server answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NtpAnswer {
    /// Leap indicator (3 = clock unsynchronised).
    pub leap: u8,
    /// Protocol version.
    pub version: u8,
    /// Association mode (4 = server).
    pub mode: u8,
    /// Stratum (0 = kiss-o'-death or unspecified, 1 = primary reference).
    pub stratum: u8,
    /// Poll interval exponent.
    pub poll: i8,
    /// Clock precision as a power of two (e.g. -23).
    pub precision: i8,
    /// Root delay in NTP short format (16.16 seconds).
    pub root_delay: u32,
    /// Root dispersion in NTP short format.
    pub root_dispersion: u32,
    /// Reference id: a 4-letter code for stratum 0/1, else an IPv4 address (or hash).
    pub refid: String,
    /// Reference time as Unix seconds (None when zero).
    pub reference_time: Option<i64>,
    /// Origin timestamp: the id the request carried.
    pub origin: u64,
    /// Server transmit time as Unix seconds.
    pub transmit_time: Option<i64>,
}

impl NtpAnswer {
    /// Parses a server answer (mode 4).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "NTP packet";
        let mut r = Reader::new(bytes);
        let first = r.u8(WHAT)?;
        let (leap, version, mode) = (first >> 6, (first >> 3) & 0x07, first & 0x07);
        if mode != 4 {
            return Err(ProtoError::unexpected(
                WHAT,
                format!("mode {mode}, expected 4 (server)"),
            ));
        }
        if !(1..=4).contains(&version) {
            return Err(ProtoError::malformed(WHAT, format!("version {version}")));
        }
        let stratum = r.u8(WHAT)?;
        let poll = r.u8(WHAT)? as i8;
        let precision = r.u8(WHAT)? as i8;
        let root_delay = r.u32_be(WHAT)?;
        let root_dispersion = r.u32_be(WHAT)?;
        let refid_raw = r.array::<4>(WHAT)?;
        let reference = r.u64_be(WHAT)?;
        let origin = r.u64_be(WHAT)?;
        let _receive = r.u64_be(WHAT)?;
        let transmit = r.u64_be(WHAT)?;
        let refid = if stratum <= 1 {
            text::printable(&refid_raw, 4)
        } else {
            Ipv4Addr::from(refid_raw).to_string()
        };
        Ok(Self {
            leap,
            version,
            mode,
            stratum,
            poll,
            precision,
            root_delay,
            root_dispersion,
            refid,
            reference_time: to_unix(reference),
            origin,
            transmit_time: to_unix(transmit),
        })
    }

    /// Whether this is a kiss-o'-death packet (stratum 0 with a code such as RATE or DENY).
    pub fn is_kiss_of_death(&self) -> bool {
        self.stratum == 0
    }

    /// One readable line.
    pub fn summary(&self) -> String {
        if self.is_kiss_of_death() {
            return format!("NTP v{} kiss-o'-death {}", self.version, self.refid);
        }
        let sync = if self.leap == 3 {
            ", unsynchronised"
        } else {
            ""
        };
        format!(
            "NTP v{} server, stratum {}, refid {}, precision 2^{}{sync}",
            self.version, self.stratum, self.refid, self.precision
        )
    }
}

/// NTP timestamp (seconds in the high 32 bits) to Unix seconds, assuming era 0.
fn to_unix(ts: u64) -> Option<i64> {
    (ts != 0).then(|| (ts >> 32) as i64 - NTP_UNIX_OFFSET)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bytes() {
        let req = client_request(0x0102_0304_0506_0708);
        assert_eq!(req.len(), 48);
        assert_eq!(req[0], 0x23);
        assert!(req[1..40].iter().all(|&b| b == 0));
        assert_eq!(&req[40..], &[1, 2, 3, 4, 5, 6, 7, 8]);
    }

    fn answer(stratum: u8, refid: [u8; 4]) -> Vec<u8> {
        let mut b = vec![0u8; 48];
        b[0] = 0x24; // v4 server
        b[1] = stratum;
        b[2] = 6;
        b[3] = 0xe9; // -23
        b[12..16].copy_from_slice(&refid);
        let secs = (1_704_067_200i64 + NTP_UNIX_OFFSET) as u64;
        b[16..24].copy_from_slice(&(secs << 32).to_be_bytes());
        b[24..32].copy_from_slice(&42u64.to_be_bytes());
        b[40..48].copy_from_slice(&(secs << 32).to_be_bytes());
        b
    }

    #[test]
    fn parses_server_answer() {
        let a = NtpAnswer::parse(&answer(2, [192, 0, 2, 1])).unwrap();
        assert_eq!((a.version, a.mode, a.stratum, a.precision), (4, 4, 2, -23));
        assert_eq!(a.refid, "192.0.2.1");
        assert_eq!(a.origin, 42);
        assert_eq!(a.transmit_time, Some(1_704_067_200));
        assert_eq!(
            a.summary(),
            "NTP v4 server, stratum 2, refid 192.0.2.1, precision 2^-23"
        );
        let gps = NtpAnswer::parse(&answer(1, *b"GPS\0")).unwrap();
        assert_eq!(gps.refid, "GPS");
        let kod = NtpAnswer::parse(&answer(0, *b"RATE")).unwrap();
        assert!(kod.summary().contains("kiss-o'-death RATE"));
    }

    #[test]
    fn rejects_client_packets_and_short_input() {
        assert!(NtpAnswer::parse(&client_request(1)).is_err());
        assert!(NtpAnswer::parse(&answer(2, [0; 4])[..47]).is_err());
    }
}
