#!/usr/bin/env python3
"""Sends this crate's encoded requests to throwaway test servers and saves the
raw answers under tests/fixtures/. Requests come from
`cargo run -p portwatch-proto --example requests`, so the fixtures answer
exactly the bytes the crate builds.

Usage: capture.py samba            (after hosts.sh up; talks to 10.203.250.2/.6 only)
       capture.py local            (loopback services of this machine, 127.0.0.1 only)
       capture.py udp NAME HOST PORT OUTFILE  (one UDP request; HOST must be ours)
"""
import os
import socket
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures")
ALLOWED_PREFIXES = ("127.", "10.203.250.")


def requests():
    out = subprocess.run(
        ["cargo", "run", "-q", "-p", "portwatch-proto", "--example", "requests"],
        check=True, capture_output=True, text=True).stdout
    return {name: bytes.fromhex(h) for name, h in (l.split("\t") for l in out.splitlines())}


def check_host(host):
    if not host.startswith(ALLOWED_PREFIXES):
        sys.exit(f"refusing to send to {host}: not loopback or our namespace")


def save(name, data):
    with open(os.path.join(FIXTURES, name), "wb") as f:
        f.write(data)
    print(f"saved {name}: {len(data)} bytes")


def recv_frame(sock):
    """Reads one NetBIOS session packet; returns (header, payload) or None on close."""
    buf = b""
    while len(buf) < 4:
        chunk = sock.recv(4 - len(buf))
        if not chunk:
            return None
        buf += chunk
    if buf[0] == 0:
        length = int.from_bytes(buf[1:4], "big")
    else:
        length = ((buf[1] & 1) << 16) | int.from_bytes(buf[2:4], "big")
    payload = b""
    while len(payload) < length:
        chunk = sock.recv(length - len(payload))
        if not chunk:
            break
        payload += chunk
    return buf, payload


def frame(payload):
    return b"\x00" + len(payload).to_bytes(3, "big") + payload


def tcp(host, port):
    check_host(host)
    s = socket.create_connection((host, port), timeout=3)
    s.settimeout(3)
    return s


def smb_exchange(host, prefix, names, reqs):
    for name in names:
        try:
            with tcp(host, 445) as s:
                s.sendall(frame(reqs[name]))
                got = recv_frame(s)
        except OSError as e:
            print(f"{prefix}{name}: {e}")
            continue
        if got is None:
            print(f"{prefix}{name}: connection closed without answer")
            continue
        save(f"{prefix}{name}.bin", got[1])


def samba(reqs):
    # NBSTAT over UDP 137 to the NT1 host's nmbd.
    check_host("10.203.250.2")
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(3)
    u.sendto(reqs["nbstat"], ("10.203.250.2", 137))
    save("nbstat_samba.bin", u.recvfrom(2048)[0])
    # Session service on 139, then SMB1 negotiate inside the session.
    for name in ("session_named", "session_smbserver"):
        with tcp("10.203.250.2", 139) as s:
            s.sendall(reqs[name])
            hdr, payload = recv_frame(s)
            save(f"{name}_response.bin", hdr + payload)
            if name == "session_named":
                s.sendall(frame(reqs["smb1_classic"]))
                save("nt1_139_smb1_classic.bin", recv_frame(s)[1])
    names = ["smb1_classic", "smb1_extended", "smb1_with_smb2", "smb1_lanman_only",
             "smb2_all", "smb2_202", "smb2_upto_302"]
    smb_exchange("10.203.250.2", "nt1_", names, reqs)
    smb_exchange("10.203.250.6", "sig_", names, reqs)


def udp_one(reqs, name, host, port, outfile):
    check_host(host)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(3)
    u.sendto(reqs[name], (host, int(port)))
    save(outfile, u.recvfrom(65535)[0])


def local(reqs):
    """Banner answers from loopback services, if they run: (request, port, fixture)."""
    plan = [(n[len("tcp_"):].split("@")[0], n, int(n.split("@")[1]))
            for n in reqs if n.startswith("tcp_")]
    for service, name, port in plan:
        try:
            with tcp("127.0.0.1", port) as s:
                if reqs[name]:
                    s.sendall(reqs[name])
                data = b""
                try:
                    while len(data) < 4096:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                except socket.timeout:
                    pass
        except OSError as e:
            print(f"{name}: {e}")
            continue
        if data:
            save(f"banner_{service}.bin", data)
        else:
            print(f"{name}: no answer")


def postgres_error():
    """A StartupMessage for a role that does not exist draws a real ErrorResponse."""
    body = struct.pack(">I", 196608) + b"user\0portwatch_nobody\0database\0postgres\0\0"
    msg = struct.pack(">I", len(body) + 4) + body
    try:
        with tcp("127.0.0.1", 5432) as s:
            s.sendall(msg)
            save("banner_postgres_error.bin", s.recv(4096))
    except OSError as e:
        print(f"postgres error capture: {e}")


def main():
    reqs = requests()
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "samba":
        samba(reqs)
    elif mode == "local":
        local(reqs)
        postgres_error()
    elif mode == "udp" and len(sys.argv) == 6:
        udp_one(reqs, *sys.argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
