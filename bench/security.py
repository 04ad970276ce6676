#!/usr/bin/env python3
"""The cost of each security level: rxperf on 127.0.0.1 with rxnull, rxkad clear/auth/crypt and
yfs-rxgk plain/auth/crypt (enctypes 18 and 20), side by side in one run.

For every class: a one-call SEND of --bulk-bytes (median/min/max of --runs runs, Gbit/s),
small RPCs (3 B / 30 B, one caller, calls/s), and -- unless --no-callgrind -- the instructions
each side executes per MB moved (valgrind --tool=callgrind on the client of a SEND and on the
server of the same SEND, minus a 1-byte SEND: the per-byte cost of securing and verifying).
Ratios are against rxnull. Writes a Markdown table to --out (and prints it).

Run through bench/security.sh, which builds rxperf in release first.
"""
import argparse, os, re, signal, socket, statistics, subprocess, sys, tempfile, time

RXKAD_KEY = "0123456789abcdef"
RXGK_KEYS = {18: "18:1:" + "42" * 32, 20: "20:1:" + "43" * 32}

CLASSES = [
    ("rxnull", "none", []),
    ("rxkad clear", "rxkad:clear", ["--rxkad-key", RXKAD_KEY]),
    ("rxkad auth", "rxkad:auth", ["--rxkad-key", RXKAD_KEY]),
    ("rxkad crypt", "rxkad:crypt", ["--rxkad-key", RXKAD_KEY]),
    ("rxgk plain (aes256-sha1)", "rxgk:plain", ["--rxgk-key", RXGK_KEYS[18]]),
    ("rxgk auth (aes256-sha1)", "rxgk:auth", ["--rxgk-key", RXGK_KEYS[18]]),
    ("rxgk crypt (aes256-sha1)", "rxgk:crypt", ["--rxgk-key", RXGK_KEYS[18]]),
    ("rxgk auth (aes256-sha384)", "rxgk:auth", ["--rxgk-key", RXGK_KEYS[20]]),
    ("rxgk crypt (aes256-sha384)", "rxgk:crypt", ["--rxgk-key", RXGK_KEYS[20]]),
]


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def server_args(rxperf, port, sec, keys):
    # The server accepts the class at its lowest level, so one server serves every level.
    cls = sec.split(":")[0]
    lowest = {"rxkad": "rxkad:clear", "rxgk": "rxgk:plain"}.get(cls, "none")
    return [rxperf, "server", "-p", str(port), "--bind", "127.0.0.1", "--security", lowest] + keys


def client(rxperf, port, sec, keys, args, prefix=()):
    cmd = list(prefix) + [rxperf, "client", "-s", "127.0.0.1", "-p", str(port), "--no-progress",
                          "--json", "--security", sec] + keys + args
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {out.stderr.strip()}")
    import json
    return json.loads(out.stdout.strip().splitlines()[-1])


def start(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.4)
    if p.poll() is not None:
        raise RuntimeError(f"{' '.join(cmd)}: {p.stderr.read()}")
    return p


def stop(p):
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def callgrind_total(path):
    with open(path) as f:
        for line in f:
            m = re.match(r"(?:summary|totals):\s+(\d+)", line)
            if m:
                return int(m.group(1))
    raise RuntimeError(f"no totals in {path}")


def instructions_per_mb(rxperf, sec, keys, nbytes, tmp):
    """(client Ir/MB, server Ir/MB) of a SEND of nbytes, minus a 1-byte SEND."""
    res = {}
    for nb in (1, nbytes):
        port = free_port()
        cg = ["valgrind", "--tool=callgrind", "--quiet"]
        srv_out = os.path.join(tmp, f"srv-{nb}.cg")
        cli_out = os.path.join(tmp, f"cli-{nb}.cg")
        srv = start(cg + [f"--callgrind-out-file={srv_out}"] + server_args(rxperf, port, sec, keys))
        time.sleep(2.0)  # valgrind start-up
        client(rxperf, port, sec, keys, ["-c", "send", "-b", str(nb), "-T", "1"],
               prefix=cg + [f"--callgrind-out-file={cli_out}"])
        stop(srv)
        res[nb] = (callgrind_total(cli_out), callgrind_total(srv_out))
    mb = (nbytes - 1) / 1e6
    return tuple((res[nbytes][i] - res[1][i]) / mb for i in range(2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rxperf", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bulk-bytes", type=int, default=50_000_000)
    ap.add_argument("--rpc-calls", type=int, default=2000)
    ap.add_argument("--callgrind-bytes", type=int, default=5_000_000)
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", default="")
    ap.add_argument("--commit", default="")
    a = ap.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, sec, keys in CLASSES:
            port = free_port()
            srv = start(server_args(a.rxperf, port, sec, keys))
            try:
                bulk = []
                for _ in range(a.runs):
                    r = client(a.rxperf, port, sec, keys, ["-c", "send", "-b", str(a.bulk_bytes), "-T", "1"])
                    bulk.append(a.bulk_bytes * 8 / r["elapsed_secs"] / 1e9 if "elapsed_secs" in r else r["gbit_per_sec"])
                rpc = []
                for _ in range(a.runs):
                    r = client(a.rxperf, port, sec, keys, ["-c", "rpc", "-T", str(a.rpc_calls)])
                    rpc.append(r["calls_per_sec"])
            finally:
                stop(srv)
            ir = (None, None) if a.no_callgrind else instructions_per_mb(a.rxperf, sec, keys, a.callgrind_bytes, tmp)
            rows.append((name, bulk, rpc, ir))
            print(f"{name}: bulk {statistics.median(bulk):.3f} Gbit/s, rpc {statistics.median(rpc):.0f}/s, Ir/MB {ir}", file=sys.stderr)

    base_bulk = statistics.median(rows[0][1])
    base_rpc = statistics.median(rows[0][2])
    base_ir = rows[0][3]
    lines = [
        "# Cost of each security level (rxperf on 127.0.0.1)", "",
        f"Command: `{a.command}`  ", f"Commit: {a.commit}  ",
        f"CPU: {cpu()}  ", f"Load average at start: {os.getloadavg()[0]:.2f}  ",
        f"Bulk: one SEND of {a.bulk_bytes} bytes; RPC: 3 B / 30 B, one caller, {a.rpc_calls} calls; "
        f"median (min-max) of {a.runs} runs. Instructions: callgrind, per MB of a {a.callgrind_bytes}-byte SEND "
        "minus a 1-byte SEND, client (secures) and server (verifies).", "",
        "| class | bulk Gbit/s | × rxnull | RPC calls/s | × rxnull | client Ir/MB | server Ir/MB | × rxnull (client+server) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, bulk, rpc, ir in rows:
        mb, mr = statistics.median(bulk), statistics.median(rpc)
        irs = "n/a | n/a | n/a" if ir[0] is None else (
            f"{ir[0]/1e6:.1f} M | {ir[1]/1e6:.1f} M | {(ir[0]+ir[1])/(base_ir[0]+base_ir[1]):.2f}")
        lines.append(f"| {name} | {mb:.3f} ({min(bulk):.3f}-{max(bulk):.3f}) | {mb/base_bulk:.2f} | "
                     f"{mr:.0f} ({min(rpc):.0f}-{max(rpc):.0f}) | {mr/base_rpc:.2f} | {irs} |")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(a.out, "w") as f:
        f.write(text)


def cpu():
    try:
        with open("/proc/cpuinfo") as f:
            names = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")]
        return f"{names[0]} × {len(names)}"
    except OSError:
        return "unknown"


if __name__ == "__main__":
    main()
