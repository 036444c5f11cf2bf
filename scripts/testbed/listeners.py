#!/usr/bin/env python3
"""TCP listeners and UDP responders of one test-bed host, from plan.py.

Every socket is bound on the IPv6 wildcard with IPV6_V6ONLY off, so it
answers on the namespace's IPv4 and IPv6 addresses alike.
TCP: accept, send the port's banner line if it has one, half-close, then
read and discard until the peer closes (so a probe that sends data gets a
FIN, not a reset). UDP: answer each datagram with b"PWTB " + its start.
The pid file is written once every socket is bound: callers wait for it.

Usage: listeners.py HOST PIDFILE
"""

import os
import selectors
import signal
import socket
import sys
import time

import plan

DRAIN_SECONDS = 10
UDP_ECHO_BYTES = 512


def bound_socket(kind, port):
    """A non-blocking dual-stack socket bound to [::]:port."""
    sock = socket.socket(socket.AF_INET6, kind)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("::", port))
    if kind == socket.SOCK_STREAM:
        sock.listen(1024)
    sock.setblocking(False)
    return sock


class Server:
    """One selector loop over all listening, connected and UDP sockets."""

    def __init__(self, tcp_ports, udp_ports, banners):
        self.sel = selectors.DefaultSelector()
        self.banners = banners
        self.deadlines = {}
        for port in tcp_ports:
            self.sel.register(bound_socket(socket.SOCK_STREAM, port),
                              selectors.EVENT_READ, ("listen", port))
        for port in udp_ports:
            self.sel.register(bound_socket(socket.SOCK_DGRAM, port),
                              selectors.EVENT_READ, ("udp", port))

    def accept_all(self, listener, port):
        while True:
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            conn.setblocking(False)
            try:
                banner = self.banners.get(port)
                if banner:
                    conn.send(banner.encode() + b"\r\n")
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                conn.close()
                continue
            self.sel.register(conn, selectors.EVENT_READ, ("conn", port))
            self.deadlines[conn] = time.monotonic() + DRAIN_SECONDS

    def drain(self, conn):
        try:
            data = conn.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.close(conn)

    def close(self, conn):
        self.sel.unregister(conn)
        self.deadlines.pop(conn, None)
        conn.close()

    def answer_udp(self, sock):
        while True:
            try:
                data, peer = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            try:
                sock.sendto(b"PWTB " + data[:UDP_ECHO_BYTES], peer)
            except OSError:
                pass

    def run(self):
        while True:
            for key, _ in self.sel.select(timeout=1.0):
                role, port = key.data
                if role == "listen":
                    self.accept_all(key.fileobj, port)
                elif role == "conn":
                    self.drain(key.fileobj)
                else:
                    self.answer_udp(key.fileobj)
            now = time.monotonic()
            for conn in [c for c, t in self.deadlines.items() if t < now]:
                self.close(conn)


def main(argv):
    if len(argv) != 2:
        raise SystemExit(__doc__)
    host, pidfile = argv
    truth, _, extra = plan.host_truth(host)
    banners = {int(p): b for p, b in extra.get("banners", {}).items()}
    server = Server(truth["tcp"]["open"], truth["udp"]["open"], banners)

    def stop(_signum, _frame):
        try:
            os.unlink(pidfile)
        except OSError:
            pass
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    tmp = f"{pidfile}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{os.getpid()}\n")
    os.rename(tmp, pidfile)
    server.run()


if __name__ == "__main__":
    main(sys.argv[1:])
