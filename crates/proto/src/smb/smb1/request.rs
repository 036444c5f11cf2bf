//! Building the SMB1 SMB_COM_NEGOTIATE request.

use super::header::{
    COM_NEGOTIATE, FLAGS2_EXTENDED_SECURITY, FLAGS2_LONG_NAMES, FLAGS2_NT_STATUS, FLAGS2_UNICODE,
    Smb1Header,
};

/// The dialects an SMB1-era client offers, oldest first; "NT LM 0.12" is SMB1 proper.
pub const CLASSIC_DIALECTS: &[&str] = &[
    "PC NETWORK PROGRAM 1.0",
    "LANMAN1.0",
    "Windows for Workgroups 3.1a",
    "LM1.2X002",
    "LANMAN2.1",
    "NT LM 0.12",
];

/// [`CLASSIC_DIALECTS`] plus the two strings that let an SMB2 server answer in SMB2.
pub const CLASSIC_AND_SMB2_DIALECTS: &[&str] = &[
    "PC NETWORK PROGRAM 1.0",
    "LANMAN1.0",
    "Windows for Workgroups 3.1a",
    "LM1.2X002",
    "LANMAN2.1",
    "NT LM 0.12",
    "SMB 2.002",
    "SMB 2.???",
];

/// Builds an unframed negotiate request without extended security, so an
/// NT LM 0.12 server replies with its challenge, domain and server name.
pub fn negotiate_request(dialects: &[&str]) -> Vec<u8> {
    build(
        dialects,
        FLAGS2_UNICODE | FLAGS2_NT_STATUS | FLAGS2_LONG_NAMES,
    )
}

/// Builds an unframed negotiate request asking for extended (SPNEGO) security,
/// so the server replies with its GUID and a security blob.
pub fn negotiate_request_extended(dialects: &[&str]) -> Vec<u8> {
    build(
        dialects,
        FLAGS2_UNICODE | FLAGS2_NT_STATUS | FLAGS2_EXTENDED_SECURITY | FLAGS2_LONG_NAMES,
    )
}

fn build(dialects: &[&str], flags2: u16) -> Vec<u8> {
    let mut body = Vec::new();
    for dialect in dialects {
        // Each entry: buffer format 0x02, the ASCII name, a NUL. Dialect names
        // are ASCII constants; a NUL inside one would end it early, so drop NULs.
        body.push(0x02);
        body.extend(dialect.bytes().filter(|&b| b != 0));
        body.push(0x00);
    }
    // Dialect lists are short constants; clamp rather than wrap if someone passes thousands.
    body.truncate(usize::from(u16::MAX));
    let mut out = Vec::with_capacity(super::HEADER_LEN + 3 + body.len());
    out.extend_from_slice(&Smb1Header::request(COM_NEGOTIATE, flags2));
    out.push(0); // WordCount
    out.extend_from_slice(&(body.len() as u16).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_dialect_list_layout() {
        let req = negotiate_request(&["NT LM 0.12"]);
        let expected_header: [u8; 32] = [
            0xff, b'S', b'M', b'B', 0x72, 0, 0, 0, 0, 0x18, 0x01, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(&req[..32], &expected_header);
        assert_eq!(req[32], 0, "WordCount");
        assert_eq!(&req[33..35], &[12, 0], "ByteCount");
        assert_eq!(&req[35..], b"\x02NT LM 0.12\0");
    }

    #[test]
    fn extended_sets_flag_and_lists_all() {
        let req = negotiate_request_extended(CLASSIC_AND_SMB2_DIALECTS);
        assert_eq!(u16::from_le_bytes([req[10], req[11]]), 0xc801);
        let total: usize = CLASSIC_AND_SMB2_DIALECTS.iter().map(|d| d.len() + 2).sum();
        assert_eq!(usize::from(u16::from_le_bytes([req[33], req[34]])), total);
        assert_eq!(req.len(), 35 + total);
        assert!(req.ends_with(b"\x02SMB 2.???\0"));
    }
}
