//! Host discovery before a port scan (nmap's ping scan): which targets are up, and why.
//!
//! With raw-socket privilege (root or CAP_NET_RAW): addresses on a directly connected
//! Ethernet subnet get ARP requests, and IPv6 addresses in a directly connected prefix
//! neighbour solicitations to their solicited-node multicast address; every other address
//! gets an ICMP echo request, an ICMP timestamp request (IPv4), a TCP SYN to port 443 and a
//! TCP ACK to port 80. The first answer proves the host up: `arp-response`, `nd-response`
//! (a neighbour advertisement for the address), `echo-reply`, `timestamp-reply`, `syn-ack`
//! (a SYN-ACK from 443) or `reset` (a RST from 443 or 80). TCP answers are matched to the
//! probe by a keyed cookie in the sequence number; anything else is ignored. This
//! machine's own addresses are up at once (`localhost-response`). Unanswered addresses are
//! tried again (`--retries`), each round waiting the adaptive timeout of the scan's timing
//! code, then called down.
//!
//! Without privilege the front end falls back to the port scan's connect-based liveness.

mod iface;
pub(crate) mod raw;
pub mod vendor;
pub mod wire;

use crate::engine::timing::{RttEstimator, TimeoutBounds};
use crate::error::{Result, ScanError};
use crate::model::Reason;
use crate::targets::Target;
use governor::DefaultDirectRateLimiter;
use iface::Interfaces;
pub use iface::LocalAddrs;
use nix::sys::socket::{LinkAddr, SockaddrIn6};
use raw::RawSocket;
use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Type};
use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV6, UdpSocket};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use wire::{TcpSegment, flags, icmp_type};

/// Why a host is considered up (nmap's `--reason` words).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum LiveReason {
    /// The address is this machine's own.
    LocalhostResponse,
    /// It answered an ARP request.
    ArpResponse,
    /// It answered an IPv6 neighbour solicitation.
    NdResponse,
    /// It answered an ICMP echo request.
    EchoReply,
    /// It answered an ICMP timestamp request.
    TimestampReply,
    /// A TCP SYN-ACK came back.
    SynAck,
    /// A TCP reset came back.
    Reset,
    /// Unprivileged check only: the host's own firewall refused the connect.
    AdminProhibited,
}

impl LiveReason {
    /// The contract string.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for LiveReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Proof that a host is up.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveHost {
    /// The first answer that came back.
    pub reason: LiveReason,
    /// Hardware address, when ARP or neighbour discovery answered.
    pub mac: Option<[u8; 6]>,
    /// Time from the last request to the answer.
    pub rtt: Option<Duration>,
}

/// What discovery concluded about one target.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Up, and why.
    Up(LiveHost),
    /// Down: `no-response`, or why no request could be sent (`net-unreach`, …).
    Down(Reason),
}

/// How hard to try.
#[derive(Debug, Clone, Copy)]
pub struct DiscoverOptions {
    /// Rounds of requests to an address that has not answered.
    pub tries: u8,
    /// Bounds of the adaptive wait after each round.
    pub timeouts: TimeoutBounds,
    /// Cap on packets sent per second.
    pub rate: Option<NonZeroU32>,
}

/// Whether this process may open raw sockets (root or CAP_NET_RAW).
pub fn privileged() -> bool {
    socket2::Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).is_ok()
}

/// Formats a MAC address as `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: [u8; 6]) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}

/// TCP port of the SYN probe.
const SYN_PORT: u16 = 443;
/// TCP port of the ACK probe.
const ACK_PORT: u16 = 80;

#[derive(Debug, Clone, Copy)]
enum Route {
    Local,
    Lan(usize),
    Lan6(usize),
    Remote,
}

/// What the receivers and the sender share.
struct Book {
    index: HashMap<IpAddr, usize>,
    up: Vec<Option<LiveHost>>,
    sent: Vec<Option<Instant>>,
    /// For ARP targets: the interface the answer must arrive on.
    ifindex: Vec<Option<usize>>,
    /// Targets asked by neighbour solicitation: only for those does an advertisement count.
    by_nd: Vec<bool>,
    rtt: RttEstimator,
    remaining: usize,
}

struct Shared {
    book: Mutex<Book>,
    answered: Notify,
    icmp_id: u16,
    src_port: u16,
    keys: std::collections::hash_map::RandomState,
}

impl Shared {
    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn cookie(&self, addr: IpAddr, port: u16) -> u32 {
        self.keys.hash_one((addr, port, self.src_port)) as u32
    }

    /// Records a neighbour advertisement for `target`: it counts only for targets that were
    /// asked by neighbour solicitation.
    fn answer_nd(&self, advert: wire::NeighborAdvert) {
        let addr = IpAddr::V6(advert.target);
        let asked = {
            let book = self.book();
            book.index.get(&addr).is_some_and(|&i| book.by_nd[i])
        };
        if asked {
            self.answer(addr, LiveReason::NdResponse, advert.mac, None);
        }
    }

    /// Records an answer from `addr`; answers from addresses not asked about are ignored.
    fn answer(
        &self,
        addr: IpAddr,
        reason: LiveReason,
        mac: Option<[u8; 6]>,
        ifindex: Option<usize>,
    ) {
        let mut book = self.book();
        let Some(&i) = book.index.get(&addr) else {
            return;
        };
        if book.up[i].is_some() || (ifindex.is_some() && book.ifindex[i] != ifindex) {
            return;
        }
        let rtt = book.sent[i].map(|t| t.elapsed());
        if let Some(rtt) = rtt {
            book.rtt.sample(rtt);
        }
        book.up[i] = Some(LiveHost { reason, mac, rtt });
        book.remaining -= 1;
        // Every answer may shorten the wait (a new RTT sample) or end it.
        self.answered.notify_one();
    }
}

struct Sockets {
    arp: Option<Arc<RawSocket>>,
    icmp4: Option<Arc<RawSocket>>,
    icmp6: Option<Arc<RawSocket>>,
    tcp4: Option<Arc<RawSocket>>,
    tcp6: Option<Arc<RawSocket>>,
}

/// Finds which of `targets` are up. One verdict per target, in the same order.
pub async fn discover(targets: &[Target], opts: &DiscoverOptions) -> Result<Vec<Verdict>> {
    let ifaces = Interfaces::read();
    let routes: Vec<Route> = targets
        .iter()
        .map(|t| {
            if ifaces.is_local(t.addr) {
                Route::Local
            } else if let Some(lan) = ifaces.lan_of(t.addr) {
                Route::Lan(
                    ifaces
                        .lans
                        .iter()
                        .position(|l| l.name == lan.name && l.net == lan.net)
                        .unwrap_or(0),
                )
            } else if let Some(lan) = ifaces.lan6_of(t.addr) {
                Route::Lan6(
                    ifaces
                        .lans6
                        .iter()
                        .position(|l| l.name == lan.name && l.net == lan.net)
                        .unwrap_or(0),
                )
            } else {
                Route::Remote
            }
        })
        .collect();
    let keys = std::collections::hash_map::RandomState::new();
    let noise = keys.hash_one(std::process::id());
    let shared = Arc::new(Shared {
        book: Mutex::new(Book {
            index: HashMap::with_capacity(targets.len()),
            up: vec![None; targets.len()],
            sent: vec![None; targets.len()],
            ifindex: routes
                .iter()
                .map(|r| match r {
                    Route::Lan(l) => Some(ifaces.lans[*l].link.ifindex()),
                    _ => None,
                })
                .collect(),
            by_nd: routes.iter().map(|r| matches!(r, Route::Lan6(_))).collect(),
            rtt: RttEstimator::new(opts.timeouts),
            remaining: 0,
        }),
        answered: Notify::new(),
        icmp_id: noise as u16,
        src_port: 33000 + (noise >> 16) as u16 % 27000,
        keys,
    });
    {
        let mut book = shared.book();
        for (i, t) in targets.iter().enumerate() {
            book.index.entry(t.addr).or_insert(i);
        }
        for (i, (t, route)) in targets.iter().zip(&routes).enumerate() {
            if matches!(route, Route::Local) {
                book.up[i] = Some(LiveHost {
                    reason: LiveReason::LocalhostResponse,
                    mac: None,
                    rtt: None,
                });
            } else if book.index.get(&t.addr) == Some(&i) {
                book.remaining += 1;
            }
        }
    }
    let need =
        |f: &dyn Fn(&Target, &Route) -> bool| targets.iter().zip(&routes).any(|(t, r)| f(t, r));
    let open = |want: bool, domain, ty, proto| -> Result<Option<Arc<RawSocket>>> {
        if !want {
            return Ok(None);
        }
        RawSocket::open(domain, ty, proto)
            .map(|s| Some(Arc::new(s)))
            .map_err(|e| ScanError::Io {
                op: "open a raw socket for host discovery (needs root or CAP_NET_RAW)".into(),
                source: e,
            })
    };
    let remote4 = need(&|t, r| matches!(r, Route::Remote) && t.addr.is_ipv4());
    let remote6 = need(&|t, r| matches!(r, Route::Remote) && t.addr.is_ipv6());
    let lan6 = need(&|_, r| matches!(r, Route::Lan6(_)));
    let sockets = Sockets {
        arp: if need(&|_, r| matches!(r, Route::Lan(_))) {
            Some(Arc::new(RawSocket::arp().map_err(|e| ScanError::Io {
                op: "open a packet socket for ARP (needs root or CAP_NET_RAW)".into(),
                source: e,
            })?))
        } else {
            None
        },
        icmp4: open(remote4, Domain::IPV4, Type::RAW, Protocol::ICMPV4)?,
        icmp6: open(remote6 || lan6, Domain::IPV6, Type::RAW, Protocol::ICMPV6)?,
        tcp4: open(remote4, Domain::IPV4, Type::RAW, Protocol::TCP)?,
        tcp6: open(remote6, Domain::IPV6, Type::RAW, Protocol::TCP)?,
    };
    if let (true, Some(sock)) = (lan6, &sockets.icmp6) {
        // Receivers drop neighbour discovery messages that crossed a router (RFC 4861
        // section 7.1.1): they must leave with the largest hop limit.
        sock.set_multicast_hops_v6(255).map_err(|e| ScanError::Io {
            op: "set the hop limit of neighbour solicitations".into(),
            source: e,
        })?;
    }
    let receivers = spawn_receivers(&sockets, &shared);
    let result = send_rounds(targets, &routes, &ifaces, &sockets, &shared, opts).await;
    for r in receivers {
        r.abort();
    }
    let failed = result?;
    let book = shared.book();
    Ok(targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let first = book.index.get(&t.addr).copied().unwrap_or(i);
            match &book.up[if matches!(routes[i], Route::Local) {
                i
            } else {
                first
            }] {
                Some(live) => Verdict::Up(live.clone()),
                None => Verdict::Down(failed[first].unwrap_or(Reason::NoResponse)),
            }
        })
        .collect())
}

fn spawn_receivers(s: &Sockets, shared: &Arc<Shared>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    if let Some(sock) = s.arp.clone() {
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let mut buf = [0u8; 1600];
            while let Ok((n, from)) = sock.recv_from::<LinkAddr>(&mut buf).await {
                if let Some(reply) = wire::parse_arp_reply(&buf[..n]) {
                    let ifindex = from.map(|f| f.ifindex());
                    shared.answer(
                        IpAddr::V4(reply.sender_ip),
                        LiveReason::ArpResponse,
                        Some(reply.sender_mac),
                        ifindex,
                    );
                }
            }
        }));
    }
    if let Some(sock) = s.icmp4.clone() {
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let mut buf = [0u8; 1600];
            while let Ok((n, _)) = sock
                .recv_from::<nix::sys::socket::SockaddrIn>(&mut buf)
                .await
            {
                let Some((src, _, icmp)) = wire::parse_ipv4(&buf[..n]) else {
                    continue;
                };
                let Some(h) = wire::parse_icmp(icmp) else {
                    continue;
                };
                let reason = match h.kind {
                    icmp_type::ECHO_REPLY => LiveReason::EchoReply,
                    icmp_type::TIMESTAMP_REPLY => LiveReason::TimestampReply,
                    _ => continue,
                };
                if h.id == shared.icmp_id {
                    shared.answer(IpAddr::V4(src), reason, None, None);
                }
            }
        }));
    }
    if let Some(sock) = s.icmp6.clone() {
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let mut buf = [0u8; 1600];
            while let Ok((n, from)) = sock.recv_from::<SockaddrIn6>(&mut buf).await {
                let (Some(h), Some(from)) = (wire::parse_icmp(&buf[..n]), from) else {
                    continue;
                };
                if h.kind == icmp_type::NEIGHBOR_ADVERT {
                    if let Some(advert) = wire::parse_neighbor_advert(&buf[..n]) {
                        shared.answer_nd(advert);
                    }
                } else if h.kind == icmp_type::ECHO6_REPLY && h.id == shared.icmp_id {
                    shared.answer(IpAddr::V6(from.ip()), LiveReason::EchoReply, None, None);
                }
            }
        }));
    }
    for (sock, v6) in [(s.tcp4.clone(), false), (s.tcp6.clone(), true)] {
        let Some(sock) = sock else { continue };
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let mut buf = [0u8; 1600];
            loop {
                let (src, segment) = if v6 {
                    match sock.recv_from::<SockaddrIn6>(&mut buf).await {
                        Ok((n, Some(from))) => {
                            (IpAddr::V6(from.ip()), TcpSegment::parse(&buf[..n]))
                        }
                        Ok(_) => continue,
                        Err(_) => return,
                    }
                } else {
                    match sock
                        .recv_from::<nix::sys::socket::SockaddrIn>(&mut buf)
                        .await
                    {
                        Ok((n, _)) => match wire::parse_ipv4(&buf[..n]) {
                            Some((src, 6, tcp)) => (IpAddr::V4(src), TcpSegment::parse(tcp)),
                            _ => continue,
                        },
                        Err(_) => return,
                    }
                };
                if let Some(seg) = segment
                    && let Some(reason) = tcp_answer(&shared, src, &seg)
                {
                    shared.answer(src, reason, None, None);
                }
            }
        }));
    }
    tasks
}

/// The proof of life in a TCP segment from `src`, if it answers one of our probes.
fn tcp_answer(shared: &Shared, src: IpAddr, seg: &TcpSegment) -> Option<LiveReason> {
    if seg.dst_port != shared.src_port {
        return None;
    }
    let syn_cookie = shared.cookie(src, SYN_PORT);
    let ack_cookie = shared.cookie(src, ACK_PORT);
    let f = seg.flags;
    match seg.src_port {
        SYN_PORT if seg.ack == syn_cookie.wrapping_add(1) => {
            if f & (flags::SYN | flags::ACK) == flags::SYN | flags::ACK {
                Some(LiveReason::SynAck)
            } else if f & flags::RST != 0 {
                Some(LiveReason::Reset)
            } else {
                None
            }
        }
        ACK_PORT if f & flags::RST != 0 && seg.seq == ack_cookie => Some(LiveReason::Reset),
        _ => None,
    }
}

/// Sends up to `opts.tries` rounds; returns, per target, why nothing could be sent to it.
async fn send_rounds(
    targets: &[Target],
    routes: &[Route],
    ifaces: &Interfaces,
    s: &Sockets,
    shared: &Arc<Shared>,
    opts: &DiscoverOptions,
) -> Result<Vec<Option<Reason>>> {
    let mut failed: Vec<Option<Reason>> = vec![None; targets.len()];
    let rate: Option<DefaultDirectRateLimiter> = opts.rate.map(crate::engine::pacer);
    let mut sources: HashMap<IpAddr, Option<IpAddr>> = HashMap::new();
    for _ in 0..opts.tries.max(1) {
        let todo: Vec<usize> = {
            let book = shared.book();
            (0..targets.len())
                .filter(|&i| {
                    book.index.get(&targets[i].addr) == Some(&i)
                        && book.up[i].is_none()
                        && failed[i].is_none()
                })
                .collect()
        };
        if todo.is_empty() {
            break;
        }
        let mut last_send = Instant::now();
        for (n, i) in todo.into_iter().enumerate() {
            if n % 64 == 63 {
                // Let the receivers fold in answers (and RTT samples) while we send.
                tokio::task::yield_now().await;
            }
            let addr = targets[i].addr;
            shared.book().sent[i] = Some(Instant::now());
            let mut sent_any = false;
            let mut error = None;
            let mut note = |r: io::Result<()>| match r {
                Ok(()) => sent_any = true,
                Err(e) => error = Some(e),
            };
            match routes[i] {
                Route::Local => continue,
                Route::Lan(l) => {
                    let (lan, IpAddr::V4(v4), Some(sock)) = (&ifaces.lans[l], addr, &s.arp) else {
                        continue;
                    };
                    limit(rate.as_ref()).await;
                    note(
                        sock.send_link(&wire::arp_request(lan.mac, lan.addr, v4), &lan.link)
                            .await,
                    );
                }
                Route::Lan6(l) => {
                    let (lan, IpAddr::V6(v6), Some(sock)) = (&ifaces.lans6[l], addr, &s.icmp6)
                    else {
                        continue;
                    };
                    let group = SocketAddrV6::new(wire::solicited_node(v6), 0, 0, lan.ifindex);
                    limit(rate.as_ref()).await;
                    note(
                        sock.send_ip(
                            &wire::neighbor_solicitation(lan.mac, v6),
                            SocketAddr::V6(group),
                        )
                        .await,
                    );
                }
                Route::Remote => {
                    let v6 = addr.is_ipv6();
                    let to = SocketAddr::new(addr, 0);
                    if let Some(sock) = if v6 { &s.icmp6 } else { &s.icmp4 } {
                        limit(rate.as_ref()).await;
                        note(
                            sock.send_ip(&wire::echo_request(v6, shared.icmp_id, i as u16), to)
                                .await,
                        );
                        if !v6 {
                            limit(rate.as_ref()).await;
                            note(
                                sock.send_ip(
                                    &wire::timestamp_request(shared.icmp_id, i as u16),
                                    to,
                                )
                                .await,
                            );
                        }
                    }
                    let src = *sources.entry(addr).or_insert_with(|| source_for(addr));
                    if let (Some(src), Some(sock)) = (src, if v6 { &s.tcp6 } else { &s.tcp4 }) {
                        let syn = TcpSegment {
                            src_port: shared.src_port,
                            dst_port: SYN_PORT,
                            seq: shared.cookie(addr, SYN_PORT),
                            ack: 0,
                            flags: flags::SYN,
                        };
                        let ack_cookie = shared.cookie(addr, ACK_PORT);
                        let ack = TcpSegment {
                            src_port: shared.src_port,
                            dst_port: ACK_PORT,
                            seq: ack_cookie,
                            ack: ack_cookie,
                            flags: flags::ACK,
                        };
                        for seg in [syn, ack] {
                            limit(rate.as_ref()).await;
                            note(sock.send_ip(&seg.build(src, addr), to).await);
                        }
                    }
                }
            }
            if !sent_any {
                failed[i] = Some(error.as_ref().map_or(Reason::NoResponse, send_error_reason));
            }
            last_send = Instant::now();
        }
        wait_round(shared, last_send).await;
    }
    Ok(failed)
}

async fn limit(rate: Option<&DefaultDirectRateLimiter>) {
    if let Some(rate) = rate {
        rate.until_ready().await;
    }
}

/// Why a request could not be sent at all.
fn send_error_reason(e: &io::Error) -> Reason {
    match e.raw_os_error() {
        Some(libc::EACCES | libc::EPERM) => Reason::AdminProhibited,
        Some(libc::EHOSTUNREACH) => Reason::HostUnreach,
        _ => Reason::NetUnreach,
    }
}

/// The source address the kernel would use towards `dst` (no packet is sent).
pub(crate) fn source_for(dst: IpAddr) -> Option<IpAddr> {
    let bind: SocketAddr = if dst.is_ipv4() {
        "0.0.0.0:0".parse().ok()?
    } else {
        "[::]:0".parse().ok()?
    };
    let socket = UdpSocket::bind(bind).ok()?;
    socket.connect(SocketAddr::new(dst, SYN_PORT)).ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}

/// Waits until every target answered or the adaptive timeout after the round's last
/// request has passed.
async fn wait_round(shared: &Shared, last_send: Instant) {
    loop {
        let (remaining, timeout) = {
            let book = shared.book();
            (book.remaining, book.rtt.timeout())
        };
        let deadline = last_send + timeout;
        if remaining == 0 || Instant::now() >= deadline {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {}
            () = shared.answered.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(targets: &[IpAddr]) -> Shared {
        Shared {
            book: Mutex::new(Book {
                index: targets.iter().enumerate().map(|(i, a)| (*a, i)).collect(),
                up: vec![None; targets.len()],
                sent: vec![None; targets.len()],
                ifindex: vec![None; targets.len()],
                by_nd: vec![false; targets.len()],
                rtt: RttEstimator::new(TimeoutBounds::default()),
                remaining: targets.len(),
            }),
            answered: Notify::new(),
            icmp_id: 7,
            src_port: 40000,
            keys: std::collections::hash_map::RandomState::new(),
        }
    }

    fn addr(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn tcp_answers_count_only_with_the_right_cookie_and_port() {
        let s = shared(&[addr("10.0.0.2")]);
        let src = addr("10.0.0.2");
        let syn = s.cookie(src, SYN_PORT);
        let ack = s.cookie(src, ACK_PORT);
        let seg = |src_port, dst_port, seq, ack, flags| TcpSegment {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
        };
        let synack = flags::SYN | flags::ACK;
        assert_eq!(
            tcp_answer(&s, src, &seg(443, 40000, 1, syn.wrapping_add(1), synack)),
            Some(LiveReason::SynAck)
        );
        assert_eq!(
            tcp_answer(
                &s,
                src,
                &seg(443, 40000, 0, syn.wrapping_add(1), flags::RST | flags::ACK)
            ),
            Some(LiveReason::Reset)
        );
        assert_eq!(
            tcp_answer(&s, src, &seg(80, 40000, ack, 0, flags::RST)),
            Some(LiveReason::Reset)
        );
        // Wrong cookie, wrong port, someone else's answer: ignored.
        assert_eq!(tcp_answer(&s, src, &seg(443, 40000, 1, syn, synack)), None);
        assert_eq!(
            tcp_answer(&s, src, &seg(443, 40001, 1, syn.wrapping_add(1), synack)),
            None
        );
        assert_eq!(
            tcp_answer(&s, src, &seg(80, 40000, ack ^ 1, 0, flags::RST)),
            None
        );
        assert_eq!(
            tcp_answer(
                &s,
                addr("10.0.0.3"),
                &seg(443, 40000, 1, syn.wrapping_add(1), synack)
            ),
            None,
            "the cookie is keyed by address"
        );
    }

    #[test]
    fn answers_from_addresses_not_asked_about_are_ignored() {
        let s = shared(&[addr("10.0.0.2")]);
        s.answer(addr("10.0.0.9"), LiveReason::EchoReply, None, None);
        assert_eq!(s.book().remaining, 1);
        s.answer(addr("10.0.0.2"), LiveReason::EchoReply, None, None);
        s.answer(addr("10.0.0.2"), LiveReason::Reset, None, None);
        let book = s.book();
        assert_eq!(book.remaining, 0);
        assert_eq!(
            book.up[0].as_ref().map(|l| l.reason),
            Some(LiveReason::EchoReply)
        );
    }

    #[test]
    fn advertisements_count_only_for_targets_asked_by_solicitation() {
        let s = shared(&[addr("fd00::2"), addr("fd00::3")]);
        s.book().by_nd[0] = true;
        let advert = |a: &str| wire::NeighborAdvert {
            target: a.parse().unwrap(),
            mac: Some([2, 0, 0, 0, 0, 2]),
        };
        s.answer_nd(advert("fd00::3"));
        s.answer_nd(advert("fd00::9"));
        assert_eq!(s.book().remaining, 2, "not asked by solicitation");
        s.answer_nd(advert("fd00::2"));
        let book = s.book();
        assert_eq!(book.remaining, 1);
        let live = book.up[0].as_ref().unwrap();
        assert_eq!(
            (live.reason, live.mac),
            (LiveReason::NdResponse, Some([2, 0, 0, 0, 0, 2]))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_round_waits_the_initial_timeout() {
        let s = shared(&[addr("10.0.0.2")]);
        let start = Instant::now();
        wait_round(&s, start).await;
        assert_eq!(start.elapsed(), TimeoutBounds::default().initial);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_shortens_the_wait_to_the_adaptive_timeout() {
        let s = Arc::new(shared(&[addr("10.0.0.2"), addr("10.0.0.3")]));
        let start = Instant::now();
        s.book().sent[0] = Some(start);
        let answerer = {
            let s = s.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                s.answer(addr("10.0.0.2"), LiveReason::EchoReply, None, None);
            })
        };
        wait_round(&s, start).await;
        answerer.await.unwrap();
        // One 1 ms sample: srtt + 4 × rttvar = 3 ms, floored at the 100 ms minimum.
        assert_eq!(start.elapsed(), TimeoutBounds::default().min);
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_ends_when_everyone_answered() {
        let s = Arc::new(shared(&[addr("10.0.0.2")]));
        let start = Instant::now();
        let answerer = {
            let s = s.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                s.answer(
                    addr("10.0.0.2"),
                    LiveReason::ArpResponse,
                    Some([2; 6]),
                    None,
                );
            })
        };
        wait_round(&s, start).await;
        answerer.await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(5));
    }
}
