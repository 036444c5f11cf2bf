//! Parser of the kernel's socket tables `/proc/net/{tcp,tcp6,udp,udp6}`.
//!
//! Each line after the header is `sl: local rem st tx:rx tr:when retrnsmt uid timeout inode …`,
//! addresses in hex as the kernel stores them: IPv4 as one 32-bit word, IPv6 as four, each word
//! printed in host byte order.

use crate::error::{LocalError, Result};
use crate::model::Proto;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// TCP state number of a listening socket (`TCP_LISTEN`).
const TCP_LISTEN: u8 = 0x0A;
/// State number of an unconnected UDP socket (`TCP_CLOSE`, reused by UDP).
const UDP_UNCONNECTED: u8 = 0x07;

/// One of the four socket tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    /// The file name under `/proc/net`.
    pub name: &'static str,
    /// The transport.
    pub proto: Proto,
}

/// The tables read for a snapshot, in reading order.
pub const TABLES: [Table; 4] = [
    Table {
        name: "tcp",
        proto: Proto::Tcp,
    },
    Table {
        name: "tcp6",
        proto: Proto::Tcp,
    },
    Table {
        name: "udp",
        proto: Proto::Udp,
    },
    Table {
        name: "udp6",
        proto: Proto::Udp,
    },
];

/// One row of a socket table, as the kernel gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketRow {
    /// The transport of the table it came from.
    pub proto: Proto,
    /// Local address.
    pub local: IpAddr,
    /// Local port.
    pub local_port: u16,
    /// Remote address.
    pub remote: IpAddr,
    /// Remote port.
    pub remote_port: u16,
    /// Kernel state number (`0A` = listen for TCP, `07` = unconnected for UDP).
    pub state: u8,
    /// Owner's user id.
    pub uid: u32,
    /// Socket inode (links the row to a process's file descriptor).
    pub inode: u64,
}

impl SocketRow {
    /// Whether the socket waits for new peers: a listening TCP socket, or a bound UDP socket
    /// that is not connected to one peer.
    pub fn is_listening(&self) -> bool {
        match self.proto {
            Proto::Tcp => self.state == TCP_LISTEN,
            Proto::Udp => {
                self.state == UDP_UNCONNECTED && self.remote_port == 0 && self.local_port != 0
            }
        }
    }
}

/// Parses a whole table (header line first) into rows.
pub fn parse_table(table: Table, text: &str) -> Result<Vec<SocketRow>> {
    text.lines()
        .enumerate()
        .skip(1)
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            parse_line(table.proto, line).map_err(|reason| LocalError::ProcNetLine {
                table: table.name,
                line: i + 1,
                reason,
            })
        })
        .collect()
}

/// Parses one data line; the error says which field is wrong.
pub fn parse_line(proto: Proto, line: &str) -> std::result::Result<SocketRow, String> {
    let mut fields = line.split_whitespace();
    let mut next = |what: &str| fields.next().ok_or_else(|| format!("missing {what}"));
    let _slot = next("slot")?;
    let (local, local_port) = parse_endpoint(next("local address")?)?;
    let (remote, remote_port) = parse_endpoint(next("remote address")?)?;
    let state_text = next("state")?;
    let state =
        u8::from_str_radix(state_text, 16).map_err(|_| format!("bad state {state_text:?}"))?;
    let _queues = next("queues")?;
    let _timer = next("timer")?;
    let _retransmits = next("retransmits")?;
    let uid_text = next("uid")?;
    let uid = uid_text
        .parse::<u32>()
        .map_err(|_| format!("bad uid {uid_text:?}"))?;
    let _timeout = next("timeout")?;
    let inode_text = next("inode")?;
    let inode = inode_text
        .parse::<u64>()
        .map_err(|_| format!("bad inode {inode_text:?}"))?;
    Ok(SocketRow {
        proto,
        local,
        local_port,
        remote,
        remote_port,
        state,
        uid,
        inode,
    })
}

/// Parses `ADDRHEX:PORTHEX`.
fn parse_endpoint(text: &str) -> std::result::Result<(IpAddr, u16), String> {
    let (addr, port) = text
        .split_once(':')
        .ok_or_else(|| format!("bad endpoint {text:?}: no ':'"))?;
    let port = u16::from_str_radix(port, 16).map_err(|_| format!("bad port in {text:?}"))?;
    let addr = parse_addr(addr).ok_or_else(|| format!("bad address in {text:?}"))?;
    Ok((addr, port))
}

/// Decodes the kernel's hex address: 8 digits for IPv4, 32 for IPv6.
fn parse_addr(hex: &str) -> Option<IpAddr> {
    if !hex.is_ascii() {
        return None;
    }
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(hex)?.to_ne_bytes()))),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(&hex[i * 8..i * 8 + 8])?.to_ne_bytes());
            }
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

/// One 32-bit word as printed by the kernel (`%08X` of the in-memory value).
fn word(hex: &str) -> Option<u32> {
    u32::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   105        0 23436 1 0000000000000000 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1538 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000   105        0 0 1 0000000000000000 20 4 30 10 -1
";

    #[test]
    fn parses_ipv4_rows_and_picks_listeners() {
        let rows = parse_table(TABLES[0], TCP).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].local, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(rows[0].local_port, 5432);
        assert_eq!(rows[0].uid, 105);
        assert_eq!(rows[0].inode, 23436);
        assert!(rows[0].is_listening());
        assert_eq!(rows[1].local, IpAddr::from([0, 0, 0, 0]));
        assert_eq!(rows[1].local_port, 22);
        assert!(!rows[2].is_listening());
    }

    #[test]
    fn parses_ipv6_words_in_host_order() {
        // ::1 port 631 and fe80::1 as the kernel prints them on a little-endian machine.
        let lo = "   0: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1";
        let row = parse_line(Proto::Tcp, lo).unwrap();
        if cfg!(target_endian = "little") {
            assert_eq!(row.local, "::1".parse::<IpAddr>().unwrap());
        }
        assert_eq!(row.local_port, 631);
        let mapped = "   0: 0000000000000000FFFF00000100007F:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 77 2";
        let row = parse_line(Proto::Udp, mapped).unwrap();
        if cfg!(target_endian = "little") {
            assert_eq!(row.local, "::ffff:127.0.0.1".parse::<IpAddr>().unwrap());
        }
        assert!(row.is_listening());
    }

    #[test]
    fn udp_connected_or_unbound_is_not_listening() {
        let connected =
            "  1: 0100007F:A000 0100007F:0035 01 00000000:00000000 00:00000000 00000000 0 0 5 2";
        assert!(!parse_line(Proto::Udp, connected).unwrap().is_listening());
        let unbound =
            "  1: 00000000:0000 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 6 2";
        assert!(!parse_line(Proto::Udp, unbound).unwrap().is_listening());
    }

    #[test]
    fn errors_name_the_table_line_and_field() {
        let text = "header\n  0: 0100007F:1538 00000000:0000 ZZ 0:0 0:0 0 0 0 1\n";
        let err = parse_table(TABLES[0], text).unwrap_err().to_string();
        assert_eq!(err, "tcp line 2: bad state \"ZZ\"");
        let err = parse_line(Proto::Tcp, "  0: 0100007F").unwrap_err();
        assert_eq!(err, "bad endpoint \"0100007F\": no ':'");
    }
}
