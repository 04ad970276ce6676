#!/usr/bin/env bash
# Build bench/openafs-peer/rxperf-peer.c against OpenAFS's Rx library (Debian libopenafs-dev:
# /usr/lib/libafsrpc.a, headers in /usr/include/{afs,rx}) with gcc.
#
#   bench/openafs-peer/build.sh [OUTPUT]
#
# OUTPUT defaults to $CARGO_TARGET_DIR/openafs-peer/rxperf-peer (or /tmp/rxrpc-openafs-peer/
# rxperf-peer without CARGO_TARGET_DIR). Prints the path of the binary on stdout. Rebuilds
# only when the source or this script is newer than the binary. Never writes into the repo.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="$HERE/rxperf-peer.c"
if [ $# -ge 1 ]; then
    OUT="$1"
elif [ -n "${CARGO_TARGET_DIR:-}" ]; then
    OUT="$CARGO_TARGET_DIR/openafs-peer/rxperf-peer"
else
    OUT="/tmp/rxrpc-openafs-peer/rxperf-peer"
fi
mkdir -p "$(dirname "$OUT")"
if [ -x "$OUT" ] && [ "$OUT" -nt "$SRC" ] && [ "$OUT" -nt "${BASH_SOURCE[0]}" ]; then
    echo "$OUT"
    exit 0
fi
[ -f /usr/lib/libafsrpc.a ] && [ -f /usr/include/rx/rx.h ] || {
    echo "build.sh: OpenAFS's Rx library is missing: apt-get install libopenafs-dev" >&2
    exit 1
}
# libafsrpc.a needs rk_socket (Heimdal roken) and hc_RAND_bytes (Heimdal hcrypto); Debian
# ships only the runtime .so for those (no -dev symlink), so link them by path.
find_lib() {
    local f
    for f in /usr/lib/x86_64-linux-gnu/"$1".so* /usr/lib/*/"$1".so* /usr/lib/"$1".so*; do
        [ -e "$f" ] && { echo "$f"; return 0; }
    done
    echo "build.sh: $1 not found (package libroken19-heimdal / libhcrypto5-heimdal)" >&2
    return 1
}
ROKEN="$(find_lib libroken)"
HCRYPTO="$(find_lib libhcrypto)"
TMP="$OUT.tmp.$$"
gcc -O2 -g -Wall -Wno-unused-result -o "$TMP" "$SRC" /usr/lib/libafsrpc.a "$ROKEN" "$HCRYPTO" -lpthread
mv -f "$TMP" "$OUT"
echo "$OUT"
