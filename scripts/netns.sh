#!/usr/bin/env bash
# The network namespaces of the impaired-network tests (rxrpc-testkit/src/netns.rs,
# rxrpc-testkit/tests/netem.rs), from a shell.
#
#   scripts/netns.sh check         can the tests run here, and with which backend: root,
#                                  iproute2, a netem qdisc (else the relay fallback), tbf
#   scripts/netns.sh list          the rxnt-* namespaces and whether their creator still runs
#   scripts/netns.sh sweep         delete the rxnt-* namespaces whose creator is gone (after
#                                  killing what still runs inside them)
#   scripts/netns.sh sweep --all   delete every rxnt-* namespace (no test may be running)
#
# Namespaces are named rxnt-<pid of the creating test process>-<n>-{a,b,m}; only those are
# ever touched. The tests sweep stale ones themselves when they start.
set -euo pipefail
PREFIX=rxnt-

die() { echo "netns.sh: $*" >&2; exit 1; }

owner() { # rxnt-<pid>-... -> pid
    local rest="${1#"$PREFIX"}"
    echo "${rest%%-*}"
}

namespaces() {
    ip netns list 2>/dev/null | awk '{print $1}' | grep "^$PREFIX" || true
}

destroy() {
    local ns="$1" pid
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
        kill -KILL "$pid" 2>/dev/null || true
    done
    ip netns delete "$ns"
    echo "deleted $ns"
}

cmd_check() {
    local ok=1
    if [ "$(id -u)" != 0 ]; then
        echo "root:   NO (effective uid $(id -u)); the tests skip (fail under CI)"
        ok=0
    else
        echo "root:   yes"
    fi
    for t in ip tc; do
        if command -v "$t" >/dev/null; then
            echo "$t:     $(command -v "$t")"
        else
            echo "$t:     MISSING (apt-get install iproute2)"
            ok=0
        fi
    done
    [ "$ok" = 1 ] || exit 1
    local ns="${PREFIX}$$-probe"
    ip netns add "$ns"
    trap 'ip netns delete "'"$ns"'" 2>/dev/null || true' EXIT
    local err
    if err="$(tc -n "$ns" qdisc add dev lo root netem delay 1ms 2>&1)"; then
        echo "netem:  yes; the tests use the netem backend"
        tc -n "$ns" qdisc del dev lo root
    else
        echo "netem:  NO ($err); the tests use the relay backend (RXRPC_NETNS_BACKEND=netem makes them fail instead)"
        if [ -r /proc/config.gz ]; then
            echo "        kernel config: $(zcat /proc/config.gz | grep -E '^(# )?CONFIG_NET_SCH_NETEM[ =]' || echo 'CONFIG_NET_SCH_NETEM absent')," \
                "$(zcat /proc/config.gz | grep -E '^(# )?CONFIG_MODULES[ =]' || true)"
        fi
    fi
    if err="$(tc -n "$ns" qdisc add dev lo root tbf rate 50mbit burst 15140 limit 302800 2>&1)"; then
        echo "tbf:    yes (the relay backend's rate limit)"
    else
        echo "tbf:    NO ($err): the relay backend cannot limit the rate"
    fi
    local stale=0 n
    for n in $(namespaces); do
        [ -d "/proc/$(owner "$n")" ] || stale=$((stale + 1))
    done
    echo "stale:  $stale rxnt-* namespace(s) (scripts/netns.sh sweep)"
}

cmd_list() {
    local n pid
    for n in $(namespaces); do
        pid="$(owner "$n")"
        if [ -d "/proc/$pid" ]; then
            echo "$n  owner $pid running  processes: $(ip netns pids "$n" | tr '\n' ' ')"
        else
            echo "$n  owner $pid gone (stale)"
        fi
    done
}

cmd_sweep() {
    local all=0 n
    [ "${1:-}" = "--all" ] && all=1
    for n in $(namespaces); do
        if [ "$all" = 1 ] || [ ! -d "/proc/$(owner "$n")" ]; then
            destroy "$n"
        fi
    done
}

case "${1:-}" in
    check) cmd_check ;;
    list) cmd_list ;;
    sweep) shift; cmd_sweep "$@" ;;
    *) die "usage: $0 check | list | sweep [--all]" ;;
esac
