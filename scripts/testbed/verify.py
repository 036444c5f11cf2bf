#!/usr/bin/env python3
"""Checks that every test-bed host answers the way the manifest says.

A sanity check of the test bed itself, done with the peers (nmap, nbtscan)
and a hand-made DNS query, never with portwatch. testbed.sh runs the route
check on every address first; this file only ever talks to the manifest's
addresses.

Usage: verify.py MANIFEST
"""

import ipaddress
import json
import socket
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

# UDP ports nmap probes on every host besides each host's listed ones; no
# host lists them, so they must come back closed.
UDP_CLOSED_SAMPLES = [9, 2000]
NMAP_TIMING = ["-T4", "-n", "-Pn", "--reason"]
SIGNING_TEXT = {
    "Message signing enabled and required": "required",
    "Message signing enabled but not required": "enabled-not-required",
}


class Report:
    """Counts checks and prints one line per check."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, host, what, problems):
        if problems:
            self.failed += 1
            print(f"FAIL {host:7} {what}: {problems}")
        else:
            self.passed += 1
            print(f"ok   {host:7} {what}")


def port_set(text):
    """'2,4-7' -> {2, 4, 5, 6, 7}"""
    ports = set()
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        ports.update(range(int(first), int(last or first) + 1))
    return ports


def compact(ports):
    """Sorted ports as a short string for messages."""
    ports = sorted(ports)
    shown = ",".join(map(str, ports[:12]))
    return shown + (f",... ({len(ports)} ports)" if len(ports) > 12 else "")


def start_nmap(args):
    """Starts nmap writing XML to stdout."""
    return subprocess.Popen(["nmap", *args, "-oX", "-"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish_nmap(proc):
    """Waits for nmap; returns its XML root."""
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"verify: nmap failed ({proc.returncode}): {err.strip()}")
    return ET.fromstring(out)


def results_by_address(root, proto):
    """{address: {port: (state, reason)}} from nmap XML, grouped ports too."""
    hosts = {}
    for host in root.iter("host"):
        addr = str(ipaddress.ip_address(host.find("address").get("addr")))
        states = hosts.setdefault(addr, {})
        ports = host.find("ports")
        if ports is None:
            continue
        for extra in ports.iter("extraports"):
            for reasons in extra.iter("extrareasons"):
                if reasons.get("proto", proto) != proto:
                    continue
                for port in port_set(reasons.get("ports", "")):
                    states[port] = (extra.get("state"), reasons.get("reason"))
        for port in ports.iter("port"):
            if port.get("protocol") == proto:
                st = port.find("state")
                states[int(port.get("portid"))] = (st.get("state"), st.get("reason"))
    return hosts


def expected_tcp(truth, port):
    tcp = truth["tcp"]
    if port in tcp["open"]:
        return ("open", "syn-ack")
    if port in tcp["drop"]:
        return ("filtered", "no-response")
    if port in tcp["admin_prohibited"]:
        return ("filtered", "admin-prohibited")
    return ("closed", "reset")


def expected_udp(truth, port):
    udp = truth["udp"]
    if port in udp["open"]:
        return ("open", "udp-response")
    if port in udp["drop"] or port in udp["silent"]:
        return ("open|filtered", "no-response")
    return ("closed", "port-unreach")


def compare(seen, ports, expect):
    """Mismatches between nmap's view and the truth, as a message or ''."""
    wrong = {}
    for port in ports:
        want, got = expect(port), seen.get(port, ("missing", "-"))
        if got != want:
            wrong.setdefault((want, got), []).append(port)
    return "; ".join(f"want {'/'.join(w)} got {'/'.join(g)} on {compact(p)}"
                     for (w, g), p in wrong.items())


def recheck_rate_limited(addr, family, seen, ports, expect):
    """SEEN, with closed UDP ports that nmap -T4 called open|filtered asked again slowly.

    A host that keeps the kernel's ICMP rate limit answers only about one port-unreachable
    per second once its burst is spent; nmap -T4 gives up on some of those ports. Asking
    them again one per 1.1 s tells a rate-limited closed port from a silent one."""
    slow = [p for p in ports
            if expect(p) == ("closed", "port-unreach")
            and seen.get(p) == ("open|filtered", "no-response")]
    if not slow:
        return seen
    args = ["-sU", "-n", "-Pn", "--reason", "--scan-delay", "1100ms", "--max-retries", "4",
            "-p", ",".join(map(str, slow)), addr]
    if family == "6":
        args.insert(0, "-6")
    again = results_by_address(finish_nmap(start_nmap(args)), "udp").get(addr, {})
    return {**seen, **{p: again[p] for p in slow if p in again}}


def tcp_ports(hosts):
    """Every port to probe: the common range plus listed ports outside it."""
    first, last = hosts[0]["port_range"]
    ports = set(range(first, last + 1))
    for host in hosts:
        for key in ("truth", "truth6"):
            for kind in host[key]["tcp"].values():
                ports.update(kind)
    return sorted(ports)


def udp_ports(hosts):
    ports = set(UDP_CLOSED_SAMPLES)
    for host in hosts:
        for key in ("truth", "truth6"):
            for kind in host[key]["udp"].values():
                ports.update(kind)
    return sorted(ports)


def spec(ports):
    return ",".join(map(str, ports))


def dns_query(server, name, qtype):
    """Addresses in the answer to one DNS query (A=1, AAAA=28) over UDP."""
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    query = struct.pack("!HHHHHH", 0x5057, 0x0100, 1, 0, 0, 0) + qname
    query += struct.pack("!HH", qtype, 1)
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2.0)
        sock.sendto(query, (server, 53))
        reply = sock.recv(4096)
    answers = struct.unpack("!H", reply[6:8])[0]
    pos = 12 + len(qname) + 4
    found = []
    for _ in range(answers):
        if reply[pos] & 0xC0 == 0xC0:
            pos += 2
        else:
            while reply[pos]:
                pos += reply[pos] + 1
            pos += 1
        rtype, _, _, rdlen = struct.unpack("!HHIH", reply[pos:pos + 10])
        rdata = reply[pos + 10:pos + 10 + rdlen]
        pos += 10 + rdlen
        if rtype == qtype:
            fam = socket.AF_INET if qtype == 1 else socket.AF_INET6
            found.append(socket.inet_ntop(fam, rdata))
    return found


def nbt_names(addr):
    """NetBIOS names of ADDR as (name, suffix+type) pairs, from nbtscan."""
    out = subprocess.run(["nbtscan", "-v", "-s", "|", "-t", "500", addr],
                         capture_output=True, text=True, check=False).stdout
    names = []
    for line in out.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[0] == addr and parts[1] != "MAC":
            names.append((parts[1], parts[2]))
    return names


def nmap_dialect(text):
    """nmap's '311' -> '3.1.1', '210' -> '2.1', SMB1 line -> 'NT LM 0.12'."""
    if text.startswith("NT LM 0.12"):
        return "NT LM 0.12"
    if not text.isdigit():
        return text
    dotted = ".".join(text)
    return dotted[:-2] if dotted.endswith(".0") else dotted


def smb_view(root):
    """{address: (dialects, signing)} from nmap's SMB scripts."""
    view = {}
    for host in root.iter("host"):
        addr = host.find("address").get("addr")
        dialects, signing = [], None
        for script in host.iter("script"):
            elems = [e.text or "" for e in script.iter("elem")]
            if script.get("id") == "smb-protocols":
                dialects = [nmap_dialect(e) for e in elems]
            elif script.get("id") == "smb2-security-mode" and elems:
                signing = SIGNING_TEXT.get(elems[0], elems[0])
        view[addr] = (dialects, signing)
    return view


def check_samba(report, host, smb, names):
    name = host["name"]
    dialects, signing = smb.get(host["addr4"], ([], None))
    report.check(name, f"SMB dialects {dialects}",
                 "" if dialects == host["dialects"] else f"want {host['dialects']}")
    report.check(name, f"SMB1 {'on' if host['smb1'] else 'off'}",
                 "" if ("NT LM 0.12" in dialects) == host["smb1"] else "mismatch")
    report.check(name, f"signing {signing}",
                 "" if signing == host["signing"] else f"want {host['signing']}")
    if host["netbios"]:
        want = {(host["netbios_name"], "00U"), (host["workgroup"], "00G")}
        missing = want - set(names)
        report.check(name, f"NetBIOS {host['netbios_name']} in {host['workgroup']}",
                     f"missing {sorted(missing)} in {names}" if missing else "")
    else:
        report.check(name, "no NetBIOS answer", f"answered {names}" if names else "")


def check_dns(report, host, hosts):
    target = next(h for h in hosts if h["role"] == "tcp")
    fqdn = f"{target['name']}.{host['dns']['zone']}"
    for server in (host["addr4"], host["addr6"]):
        try:
            got4, got6 = dns_query(server, fqdn, 1), dns_query(server, fqdn, 28)
        except (OSError, IndexError, struct.error) as err:
            report.check(host["name"], f"DNS {fqdn} via {server}", str(err))
            continue
        ok = got4 == [target["addr4"]] and got6 == [target["addr6"]]
        report.check(host["name"], f"DNS {fqdn} via {server}",
                     "" if ok else f"got A {got4} AAAA {got6}")


def main(argv):
    if len(argv) != 1:
        raise SystemExit(__doc__)
    with open(argv[0], encoding="utf-8") as f:
        hosts = json.load(f)["hosts"]
    v4 = [h["addr4"] for h in hosts]
    v6 = [h["addr6"] for h in hosts]
    samba4 = [h["addr4"] for h in hosts if h["role"] == "samba"]
    tcp, udp = tcp_ports(hosts), udp_ports(hosts)
    scans = {
        "tcp4": start_nmap(["-sS", *NMAP_TIMING, "-p", spec(tcp), *v4]),
        "tcp6": start_nmap(["-6", "-sS", *NMAP_TIMING, "-p", spec(tcp), *v6]),
        "udp4": start_nmap(["-sU", *NMAP_TIMING, "-p", spec(udp), *v4]),
        "udp6": start_nmap(["-6", "-sU", *NMAP_TIMING, "-p", spec(udp), *v6]),
        "smb": start_nmap(["-sS", *NMAP_TIMING, "-p", "445",
                           "--script", "smb-protocols,smb2-security-mode", *samba4]),
    }
    nbt = {h["addr4"]: nbt_names(h["addr4"]) for h in hosts if h["role"] == "samba"}
    roots = {key: finish_nmap(proc) for key, proc in scans.items()}

    report = Report()
    for family, truth_key, addr_key in (("4", "truth", "addr4"), ("6", "truth6", "addr6")):
        seen_tcp = results_by_address(roots["tcp" + family], "tcp")
        seen_udp = results_by_address(roots["udp" + family], "udp")
        for host in hosts:
            truth, addr = host[truth_key], host[addr_key]
            report.check(host["name"], f"tcp {addr} ({len(tcp)} ports)",
                         compare(seen_tcp.get(addr, {}), tcp,
                                 lambda p, t=truth: expected_tcp(t, p)))
            seen = recheck_rate_limited(addr, family, seen_udp.get(addr, {}), udp,
                                        lambda p, t=truth: expected_udp(t, p))
            report.check(host["name"], f"udp {addr} ({len(udp)} ports)",
                         compare(seen, udp, lambda p, t=truth: expected_udp(t, p)))
    smb = smb_view(roots["smb"])
    for host in hosts:
        if host["role"] == "samba":
            check_samba(report, host, smb, nbt[host["addr4"]])
        elif host["role"] == "udp":
            check_dns(report, host, hosts)

    total = report.passed + report.failed
    if report.failed:
        print(f"verify: {report.failed} of {total} checks failed")
        return 1
    print(f"verify: all {total} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
