#!/usr/bin/env bash
# End-to-end check of `dbtoken serve` with the unmodified Databricks SDKs for Python and Go:
# each gets DATABRICKS_AUTH_TYPE=metadata-service, DATABRICKS_HOST (the loopback mock) and
# DATABRICKS_METADATA_SERVICE_URL (what serve printed), and no other auth variable, and calls
# current-user "me" on the mock. Then the mock's stats must show one token exchange for all.
#   bash tests/sdk/run.sh        (installs what it needs: venvs tests/sdk/.venv-<version>, Go modules)
# Python runs with databricks-sdk 0.67.0 and with the newest release, each in its own venv.
# Ends with "sdk: 3 passed, 0 failed"; exits non-zero on any failure. Never prints a token.
set -euo pipefail
cd "$(dirname "$0")/../.."

PY_SDK_OLDEST=0.67.0 # the field report's version; the newest PyPI serves is added below
SDK_DIR=tests/sdk

command -v go >/dev/null 2>&1 || export PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null 2>&1 || { echo "sdk: go not found" >&2; exit 1; }

t0=$(date +%s)
say() { echo "sdk: [$(($(date +%s) - t0))s] $*"; }

# --- build --------------------------------------------------------------------------------
say "building dbtoken and dbtoken-mock"
cargo build --release --quiet -p dbtoken-mock --bin dbtoken-mock
cargo build --release --quiet --bin dbtoken

# --- Python venvs: databricks-sdk 0.67.0 (the field report's) and the newest PyPI serves --------
newest=$(python3 -m pip index versions databricks-sdk 2>/dev/null | sed -n 's/^databricks-sdk (\(.*\))$/\1/p')
[ -n "$newest" ] || { echo "sdk: pip index versions databricks-sdk gave no version" >&2; exit 1; }
PY_SDK_VERSIONS=("$PY_SDK_OLDEST")
[ "$newest" = "$PY_SDK_OLDEST" ] || PY_SDK_VERSIONS+=("$newest")
py_sdk_ok() { # VENV VERSION
    [ -x "$1/bin/python" ] &&
        "$1/bin/python" -c "import sys, databricks.sdk.version as v; sys.exit(v.__version__ != '$2')" 2>/dev/null
}
for v in "${PY_SDK_VERSIONS[@]}"; do
    venv=$SDK_DIR/.venv-$v
    py_sdk_ok "$venv" "$v" && continue
    say "creating $venv with databricks-sdk==$v"
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        rm -rf "$venv"
        say "python3 -m venv failed; installing python3-venv"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "databricks-sdk==$v"
    py_sdk_ok "$venv" "$v" || { echo "sdk: databricks-sdk $v did not install in $venv" >&2; exit 1; }
done

# --- Go checker (modules pinned by tests/sdk/go/go.mod and go.sum) ----------------------------
work=$(mktemp -d)
say "building the Go checker"
(cd "$SDK_DIR/go" && go build -mod=readonly -o "$work/sdkcheck" .)

# --- mock and dbtoken serve -----------------------------------------------------------------
# shellcheck source=tests/mock-env.sh
source tests/mock-env.sh
start_mock "$work"

SERVE_PID=
cleanup() {
    local rc=$?
    if [ -n "$SERVE_PID" ]; then kill -TERM "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true; fi
    stop_mock
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT

# Port 0: the kernel picks a free port, and serve prints the URL it actually listens on.
target/release/dbtoken serve --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
SERVE_PID=$!
MS_URL=
for _ in $(seq 200); do
    MS_URL=$(sed -n 's/^DATABRICKS_METADATA_SERVICE_URL=//p' "$work/serve.out")
    [ -n "$MS_URL" ] && break
    kill -0 "$SERVE_PID" 2>/dev/null || break
    sleep 0.05
done
if [ -z "$MS_URL" ]; then
    echo "sdk: dbtoken serve did not print its URL; stdout:" >&2
    cat "$work/serve.out" >&2
    echo "stderr:" >&2
    cat "$work/serve.err" >&2
    exit 1
fi
grep -qx "DATABRICKS_AUTH_TYPE=metadata-service" "$work/serve.out" ||
    { echo "sdk: serve did not print DATABRICKS_AUTH_TYPE=metadata-service" >&2; exit 1; }
grep -qx "DATABRICKS_HOST=$DBTOKEN_MOCK_URL" "$work/serve.out" ||
    { echo "sdk: serve did not print DATABRICKS_HOST=$DBTOKEN_MOCK_URL" >&2; exit 1; }
say "dbtoken serve is up at $MS_URL"

# The SDKs' whole environment: no DATABRICKS_OIDC_TOKEN_FILEPATH, client id or secret; an
# empty config file and a scratch HOME so no ~/.databrickscfg is read.
mkdir -p "$work/home"
sdk_env=(env -i "PATH=$PATH" "HOME=$work/home" "LANG=C.UTF-8"
    DATABRICKS_AUTH_TYPE=metadata-service
    "DATABRICKS_HOST=$DBTOKEN_MOCK_URL"
    "DATABRICKS_METADATA_SERVICE_URL=$MS_URL"
    "DATABRICKS_CONFIG_FILE=$DATABRICKS_CONFIG_FILE")

passed=0 failed=0
run_check() { # NAME COMMAND...
    local name=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
    else
        echo "sdk: $name FAILED" >&2
        failed=$((failed + 1))
    fi
}

# databricks-sdk-py uses requests, which ignores SSL_CERT_FILE: a private CA needs REQUESTS_CA_BUNDLE.
for v in "${PY_SDK_VERSIONS[@]}"; do
    run_check "python $v" "${sdk_env[@]}" "REQUESTS_CA_BUNDLE=$DBTOKEN_MOCK_CA" \
        "$SDK_DIR/.venv-$v/bin/python" "$SDK_DIR/py_metadata_service.py" "$v"
done
run_check go "${sdk_env[@]}" "SSL_CERT_FILE=$DBTOKEN_MOCK_CA" "$work/sdkcheck"

# --- server-side effects ------------------------------------------------------------------
stats=$(curl -sS --fail --cacert "$DBTOKEN_MOCK_CA" "$DBTOKEN_MOCK_URL/_mock/stats")
checks=$((${#PY_SDK_VERSIONS[@]} + 1))
if ! python3 - "$stats" "$checks" <<'EOF'; then
import json, sys
req = json.loads(sys.argv[1]).get("requests", {})
me = req.get("/api/2.0/preview/scim/v2/Me", 0)
checks = int(sys.argv[2])
exchanges = req.get("/oidc/v1/token", 0)
ok = True
if me < checks:
    print(f"sdk: mock saw /api/2.0/preview/scim/v2/Me {me} times, want >= {checks}", file=sys.stderr)
    ok = False
if exchanges != 1:
    print(f"sdk: mock saw /oidc/v1/token {exchanges} times, want exactly 1", file=sys.stderr)
    ok = False
if ok:
    print(f"sdk: mock stats ok (Me x{me}, one token exchange)")
sys.exit(0 if ok else 1)
EOF
    echo "sdk: mock stats: $stats" >&2
    passed=0 failed=$checks # the server-side effects are part of every check
fi

# --- stop serve: SIGTERM must end it with status 0 ------------------------------------------
kill -TERM "$SERVE_PID"
serve_rc=0
wait "$SERVE_PID" || serve_rc=$?
SERVE_PID=
if [ "$serve_rc" -ne 0 ]; then
    echo "sdk: dbtoken serve exited $serve_rc on SIGTERM; stderr:" >&2
    cat "$work/serve.err" >&2
    exit 1
fi
say "done"
echo "sdk: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -eq "$checks" ]
