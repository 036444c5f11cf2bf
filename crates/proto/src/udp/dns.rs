//! DNS messages (RFC 1035), shared by the DNS, mDNS (RFC 6762) and LLMNR (RFC 4795) probes.
//!
//! The encoder builds single-question queries; the decoder reads every
//! section, following compression pointers only backwards and a bounded
//! number of times, so a hostile message cannot make it loop.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{ProtoError, Result};
use crate::reader::Reader;
use crate::text;

/// Record type A.
pub const TYPE_A: u16 = 1;
/// Record type NS.
pub const TYPE_NS: u16 = 2;
/// Record type CNAME.
pub const TYPE_CNAME: u16 = 5;
/// Record type PTR.
pub const TYPE_PTR: u16 = 12;
/// Record type TXT.
pub const TYPE_TXT: u16 = 16;
/// Record type AAAA.
pub const TYPE_AAAA: u16 = 28;
/// Record type SRV.
pub const TYPE_SRV: u16 = 33;
/// Class IN.
pub const CLASS_IN: u16 = 1;
/// Class CHAOS, used by `version.bind`.
pub const CLASS_CHAOS: u16 = 3;
/// mDNS "unicast response requested" bit in the question class.
pub const CLASS_UNICAST_RESPONSE: u16 = 0x8000;

/// Most records decoded from one message.
const MAX_RECORDS: usize = 64;
/// Most compression pointers followed for one name.
const MAX_POINTERS: usize = 16;
/// Longest name in presentation form, per RFC 1035.
const MAX_NAME_LEN: usize = 255;

/// Encodes a one-question query with the given header flags.
pub fn query(id: u16, flags: u16, name: &str, qtype: u16, qclass: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + name.len() + 6);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    encode_name(&mut out, name);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&qclass.to_be_bytes());
    out
}

/// `version.bind` TXT in class CHAOS: answered (or refused) by BIND, dnsmasq, Unbound, Knot and others.
pub fn version_bind_query(id: u16) -> Vec<u8> {
    query(id, 0x0000, "version.bind", TYPE_TXT, CLASS_CHAOS)
}

/// mDNS service enumeration (`_services._dns-sd._udp.local` PTR) asking for a unicast answer.
/// Sent from a port other than 5353 it is a "legacy unicast" query, whose answer repeats `id`.
pub fn mdns_services_query(id: u16) -> Vec<u8> {
    query(
        id,
        0x0000,
        "_services._dns-sd._udp.local",
        TYPE_PTR,
        CLASS_IN | CLASS_UNICAST_RESPONSE,
    )
}

/// LLMNR A query for `name`. Responders answer only for names they own, so
/// pass a host name learned elsewhere (e.g. from NBSTAT) for a useful probe.
pub fn llmnr_query(id: u16, name: &str) -> Vec<u8> {
    query(id, 0x0000, name, TYPE_A, CLASS_IN)
}

/// Appends `name` in wire form; labels longer than 63 bytes are cut.
fn encode_name(out: &mut Vec<u8>, name: &str) {
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        let bytes = &label.as_bytes()[..label.len().min(63)];
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }
    out.push(0);
}

/// Header flags of a DNS message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DnsFlags {
    /// QR: the message is a response.
    pub response: bool,
    /// Operation code.
    pub opcode: u8,
    /// AA: authoritative answer (LLMNR: conflict bit C).
    pub authoritative: bool,
    /// TC: truncated.
    pub truncated: bool,
    /// RD: recursion desired.
    pub recursion_desired: bool,
    /// RA: recursion available.
    pub recursion_available: bool,
    /// Response code.
    pub rcode: u8,
}

impl DnsFlags {
    fn from_bits(bits: u16) -> Self {
        Self {
            response: bits & 0x8000 != 0,
            opcode: ((bits >> 11) & 0x0f) as u8,
            authoritative: bits & 0x0400 != 0,
            truncated: bits & 0x0200 != 0,
            recursion_desired: bits & 0x0100 != 0,
            recursion_available: bits & 0x0080 != 0,
            rcode: (bits & 0x000f) as u8,
        }
    }

    /// The response code's mnemonic, e.g. "NOERROR" or "REFUSED".
    pub fn rcode_name(&self) -> String {
        match self.rcode {
            0 => "NOERROR".into(),
            1 => "FORMERR".into(),
            2 => "SERVFAIL".into(),
            3 => "NXDOMAIN".into(),
            4 => "NOTIMP".into(),
            5 => "REFUSED".into(),
            other => format!("RCODE{other}"),
        }
    }
}

/// The part of a message a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Section {
    /// Answer section.
    Answer,
    /// Authority section.
    Authority,
    /// Additional section.
    Additional,
}

/// Decoded record data for the types probes care about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum RecordData {
    /// IPv4 address.
    A(Ipv4Addr),
    /// IPv6 address.
    Aaaa(Ipv6Addr),
    /// A domain name (PTR, CNAME, NS).
    Name(String),
    /// TXT strings.
    Txt(Vec<String>),
    /// Service location.
    Srv {
        /// Priority.
        priority: u16,
        /// Weight.
        weight: u16,
        /// Port.
        port: u16,
        /// Target host.
        target: String,
    },
    /// Any other type, kept as its data length.
    Other {
        /// Length of the data.
        len: usize,
    },
}

/// One resource record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DnsRecord {
    /// Section of the message.
    pub section: Section,
    /// Owner name.
    pub name: String,
    /// Record type.
    pub rtype: u16,
    /// Record class (mDNS cache-flush bit removed).
    pub class: u16,
    /// Time to live in seconds.
    pub ttl: u32,
    /// Decoded data.
    pub data: RecordData,
}

/// A decoded DNS, mDNS or LLMNR message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DnsMessage {
    /// Transaction id.
    pub id: u16,
    /// Header flags.
    pub flags: DnsFlags,
    /// Names asked in the question section.
    pub questions: Vec<String>,
    /// Records of the answer, authority and additional sections (at most 64).
    pub records: Vec<DnsRecord>,
}

impl DnsMessage {
    /// Parses a DNS message; it must be a response.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "DNS header";
        let mut r = Reader::new(bytes);
        let id = r.u16_be(WHAT)?;
        let flags = DnsFlags::from_bits(r.u16_be(WHAT)?);
        let qd = r.u16_be(WHAT)?;
        let counts = [
            (Section::Answer, r.u16_be(WHAT)?),
            (Section::Authority, r.u16_be(WHAT)?),
            (Section::Additional, r.u16_be(WHAT)?),
        ];
        if !flags.response {
            return Err(ProtoError::unexpected("DNS message", "message is a query"));
        }
        let mut questions = Vec::new();
        for _ in 0..qd {
            // Each question takes at least 5 bytes, so the loop is bounded by the input.
            let name = read_name(&mut r)?;
            r.skip(4, "DNS question type/class")?;
            if questions.len() < MAX_RECORDS {
                questions.push(name);
            }
        }
        let mut records = Vec::new();
        for (section, count) in counts {
            for _ in 0..count {
                if records.len() >= MAX_RECORDS || r.remaining() == 0 {
                    break;
                }
                records.push(read_record(&mut r, section)?);
            }
        }
        Ok(Self {
            id,
            flags,
            questions,
            records,
        })
    }

    /// Text of every TXT record in the answer section, strings joined by spaces.
    pub fn txt_answers(&self) -> Vec<String> {
        self.records
            .iter()
            .filter(|rec| rec.section == Section::Answer)
            .filter_map(|rec| match &rec.data {
                RecordData::Txt(parts) => Some(parts.join(" ")),
                _ => None,
            })
            .collect()
    }

    /// Targets of every PTR record in any section.
    pub fn ptr_targets(&self) -> Vec<&str> {
        self.records
            .iter()
            .filter(|rec| rec.rtype == TYPE_PTR)
            .filter_map(|rec| match &rec.data {
                RecordData::Name(n) => Some(n.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Addresses from A and AAAA records in any section.
    pub fn addresses(&self) -> Vec<String> {
        self.records
            .iter()
            .filter_map(|rec| match rec.data {
                RecordData::A(a) => Some(a.to_string()),
                RecordData::Aaaa(a) => Some(a.to_string()),
                _ => None,
            })
            .collect()
    }
}

fn read_record(r: &mut Reader<'_>, section: Section) -> Result<DnsRecord> {
    const WHAT: &str = "DNS record";
    let name = read_name(r)?;
    let rtype = r.u16_be(WHAT)?;
    let class = r.u16_be(WHAT)? & !CLASS_UNICAST_RESPONSE;
    let ttl = r.u32_be(WHAT)?;
    let len = usize::from(r.u16_be(WHAT)?);
    let start = r.pos();
    let rdata = r.take(len, "DNS record data")?;
    let data = match (rtype, len) {
        (TYPE_A, 4) => RecordData::A(Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3])),
        (TYPE_AAAA, 16) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(rdata);
            RecordData::Aaaa(Ipv6Addr::from(a))
        }
        (TYPE_PTR | TYPE_CNAME | TYPE_NS, _) => {
            let mut inner = Reader::new(r.whole());
            inner.seek(start, WHAT)?;
            RecordData::Name(read_name(&mut inner)?)
        }
        (TYPE_TXT, _) => RecordData::Txt(read_txt(rdata)),
        (TYPE_SRV, 7..) => {
            let mut inner = Reader::new(r.whole());
            inner.seek(start, WHAT)?;
            let priority = inner.u16_be(WHAT)?;
            let weight = inner.u16_be(WHAT)?;
            let port = inner.u16_be(WHAT)?;
            RecordData::Srv {
                priority,
                weight,
                port,
                target: read_name(&mut inner)?,
            }
        }
        _ => RecordData::Other { len },
    };
    Ok(DnsRecord {
        section,
        name,
        rtype,
        class,
        ttl,
        data,
    })
}

/// Splits TXT data into its length-prefixed strings (a short last string is cut, not an error).
fn read_txt(mut rdata: &[u8]) -> Vec<String> {
    let mut parts = Vec::new();
    while let Some((&len, rest)) = rdata.split_first() {
        let take = usize::from(len).min(rest.len());
        parts.push(text::printable(&rest[..take], text::MAX_TEXT));
        rdata = &rest[take..];
    }
    parts
}

/// Reads a possibly compressed name at the cursor, leaving the cursor after it.
pub(crate) fn read_name(r: &mut Reader<'_>) -> Result<String> {
    const WHAT: &str = "DNS name";
    let whole = r.whole();
    let mut labels: Vec<String> = Vec::new();
    let mut total = 0usize;
    let mut pointers = 0usize;
    // `cursor` walks the name; after the first pointer, `r` no longer moves.
    let mut cursor = Reader::new(whole);
    cursor.seek(r.pos(), WHAT)?;
    let mut following = false;
    loop {
        let len = cursor.u8(WHAT)?;
        match len & 0xc0 {
            0x00 if len == 0 => break,
            0x00 => {
                let label = cursor.take(usize::from(len), WHAT)?;
                total += label.len() + 1;
                if total > MAX_NAME_LEN {
                    return Err(ProtoError::malformed(WHAT, "name longer than 255 bytes"));
                }
                labels.push(text::printable(label, 63).replace('.', "\\."));
            }
            0xc0 => {
                let low = cursor.u8(WHAT)?;
                let target = (usize::from(len & 0x3f) << 8) | usize::from(low);
                let here = cursor.pos() - 2;
                if target >= here {
                    return Err(ProtoError::malformed(
                        WHAT,
                        "compression pointer does not point backwards",
                    ));
                }
                pointers += 1;
                if pointers > MAX_POINTERS {
                    return Err(ProtoError::malformed(WHAT, "too many compression pointers"));
                }
                if !following {
                    r.seek(cursor.pos(), WHAT)?;
                    following = true;
                }
                cursor.seek(target, WHAT)?;
            }
            _ => {
                return Err(ProtoError::malformed(
                    WHAT,
                    format!("label type {len:#04x}"),
                ));
            }
        }
    }
    if !following {
        r.seek(cursor.pos(), WHAT)?;
    }
    Ok(if labels.is_empty() {
        ".".into()
    } else {
        labels.join(".")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mdns_query_sets_unicast_bit() {
        let q = mdns_services_query(0);
        assert_eq!(&q[12..22], b"\x09_services");
        assert_eq!(&q[q.len() - 4..], &[0, 12, 0x80, 1]);
        assert_eq!(
            llmnr_query(5, "host")[12..],
            *b"\x04host\x00\x00\x01\x00\x01"
        );
    }

    #[test]
    fn version_bind_query_bytes() {
        let q = version_bind_query(0xabcd);
        let mut expected = vec![0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        expected.extend_from_slice(b"\x07version\x04bind\x00");
        expected.extend_from_slice(&[0, 16, 0, 3]);
        assert_eq!(q, expected);
    }

    /// A hand-built answer with a compressed owner name and two TXT strings.
    fn answer() -> Vec<u8> {
        let mut b = query(7, 0x8400, "version.bind", TYPE_TXT, CLASS_CHAOS);
        b[7] = 1; // ANCOUNT
        b.extend_from_slice(&[0xc0, 0x0c, 0, 16, 0, 3, 0, 0, 0, 0, 0, 11]);
        b.extend_from_slice(b"\x04dnsm\x05asq-2");
        b
    }

    #[test]
    fn parses_compressed_txt_answer() {
        let m = DnsMessage::parse(&answer()).unwrap();
        assert_eq!(m.id, 7);
        assert!(m.flags.authoritative);
        assert_eq!(m.flags.rcode_name(), "NOERROR");
        assert_eq!(m.questions, ["version.bind"]);
        assert_eq!(m.records[0].name, "version.bind");
        assert_eq!(m.txt_answers(), ["dnsm asq-2"]);
    }

    #[test]
    fn pointer_loops_and_forward_pointers_fail() {
        let mut b = answer();
        // Owner name pointing at itself.
        let at = 12 + 14 + 4;
        b[at] = 0xc0;
        b[at + 1] = at as u8;
        assert!(DnsMessage::parse(&b).is_err());
        b[at + 1] = 0xff;
        assert!(DnsMessage::parse(&b).is_err());
    }

    #[test]
    fn queries_are_not_answers() {
        assert!(DnsMessage::parse(&query(1, 0, "a", 1, 1)).is_err());
    }

    #[test]
    fn huge_counts_are_bounded_by_input() {
        let mut b = answer();
        b[6] = 0xff;
        b[7] = 0xff;
        // Second record is missing: the parser stops at the end of input.
        let m = DnsMessage::parse(&b).unwrap();
        assert_eq!(m.records.len(), 1);
    }
}
