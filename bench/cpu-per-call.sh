#!/usr/bin/env bash
# Where a small RPC's CPU goes: for rxrpc ↔ rxrpc and OpenAFS ↔ OpenAFS, run C concurrent
# callers of 4-byte/4-byte RPCs on 127.0.0.1 and report, per call, the calls/s, the user and
# system CPU time of the client and of the server process (from /proc/PID/stat), and the
# datagrams on the wire (counted with tcpdump on lo in a separate, shorter run with UDP
# segmentation offload and coalescing off, so every datagram is seen once).
#
#   bench/cpu-per-call.sh [--calls N] [--callers C] [--rounds R]
#
# Defaults: 8 callers × 5000 calls, 3 rounds (median, min, max). Needs the same builds as
# bench/run.sh (it builds them) and, for the datagram count, tcpdump (skipped without it or
# without the right to capture). Prints a Markdown table; bench/results/ keeps one.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/rxrpc-target}"
CALLS=5000
CALLERS=8
ROUNDS=3
while [ $# -gt 0 ]; do
    case "$1" in
        --calls) CALLS="$2"; shift 2 ;;
        --callers) CALLERS="$2"; shift 2 ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        *) echo "usage: bench/cpu-per-call.sh [--calls N] [--callers C] [--rounds R]" >&2; exit 2 ;;
    esac
done
cargo build --release -q -p rxrpc-cli --bin rxperf
R="$CARGO_TARGET_DIR/release/rxperf"
P="$(bench/openafs-peer/build.sh)"
TCK=$(getconf CLK_TCK)

free_port() {
    python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# cpu PID -> "utime stime" in clock ticks
cpu() { awk '{print $14, $15}' "/proc/$1/stat"; }

# one IMPL -> "calls/s cli_user cli_sys srv_user srv_sys" (µs per call)
one() {
    local impl="$1" port srv out
    port=$(free_port)
    if [ "$impl" = rxrpc ]; then
        "$R" server --bind 127.0.0.1 -p "$port" >/dev/null 2>&1 &
    else
        "$P" server -a 127.0.0.1 -p "$port" -n >/dev/null 2>&1 &
    fi
    srv=$!
    sleep 0.4
    local s0 s1
    s0=$(cpu "$srv")
    if [ "$impl" = rxrpc ]; then
        "$R" client -s 127.0.0.1 -p "$port" --no-progress -c rpc -S 4 -R 4 -T "$CALLS" -t "$CALLERS" >"$TMP/out" &
    else
        "$P" client -s 127.0.0.1 -p "$port" -c rpc -S 4 -R 4 -T "$CALLS" -t "$CALLERS" >"$TMP/out" 2>&1 &
    fi
    local cli=$! c=""
    # The client's CPU is read just before it exits: poll its stat until it is gone.
    while [ -e "/proc/$cli/stat" ]; do
        c=$(cpu "$cli" 2>/dev/null || echo "$c")
        sleep 0.02
    done
    wait "$cli"
    s1=$(cpu "$srv")
    kill "$srv"
    wait "$srv" 2>/dev/null || true
    python3 - "$TMP/out" "$c" "$s0" "$s1" "$TCK" "$((CALLS * CALLERS))" <<'EOF'
import re, sys
out, c, s0, s1, tck, n = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4].split(), int(sys.argv[5]), int(sys.argv[6])
m = re.search(r"(\d+) calls/s", open(out).read())
us = lambda t: int(t) * 1e6 / tck / n
print(m.group(1) if m else "0", us(c[0]), us(c[1]), us(int(s1[0]) - int(s0[0])), us(int(s1[1]) - int(s0[1])))
EOF
}

# datagrams IMPL -> datagrams per call (or "n/a")
datagrams() {
    local impl="$1" port srv tcpd n=400
    command -v tcpdump >/dev/null || { echo n/a; return; }
    port=$(free_port)
    if [ "$impl" = rxrpc ]; then
        RXRPC_NO_GSO=1 RXRPC_NO_GRO=1 "$R" server --bind 127.0.0.1 -p "$port" >/dev/null 2>&1 &
    else
        "$P" server -a 127.0.0.1 -p "$port" -n >/dev/null 2>&1 &
    fi
    srv=$!
    tcpdump -i lo -w "$TMP/cap.pcap" -s 64 "udp port $port" >/dev/null 2>&1 &
    tcpd=$!
    sleep 0.8
    if [ "$impl" = rxrpc ]; then
        RXRPC_NO_GSO=1 RXRPC_NO_GRO=1 "$R" client -s 127.0.0.1 -p "$port" --no-progress -c rpc -S 4 -R 4 -T "$n" -t "$CALLERS" >/dev/null
    else
        "$P" client -s 127.0.0.1 -p "$port" -c rpc -S 4 -R 4 -T "$n" -t "$CALLERS" >/dev/null 2>&1
    fi
    sleep 0.5
    kill "$tcpd" "$srv" 2>/dev/null || true
    wait "$tcpd" "$srv" 2>/dev/null || true
    local pk
    pk=$(tcpdump -r "$TMP/cap.pcap" 2>/dev/null | wc -l || echo 0)
    if [ "$pk" -gt 0 ]; then
        python3 -c "print(round($pk / ($n * $CALLERS), 2))"
    else
        echo n/a
    fi
}

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
for round in $(seq "$ROUNDS"); do
    for impl in rxrpc openafs; do
        echo "$impl $(one "$impl")" | tee -a "$TMP/runs" >&2
    done
done
D_RX=$(datagrams rxrpc)
D_AFS=$(datagrams openafs)

python3 - "$TMP/runs" "$D_RX" "$D_AFS" "$CALLERS" "$CALLS" "$ROUNDS" <<'EOF'
import statistics, sys
runs, d_rx, d_afs, callers, calls, rounds = sys.argv[1:]
rows = {}
for line in open(runs):
    f = line.split()
    rows.setdefault(f[0], []).append([float(x) for x in f[1:]])
def fmt(vals, digits):
    m = statistics.median(vals)
    return f"{m:.{digits}f} [{min(vals):.{digits}f}–{max(vals):.{digits}f}]"
print(f"4/4-byte RPCs, {callers} callers × {calls} calls, {rounds} rounds: median [min–max]; CPU in µs per call")
print()
print("| pair | calls/s | client user | client sys | server user | server sys | CPU per call, both | datagrams per call |")
print("|---|---|---|---|---|---|---|---|")
for impl, name, d in (("rxrpc", "rxrpc ↔ rxrpc", d_rx), ("openafs", "OpenAFS ↔ OpenAFS", d_afs)):
    r = rows.get(impl, [])
    if not r:
        continue
    col = lambda i: [x[i] for x in r]
    total = [x[1] + x[2] + x[3] + x[4] for x in r]
    print(f"| {name} | {fmt(col(0), 0)} | {fmt(col(1), 1)} | {fmt(col(2), 1)} | {fmt(col(3), 1)} | {fmt(col(4), 1)} | {fmt(total, 1)} | {d} |")
EOF
