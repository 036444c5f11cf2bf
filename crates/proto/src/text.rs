//! Turning untrusted bytes into short, printable strings.

/// Longest string any parser in this crate returns, in characters.
pub const MAX_TEXT: usize = 256;

/// Decodes `bytes` as UTF-8 (lossily), drops control characters, trims
/// surrounding whitespace and caps the result at `max` characters.
pub fn printable(bytes: &[u8], max: usize) -> String {
    let cut = bytes.get(..max.saturating_mul(4)).unwrap_or(bytes);
    clean_str(&String::from_utf8_lossy(cut), max)
}

/// Same as [`printable`] for text that is already a `str`.
pub fn clean_str(s: &str, max: usize) -> String {
    let kept: String = s
        .trim_start()
        .chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .filter(|c| !c.is_control())
        .take(max)
        .collect();
    kept.trim().to_string()
}

/// Decodes UTF-16LE code units (lossily) into a cleaned string capped at `max` characters.
pub fn utf16le(bytes: &[u8], max: usize) -> String {
    let units = bytes
        .chunks_exact(2)
        .take(max.saturating_mul(2))
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]));
    let decoded: String = char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    clean_str(&decoded, max)
}

/// Lower-case hex of `bytes`, separated by `sep` (e.g. `aa:bb:cc`).
pub fn hex_joined(bytes: &[u8], sep: &str) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(sep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_controls_and_caps() {
        assert_eq!(printable(b"  OpenSSH\x1b[31m\r\n", 20), "OpenSSH[31m");
        assert_eq!(printable(b"abcdef", 3), "abc");
        assert_eq!(printable(&[0xff, b'a'], 10), "\u{fffd}a");
    }

    #[test]
    fn decodes_utf16() {
        assert_eq!(utf16le(&[b'S', 0, b'A', 0, b'M', 0, 0], 10), "SAM");
        assert_eq!(hex_joined(&[0xaa, 0x01], ":"), "aa:01");
    }
}
