//! The few packets host discovery sends and reads, built and parsed by hand: ARP over
//! Ethernet, IPv6 neighbour solicitation and advertisement (RFC 4861), ICMP echo and
//! timestamp, bare TCP segments. Every parser checks lengths and
//! returns `None` for anything it does not understand.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_IPV4: u16 = 0x0800;

/// TCP flags this module uses.
pub mod flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// ICMP types.
pub mod icmp_type {
    /// IPv4 echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// IPv4 echo request.
    pub const ECHO: u8 = 8;
    /// IPv4 timestamp request.
    pub const TIMESTAMP: u8 = 13;
    /// IPv4 timestamp reply.
    pub const TIMESTAMP_REPLY: u8 = 14;
    /// ICMPv6 echo request.
    pub const ECHO6: u8 = 128;
    /// ICMPv6 echo reply.
    pub const ECHO6_REPLY: u8 = 129;
    /// IPv4 destination unreachable.
    pub const DEST_UNREACH: u8 = 3;
    /// ICMPv6 destination unreachable.
    pub const DEST_UNREACH6: u8 = 1;
    /// ICMPv6 neighbour solicitation.
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    /// ICMPv6 neighbour advertisement.
    pub const NEIGHBOR_ADVERT: u8 = 136;
}

/// Neighbour discovery option: source link-layer address.
const ND_OPT_SOURCE_LINK: u8 = 1;
/// Neighbour discovery option: target link-layer address.
const ND_OPT_TARGET_LINK: u8 = 2;

/// The solicited-node multicast address of `target` (RFC 4291 section 2.7.1): ff02::1:ff
/// followed by the address's low 24 bits. A neighbour solicitation goes there, so only the
/// hosts whose addresses share those bits look at it.
pub fn solicited_node(target: Ipv6Addr) -> Ipv6Addr {
    let o = target.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// An ICMPv6 neighbour solicitation for `target` carrying our link-layer address, so the
/// answer needs no solicitation of its own. The checksum is left zero: the kernel fills it
/// in for raw ICMPv6 sockets (the hop limit of 255 that receivers insist on is a socket
/// option).
pub fn neighbor_solicitation(sender_mac: [u8; 6], target: Ipv6Addr) -> [u8; 32] {
    let mut p = [0u8; 32];
    p[0] = icmp_type::NEIGHBOR_SOLICIT;
    p[8..24].copy_from_slice(&target.octets());
    p[24] = ND_OPT_SOURCE_LINK;
    p[25] = 1; // in units of 8 bytes
    p[26..32].copy_from_slice(&sender_mac);
    p
}

/// A neighbour advertisement read from an ICMPv6 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborAdvert {
    /// The address the advertisement is for.
    pub target: Ipv6Addr,
    /// Its link-layer address, when the advertisement carries one.
    pub mac: Option<[u8; 6]>,
}

/// The neighbour advertisement in ICMPv6 message `p` (as a raw ICMPv6 socket delivers it),
/// if it is one. Options are walked by their length fields; a zero length or one running
/// past the end makes the message malformed (RFC 4861 section 4.6 says to drop it).
pub fn parse_neighbor_advert(p: &[u8]) -> Option<NeighborAdvert> {
    if p.len() < 24 || p[0] != icmp_type::NEIGHBOR_ADVERT || p[1] != 0 {
        return None;
    }
    let octets: [u8; 16] = p[8..24].try_into().ok()?;
    let mut mac = None;
    let mut at = 24;
    while at < p.len() {
        let kind = *p.get(at)?;
        let len = usize::from(*p.get(at + 1)?) * 8;
        if len == 0 || at + len > p.len() {
            return None;
        }
        if kind == ND_OPT_TARGET_LINK && len == 8 {
            mac = p[at + 2..at + 8].try_into().ok();
        }
        at += len;
    }
    Some(NeighborAdvert {
        target: Ipv6Addr::from(octets),
        mac,
    })
}

/// A broadcast ARP request "who has `target`? tell `sender_ip`" from `sender_mac`.
pub fn arp_request(sender_mac: [u8; 6], sender_ip: Ipv4Addr, target: Ipv4Addr) -> [u8; 42] {
    let mut f = [0u8; 42];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&sender_mac);
    f[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    f[16..18].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&1u16.to_be_bytes()); // request
    f[22..28].copy_from_slice(&sender_mac);
    f[28..32].copy_from_slice(&sender_ip.octets());
    f[38..42].copy_from_slice(&target.octets());
    f
}

/// An ARP reply read from an Ethernet frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpReply {
    /// Who answered.
    pub sender_ip: Ipv4Addr,
    /// Its hardware address.
    pub sender_mac: [u8; 6],
    /// Whom the answer is for.
    pub target_ip: Ipv4Addr,
}

/// The ARP reply in Ethernet frame `f`, if it is one.
pub fn parse_arp_reply(f: &[u8]) -> Option<ArpReply> {
    if f.len() < 42
        || be16(f, 12)? != ETHERTYPE_ARP
        || be16(f, 16)? != ETHERTYPE_IPV4
        || f[18] != 6
        || f[19] != 4
        || be16(f, 20)? != 2
    {
        return None;
    }
    Some(ArpReply {
        sender_mac: f[22..28].try_into().ok()?,
        sender_ip: ipv4(f, 28)?,
        target_ip: ipv4(f, 38)?,
    })
}

/// An ICMP (or ICMPv6) echo request with `id` and `seq` and a short payload. The ICMPv6
/// checksum is left zero: the kernel fills it in for raw ICMPv6 sockets.
pub fn echo_request(v6: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![0u8; 16];
    p[0] = if v6 {
        icmp_type::ECHO6
    } else {
        icmp_type::ECHO
    };
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p[6..8].copy_from_slice(&seq.to_be_bytes());
    p[8..16].copy_from_slice(b"portwtch");
    if !v6 {
        let c = checksum(&[&p]);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// An ICMP timestamp request (IPv4 only) with `id` and `seq`.
pub fn timestamp_request(id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![0u8; 20];
    p[0] = icmp_type::TIMESTAMP;
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p[6..8].copy_from_slice(&seq.to_be_bytes());
    let c = checksum(&[&p]);
    p[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

/// The header fields of an ICMP message that discovery matches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpHeader {
    /// Type.
    pub kind: u8,
    /// Code.
    pub code: u8,
    /// Identifier (echo and timestamp).
    pub id: u16,
    /// Sequence number (echo and timestamp).
    pub seq: u16,
}

/// The ICMP header at the start of `p`.
pub fn parse_icmp(p: &[u8]) -> Option<IcmpHeader> {
    Some(IcmpHeader {
        kind: *p.first()?,
        code: *p.get(1)?,
        id: be16(p, 4)?,
        seq: be16(p, 6)?,
    })
}

/// An IPv4 packet as a raw socket delivers it: source address, protocol, and payload.
pub fn parse_ipv4(p: &[u8]) -> Option<(Ipv4Addr, u8, &[u8])> {
    let first = *p.first()?;
    let ihl = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || ihl < 20 || p.len() < ihl {
        return None;
    }
    Some((ipv4(p, 12)?, p[9], &p[ihl..]))
}

/// The start of the TCP segment an ICMP error quotes: whom it was sent to, from which port,
/// and its sequence number (the first 8 bytes of the TCP header are all RFC 792 promises).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotedTcp {
    /// Destination address of the quoted packet.
    pub dst: IpAddr,
    /// Its source port.
    pub src_port: u16,
    /// Its destination port.
    pub dst_port: u16,
    /// Its sequence number.
    pub seq: u32,
}

/// A "destination unreachable" ICMP (or ICMPv6, `v6`) message `p` about a TCP segment: its
/// code and the quoted segment. `p` starts at the ICMP header. Anything else is `None`; an
/// IPv6 quote with extension headers before TCP is not followed.
pub fn parse_unreachable_tcp(v6: bool, p: &[u8]) -> Option<(u8, QuotedTcp)> {
    let kind = *p.first()?;
    let code = *p.get(1)?;
    let inner = p.get(8..)?;
    let (dst, proto, tcp) = if v6 {
        if kind != icmp_type::DEST_UNREACH6 || inner.first()? >> 4 != 6 {
            return None;
        }
        let dst: [u8; 16] = inner.get(24..40)?.try_into().ok()?;
        (IpAddr::V6(Ipv6Addr::from(dst)), inner[6], inner.get(40..)?)
    } else {
        if kind != icmp_type::DEST_UNREACH {
            return None;
        }
        let first = *inner.first()?;
        let ihl = usize::from(first & 0x0f) * 4;
        if first >> 4 != 4 || ihl < 20 {
            return None;
        }
        (
            IpAddr::V4(ipv4(inner, 16)?),
            *inner.get(9)?,
            inner.get(ihl..)?,
        )
    };
    if proto != 6 {
        return None;
    }
    Some((
        code,
        QuotedTcp {
            dst,
            src_port: be16(tcp, 0)?,
            dst_port: be16(tcp, 2)?,
            seq: be32(tcp, 4)?,
        },
    ))
}

/// A bare TCP segment (no options, no payload) with a correct checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flags (see [`flags`]).
    pub flags: u8,
}

impl TcpSegment {
    /// The segment's 20 bytes, checksummed for `src` → `dst`.
    pub fn build(&self, src: IpAddr, dst: IpAddr) -> [u8; 20] {
        let mut s = [0u8; 20];
        s[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        s[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        s[4..8].copy_from_slice(&self.seq.to_be_bytes());
        s[8..12].copy_from_slice(&self.ack.to_be_bytes());
        s[12] = 5 << 4;
        s[13] = self.flags;
        s[14..16].copy_from_slice(&1024u16.to_be_bytes());
        let c = tcp_checksum(src, dst, &s);
        s[16..18].copy_from_slice(&c.to_be_bytes());
        s
    }

    /// The TCP header at the start of `p`.
    pub fn parse(p: &[u8]) -> Option<TcpSegment> {
        if p.len() < 20 {
            return None;
        }
        Some(TcpSegment {
            src_port: be16(p, 0)?,
            dst_port: be16(p, 2)?,
            seq: be32(p, 4)?,
            ack: be32(p, 8)?,
            flags: p[13],
        })
    }
}

/// An IPv4 packet of `protocol` carrying `payload` from `src` to `dst`, for a raw socket that
/// takes the IP header from the sender (`IP_HDRINCL`): TTL 64, no options, no fragmentation
/// flags, identification 0 (which the kernel replaces), header checksummed.
pub fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload: &[u8; 20]) -> [u8; 40] {
    let mut p = [0u8; 40];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&40u16.to_be_bytes());
    p[8] = 64;
    p[9] = protocol;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let c = checksum(&[&p[..20]]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20..].copy_from_slice(payload);
    p
}

/// The TCP checksum of `segment` (checksum field zero) over the pseudo header.
pub fn tcp_checksum(src: IpAddr, dst: IpAddr, segment: &[u8]) -> u16 {
    let len = segment.len() as u32;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut pseudo = [0u8; 12];
            pseudo[0..4].copy_from_slice(&s.octets());
            pseudo[4..8].copy_from_slice(&d.octets());
            pseudo[9] = 6;
            pseudo[10..12].copy_from_slice(&(len as u16).to_be_bytes());
            checksum(&[&pseudo, segment])
        }
        (s, d) => {
            let (s, d) = (v6(s), v6(d));
            let mut pseudo = [0u8; 40];
            pseudo[0..16].copy_from_slice(&s.octets());
            pseudo[16..32].copy_from_slice(&d.octets());
            pseudo[32..36].copy_from_slice(&len.to_be_bytes());
            pseudo[39] = 6;
            checksum(&[&pseudo, segment])
        }
    }
}

fn v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// The Internet checksum (RFC 1071) over the concatenation of `parts` (each of even length
/// except possibly the last).
pub fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        let mut chunks = part.chunks_exact(2);
        for c in &mut chunks {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u32::from(*last) << 8;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn be16(p: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(p.get(at..at + 2)?.try_into().ok()?))
}

fn be32(p: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(p.get(at..at + 4)?.try_into().ok()?))
}

fn ipv4(p: &[u8], at: usize) -> Option<Ipv4Addr> {
    let o: [u8; 4] = p.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv4_packet_reads_back_with_a_valid_header_checksum() {
        let src: Ipv4Addr = "10.0.0.1".parse().unwrap();
        let dst: Ipv4Addr = "10.0.0.2".parse().unwrap();
        let seg = TcpSegment {
            src_port: 40000,
            dst_port: 443,
            seq: 7,
            ack: 0,
            flags: flags::SYN,
        }
        .build(IpAddr::V4(src), IpAddr::V4(dst));
        let p = ipv4_packet(src, dst, 6, &seg);
        assert_eq!(
            checksum(&[&p[..20]]),
            0,
            "a header with its checksum sums to zero"
        );
        let (from, proto, body) = parse_ipv4(&p).unwrap();
        assert_eq!((from, proto), (src, 6));
        assert_eq!(TcpSegment::parse(body).unwrap().dst_port, 443);
    }

    #[test]
    fn checksum_of_rfc1071_example() {
        // RFC 1071 section 3: the sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2, checksum 220d.
        assert_eq!(
            checksum(&[&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]]),
            0x220d
        );
    }

    #[test]
    fn a_checksummed_packet_sums_to_zero() {
        let p = echo_request(false, 0x1234, 7);
        assert_eq!(checksum(&[&p]), 0);
        let t = timestamp_request(9, 1);
        assert_eq!(checksum(&[&t]), 0);
        let src: IpAddr = "10.0.0.1".parse().unwrap();
        let dst: IpAddr = "10.0.0.2".parse().unwrap();
        let seg = TcpSegment {
            src_port: 40000,
            dst_port: 443,
            seq: 0xdead_beef,
            ack: 0,
            flags: flags::SYN,
        };
        let bytes = seg.build(src, dst);
        assert_eq!(tcp_checksum(src, dst, &bytes), 0);
        assert_eq!(TcpSegment::parse(&bytes), Some(seg));
        let src6: IpAddr = "fd00::1".parse().unwrap();
        let dst6: IpAddr = "fd00::2".parse().unwrap();
        assert_eq!(tcp_checksum(src6, dst6, &seg.build(src6, dst6)), 0);
    }

    #[test]
    fn solicited_node_addresses_keep_the_low_24_bits() {
        let a: Ipv6Addr = "fd00:216:60::1:2a0b:c0de".parse().unwrap();
        assert_eq!(
            solicited_node(a),
            "ff02::1:ff0b:c0de".parse::<Ipv6Addr>().unwrap()
        );
        assert!(solicited_node(a).is_multicast());
    }

    #[test]
    fn a_solicitation_names_its_target_and_our_mac() {
        let target: Ipv6Addr = "fd00::9".parse().unwrap();
        let mac = [2, 0, 0, 0, 0, 1];
        let ns = neighbor_solicitation(mac, target);
        assert_eq!(ns[0], 135);
        assert_eq!(&ns[8..24], &target.octets());
        assert_eq!(&ns[24..32], &[1, 1, 2, 0, 0, 0, 0, 1]);
        assert_eq!(
            parse_neighbor_advert(&ns),
            None,
            "a solicitation is not an answer"
        );
    }

    #[test]
    fn advertisements_are_read_with_or_without_their_mac() {
        let target: Ipv6Addr = "fd00::9".parse().unwrap();
        let mut na = neighbor_solicitation([0; 6], target);
        na[0] = 136;
        na[4] = 0x60; // solicited, override
        na[24] = 2;
        na[26..32].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
        assert_eq!(
            parse_neighbor_advert(&na),
            Some(NeighborAdvert {
                target,
                mac: Some([2, 0, 0, 0, 0, 9])
            })
        );
        assert_eq!(
            parse_neighbor_advert(&na[..24]),
            Some(NeighborAdvert { target, mac: None })
        );
        assert_eq!(parse_neighbor_advert(&na[..23]), None, "short message");
        assert_eq!(
            parse_neighbor_advert(&na[..30]),
            None,
            "option past the end"
        );
        na[25] = 0;
        assert_eq!(parse_neighbor_advert(&na), None, "zero-length option");
    }

    #[test]
    fn arp_reply_is_read_back_and_requests_are_not_replies() {
        let mac = [2, 0, 0, 0, 0, 1];
        let me = Ipv4Addr::new(10, 0, 0, 1);
        let them = Ipv4Addr::new(10, 0, 0, 9);
        let req = arp_request(mac, me, them);
        assert_eq!(parse_arp_reply(&req), None, "a request is not a reply");
        let mut reply = req;
        reply[21] = 2;
        reply[22..28].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
        reply[28..32].copy_from_slice(&them.octets());
        reply[38..42].copy_from_slice(&me.octets());
        assert_eq!(
            parse_arp_reply(&reply),
            Some(ArpReply {
                sender_ip: them,
                sender_mac: [2, 0, 0, 0, 0, 9],
                target_ip: me
            })
        );
        assert_eq!(parse_arp_reply(&reply[..41]), None, "short frame");
    }

    #[test]
    fn parsers_refuse_short_or_foreign_input() {
        assert_eq!(parse_ipv4(&[]), None);
        assert_eq!(parse_ipv4(&[0x45; 19]), None);
        assert_eq!(parse_ipv4(&[0x65; 40]), None, "not version 4");
        assert_eq!(parse_icmp(&[0, 0, 0]), None);
        assert_eq!(TcpSegment::parse(&[0; 19]), None);
        assert_eq!(
            parse_unreachable_tcp(false, &[3, 13, 0, 0, 0, 0, 0, 0]),
            None
        );
        assert_eq!(
            parse_unreachable_tcp(true, &[1, 1, 0, 0, 0, 0, 0, 0, 0x60]),
            None
        );
    }

    #[test]
    fn unreachable_messages_give_back_the_quoted_segment() {
        let src: IpAddr = "10.0.0.1".parse().unwrap();
        let dst: IpAddr = "10.0.0.2".parse().unwrap();
        let seg = TcpSegment {
            src_port: 40000,
            dst_port: 443,
            seq: 0x0102_0304,
            ack: 0,
            flags: flags::SYN,
        };
        let mut msg = vec![icmp_type::DEST_UNREACH, 13, 0, 0, 0, 0, 0, 0];
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[9] = 6;
        ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
        ip[16..20].copy_from_slice(&[10, 0, 0, 2]);
        msg.extend_from_slice(&ip);
        msg.extend_from_slice(&seg.build(src, dst)[..8]);
        let quoted = QuotedTcp {
            dst,
            src_port: 40000,
            dst_port: 443,
            seq: 0x0102_0304,
        };
        assert_eq!(parse_unreachable_tcp(false, &msg), Some((13, quoted)));
        assert_eq!(
            parse_unreachable_tcp(false, &msg[..35]),
            None,
            "quote cut short"
        );
        assert_eq!(parse_unreachable_tcp(true, &msg), None, "not ICMPv6");
        msg[8 + 9] = 17;
        assert_eq!(parse_unreachable_tcp(false, &msg), None, "quotes UDP");

        let dst6: IpAddr = "fd00::2".parse().unwrap();
        let mut msg6 = vec![icmp_type::DEST_UNREACH6, 1, 0, 0, 0, 0, 0, 0];
        let mut ip6 = [0u8; 40];
        ip6[0] = 0x60;
        ip6[6] = 6;
        ip6[24..40].copy_from_slice(&v6(dst6).octets());
        msg6.extend_from_slice(&ip6);
        msg6.extend_from_slice(&seg.build(src, dst)[..8]);
        assert_eq!(
            parse_unreachable_tcp(true, &msg6),
            Some((
                1,
                QuotedTcp {
                    dst: dst6,
                    ..quoted
                }
            ))
        );
    }
}
