#!/usr/bin/env bash
# Interleaved A/B of two rxperf binaries (rxrpc client and server of the same build) on
# 127.0.0.1: each round runs every case with A, then with B, so that both see the same load
# on a shared machine. Prints one line per run and the medians.
#
#   bench/ab.sh OLD_RXPERF NEW_RXPERF [ROUNDS]
#
# Each side may carry rxperf options for both its server and its client after the binary,
# in one word-split argument, e.g. to compare settings of one build:
#
#   bench/ab.sh "$R --ack-hold 0" "$R" 3      # R=$CARGO_TARGET_DIR/release/rxperf
#
# (--ack-hold only matters to the server; the client accepts and ignores it.)
#
# Cases: 100 MB SEND and RECV in one call; 4/4-byte RPCs with 1 caller (4000 calls) and 8
# callers (8 x 2000 calls).
set -euo pipefail
A="$1"
B="$2"
ROUNDS="${3:-5}"
CASES=(
    "send|-c send -b 100000000 -T 1"
    "recv|-c recv -b 100000000 -T 1"
    "rpc1|-c rpc -S 4 -R 4 -T 4000"
    "rpc8|-c rpc -S 4 -R 4 -T 2000 -t 8"
)
OUT="$(mktemp)"
trap 'rm -f "$OUT"' EXIT

one() { # "BIN [OPTIONS...]" ARGS... -> "Gbit/s" or "calls/s"
    local side port bin
    read -r -a side <<<"$1"
    bin="${side[0]}"
    local extra=("${side[@]:1}")
    shift
    port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$bin" server --bind 127.0.0.1 -p "$port" "${extra[@]}" >/dev/null 2>&1 &
    local srv=$!
    sleep 0.3
    local rep
    rep=$("$bin" client -s 127.0.0.1 -p "$port" --no-progress "${extra[@]}" "$@" 2>&1 || true)
    kill -INT "$srv" 2>/dev/null || true
    wait "$srv" 2>/dev/null || true
    if [[ "$rep" =~ RPC\ latency:\ calls\ [0-9]+,\ ([0-9]+)\ calls/s ]]; then
        echo "${BASH_REMATCH[1]}"
    elif [[ "$rep" =~ \[([0-9.]+)\ (Gbit|Mbit)/s\] ]]; then
        if [ "${BASH_REMATCH[2]}" = Mbit ]; then
            python3 -c "print(${BASH_REMATCH[1]} / 1000)"
        else
            echo "${BASH_REMATCH[1]}"
        fi
    else
        echo nan
    fi
}

for r in $(seq "$ROUNDS"); do
    for c in "${CASES[@]}"; do
        name="${c%%|*}"
        read -r -a args <<<"${c#*|}"
        a=$(one "$A" "${args[@]}")
        b=$(one "$B" "${args[@]}")
        echo "round $r $name A $a B $b" | tee -a "$OUT"
    done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$OUT" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    _, _, name, _, a, _, b = line.split()
    rows.setdefault(name, ([], []))
    rows[name][0].append(float(a))
    rows[name][1].append(float(b))
unit = {"send": "Gbit/s", "recv": "Gbit/s", "rpc1": "calls/s", "rpc8": "calls/s"}
for name, (a, b) in rows.items():
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"{name}: A {ma:.4g} [{min(a):.4g}-{max(a):.4g}]  B {mb:.4g} [{min(b):.4g}-{max(b):.4g}] {unit[name]}  B/A {mb / ma:.2f}")
EOF
