#!/usr/bin/env bash
# Every test of the project: the README's test command (`bash tests/all.sh`).
# Rust unit and integration tests (HTTPS against the loopback mock), then a process-level
# smoke test: the dbtoken-mock binary as the C/Go/Java suites use it, and the dbtoken CLI.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Rust tests (workspace)"
cargo test --workspace --all-targets
cargo test --workspace --doc

echo "== CLI against the mock as a separate process"
cargo build --quiet --bin dbtoken -p dbtoken -p dbtoken-mock
work=$(mktemp -d)
mkfifo "$work/stdin"
./target/debug/dbtoken-mock --ca-out "$work/ca.pem" --jwt-out "$work/jwt" --exit-on-stdin-eof \
  <"$work/stdin" >"$work/mock.json" &
mock_pid=$!
exec 3>"$work/stdin"            # holding the fifo open keeps the mock alive
cleanup() { exec 3>&- 2>/dev/null || true; wait "$mock_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 100); do [ -s "$work/mock.json" ] && break; sleep 0.05; done
url=$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' "$work/mock.json")
[ -n "$url" ] || { echo "mock did not start"; exit 1; }
out=$(env -i HOME="$work" PATH="$PATH" DATABRICKS_HOST="$url" SSL_CERT_FILE="$work/ca.pem" \
  DATABRICKS_OIDC_TOKEN_FILEPATH="$work/jwt" ./target/debug/dbtoken token --json)
case "$out" in
  *'"token_type":"Bearer"'*'"expires_in":'*|*'"expires_in":'*'"token_type":"Bearer"'*) ;;
  *) echo "unexpected dbtoken output shape"; exit 1 ;;
esac
set +e
env -i HOME="$work" PATH="$PATH" DATABRICKS_HOST="$url" ./target/debug/dbtoken token 2>/dev/null
code=$?
set -e
[ "$code" -eq 3 ] || { echo "expected exit 3 without auth configuration, got $code"; exit 1; }
echo "smoke: 2 passed, 0 failed"
