//! Who made a network card: the IEEE's registry of MAC address blocks, read from the copy an
//! installed package keeps (Debian's `ieee-data`, which `arp-scan` and others use), the way a
//! scanner's users expect the machine's own data to be used. Nothing of the registry is built
//! into portwatch: without the file, vendors are simply unknown.
//!
//! MA-L blocks (the first 24 bits) are looked up, and for the blocks the IEEE subdivided, the
//! MA-M (28 bits) and MA-S (36 bits) files first. Locally administered addresses (the second
//! bit of the first byte set, as on veth pairs and most virtual machines' random MACs) belong
//! to no vendor.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where Debian's `ieee-data` installs the registry.
const DEFAULT_DIR: &str = "/usr/share/ieee-data";

/// The registry's blocks by their length in bits and their prefix (the MAC's top bits).
#[derive(Debug, Default)]
pub struct Registry {
    blocks: HashMap<(u8, u64), String>,
}

impl Registry {
    /// Reads `oui.csv`, `mam.csv` and `oui36.csv` from `dir` ([`crate::csv::records`]);
    /// missing or unreadable files are skipped, malformed records too.
    pub fn load(dir: &Path) -> Registry {
        let mut blocks = HashMap::new();
        for (file, bits) in [("oui.csv", 24u8), ("mam.csv", 28), ("oui36.csv", 36)] {
            let Ok(text) = std::fs::read_to_string(dir.join(file)) else {
                continue;
            };
            for record in crate::csv::records(&text).skip(1) {
                if let Some((prefix, name)) = parse_record(&record, bits) {
                    blocks.insert((bits, prefix), name);
                }
            }
        }
        Registry { blocks }
    }

    /// The organisation the block of `mac` is assigned to, if the registry knows it.
    pub fn vendor(&self, mac: [u8; 6]) -> Option<&str> {
        if mac[0] & 0x02 != 0 {
            return None;
        }
        let value = mac.iter().fold(0u64, |v, b| v << 8 | u64::from(*b));
        [36u8, 28, 24]
            .iter()
            .find_map(|&bits| self.blocks.get(&(bits, value >> (48 - u32::from(bits)))))
            .map(String::as_str)
    }

    /// How many blocks were read.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether nothing was read.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}

/// One registry record, `Registry,Assignment,"Organization Name",Address` (the address may
/// span lines, quoted): the assignment as a number of `bits` bits, and the organisation's name.
fn parse_record(fields: &[String], bits: u8) -> Option<(u64, String)> {
    let [_registry, assignment, name, ..] = fields else {
        return None;
    };
    if assignment.len() * 4 != usize::from(bits) {
        return None;
    }
    let prefix = u64::from_str_radix(assignment, 16).ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| (prefix, name.to_string()))
}

/// The registry of this machine, read once (`PORTWATCH_IEEE_DATA` names another directory).
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let dir = std::env::var_os("PORTWATCH_IEEE_DATA")
            .map_or_else(|| PathBuf::from(DEFAULT_DIR), PathBuf::from);
        Registry::load(&dir)
    })
}

/// The vendor of `mac` by this machine's registry, if known.
pub fn vendor(mac: [u8; 6]) -> Option<&'static str> {
    registry().vendor(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(files: &[(&str, &str)]) -> (tempfile::TempDir, Registry) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let r = Registry::load(dir.path());
        (dir, r)
    }

    const HEADER: &str = "Registry,Assignment,Organization Name,Organization Address\n";

    #[test]
    fn blocks_of_every_size_are_found_and_the_longest_wins() {
        let (_d, r) = registry(&[
            (
                "oui.csv",
                &format!(
                    "{HEADER}MA-L,080027,PCS Systemtechnik GmbH,Lowell MA\n\
                     MA-L,00163E,\"Xensource, Inc.\",Palo Alto\nMA-L,70B3D5,IEEE Registration Authority,x\n"
                ),
            ),
            (
                "oui36.csv",
                &format!("{HEADER}MA-S,70B3D5123,\"Small \"\"Quoted\"\" Maker\",x\n"),
            ),
        ]);
        assert_eq!(r.len(), 4);
        assert_eq!(
            r.vendor([0x08, 0x00, 0x27, 1, 2, 3]),
            Some("PCS Systemtechnik GmbH")
        );
        assert_eq!(
            r.vendor([0x00, 0x16, 0x3e, 9, 9, 9]),
            Some("Xensource, Inc.")
        );
        assert_eq!(
            r.vendor([0x70, 0xb3, 0xd5, 0x12, 0x34, 0x56]),
            Some("Small \"Quoted\" Maker")
        );
        assert_eq!(
            r.vendor([0x70, 0xb3, 0xd5, 0x99, 0x34, 0x56]),
            Some("IEEE Registration Authority")
        );
        assert_eq!(r.vendor([0x00, 0x11, 0x22, 0, 0, 0]), None);
    }

    /// The registry quotes addresses that span lines, as the IEEE's own files do.
    #[test]
    fn a_quoted_address_over_several_lines_is_one_record() {
        let (_d, r) = registry(&[(
            "oui.csv",
            &format!(
                "{HEADER}MA-L,3CB07E,\"Arounds, Ltd.\",\"Room 701,\nMA-L,112233,Not A Record,x\nChengdu CN \"\n\
                 MA-L,5CA06C,Realme,Chongqing\n"
            ),
        )]);
        assert_eq!(r.len(), 2);
        assert_eq!(r.vendor([0x3c, 0xb0, 0x7e, 1, 2, 3]), Some("Arounds, Ltd."));
        assert_eq!(r.vendor([0x5c, 0xa0, 0x6c, 1, 2, 3]), Some("Realme"));
        assert_eq!(r.vendor([0x11, 0x22, 0x33, 1, 2, 3]), None);
    }

    #[test]
    fn locally_administered_addresses_have_no_vendor() {
        let (_d, r) = registry(&[("oui.csv", &format!("{HEADER}MA-L,0A0027,Someone,x\n"))]);
        assert_eq!(r.vendor([0x0a, 0x00, 0x27, 1, 2, 3]), None);
    }

    #[test]
    fn missing_files_and_bad_lines_are_skipped() {
        let (_d, r) = registry(&[(
            "oui.csv",
            &format!("{HEADER}MA-L,08002,short\nMA-L,ZZZZZZ,bad hex\nMA-L,080028,\nnonsense\n"),
        )]);
        assert!(r.is_empty());
        assert!(Registry::load(Path::new("/nonexistent")).is_empty());
    }
}
