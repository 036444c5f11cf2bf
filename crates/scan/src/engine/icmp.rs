//! The ICMP type and code behind a failed IPv4 probe, from the socket's error queue
//! (IP_RECVERR). Linux folds "administratively prohibited" into EHOSTUNREACH otherwise.

use crate::model::{PortState, Reason};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn, recvmsg, setsockopt, sockopt};
use socket2::Socket;
use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

const ORIGIN_ICMP: u8 = 2;
const DEST_UNREACH: u8 = 3;

/// Asks the kernel to queue ICMP errors with their type and code on `socket`.
pub fn enable(socket: &Socket) {
    let _ = setsockopt(socket, sockopt::Ipv4RecvErr, &true);
}

/// The reason behind the ICMP error queued on `socket`, if any (IPv4 only).
pub fn read(socket: &Socket, addr: SocketAddr) -> Option<Reason> {
    if !addr.is_ipv4() {
        return None;
    }
    let mut data = [0u8; 64];
    let mut iov = [IoSliceMut::new(&mut data)];
    let mut cmsg = nix::cmsg_space!(libc::sock_extended_err, libc::sockaddr_in);
    let msg = recvmsg::<SockaddrIn>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
    )
    .ok()?;
    for c in msg.cmsgs().ok()? {
        if let ControlMessageOwned::Ipv4RecvErr(err, _) = c
            && err.ee_origin == ORIGIN_ICMP
            && err.ee_type == DEST_UNREACH
        {
            return Some(v4_unreach_reason(err.ee_code));
        }
    }
    None
}

/// The reason an IPv4 "destination unreachable" with `code` gives a filtered port.
fn v4_unreach_reason(code: u8) -> Reason {
    match code {
        0 | 6 | 11 => Reason::NetUnreach,
        9 | 10 | 13 => Reason::AdminProhibited,
        _ => Reason::HostUnreach,
    }
}

/// What a "destination unreachable" (ICMPv6 when `v6`) with `code` says about a TCP port,
/// read the way the kernel reads it for a connect: "port unreachable" is a refusal,
/// "fragmentation needed" is no answer at all, the rest filter the port.
pub fn unreachable_answer(v6: bool, code: u8) -> Option<(PortState, Reason)> {
    let filtered = |reason| Some((PortState::Filtered, reason));
    if v6 {
        return match code {
            0 => filtered(Reason::NetUnreach),
            1 | 5 | 6 => filtered(Reason::AdminProhibited),
            4 => Some((PortState::Closed, Reason::ConnRefused)),
            _ => filtered(Reason::HostUnreach),
        };
    }
    match code {
        3 => Some((PortState::Closed, Reason::ConnRefused)),
        4 => None,
        c => filtered(v4_unreach_reason(c)),
    }
}
