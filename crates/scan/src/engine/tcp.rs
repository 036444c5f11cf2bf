//! One TCP connect probe: a non-blocking connect through socket2, answered at once when the
//! kernel already knows (loopback and veth peers answer inside the connect call), otherwise
//! awaited through tokio with a timeout.

use super::Outcome;
use crate::model::{PortState, Reason};
use portwatch_kb::Exposure;
use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// A probe whose connect is under way.
pub struct Pending {
    socket: Socket,
    started: Instant,
}

/// The result of starting a probe.
pub enum Start {
    /// The answer was known at once.
    Done(Outcome, Duration),
    /// The answer must be awaited.
    Pending(Pending),
}

/// Refused sockets kept for reuse, one per address family (see [`start`]).
#[derive(Default)]
pub struct SocketPool {
    v4: Option<Socket>,
    v6: Option<Socket>,
}

impl SocketPool {
    fn slot(&mut self, addr: SocketAddr) -> &mut Option<Socket> {
        if addr.is_ipv4() {
            &mut self.v4
        } else {
            &mut self.v6
        }
    }
}

/// Starts a connect to `addr`. `want_icmp_detail` asks the kernel to queue ICMP details so an
/// IPv4 "admin prohibited" can be told from "host unreachable".
///
/// Loopback targets take a faster path: the kernel has the answer by the time `connect()`
/// returns `EINPROGRESS`, and a second `connect()` to the same address reports it (refused,
/// connected, or `EALREADY` while still connecting). A refused socket is left unconnected by
/// that second call and is reused for the next probe, which saves the socket allocation and
/// the `close()` of nearly every probe of a loopback scan.
pub fn start(addr: SocketAddr, want_icmp_detail: bool, pool: &mut SocketPool) -> io::Result<Start> {
    let started = Instant::now();
    let reuse = !want_icmp_detail && addr.ip().is_loopback();
    let socket = match pool.slot(addr).take() {
        Some(s) if reuse => s,
        _ => match Socket::new(
            Domain::for_address(addr),
            Type::STREAM.nonblocking().cloexec(),
            Some(Protocol::TCP),
        ) {
            Ok(s) => s,
            Err(e) if is_pushback(&e) => {
                return Ok(Start::Done(Outcome::Pushback, Duration::ZERO));
            }
            Err(e) => return Err(e),
        },
    };
    if want_icmp_detail && addr.is_ipv4() {
        super::icmp::enable(&socket);
    }
    let target = SockAddr::from(addr);
    let first = socket.connect(&target);
    let outcome = match first {
        Ok(()) => connected(&socket, addr),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
            let now = if reuse {
                match socket.connect(&target) {
                    Ok(()) => Some(connected(&socket, addr)),
                    Err(e) => match e.raw_os_error() {
                        Some(libc::EALREADY) => None,
                        Some(libc::EISCONN) => Some(connected(&socket, addr)),
                        _ => Some(classify(&socket, addr, &e)),
                    },
                }
            } else {
                poll_now(&socket, addr)
            };
            match now {
                Some(outcome) => outcome,
                None => return Ok(Start::Pending(Pending { socket, started })),
            }
        }
        Err(e) => classify(&socket, addr, &e),
    };
    let elapsed = started.elapsed();
    if reuse && outcome == Outcome::Answer(PortState::Closed, Reason::ConnRefused) {
        *pool.slot(addr) = Some(socket);
    }
    Ok(Start::Done(outcome, elapsed))
}

impl Pending {
    /// Waits for the answer up to `timeout`.
    /// Waits for the connect to finish until the host's timeout (`timeout`, read again at
    /// least every `recheck`) has passed since it started.
    pub async fn wait(
        self,
        addr: SocketAddr,
        timeout: impl Fn() -> Duration,
        recheck: Duration,
    ) -> (Outcome, Duration) {
        let started = self.started;
        // A connecting socket handed to tokio's reactor, as tokio's own connect does.
        let Ok(stream) = TcpStream::from_std(std::net::TcpStream::from(self.socket)) else {
            return (Outcome::Pushback, started.elapsed());
        };
        let started_at = tokio::time::Instant::from_std(started);
        let waited = super::timing::within_timeout(
            async {
                loop {
                    if stream
                        .ready(Interest::WRITABLE | Interest::ERROR)
                        .await
                        .is_err()
                    {
                        return Outcome::Pushback;
                    }
                    match poll_now(&SockRef::from(&stream), addr) {
                        Some(outcome) => return outcome,
                        // Spurious wake-up: let tokio clear the readiness and wait again.
                        None => {
                            let _ = stream.try_io(Interest::WRITABLE, || {
                                Err::<(), _>(io::ErrorKind::WouldBlock.into())
                            });
                        }
                    }
                }
            },
            started_at,
            timeout,
            recheck,
        )
        .await;
        match waited {
            Some(outcome) => (outcome, started.elapsed()),
            None => (Outcome::Timeout, started.elapsed()),
        }
    }
}

/// Asks the socket whether its connect finished, without blocking.
fn poll_now(socket: &Socket, addr: SocketAddr) -> Option<Outcome> {
    match socket.take_error() {
        Ok(Some(e)) => return Some(classify(socket, addr, &e)),
        Ok(None) => {}
        Err(e) => return Some(classify(socket, addr, &e)),
    }
    match socket.peer_addr() {
        Ok(_) => Some(connected(socket, addr)),
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => None,
        Err(e) => Some(classify(socket, addr, &e)),
    }
}

fn connected(socket: &Socket, addr: SocketAddr) -> Outcome {
    let local = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .unwrap_or(addr);
    // Close with RST (SO_LINGER 0): no TIME_WAIT left behind by a full-range scan.
    let _ = socket.set_linger(Some(Duration::ZERO));
    Outcome::Connected { local }
}

pub(super) fn classify(socket: &Socket, addr: SocketAddr, e: &io::Error) -> Outcome {
    classify_error(e, || super::icmp::read(socket, addr))
}

/// The outcome a failed connect (or send) reports; `icmp_detail` reads the ICMP type behind
/// an unreachable error when the socket queued one.
pub(super) fn classify_error(
    e: &io::Error,
    icmp_detail: impl FnOnce() -> Option<Reason>,
) -> Outcome {
    let Some(code) = e.raw_os_error() else {
        return Outcome::Answer(PortState::Filtered, Reason::HostUnreach);
    };
    let answer = |state, reason| Outcome::Answer(state, reason);
    match code {
        libc::ECONNREFUSED | libc::ECONNRESET => answer(PortState::Closed, Reason::ConnRefused),
        libc::EHOSTUNREACH | libc::EHOSTDOWN => {
            let reason = icmp_detail().unwrap_or(Reason::HostUnreach);
            answer(PortState::Filtered, reason)
        }
        libc::ENETUNREACH | libc::ENETDOWN => {
            let reason = icmp_detail().unwrap_or(Reason::NetUnreach);
            answer(PortState::Filtered, reason)
        }
        libc::EACCES | libc::EPERM => answer(PortState::Filtered, Reason::AdminProhibited),
        libc::ETIMEDOUT => Outcome::Timeout,
        _ if is_pushback(e) => Outcome::Pushback,
        _ => answer(PortState::Filtered, Reason::HostUnreach),
    }
}

/// Errors that mean "the kernel is short of something right now", not an answer.
pub(super) fn is_pushback(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::EMFILE
                | libc::ENFILE
                | libc::ENOBUFS
                | libc::ENOMEM
                | libc::EAGAIN
                | libc::EADDRNOTAVAIL
                | libc::EADDRINUSE
                | libc::EINTR
        )
    )
}

/// Whether a completed handshake must be confirmed before it is called open: when the
/// target is this machine, a connect can "succeed" with no listener (a socket connected to
/// itself, or two of our own probes in a simultaneous open).
pub fn needs_confirmation(local: SocketAddr, target: SocketAddr) -> bool {
    local.ip() == target.ip() || Exposure::of(target.ip()) == Exposure::Loopback
}

/// Whether the connection is the socket talking to itself.
pub fn is_self_connect(local: SocketAddr, target: SocketAddr) -> bool {
    local == target
}

#[cfg(test)]
mod tests {
    use super::needs_confirmation;
    use std::net::SocketAddr;

    fn pair(local: &str, target: &str) -> bool {
        let local: SocketAddr = local.parse().unwrap();
        let target: SocketAddr = target.parse().unwrap();
        needs_confirmation(local, target)
    }

    #[test]
    fn loopback_targets_are_confirmed_in_every_spelling() {
        assert!(pair("127.0.0.1:40000", "127.0.0.1:22"));
        assert!(pair("127.0.0.1:40000", "127.1.2.3:22"));
        assert!(pair("[::1]:40000", "[::1]:22"));
        assert!(pair("[::ffff:127.0.0.1]:40000", "[::ffff:127.0.0.1]:22"));
    }

    #[test]
    fn a_target_with_our_own_address_is_confirmed() {
        assert!(pair("10.242.9.1:40000", "10.242.9.1:22"));
        assert!(pair("[fd00::1]:40000", "[fd00::1]:22"));
    }

    #[test]
    fn other_hosts_are_not() {
        assert!(!pair("10.242.9.1:40000", "10.242.9.2:22"));
        assert!(!pair("[fd00::1]:40000", "[fd00::2]:22"));
        assert!(!pair("[::ffff:10.242.9.1]:40000", "[::ffff:10.242.9.2]:22"));
    }
}
