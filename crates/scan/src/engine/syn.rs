//! Half-open TCP probes (nmap's SYN scan): one SYN from a raw socket per try, answered by a
//! SYN-ACK (open), a RST (closed) or an ICMP "destination unreachable" (filtered, or closed
//! for "port unreachable"). An answer counts only when it carries the probe's cookie: the
//! sequence number of each SYN is a keyed hash of its four-tuple with a secret drawn for the
//! scan, so a SYN-ACK or RST acknowledges cookie + 1 and an ICMP error quotes the cookie.
//! Everything else the raw sockets see is ignored.
//!
//! The handshake is never completed: the kernel knows no connection on our source port and
//! resets the SYN-ACK itself, which does no harm. The source ports are reserved for the scan
//! by binding (not listening) TCP sockets to them, so the kernel never hands them to another
//! connection. A target port equal to our first source port is probed from the second, so a
//! probe never looks like its own answer on loopback.

use super::Outcome;
use super::icmp::unreachable_answer;
use super::tcp::classify_error;
use super::timing::within_timeout;
use crate::discover::raw::RawSocket;
use crate::discover::source_for;
use crate::discover::wire::{self, TcpSegment, flags};
use crate::model::{PortState, Reason};
use nix::sys::socket::{SockaddrIn, SockaddrIn6};
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Which raw socket a packet came from: that decides how it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// A raw IPv4 TCP socket: the packet starts with its IPv4 header.
    Tcp4,
    /// A raw IPv6 TCP socket: the packet is the TCP segment, sent by this address.
    Tcp6(Ipv6Addr),
    /// A raw ICMP socket: the packet starts with its IPv4 header.
    Icmp4,
    /// A raw ICMPv6 socket: the packet is the ICMPv6 message.
    Icmp6,
}

/// What an answer says about the port it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// SYN-ACK: something listens.
    SynAck,
    /// RST: nothing listens.
    Reset,
    /// An ICMP error, read as the kernel reads it for a connect.
    Icmp(PortState, Reason),
}

/// An answer read from a packet, not yet matched to a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// The probed address and port the answer is about.
    pub target: SocketAddr,
    /// Our source port the probe was sent from.
    pub our_port: u16,
    /// The sequence number of the probe this answers (the cookie it must match).
    pub cookie: u32,
    /// What it says.
    pub answer: Answer,
}

/// Reads `packet` from `channel` as an answer to a SYN, if it can be one. Never panics;
/// anything that is not a SYN-ACK, an acknowledging RST, or an unreachable error quoting a
/// TCP segment is `None`.
pub fn read_reply(channel: Channel, packet: &[u8]) -> Option<Reply> {
    match channel {
        Channel::Tcp4 => match wire::parse_ipv4(packet)? {
            (src, 6, tcp) => read_segment(IpAddr::V4(src), tcp),
            _ => None,
        },
        Channel::Tcp6(src) => read_segment(IpAddr::V6(src), packet),
        Channel::Icmp4 => match wire::parse_ipv4(packet)? {
            (_, 1, icmp) => read_unreachable(false, icmp),
            _ => None,
        },
        Channel::Icmp6 => read_unreachable(true, packet),
    }
}

fn read_segment(src: IpAddr, tcp: &[u8]) -> Option<Reply> {
    let seg = TcpSegment::parse(tcp)?;
    // Both answers to a SYN acknowledge it; a RST without ACK (the kernel resetting a
    // SYN-ACK, seen on loopback) answers nothing of ours.
    if seg.flags & flags::ACK == 0 {
        return None;
    }
    let answer = if seg.flags & flags::RST != 0 {
        Answer::Reset
    } else if seg.flags & flags::SYN != 0 {
        Answer::SynAck
    } else {
        return None;
    };
    Some(Reply {
        target: SocketAddr::new(src, seg.src_port),
        our_port: seg.dst_port,
        cookie: seg.ack.wrapping_sub(1),
        answer,
    })
}

fn read_unreachable(v6: bool, icmp: &[u8]) -> Option<Reply> {
    let (code, quoted) = wire::parse_unreachable_tcp(v6, icmp)?;
    let (state, reason) = unreachable_answer(v6, code)?;
    Some(Reply {
        target: SocketAddr::new(quoted.dst, quoted.dst_port),
        our_port: quoted.src_port,
        cookie: quoted.seq,
        answer: Answer::Icmp(state, reason),
    })
}

impl Answer {
    fn outcome(self) -> Outcome {
        match self {
            Answer::SynAck => Outcome::HalfOpen,
            Answer::Reset => Outcome::Answer(PortState::Closed, Reason::ConnRefused),
            Answer::Icmp(state, reason) => Outcome::Answer(state, reason),
        }
    }
}

struct Waiting {
    cookie: u32,
    our_port: u16,
    id: u64,
    tx: oneshot::Sender<(Answer, Instant)>,
}

/// Probes awaiting their answer, by target, shared with the receivers.
#[derive(Default)]
pub struct Waiters {
    map: Mutex<HashMap<SocketAddr, Waiting>>,
}

impl Waiters {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Waiting>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hands `reply` to the probe it answers; false (and nothing happens) when no probe
    /// waits on that target with that source port and cookie.
    pub fn deliver(&self, reply: &Reply) -> bool {
        let mut map = self.lock();
        match map.get(&reply.target) {
            Some(w) if w.cookie == reply.cookie && w.our_port == reply.our_port => {}
            _ => return false,
        }
        if let Some(w) = map.remove(&reply.target) {
            let _ = w.tx.send((reply.answer, Instant::now()));
        }
        true
    }

    fn insert(&self, target: SocketAddr, waiting: Waiting) {
        self.lock().insert(target, waiting);
    }

    /// Drops the probe `id` on `target` if it still waits (a later try may have replaced it).
    fn forget(&self, target: SocketAddr, id: u64) {
        let mut map = self.lock();
        if map.get(&target).is_some_and(|w| w.id == id) {
            map.remove(&target);
        }
    }

    /// How many probes wait.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no probe waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The raw sockets and bookkeeping of SYN probing for one scan.
pub struct SynProber {
    waiters: Arc<Waiters>,
    tcp4: Arc<RawSocket>,
    /// Whether the IPv4 socket takes our IP header (see [`RawSocket::include_ip_header_v4`]).
    header_included: bool,
    tcp6: Option<Arc<RawSocket>>,
    keys: std::collections::hash_map::RandomState,
    ports: [u16; 2],
    _reserved: [Socket; 2],
    sources: Mutex<HashMap<IpAddr, Option<IpAddr>>>,
    next_id: AtomicU64,
    receivers: Vec<JoinHandle<()>>,
}

/// Receive buffer asked for each raw socket: a full-range scan's answers arrive in bursts.
const RECV_BUFFER: usize = 32 << 20;

impl SynProber {
    /// Opens the raw sockets (IPv4 required, IPv6 when the system has it), reserves two
    /// source ports and starts the receivers. Needs root or CAP_NET_RAW and a tokio runtime.
    pub fn open() -> io::Result<SynProber> {
        let raw = |domain, proto| -> io::Result<Arc<RawSocket>> {
            let s = RawSocket::open(domain, Type::RAW, proto)?;
            s.force_recv_buffer(RECV_BUFFER);
            Ok(Arc::new(s))
        };
        let tcp4 = raw(Domain::IPV4, Protocol::TCP)?;
        let header_included = tcp4.include_ip_header_v4().is_ok();
        let icmp4 = raw(Domain::IPV4, Protocol::ICMPV4)?;
        let v6 = raw(Domain::IPV6, Protocol::TCP)
            .and_then(|tcp| Ok((tcp, raw(Domain::IPV6, Protocol::ICMPV6)?)))
            .ok();
        let (first, a) = reserve_port()?;
        let (second, b) = reserve_port()?;
        let waiters = Arc::new(Waiters::default());
        let mut receivers = vec![
            spawn_receiver(tcp4.clone(), false, false, waiters.clone()),
            spawn_receiver(icmp4, false, true, waiters.clone()),
        ];
        let tcp6 = v6.map(|(tcp6, icmp6)| {
            receivers.push(spawn_receiver(tcp6.clone(), true, false, waiters.clone()));
            receivers.push(spawn_receiver(icmp6, true, true, waiters.clone()));
            tcp6
        });
        Ok(SynProber {
            waiters,
            tcp4,
            header_included,
            tcp6,
            keys: std::hash::RandomState::default(),
            ports: [first, second],
            _reserved: [a, b],
            sources: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            receivers,
        })
    }

    /// The cookie of a SYN from `src`:`our_port` to `target`.
    fn cookie(&self, src: IpAddr, our_port: u16, target: SocketAddr) -> u32 {
        self.keys.hash_one((src, our_port, target)) as u32
    }

    /// The source address the kernel uses towards `dst`, looked up once per address.
    fn source(&self, dst: IpAddr) -> Option<IpAddr> {
        let mut sources = self
            .sources
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *sources.entry(dst).or_insert_with(|| source_for(dst))
    }

    /// Starts one try: sends a SYN to `target` now, when the raw socket takes it without
    /// waiting (so the packet leaves when the engine starts the try, not when it next polls
    /// its futures), and returns the try whose answer is to be awaited. An outcome known at
    /// once (no route, no IPv6, a send error) comes back as `Err`.
    pub fn begin(self: &Arc<Self>, target: SocketAddr) -> Result<SynTry, (Outcome, Duration)> {
        let started = Instant::now();
        let unreachable = || {
            (
                Outcome::Answer(PortState::Filtered, Reason::NetUnreach),
                started.elapsed(),
            )
        };
        let sock = match target {
            SocketAddr::V4(_) => self.tcp4.clone(),
            SocketAddr::V6(_) => match &self.tcp6 {
                Some(s) => s.clone(),
                None => return Err(unreachable()),
            },
        };
        let Some(src) = self.source(target.ip()) else {
            return Err(unreachable());
        };
        let our_port = if target.port() == self.ports[0] {
            self.ports[1]
        } else {
            self.ports[0]
        };
        let cookie = self.cookie(src, our_port, target);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiters.insert(
            target,
            Waiting {
                cookie,
                our_port,
                id,
                tx,
            },
        );
        let syn = TcpSegment {
            src_port: our_port,
            dst_port: target.port(),
            seq: cookie,
            ack: 0,
            flags: flags::SYN,
        }
        .build(src, target.ip());
        let packet = match (src, target.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) if self.header_included => {
                Packet::WithHeader(wire::ipv4_packet(s, d, 6, &syn))
            }
            _ => Packet::Segment(syn),
        };
        let to = SocketAddr::new(target.ip(), 0);
        let sent = match sock.try_send_ip(packet.bytes(), to) {
            Ok(()) => Some(Instant::now()),
            Err(e) if is_pushback(&e) => None,
            Err(e) => {
                self.waiters.forget(target, id);
                return Err((classify_error(&e, || None), started.elapsed()));
            }
        };
        Ok(SynTry {
            prober: self.clone(),
            target,
            id,
            rx,
            unsent: sent.is_none().then_some((sock, packet)),
            sent,
            started,
        })
    }
}

/// What a SYN probe sends: the TCP segment, or (on an IPv4 socket that takes our header) the
/// whole IPv4 packet.
enum Packet {
    Segment([u8; 20]),
    WithHeader([u8; 40]),
}

impl Packet {
    fn bytes(&self) -> &[u8] {
        match self {
            Packet::Segment(s) => s,
            Packet::WithHeader(p) => p,
        }
    }
}

/// Whether a send error only says "not now" (the socket's buffer is full).
fn is_pushback(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::ENOBUFS)
}

/// One SYN probe started by [`SynProber::begin`], awaiting its answer.
pub struct SynTry {
    prober: Arc<SynProber>,
    target: SocketAddr,
    id: u64,
    rx: oneshot::Receiver<(Answer, Instant)>,
    /// The socket and the SYN, when the socket did not take it at once.
    unsent: Option<(Arc<RawSocket>, Packet)>,
    sent: Option<Instant>,
    started: Instant,
}

impl SynTry {
    /// Sends the SYN if it is still unsent and waits for its answer until the host's timeout
    /// (`timeout`, read again at least every `recheck`) has passed since the send. Returns the
    /// outcome and the round trip (or the time waited).
    pub async fn answer(
        self,
        timeout: impl Fn() -> Duration,
        recheck: Duration,
    ) -> (Outcome, Duration) {
        let SynTry {
            prober,
            target,
            id,
            rx,
            unsent,
            sent,
            started,
        } = self;
        let sent = match (sent, unsent) {
            (Some(at), _) => at,
            (None, Some((sock, packet))) => {
                if let Err(e) = sock
                    .send_ip(packet.bytes(), SocketAddr::new(target.ip(), 0))
                    .await
                {
                    prober.waiters.forget(target, id);
                    return (classify_error(&e, || None), started.elapsed());
                }
                Instant::now()
            }
            (None, None) => started,
        };
        let sent_at = tokio::time::Instant::from_std(sent);
        if let Some(Ok((answer, at))) = within_timeout(rx, sent_at, timeout, recheck).await {
            (answer.outcome(), at.saturating_duration_since(sent))
        } else {
            prober.waiters.forget(target, id);
            (Outcome::Timeout, sent.elapsed())
        }
    }
}

impl Drop for SynProber {
    fn drop(&mut self) {
        for r in &self.receivers {
            r.abort();
        }
    }
}

/// A TCP socket bound (not listening) to a port the kernel picks, which keeps that port ours
/// for the scan: dual-stack when the system has IPv6.
fn reserve_port() -> io::Result<(u16, Socket)> {
    let bind = |domain, addr: SocketAddr| -> io::Result<Socket> {
        let s = Socket::new(domain, Type::STREAM.cloexec(), Some(Protocol::TCP))?;
        if domain == Domain::IPV6 {
            s.set_only_v6(false)?;
        }
        s.bind(&addr.into())?;
        Ok(s)
    };
    let socket = bind(
        Domain::IPV6,
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    )
    .or_else(|_| {
        bind(
            Domain::IPV4,
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        )
    })?;
    let port = socket
        .local_addr()?
        .as_socket()
        .map(|a| a.port())
        .ok_or_else(|| io::Error::other("a bound socket has no port"))?;
    Ok((port, socket))
}

fn spawn_receiver(
    sock: Arc<RawSocket>,
    v6: bool,
    icmp: bool,
    waiters: Arc<Waiters>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        loop {
            let (n, channel) = if v6 {
                match sock.recv_from::<SockaddrIn6>(&mut buf).await {
                    Ok((n, _)) if icmp => (n, Channel::Icmp6),
                    Ok((n, Some(from))) => (n, Channel::Tcp6(from.ip())),
                    Ok(_) => continue,
                    Err(_) => return,
                }
            } else {
                match sock.recv_from::<SockaddrIn>(&mut buf).await {
                    Ok((n, _)) => (n, if icmp { Channel::Icmp4 } else { Channel::Tcp4 }),
                    Err(_) => return,
                }
            };
            if let Some(reply) = read_reply(channel, &buf[..n]) {
                waiters.deliver(&reply);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(
        cookie: u32,
        our_port: u16,
        id: u64,
    ) -> (Waiting, oneshot::Receiver<(Answer, Instant)>) {
        let (tx, rx) = oneshot::channel();
        (
            Waiting {
                cookie,
                our_port,
                id,
                tx,
            },
            rx,
        )
    }

    fn synack(from: SocketAddr, to_port: u16, ack: u32, f: u8) -> Vec<u8> {
        let mut packet = vec![0u8; 20];
        packet[0] = 0x45;
        packet[9] = 6;
        if let IpAddr::V4(v4) = from.ip() {
            packet[12..16].copy_from_slice(&v4.octets());
        }
        let seg = TcpSegment {
            src_port: from.port(),
            dst_port: to_port,
            seq: 77,
            ack,
            flags: f,
        };
        packet.extend_from_slice(&seg.build(from.ip(), "10.0.0.1".parse().unwrap()));
        packet
    }

    #[test]
    fn only_an_answer_with_the_cookie_port_and_target_reaches_the_probe() {
        let target: SocketAddr = "10.0.0.2:443".parse().unwrap();
        let w = Waiters::default();
        let (entry, mut rx) = waiting(1000, 40000, 1);
        w.insert(target, entry);
        let read = |p: Vec<u8>| read_reply(Channel::Tcp4, &p).unwrap();
        let sa = flags::SYN | flags::ACK;
        assert!(
            !w.deliver(&read(synack(target, 40000, 1000, sa))),
            "ack must be cookie + 1"
        );
        assert!(
            !w.deliver(&read(synack(target, 40001, 1001, sa))),
            "other source port"
        );
        let other: SocketAddr = "10.0.0.3:443".parse().unwrap();
        assert!(
            !w.deliver(&read(synack(other, 40000, 1001, sa))),
            "other host"
        );
        assert!(rx.try_recv().is_err());
        assert!(w.deliver(&read(synack(target, 40000, 1001, sa))));
        assert_eq!(rx.try_recv().unwrap().0, Answer::SynAck);
        assert!(w.is_empty());
        assert!(
            !w.deliver(&read(synack(target, 40000, 1001, sa))),
            "answered once"
        );
    }

    #[test]
    fn a_reset_must_acknowledge_the_syn() {
        let target: SocketAddr = "10.0.0.2:22".parse().unwrap();
        let p = synack(target, 40000, 501, flags::RST | flags::ACK);
        let reply = read_reply(Channel::Tcp4, &p).unwrap();
        assert_eq!(reply.answer, Answer::Reset);
        assert_eq!(reply.cookie, 500);
        assert_eq!(
            read_reply(Channel::Tcp4, &synack(target, 40000, 501, flags::RST)),
            None,
            "a RST without ACK answers no SYN"
        );
        assert_eq!(
            read_reply(Channel::Tcp4, &synack(target, 40000, 501, flags::SYN)),
            None,
            "a bare SYN (our own probe, seen on loopback) is no answer"
        );
    }

    #[test]
    fn a_late_try_is_not_forgotten_by_the_earlier_one() {
        let target: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let w = Waiters::default();
        let (first, _rx1) = waiting(5, 40000, 1);
        w.insert(target, first);
        let (second, _rx2) = waiting(5, 40000, 2);
        w.insert(target, second);
        w.forget(target, 1);
        assert_eq!(w.len(), 1);
        w.forget(target, 2);
        assert!(w.is_empty());
    }

    #[test]
    fn unreachable_codes_read_as_a_connect_would() {
        let icmp = |v6: bool, code: u8| {
            let mut m = vec![if v6 { 1 } else { 3 }, code, 0, 0, 0, 0, 0, 0];
            if v6 {
                let mut ip6 = [0u8; 40];
                ip6[0] = 0x60;
                ip6[6] = 6;
                m.extend_from_slice(&ip6);
            } else {
                let mut ip = [0u8; 20];
                ip[0] = 0x45;
                ip[9] = 6;
                m.extend_from_slice(&ip);
            }
            m.extend_from_slice(&[0x9c, 0x40, 0, 80, 0, 0, 0, 9]);
            read_unreachable(v6, &m).map(|r| (r.answer, r.our_port, r.cookie))
        };
        let filtered = |r| Some((Answer::Icmp(PortState::Filtered, r), 40000, 9));
        assert_eq!(icmp(false, 13), filtered(Reason::AdminProhibited));
        assert_eq!(icmp(false, 1), filtered(Reason::HostUnreach));
        assert_eq!(icmp(false, 0), filtered(Reason::NetUnreach));
        assert_eq!(
            icmp(false, 3),
            Some((
                Answer::Icmp(PortState::Closed, Reason::ConnRefused),
                40000,
                9
            ))
        );
        assert_eq!(icmp(false, 4), None, "fragmentation needed is no answer");
        assert_eq!(icmp(true, 1), filtered(Reason::AdminProhibited));
        assert_eq!(icmp(true, 3), filtered(Reason::HostUnreach));
        assert_eq!(icmp(true, 0), filtered(Reason::NetUnreach));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

        #[test]
        fn any_packet_on_any_channel_reads_without_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120),
            which in 0u8..4,
        ) {
            let channel = match which {
                0 => Channel::Tcp4,
                1 => Channel::Tcp6(Ipv6Addr::LOCALHOST),
                2 => Channel::Icmp4,
                _ => Channel::Icmp6,
            };
            let _ = read_reply(channel, &bytes);
        }

        #[test]
        fn a_mangled_answer_never_reaches_a_probe_it_does_not_match(
            cookie in proptest::prelude::any::<u32>(),
            wrong in proptest::prelude::any::<u32>(),
            flip in 0usize..40,
            bit in 0u8..8,
        ) {
            let target: SocketAddr = "10.0.0.2:443".parse().unwrap();
            let w = Waiters::default();
            let (entry, _rx) = waiting(cookie, 40000, 1);
            w.insert(target, entry);
            let ack = if wrong == cookie { cookie.wrapping_add(2) } else { wrong.wrapping_add(1) };
            let p = synack(target, 40000, ack, flags::SYN | flags::ACK);
            if let Some(r) = read_reply(Channel::Tcp4, &p) {
                proptest::prop_assert!(!w.deliver(&r), "wrong cookie delivered");
            }
            // Any one-bit change to the right answer's addresses, ports or numbers either
            // still names this very probe or is ignored.
            let mut p = synack(target, 40000, cookie.wrapping_add(1), flags::SYN | flags::ACK);
            p[if flip < 20 { 12 + flip % 4 } else { 20 + (flip - 20) % 12 }] ^= 1 << bit;
            if let Some(r) = read_reply(Channel::Tcp4, &p)
                && w.deliver(&r)
            {
                proptest::prop_assert_eq!(r.target, target);
                proptest::prop_assert_eq!(r.our_port, 40000);
                proptest::prop_assert_eq!(r.cookie, cookie);
            }
        }
    }
}
