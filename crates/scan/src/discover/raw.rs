//! Raw and packet sockets driven by tokio, through safe APIs only: socket2 opens them, tokio
//! registers the descriptor (as a datagram socket, which is all its readiness tracking needs),
//! and nix does `sendto`/`recvfrom` with link-layer addresses.

use nix::sys::socket::{LinkAddr, MsgFlags, SockaddrLike, recvfrom, sendto};
use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// A non-blocking raw socket registered with tokio.
pub struct RawSocket {
    fd: UdpSocket,
}

/// How often a send is retried when the kernel is short of buffers.
const PUSHBACK_TRIES: u32 = 200;

impl RawSocket {
    /// A raw socket of `domain` for `protocol` (ICMP, ICMPv6, TCP), or a packet socket.
    pub fn open(domain: Domain, ty: Type, protocol: Protocol) -> io::Result<Self> {
        let socket = Socket::new(domain, ty, Some(protocol))?;
        socket.set_nonblocking(true)?;
        let _ = socket.set_recv_buffer_size(4 << 20);
        Ok(RawSocket {
            fd: UdpSocket::from_std(std::net::UdpSocket::from(socket))?,
        })
    }

    /// Asks for a receive buffer of `bytes`, above the system's `rmem_max` (the privilege that
    /// opened the socket allows it); best effort.
    pub fn force_recv_buffer(&self, bytes: usize) {
        let _ =
            nix::sys::socket::setsockopt(&self.fd, nix::sys::socket::sockopt::RcvBufForce, &bytes);
    }

    /// Makes this IPv4 raw socket take the IP header from each packet it sends
    /// (`IP_HDRINCL`). The kernel then neither builds a header nor corks the send under the
    /// socket's lock, which lets several senders share the socket without waiting on each
    /// other.
    pub fn include_ip_header_v4(&self) -> io::Result<()> {
        SockRef::from(&self.fd).set_header_included_v4(true)
    }

    /// The hop limit of multicast packets this (IPv6) socket sends.
    pub fn set_multicast_hops_v6(&self, hops: u32) -> io::Result<()> {
        SockRef::from(&self.fd).set_multicast_hops_v6(hops)
    }

    /// An `AF_PACKET` socket that receives every ARP frame on every interface.
    pub fn arp() -> io::Result<Self> {
        let proto = i32::from(super::wire::ETHERTYPE_ARP.to_be());
        Self::open(Domain::PACKET, Type::RAW, Protocol::from(proto))
    }

    /// Sends `buf` to `addr` (port ignored by raw IP sockets).
    pub async fn send_ip(&self, buf: &[u8], addr: SocketAddr) -> io::Result<()> {
        let to = SockAddr::from(addr);
        self.send_with(|s| SockRef::from(s).send_to(buf, &to).map(drop))
            .await
    }

    /// Sends `buf` to `addr` now if the socket takes it without waiting; a `WouldBlock` or
    /// `ENOBUFS` error says it did not, and [`RawSocket::send_ip`] is the way to wait.
    pub fn try_send_ip(&self, buf: &[u8], addr: SocketAddr) -> io::Result<()> {
        let to = SockAddr::from(addr);
        self.fd.try_io(Interest::WRITABLE, || {
            SockRef::from(&self.fd).send_to(buf, &to).map(drop)
        })
    }

    /// Sends the Ethernet frame `frame` out of the interface `link` names.
    pub async fn send_link(&self, frame: &[u8], link: &LinkAddr) -> io::Result<()> {
        self.send_with(|s| {
            sendto(s.as_raw_fd(), frame, link, MsgFlags::empty())
                .map(drop)
                .map_err(io::Error::from)
        })
        .await
    }

    async fn send_with(&self, send: impl Fn(&UdpSocket) -> io::Result<()>) -> io::Result<()> {
        let mut tries = 0;
        loop {
            match self.fd.try_io(Interest::WRITABLE, || send(&self.fd)) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.fd.writable().await?;
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) && tries < PUSHBACK_TRIES => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                other => return other,
            }
        }
    }

    /// Receives one packet and the address it came from.
    pub async fn recv_from<A: SockaddrLike>(
        &self,
        buf: &mut [u8],
    ) -> io::Result<(usize, Option<A>)> {
        loop {
            self.fd.readable().await?;
            let got = self.fd.try_io(Interest::READABLE, || {
                recvfrom::<A>(self.fd.as_raw_fd(), buf).map_err(io::Error::from)
            });
            // WouldBlock: another reader took the datagram; wait for the next.
            if !matches!(&got, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
                return got;
            }
        }
    }
}
