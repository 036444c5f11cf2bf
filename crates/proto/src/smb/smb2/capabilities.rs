//! Global capability bits of SMB2/3 negotiate messages.

/// The Capabilities field of an SMB2 negotiate request or response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Smb2Capabilities(pub u32);

impl Smb2Capabilities {
    /// Distributed File System.
    pub const DFS: u32 = 0x01;
    /// Leasing.
    pub const LEASING: u32 = 0x02;
    /// Multi-credit operations (large MTU).
    pub const LARGE_MTU: u32 = 0x04;
    /// Multiple channels per session.
    pub const MULTI_CHANNEL: u32 = 0x08;
    /// Persistent handles.
    pub const PERSISTENT_HANDLES: u32 = 0x10;
    /// Directory leasing.
    pub const DIRECTORY_LEASING: u32 = 0x20;
    /// Encryption (SMB 3.0 and 3.0.2; 3.1.1 negotiates it in a context).
    pub const ENCRYPTION: u32 = 0x40;
    /// Change notifications on all servers (3.1.1).
    pub const NOTIFICATIONS: u32 = 0x80;

    const NAMED: [(u32, &'static str); 8] = [
        (Self::DFS, "DFS"),
        (Self::LEASING, "LEASING"),
        (Self::LARGE_MTU, "LARGE_MTU"),
        (Self::MULTI_CHANNEL, "MULTI_CHANNEL"),
        (Self::PERSISTENT_HANDLES, "PERSISTENT_HANDLES"),
        (Self::DIRECTORY_LEASING, "DIRECTORY_LEASING"),
        (Self::ENCRYPTION, "ENCRYPTION"),
        (Self::NOTIFICATIONS, "NOTIFICATIONS"),
    ];

    /// Whether every bit of `flag` is set.
    pub fn contains(self, flag: u32) -> bool {
        self.0 & flag == flag
    }

    /// Names of the known bits that are set, in ascending bit order.
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMED
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
    fn names() {
        assert_eq!(
            Smb2Capabilities(0x45).names(),
            vec!["DFS", "LARGE_MTU", "ENCRYPTION"]
        );
        assert!(Smb2Capabilities(0x2f).contains(Smb2Capabilities::DIRECTORY_LEASING));
    }
}
