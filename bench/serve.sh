#!/usr/bin/env bash
# dbtoken serve under load: requests/second and peak RSS, against a peer in the same run
# (Python's http.server answering the same JSON from a file: the simplest local token
# server a team might write). Uses wrk over loopback, bounded in time.
# Usage: bench/serve.sh   (writes bench/results/serve.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
mkdir -p bench/results
cargo build --quiet --profile dist --bin dbtoken
cargo build --quiet --release -p dbtoken-mock
work=$(mktemp -d)
# shellcheck source=tests/mock-env.sh
source tests/mock-env.sh
start_mock "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
peer_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DBTOKEN_LOG=warn target/dist/dbtoken serve --listen "127.0.0.1:$port" --workers 4 >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
mkdir -p "$work/peer"
trap 'kill $serve_pid $peer_pid 2>/dev/null; stop_mock; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q METADATA_SERVICE_URL "$work/serve.out" 2>/dev/null && break; sleep 0.05; done
headers=(-H "X-Databricks-Metadata-Version: 1" -H "X-Databricks-Host: $DATABRICKS_HOST")
curl -sf "${headers[@]}" "http://127.0.0.1:$port/token" >"$work/peer/token"
(cd "$work/peer" && exec python3 -m http.server "$peer_port" --bind 127.0.0.1 >/dev/null 2>&1) &
peer_pid=$!
sleep 0.5
run() { # name url
    wrk -t2 -c16 -d5s "${headers[@]}" "$2" | awk -v n="$1" '/Requests\/sec/ {print n, $2} /Non-2xx/ {print n, "non-2xx", $NF}'
}
{
    echo "dbtoken serve benchmark $(date -u +%FT%TZ), $(nproc) cores, wrk -t2 -c16 -d5s"
    run dbtoken-serve "http://127.0.0.1:$port/token"
    run python-http.server "http://127.0.0.1:$peer_port/token"
    echo "dbtoken-serve peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$serve_pid/status)"
    echo "python-http.server peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$peer_pid/status)"
    echo "token exchanges during the run: $(curl -s --cacert "$DBTOKEN_MOCK_CA" "$DBTOKEN_MOCK_URL/_mock/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"].get("/oidc/v1/token", 0))')"
} | tee bench/results/serve.txt
