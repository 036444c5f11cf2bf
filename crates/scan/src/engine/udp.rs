//! One UDP try: wait for the host's pacing slot, send the service's payload (or an empty
//! datagram) on a connected socket, and read the answer. On a connected socket the kernel
//! turns ICMP port unreachable into `ECONNREFUSED`, so closed ports are told from silent ones.
//!
//! Hosts ration their ICMP errors (Linux: one a second after a burst of six), so silence
//! alone proves nothing. A retry is therefore followed at once by a datagram to a *canary*,
//! a port of the same host that already answered "port unreachable". A silent try comes back
//! as [`Outcome::Timeout`] when no canary was probed, and as [`Outcome::Silent`] saying whether
//! the canary answered; what the silence means is decided in one place,
//! `HostState::judge_udp_silence`.

use super::{Outcome, icmp, tcp};
use crate::model::{PortState, Reason};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Largest datagram kept from an answer.
const MAX_ANSWER: usize = 4096;

/// Sends `payload` to `addr` at `send_at` and waits up to `timeout` for the answer; with a
/// `canary` port, also probes it to tell real silence from an exhausted ICMP budget.
pub async fn try_port(
    addr: SocketAddr,
    payload: &[u8],
    send_at: Instant,
    timeout: Duration,
    want_icmp_detail: bool,
    canary: Option<u16>,
) -> (Outcome, Duration) {
    if send_at > Instant::now() {
        tokio::time::sleep_until(send_at.into()).await;
    }
    let started = Instant::now();
    let socket = match open(addr, want_icmp_detail) {
        Ok(s) => s,
        Err(e) => return (error_outcome(None, addr, &e), started.elapsed()),
    };
    if let Err(e) = socket.send(payload) {
        return (error_outcome(Some(&socket), addr, &e), started.elapsed());
    }
    let mut buf = vec![0u8; MAX_ANSWER];
    // Loopback answers (and refusals) are often there already.
    match std::io::Read::read(&mut &socket, &mut buf) {
        Ok(n) => {
            buf.truncate(n);
            return (Outcome::Response(buf), started.elapsed());
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return (error_outcome(Some(&socket), addr, &e), started.elapsed()),
    }
    let deadline = started + timeout;
    let canary = canary.and_then(|port| send_canary(SocketAddr::new(addr.ip(), port)));
    let std_socket = std::net::UdpSocket::from(socket);
    let Ok(socket) = tokio::net::UdpSocket::from_std(std_socket) else {
        return (Outcome::Pushback, started.elapsed());
    };
    let waited = tokio::time::timeout_at(deadline.into(), socket.recv(&mut buf)).await;
    let elapsed = started.elapsed();
    match waited {
        Ok(Ok(n)) => {
            buf.truncate(n);
            (Outcome::Response(buf), elapsed)
        }
        Ok(Err(e)) => {
            let sock = socket2::SockRef::from(&socket);
            (error_outcome(Some(&sock), addr, &e), elapsed)
        }
        Err(_) => match canary {
            None => (Outcome::Timeout, elapsed),
            Some(c) => {
                let clean = canary_answered(c, deadline).await;
                (Outcome::Silent { clean }, elapsed)
            }
        },
    }
}

/// Sends an empty datagram to a port known to be closed.
fn send_canary(addr: SocketAddr) -> Option<Socket> {
    let socket = open(addr, false).ok()?;
    socket.send(&[]).ok()?;
    Some(socket)
}

/// Whether the canary got its "port unreachable" (or any answer) by `deadline`.
async fn canary_answered(socket: Socket, deadline: Instant) -> bool {
    let Ok(socket) = tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(socket)) else {
        return false;
    };
    let mut buf = [0u8; 64];
    let wait = deadline.max(Instant::now() + Duration::from_millis(20));
    match tokio::time::timeout_at(wait.into(), socket.recv(&mut buf)).await {
        Ok(Ok(_)) => true,
        Ok(Err(e)) => e.raw_os_error() == Some(libc::ECONNREFUSED),
        Err(_) => false,
    }
}

fn open(addr: SocketAddr, want_icmp_detail: bool) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::DGRAM.nonblocking().cloexec(),
        Some(Protocol::UDP),
    )?;
    if want_icmp_detail && addr.is_ipv4() {
        icmp::enable(&socket);
    }
    socket.connect(&SockAddr::from(addr))?;
    Ok(socket)
}

fn error_outcome(socket: Option<&Socket>, addr: SocketAddr, e: &io::Error) -> Outcome {
    if tcp::is_pushback(e) {
        return Outcome::Pushback;
    }
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => Outcome::Answer(PortState::Closed, Reason::PortUnreach),
        Some(libc::EHOSTUNREACH | libc::EHOSTDOWN) => Outcome::Answer(
            PortState::Filtered,
            socket
                .and_then(|s| icmp::read(s, addr))
                .unwrap_or(Reason::HostUnreach),
        ),
        Some(libc::ENETUNREACH | libc::ENETDOWN) => {
            Outcome::Answer(PortState::Filtered, Reason::NetUnreach)
        }
        Some(libc::EACCES | libc::EPERM) => {
            Outcome::Answer(PortState::Filtered, Reason::AdminProhibited)
        }
        _ => Outcome::Answer(PortState::Filtered, Reason::HostUnreach),
    }
}
