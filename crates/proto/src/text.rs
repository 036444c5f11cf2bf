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

/// The first `max` bytes of `bytes` as printable ASCII, the way nmap prints fingerprints:
/// printable ASCII stays, a backslash is doubled, CR, LF, tab and NUL become `\r`, `\n`,
/// `\t` and `\0`, every other byte becomes `\xNN`; `…` marks bytes left out.
pub fn escaped(bytes: &[u8], max: usize) -> String {
    let mut out = String::new();
    for &b in bytes.iter().take(max) {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            0 => out.push_str("\\0"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    if bytes.len() > max {
        out.push('…');
    }
    out
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

    #[test]
    fn escapes_what_is_not_printable_ascii() {
        assert_eq!(escaped(b"d\0\0\0\x0a5.5\\", 16), "d\\0\\0\\0\\n5.5\\\\");
        assert_eq!(escaped(&[0x01, 0xff, b'S'], 16), "\\x01\\xffS");
        assert_eq!(escaped(b"abcdef", 3), "abc…");
    }
}
