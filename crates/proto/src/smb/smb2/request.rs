//! Building the SMB2 NEGOTIATE request.

use super::capabilities::Smb2Capabilities;
use super::contexts::{align8, request_contexts};
use super::dialect::Dialect;
use super::header::{COMMAND_NEGOTIATE, HEADER_LEN, request_header};

/// SecurityMode bit: signing enabled.
const SIGNING_ENABLED: u16 = 0x0001;
/// Most dialects one request lists; more than the handful defined is a caller mistake.
const MAX_DIALECTS: usize = 16;

/// Builds an unframed SMB2 NEGOTIATE request offering `dialects`, with signing
/// enabled (not required). When 3.1.1 is offered, the preauth-integrity
/// (SHA-512 with `salt`), encryption and signing contexts are appended.
pub fn negotiate_request(dialects: &[Dialect], client_guid: [u8; 16], salt: [u8; 32]) -> Vec<u8> {
    let dialects = &dialects[..dialects.len().min(MAX_DIALECTS)];
    let offers_311 = dialects.contains(&Dialect::Smb311);
    // Capabilities must be zero unless a 3.x dialect is offered.
    let capabilities = if dialects.iter().any(|d| d.is_smb3()) {
        Smb2Capabilities::DFS
            | Smb2Capabilities::LEASING
            | Smb2Capabilities::LARGE_MTU
            | Smb2Capabilities::ENCRYPTION
    } else {
        0
    };

    let mut out = Vec::with_capacity(HEADER_LEN + 36 + 2 * dialects.len() + 8 + 88);
    out.extend_from_slice(&request_header(COMMAND_NEGOTIATE));
    out.extend_from_slice(&36u16.to_le_bytes()); // StructureSize
    out.extend_from_slice(&(dialects.len() as u16).to_le_bytes());
    out.extend_from_slice(&SIGNING_ENABLED.to_le_bytes());
    out.extend_from_slice(&[0, 0]); // Reserved
    out.extend_from_slice(&capabilities.to_le_bytes());
    out.extend_from_slice(&client_guid);
    // Offset 100: NegotiateContextOffset/Count (3.1.1) or ClientStartTime (zero), patched below.
    let context_fields = out.len();
    out.extend_from_slice(&[0; 8]);
    for dialect in dialects {
        out.extend_from_slice(&dialect.code().to_le_bytes());
    }
    if offers_311 {
        out.resize(align8(out.len()), 0);
        let offset = out.len() as u32;
        let (contexts, count) = request_contexts(&salt);
        out[context_fields..context_fields + 4].copy_from_slice(&offset.to_le_bytes());
        out[context_fields + 4..context_fields + 6].copy_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&contexts);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_bytes() {
        let req = negotiate_request(&[Dialect::Smb202], [0; 16], [0; 32]);
        let mut expected = [0u8; 64];
        expected[..8].copy_from_slice(&[0xfe, b'S', b'M', b'B', 64, 0, 0, 0]);
        expected[14] = 1; // CreditRequest
        assert_eq!(&req[..64], &expected);
    }

    #[test]
    fn smb2_only_request_without_contexts() {
        let guid = [0x11; 16];
        let req = negotiate_request(&[Dialect::Smb202, Dialect::Smb210], guid, [0; 32]);
        assert_eq!(req.len(), 64 + 36 + 4);
        assert_eq!(&req[64..72], &[36, 0, 2, 0, 1, 0, 0, 0]);
        assert_eq!(&req[72..76], &[0; 4], "capabilities zero without 3.x");
        assert_eq!(&req[76..92], &guid);
        assert_eq!(&req[92..100], &[0; 8], "ClientStartTime");
        assert_eq!(&req[100..], &[0x02, 0x02, 0x10, 0x02]);
    }

    #[test]
    fn smb311_request_with_aligned_contexts() {
        let req = negotiate_request(&Dialect::ALL, [0x22; 16], [0x33; 32]);
        assert_eq!(&req[66..68], &[5, 0], "DialectCount");
        assert_eq!(&req[72..76], &[0x47, 0, 0, 0], "capabilities");
        // 100 + 5 * 2 = 110, padded to 112.
        assert_eq!(&req[100..110], &[2, 2, 0x10, 2, 0, 3, 2, 3, 0x11, 3]);
        assert_eq!(
            &req[92..96],
            &112u32.to_le_bytes(),
            "NegotiateContextOffset"
        );
        assert_eq!(&req[96..98], &[3, 0], "NegotiateContextCount");
        assert_eq!(&req[110..112], &[0, 0], "padding");
        assert_eq!(&req[112..114], &[1, 0], "first context is preauth");
        assert_eq!(req.len(), 112 + 88);
        assert_eq!(&req[160..162], &[2, 0], "encryption context at 112 + 48");
        assert_eq!(&req[184..186], &[8, 0], "signing context at 112 + 72");
    }

    #[test]
    fn even_dialect_count_needs_no_padding() {
        let req = negotiate_request(&[Dialect::Smb302, Dialect::Smb311], [0; 16], [0; 32]);
        assert_eq!(&req[92..96], &104u32.to_le_bytes());
        assert_eq!(&req[104..106], &[1, 0]);
    }
}
