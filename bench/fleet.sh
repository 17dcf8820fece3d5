#!/usr/bin/env bash
# The fleet simulation (issue 19): N separate dbtoken Clients per refresh rule, started within
# one second, against a rate-limited loopback dbtoken-mock, with short-lived tokens so that a
# few refresh cycles fit in minutes. The rule before the jitter and the jittered rule run side
# by side in one process (examples/fleet.rs, which says what it measures).
#
# Usage: bench/fleet.sh [--check]      (from anywhere; rerunnable; about 4 min at N = 2,000)
# Env knobs: CLIENTS (2000 per rule), TTL (120 s tokens), CYCLES (3 refresh cycles),
#            RATE and BURST (the mock's limit: default CLIENTS/10 per second, bursts of CLIENTS/4),
#            POLL_MS (1000: how often each client's caller asks), SKIP_BUILD=1.
# Results: bench/results/fleet-N<CLIENTS>.txt (also printed).
# Exit status: 0 when it ran; with --check, 1 when a check failed (a failed caller request
# or an expired token under either rule, a client short of its cycles, or the jittered
# rule's peak exchanges/s above half the old rule's in a cycle); 2 when it could not run.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
CLIENTS="${CLIENTS:-2000}"
args=(--clients "$CLIENTS" --ttl "${TTL:-120}" --cycles "${CYCLES:-3}" --poll-ms "${POLL_MS:-1000}")
[ -z "${RATE:-}" ] || args+=(--rate "$RATE")
[ -z "${BURST:-}" ] || args+=(--burst "$BURST")
for a in "$@"; do
    case "$a" in
        --check) args+=(--check) ;;
        *) echo "usage: bench/fleet.sh [--check]" >&2; exit 2 ;;
    esac
done

cd "$ROOT"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    echo "==> cargo build --release --features bench --example fleet" >&2
    cargo build --release --quiet --features bench --example fleet
fi
# Two sockets per client (its end and the mock's, in the same process) and a thread each.
need=$((CLIENTS * 5 + 256))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
    ulimit -n "$need" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
mkdir -p "$BENCH_DIR/results"
out="$BENCH_DIR/results/fleet-N$CLIENTS.txt"
{
    echo "dbtoken fleet simulation $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    target/release/examples/fleet "${args[@]}"
} | tee "$out"
