#!/usr/bin/env python3
"""Scale-out benchmarks of issue 12: one large loopback group scanned by agents against one
PostgreSQL, next to one plain `portwatch scan` of the same set, and failover timings.

`sweep`: PREFIX (default 127.0.0.0/12, 1,048,576 addresses, all local on Linux) x 10 TCP ports
as one group from vantage `bench`. Scenarios, interleaved run by run: the plain scan, then the
group with 1, 2 and 4 agents (2 and 4 need the group key `shard = { addresses, ports }`; a build
that rejects it gets "not run: sharding not in this build"). Each agent scenario has a fresh
database and records two scans: the first, and a second with nothing changed ("scan now").
Measured per scan: wall time (the scan row's start to finish), probes/s, jobs/s, rows written
(pg_stat_user_tables), WAL bytes (pg_current_wal_lsn), the result's size; per scenario: peak
RSS of the server and of each agent (VmHWM), and of the plain scan (GNU time).

`failover`: [cluster] lease = 2s. Leader: two replicas, kill -9 of the one that scans; time
until the next scan starts on the other. Agent: two agents, kill -9 of the one holding a job
mid-scan (agent lease 2 s); time until that job is finished by the other.

`--pin` (sweep): the plain scan and every agent run on CPU 0 only, the server and PostgreSQL
on CPU 1 only (taskset), so that the agent's scan has the core the plain scan has and the
server's and PostgreSQL's work, which a deployment runs on other machines, does not take it.

Usage: bench/scale.py [--runs N] [--prefix CIDR] [--binary PATH] [--pin] sweep|failover|all
Needs a PostgreSQL server with trust auth: PG_ADMIN, else PORTWATCH_TEST_PG_URL. Run as root.
Results go to bench/results/scale.json and failover.json; BENCHMARKS.md is rebuilt by
bench/bench.py --report-only.
"""

import argparse
import ipaddress
import json
import os
import platform
import random
import re
import signal
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
RESERVED = {2024}  # not ours on this machine
VANTAGE = "bench"
GROUP = "sweep"
LISTENERS = 16
# With --pin: (the CPU of the scanning processes, the CPU of the server and PostgreSQL).
PIN = None


# ---------------------------------------------------------------- small tools

def pg_admin():
    return os.environ.get("PG_ADMIN") or os.environ.get("PORTWATCH_TEST_PG_URL") or sys.exit(
        "set PG_ADMIN or PORTWATCH_TEST_PG_URL to an admin URL of a PostgreSQL with trust auth")


def psql(url, sql):
    out = subprocess.run(["psql", url, "-qAt", "-v", "ON_ERROR_STOP=1", "-F", "\t", "-c", sql],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"psql {sql!r}: {out.stderr.strip()}")
    return [line.split("\t") for line in out.stdout.splitlines() if line]


class Database:
    """A database of this bench's own on the admin server, dropped on close."""

    def __init__(self, tag):
        self.admin = pg_admin()
        self.name = f"pwscale_{tag}_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
        psql(self.admin, f"CREATE DATABASE {self.name}")
        self.url = f"{self.admin.rsplit('/', 1)[0]}/{self.name}"

    def close(self):
        psql(self.admin, f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_ports():
    """Every TCP port with a listener on any address (IPv4 and IPv6)."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A":
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def pick_ports(count, rng):
    """Ports below the ephemeral range that nothing listens on, so that every address of the
    prefix refuses them except where this bench binds a listener."""
    taken = listening_ports() | RESERVED
    pool = [p for p in range(1000, 2000) if p not in taken]
    return sorted(rng.sample(pool, count))


class Listeners:
    """LISTENERS sockets on random (address, port) pairs of the set: the truth of every scan."""

    def __init__(self, net, ports, rng):
        self.socks, self.truth = [], set()
        hosts = net.num_addresses
        while len(self.socks) < LISTENERS:
            addr = str(net[rng.randrange(1, hosts - 1)])
            port = rng.choice(ports)
            s = socket.socket()
            try:
                s.bind((addr, port))
            except OSError:
                s.close()
                continue
            s.listen(64)
            self.socks.append(s)
            self.truth.add((addr, port))

    def close(self):
        for s in self.socks:
            s.close()


class Proc:
    """A portwatch process whose stderr is collected."""

    def __init__(self, cmd, name):
        self.name, self.cmd = name, cmd
        self.log = []
        self.p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stderr:
            self.log.append(line)

    def text(self):
        return "".join(self.log)

    def peak_rss_kb(self):
        try:
            for line in Path(f"/proc/{self.p.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def cpu_seconds(self):
        """User + system CPU time the process has used so far."""
        try:
            fields = Path(f"/proc/{self.p.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0

    def kill9(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(timeout=30)

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def wait_until(what, timeout, check, every=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def now_ms():
    return int(time.time() * 1000)


def build_label(binary):
    kind = "release build" if "/release/" in str(binary) else "debug build"
    try:
        version = subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        version = "not available"
    return f"{version} ({kind}, {binary.relative_to(ROOT) if binary.is_relative_to(ROOT) else binary})"


# ---------------------------------------------------------------- PostgreSQL counters

def pinned(cmd, role):
    """`cmd` under taskset when --pin is on: role "scan" (plain scan, agents) or "service"."""
    if PIN is None:
        return cmd
    return ["taskset", "-c", PIN[0] if role == "scan" else PIN[1], *cmd]


def pin_postgres(cpus):
    """Sets the CPU affinity of the PostgreSQL cluster behind pg_admin() (the postmaster and its
    processes; backends forked later inherit it) to `cpus`."""
    data_dir = psql(pg_admin(), "SHOW data_directory")[0][0]
    postmaster = int(Path(data_dir, "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                pids.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            pass
    for pid in pids:
        subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def pg_counters(db):
    """Rows written per table, the cluster's WAL position and the database's own tables' size."""
    time.sleep(1.5)  # backends flush their table counters about once a second
    rows = psql(db.url, "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables")
    tables = {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in rows}
    lsn = psql(db.url, "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")[0][0]
    size = psql(db.url, "SELECT COALESCE(sum(pg_total_relation_size(relid)), 0) FROM pg_stat_user_tables")[0][0]
    return {"tables": tables, "wal": int(float(lsn)), "size": int(float(size))}


def pg_delta(before, after):
    written = {}
    for table, (ins, upd, dele) in after["tables"].items():
        b = before["tables"].get(table, (0, 0, 0))
        d = (ins - b[0], upd - b[1], dele - b[2])
        if any(d):
            written[table] = {"inserted": d[0], "updated": d[1], "deleted": d[2]}
    return {"rows": sum(sum(v.values()) for v in written.values()), "tables": written,
            "wal_bytes": after["wal"] - before["wal"], "table_bytes_growth": after["size"] - before["size"]}


# ---------------------------------------------------------------- the sweep

def pw_scan(binary, prefix, ports, truth):
    with tempfile.NamedTemporaryFile(mode="r") as rss:
        start = time.perf_counter()
        proc = subprocess.run(pinned(["/usr/bin/time", "-f", "%M %U %S", "-o", rss.name, str(binary), "scan",
                                      prefix, "-p", "T:" + ",".join(map(str, ports)), "--format", "jsonl",
                                      "--no-progress", "--no-probes", "--yes"], "scan"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=3600)
        secs = time.perf_counter() - start
        last = (rss.read().strip().splitlines() or ["0 0 0"])[-1].split()
        peak, cpu = int(last[0]), float(last[1]) + float(last[2])
    found = set()
    for line in proc.stdout.decode().splitlines():
        r = json.loads(line)
        if r.get("state") == "open":
            found.add((r["host"], r["port"]))
    return {"seconds": secs, "rss_kb": peak, "cpu_seconds": cpu, "exit": proc.returncode, "correct": found == truth,
            "note": f"{len(found)} open (truth {len(truth)})", "output_bytes": len(proc.stdout)}


def sweep_config(path, prefix, ports, agents, hosts):
    shard = ""
    if agents > 1:
        shard = f"shard = {{ addresses = {hosts // agents}, ports = {len(ports)} }}\n"
    path.write_text(
        f"[vantage.{VANTAGE}]\nreach = \"lan\"\n\n[[group]]\nname = \"{GROUP}\"\ntargets = [\"{prefix}\"]\n"
        f"ports = \"T:{','.join(map(str, ports))}\"\nevery = \"1h\"\nvantages = [\"{VANTAGE}\"]\n{shard}"
        "[group.scan]\nprobes = false\n")


def sharding_supported(binary, prefix, ports, hosts):
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "pw.toml"
        sweep_config(cfg, prefix, ports, 2, hosts)
        out = subprocess.run([str(binary), "config", "check", str(cfg)], capture_output=True, text=True)
        message = (out.stderr or out.stdout).strip().splitlines()
        reason = message[0].split(": error: ", 1)[-1] if message else ""
        reason = re.sub(r"^\S+:\d+:\d+: ", "", reason).split(", expected", 1)[0]
        return out.returncode == 0, [reason]


def token(binary, db, name):
    out = subprocess.run([str(binary), "token", "create", "--database", db.url, "--role", "agent", "--vantage",
                          VANTAGE, "--name", name], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def finished_scans(db):
    rows = psql(db.url, f"SELECT id, started_at, finished_at, status, hosts_up, open_ports FROM scans "
                        f"WHERE source = 'monitor:{GROUP}' AND vantage = '{VANTAGE}' AND status <> 'running' "
                        "ORDER BY id")
    return [{"id": int(r[0]), "started": int(r[1]), "finished": int(r[2] or 0), "status": r[3],
             "hosts_up": int(r[4] or 0), "open": int(r[5] or 0)} for r in rows]


def jobs_of(db, after_id):
    rows = psql(db.url, f"SELECT id, shard, status, attempt, claimed_by, created_at, finished_at, "
                        f"length(result), (result::json->>'elapsed_ms') FROM jobs WHERE group_name = '{GROUP}' "
                        f"AND id > {after_id} ORDER BY id")
    return [{"id": int(r[0]), "shard": r[1], "status": r[2], "attempt": int(r[3]), "agent": r[4],
             "created": int(r[5]), "finished": int(r[6] or 0), "result_bytes": int(r[7] or 0),
             "agent_elapsed_ms": int(r[8] or 0)} for r in rows]


def open_in_store(db):
    rows = psql(db.url, "SELECT h.addr, sp.port FROM spans sp JOIN hosts h ON h.id = sp.host_id "
                        "WHERE sp.to_scan IS NULL AND sp.state = 'open'")
    return {(a, int(p)) for a, p in rows}


def agents_run(binary, prefix, ports, agents, truth, probes, timeout):
    hosts = ipaddress.ip_network(prefix).num_addresses
    db = Database(f"a{agents}")
    procs = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            cfg = tmp / "pw.toml"
            sweep_config(cfg, prefix, ports, agents, hosts)
            tokens = [token(binary, db, f"bench-{i}") for i in range(agents)]
            base = pg_counters(db)
            port = free_port()
            server = Proc(pinned([str(binary), "run", "--config", str(cfg), "--listen", f"127.0.0.1:{port}",
                                  "--database", db.url], "service"), "server")
            procs.append(server)
            try:
                wait_until("the server to listen", 120, lambda: "dashboard and API listening" in server.text())
            except TimeoutError as e:
                raise RuntimeError(f"{e}\nserver:\n{server.text()[-3000:]}") from None
            for i, tok in enumerate(tokens):
                procs.append(Proc(pinned([str(binary), "agent", "--server", f"http://127.0.0.1:{port}", "--token",
                                          tok, "--name", f"bench-{i}", "--spool", str(tmp / f"spool-{i}")], "scan"),
                                  f"agent-{i}"))
            scans, last = [], base
            cpu_before = {p.name: p.cpu_seconds() for p in procs}
            for n in (1, 2):
                if n == 2:
                    psql(db.url, f"INSERT INTO scan_requests (group_name, requested_at) VALUES ('{GROUP}', {now_ms()})")
                try:
                    done = wait_until(f"scan {n} of {prefix} with {agents} agent(s)", timeout,
                                      lambda: (lambda s: s if len(s) >= n else None)(finished_scans(db)))
                except TimeoutError as e:
                    raise RuntimeError(f"{e}\nserver:\n{server.text()[-3000:]}") from None
                scan = done[n - 1]
                counters = pg_counters(db)
                prev_job = scans[-1]["last_job"] if scans else 0
                jobs = [j for j in jobs_of(db, prev_job) if j["shard"] != "confirm"]
                secs = (scan["finished"] - scan["started"]) / 1000
                stored = open_in_store(db)
                scans.append({
                    "scan": n, "status": scan["status"], "seconds": secs, "hosts_up": scan["hosts_up"],
                    "open": scan["open"], "correct": scan["status"] == "complete" and stored == truth,
                    "jobs": len(jobs), "jobs_per_s": len(jobs) / secs if secs else 0,
                    "probes_per_s": hosts * len(ports) / secs if secs else 0,
                    "result_bytes": sum(j["result_bytes"] for j in jobs),
                    "agent_seconds": max((j["agent_elapsed_ms"] for j in jobs), default=0) / 1000,
                    "agents_used": sorted({j["agent"] for j in jobs if j["agent"]}),
                    "last_job": max((j["id"] for j in jobs), default=prev_job),
                    "pg": pg_delta(last, counters),
                    "cpu_seconds": {p.name: round(p.cpu_seconds() - cpu_before[p.name], 2) for p in procs},
                })
                cpu_before = {p.name: p.cpu_seconds() for p in procs}
                last = counters
                print(f"    {agents} agent(s) scan {n}: {secs:.1f} s, {scan['status']}, "
                      f"{scans[-1]['pg']['rows']:,} rows, {scans[-1]['pg']['wal_bytes']:,} WAL bytes, "
                      f"result {scans[-1]['result_bytes']:,} B, agent scan {scans[-1]['agent_seconds']:.1f} s, "
                      f"CPU s {scans[-1]['cpu_seconds']}", flush=True)
            rss = {p.name: p.peak_rss_kb() for p in procs}
            return {"agents": agents, "scans": scans, "server_rss_kb": rss["server"],
                    "agent_rss_kb": max(v for k, v in rss.items() if k.startswith("agent")),
                    "seconds": scans[0]["seconds"], "correct": all(s["correct"] for s in scans)}
    except (RuntimeError, TimeoutError, subprocess.CalledProcessError) as e:
        print(f"    {agents} agent(s): failed: {str(e)[:2000]}", flush=True)
        rss = {p.name: p.peak_rss_kb() for p in procs}
        return {"agents": agents, "failed": str(e).splitlines()[0][:300],
                "server_rss_kb": rss.get("server", 0),
                "agent_rss_kb": max([v for k, v in rss.items() if k.startswith("agent")] or [0])}
    finally:
        for p in reversed(procs):
            p.stop()
        db.close()


def bench_sweep(binary, prefix, runs, agent_counts, timeout):
    rng = random.Random(int(time.time()))
    net = ipaddress.ip_network(prefix)
    ports = pick_ports(10, rng)
    listeners = Listeners(net, ports, rng)
    supported, why = sharding_supported(binary, prefix, ports, net.num_addresses)
    results = {"portwatch scan": []}
    for a in agent_counts:
        results[f"{a} agent(s)"] = []
    try:
        for i in range(runs):
            print(f"  run {i + 1}/{runs}: portwatch scan {prefix}", flush=True)
            r = pw_scan(binary, prefix, ports, listeners.truth)
            print(f"    {r['seconds']:.1f} s, {r['rss_kb'] / 1024:.1f} MB, {r['cpu_seconds']:.1f} CPU s, {r['note']}",
                  flush=True)
            results["portwatch scan"].append(r)
            for a in agent_counts:
                if a > 1 and not supported:
                    results[f"{a} agent(s)"].append({"agents": a, "not_run": "sharding not in this build"})
                    continue
                print(f"  run {i + 1}/{runs}: {a} agent(s)", flush=True)
                results[f"{a} agent(s)"].append(
                    agents_run(binary, prefix, ports, a, listeners.truth, False, timeout))
    finally:
        listeners.close()
    pinning = (f"the plain scan and the agents on CPU {PIN[0]}, the server and PostgreSQL on CPU {PIN[1]} "
               "(taskset)" if PIN else "none: every process may run on every CPU")
    return {"title": f"Scale-out: {prefix} ({net.num_addresses:,} loopback addresses) x 10 TCP ports as one "
                     "group from an agent vantage, on one PostgreSQL" + (", pinned" if PIN else ""),
            "pinning": pinning,
            "kind": "scale", "prefix": prefix, "hosts": net.num_addresses, "ports": ports,
            "sharding": "supported" if supported else f"not in this build ({why[0][:160]})",
            "truth": f"{LISTENERS} listeners on random (address, port) pairs of the set",
            "results": results}


def goal_notes(data):
    """Issue 12's goals at this size, judged from the measurements alone (no text by hand)."""
    res = data["results"]
    plain = [r["seconds"] for r in res.get("portwatch scan", []) if "seconds" in r]
    base = statistics.median(plain) if plain else None
    one = [r for r in res.get("1 agent(s)", []) if "scans" in r]
    notes = []
    if base and one:
        first = statistics.median(r["scans"][0]["seconds"] for r in one)
        over = first / base - 1
        notes.append(f"distribution overhead at 1 agent <= 10 %: {'met' if over <= 0.10 else 'MISSED'} "
                     f"({over:+.0%}: median first scan {first:.1f} s against the plain scan's median {base:.1f} s; "
                     f"pinning: {data.get('pinning', 'none')})")
        plain_cpu = [r["cpu_seconds"] for r in res.get("portwatch scan", []) if "cpu_seconds" in r]
        agent_cpu = [r["scans"][0]["cpu_seconds"].get("agent-0") for r in one]
        server_cpu = [r["scans"][0]["cpu_seconds"].get("server") for r in one]
        if plain_cpu and all(c is not None for c in agent_cpu + server_cpu):
            notes.append(f"CPU: the plain scan {statistics.median(plain_cpu):.1f} s, the agent's first scan "
                         f"{statistics.median(agent_cpu):.1f} s, the server during it "
                         f"{statistics.median(server_cpu):.1f} s (medians, user + system)")
    seconds = [r["scans"][-1]["pg"] for runs in res.values() for r in runs if "scans" in r]
    if seconds:
        rows = max(pg["rows"] for pg in seconds)
        hosts_rows = max(sum(pg["tables"].get("hosts", {}).get(k, 0) for k in ("inserted", "updated", "deleted"))
                         for pg in seconds)
        wal = max(pg["wal_bytes"] for pg in seconds)
        ok = hosts_rows == 0 and rows < max(100, data["hosts"] // 100)
        notes.append(f"PostgreSQL writes O(changes): {'met' if ok else 'MISSED'} (a second, unchanged scan "
                     f"wrote at most {rows:,} rows, {hosts_rows:,} of them host rows, and {wal:,} WAL bytes, "
                     f"for {data['hosts']:,} addresses)")
    agents = [r["agent_rss_kb"] for runs in res.values() for r in runs if "scans" in r]
    servers = [r["server_rss_kb"] for runs in res.values() for r in runs if "scans" in r]
    if agents:
        peak = max(agents) / 1024
        notes.append(f"agent RSS <= 50 MB: {'met' if peak <= 50 else 'MISSED'} (peak {peak:.1f} MB); "
                     f"server peak RSS {max(servers) / 1024:.1f} MB")
    failed = [f"{name}: {r['failed']}" for name, runs in res.items() for r in runs if "failed" in r]
    load = os.getloadavg()
    lines = ["Goals of issue 12 at this size: " + "; ".join(notes) + "." if notes else
             "Goals of issue 12: nothing to judge (no complete agent run)."]
    if failed:
        lines.append("Failed runs: " + "; ".join(failed))
    lines.append(f"Load average at the end of the sweep: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1, 5, 15 "
                 "min) on a machine shared with builds and tests, so absolute rates are a floor.")
    return lines


# ---------------------------------------------------------------- failover

def scans_since(db, since_ms):
    rows = psql(db.url, f"SELECT id, started_at, pid FROM scans WHERE started_at > {since_ms} ORDER BY started_at")
    return [(int(r[0]), int(r[1]), int(r[2] or 0)) for r in rows]


def failover_leader(binary, runs):
    db = Database("leader")
    samples, procs = [], {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = Path(tmp) / "pw.toml"
            cfg.write_text(f"[cluster]\nlease = \"2s\"\n\n[[group]]\nname = \"tick\"\ntargets = [\"127.0.0.1\"]\n"
                           f"ports = \"T:{pick_ports(1, random.Random())[0]}\"\nevery = \"1s\"\n")

            def start(slot):
                p = Proc([str(binary), "run", "--config", str(cfg), "--listen", f"127.0.0.1:{free_port()}",
                          "--database", db.url], f"replica-{slot}")
                wait_until("a replica to listen", 120, lambda: "dashboard and API listening" in p.text())
                procs[slot] = p

            start(0)
            start(1)
            for i in range(runs):
                wait_until("a scan", 60, lambda: scans_since(db, now_ms() - 3000))
                leader_pid = scans_since(db, 0)[-1][2]
                slot = next(s for s, p in procs.items() if p.p.pid == leader_pid)
                time.sleep(random.uniform(0, 1))  # kill at a random point of the leader's cycle
                killed = now_ms()
                procs[slot].kill9()
                nxt = wait_until("a scan on the other replica", 60,
                                 lambda: [s for s in scans_since(db, killed) if s[2] != leader_pid])
                took = (nxt[0][1] - killed) / 1000
                samples.append({"seconds": took, "rss_kb": 0, "correct": took <= 3.0, "exit": 0,
                                "note": f"next scan {took:.2f} s after kill -9 (bound 3.00 s)"})
                print(f"  run {i + 1}/{runs} leader failover {took:.2f} s", flush=True)
                start(slot)
    finally:
        for p in procs.values():
            p.stop()
        db.close()
    return samples


def failover_agent(binary, runs):
    db = Database("agent")
    samples, procs = [], {}
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            cfg = tmp / "pw.toml"
            closed = [p for p in pick_ports(150, random.Random())]
            ports = sorted(closed + [listener.getsockname()[1]])
            cfg.write_text(f"[vantage.{VANTAGE}]\nreach = \"lan\"\n\n[[group]]\nname = \"slow\"\ntargets = [\"127.0.0.1\"]\n"
                           f"ports = \"T:{','.join(map(str, ports))}\"\nevery = \"10s\"\n"
                           f"vantages = [\"{VANTAGE}\"]\n[group.scan]\nrate = 30\nprobes = false\n")
            tokens = {f"fo-{i}": token(binary, db, f"fo-{i}") for i in range(2)}
            port = free_port()
            server = Proc([str(binary), "run", "--config", str(cfg), "--listen", f"127.0.0.1:{port}",
                           "--database", db.url, "--agent-lease", "2s"], "server")
            wait_until("the server to listen", 120, lambda: "dashboard and API listening" in server.text())

            def start(name):
                procs[name] = Proc([str(binary), "agent", "--server", f"http://127.0.0.1:{port}", "--token",
                                    tokens[name], "--name", name, "--spool", str(tmp / name)], name)

            for name in tokens:
                start(name)
            for i in range(runs):
                def claimed():
                    rows = psql(db.url, "SELECT id, claimed_by, attempt FROM jobs WHERE status = 'claimed' "
                                        "AND shard = '' ORDER BY id DESC LIMIT 1")
                    return rows[0] if rows else None
                job, agent, attempt = wait_until("a claimed job", 60, claimed)
                time.sleep(1.0)  # mid-job: the scan takes about 5 s at 30 probes/s
                killed = now_ms()
                procs[agent].kill9()

                def finished():
                    rows = psql(db.url, f"SELECT status, finished_at, claimed_by, attempt, "
                                        f"(result::json->>'elapsed_ms') FROM jobs WHERE id = {job}")
                    r = rows[0]
                    return r if r[0] in ("done", "applied") and r[1] else None
                status, fin, by, att, elapsed = wait_until("the job finished elsewhere", 120, finished)
                took = (int(fin) - killed) / 1000
                ok = by != agent and int(att) > int(attempt)
                samples.append({"seconds": took, "rss_kb": 0, "correct": ok, "exit": 0,
                                "scan_seconds": int(elapsed or 0) / 1000,
                                "note": f"finished by {by} (attempt {att}); its scan took "
                                        f"{int(elapsed or 0) / 1000:.2f} s"})
                print(f"  run {i + 1}/{runs} agent failover {took:.2f} s ({samples[-1]['note']})", flush=True)
                start(agent)
            server.stop()
    finally:
        for p in procs.values():
            p.stop()
        listener.close()
        db.close()
    return samples


def bench_failover(binary, runs):
    print("  leader: kill -9 of the scheduling replica", flush=True)
    leader = failover_leader(binary, runs)
    print("  agent: kill -9 of the agent holding a job", flush=True)
    agent = failover_agent(binary, runs)
    return {"title": "Failover with [cluster] lease = 2s and --agent-lease 2s (PostgreSQL, loopback)",
            "truth": "leader: next scheduled scan started on the other replica within one lease period + 1 s "
                     "(3 s); agent: the killed agent's job finished by the other agent, as a later attempt",
            "kind": "failover",
            "results": {"kill -9 leader -> next scan starts elsewhere": leader,
                        "kill -9 agent mid-job -> job finished elsewhere": agent}}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--failover-runs", type=int, default=5)
    ap.add_argument("--prefix", default="127.0.0.0/12")
    ap.add_argument("--agents", default="1,2,4")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds to wait for one scan")
    ap.add_argument("--binary", type=Path, default=None)
    ap.add_argument("--out", default=None, help="sweep result file (default bench/results/scale.json)")
    ap.add_argument("--pin", action="store_true", help="sweep: scanning processes on CPU 0, the server and "
                    "PostgreSQL on CPU 1")
    ap.add_argument("benches", nargs="+", choices=["sweep", "failover", "all"])
    args = ap.parse_args()
    binary = args.binary or next((p for p in (ROOT / "target" / "release" / "portwatch",
                                              ROOT / "target" / "debug" / "portwatch") if p.exists()), None)
    if binary is None:
        sys.exit("no portwatch binary: cargo build --release --bin portwatch, or give --binary")
    binary = binary.resolve()
    # A fresh database makes `portwatch run` write a first-run admin token file: keep it in a
    # directory of this run's own.
    data_home = tempfile.TemporaryDirectory(prefix="pwscale-")
    os.environ["XDG_DATA_HOME"] = data_home.name
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} cores, {platform.system()} "
            f"{platform.release()}, PostgreSQL {psql(pg_admin(), 'SHOW server_version')[0][0]} on 127.0.0.1",
            "build": build_label(binary)}
    names = ["sweep", "failover"] if "all" in args.benches else args.benches
    if "sweep" in names:
        print(f"== sweep {args.prefix}", flush=True)
        global PIN
        if args.pin:
            if (os.cpu_count() or 1) < 2:
                sys.exit("--pin needs two CPUs")
            PIN = ("0", "1")
            pin_postgres(PIN[1])
        try:
            data = bench_sweep(binary, args.prefix, args.runs, [int(a) for a in args.agents.split(",")],
                               args.timeout)
        finally:
            if PIN:
                pin_postgres(f"0-{os.cpu_count() - 1}")
        data.update(meta, runs=args.runs)
        data["notes"] = goal_notes(data)
        (RESULTS / (args.out or "scale.json")).write_text(json.dumps(data, indent=1))
    if "failover" in names:
        print("== failover", flush=True)
        data = bench_failover(binary, args.failover_runs)
        data.update(meta, runs=args.failover_runs, versions={"portwatch": meta["build"]})
        (RESULTS / "failover.json").write_text(json.dumps(data, indent=1))
    subprocess.run([sys.executable, str(ROOT / "bench" / "bench.py"), "--report-only"], check=True)


if __name__ == "__main__":
    main()
