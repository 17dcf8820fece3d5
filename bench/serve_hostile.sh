#!/usr/bin/env bash
# dbtoken serve under hostile local clients: p50/p99 latency of a well-formed token request
# while 1,000 idle and 100 slowloris connections are open, against the same server without
# them and against a peer under the same load (Python's threading http.server answering the
# same JSON from a file). The target is < 100 ms. Bounded in time (each socket 5 s timeout).
# Usage: bench/serve_hostile.sh   (writes bench/results/serve_hostile.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
[ -n "${SKIP_BUILD:-}" ] || cargo build --quiet --profile dist --bin dbtoken
[ -n "${SKIP_BUILD:-}" ] || cargo build --quiet --release -p dbtoken-mock
bin=${DBTOKEN_BIN:-target/dist/dbtoken}
work=$(mktemp -d)
# shellcheck source=tests/mock-env.sh
source tests/mock-env.sh
start_mock "$work"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
peer_port=$(free_port)
ulimit -n 8192 2>/dev/null || true
DBTOKEN_LOG=warn "$bin" serve --listen "127.0.0.1:$port" >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
mkdir -p "$work/peer"
trap 'kill $serve_pid $peer_pid 2>/dev/null; stop_mock; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q METADATA_SERVICE_URL "$work/serve.out" 2>/dev/null && break; sleep 0.05; done
curl -sf -H "X-Databricks-Metadata-Version: 1" -H "X-Databricks-Host: $DATABRICKS_HOST" \
    "http://127.0.0.1:$port/token" >"$work/peer/token"
(cd "$work/peer" && exec python3 -m http.server "$peer_port" --bind 127.0.0.1 >/dev/null 2>&1) &
peer_pid=$!
sleep 0.5
drive() { timeout 120 python3 bench/serve_hostile.py "$@"; }
{
    echo "dbtoken serve under hostile clients $(date -u +%FT%TZ), $(nproc) cores, 200 requests each"
    drive dbtoken-serve-quiet "$port" "$DATABRICKS_HOST" 0 0
    drive dbtoken-serve-hostile "$port" "$DATABRICKS_HOST" 1000 100
    drive python-http.server-hostile "$peer_port" "$DATABRICKS_HOST" 1000 100 || echo "python-http.server-hostile: did not finish within 120 s"
    echo "dbtoken-serve peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$serve_pid/status)"
} | tee bench/results/serve_hostile.txt
