//! NetBIOS names and their first-level encoding (RFC 1001 §14.1).
//!
//! A NetBIOS name is 16 bytes: up to 15 name bytes padded with spaces, then a
//! suffix byte that says which service registered it. On the wire each byte is
//! split into two nibbles, each sent as `b'A' + nibble`, giving 32 letters.

use crate::error::{ProtoError, Result};
use crate::reader::Reader;
use crate::text;

/// Length of a raw NetBIOS name.
pub const NAME_LEN: usize = 16;
/// Length of a first-level encoded name.
pub const ENCODED_LEN: usize = 32;
/// Longest chain of scope labels or compression pointers followed while decoding.
const MAX_LABELS: usize = 64;

/// A 16-byte NetBIOS name (15 bytes of name plus the suffix byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetbiosName {
    raw: [u8; NAME_LEN],
}

impl NetbiosName {
    /// The wildcard name `*` (an asterisk followed by 15 NUL bytes), used by node status queries.
    pub const WILDCARD: NetbiosName = {
        let mut raw = [0u8; NAME_LEN];
        raw[0] = b'*';
        NetbiosName { raw }
    };

    /// Builds a name from text: upper-cased, cut to 15 bytes, padded with spaces, then `suffix`.
    pub fn new(name: &str, suffix: u8) -> Self {
        let mut raw = [b' '; NAME_LEN];
        for (slot, byte) in raw.iter_mut().zip(name.bytes().take(NAME_LEN - 1)) {
            *slot = byte.to_ascii_uppercase();
        }
        raw[NAME_LEN - 1] = suffix;
        Self { raw }
    }

    /// Wraps 16 raw bytes as they appear in a node status answer.
    pub fn from_raw(raw: [u8; NAME_LEN]) -> Self {
        Self { raw }
    }

    /// The 16 raw bytes.
    pub fn raw(&self) -> [u8; NAME_LEN] {
        self.raw
    }

    /// The name part (first 15 bytes) without trailing spaces or NULs, control characters removed.
    pub fn name(&self) -> String {
        let body = &self.raw[..NAME_LEN - 1];
        let end = body
            .iter()
            .rposition(|&b| b != b' ' && b != 0)
            .map_or(0, |i| i + 1);
        text::printable(&body[..end], NAME_LEN)
    }

    /// The suffix (16th) byte, which tells the registering service.
    pub fn suffix(&self) -> u8 {
        self.raw[NAME_LEN - 1]
    }

    /// First-level encoding: each byte becomes two letters `'A' + high nibble`, `'A' + low nibble`.
    pub fn encode_first_level(&self) -> [u8; ENCODED_LEN] {
        let mut out = [0u8; ENCODED_LEN];
        for (i, byte) in self.raw.iter().enumerate() {
            out[2 * i] = b'A' + (byte >> 4);
            out[2 * i + 1] = b'A' + (byte & 0x0f);
        }
        out
    }

    /// Reverses [`encode_first_level`](Self::encode_first_level); every byte must be in `'A'..='P'`.
    pub fn decode_first_level(encoded: &[u8]) -> Result<Self> {
        if encoded.len() != ENCODED_LEN {
            return Err(ProtoError::malformed(
                "NetBIOS encoded name",
                format!("length {} instead of {ENCODED_LEN}", encoded.len()),
            ));
        }
        let mut raw = [0u8; NAME_LEN];
        for (slot, pair) in raw.iter_mut().zip(encoded.chunks_exact(2)) {
            let high = nibble(pair[0])?;
            let low = nibble(pair[1])?;
            *slot = (high << 4) | low;
        }
        Ok(Self { raw })
    }

    /// The name as a DNS-style wire name without scope: length 32, the encoded name, root label.
    pub fn to_wire(&self) -> [u8; ENCODED_LEN + 2] {
        let mut out = [0u8; ENCODED_LEN + 2];
        out[0] = ENCODED_LEN as u8;
        out[1..=ENCODED_LEN].copy_from_slice(&self.encode_first_level());
        out
    }

    /// Reads a wire name at the cursor: the encoded label, then any scope labels,
    /// following at most one chain of compression pointers (bounded).
    pub(crate) fn read_wire(reader: &mut Reader<'_>) -> Result<Self> {
        const WHAT: &str = "NetBIOS wire name";
        let first = reader.u8(WHAT)?;
        if first & 0xc0 == 0xc0 {
            let low = reader.u8(WHAT)?;
            let target = (usize::from(first & 0x3f) << 8) | usize::from(low);
            let mut pointed = Reader::new(reader.whole());
            pointed.seek(target, WHAT)?;
            return Self::read_uncompressed(&mut pointed, 0);
        }
        if usize::from(first) != ENCODED_LEN {
            return Err(ProtoError::malformed(
                WHAT,
                format!("first label has length {first}, expected {ENCODED_LEN}"),
            ));
        }
        let name = Self::decode_first_level(reader.take(ENCODED_LEN, WHAT)?)?;
        skip_scope(reader)?;
        Ok(name)
    }

    fn read_uncompressed(reader: &mut Reader<'_>, depth: usize) -> Result<Self> {
        const WHAT: &str = "NetBIOS wire name";
        if depth > 0 {
            return Err(ProtoError::malformed(
                WHAT,
                "compression pointer points at a pointer",
            ));
        }
        let len = reader.u8(WHAT)?;
        if usize::from(len) != ENCODED_LEN {
            return Err(ProtoError::malformed(
                WHAT,
                format!("pointed label has length {len}, expected {ENCODED_LEN}"),
            ));
        }
        Self::decode_first_level(reader.take(ENCODED_LEN, WHAT)?)
    }
}

impl std::fmt::Display for NetbiosName {
    /// Formats as `NAME<xx>` with the suffix in hex, the way Windows tools print names.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}<{:02x}>", self.name(), self.suffix())
    }
}

/// Skips scope labels after the encoded name, up to the root label or a pointer.
fn skip_scope(reader: &mut Reader<'_>) -> Result<()> {
    const WHAT: &str = "NetBIOS name scope";
    for _ in 0..MAX_LABELS {
        let len = reader.u8(WHAT)?;
        if len == 0 {
            return Ok(());
        }
        if len & 0xc0 == 0xc0 {
            // A pointer ends the name; the scope it points to is not needed.
            return reader.skip(1, WHAT);
        }
        if len & 0xc0 != 0 {
            return Err(ProtoError::malformed(
                WHAT,
                format!("label length byte {len:#04x}"),
            ));
        }
        reader.skip(usize::from(len), WHAT)?;
    }
    Err(ProtoError::malformed(WHAT, "too many scope labels"))
}

fn nibble(letter: u8) -> Result<u8> {
    match letter {
        b'A'..=b'P' => Ok(letter - b'A'),
        other => Err(ProtoError::malformed(
            "NetBIOS encoded name",
            format!("byte {other:#04x} is not a letter A-P"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_encodes_as_ck_then_as() {
        // '*' = 0x2a -> 'C' 'K'; NUL -> 'A' 'A'.
        let enc = NetbiosName::WILDCARD.encode_first_level();
        assert_eq!(&enc[..2], b"CK");
        assert!(enc[2..].iter().all(|&b| b == b'A'));
    }

    #[test]
    fn rfc1001_example_fred() {
        // RFC 1001 §14.1 encodes "FRED" padded with spaces as EGFCEFEE then CA repeated.
        let enc = NetbiosName::new("Fred", b' ').encode_first_level();
        assert_eq!(&enc, b"EGFCEFEECACACACACACACACACACACACA");
        let back = NetbiosName::decode_first_level(&enc).unwrap();
        assert_eq!(back.name(), "FRED");
        assert_eq!(back.suffix(), 0x20);
    }

    #[test]
    fn smbserver_name_with_suffix_20() {
        let name = NetbiosName::new("*SMBSERVER", 0x20);
        assert_eq!(&name.raw()[..10], b"*SMBSERVER");
        assert_eq!(name.to_string(), "*SMBSERVER<20>");
        let wire = name.to_wire();
        assert_eq!(wire[0], 32);
        assert_eq!(wire[33], 0);
        assert_eq!(&wire[1..3], b"CK");
        assert_eq!(&wire[31..33], b"CA");
    }

    #[test]
    fn long_names_are_cut_to_15() {
        let name = NetbiosName::new("abcdefghijklmnopq", 0);
        assert_eq!(name.name(), "ABCDEFGHIJKLMNO");
    }

    #[test]
    fn rejects_bad_letters_and_lengths() {
        assert!(NetbiosName::decode_first_level(b"ZZ").is_err());
        let mut enc = NetbiosName::WILDCARD.encode_first_level();
        enc[5] = b'Q';
        assert!(NetbiosName::decode_first_level(&enc).is_err());
    }

    #[test]
    fn wire_name_with_scope_and_pointer() {
        let mut buf = NetbiosName::new("HOST", 0).to_wire().to_vec();
        buf.pop();
        buf.extend_from_slice(&[3, b'c', b'o', b'm', 0]);
        buf.extend_from_slice(&[0xc0, 0x00]);
        let mut r = Reader::new(&buf);
        assert_eq!(NetbiosName::read_wire(&mut r).unwrap().name(), "HOST");
        assert_eq!(NetbiosName::read_wire(&mut r).unwrap().name(), "HOST");
        assert_eq!(r.remaining(), 0);
    }
}
