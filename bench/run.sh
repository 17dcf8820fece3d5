#!/usr/bin/env bash
# Benchmark: one cold `dbtoken token` vs curl (the single token-exchange POST) vs
# databricks-sdk-py `file-oidc`, all against the same loopback dbtoken-mock.
#
# Usage: bench/run.sh            (from anywhere; rerunnable)
# Env knobs: RUNS (default 30), WARMUP (3), RSS_RUNS (10), SDK_VERSION (pinned below),
#            SKIP_BUILD=1 to reuse existing release binaries.
# Results: bench/results/{hyperfine.json,hyperfine.md,rss.txt,summary.txt}
# Exit status: 0 when everything ran (targets missed are reported, not fatal);
#              non-zero only when a step failed to run.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
RESULTS="$BENCH_DIR/results"
VENV="$BENCH_DIR/.venv"
SDK_VERSION="${SDK_VERSION:-0.162.0}"
RUNS="${RUNS:-30}"
WARMUP="${WARMUP:-3}"
RSS_RUNS="${RSS_RUNS:-10}"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- 1. dependencies
apt_updated=0
apt_install() {
    if [ "$apt_updated" = 0 ]; then
        log "apt-get update"
        apt-get update -qq >/dev/null
        apt_updated=1
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

missing=()
command -v hyperfine >/dev/null 2>&1 || missing+=(hyperfine)
command -v curl >/dev/null 2>&1 || missing+=(curl)
[ -x /usr/bin/time ] || missing+=(time)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi

sdk_ok() {
    [ -x "$VENV/bin/python" ] &&
        "$VENV/bin/python" - "$SDK_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
from databricks.sdk.credentials_provider import file_oidc  # noqa: F401  (file-oidc exists)
sys.exit(0 if version("databricks-sdk") == sys.argv[1] else 1)
PY
}
if ! sdk_ok; then
    log "creating $VENV with databricks-sdk==$SDK_VERSION"
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        apt_install python3-venv
        python3 -m venv "$VENV"
    fi
    "$VENV/bin/pip" install -q --disable-pip-version-check "databricks-sdk==$SDK_VERSION"
    sdk_ok || die "databricks-sdk==$SDK_VERSION in $VENV lacks file-oidc or did not install"
fi
PY="$VENV/bin/python"

# ---------------------------------------------------------------- 2. build + mock
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "cargo build --profile dist (dbtoken, as shipped), --release (dbtoken-mock)"
    (cd "$ROOT" && cargo build --profile dist --quiet --bin dbtoken && cargo build --release --quiet -p dbtoken-mock)
    if rustup target list --installed 2>/dev/null | grep -q x86_64-unknown-linux-musl && command -v musl-gcc >/dev/null; then
        log "cargo build --profile dist --target x86_64-unknown-linux-musl (static)"
        (cd "$ROOT" && cargo build --profile dist --quiet --target x86_64-unknown-linux-musl --bin dbtoken)
    fi
fi
DBTOKEN="${DBTOKEN_BIN:-$ROOT/target/dist/dbtoken}"
DBTOKEN_STATIC="$ROOT/target/x86_64-unknown-linux-musl/dist/dbtoken"
MOCK_BIN="$ROOT/target/release/dbtoken-mock"
[ -x "$DBTOKEN" ] || die "missing $DBTOKEN"
[ -x "$MOCK_BIN" ] || die "missing $MOCK_BIN"
CURL="$(command -v curl)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/dbtoken-bench.XXXXXX")"
mkdir -p "$WORK/home" "$RESULTS"
MOCK_PID=""
cleanup() {
    local rc=$?
    if [ -n "$MOCK_PID" ]; then
        # Closing the mock's stdin makes it exit (--exit-on-stdin-eof).
        exec 3>&- || true
        for _ in $(seq 50); do kill -0 "$MOCK_PID" 2>/dev/null || break; sleep 0.1; done
        kill "$MOCK_PID" 2>/dev/null || true
        wait "$MOCK_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "starting dbtoken-mock"
mkfifo "$WORK/mock.in"
"$MOCK_BIN" --ca-out "$WORK/ca.pem" --jwt-out "$WORK/jwt" --exit-on-stdin-eof \
    <"$WORK/mock.in" >"$WORK/mock.out" 2>"$WORK/mock.err" &
MOCK_PID=$!
exec 3>"$WORK/mock.in" # hold the mock's stdin open until cleanup
for _ in $(seq 100); do
    [ -s "$WORK/mock.out" ] && break
    kill -0 "$MOCK_PID" 2>/dev/null || die "mock exited: $(cat "$WORK/mock.err")"
    sleep 0.1
done
[ -s "$WORK/mock.out" ] || die "mock printed nothing"
read -r URL SP CA < <("$PY" -c '
import json, sys
d = json.loads(open(sys.argv[1]).readline())
print(d["url"], d["sp_client_id"], d["ca_file"])' "$WORK/mock.out")
JWT_FILE="$WORK/jwt"
[ -s "$JWT_FILE" ] || die "mock wrote no JWT"
JWT="$(cat "$JWT_FILE")"
log "mock at $URL"

# Same environment for every tool: empty HOME, the mock's CA trusted.
export HOME="$WORK/home"
export DATABRICKS_HOST="$URL"
export DATABRICKS_OIDC_TOKEN_FILEPATH="$JWT_FILE"
export DATABRICKS_CLIENT_ID="$SP"
export SSL_CERT_FILE="$CA"
export REQUESTS_CA_BUNDLE="$CA"
unset DATABRICKS_CONFIG_FILE DATABRICKS_CONFIG_PROFILE DATABRICKS_TOKEN DATABRICKS_AUTH_TYPE \
    DATABRICKS_CLIENT_SECRET DATABRICKS_ACCOUNT_ID 2>/dev/null || true

# The three commands (no shell needed: hyperfine -N splits on whitespace).
CMD_DBTOKEN="$DBTOKEN token"
CMD_CURL="$CURL -s -o /dev/null --fail --cacert $CA \
--data-urlencode grant_type=urn:ietf:params:oauth:grant-type:token-exchange \
--data-urlencode subject_token=$JWT \
--data-urlencode subject_token_type=urn:ietf:params:oauth:token-type:jwt \
--data-urlencode scope=all-apis --data-urlencode client_id=$SP $URL/oidc/v1/token"
CMD_SDK="$PY $BENCH_DIR/sdk_py_token.py $URL $JWT_FILE $SP"

token_posts() {
    "$CURL" -sS --fail --cacert "$CA" "$URL/_mock/stats" |
        "$PY" -c 'import json,sys; print(json.load(sys.stdin)["requests"].get("/oidc/v1/token", 0))'
}

# ---------------------------------------------------------------- sanity: each hits /oidc/v1/token
check() { # name, command...
    local name="$1"; shift
    local before after out
    before="$(token_posts)"
    out="$("$@")" || die "$name failed to run"
    after="$(token_posts)"
    [ "$((after - before))" -eq 1 ] || die "$name made $((after - before)) POSTs to /oidc/v1/token (want 1)"
    log "$name ok: 1 POST /oidc/v1/token${out:+, printed ${#out}-char token}"
}
# shellcheck disable=SC2086  # intentional word splitting, as hyperfine -N does
{
    check dbtoken $CMD_DBTOKEN
    check curl $CMD_CURL
    check sdk-py $CMD_SDK
}

# ---------------------------------------------------------------- 3. wall time (hyperfine)
log "hyperfine: warmup $WARMUP, runs $RUNS"
before_total="$(token_posts)"
hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" \
    --export-json "$RESULTS/hyperfine.json" --export-markdown "$RESULTS/hyperfine.md" \
    -n dbtoken "$CMD_DBTOKEN" \
    -n curl "$CMD_CURL" \
    -n sdk-py "$CMD_SDK" \
    -n dbtoken-startup "$DBTOKEN --version" \
    -n curl-startup "$CURL --version" >&2
after_total="$(token_posts)"
expected=$((3 * (WARMUP + RUNS)))
posts=$((after_total - before_total))
[ "$posts" -eq "$expected" ] || die "hyperfine runs made $posts token POSTs, expected $expected"

# ---------------------------------------------------------------- 4. peak RSS (/usr/bin/time -v)
log "peak RSS: $RSS_RUNS runs each"
: >"$RESULTS/rss.txt"
rss_runs() { # name, command...
    local name="$1"; shift
    local i kb
    for i in $(seq "$RSS_RUNS"); do
        /usr/bin/time -v -o "$WORK/time.txt" "$@" >/dev/null || die "$name failed under /usr/bin/time"
        kb="$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$WORK/time.txt")"
        [ -n "$kb" ] || die "no max RSS for $name"
        echo "$name $kb" >>"$RESULTS/rss.txt"
    done
}
# shellcheck disable=SC2086
{
    rss_runs dbtoken $CMD_DBTOKEN
    if [ -x "$DBTOKEN_STATIC" ]; then rss_runs dbtoken-static "$DBTOKEN_STATIC" token; fi
    rss_runs curl $CMD_CURL
    rss_runs sdk-py $CMD_SDK
}

# ---------------------------------------------------------------- 5. summary
"$PY" - "$RESULTS" "$SDK_VERSION" "$posts" <<'PY' | tee "$RESULTS/summary.txt"
import json, math, statistics, sys, platform, os, datetime
results, sdk_version, posts = sys.argv[1], sys.argv[2], int(sys.argv[3])
hf = {r["command"]: r for r in json.load(open(f"{results}/hyperfine.json"))["results"]}
rss = {}
for line in open(f"{results}/rss.txt"):
    name, kb = line.split()
    rss.setdefault(name, []).append(int(kb))

def ms(x): return x * 1000.0
def ratio(a, b):
    ma, sa, mb, sb = hf[a]["mean"], hf[a]["stddev"] or 0.0, hf[b]["mean"], hf[b]["stddev"] or 0.0
    r = ma / mb
    return r, r * math.sqrt((sa / ma) ** 2 + (sb / mb) ** 2)

print(f"dbtoken benchmark  {datetime.datetime.now().isoformat(timespec='seconds')}  "
      f"{platform.machine()}, {os.cpu_count()} cores, databricks-sdk {sdk_version}")
runs = hf["dbtoken"]["times"]
print(f"hyperfine -N, {len(runs)} runs each after warmup; all against one loopback dbtoken-mock "
      f"({posts} token POSTs seen, as expected)")
print()
print(f"{'tool':<9} {'mean ms':>9} {'± σ':>8} {'median':>8} {'min':>8} {'max':>8}  {'peak RSS MiB (median)':>21}")
for name in ("dbtoken", "curl", "sdk-py"):
    r = hf[name]
    med_rss = statistics.median(rss[name]) / 1024
    print(f"{name:<9} {ms(r['mean']):9.2f} {ms(r['stddev'] or 0):8.2f} {ms(r['median']):8.2f} "
          f"{ms(r['min']):8.2f} {ms(r['max']):8.2f}  {med_rss:21.2f}")
print()
fd, fc = hf["dbtoken-startup"]["mean"], hf["curl-startup"]["mean"]
print(f"Start-up floor, same run (`--version`, no network): dbtoken {ms(fd):.2f} ms, curl {ms(fc):.2f} ms")
print("(most of curl's time is its own start-up: dynamic loading/initialising libcurl, OpenSSL & co).")
print()
print("What each does for one token: dbtoken = 2 discovery GETs + 1 POST (fresh process);")
print("curl = the POST only; sdk-py = Config(auth_type='file-oidc') + oauth_token() (2 GETs + 1 POST).")
print()
r1, e1 = ratio("dbtoken", "curl")
r2, e2 = ratio("sdk-py", "dbtoken")
rss_mib = statistics.median(rss["dbtoken"]) / 1024
n_rss = len(rss["dbtoken"])
med1 = hf["dbtoken"]["median"] / hf["curl"]["median"]
med2 = hf["sdk-py"]["median"] / hf["dbtoken"]["median"]
def verdict(ok): return "PASS" if ok else "FAIL"
print(f"{'target':<34} {'measured':<28} result")
print(f"{'dbtoken/curl (mean) <= 1.0':<34} {f'{r1:.2f} ± {e1:.2f} (median {med1:.2f})':<28} {verdict(r1 <= 1.0)}")
print(f"{'sdk-py/dbtoken (mean) >= 30':<34} {f'{r2:.1f} ± {e2:.1f} (median {med2:.1f})':<28} {verdict(r2 >= 30)}")
print(f"{'dbtoken peak RSS <= 4 MiB':<34} {f'{rss_mib:.2f} MiB (median of {n_rss})':<28} {verdict(rss_mib <= 4.0)}")
if "dbtoken-static" in rss:
    print(f"(static musl build of the same binary: peak RSS {statistics.median(rss['dbtoken-static']) / 1024:.2f} MiB)")
PY
log "results in $RESULTS/"
