//! The NetBIOS node status (NBSTAT) query and answer (RFC 1002 §4.2.17–4.2.18).
//!
//! Samba answers with a statistics block shorter than the RFC's 46 bytes, so
//! the parser accepts any answer whose name table is complete and reports the
//! missing statistics through [`NodeStatus::statistics_truncated`].

use crate::error::{ProtoError, Result};
use crate::netbios::name::{NAME_LEN, NetbiosName};
use crate::reader::Reader;
use crate::text;

/// RR type of a node status question and answer.
pub const TYPE_NBSTAT: u16 = 0x0021;
/// The Internet class.
pub const CLASS_IN: u16 = 0x0001;
/// Size of the statistics block that follows the name table, per RFC 1002.
pub const STATISTICS_LEN: usize = 46;
/// Longest question section skipped before the answer.
const MAX_QUESTIONS: u16 = 4;

/// Builds the node status request for the wildcard name `*` (50 bytes).
pub fn node_status_request(transaction_id: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(50);
    out.extend_from_slice(&transaction_id.to_be_bytes());
    // Flags: opcode 0 (query), not broadcast, no recursion.
    out.extend_from_slice(&[0x00, 0x00]);
    // QDCOUNT 1, ANCOUNT 0, NSCOUNT 0, ARCOUNT 0.
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&NetbiosName::WILDCARD.to_wire());
    out.extend_from_slice(&TYPE_NBSTAT.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out
}

/// How a node resolves names (the ONT bits of a name's flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum NodeType {
    /// Broadcast node.
    B,
    /// Point-to-point node (uses a name server only).
    P,
    /// Mixed node (broadcast first, then name server).
    M,
    /// Hybrid node (name server first, then broadcast).
    H,
}

/// One row of the node's name table.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NameEntry {
    /// The name without padding.
    pub name: String,
    /// The suffix byte telling which service registered the name.
    pub suffix: u8,
    /// A group name (shared by several nodes) rather than a unique one.
    pub group: bool,
    /// The owner's node type.
    pub node_type: NodeType,
    /// The name is active.
    pub active: bool,
    /// The name is permanent (the node's own name).
    pub permanent: bool,
    /// The name is in conflict.
    pub conflict: bool,
    /// The name is being deregistered.
    pub deregistering: bool,
}

impl NameEntry {
    fn from_raw(raw: [u8; NAME_LEN], flags: u16) -> Self {
        let name = NetbiosName::from_raw(raw);
        let node_type = match (flags >> 13) & 0b11 {
            0 => NodeType::B,
            1 => NodeType::P,
            2 => NodeType::M,
            _ => NodeType::H,
        };
        Self {
            name: name.name(),
            suffix: name.suffix(),
            group: flags & 0x8000 != 0,
            node_type,
            deregistering: flags & 0x1000 != 0,
            conflict: flags & 0x0800 != 0,
            active: flags & 0x0400 != 0,
            permanent: flags & 0x0200 != 0,
        }
    }

    /// What the suffix means for this kind of name, e.g. "File Server Service".
    pub fn service(&self) -> &'static str {
        suffix_service(&self.name, self.suffix, self.group)
    }

    fn is_msbrowse(&self) -> bool {
        self.suffix == 0x01 && self.name.contains("__MSBROWSE__")
    }
}

/// Names the service behind a suffix, the way Windows documentation does.
pub fn suffix_service(name: &str, suffix: u8, group: bool) -> &'static str {
    match (suffix, group) {
        (0x01, _) if name.contains("__MSBROWSE__") => "Master Browser",
        (0x00, false) => "Workstation Service",
        (0x00, true) => "Domain Name",
        (0x01, _) => "Messenger Service",
        (0x03, _) => "Messenger Service",
        (0x06, _) => "RAS Server Service",
        (0x1b, _) => "Domain Master Browser",
        (0x1c, true) => "Domain Controllers",
        (0x1d, _) => "Master Browser",
        (0x1e, _) => "Browser Service Elections",
        (0x1f, _) => "NetDDE Service",
        (0x20, _) => "File Server Service",
        (0x21, _) => "RAS Client Service",
        (0xbe, _) => "Network Monitor Agent",
        (0xbf, _) => "Network Monitor Application",
        _ => "Unknown Service",
    }
}

/// A parsed node status answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NodeStatus {
    /// Transaction id echoed from the request.
    pub transaction_id: u16,
    /// The node's name table, in the order the node sent it.
    pub names: Vec<NameEntry>,
    /// The unit id (MAC address) from the statistics, if present.
    pub mac: Option<[u8; 6]>,
    /// The statistics block was shorter than the RFC's 46 bytes (Samba does this).
    pub statistics_truncated: bool,
}

impl NodeStatus {
    /// Parses a node status answer; the name table must be complete, the statistics may be short.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "NBSTAT answer";
        let mut r = Reader::new(bytes);
        let transaction_id = r.u16_be("NBSTAT header")?;
        let flags = r.u16_be("NBSTAT header")?;
        let qdcount = r.u16_be("NBSTAT header")?;
        let ancount = r.u16_be("NBSTAT header")?;
        r.skip(4, "NBSTAT header")?;
        if flags & 0x8000 == 0 {
            return Err(ProtoError::unexpected(
                WHAT,
                "packet is a request, not a response",
            ));
        }
        let rcode = flags & 0x000f;
        if rcode != 0 {
            return Err(ProtoError::unexpected(
                WHAT,
                format!("error response, rcode {rcode}"),
            ));
        }
        if ancount == 0 {
            return Err(ProtoError::unexpected(WHAT, "no answer record"));
        }
        if qdcount > MAX_QUESTIONS {
            return Err(ProtoError::malformed(WHAT, format!("{qdcount} questions")));
        }
        for _ in 0..qdcount {
            NetbiosName::read_wire(&mut r)?;
            r.skip(4, "NBSTAT question type/class")?;
        }
        NetbiosName::read_wire(&mut r)?;
        let rr_type = r.u16_be("NBSTAT answer type")?;
        if rr_type != TYPE_NBSTAT {
            return Err(ProtoError::unexpected(
                WHAT,
                format!("record type {rr_type:#06x}"),
            ));
        }
        r.skip(2 + 4, "NBSTAT answer class/ttl")?;
        let rdlength = usize::from(r.u16_be("NBSTAT rdlength")?);
        // Trust the smaller of the declared length and what actually arrived.
        let rdata = r.rest().get(..rdlength).unwrap_or(r.rest());
        let (names, stats) = parse_rdata(rdata)?;
        let mac = stats.get(..6).and_then(|m| <[u8; 6]>::try_from(m).ok());
        Ok(Self {
            transaction_id,
            names,
            mac,
            statistics_truncated: stats.len() < STATISTICS_LEN,
        })
    }

    /// The MAC address as `aa:bb:cc:dd:ee:ff`, if the node sent one.
    pub fn mac_string(&self) -> Option<String> {
        self.mac.map(|m| format_mac(&m))
    }

    /// The computer name: the first unique `<00>` name.
    pub fn computer_name(&self) -> Option<&str> {
        self.names
            .iter()
            .find(|e| e.suffix == 0x00 && !e.group)
            .map(|e| e.name.as_str())
    }

    /// The workgroup or domain: the first group `<00>` name.
    pub fn workgroup(&self) -> Option<&str> {
        self.names
            .iter()
            .find(|e| e.suffix == 0x00 && e.group)
            .map(|e| e.name.as_str())
    }

    /// Logged-on users: unique `<03>` names other than the computer name.
    pub fn users(&self) -> Vec<&str> {
        let computer = self.computer_name();
        self.names
            .iter()
            .filter(|e| e.suffix == 0x03 && !e.group && Some(e.name.as_str()) != computer)
            .map(|e| e.name.as_str())
            .collect()
    }

    /// The first logged-on user, if any (see [`users`](Self::users)).
    pub fn user(&self) -> Option<&str> {
        self.users().into_iter().next()
    }

    /// Runs the file server service (`<20>`).
    pub fn is_file_server(&self) -> bool {
        self.names.iter().any(|e| e.suffix == 0x20 && !e.group)
    }

    /// Registers the domain controllers group name (`<1c>`).
    pub fn is_domain_controller(&self) -> bool {
        self.names.iter().any(|e| e.suffix == 0x1c && e.group)
    }

    /// Is the master browser (`<1d>` or `\x01\x02__MSBROWSE__\x02<01>`).
    pub fn is_master_browser(&self) -> bool {
        self.names
            .iter()
            .any(|e| e.suffix == 0x1d || e.is_msbrowse())
    }

    /// Is the domain master browser (`<1b>`).
    pub fn is_domain_master_browser(&self) -> bool {
        self.names.iter().any(|e| e.suffix == 0x1b && !e.group)
    }

    /// Short role labels derived from the name table, e.g. `["workstation", "file-server"]`.
    pub fn roles(&self) -> Vec<&'static str> {
        let mut roles = Vec::new();
        if self.computer_name().is_some() {
            roles.push("workstation");
        }
        if self.is_file_server() {
            roles.push("file-server");
        }
        if self.is_domain_controller() {
            roles.push("domain-controller");
        }
        if self.is_domain_master_browser() {
            roles.push("domain-master-browser");
        }
        if self.is_master_browser() {
            roles.push("master-browser");
        }
        roles
    }

    /// One readable line, e.g. `SAMBA1 (WORKGROUP) file-server, MAC 00:00:00:00:00:00`.
    pub fn summary(&self) -> String {
        let mut line = self.computer_name().unwrap_or("?").to_string();
        if let Some(group) = self.workgroup() {
            line.push_str(&format!(" ({group})"));
        }
        let roles = self.roles();
        if !roles.is_empty() {
            line.push(' ');
            line.push_str(&roles.join(", "));
        }
        for user in self.users() {
            line.push_str(&format!(", user {user}"));
        }
        if let Some(mac) = self.mac_string() {
            line.push_str(&format!(", MAC {mac}"));
        }
        line
    }
}

/// Formats six bytes as a colon-separated lower-case MAC address.
pub fn format_mac(mac: &[u8; 6]) -> String {
    text::hex_joined(mac, ":")
}

/// Splits the RDATA into the name table and whatever statistics bytes follow it.
fn parse_rdata(rdata: &[u8]) -> Result<(Vec<NameEntry>, &[u8])> {
    let mut r = Reader::new(rdata);
    let count = usize::from(r.u8("NBSTAT name count")?);
    // Each entry is 18 bytes: checking up front bounds the allocation by the input size.
    let needed = count * (NAME_LEN + 2);
    if r.remaining() < needed {
        return Err(ProtoError::Truncated {
            what: "NBSTAT name table",
            needed: 1 + needed,
            got: rdata.len(),
        });
    }
    let mut names = Vec::with_capacity(count);
    for _ in 0..count {
        let raw = r.array::<NAME_LEN>("NBSTAT name")?;
        let flags = r.u16_be("NBSTAT name flags")?;
        names.push(NameEntry::from_raw(raw, flags));
    }
    Ok((names, r.take_rest()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_50_bytes_per_rfc1002() {
        let req = node_status_request(0xbeef);
        assert_eq!(req.len(), 50);
        assert_eq!(&req[..12], &[0xbe, 0xef, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(req[12], 0x20);
        assert_eq!(&req[13..15], b"CK");
        assert!(req[15..45].iter().all(|&b| b == b'A'));
        assert_eq!(&req[45..], &[0x00, 0x00, 0x21, 0x00, 0x01]);
    }

    fn answer(names: &[(&str, u8, u16)], stats: &[u8]) -> Vec<u8> {
        let mut out = vec![0x12, 0x34, 0x84, 0x00, 0, 0, 0, 1, 0, 0, 0, 0];
        out.extend_from_slice(&NetbiosName::WILDCARD.to_wire());
        out.extend_from_slice(&[0, 0x21, 0, 1, 0, 0, 0, 0]);
        let rdlen = 1 + names.len() * 18 + stats.len();
        out.extend_from_slice(&(rdlen as u16).to_be_bytes());
        out.push(names.len() as u8);
        for (name, suffix, flags) in names {
            out.extend_from_slice(&NetbiosName::new(name, *suffix).raw());
            out.extend_from_slice(&flags.to_be_bytes());
        }
        out.extend_from_slice(stats);
        out
    }

    #[test]
    fn parses_full_answer_with_mac() {
        let mut stats = vec![0u8; STATISTICS_LEN];
        stats[..6].copy_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        let bytes = answer(
            &[
                ("DC01", 0x00, 0x0400),
                ("CORP", 0x00, 0x8400),
                ("CORP", 0x1c, 0x8400),
                ("DC01", 0x20, 0x0400),
                ("ALICE", 0x03, 0x0400),
                ("CORP", 0x1b, 0x0400),
            ],
            &stats,
        );
        let st = NodeStatus::parse(&bytes).unwrap();
        assert_eq!(st.transaction_id, 0x1234);
        assert_eq!(st.computer_name(), Some("DC01"));
        assert_eq!(st.workgroup(), Some("CORP"));
        assert_eq!(st.user(), Some("ALICE"));
        assert!(st.is_domain_controller());
        assert!(!st.statistics_truncated);
        assert_eq!(st.mac_string().as_deref(), Some("52:54:00:12:34:56"));
        assert_eq!(
            st.roles(),
            vec![
                "workstation",
                "file-server",
                "domain-controller",
                "domain-master-browser"
            ]
        );
        assert_eq!(st.names[2].service(), "Domain Controllers");
        assert_eq!(st.names[0].node_type, NodeType::B);
    }

    #[test]
    fn short_statistics_keep_names() {
        let bytes = answer(&[("HOST", 0x00, 0x6400)], &[0xaa; 4]);
        let st = NodeStatus::parse(&bytes).unwrap();
        assert_eq!(st.names.len(), 1);
        assert_eq!(st.names[0].node_type, NodeType::H);
        assert!(st.statistics_truncated);
        assert_eq!(st.mac, None);
    }

    #[test]
    fn name_table_must_be_complete() {
        let bytes = answer(&[("HOST", 0x00, 0x0400), ("HOST", 0x20, 0x0400)], &[]);
        assert!(matches!(
            NodeStatus::parse(&bytes[..bytes.len() - 1]),
            Err(ProtoError::Truncated {
                what: "NBSTAT name table",
                ..
            })
        ));
    }

    #[test]
    fn msbrowse_marks_master_browser() {
        let bytes = answer(&[("\x01\x02__MSBROWSE__\x02", 0x01, 0x8400)], &[]);
        let st = NodeStatus::parse(&bytes).unwrap();
        assert!(st.is_master_browser());
        assert_eq!(st.names[0].name, "__MSBROWSE__");
        assert_eq!(st.names[0].service(), "Master Browser");
    }

    #[test]
    fn rejects_requests_and_errors() {
        let req = node_status_request(1);
        assert!(matches!(
            NodeStatus::parse(&req),
            Err(ProtoError::Unexpected { .. })
        ));
        let mut bytes = answer(&[("HOST", 0, 0)], &[]);
        bytes[3] = 0x03;
        assert!(matches!(
            NodeStatus::parse(&bytes),
            Err(ProtoError::Unexpected { .. })
        ));
    }
}
