#!/usr/bin/env python3
"""What each test-bed host must answer, and the manifest that says so.

testbed.sh configures the servers and firewalls; this file is the single
place that decides which port gets which answer. The choice is fixed (a hash
order, no random generator), so every run builds the same hosts.

Usage:
  plan.py list HOST KEY        comma list for KEY (tcp.open, tcp.drop, ...)
  plan.py host HOST K=V...     one host object: the K=V pairs plus its truth
  plan.py manifest FILE...     the whole manifest from host objects
"""

import hashlib
import json
import sys

# Exact counts hold inside this range; every port not listed anywhere, in or
# out of it, is closed (TCP RST, or ICMP port unreachable for UDP).
PORT_RANGE = (1, 5000)

# Listeners of the `tcp` host; 137-139 and 445 are left to the Samba hosts.
TCP_HOST_OPEN = [21, 22, 23, 25, 53, 80, 110, 111, 143, 443, 587, 993,
                 1433, 1723, 2049, 3000, 3306, 3389, 4444, 5000, 8080]
TCP_HOST_BANNERS = {
    21: "220 pwtb ftp test service",
    22: "SSH-2.0-pwtb_testbed",
    25: "220 tcp.pwtb.test ESMTP pwtb",
}
# Filtered ports in PORT_RANGE, drawn from what is left after the listeners.
IN_RANGE_COUNTS = {"drop": 1000, "reset": 250, "admin_prohibited": 250}
# A few of each outside PORT_RANGE, so scans of other ranges meet them too.
OUT_OF_RANGE = {"drop": [6000, 31337, 65000], "reset": [7000, 40000],
                "admin_prohibited": [9000, 60000]}
TCP_HOST_UDP_OPEN = [7, 1434, 3456, 4999]
TCP_HOST_UDP_DROP = [69, 514, 1812, 4500]

UDP_HOST_UDP_OPEN = [53, 161]
UDP_HOST_UDP_DROP = [69, 123, 500]

# Every host NAME resolves as NAME.pwtb.test (A = addr4, AAAA = addr6).
DNS_ZONE = "pwtb.test"
SNMP_COMMUNITY = "public"
SNMP_SYS_NAME = "pwtb-udp"


def hash_order(port):
    """Sort key that scatters ports evenly and never changes between runs."""
    return hashlib.sha256(f"pwtb-tcp/{port}".encode()).digest()


def tcp_host_filtered():
    """The drop / reset / admin_prohibited port lists of the `tcp` host."""
    first, last = PORT_RANGE
    taken = set(TCP_HOST_OPEN)
    pool = sorted((p for p in range(first, last + 1) if p not in taken),
                  key=hash_order)
    lists, start = {}, 0
    for kind, count in IN_RANGE_COUNTS.items():
        lists[kind] = sorted(pool[start:start + count] + OUT_OF_RANGE[kind])
        start += count
    return lists


def truth(tcp_open=(), udp_open=(), udp_drop=(), udp_silent=(), filtered=None):
    """Ground truth in the manifest's shape; unlisted ports are closed."""
    filtered = filtered or {}
    return {
        "tcp": {
            "open": sorted(tcp_open),
            "drop": filtered.get("drop", []),
            "reset": filtered.get("reset", []),
            "admin_prohibited": filtered.get("admin_prohibited", []),
        },
        # silent: bound but never answers, like drop it reads open|filtered.
        "udp": {"open": sorted(udp_open), "drop": sorted(udp_drop),
                "silent": sorted(udp_silent)},
    }


def host_truth(name):
    """(IPv4 truth, IPv6 truth, extra fields) for one host."""
    if name == "tcp":
        t = truth(TCP_HOST_OPEN, TCP_HOST_UDP_OPEN, TCP_HOST_UDP_DROP,
                  filtered=tcp_host_filtered())
        banners = {str(p): b for p, b in sorted(TCP_HOST_BANNERS.items())}
        return t, t, {"banners": banners}
    if name in ("smb1", "smb2"):
        # NetBIOS (nmbd: 137 answers, 138 never does) exists on IPv4 only.
        return (truth([139, 445], [137], udp_silent=[138]),
                truth([139, 445]), {})
    if name == "smb445":
        return truth([445]), truth([445]), {}
    if name == "udp":
        t = truth([53], UDP_HOST_UDP_OPEN, UDP_HOST_UDP_DROP)
        services = {
            "dns": {"port": 53, "zone": DNS_ZONE},
            "snmp": {"port": 161, "community": SNMP_COMMUNITY,
                     "sys_name": SNMP_SYS_NAME},
        }
        return t, t, services
    raise SystemExit(f"plan.py: unknown host {name!r}")


def comma_list(name, key):
    """The ports under KEY (e.g. `tcp.drop`) of HOST's IPv4 truth."""
    proto, _, kind = key.partition(".")
    return ",".join(str(p) for p in host_truth(name)[0][proto][kind])


def scalar(text):
    """`true`/`false`/digits become JSON booleans/numbers; the rest strings."""
    if text in ("true", "false"):
        return text == "true"
    if text.isdigit():
        return int(text)
    return text


def host_object(name, pairs):
    """One host of the manifest: given fields, then its truth."""
    obj = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"plan.py: expected KEY=VALUE, got {pair!r}")
        if key.startswith("json:"):
            obj[key[5:]] = json.loads(value)
        else:
            obj[key] = scalar(value)
    truth4, truth6, extra = host_truth(name)
    obj["port_range"] = list(PORT_RANGE)
    obj["truth"] = truth4
    obj["truth6"] = truth6
    obj.update(extra)
    return obj


def manifest(files):
    """The whole manifest from the host objects written by `host`."""
    hosts = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            hosts.append(json.load(f))
    hosts.sort(key=lambda h: h["index"])
    for h in hosts:
        h["icmp_ratelimit"] = h["name"] == "udp"
    return {
        "version": 1,
        "state_dir": "/run/portwatch-testbed",
        "range4": "10.203.0.0/16",
        "range6": "fd00:203::/32",
        "hosts": hosts,
    }


def main(argv):
    if len(argv) >= 3 and argv[0] == "list":
        print(comma_list(argv[1], argv[2]))
    elif len(argv) >= 2 and argv[0] == "host":
        json.dump(host_object(argv[1], argv[2:]), sys.stdout)
        print()
    elif argv and argv[0] == "manifest":
        json.dump(manifest(argv[1:]), sys.stdout, indent=2)
        print()
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
