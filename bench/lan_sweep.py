#!/usr/bin/env python3
"""LAN sweep benchmark: a /24 on one veth with 5 live addresses in a network namespace
(the other addresses answer nothing, so only ARP can tell them apart quickly), top 100 TCP
ports, portwatch against nmap -sT and nmap -sS in the same interleaved run.

Usage (as root): bench/lan_sweep.py [--runs N] [--binary PATH]
--binary uses an existing portwatch binary (default: build target/release/portwatch).
The namespace is pwx-sc-bench with 10.216.60.0/24 (blackholed 10.216.60.0/22 first) and is
removed at the end, also on failure. Writes bench/results/lan-sweep.json and rebuilds
BENCHMARKS.md with bench.py's report writer.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402

NS, ROOT_IF, HOST_IF = "pwx-sc-bench", "pwx-sc-rb", "pwx-sc-hb"
NET = "10.216.60"
LIVE = [10, 11, 12, 13, 14]
# Listeners inside the namespace: (last octet, port), all within the top 100 TCP ports.
LISTEN = [(11, 22), (12, 80), (12, 443), (14, 8080)]


def sh(cmd):
    subprocess.run(["sh", "-c", cmd], check=True)


def down():
    subprocess.run(["sh", "-c", f"ip netns del {NS} 2>/dev/null; ip link del {ROOT_IF} 2>/dev/null; "
                    f"ip route del blackhole {NET}.0/22 2>/dev/null; true"])


def up():
    down()
    sh(f"ip route replace blackhole {NET}.0/22")
    sh(f"ip netns add {NS}")
    sh(f"ip link add {ROOT_IF} type veth peer name {HOST_IF}")
    sh(f"ip link set {HOST_IF} netns {NS}")
    sh(f"ip addr add {NET}.1/24 dev {ROOT_IF} && ip link set {ROOT_IF} up")
    sh(f"ip netns exec {NS} ip link set lo up && ip netns exec {NS} ip link set {HOST_IF} up")
    for i in LIVE:
        sh(f"ip netns exec {NS} ip addr add {NET}.{i}/24 dev {HOST_IF}")
    route = subprocess.run(["ip", "route", "get", f"{NET}.77"], capture_output=True, text=True).stdout
    if f"dev {ROOT_IF} " not in route:
        sys.exit(f"refusing to benchmark: {NET}.77 routes as {route!r}")
    procs = []
    for last, port in LISTEN:
        procs.append(subprocess.Popen(["ip", "netns", "exec", NS, "socat",
                                       f"TCP-LISTEN:{port},bind={NET}.{last},fork,reuseaddr", "/dev/null"],
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
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--binary", help="portwatch binary to run instead of building a release one")
    args = ap.parse_args()
    binary = args.binary
    if not binary:
        subprocess.run(["cargo", "build", "--release", "--bin", "portwatch", "--quiet"], cwd=bench.ROOT, check=True)
        binary = str(bench.PORTWATCH)
    procs = up()
    try:
        # Our own root-side address is a live host too for every tool (nmap: localhost-response).
        live = {f"{NET}.{i}" for i in [1, *LIVE]}
        truth = {(f"{NET}.{last}", port, "tcp") for last, port in LISTEN}

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

        target = f"{NET}.0/24"
        tools = {
            "portwatch": ([binary, "scan", target, "--top", "100", "--no-probes", "--no-progress",
                           "--format", "json"], judge_pw),
            "nmap -sT": (["nmap", "-sT", "-T4", "-n", "--top-ports", "100", target, "-oX", "-"], judge_nmap),
            "nmap -sS": (["nmap", "-sS", "-T4", "-n", "--top-ports", "100", target, "-oX", "-"], judge_nmap),
        }
        results = bench.interleave(tools, args.runs)
    finally:
        for p in procs:
            p.kill()
            p.wait()
        down()
    notes = []
    if args.binary:
        notes.append(f"portwatch binary: `{args.binary}` (given with --binary, not a fresh release build).")
    data = {
        "title": "LAN sweep: a /24 netns LAN (5 live hosts plus our own address), top 100 TCP ports",
        "truth": f"live hosts {sorted(live)} and the open set {sorted(truth)}",
        "baseline": "portwatch", "results": results, "notes": notes,
        "date": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}", "runs": args.runs, "versions": versions(binary),
    }
    bench.RESULTS.mkdir(parents=True, exist_ok=True)
    (bench.RESULTS / "lan-sweep.json").write_text(json.dumps(data, indent=1))
    bench.write_report()


if __name__ == "__main__":
    main()
