//! Windows time stamps and GUIDs as they appear in SMB messages.

/// 100-nanosecond intervals per second.
const TICKS_PER_SECOND: u64 = 10_000_000;
/// Seconds from 1601-01-01 (FILETIME epoch) to 1970-01-01 (Unix epoch).
const EPOCH_DIFFERENCE: i64 = 11_644_473_600;

/// Converts a FILETIME (100 ns ticks since 1601) to Unix seconds, rounding down.
pub fn filetime_to_unix(filetime: u64) -> i64 {
    // u64::MAX / 10^7 fits comfortably in an i64.
    (filetime / TICKS_PER_SECOND) as i64 - EPOCH_DIFFERENCE
}

/// Formats 16 GUID bytes (first three fields little-endian) as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
pub fn format_guid(bytes: &[u8; 16]) -> String {
    let d1 = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let d2 = u16::from_le_bytes([bytes[4], bytes[5]]);
    let d3 = u16::from_le_bytes([bytes[6], bytes[7]]);
    let tail: String = bytes[10..].iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{d1:08x}-{d2:04x}-{d3:04x}-{:02x}{:02x}-{tail}",
        bytes[8], bytes[9]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetime_epochs() {
        assert_eq!(filetime_to_unix(116_444_736_000_000_000), 0);
        assert_eq!(filetime_to_unix(0), -EPOCH_DIFFERENCE);
        // 2024-01-01T00:00:00Z = 1704067200.
        assert_eq!(filetime_to_unix(133_485_408_000_000_000), 1_704_067_200);
        assert!(filetime_to_unix(u64::MAX) > 0);
    }

    #[test]
    fn guid_mixed_endian() {
        let bytes = [
            0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ];
        assert_eq!(format_guid(&bytes), "00112233-4455-6677-8899-aabbccddeeff");
    }
}
