//! SMB 3.1.1 negotiate contexts (MS-SMB2 2.2.3.1 and 2.2.4.1).
//!
//! Each context is an 8-byte header (type, data length, reserved) and its
//! data; every context after the first starts on an 8-byte boundary.

use crate::error::{ProtoError, Result};
use crate::reader::Reader;

/// Context type: pre-authentication integrity capabilities.
pub const PREAUTH_INTEGRITY: u16 = 0x0001;
/// Context type: encryption capabilities.
pub const ENCRYPTION: u16 = 0x0002;
/// Context type: compression capabilities.
pub const COMPRESSION: u16 = 0x0003;
/// Context type: the server name the client connects to.
pub const NETNAME: u16 = 0x0005;
/// Context type: transport capabilities.
pub const TRANSPORT: u16 = 0x0006;
/// Context type: RDMA transform capabilities.
pub const RDMA_TRANSFORM: u16 = 0x0007;
/// Context type: signing capabilities.
pub const SIGNING: u16 = 0x0008;
/// Most contexts a response may carry before the parser gives up.
const MAX_CONTEXTS: u16 = 32;

/// Rounds `n` up to a multiple of 8.
pub(crate) fn align8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// A pre-authentication integrity hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum HashAlgorithm {
    /// SHA-512 (0x0001), the only one defined.
    Sha512,
    /// An id this crate does not know.
    Other(u16),
}

impl HashAlgorithm {
    fn from_code(code: u16) -> Self {
        if code == 0x0001 {
            Self::Sha512
        } else {
            Self::Other(code)
        }
    }
}

/// An SMB3 encryption cipher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Cipher {
    /// No common cipher (0x0000 in a response).
    NoneSelected,
    /// AES-128-CCM (0x0001).
    Aes128Ccm,
    /// AES-128-GCM (0x0002).
    Aes128Gcm,
    /// AES-256-CCM (0x0003).
    Aes256Ccm,
    /// AES-256-GCM (0x0004).
    Aes256Gcm,
    /// An id this crate does not know.
    Other(u16),
}

impl Cipher {
    /// The ciphers a request offers, most preferred first.
    pub const OFFERED: [Cipher; 4] = [
        Cipher::Aes128Gcm,
        Cipher::Aes128Ccm,
        Cipher::Aes256Gcm,
        Cipher::Aes256Ccm,
    ];

    /// The 16-bit id.
    pub fn code(self) -> u16 {
        match self {
            Cipher::NoneSelected => 0,
            Cipher::Aes128Ccm => 1,
            Cipher::Aes128Gcm => 2,
            Cipher::Aes256Ccm => 3,
            Cipher::Aes256Gcm => 4,
            Cipher::Other(code) => code,
        }
    }

    fn from_code(code: u16) -> Self {
        match code {
            0 => Cipher::NoneSelected,
            1 => Cipher::Aes128Ccm,
            2 => Cipher::Aes128Gcm,
            3 => Cipher::Aes256Ccm,
            4 => Cipher::Aes256Gcm,
            other => Cipher::Other(other),
        }
    }
}

impl std::fmt::Display for Cipher {
    /// Formats as "AES-128-GCM" etc., "none" or the hex id.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cipher::NoneSelected => f.write_str("none"),
            Cipher::Aes128Ccm => f.write_str("AES-128-CCM"),
            Cipher::Aes128Gcm => f.write_str("AES-128-GCM"),
            Cipher::Aes256Ccm => f.write_str("AES-256-CCM"),
            Cipher::Aes256Gcm => f.write_str("AES-256-GCM"),
            Cipher::Other(code) => write!(f, "{code:#06x}"),
        }
    }
}

/// An SMB3 signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SigningAlgorithm {
    /// HMAC-SHA256 (0x0000).
    HmacSha256,
    /// AES-CMAC (0x0001).
    AesCmac,
    /// AES-GMAC (0x0002).
    AesGmac,
    /// An id this crate does not know.
    Other(u16),
}

impl SigningAlgorithm {
    /// The algorithms a request offers, most preferred first.
    pub const OFFERED: [SigningAlgorithm; 3] = [
        SigningAlgorithm::AesGmac,
        SigningAlgorithm::AesCmac,
        SigningAlgorithm::HmacSha256,
    ];

    /// The 16-bit id.
    pub fn code(self) -> u16 {
        match self {
            SigningAlgorithm::HmacSha256 => 0,
            SigningAlgorithm::AesCmac => 1,
            SigningAlgorithm::AesGmac => 2,
            SigningAlgorithm::Other(code) => code,
        }
    }

    fn from_code(code: u16) -> Self {
        match code {
            0 => SigningAlgorithm::HmacSha256,
            1 => SigningAlgorithm::AesCmac,
            2 => SigningAlgorithm::AesGmac,
            other => SigningAlgorithm::Other(other),
        }
    }
}

impl std::fmt::Display for SigningAlgorithm {
    /// Formats as "HMAC-SHA256", "AES-CMAC", "AES-GMAC" or the hex id.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SigningAlgorithm::HmacSha256 => f.write_str("HMAC-SHA256"),
            SigningAlgorithm::AesCmac => f.write_str("AES-CMAC"),
            SigningAlgorithm::AesGmac => f.write_str("AES-GMAC"),
            SigningAlgorithm::Other(code) => write!(f, "{code:#06x}"),
        }
    }
}

/// One negotiate context from a response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum NegotiateContext {
    /// The chosen pre-authentication hash and the length of the server's salt.
    PreauthIntegrity {
        /// Hash algorithms listed (a response lists exactly one).
        hash_algorithms: Vec<HashAlgorithm>,
        /// Length of the salt.
        salt_len: usize,
    },
    /// The chosen cipher.
    Encryption {
        /// Ciphers listed (a response lists exactly one).
        ciphers: Vec<Cipher>,
    },
    /// The chosen signing algorithm.
    Signing {
        /// Algorithms listed (a response lists exactly one).
        algorithms: Vec<SigningAlgorithm>,
    },
    /// Any other context, kept as its type and data length.
    Other {
        /// Context type id.
        context_type: u16,
        /// Length of its data.
        data_len: usize,
    },
}

/// Appends one context (header and data) to `out`.
fn push_context(out: &mut Vec<u8>, context_type: u16, data: &[u8]) {
    out.extend_from_slice(&context_type.to_le_bytes());
    out.extend_from_slice(&(data.len() as u16).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(data);
}

/// Encodes the three contexts a 3.1.1 request carries: preauth integrity
/// (SHA-512 with `salt`), encryption and signing capabilities. The first
/// context starts at offset 0 of the returned bytes, which the caller places
/// on an 8-byte boundary; padding between contexts is included.
pub(crate) fn request_contexts(salt: &[u8; 32]) -> (Vec<u8>, u16) {
    let mut out = Vec::with_capacity(104);

    let mut preauth = Vec::with_capacity(38);
    preauth.extend_from_slice(&1u16.to_le_bytes()); // HashAlgorithmCount
    preauth.extend_from_slice(&(salt.len() as u16).to_le_bytes()); // SaltLength
    preauth.extend_from_slice(&0x0001u16.to_le_bytes()); // SHA-512
    preauth.extend_from_slice(salt);
    push_context(&mut out, PREAUTH_INTEGRITY, &preauth);

    out.resize(align8(out.len()), 0);
    let mut encryption = (Cipher::OFFERED.len() as u16).to_le_bytes().to_vec();
    for cipher in Cipher::OFFERED {
        encryption.extend_from_slice(&cipher.code().to_le_bytes());
    }
    push_context(&mut out, ENCRYPTION, &encryption);

    out.resize(align8(out.len()), 0);
    let mut signing = (SigningAlgorithm::OFFERED.len() as u16)
        .to_le_bytes()
        .to_vec();
    for alg in SigningAlgorithm::OFFERED {
        signing.extend_from_slice(&alg.code().to_le_bytes());
    }
    push_context(&mut out, SIGNING, &signing);
    (out, 3)
}

/// Parses `count` contexts starting at `offset` (from the start of the SMB2 header) in `msg`.
pub(crate) fn parse_contexts(
    msg: &[u8],
    offset: usize,
    count: u16,
) -> Result<Vec<NegotiateContext>> {
    const WHAT: &str = "SMB2 negotiate context";
    if count > MAX_CONTEXTS {
        return Err(ProtoError::malformed(WHAT, format!("{count} contexts")));
    }
    let mut r = Reader::new(msg);
    r.seek(offset, "SMB2 negotiate context offset")?;
    let mut out = Vec::with_capacity(usize::from(count));
    for index in 0..count {
        if index > 0 {
            let aligned = align8(r.pos());
            r.seek(aligned, "SMB2 negotiate context padding")?;
        }
        let context_type = r.u16_le(WHAT)?;
        let data_len = usize::from(r.u16_le(WHAT)?);
        r.skip(4, WHAT)?;
        let data = r.take(data_len, "SMB2 negotiate context data")?;
        out.push(parse_one(context_type, data)?);
    }
    Ok(out)
}

fn parse_one(context_type: u16, data: &[u8]) -> Result<NegotiateContext> {
    let mut d = Reader::new(data);
    Ok(match context_type {
        PREAUTH_INTEGRITY => {
            let n = d.u16_le("SMB2 preauth HashAlgorithmCount")?;
            let salt_len = usize::from(d.u16_le("SMB2 preauth SaltLength")?);
            let hash_algorithms = read_ids(&mut d, n, "SMB2 preauth hash algorithms")?
                .into_iter()
                .map(HashAlgorithm::from_code)
                .collect();
            d.skip(salt_len, "SMB2 preauth salt")?;
            NegotiateContext::PreauthIntegrity {
                hash_algorithms,
                salt_len,
            }
        }
        ENCRYPTION => {
            let n = d.u16_le("SMB2 encryption CipherCount")?;
            let ciphers = read_ids(&mut d, n, "SMB2 encryption ciphers")?
                .into_iter()
                .map(Cipher::from_code)
                .collect();
            NegotiateContext::Encryption { ciphers }
        }
        SIGNING => {
            let n = d.u16_le("SMB2 SigningAlgorithmCount")?;
            let algorithms = read_ids(&mut d, n, "SMB2 signing algorithms")?
                .into_iter()
                .map(SigningAlgorithm::from_code)
                .collect();
            NegotiateContext::Signing { algorithms }
        }
        other => NegotiateContext::Other {
            context_type: other,
            data_len: data.len(),
        },
    })
}

/// Reads `n` little-endian u16 ids; the take() up front bounds the allocation by the input.
fn read_ids(d: &mut Reader<'_>, n: u16, what: &'static str) -> Result<Vec<u16>> {
    let raw = d.take(usize::from(n) * 2, what)?;
    Ok(raw
        .chunks_exact(2)
        .map(|p| u16::from_le_bytes([p[0], p[1]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_contexts_are_aligned() {
        let (bytes, count) = request_contexts(&[0x5a; 32]);
        assert_eq!(count, 3);
        // Preauth: 8 + 38 = 46 bytes, padded to 48.
        assert_eq!(&bytes[..8], &[1, 0, 38, 0, 0, 0, 0, 0]);
        assert_eq!(&bytes[8..14], &[1, 0, 32, 0, 1, 0]);
        assert_eq!(&bytes[14..46], &[0x5a; 32]);
        assert_eq!(&bytes[46..48], &[0, 0]);
        // Encryption at 48: 8 + 10 = 18 bytes, padded to 72.
        assert_eq!(&bytes[48..56], &[2, 0, 10, 0, 0, 0, 0, 0]);
        assert_eq!(&bytes[56..66], &[4, 0, 2, 0, 1, 0, 4, 0, 3, 0]);
        assert_eq!(&bytes[66..72], &[0; 6]);
        // Signing at 72: 8 + 8 bytes, no trailing padding.
        assert_eq!(
            &bytes[72..],
            &[8, 0, 8, 0, 0, 0, 0, 0, 3, 0, 2, 0, 1, 0, 0, 0]
        );
        assert_eq!(bytes.len(), 88);
    }

    #[test]
    fn parses_its_own_request_contexts() {
        let (bytes, count) = request_contexts(&[0; 32]);
        let parsed = parse_contexts(&bytes, 0, count).unwrap();
        assert_eq!(
            parsed[0],
            NegotiateContext::PreauthIntegrity {
                hash_algorithms: vec![HashAlgorithm::Sha512],
                salt_len: 32
            }
        );
        assert_eq!(
            parsed[1],
            NegotiateContext::Encryption {
                ciphers: Cipher::OFFERED.to_vec()
            }
        );
        assert_eq!(
            parsed[2],
            NegotiateContext::Signing {
                algorithms: SigningAlgorithm::OFFERED.to_vec()
            }
        );
    }

    #[test]
    fn bad_counts_are_errors() {
        // Cipher count 0xffff with 2 bytes of data.
        let mut bytes = vec![2, 0, 4, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 0];
        assert!(parse_contexts(&bytes, 0, 1).is_err());
        bytes[0] = 0x42;
        assert_eq!(
            parse_contexts(&bytes, 0, 1).unwrap(),
            vec![NegotiateContext::Other {
                context_type: 0x42,
                data_len: 4
            }]
        );
        assert!(parse_contexts(&bytes, 0, 2).is_err());
        assert!(parse_contexts(&bytes, 100, 1).is_err());
        assert!(parse_contexts(&bytes, 0, 1000).is_err());
    }
}
