//! Listening TCP sockets from the kernel's `sock_diag` netlink interface (what `ss` uses).
//!
//! Reading `/proc/net/tcp` makes the kernel walk the whole established-connection hash table
//! (about 4 ms per read on a machine with a 256k-bucket table, even when it is empty), which
//! is too much to do four times a second. A `sock_diag` dump restricted to the LISTEN state
//! walks only the listening hash. The UDP tables stay on `/proc`, where reading is cheap.

use crate::model::Proto;
use crate::proc_net::SocketRow;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, recv, sendto, socket,
};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;

/// `SOCK_DIAG_BY_FAMILY`: the request and answer message type.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// Netlink message types that end a dump.
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// `NLM_F_REQUEST | NLM_F_DUMP`.
const DUMP_REQUEST: u16 = 0x1 | 0x300;
/// Bit of the TCP LISTEN state (10) in the state mask.
const LISTEN_MASK: u32 = 1 << 10;
/// Netlink header size.
const HEADER: usize = 16;
/// `struct inet_diag_msg` size.
const DIAG_MSG: usize = 72;
/// Address family numbers.
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
/// `IPPROTO_TCP`.
const TCP: u8 = 6;

/// Every listening TCP socket (IPv4 and IPv6) of the current network namespace.
pub fn tcp_listening() -> io::Result<Vec<SocketRow>> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkSockDiag,
    )?;
    let kernel = NetlinkAddr::new(0, 0);
    let mut rows = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    for (seq, family) in [(1u32, AF_INET), (2, AF_INET6)] {
        sendto(
            fd.as_raw_fd(),
            &request(family, seq),
            &kernel,
            MsgFlags::empty(),
        )?;
        loop {
            let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty())?;
            let part = buf.get(..n).unwrap_or_default();
            let done = parse_dump(part, &mut rows).map_err(io::Error::other)?;
            if done || n == 0 {
                break;
            }
        }
    }
    Ok(rows)
}

/// A dump request for listening TCP sockets of one family.
fn request(family: u8, seq: u32) -> Vec<u8> {
    let len = HEADER + 56;
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&u32::try_from(len).unwrap_or(72).to_ne_bytes());
    msg.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    msg.extend_from_slice(&DUMP_REQUEST.to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    // struct inet_diag_req_v2: family, protocol, ext, pad, states, then a zeroed socket id.
    msg.extend_from_slice(&[family, TCP, 0, 0]);
    msg.extend_from_slice(&LISTEN_MASK.to_ne_bytes());
    msg.resize(len, 0);
    msg
}

/// Parses one received datagram of a dump into `rows`; true when the dump is finished.
pub fn parse_dump(mut data: &[u8], rows: &mut Vec<SocketRow>) -> Result<bool, String> {
    while data.len() >= HEADER {
        let len = u32_at(data, 0) as usize;
        let kind = u16::from_ne_bytes([data[4], data[5]]);
        if len < HEADER || len > data.len() {
            return Err(format!("sock_diag: bad message length {len}"));
        }
        let body = &data[HEADER..len];
        match kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let code = body
                    .get(..4)
                    .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                return Err(io::Error::from_raw_os_error(code.saturating_neg()).to_string());
            }
            SOCK_DIAG_BY_FAMILY => rows.push(parse_diag_msg(body)?),
            _ => {}
        }
        let step = len.div_ceil(4) * 4;
        data = data.get(step..).unwrap_or_default();
    }
    Ok(false)
}

/// One `struct inet_diag_msg`.
fn parse_diag_msg(b: &[u8]) -> Result<SocketRow, String> {
    if b.len() < DIAG_MSG {
        return Err(format!(
            "sock_diag: short socket record ({} bytes)",
            b.len()
        ));
    }
    let addr = |at: usize| -> Result<IpAddr, String> {
        match b[0] {
            AF_INET => Ok(IpAddr::V4(Ipv4Addr::new(
                b[at],
                b[at + 1],
                b[at + 2],
                b[at + 3],
            ))),
            AF_INET6 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&b[at..at + 16]);
                Ok(IpAddr::V6(Ipv6Addr::from(octets)))
            }
            other => Err(format!("sock_diag: unexpected family {other}")),
        }
    };
    Ok(SocketRow {
        proto: Proto::Tcp,
        local: addr(8)?,
        local_port: u16::from_be_bytes([b[4], b[5]]),
        remote: addr(24)?,
        remote_port: u16::from_be_bytes([b[6], b[7]]),
        state: b[1],
        uid: u32_at(b, 64),
        inode: u64::from(u32_at(b, 68)),
    })
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_listener_of_ours() {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        let rows = tcp_listening().expect("sock_diag works here");
        let row = rows
            .iter()
            .find(|r| r.local_port == port)
            .expect("our listener");
        assert_eq!(row.local, IpAddr::from([127, 0, 0, 1]));
        assert!(row.is_listening());
        assert!(row.inode > 0);
    }

    #[test]
    fn agrees_with_proc_net() {
        let socket = std::net::TcpListener::bind("[::]:0").unwrap();
        let mut diag: Vec<(IpAddr, u16, u64)> = tcp_listening()
            .unwrap()
            .iter()
            .map(|r| (r.local, r.local_port, r.inode))
            .collect();
        let mut proc: Vec<(IpAddr, u16, u64)> = Vec::new();
        for table in &crate::proc_net::TABLES[..2] {
            let text = std::fs::read_to_string(format!("/proc/net/{}", table.name)).unwrap();
            proc.extend(
                crate::proc_net::parse_table(*table, &text)
                    .unwrap()
                    .iter()
                    .filter(|r| r.is_listening())
                    .map(|r| (r.local, r.local_port, r.inode)),
            );
        }
        diag.sort();
        proc.sort();
        assert_eq!(diag, proc);
        drop(socket);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_datagrams_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let mut rows = Vec::new();
            let _ = parse_dump(&data, &mut rows);
        }
    }

    #[test]
    fn garbage_is_an_error() {
        let mut rows = Vec::new();
        assert!(parse_dump(&[0xff; 20], &mut rows).is_err());
        assert_eq!(parse_dump(&[1, 2, 3], &mut rows), Ok(false));
        let mut short = vec![0u8; 20];
        short[0] = 20;
        short[4] = 20;
        assert!(parse_dump(&short, &mut rows).is_err());
    }
}
