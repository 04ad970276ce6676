#!/usr/bin/env python3
"""The rxperf benchmark: rxrpc against OpenAFS rx and the raw UDP limit, in one run.

Run through bench/run.sh, which builds the programs and passes their paths. Everything talks
to 127.0.0.1 only. Each figure is the median of --runs runs, with min and max; the table goes
to stdout and, with the raw data, the exact command, the commit and the CPU, to
bench/results/<date>-<commit>/ and bench/results/latest.md.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPORT = re.compile(
    r"^(SEND|RECV|RPC|FILE[^:]*): threads\t(\d+), times\t(\d+), .*:\t *(\d+) msec\t\[([0-9.e+-]+|inf) (Gbit|Mbit|kbit)/s\]$"
)
LATENCY = re.compile(
    r"^RPC latency: calls (\d+), (\d+) calls/s, min ([0-9.]+) us, p50 ([0-9.]+) us, p90 ([0-9.]+) us, "
    r"p99 ([0-9.]+) us, p99.9 ([0-9.]+) us, max ([0-9.]+) us$"
)
BLAST = re.compile(r"^blast (\d+): (\d+) bytes received in ([0-9.]+) s: ([0-9.]+) Gbit/s")
PINGPONG = re.compile(r"^pingpong (\d+) x (\d+): (\d+) calls in ([0-9.]+) s: (\d+) calls/s, p50 ([0-9.]+) us, p99 ([0-9.]+) us")
SCALE = {"Gbit": 1e9, "Mbit": 1e6, "kbit": 1e3}


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rx_version_probe(port, tries=40, wait=0.25):
    """True once something answers an Rx VERSION packet on 127.0.0.1:port."""
    pkt = bytearray(28)
    pkt[20] = 13  # VERSION
    pkt[21] = 1  # CLIENT_INITIATED
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(wait)
        for _ in range(tries):
            s.sendto(bytes(pkt), ("127.0.0.1", port))
            try:
                s.recvfrom(2048)
                return True
            except OSError:
                pass
    return False


class Server:
    """A server process on a free port, stopped with SIGINT (then SIGKILL)."""

    def __init__(self, name, argv_for_port, prefix=(), probe_tries=40):
        self.name = name
        for _ in range(5):
            self.port = free_port()
            argv = list(prefix) + argv_for_port(self.port)
            self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if rx_version_probe(self.port, tries=probe_tries):
                self.argv = argv
                return
            self.proc.kill()
            self.proc.wait()
        raise RuntimeError(f"{name}: server did not come up")

    def stop(self, timeout=60, wait_first=0.0):
        """Stop the server (SIGINT, then SIGKILL); with `wait_first`, first give it that long
        to exit by itself."""
        if wait_first:
            try:
                self.proc.wait(timeout=wait_first)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def run(argv, timeout=300):
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout, time.monotonic() - t0


def parse_rxperf(out):
    r = {}
    for line in out.splitlines():
        m = REPORT.match(line)
        if m:
            r["msec"] = int(m.group(4))
            r["bps"] = float(m.group(5)) * SCALE[m.group(6)]
        m = LATENCY.match(line)
        if m:
            r["calls_s"] = float(m.group(2))
            r["p50"] = float(m.group(4))
            r["p99"] = float(m.group(6))
    if "bps" not in r:
        raise RuntimeError(f"no report line in {out!r}")
    return r


class Stat:
    def __init__(self, values):
        self.values = list(values)

    @property
    def med(self):
        return statistics.median(self.values) if self.values else float("nan")

    def fmt(self, scale=1.0, digits=2):
        if not self.values:
            return "–"
        v = [x / scale for x in self.values]
        return f"{statistics.median(v):.{digits}f} [{min(v):.{digits}f}–{max(v):.{digits}f}]"


def ratio(a, b):
    if not b or b != b or a != a:
        return "–"
    return f"{a / b:.2f}×"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rxperf", required=True)
    ap.add_argument("--peer", required=True)
    ap.add_argument("--udp", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bulk-bytes", type=int, default=100_000_000)
    ap.add_argument("--rpc-calls", type=int, default=16000, help="calls per run with 1 caller")
    ap.add_argument("--callgrind", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--keep", default=tempfile.gettempdir(), help="directory for the raw callgrind profiles")
    ap.add_argument("--command", default="")
    ap.add_argument("--commit", default="")
    a = ap.parse_args()

    R, P = a.rxperf, a.peer
    runs = a.runs
    t_start = time.monotonic()
    raw = {"bulk": {}, "rpc": {}, "udp": {}, "callgrind": {}}

    # The rxrpc driver without UDP segmentation offload on send (GSO) or coalescing on receive
    # (GRO): one datagram per message, still batched by sendmmsg/recvmmsg.
    PLAIN = ("env", "RXRPC_NO_GSO=1", "RXRPC_NO_GRO=1")
    # Both ends poll this long before sleeping (rxrpc::RuntimeConfig::busy_poll); OpenAFS has
    # no such setting.
    BUSY_POLL_US = "50"

    def ours(port, *args):
        return [R, "client", "-s", "127.0.0.1", "-p", str(port), "--no-progress", *args]

    def theirs(port, *args):
        return [P, "client", "-s", "127.0.0.1", "-p", str(port), *args]

    log("starting servers")
    servers = {
        "rx": Server("rxrpc", lambda p: [R, "server", "--bind", "127.0.0.1", "-p", str(p)]),
        "rx32": Server("rxrpc -W 32", lambda p: [R, "server", "--bind", "127.0.0.1", "-p", str(p), "-W", "32"]),
        "rxplain": Server("rxrpc plain I/O", lambda p: [R, "server", "--bind", "127.0.0.1", "-p", str(p)], prefix=PLAIN),
        "rxbusy": Server("rxrpc busy-poll", lambda p: [R, "server", "--bind", "127.0.0.1", "-p", str(p), "--busy-poll", BUSY_POLL_US]),
        "afs": Server("OpenAFS", lambda p: [P, "server", "-a", "127.0.0.1", "-p", str(p), "-n"]),
        "afs255": Server("OpenAFS -W 255", lambda p: [P, "server", "-a", "127.0.0.1", "-p", str(p), "-n", "-W", "255"]),
        "afsreach": Server("OpenAFS checkReach", lambda p: [P, "server", "-a", "127.0.0.1", "-p", str(p)]),
    }
    port = {k: s.port for k, s in servers.items()}
    B = str(a.bulk_bytes)
    try:
        # --- bulk -------------------------------------------------------------------------
        bulk_rows = [
            ("rxrpc → rxrpc", lambda op: ours(port["rx"], "-c", op, "-b", B, "-T", "1")),
            ("rxrpc → rxrpc, window 32", lambda op: ours(port["rx32"], "-c", op, "-b", B, "-T", "1", "-W", "32")),
            ("rxrpc → rxrpc, no GSO/GRO", lambda op: [*PLAIN, *ours(port["rxplain"], "-c", op, "-b", B, "-T", "1")]),
            ("OpenAFS → OpenAFS (window 32, defaults)", lambda op: theirs(port["afs"], "-c", op, "-b", B, "-T", "1")),
            ("OpenAFS → OpenAFS, window 255", lambda op: theirs(port["afs255"], "-c", op, "-b", B, "-T", "1", "-W", "255")),
            ("rxrpc client → OpenAFS server", lambda op: ours(port["afs"], "-c", op, "-b", B, "-T", "1")),
            ("OpenAFS client → rxrpc server", lambda op: theirs(port["rx"], "-c", op, "-b", B, "-T", "1")),
            ("rxrpc client → OpenAFS server with checkReach (stock rxperf)", lambda op: ours(port["afsreach"], "-c", op, "-b", B, "-T", "1")),
        ]
        for name, cmd in bulk_rows:
            for op in ("send", "recv"):
                key = f"{name} | {op}"
                raw["bulk"][key] = {"argv": cmd(op), "runs": []}
                for i in range(runs):
                    # A fresh client process per run: the checkReach row pays its ping each time.
                    out, _ = run(cmd(op))
                    raw["bulk"][key]["runs"].append(parse_rxperf(out))
                log(f"bulk {key}: {Stat(r['bps'] for r in raw['bulk'][key]['runs']).fmt(1e9)} Gbit/s")

        # --- raw UDP ----------------------------------------------------------------------
        for size in (1440, 5688):
            key = f"blast {size}"
            raw["udp"][key] = []
            for i in range(runs):
                out, _ = run([a.udp, "blast", str(size), B])
                m = BLAST.search(out)
                raw["udp"][key].append({"bps": float(m.group(4)) * 1e9})
            log(f"udp {key}: {Stat(r['bps'] for r in raw['udp'][key]).fmt(1e9)} Gbit/s")
        for pairs in (1, 8):
            key = f"pingpong 32 x {pairs}"
            raw["udp"][key] = []
            calls = max(1000, a.rpc_calls * 5 // pairs)
            for i in range(runs):
                out, _ = run([a.udp, "pingpong", "32", str(calls), str(pairs)])
                m = PINGPONG.search(out)
                raw["udp"][key].append({"calls_s": float(m.group(5)), "p50": float(m.group(6)), "p99": float(m.group(7))})
            log(f"udp {key}: {Stat(r['calls_s'] for r in raw['udp'][key]).fmt(1, 0)} calls/s")

        # --- small RPCs --------------------------------------------------------------------
        busy = lambda port, *args: ours(port, "--busy-poll", BUSY_POLL_US, *args)
        pairs = [
            ("rxrpc → rxrpc", ours, "rx"),
            (f"rxrpc → rxrpc, busy-poll {BUSY_POLL_US} µs", busy, "rxbusy"),
            ("OpenAFS → OpenAFS", theirs, "afs"),
            ("rxrpc client → OpenAFS server", ours, "afs"),
            ("OpenAFS client → rxrpc server", theirs, "rx"),
        ]
        for (s, r) in ((4, 4), (100, 1000)):
            for callers in (1, 8):
                per = max(100, a.rpc_calls // callers)
                for name, client, srv in pairs:
                    key = f"{s}/{r} B, {callers} caller{'s' if callers > 1 else ''} | {name}"
                    argv = client(port[srv], "-c", "rpc", "-S", str(s), "-R", str(r), "-T", str(per), "-t", str(callers))
                    raw["rpc"][key] = {"argv": argv, "runs": []}
                    for i in range(runs):
                        out, _ = run(argv)
                        raw["rpc"][key]["runs"].append(parse_rxperf(out))
                    log(f"rpc {key}: {Stat(x['calls_s'] for x in raw['rpc'][key]['runs']).fmt(1, 0)} calls/s")
    finally:
        for s in servers.values():
            s.stop(timeout=10)

    # --- callgrind ---------------------------------------------------------------------------
    if a.callgrind and shutil.which("valgrind"):
        raw["callgrind"] = callgrind(a, R, P)
    elif a.callgrind:
        log("valgrind not found: no instruction counts")

    elapsed = time.monotonic() - t_start
    table = render(a, raw, elapsed)
    print(table)
    os.makedirs(a.results, exist_ok=True)
    with open(os.path.join(a.results, "table.md"), "w") as f:
        f.write(table)
    with open(os.path.join(a.results, "raw.json"), "w") as f:
        json.dump(raw, f, indent=1, sort_keys=True)
    latest = os.path.join(os.path.dirname(a.results.rstrip("/")), "latest.md")
    with open(latest, "w") as f:
        f.write(table)
    log(f"results in {a.results} (and {latest}); {elapsed:.0f} s")


# --- callgrind ---------------------------------------------------------------------------------

def cg_total(path):
    """Total Ir of a callgrind output file."""
    with open(path) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def callgrind(a, R, P):
    """Instructions per MB (SEND) and per call (4/4 B RPC), client and server side, for both
    implementations: the difference of a small and a large run cancels start-up costs."""
    vg = ["valgrind", "--tool=callgrind", "--quiet"]
    # The raw profiles stay outside the repository (callgrind_annotate them again at will).
    work = os.path.join(a.keep, os.path.basename(a.results.rstrip("/")))
    os.makedirs(work, exist_ok=True)
    out = {}
    big, small = 20_000_000, 4_000_000
    many, few = 1000, 200

    def client_side(name, client_argv, server):
        """client_argv(port, variant) -> argv; variant is 'big','small','many','few'."""
        res = {}
        for variant in ("small", "big", "few", "many"):
            f = os.path.join(work, f"{name}-client-{variant}.out")
            run(vg + [f"--callgrind-out-file={f}"] + client_argv(server.port, variant), timeout=600)
            res[variant] = cg_total(f)
            if variant == "big":
                res["annotate"] = annotate(f, os.path.join(a.results, f"callgrind-{name}-client-send.txt"))
            if variant == "many":
                res["annotate_rpc"] = annotate(f, os.path.join(a.results, f"callgrind-{name}-client-rpc.txt"))
        return res

    def server_side(name, server_argv, client_argv, exits_by_itself=False):
        res = {}
        for variant in ("small", "big", "few", "many"):
            f = os.path.join(work, f"{name}-server-{variant}.out")
            calls = 1 if variant in ("small", "big") else (few if variant == "few" else many)
            srv = Server(f"{name} server under callgrind", lambda p: server_argv(p, calls), prefix=vg + [f"--callgrind-out-file={f}"], probe_tries=120)
            run(client_argv(srv.port, variant), timeout=600)
            srv.stop(timeout=120, wait_first=60 if exits_by_itself else 0)
            res[variant] = cg_total(f)
            if variant == "big":
                res["annotate"] = annotate(f, os.path.join(a.results, f"callgrind-{name}-server-send.txt"))
            if variant == "many":
                res["annotate_rpc"] = annotate(f, os.path.join(a.results, f"callgrind-{name}-server-rpc.txt"))
        return res

    def ours(p, v):
        if v in ("small", "big"):
            return [R, "client", "-p", str(p), "--no-progress", "-c", "send", "-T", "1", "-b", str(big if v == "big" else small)]
        return [R, "client", "-p", str(p), "--no-progress", "-c", "rpc", "-S", "4", "-R", "4", "-T", str(many if v == "many" else few)]

    def theirs(p, v):
        if v in ("small", "big"):
            return [P, "client", "-p", str(p), "-c", "send", "-T", "1", "-b", str(big if v == "big" else small)]
        return [P, "client", "-p", str(p), "-c", "rpc", "-S", "4", "-R", "4", "-T", str(many if v == "many" else few)]

    log("callgrind: client side")
    rx_srv = Server("rxrpc", lambda p: [R, "server", "--bind", "127.0.0.1", "-p", str(p)])
    afs_srv = Server("OpenAFS", lambda p: [P, "server", "-a", "127.0.0.1", "-p", str(p), "-n"])
    try:
        out["rxrpc client"] = client_side("rxrpc", ours, rx_srv)
        out["OpenAFS client"] = client_side("openafs", theirs, afs_srv)
    finally:
        rx_srv.stop(timeout=10)
        afs_srv.stop(timeout=10)
    log("callgrind: server side")
    out["rxrpc server"] = server_side(
        "rxrpc", lambda p, calls: [R, "server", "--bind", "127.0.0.1", "-p", str(p)], ours)
    out["OpenAFS server"] = server_side(
        "openafs", lambda p, calls: [P, "server", "-a", "127.0.0.1", "-p", str(p), "-n", "-x", str(calls)], theirs,
        exits_by_itself=True)
    for v in list(out.values()):
        v["per_mb"] = (v["big"] - v["small"]) / ((big - small) / 1e6)
        v["per_call"] = (v["many"] - v["few"]) / (many - few)
    out["raw_profiles"] = work
    return out


CATEGORIES = [
    ("malloc/free", re.compile(r"malloc\.c:|:(malloc|free|realloc|calloc)\b|__rust_(alloc|dealloc|realloc)")),
    ("memcpy/memset", re.compile(r"memmove|memcpy|memset")),
    ("hashing (SipHash)", re.compile(r"hash/sip\.rs|BuildHasher|hash_one|DefaultHasher")),
    ("locks", re.compile(r"pthread_mutex|pthread_cond|futex")),
    ("clock", re.compile(r"time\.rs:.*Timespec|clock_gettime|vdso")),
    ("tokio", re.compile(r"tokio-")),
    ("rxrpc-proto tx", re.compile(r"rxrpc-proto/src/call/tx\.rs|rxrpc_proto::call::tx")),
    ("rxrpc-proto rx", re.compile(r"rxrpc-proto/src/call/rx\.rs|rxrpc_proto::call::rx")),
    ("rxrpc-proto wire", re.compile(r"rxrpc-proto/src/wire|rxrpc_proto::wire")),
    ("rxrpc-proto endpoint", re.compile(r"rxrpc-proto/src/endpoint|rxrpc_proto::endpoint")),
    ("rxrpc-proto other", re.compile(r"rxrpc-proto/|rxrpc_proto::")),
    ("rxrpc driver/call", re.compile(r"rxrpc/src/|rxrpc::")),
    ("rxperf app", re.compile(r"rxrpc-cli/|rxrpc_cli::")),
    ("collections (BinaryHeap, VecDeque, HashMap)", re.compile(r"collections/|collections::|hashbrown")),
    ("bytes", re.compile(r"bytes-[0-9.]+/|bytes::")),
    ("OpenAFS rx", re.compile(r"rxperf-peer\]")),
]


def annotate(path, dest):
    """The profile of one run, saved next to the table: own instructions grouped by
    category, then the top functions by own (exclusive) and by inclusive instructions."""
    if not shutil.which("callgrind_annotate"):
        return None
    excl = subprocess.run(["callgrind_annotate", "--auto=no", "--threshold=99", path],
                          capture_output=True, text=True).stdout
    incl = subprocess.run(["callgrind_annotate", "--auto=no", "--inclusive=yes", "--threshold=99", path],
                          capture_output=True, text=True).stdout
    line_re = re.compile(r"^\s*([0-9,]+) \(\s*[0-9.]+%\)\s+(.*)$")
    total, groups = 0, {}
    in_table = False
    for line in excl.splitlines():
        # Only the function table (after the "file:function" heading, up to its end).
        if line.rstrip().endswith("file:function"):
            in_table = True
            continue
        m = line_re.match(line)
        if not m:
            if in_table and line.strip() and not line.startswith("-"):
                in_table = False
            continue
        if "PROGRAM TOTALS" not in line and not in_table:
            continue
        n = int(m.group(1).replace(",", ""))
        what = m.group(2)
        if "PROGRAM TOTALS" in what:
            total = n
            continue
        cat = next((c for c, rx in CATEGORIES if rx.search(what)), "other")
        groups[cat] = groups.get(cat, 0) + n
    out = [f"# {os.path.basename(path)}: {total:,} instructions", "", "## Own instructions by category", ""]
    for cat, n in sorted(groups.items(), key=lambda kv: -kv[1]):
        out.append(f"{n:>14,}  {100 * n / max(total, 1):5.1f}%  {cat}")
    out += ["", "## Top functions, own instructions (callgrind_annotate)", ""]
    out += excl.splitlines()[:70]
    out += ["", "## Top functions, inclusive (callgrind_annotate --inclusive=yes)", ""]
    out += incl.splitlines()[:70]
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(dest, "w") as f:
        f.write("\n".join(out) + "\n")
    return os.path.basename(dest)


# --- the table ---------------------------------------------------------------------------------

def render(a, raw, elapsed):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()
    L = []
    L.append(f"# rxperf benchmark, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}")
    L.append("")
    L.append(f"* command: `{a.command}`")
    L.append(f"* commit: {a.commit}")
    L.append(f"* CPU: {cpu}, {os.cpu_count()} CPUs; kernel {platform.release()}; load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    L.append(f"* {a.runs} runs per figure: median [min–max]; bulk = one call of {a.bulk_bytes / 1e6:.0f} MB; everything on 127.0.0.1; whole run {elapsed:.0f} s")
    L.append("* rxrpc = this repository's `rxperf` (tokio, current-thread runtime per process); OpenAFS = `bench/openafs-peer/rxperf-peer` on Debian's libafsrpc 1.8.9 (rx_SetCheckReach off, `-n`, except where noted)")
    L.append("")

    bulk = raw["bulk"]
    udp = raw["udp"]

    def bstat(key):
        return Stat(r["bps"] for r in bulk[key]["runs"]) if key in bulk else Stat([])

    limit = Stat(r["bps"] for r in udp.get("blast 1440", [])).med
    limit_j = Stat(r["bps"] for r in udp.get("blast 5688", [])).med
    L.append("## Bulk, one call (Gbit/s)")
    L.append("")
    L.append("| pair | SEND | ×OpenAFS | of UDP limit | RECV | ×OpenAFS | of UDP limit |")
    L.append("|---|---|---|---|---|---|---|")
    names = []
    for key in bulk:
        n = key.split(" | ")[0]
        if n not in names:
            names.append(n)
    base = "OpenAFS → OpenAFS (window 32, defaults)"
    for n in names:
        cells = [n]
        for op in ("send", "recv"):
            s = bstat(f"{n} | {op}")
            b = bstat(f"{base} | {op}").med
            cells += [s.fmt(1e9, 3), ratio(s.med, b), f"{s.med / limit:.0%}" if limit else "–"]
        L.append("| " + " | ".join(cells) + " |")
    L.append(f"| raw UDP, 1440-byte datagrams (Rx DATA size) | {Stat(r['bps'] for r in udp.get('blast 1440', [])).fmt(1e9, 3)} | | 100% | | | |")
    L.append(f"| raw UDP, 5688-byte datagrams (4-packet jumbogram) | {Stat(r['bps'] for r in udp.get('blast 5688', [])).fmt(1e9, 3)} | | {limit_j / limit:.0%} | | | |" if limit else "")
    L.append("")
    L.append("The UDP limit sends one datagram per system call, as OpenAFS does; the rxrpc driver")
    L.append("sends runs of datagrams as one segmented message (UDP GSO) and receives them coalesced")
    L.append("(GRO), so it can exceed that limit (the \"no GSO/GRO\" row turns both off).")
    L.append("")

    L.append("## Small RPCs")
    L.append("")
    L.append("| request/reply, callers | pair | calls/s | ×OpenAFS | of UDP ping-pong | p50 µs | p99 µs |")
    L.append("|---|---|---|---|---|---|---|")
    rpc = raw["rpc"]
    for key, v in rpc.items():
        shape, pair = key.split(" | ")
        callers = 8 if "8 callers" in shape else 1
        base_key = f"{shape} | OpenAFS → OpenAFS"
        cs = Stat(r["calls_s"] for r in v["runs"])
        bs = Stat(r["calls_s"] for r in rpc[base_key]["runs"]).med if base_key in rpc else float("nan")
        pp = Stat(r["calls_s"] for r in udp.get(f"pingpong 32 x {callers}", [])).med
        L.append(
            f"| {shape} | {pair} | {cs.fmt(1, 0)} | {ratio(cs.med, bs)} | {cs.med / pp:.0%} | "
            f"{Stat(r['p50'] for r in v['runs']).fmt(1, 0)} | {Stat(r['p99'] for r in v['runs']).fmt(1, 0)} |"
        )
    for pairs in (1, 8):
        k = f"pingpong 32 x {pairs}"
        if k in udp:
            L.append(
                f"| 32 B ping-pong, {pairs} pair{'s' if pairs > 1 else ''} | raw UDP | {Stat(r['calls_s'] for r in udp[k]).fmt(1, 0)} | | 100% | "
                f"{Stat(r['p50'] for r in udp[k]).fmt(1, 1)} | {Stat(r['p99'] for r in udp[k]).fmt(1, 1)} |"
            )
    L.append("")
    L.append("The raw UDP ping-pong blocks in recv, as OpenAFS and rxrpc's default do; in the busy-poll")
    L.append("rows both rxrpc endpoints keep polling for 50 µs before they sleep (`--busy-poll 50`,")
    L.append("`rxrpc::RuntimeConfig::busy_poll`), trading CPU for the cost of waking a halted vCPU.")
    L.append("")

    cg = raw.get("callgrind") or {}
    if cg:
        L.append("## Instructions (callgrind, one run each; difference of a 20 MB and a 4 MB SEND, of 1000 and 200 4/4-byte RPCs)")
        L.append("")
        L.append("| side | instructions per MB (SEND) | per call (4/4 B RPC) | profiles (20 MB SEND; 1000 RPCs) |")
        L.append("|---|---|---|---|")
        for k, v in cg.items():
            if not isinstance(v, dict):
                continue
            L.append(
                f"| {k} | {v['per_mb'] / 1e6:.1f} M | {v['per_call'] / 1e3:.0f} k | "
                f"{v.get('annotate') or ''} {v.get('annotate_rpc') or ''} |"
            )
        tot = {}
        for impl in ("rxrpc", "OpenAFS"):
            c, s = cg.get(f"{impl} client"), cg.get(f"{impl} server")
            if c and s:
                tot[impl] = (c["per_mb"] + s["per_mb"], c["per_call"] + s["per_call"])
        if len(tot) == 2:
            L.append(
                f"| both sides, rxrpc / OpenAFS | {tot['rxrpc'][0] / tot['OpenAFS'][0]:.2f}× | {tot['rxrpc'][1] / tot['OpenAFS'][1]:.2f}× | |"
            )
        L.append("")
        L.append("User-space instructions only (system calls are not counted); a window-limited run under")
        L.append("valgrind may retransmit, which counts too. The profile files group each side's own")
        L.append("instructions by category and list the top functions; the raw callgrind outputs were kept in")
        L.append(f"`{cg.get('raw_profiles', '?')}` on the machine that ran this (not in the repository).")
        L.append("")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    main()
