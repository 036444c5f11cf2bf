//! Server capability bits of an SMB1 negotiate response.

/// The Capabilities field of an NT LM 0.12 negotiate response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Smb1Capabilities(pub u32);

/// Bit values and the names this crate reports for them.
const NAMED: &[(u32, &str)] = &[
    (0x0000_0001, "RAW_MODE"),
    (0x0000_0002, "MPX_MODE"),
    (0x0000_0004, "UNICODE"),
    (0x0000_0008, "LARGE_FILES"),
    (0x0000_0010, "NT_SMBS"),
    (0x0000_0020, "RPC_REMOTE_APIS"),
    (0x0000_0040, "STATUS32"),
    (0x0000_0080, "LEVEL_II_OPLOCKS"),
    (0x0000_0100, "LOCK_AND_READ"),
    (0x0000_0200, "NT_FIND"),
    (0x0000_1000, "DFS"),
    (0x0000_2000, "INFOLEVEL_PASSTHRU"),
    (0x0000_4000, "LARGE_READX"),
    (0x0000_8000, "LARGE_WRITEX"),
    (0x0001_0000, "LWIO"),
    (0x0080_0000, "UNIX"),
    (0x2000_0000, "DYNAMIC_REAUTH"),
    (0x4000_0000, "COMPRESSED_DATA"),
    (0x8000_0000, "EXTENDED_SECURITY"),
];

impl Smb1Capabilities {
    /// The server uses extended (SPNEGO) security: the response carries a GUID and a blob.
    pub const EXTENDED_SECURITY: u32 = 0x8000_0000;
    /// The server supports Unicode strings.
    pub const UNICODE: u32 = 0x0000_0004;

    /// Whether every bit of `flag` is set.
    pub fn contains(self, flag: u32) -> bool {
        self.0 & flag == flag
    }

    /// Names of the known bits that are set, in ascending bit order.
    pub fn names(self) -> Vec<&'static str> {
        NAMED
            .iter()
            .filter(|(bit, _)| self.0 & bit != 0)
            .map(|&(_, name)| name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_known_bits() {
        let caps = Smb1Capabilities(0x8000_0005 | 0x0400);
        assert_eq!(
            caps.names(),
            vec!["RAW_MODE", "UNICODE", "EXTENDED_SECURITY"]
        );
        assert!(caps.contains(Smb1Capabilities::EXTENDED_SECURITY));
    }
}
