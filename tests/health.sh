#!/usr/bin/env bash
# The /metrics of both sidecars read by a real Prometheus client library: prometheus-client
# (PyPI, pinned) in a venv parses each scrape with its text-format parser
# (tests/health/parse_metrics.py), for `dbtoken serve` (healthy, and one the server refuses)
# and `dbtoken write --watch --health-listen`, against the dbtoken-mock binary.
#   bash tests/health.sh     (installs prometheus-client into tests/health/.venv)
# Ends with "health: 3 passed, 0 failed"; exits non-zero on any failure. Never prints a token.
set -euo pipefail
cd "$(dirname "$0")/.."

PROM_VERSION=0.26.0
VENV=tests/health/.venv

prom_ok() {
    [ -x "$VENV/bin/python" ] &&
        "$VENV/bin/python" -c "import sys, importlib.metadata as m; sys.exit(m.version('prometheus-client') != '$PROM_VERSION')" 2>/dev/null
}
if ! prom_ok; then
    echo "health: creating $VENV with prometheus-client==$PROM_VERSION"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "prometheus-client==$PROM_VERSION"
    prom_ok || { echo "health: prometheus-client $PROM_VERSION did not install in $VENV" >&2; exit 1; }
fi

cargo build --release --quiet --bin dbtoken
cargo build --release --quiet -p dbtoken-mock
BIN=./target/release/dbtoken
VERSION=$("$BIN" --version | awk '{print $2}')

work=$(mktemp -d)
# shellcheck source=tests/mock-env.sh
source tests/mock-env.sh
start_mock "$work"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    stop_mock
    rm -rf "$work"
}
trap cleanup EXIT
export DATABRICKS_CLIENT_ID=$DBTOKEN_MOCK_SP_CLIENT_ID

# serve on a kernel-chosen port: the port is in the URL it prints (into ADDR).
start_serve() { # NAME [SERVE ARGS...]
    local name=$1
    shift
    "$BIN" serve --listen 127.0.0.1:0 "$@" >"$work/$name.out" 2>"$work/$name.err" &
    PIDS+=($!)
    for _ in $(seq 200); do grep -q '^DATABRICKS_METADATA_SERVICE_URL=' "$work/$name.out" 2>/dev/null && break; sleep 0.05; done
    ADDR=$(sed -n 's|^DATABRICKS_METADATA_SERVICE_URL=http://\([^/]*\)/.*|\1|p' "$work/$name.out")
    [ -n "$ADDR" ] || { echo "health: serve did not start: $(cat "$work/$name.err")" >&2; exit 1; }
}

# GET a path; fail unless the status is as expected. Prints the body.
get() { # ADDR PATH STATUS [HEADER...]
    local addr=$1 path=$2 want=$3
    shift 3
    local args=()
    for h in "$@"; do args+=(-H "$h"); done
    local code
    code=$(curl -s -o "$work/body" -w '%{http_code}' "${args[@]}" "http://$addr$path")
    [ "$code" = "$want" ] || { echo "health: GET $path on $addr: $code, expected $want: $(cat "$work/body")" >&2; exit 1; }
    cat "$work/body"
}

scrape() { # ADDR FILE
    local type
    type=$(curl -s -o "$2" -w '%{content_type}' "http://$1/metrics")
    [ "$type" = "text/plain; version=0.0.4; charset=utf-8" ] || { echo "health: /metrics Content-Type '$type'" >&2; exit 1; }
}

parse() { "$VENV/bin/python" tests/health/parse_metrics.py --version "$VERSION" "$@"; }

now=$(date +%s)
passed=0

# 1. serve, healthy, with a health-only listener too: two token requests, a 404, the probes;
# scraped on the health listener, which counts the token listener's replies as well.
start_serve serve --health-listen 127.0.0.1:0
serve=$ADDR
probe=$(sed -n 's|.*health endpoints on http://\([^:]*:[0-9]*\):.*|\1|p' "$work/serve.err")
[ -n "$probe" ] || { echo "health: no health listener: $(cat "$work/serve.err")" >&2; exit 1; }
md=(X-Databricks-Metadata-Version:\ 1 "X-Databricks-Host: $DATABRICKS_HOST")
get "$serve" /token 200 "${md[@]}" >"$work/served.json"
get "$serve" /token 200 "${md[@]}" >/dev/null
sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$work/served.json" >"$work/served"
[ -s "$work/served" ] || { echo "health: /token gave no access_token" >&2; exit 1; }
get "$serve" /nope 404 >/dev/null
get "$probe" /token 404 "${md[@]}" >/dev/null
[ "$(get "$serve" /healthz 200)" = ok ]
echo "health: serve /readyz: $(get "$serve" /readyz 200)"
echo "health: serve --health-listen /readyz: $(get "$probe" /readyz 200)"
scrape "$probe" "$work/serve.prom"
parse --sidecar serve < "$work/serve.prom" \
    --expect 'dbtoken_ready==1' \
    --expect 'dbtoken_refreshes_total==1' \
    --expect 'dbtoken_refresh_failures_total==0' \
    --expect 'dbtoken_refresh_consecutive_failures==0' \
    --expect 'dbtoken_token_expiry_seconds>3000' \
    --expect "dbtoken_token_expiry_timestamp_seconds>$((now + 3000))" \
    --expect "dbtoken_token_refresh_timestamp_seconds>=$((now + 1920 - 60))" \
    --expect "dbtoken_token_refresh_timestamp_seconds<=$((now + 2400 + 60))" \
    --expect "dbtoken_last_refresh_success_timestamp_seconds>=$((now - 60))" \
    --expect 'dbtoken_http_requests_total{code="200"}==5' \
    --expect 'dbtoken_http_requests_total{code="404"}==2'
passed=$((passed + 1))

# 2. serve that the server refuses (an unknown service principal): not ready, counted by kind.
DATABRICKS_CLIENT_ID=00000000-0000-4000-8000-000000000000 start_serve refused
refused=$ADDR
echo "health: refused serve /readyz: $(get "$refused" /readyz 503)"
scrape "$refused" "$work/refused.prom"
parse --sidecar serve < "$work/refused.prom" \
    --expect 'dbtoken_ready==0' \
    --expect 'dbtoken_refresh_failures_total>=1' \
    --expect 'dbtoken_refresh_failures_by_kind_total{kind="rejected"}>=1' \
    --expect 'dbtoken_refresh_consecutive_failures>=1' \
    --expect 'dbtoken_http_requests_total{code="503"}==1' \
    --absent dbtoken_token_expiry_seconds \
    --absent dbtoken_token_refresh_timestamp_seconds \
    --absent dbtoken_last_refresh_success_timestamp_seconds
passed=$((passed + 1))

# 3. write --watch --health-listen on a kernel-chosen port (logged on stderr).
"$BIN" write --watch --out "$work/token" --health-listen 127.0.0.1:0 2>"$work/write.err" &
PIDS+=($!)
for _ in $(seq 200); do [ -s "$work/token" ] && grep -q 'health endpoints on' "$work/write.err" && break; sleep 0.05; done
write=$(sed -n 's|.*health endpoints on http://\([^:]*:[0-9]*\):.*|\1|p' "$work/write.err")
[ -n "$write" ] || { echo "health: write did not start: $(cat "$work/write.err")" >&2; exit 1; }
echo "health: write /readyz: $(get "$write" /readyz 200)"
scrape "$write" "$work/write.prom"
parse --sidecar write < "$work/write.prom" \
    --expect 'dbtoken_ready==1' \
    --expect 'dbtoken_refreshes_total==1' \
    --expect 'dbtoken_token_expiry_seconds>3000' \
    --expect 'dbtoken_http_requests_total{code="200"}==1'
passed=$((passed + 1))

# No token in any scrape or log.
for f in "$work"/*.prom "$work"/*.err; do
    for t in "$work/token" "$work/served"; do
        if grep -qF "$(cat "$t")" "$f"; then echo "health: a token leaked into $(basename "$f")" >&2; exit 1; fi
    done
done
echo "health: $passed passed, 0 failed"
