#!/usr/bin/env python3
"""portwatch benchmarks: portwatch and its peers on the same targets, in the same run.

Runs are interleaved (tool A, tool B, tool C, A, B, C, ...) so that machine noise hits every
tool alike; each result records wall time, peak RSS (from wait4) and whether the tool's answer
equals the ground truth. Results go to bench/results/<bench>.json; BENCHMARKS.md is rebuilt
from every result file.

Usage: bench/bench.py [--runs N] BENCH...   (BENCH: tcp-loopback tcp-netns tcp-scale all)
Run as root (the netns benches need the test bed: scripts/testbed.sh up).
"""

import argparse
import json
import os
import platform
import random
import re
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PORTWATCH = ROOT / "target" / "release" / "portwatch"
RUSTSCAN = ROOT / "bench" / ".tools" / "bin" / "rustscan"
MANIFEST = Path("/run/portwatch-testbed/testbed.json")
RESERVED = {2024}  # not ours on this machine: never bind it


# ---------------------------------------------------------------- running tools

def run_measured(cmd, timeout=600):
    """Runs cmd; returns (seconds, peak_rss_kb, stdout_text, exit_code).

    Peak RSS comes from GNU time (a small process), not from wait4 on a child of this Python
    process: a forked child's maximum RSS includes Python's own pages before exec.
    """
    with tempfile.NamedTemporaryFile(mode="r") as rss, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, *cmd],
                              stdout=subprocess.PIPE, stderr=err, timeout=timeout)
        elapsed = time.perf_counter() - start
        if proc.returncode not in (0, 1):
            err.seek(0)
            sys.stderr.write(f"{cmd[0]} exited {proc.returncode}: {err.read()[-500:]!r}\n")
        peak = int(rss.read().strip().splitlines()[-1] or 0)
    return elapsed, peak, proc.stdout.decode(errors="replace"), proc.returncode


def tool_versions():
    def first_line(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.splitlines()[0]
        except Exception:  # noqa: BLE001 - report whatever is there
            return "not available"
    return {
        "portwatch": first_line([str(PORTWATCH), "--version"]),
        "nmap": first_line(["nmap", "--version"]),
        "rustscan": first_line([str(RUSTSCAN), "--version"]) if RUSTSCAN.exists() else "not installed",
    }


# ---------------------------------------------------------------- parsing answers

def pw_open(text, states=("open",)):
    found = {}
    for line in text.splitlines():
        if line.strip():
            r = json.loads(line)
            found[(r["host"], r["port"], r["proto"])] = (r["state"], r["reason"])
    return {k for k, v in found.items() if v[0] in states}, found


def nmap_xml(text):
    """(open set of (host, port, proto), state counts) from nmap's XML output."""
    import xml.etree.ElementTree as ET
    opened, counts = set(), {"open": 0, "closed": 0, "filtered": 0}
    root = ET.fromstring(text)
    for host in root.iter("host"):
        addr = host.find("address").get("addr")
        for extra in host.iter("extraports"):
            counts[extra.get("state")] = counts.get(extra.get("state"), 0) + int(extra.get("count"))
        for port in host.iter("port"):
            state = port.find("state").get("state")
            counts[state] = counts.get(state, 0) + 1
            if state == "open":
                opened.add((addr, int(port.get("portid")), port.get("protocol")))
    return opened, counts


def nmap_open(text):
    return nmap_xml(text)[0]


def nmap_state_counts(text):
    return nmap_xml(text)[1]


def rustscan_open(text):
    opened = set()
    for line in text.splitlines():
        m = re.match(r"(\S+) -> \[(.*)\]", line.strip())
        if m and m.group(2):
            for p in m.group(2).split(","):
                opened.add((m.group(1), int(p), "tcp"))
    return opened


# ---------------------------------------------------------------- ground truth helpers

def loopback_listeners():
    """TCP ports listening on 127.0.0.1 or 0.0.0.0, from /proc."""
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        if cols[3] != "0A":
            continue
        addr, port = cols[1].split(":")
        ip = socket.inet_ntoa(bytes.fromhex(addr)[::-1])
        if ip in ("127.0.0.1", "0.0.0.0"):
            ports.add(int(port, 16))
    return ports


class Listeners:
    """Listeners on random free ports that accept and close every connection."""

    def __init__(self, host, count, seed):
        rng = random.Random(seed)
        taken = loopback_listeners() | RESERVED
        self.socks = []
        while len(self.socks) < count:
            port = rng.randint(1, 65535)
            if port in taken:
                continue
            s = socket.socket()
            try:
                s.bind((host, port))
            except OSError:
                s.close()
                continue
            s.listen(1024)
            s.setblocking(False)
            taken.add(port)
            self.socks.append(s)
        self.ports = sorted(s.getsockname()[1] for s in self.socks)
        self.sel = selectors.DefaultSelector()
        for s in self.socks:
            self.sel.register(s, selectors.EVENT_READ)
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            for key, _ in self.sel.select(timeout=0.2):
                try:
                    conn, _ = key.fileobj.accept()
                    conn.close()
                except OSError:
                    pass

    def close(self):
        self.stop = True
        self.thread.join()
        for s in self.socks:
            s.close()


def testbed():
    if not MANIFEST.exists():
        subprocess.run([str(ROOT / "scripts" / "testbed.sh"), "up"], check=True)
    return json.loads(MANIFEST.read_text())


def route_is_ours(addr):
    ok = subprocess.run([str(ROOT / "scripts" / "testbed.sh"), "route-check", addr]).returncode == 0
    if not ok:
        sys.exit(f"refusing to benchmark {addr}: route does not go through a test-bed veth")


# ---------------------------------------------------------------- benches

def interleave(tools, runs):
    """tools: name -> (cmd, judge(stdout) -> (correct, note)[, runs]). A tool with its own run
    count (a slow peer) runs in the first that many rounds. Returns per-tool run lists."""
    results = {name: [] for name in tools}
    for i in range(runs):
        for name, spec in tools.items():
            cmd, judge = spec[0], spec[1]
            if len(spec) > 2 and i >= spec[2]:
                continue
            secs, rss, out, code = run_measured(cmd)
            correct, note = judge(out)
            results[name].append({"seconds": secs, "rss_kb": rss, "correct": correct, "note": note, "exit": code})
            print(f"  run {i + 1}/{runs} {name:24s} {secs:7.3f} s {rss / 1024:6.1f} MB correct={correct} {note}", flush=True)
    return results


def bench_tcp_loopback(runs):
    """1-65535 on 127.0.0.1 with listeners on 20 random ports."""
    lst = Listeners("127.0.0.1", 20, seed=int(time.time()))
    try:
        truth = {("127.0.0.1", p, "tcp") for p in loopback_listeners()}

        def judge_pw(out):
            opened, _ = pw_open(out)
            return opened == truth, f"{len(opened)} open (truth {len(truth)})"

        def judge_set(parse):
            def judge(out):
                opened = parse(out)
                missing, extra = truth - opened, opened - truth
                return not missing and not extra, f"{len(opened)} open, {len(missing)} missed, {len(extra)} false"
            return judge

        tools = {
            "portwatch": ([str(PORTWATCH), "scan", "127.0.0.1", "-p-", "--format", "jsonl", "--no-progress",
                           "--no-probes"], judge_pw),
            "portwatch (identify)": ([str(PORTWATCH), "scan", "127.0.0.1", "-p-", "--format", "jsonl",
                                      "--no-progress"], judge_pw),
            "nmap -sT": (["nmap", "-sT", "-T4", "-n", "-Pn", "-p-", "127.0.0.1", "-oX", "-"], judge_set(nmap_open)),
        }
        if RUSTSCAN.exists():
            tools["rustscan"] = ([str(RUSTSCAN), "-a", "127.0.0.1", "-r", "1-65535", "-g", "--ulimit", "20000",
                                  "--scripts", "none"], judge_set(rustscan_open))
        results = interleave(tools, runs)
        return {"title": "TCP 1-65535 on 127.0.0.1, 20 random listeners (plus the machine's own)",
                "truth": f"{len(truth)} open ports (from /proc/net/tcp during the run)",
                "baseline": "portwatch", "results": results}
    finally:
        lst.close()


def bench_tcp_netns(runs):
    """1-5000 on the test bed's tcp host: 1000 DROP, 250 reset, 250 admin-prohibited."""
    host = next(h for h in testbed()["hosts"] if h["name"] == "tcp")
    addr = host["addr4"]
    route_is_ours(addr)
    t = host["truth"]["tcp"]
    inside = lambda key: {p for p in t[key] if 1 <= p <= 5000}  # noqa: E731
    expected = {p: ("closed", "conn-refused") for p in range(1, 5001)}
    for key, state in (("open", ("open", "syn-ack")), ("drop", ("filtered", "timeout")),
                       ("reset", ("closed", "conn-refused")),
                       ("admin_prohibited", ("filtered", "admin-prohibited"))):
        for p in inside(key):
            expected[p] = state
    truth_open = {(addr, p, "tcp") for p in inside("open")}
    want_counts = {"open": len(inside("open")), "filtered": len(inside("drop")) + len(inside("admin_prohibited"))}
    want_counts["closed"] = 5000 - want_counts["open"] - want_counts["filtered"]

    def judge_pw(out):
        _, found = pw_open(out)
        wrong = [p for p in range(1, 5001) if found.get((addr, p, "tcp")) != expected[p]]
        return not wrong, f"{len(found)} ports reported, {len(wrong)} with a wrong state/reason"

    def judge_nmap(out):
        opened = nmap_open(out)
        counts = nmap_state_counts(out)
        ok = opened == truth_open and all(counts.get(k) == v for k, v in want_counts.items())
        return ok, f"open {len(opened)}, counts {counts}"

    def judge_rustscan(out):
        opened = rustscan_open(out)
        return opened == truth_open, f"{len(opened)} open (open set only)"

    tools = {
        "portwatch": ([str(PORTWATCH), "scan", addr, "-p", "1-5000", "--all", "--format", "jsonl", "--no-progress",
                       "--no-probes"], judge_pw),
        "nmap -sT": (["nmap", "-sT", "-T4", "-n", "-Pn", "-p", "1-5000", addr, "-oX", "-"], judge_nmap),
    }
    if RUSTSCAN.exists():
        tools["rustscan"] = ([str(RUSTSCAN), "-a", addr, "-r", "1-5000", "-g", "--ulimit", "20000",
                              "--scripts", "none"], judge_rustscan)
    results = interleave(tools, runs)
    return {"title": f"TCP 1-5000 on a netns host ({addr}): 20 open, 1000 DROP, 250 reset, 250 admin-prohibited",
            "truth": "every port's state and reason from the test bed manifest (RustScan reports only open ports)",
            "baseline": "portwatch", "results": results}


def bench_tcp_scale(runs):
    """127.1.0.0/20 (4,096 loopback addresses) x the same 100 ports, jsonl streaming."""
    top = subprocess.run([str(PORTWATCH), "scan", "127.1.0.1", "--top", "100", "--format", "json", "--all",
                          "--no-progress"], capture_output=True, text=True, check=True)
    ports = sorted(p["port"] for p in json.loads(top.stdout)["hosts"][0]["ports"])
    spec = ",".join(map(str, ports))
    rng = random.Random(int(time.time()))
    socks, truth = [], set()
    while len(socks) < 16:
        host = f"127.1.{rng.randint(0, 15)}.{rng.randint(0, 255)}"
        port = rng.choice(ports)
        s = socket.socket()
        try:
            s.bind((host, port))
        except OSError:
            s.close()
            continue
        s.listen(64)
        socks.append(s)
        truth.add((host, port, "tcp"))
    truth |= {(f"127.1.{i // 256}.{i % 256}", p, "tcp") for i in range(4096)
              for p in loopback_listeners_any() if p in ports}

    def judge(parse):
        def check(out):
            opened = parse(out)
            return opened == truth, f"{len(opened)} open (truth {len(truth)})"
        return check

    tools = {
        "portwatch": ([str(PORTWATCH), "scan", "127.1.0.0/20", "-p", spec, "--format", "jsonl", "--no-progress",
                       "--no-probes"], judge(lambda out: pw_open(out)[0])),
        "nmap -sT": (["nmap", "-sT", "-T4", "-n", "-Pn", "-p", spec, "127.1.0.0/20", "-oX", "-"], judge(nmap_open)),
    }
    try:
        results = interleave(tools, runs)
    finally:
        for s in socks:
            s.close()
    return {"title": "127.1.0.0/20 (4,096 addresses) x portwatch's top 100 TCP ports (same list for both)",
            "truth": "16 listeners on random (address, port) pairs of the set, plus any 0.0.0.0 listener "
                     "among those ports",
            "baseline": "portwatch", "throughput_probes": 4096 * len(ports), "results": results}


def loopback_listeners_any():
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        if cols[3] == "0A" and cols[1].startswith("00000000:"):
            ports.add(int(cols[1].split(":")[1], 16))
    return ports


def smb_facts_pw(out):
    """host -> (name, workgroup, dialects, smb1, signing) from portwatch jsonl."""
    facts = {}
    for line in out.splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        f = facts.setdefault(r["host"], {})
        d = r.get("details", {})
        if r["port"] == 137 and r["proto"] == "udp" and "netbios" in d:
            f["name"], f["workgroup"] = d["netbios"].get("name"), d["netbios"].get("workgroup")
        if r["port"] == 445 and "smb" in d:
            f["dialects"], f["smb1"], f["signing"] = d["smb"]["dialects"], d["smb"]["smb1"], d["smb"].get("signing")
    return facts


def smb_facts_nmap(out):
    """host -> facts from nmap's nbstat, smb-protocols and smb2-security-mode output."""
    facts, host, in_dialects = {}, None, False
    names = {"202": "2.0.2", "210": "2.1", "300": "3.0", "302": "3.0.2", "311": "3.1.1"}
    for line in out.splitlines():
        m = re.match(r"Nmap scan report for (\S+)", line)
        if m:
            host = m.group(1)
            facts[host] = {"dialects": [], "smb1": False}
            continue
        if host is None:
            continue
        f = facts[host]
        text = line.strip("|_ ").strip()
        if text.startswith("dialects:"):
            in_dialects = True
            continue
        if in_dialects:
            word = text.split(" ")[0] if text else ""
            if text.startswith("NT LM 0.12"):
                f["smb1"] = True
                f["dialects"].append("NT LM 0.12")
            elif word in names:
                f["dialects"].append(names[word])
            else:
                in_dialects = False
        if "Message signing enabled and required" in text:
            f["signing"] = "required"
        elif "Message signing enabled but not required" in text:
            f["signing"] = "enabled-not-required"
        m = re.match(r"nbstat: NetBIOS name: ([^,]+)", text)
        if m:
            f["name"] = m.group(1)
    return facts


def bench_smb(runs):
    """T:139,445,U:137,138 with identification on two Samba hosts at once."""
    hosts = [h for h in testbed()["hosts"] if h["name"] in ("smb1", "smb2")]
    addrs = [h["addr4"] for h in hosts]
    for a in addrs:
        route_is_ours(a)
    truth = {h["addr4"]: {"name": h["netbios_name"], "workgroup": h["workgroup"], "dialects": h["dialects"],
                          "smb1": h["smb1"], "signing": h["signing"]} for h in hosts}
    ports = "T:139,445,U:137,138"

    def judge_pw(out):
        got = smb_facts_pw(out)
        ok = all(got.get(a) == truth[a] for a in addrs)
        return ok, "; ".join(f"{a}: {got.get(a, {}).get('dialects')} smb1={got.get(a, {}).get('smb1')} "
                             f"signing={got.get(a, {}).get('signing')}" for a in addrs)

    def judge_nmap(out):
        got = smb_facts_nmap(out)
        ok = all({k: got.get(a, {}).get(k) for k in ("name", "dialects", "smb1", "signing")}
                 == {k: truth[a][k] for k in ("name", "dialects", "smb1", "signing")} for a in addrs)
        return ok, "names, dialects, SMB1, signing " + ("as configured" if ok else f"differ: {got}")

    def judge_sv(out):
        opened = re.findall(r"(\d+)/(tcp|udp)\s+open\s", out)
        return len(opened) == 6, f"{len(opened)} open ports listed (version detection, nbstat only)"

    tools = {
        "portwatch": ([str(PORTWATCH), "scan", *addrs, "-p", ports, "--format", "jsonl", "--no-progress"], judge_pw),
        "nmap scripts": (["nmap", "-n", "-Pn", "-sS", "-sU", "-p", ports, "--script",
                          "nbstat,smb-protocols,smb2-security-mode", *addrs], judge_nmap),
        "nmap -sV": (["nmap", "-n", "-Pn", "-sS", "-sU", "-sV", "--script", "nbstat", "-p", ports, *addrs],
                     judge_sv, 3),
    }
    results = interleave(tools, runs)
    return {"title": "NetBIOS/SMB identification: -p T:139,445,U:137,138 on two Samba hosts (SMB1 + "
                     "signing optional; SMB2+ + signing required)",
            "truth": "NetBIOS name, workgroup, dialect list, SMB1 and signing per host, from the test bed's "
                     "Samba configuration (nmap -sV is timed; it does not report these facts)",
            "baseline": "portwatch", "results": results,
            "notes": ["A silent UDP port is judged only after the host's ICMP error budget has had 1 s "
                      "since the first UDP probe to refill (`UDP_BUDGET_REFILL` in "
                      "crates/scan/src/engine/host.rs; issue 16): 138/udp is silent on both hosts, so "
                      "portwatch's time includes that second. Before 2026-12-03 it did not wait (0.223 s "
                      "on 2026-11-23), and back-to-back runs could call a closed UDP port open|filtered."]}


def bench_udp_top(runs):
    """UDP top 100 (portwatch's list, given to both) on the rate-limited test bed host."""
    host = next(h for h in testbed()["hosts"] if h["name"] == "udp")
    addr = host["addr4"]
    route_is_ours(addr)
    top = subprocess.run([str(PORTWATCH), "scan", "127.0.0.1", "--udp", "--top", "100", "--format", "json",
                          "--all", "--no-progress", "--no-probes"], capture_output=True, text=True, check=True)
    ports = sorted(p["port"] for p in json.loads(top.stdout)["hosts"][0]["ports"])
    spec = ",".join(map(str, ports))
    truth = {(addr, p, "udp") for p in host["truth"]["udp"]["open"] if p in ports}

    def judge(parse):
        def check(out):
            opened = parse(out)
            return opened == truth, f"{len(opened)} open: {sorted(p for _, p, _ in opened)}"
        return check

    tools = {
        "portwatch": ([str(PORTWATCH), "scan", addr, "-p", "U:" + spec, "--format", "jsonl", "--no-progress"],
                      judge(lambda out: pw_open(out)[0])),
        "nmap -sU": (["nmap", "-n", "-Pn", "-sU", "-p", spec, addr, "-oX", "-"], judge(nmap_open)),
    }
    results = interleave(tools, runs)
    return {"title": f"UDP top 100 on a netns host with the kernel's default ICMP rate limit ({addr}: "
                     "dnsmasq on 53, snmpd on 161, 3 ports dropped)",
            "truth": "open set from the test bed (both tools get portwatch's top-100 list); closed ports can "
                     "only be confirmed at about one ICMP error per second",
            "baseline": "portwatch", "results": results}


def bench_detect(runs):
    """Detection latency: from a listener opening to the webhook arriving, watch --every 10s."""
    import http.server
    import queue
    arrived = queue.Queue()

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            arrived.put((time.monotonic(), json.loads(body).get("event")))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
    port = Listeners("127.0.0.1", 1, seed=7)
    watched = port.ports[0]
    port.close()
    every = 10
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([str(PORTWATCH), "watch", "127.0.0.1", "--must-be-closed", str(watched),
                                 "--every", f"{every}s", "--notify", f"webhook={hook}",
                                 "--database", f"sqlite://{tmp}/pw.db"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        scan_times = []

        def read_scans():
            for line in proc.stdout:
                m = re.search(r"scan #\d+: .*\(([\d.]+) s\)", line)
                if m:
                    scan_times.append(float(m.group(1)))
        threading.Thread(target=read_scans, daemon=True).start()
        samples = []
        rng = random.Random(11)
        time.sleep(3)
        try:
            for i in range(runs):
                time.sleep(rng.uniform(0, every))
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", watched))
                s.listen(16)
                opened = time.monotonic()
                while True:
                    at, event = arrived.get(timeout=60)
                    if event == "opened":
                        break
                samples.append(at - opened)
                s.close()
                while True:
                    _, event = arrived.get(timeout=60)
                    if event == "resolved":
                        break
                print(f"  run {i + 1}/{runs} detection {samples[-1]:.2f} s", flush=True)
        finally:
            proc.terminate()
            proc.wait()
            server.shutdown()
    scan = max(scan_times) if scan_times else 0.0
    bound = every + scan + 1.0
    return {"title": f"Detection latency: listener opens on a must-be-closed port -> webhook arrives "
                     f"(watch --every {every}s, default confirmation: 2 observations, re-probe after 750 ms)",
            "truth": f"bound = interval + scan time + 1 s = {every} + {scan:.2f} + 1 = {bound:.2f} s",
            "baseline": "portwatch",
            "results": {"portwatch": [{"seconds": x, "rss_kb": 0, "correct": x <= bound,
                                       "note": f"within {bound:.2f} s" if x <= bound else "over the bound",
                                       "exit": 0} for x in samples]}}


def bench_store(runs):
    """Store ingest: 1,000 scans of 1,000 hosts x 100 ports with 50 changes, SQLite and PostgreSQL."""
    out = subprocess.run([str(ROOT / "bench" / "store" / "run.sh")], capture_output=True, text=True, check=True)
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return {"title": "Store: 1,000 scans of 1,000 hosts x 100 ports (3 open each) with 50 changes in total",
            "truth": "the database must grow with the changes (and one row per scan), not with scans x ports",
            "kind": "table", "rows": rows}


WRK_SECONDS = 10
WRK_CONNECTIONS = 32


def wrk(url, headers):
    """One wrk run (2 threads, WRK_CONNECTIONS connections): (requests/s, p50 ms, p99 ms, errors)."""
    cmd = ["wrk", "-t2", f"-c{WRK_CONNECTIONS}", f"-d{WRK_SECONDS}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout

    def ms(label):
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\b", out, re.M)
        if not m:
            raise SystemExit(f"wrk printed no {label}% latency:\n{out}")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = (int(bad.group(1)) if bad else 0) + (sum(map(int, errors.groups())) if errors else 0)
    return rate, ms("50"), ms("99"), failed


def bench_web(runs):
    """Dashboard and API on a store of 10,000 hosts: sequential render times, then wrk load."""
    hosts = 10_000
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "portwatch-web", "--example", "web_bench"],
                   cwd=ROOT, check=True)
    fixture = ROOT / "target" / "release" / "examples" / "web_bench"
    rows = []
    out = subprocess.run([str(fixture), "--hosts", str(hosts), "--render", str(max(runs, 50))],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        r = json.loads(line)
        rows.append({"request": f"GET {r['path']} ({r['page']})", "load": f"sequential, {r['requests']} requests",
                     "req/s": "", "median ms": r["median_ms"], "p99 ms": r["p99_ms"], "failed": 0})
    server = subprocess.Popen([str(fixture), "--hosts", str(hosts), "--serve"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(server.stdout.readline())
        base, bearer, cookie = info["base"], f"Authorization: Bearer {info['token']}", f"Cookie: {info['cookie']}"
        for path, header, what in [
            ("/healthz", None, "health check"),
            ("/api/v1/hosts?limit=50", bearer, "API, token"),
            (f"/api/v1/hosts/{info['host']}", bearer, "API, token"),
            ("/", cookie, "dashboard overview, session"),
            (f"/hosts/{info['host']}", cookie, "dashboard host page, session"),
        ]:
            rate, p50, p99, failed = wrk(base + path, [header] if header else [])
            rows.append({"request": f"GET {path} ({what})",
                         "load": f"wrk {WRK_CONNECTIONS} connections, {WRK_SECONDS} s",
                         "req/s": f"{rate:,.0f}", "median ms": round(p50, 2), "p99 ms": round(p99, 2),
                         "failed": failed})
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    return {"title": f"Dashboard and API: a store of {hosts:,} hosts (2 scans, 2.7 open ports per host, "
                     "2,200 firing violations), served on loopback",
            "truth": "the overview of 10,000 hosts must render in under 200 ms; wrk and the server share "
                     "the machine's cores, so the rates are a floor",
            "kind": "table", "rows": rows}


BENCHES = {
    "tcp-loopback": bench_tcp_loopback,
    "tcp-netns": bench_tcp_netns,
    "tcp-scale": bench_tcp_scale,
    "smb": bench_smb,
    "udp-top": bench_udp_top,
    "detect": bench_detect,
    "store": bench_store,
    "web": bench_web,
}
# Benches that need RustScan (installed once into bench/.tools).
NEEDS_RUSTSCAN = {"tcp-loopback", "tcp-netns", "tcp-scale"}


# ---------------------------------------------------------------- report

def summarize(runs):
    secs = [r["seconds"] for r in runs]
    return {
        "median": statistics.median(secs),
        "min": min(secs),
        "max": max(secs),
        "rss_mb": max(r["rss_kb"] for r in runs) / 1024,
        "correct": all(r["correct"] for r in runs),
        "wrong_runs": sum(not r["correct"] for r in runs),
        "note": runs[-1]["note"],
    }


def write_report():
    lines = [
        "# Benchmarks",
        "",
        "Generated by `bench/bench.py` from `bench/results/*.json`. Every table comes from one run in",
        "which the tools were interleaved on the same targets; *ratio* is the tool's median time",
        "divided by portwatch's (above 1 means portwatch is faster). *Correct* means the tool's",
        "answer equalled the ground truth in every run. Peak RSS is the maximum over the runs.",
        "",
    ]
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text())
        if data.get("kind") in ("scale", "failover"):
            lines += scale_report(data)
            continue
        if data.get("kind") == "table":
            lines += [f"## {data['title']}", "", f"Measured {data['date']} on {data['machine']}. {data['truth']}.", ""]
            keys = list(data["rows"][0].keys()) if data["rows"] else []
            lines += ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
            for row in data["rows"]:
                lines.append("| " + " | ".join(str(row[k]) for k in keys) + " |")
            lines.append("")
            continue
        lines += [f"## {data['title']}", "",
                  f"Measured {data['date']} on {data['machine']}; {data['runs']} runs each. Truth: {data['truth']}.", ""]
        lines += ["| tool | median s | min s | max s | ratio | peak RSS MB | correct | last run |",
                  "|---|---:|---:|---:|---:|---:|---|---|"]
        base = summarize(data["results"][data["baseline"]])["median"]
        for name, runs in data["results"].items():
            s = summarize(runs)
            lines.append(f"| {name} | {s['median']:.3f} | {s['min']:.3f} | {s['max']:.3f} | "
                         f"{s['median'] / base:.2f} | {s['rss_mb']:.1f} | "
                         f"{'yes' if s['correct'] else 'NO (%d of %d runs wrong)' % (s['wrong_runs'], len(runs))} | {s['note']} |")
        if "throughput_probes" in data:
            lines.append("")
            for name, runs in data["results"].items():
                s = summarize(runs)
                lines.append(f"- {name}: {data['throughput_probes'] / s['median']:,.0f} probes/s")
        versions = data.get("versions", {})
        if versions:
            lines += ["", "Versions: " + "; ".join(f"{k}: {v}" for k, v in versions.items())]
        for extra in data.get("notes", []):
            lines += ["", extra]
        lines.append("")
    (ROOT / "BENCHMARKS.md").write_text("\n".join(lines))


def mb(kb):
    return f"{kb / 1024:.1f}"


def scale_report(data):
    """The section of bench/scale.py's results (scale.json: the sweep; failover.json)."""
    lines = [f"## {data['title']}", "",
             f"Measured {data['date']} on {data['machine']}; {data['runs']} run(s); {data['build']}. "
             f"Written by `bench/scale.py`. Truth: {data['truth']}.", ""]
    if data["kind"] == "failover":
        lines += ["| what | median s | min s | max s | runs | correct | last run |", "|---|---:|---:|---:|---:|---|---|"]
        for name, runs in data["results"].items():
            if not runs:
                lines.append(f"| {name} | | | | 0 | not run | |")
                continue
            secs = [r["seconds"] for r in runs]
            ok = all(r["correct"] for r in runs)
            lines.append(f"| {name} | {statistics.median(secs):.2f} | {min(secs):.2f} | {max(secs):.2f} | "
                         f"{len(runs)} | {'yes' if ok else 'NO'} | {runs[-1]['note']} |")
        lines.append("")
        return lines
    hosts, ports, details = data["hosts"], len(data["ports"]), []
    scan_runs = [r for r in data["results"]["portwatch scan"] if "seconds" in r]
    base = statistics.median(r["seconds"] for r in scan_runs) if scan_runs else None
    lines += [f"Ports {data['ports']}; sharding: {data['sharding']}; CPU pinning: {data.get('pinning', 'none')}. Wall time of an agent scenario: the "
              "server's scan row, from start (job queued) to finish (result applied in PostgreSQL). "
              "Overhead: that time over the plain scan's median, minus 1. Rows: inserted + updated + "
              "deleted (pg_stat_user_tables); WAL: bytes of the cluster's WAL written during the scan.", "",
              "| scenario | scan | wall s | overhead | probes/s | jobs/s | result bytes | PG rows | WAL bytes | "
              "server RSS MB | agent RSS MB | correct |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, runs in data["results"].items():
        for r in runs:
            if name == "portwatch scan":
                lines.append(f"| {name} | | {r['seconds']:.1f} | | {hosts * ports / r['seconds']:,.0f} | | "
                             f"{r['output_bytes']:,} (jsonl) | | | {mb(r['rss_kb'])} (the scan) | | "
                             f"{'yes' if r['correct'] else 'NO'}: {r['note']} |")
            elif "not_run" in r:
                lines.append(f"| {name} | | not run: {r['not_run']} | | | | | | | | | |")
            elif "failed" in r:
                lines.append(f"| {name} | | FAILED: {r['failed']} | | | | | | | {mb(r['server_rss_kb'])} | "
                             f"{mb(r['agent_rss_kb'])} | NO |")
            else:
                for sc in r["scans"]:
                    over = f"{sc['seconds'] / base - 1:+.0%}" if base and sc["scan"] == 1 else ""
                    label = "first" if sc["scan"] == 1 else "second, unchanged"
                    lines.append(f"| {name} | {label} | {sc['seconds']:.1f} | {over} | {sc['probes_per_s']:,.0f} | "
                                 f"{sc['jobs_per_s']:.3f} | {sc['result_bytes']:,} | {sc['pg']['rows']:,} | "
                                 f"{sc['pg']['wal_bytes']:,} | {mb(r['server_rss_kb'])} | {mb(r['agent_rss_kb'])} | "
                                 f"{'yes' if sc['correct'] else 'NO'} |")
                second = r["scans"][-1]["pg"]["tables"]
                details.append(f"- {name}, rows written by the second scan per table (inserted/updated/"
                               "deleted): " + (", ".join(f"{t} {v['inserted']}/{v['updated']}/{v['deleted']}"
                                                         for t, v in sorted(second.items())) or "none"))
    lines += ["", *details, ""]
    for note in data.get("notes", []):
        lines += [note, ""]
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--report-only", action="store_true", help="only rebuild BENCHMARKS.md")
    ap.add_argument("benches", nargs="*")
    args = ap.parse_args()
    if args.report_only:
        write_report()
        return
    names = list(BENCHES) if not args.benches or "all" in args.benches else args.benches
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        sys.exit(f"unknown bench {unknown}; choose from {list(BENCHES)}")
    subprocess.run(["cargo", "build", "--release", "--bin", "portwatch", "--quiet"], cwd=ROOT, check=True)
    if NEEDS_RUSTSCAN & set(names) and not RUSTSCAN.exists():
        print("installing RustScan from crates.io into bench/.tools (a few minutes, once)", flush=True)
        subprocess.run(["cargo", "install", "rustscan", "--locked", "--root", str(RUSTSCAN.parent.parent)],
                       cwd=ROOT, check=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    machine = f"{os.cpu_count()} cores, {platform.system()} {platform.release()}"
    for name in names:
        print(f"== {name}", flush=True)
        data = BENCHES[name](args.runs)
        data.update(date=time.strftime("%Y-%m-%d"), machine=machine, runs=args.runs, versions=tool_versions())
        (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=1))
    write_report()


if __name__ == "__main__":
    main()
