#!/usr/bin/env python3
"""LAN sweep benchmarks, portwatch against nmap in the same interleaved run:

--layout lan24 (default): a /24 on one veth with 5 live addresses in a network namespace (the
  other addresses answer nothing, so only ARP can tell them apart quickly), top 100 TCP ports,
  against nmap -sT and nmap -sS. Namespace pwx-sc-bench, 10.216.60.0/24 (blackholed
  10.216.60.0/22 first); writes bench/results/lan-sweep.json.
--layout net16: a /16 on one veth with 1 % of its addresses live (655, chosen by a seeded
  random draw), nmap's top 20 TCP ports given to both tools as one explicit list, against
  nmap -sS. Namespace pwx-sc-b16, 10.237.0.0/16 (blackholed with metric 4000 first, so the
  route outlives the veth only as a blackhole); writes bench/results/lan-sweep-16.json.

Usage (as root): bench/lan_sweep.py [--layout lan24|net16] [--runs N] [--binary PATH]
--binary uses an existing portwatch binary (default: build target/release/portwatch).
The namespace is removed at the end, also on failure, and BENCHMARKS.md is rebuilt with
bench.py's report writer.
"""

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402


@dataclass
class Layout:
    """One benchmark's network: a namespace on one veth, its live addresses and listeners."""
    key: str
    ns: str
    root_if: str
    host_if: str
    prefix: int
    root_addr: str
    blackhole: str
    live: list
    listen: list  # (address, port)
    ports: list  # (portwatch args, nmap args)
    tools: list
    title: str
    out: str
    probe: str  # an address that must route through our veth
    target: str
    notes: list = field(default_factory=list)


def lan24():
    net = "10.216.60"
    return Layout(
        key="lan24", ns="pwx-sc-bench", root_if="pwx-sc-rb", host_if="pwx-sc-hb", prefix=24,
        root_addr=f"{net}.1", blackhole=f"{net}.0/22",
        live=[f"{net}.{i}" for i in [10, 11, 12, 13, 14]],
        # Listeners, all within the top 100 TCP ports.
        listen=[(f"{net}.11", 22), (f"{net}.12", 80), (f"{net}.12", 443), (f"{net}.14", 8080)],
        ports=(["--top", "100"], ["--top-ports", "100"]), tools=["nmap -sT", "nmap -sS"],
        title="LAN sweep: a /24 netns LAN (5 live hosts plus our own address), top 100 TCP ports",
        out="lan-sweep.json", probe=f"{net}.77", target=f"{net}.0/24")


# nmap's 20 most frequent TCP ports, given to both tools as one list so that both probe the same.
TOP20 = [21, 22, 23, 25, 53, 80, 110, 111, 135, 139, 143, 443, 445, 993, 995, 1723, 3306, 3389,
         5900, 8080]


def net16():
    draw = random.Random(16)
    addrs = [f"10.237.{n >> 8}.{n & 255}" for n in draw.sample(range(2, 65535), 655)]
    return Layout(
        key="net16", ns="pwx-sc-b16", root_if="pwx-sc-r16", host_if="pwx-sc-h16", prefix=16,
        root_addr="10.237.0.1", blackhole="10.237.0.0/16 metric 4000", live=addrs,
        listen=[(addrs[0], 22), (addrs[1], 80), (addrs[1], 443), (addrs[2], 3389), (addrs[3], 8080)],
        ports=(["-p", ",".join(map(str, TOP20))], ["-p", ",".join(map(str, TOP20))]),
        tools=["nmap -sS"],
        title="LAN sweep: a /16 netns LAN (655 live hosts, 1 %, plus our own address), nmap's top 20 TCP ports",
        out="lan-sweep-16.json", probe="10.237.200.77", target="10.237.0.0/16",
        notes=["nmap -sT is left out here: one run took 182 s (portwatch 2.1 s) in a trial run."])


LAYOUTS = {"lan24": lan24, "net16": net16}


def sh(cmd):
    subprocess.run(["sh", "-c", cmd], check=True)


def down(lay):
    subprocess.run(["sh", "-c", f"ip netns del {lay.ns} 2>/dev/null; ip link del {lay.root_if} 2>/dev/null; "
                    f"ip route del blackhole {lay.blackhole} 2>/dev/null; true"])


def up(lay):
    down(lay)
    sh(f"ip route replace blackhole {lay.blackhole}")
    sh(f"ip netns add {lay.ns}")
    sh(f"ip link add {lay.root_if} type veth peer name {lay.host_if}")
    sh(f"ip link set {lay.host_if} netns {lay.ns}")
    sh(f"ip addr add {lay.root_addr}/{lay.prefix} dev {lay.root_if} && ip link set {lay.root_if} up")
    sh(f"ip netns exec {lay.ns} ip link set lo up && ip netns exec {lay.ns} ip link set {lay.host_if} up")
    batch = "".join(f"addr add {a}/{lay.prefix} dev {lay.host_if}\n" for a in lay.live)
    subprocess.run(["ip", "netns", "exec", lay.ns, "ip", "-batch", "-"], input=batch, text=True, check=True)
    route = subprocess.run(["ip", "route", "get", lay.probe], capture_output=True, text=True).stdout
    if f"dev {lay.root_if} " not in route:
        sys.exit(f"refusing to benchmark: {lay.probe} routes as {route!r}")
    procs = []
    for addr, port in lay.listen:
        procs.append(subprocess.Popen(["ip", "netns", "exec", lay.ns, "socat",
                                       f"TCP-LISTEN:{port},bind={addr},fork,reuseaddr", "/dev/null"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(0.5)
    return procs


def versions(binary):
    v = bench.tool_versions()
    out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    v["portwatch"] = out.splitlines()[0] if out else "unknown"
    v.pop("rustscan", None)
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layout", choices=sorted(LAYOUTS), default="lan24")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--binary", help="portwatch binary to run instead of building a release one")
    args = ap.parse_args()
    lay = LAYOUTS[args.layout]()
    binary = args.binary
    if not binary:
        subprocess.run(["cargo", "build", "--release", "--bin", "portwatch", "--quiet"], cwd=bench.ROOT, check=True)
        binary = str(bench.PORTWATCH)
    procs = up(lay)
    try:
        # Our own root-side address is a live host too for every tool (nmap: localhost-response).
        live = {lay.root_addr, *lay.live}
        truth = {(addr, port, "tcp") for addr, port in lay.listen}

        def judge_pw(out):
            doc = json.loads(out)
            up_hosts = {h["host"] for h in doc["hosts"] if h["status"] == "up"}
            opened = {(h["host"], p["port"], p["proto"]) for h in doc["hosts"] for p in h["ports"]
                      if p["state"] == "open"}
            ok = up_hosts == live and opened == truth
            return ok, f"{len(up_hosts)} up, {len(opened)} open"

        def judge_nmap(out):
            import xml.etree.ElementTree as ET
            root = ET.fromstring(out)
            up_hosts = {h.find("address").get("addr") for h in root.iter("host")
                        if h.find("status").get("state") == "up"}
            opened = bench.nmap_open(out)
            ok = up_hosts == live and opened == truth
            return ok, f"{len(up_hosts)} up, {len(opened)} open"

        pw_ports, nmap_ports = lay.ports
        tools = {
            "portwatch": ([binary, "scan", lay.target, *pw_ports, "--no-probes", "--no-progress",
                           "--format", "json"], judge_pw),
        }
        for name in lay.tools:
            flag = name.split()[1]
            tools[name] = (["nmap", flag, "-T4", "-n", *nmap_ports, lay.target, "-oX", "-"], judge_nmap)
        results = bench.interleave(tools, args.runs)
    finally:
        for p in procs:
            p.kill()
            p.wait()
        down(lay)
    notes = list(lay.notes)
    if args.binary:
        kind = "a release build" if "/release/" in str(args.binary) else "not a release build"
        notes.append(f"portwatch binary: `{args.binary}` (given with --binary, {kind}).")
    truth_text = (f"live hosts {sorted(live)} and the open set {sorted(truth)}" if len(live) < 20 else
                  f"{len(live)} live hosts (seeded draw, `random.Random(16)`) and the open set {sorted(truth)}")
    data = {
        "title": lay.title,
        "truth": truth_text,
        "baseline": "portwatch", "results": results, "notes": notes,
        "date": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}", "runs": args.runs, "versions": versions(binary),
    }
    bench.RESULTS.mkdir(parents=True, exist_ok=True)
    (bench.RESULTS / lay.out).write_text(json.dumps(data, indent=1))
    bench.write_report()


if __name__ == "__main__":
    main()
