#!/usr/bin/env bash
# The cost of each security level (rxnull, rxkad clear/auth/crypt, yfs-rxgk plain/auth/crypt)
# in one run: bulk throughput, small-RPC rate and instructions per MB, with ratios to rxnull.
# Writes bench/results/security-<date>-<commit>.md and bench/results/security-latest.md.
#
#   bench/security.sh [--runs N] [--bulk-bytes N] [--rpc-calls N] [--no-callgrind]
#
# Builds `cargo build --release -p rxrpc-cli --bin rxperf` into $CARGO_TARGET_DIR (default
# /var/tmp/rxrpc-target). Needs python3 and valgrind. About 4 minutes on a 2-CPU machine.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/rxrpc-target}"
cargo build --release -q -p rxrpc-cli --bin rxperf
COMMIT="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
OUT="bench/results/security-$(date -u +%Y%m%d-%H%M%S)-$COMMIT.md"
python3 bench/security.py --rxperf "$CARGO_TARGET_DIR/release/rxperf" --out "$OUT" \
    --command "bench/security.sh $*" --commit "$COMMIT ($(git log -1 --format=%s | cut -c1-60))" "$@"
cp "$OUT" bench/results/security-latest.md
