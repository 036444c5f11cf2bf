//! SMB2/3 dialect revisions.

/// A dialect revision number as carried in negotiate messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Dialect {
    /// SMB 2.0.2 (0x0202).
    Smb202,
    /// SMB 2.1 (0x0210).
    Smb210,
    /// SMB 3.0 (0x0300).
    Smb300,
    /// SMB 3.0.2 (0x0302).
    Smb302,
    /// SMB 3.1.1 (0x0311).
    Smb311,
    /// The 0x02FF answer to an SMB1 negotiate offering "SMB 2.???": "send an SMB2 negotiate".
    Wildcard,
    /// A revision this crate does not know.
    Other(u16),
}

impl Dialect {
    /// Every concrete dialect, oldest first.
    pub const ALL: [Dialect; 5] = [
        Dialect::Smb202,
        Dialect::Smb210,
        Dialect::Smb300,
        Dialect::Smb302,
        Dialect::Smb311,
    ];

    /// The 16-bit revision number.
    pub fn code(self) -> u16 {
        match self {
            Dialect::Smb202 => 0x0202,
            Dialect::Smb210 => 0x0210,
            Dialect::Smb300 => 0x0300,
            Dialect::Smb302 => 0x0302,
            Dialect::Smb311 => 0x0311,
            Dialect::Wildcard => 0x02ff,
            Dialect::Other(code) => code,
        }
    }

    /// Maps a revision number to a dialect.
    pub fn from_code(code: u16) -> Self {
        match code {
            0x0202 => Dialect::Smb202,
            0x0210 => Dialect::Smb210,
            0x0300 => Dialect::Smb300,
            0x0302 => Dialect::Smb302,
            0x0311 => Dialect::Smb311,
            0x02ff => Dialect::Wildcard,
            other => Dialect::Other(other),
        }
    }

    /// Whether this is one of the SMB 3.x dialects.
    pub fn is_smb3(self) -> bool {
        matches!(self, Dialect::Smb300 | Dialect::Smb302 | Dialect::Smb311)
    }
}

impl std::fmt::Display for Dialect {
    /// Formats as "2.0.2", "2.1", "3.0", "3.0.2", "3.1.1", "2.???" or "0x…".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dialect::Smb202 => f.write_str("2.0.2"),
            Dialect::Smb210 => f.write_str("2.1"),
            Dialect::Smb300 => f.write_str("3.0"),
            Dialect::Smb302 => f.write_str("3.0.2"),
            Dialect::Smb311 => f.write_str("3.1.1"),
            Dialect::Wildcard => f.write_str("2.???"),
            Dialect::Other(code) => write!(f, "{code:#06x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_display() {
        for d in Dialect::ALL {
            assert_eq!(Dialect::from_code(d.code()), d);
        }
        let shown: Vec<String> = Dialect::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["2.0.2", "2.1", "3.0", "3.0.2", "3.1.1"]);
        assert_eq!(Dialect::from_code(0x02ff).to_string(), "2.???");
        assert_eq!(Dialect::from_code(0x0401).to_string(), "0x0401");
    }
}
