#!/usr/bin/env bash
# The rxperf benchmark: rxrpc against OpenAFS rx and the raw UDP limit, side by side in one run,
# on 127.0.0.1. Prints one table with ratios and writes it, with the raw data, the exact
# command, the commit and the CPU, to bench/results/<date>-<commit>/ and bench/results/latest.md.
#
#   bench/run.sh [--runs N] [--bulk-bytes N] [--rpc-calls N] [--no-callgrind]
#
#   --runs N         runs per figure (median, min, max; default 5)
#   --bulk-bytes N   bytes of the one-call SEND/RECV (default 100000000)
#   --rpc-calls N    calls per small-RPC run with 1 caller (8 callers: N/8 each; default 16000,
#                    so that an 8-caller run lasts long enough for its start not to dominate)
#   --no-callgrind   skip the instruction counts (valgrind --tool=callgrind)
#
# Builds first: `cargo build --release -p rxrpc-cli` (the rxperf binary), the OpenAFS-rx peer
# (bench/openafs-peer/build.sh: gcc + libopenafs-dev) and bench/udp/udp-limit.c (gcc), all into
# $CARGO_TARGET_DIR (default /var/tmp/rxrpc-target), never into the repository. Needs python3.
# `bench/run.sh` (5 runs) takes about 4 minutes on a 2-CPU machine.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/rxrpc-target}"
COMMAND="bench/run.sh $*"

cargo build --release -q -p rxrpc-cli --bin rxperf
RXPERF="$CARGO_TARGET_DIR/release/rxperf"
PEER="$(bench/openafs-peer/build.sh)"
UDP="$CARGO_TARGET_DIR/bench/udp-limit"
mkdir -p "$(dirname "$UDP")"
if [ ! -x "$UDP" ] || [ bench/udp/udp-limit.c -nt "$UDP" ]; then
    gcc -O2 -Wall -o "$UDP" bench/udp/udp-limit.c -lpthread
fi

COMMIT="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain -- rxrpc rxrpc-proto rxrpc-cli bench 2>/dev/null)" ]; then
    COMMIT="$COMMIT+dirty"
fi
STAMP="$(date -u +%Y%m%d-%H%M%S)"
RESULTS="$REPO/bench/results/$STAMP-${COMMIT%+dirty}"

exec python3 bench/bench.py --rxperf "$RXPERF" --peer "$PEER" --udp "$UDP" --keep "$CARGO_TARGET_DIR/bench/callgrind" \
    --results "$RESULTS" --command "$COMMAND" --commit "$COMMIT ($(git log -1 --format=%s 2>/dev/null | cut -c1-60))" "$@"
