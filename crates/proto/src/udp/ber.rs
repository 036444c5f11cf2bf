//! A minimal BER encoder and decoder (X.690) for SNMP: definite lengths only,
//! lengths bounded by the input, no recursion in the decoder.

use crate::error::{ProtoError, Result};
use crate::reader::Reader;

/// Tag: INTEGER.
pub const INTEGER: u8 = 0x02;
/// Tag: OCTET STRING.
pub const OCTET_STRING: u8 = 0x04;
/// Tag: NULL.
pub const NULL: u8 = 0x05;
/// Tag: OBJECT IDENTIFIER.
pub const OID: u8 = 0x06;
/// Tag: SEQUENCE.
pub const SEQUENCE: u8 = 0x30;

/// Appends a tag-length-value with a definite length.
pub fn push_tlv(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
}

/// Encodes a TLV into a fresh vector.
pub fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    push_tlv(&mut out, tag, value);
    out
}

/// Encodes an INTEGER in the fewest two's-complement bytes.
pub fn integer(value: i64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        let redundant = (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    tlv(INTEGER, &bytes[start..])
}

/// Encodes an OBJECT IDENTIFIER given as arcs, e.g. `[1, 3, 6, 1, 2, 1, 1, 1, 0]`.
pub fn oid(arcs: &[u32]) -> Vec<u8> {
    let mut body = Vec::new();
    if let [first, second, rest @ ..] = arcs {
        push_base128(&mut body, first.saturating_mul(40).saturating_add(*second));
        for &arc in rest {
            push_base128(&mut body, arc);
        }
    }
    tlv(OID, &body)
}

fn push_base128(out: &mut Vec<u8>, mut value: u32) {
    let mut tmp = [0u8; 5];
    let mut n = 0;
    loop {
        tmp[n] = (value & 0x7f) as u8;
        n += 1;
        value >>= 7;
        if value == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        out.push(tmp[i] | if i > 0 { 0x80 } else { 0 });
    }
}

/// One decoded element: its tag and the bytes of its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The identifier octet (single-byte tags only).
    pub tag: u8,
    /// The value bytes.
    pub value: &'a [u8],
}

/// Reads the next element; long-form lengths up to 4 bytes, never past the input.
pub(crate) fn read_tlv<'a>(r: &mut Reader<'a>, what: &'static str) -> Result<Tlv<'a>> {
    let tag = r.u8(what)?;
    if tag & 0x1f == 0x1f {
        return Err(ProtoError::malformed(
            what,
            "multi-byte BER tags are not supported",
        ));
    }
    let first = r.u8(what)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(ProtoError::malformed(what, format!("length of {n} bytes")));
        }
        r.take(n, what)?
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    Ok(Tlv {
        tag,
        value: r.take(len, what)?,
    })
}

/// Reads an element and checks its tag.
pub(crate) fn expect<'a>(r: &mut Reader<'a>, tag: u8, what: &'static str) -> Result<&'a [u8]> {
    let t = read_tlv(r, what)?;
    if t.tag != tag {
        return Err(ProtoError::unexpected(
            what,
            format!("tag {:#04x}, expected {tag:#04x}", t.tag),
        ));
    }
    Ok(t.value)
}

/// Decodes an INTEGER value of at most 8 bytes.
pub(crate) fn decode_integer(value: &[u8], what: &'static str) -> Result<i64> {
    if value.is_empty() || value.len() > 8 {
        return Err(ProtoError::malformed(
            what,
            format!("integer of {} bytes", value.len()),
        ));
    }
    let negative = value[0] & 0x80 != 0;
    let init: i64 = if negative { -1 } else { 0 };
    Ok(value.iter().fold(init, |acc, &b| (acc << 8) | i64::from(b)))
}

/// Decodes an unsigned value (Counter, Gauge, TimeTicks) of at most 9 bytes.
pub(crate) fn decode_unsigned(value: &[u8], what: &'static str) -> Result<u64> {
    let value = match value {
        [0, rest @ ..] if !rest.is_empty() => rest,
        other => other,
    };
    if value.len() > 8 {
        return Err(ProtoError::malformed(
            what,
            format!("unsigned of {} bytes", value.len()),
        ));
    }
    Ok(value.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// Decodes an OBJECT IDENTIFIER to dotted form; arcs over 32 bits are an error.
pub(crate) fn decode_oid(value: &[u8]) -> Result<String> {
    const WHAT: &str = "BER object identifier";
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for (i, &b) in value.iter().enumerate() {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if acc > u64::from(u32::MAX) {
            return Err(ProtoError::malformed(WHAT, "arc larger than 32 bits"));
        }
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (acc / 40).min(2);
                arcs.push(first);
                arcs.push(acc - first * 40);
            } else {
                arcs.push(acc);
            }
            acc = 0;
        } else if i + 1 == value.len() {
            return Err(ProtoError::malformed(WHAT, "last arc is unterminated"));
        }
    }
    Ok(arcs
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_minimal() {
        assert_eq!(integer(0), [2, 1, 0]);
        assert_eq!(integer(127), [2, 1, 0x7f]);
        assert_eq!(integer(128), [2, 2, 0, 0x80]);
        assert_eq!(integer(-1), [2, 1, 0xff]);
        assert_eq!(integer(-129), [2, 2, 0xff, 0x7f]);
        assert_eq!(integer(0x1234_5678), [2, 4, 0x12, 0x34, 0x56, 0x78]);
        for v in [0, 1, -1, 127, 128, -128, -129, i64::MAX, i64::MIN, 65535] {
            let enc = integer(v);
            assert_eq!(decode_integer(&enc[2..], "t").unwrap(), v);
        }
    }

    #[test]
    fn sys_descr_oid() {
        let enc = oid(&[1, 3, 6, 1, 2, 1, 1, 1, 0]);
        assert_eq!(enc, [6, 8, 0x2b, 6, 1, 2, 1, 1, 1, 0]);
        assert_eq!(decode_oid(&enc[2..]).unwrap(), "1.3.6.1.2.1.1.1.0");
        assert_eq!(oid(&[1, 3, 6, 1, 4, 1, 311])[7..], [0x82, 0x37]);
        assert!(decode_oid(&[0x2b, 0x86]).is_err());
    }

    #[test]
    fn long_lengths() {
        let value = vec![7u8; 300];
        let enc = tlv(OCTET_STRING, &value);
        assert_eq!(&enc[..4], &[4, 0x82, 0x01, 0x2c]);
        let mut r = Reader::new(&enc);
        assert_eq!(read_tlv(&mut r, "t").unwrap().value.len(), 300);
        let mut r = Reader::new(&[4, 0x84, 0xff, 0xff, 0xff, 0xff, 0]);
        assert!(read_tlv(&mut r, "t").is_err());
        let mut r = Reader::new(&[4, 0x80]);
        assert!(read_tlv(&mut r, "t").is_err());
    }
}
