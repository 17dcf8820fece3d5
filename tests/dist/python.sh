#!/usr/bin/env bash
# The Python wheel as a user outside the repo gets it: `scripts/dist.sh python` builds
# target/dist/python/*.whl and the sdist; each check installs with pip into a fresh venv in a
# temporary directory and runs the package's pytest suites (copied there, away from the source
# tree) against the loopback mock:
#   base venv      wheel + pytest (+ auditwheel): unit and mock suites, `auditwheel show`
#                  agrees with the platform tag of every wheel (manylinux and musllinux, each
#                  arch), a token from a one-line script, and the cached token() under 1 us
#                  (bench/python_token.py)
#   sdist          holds the Rust crate the library builds from and nothing else of the repo;
#                  `pip install --no-binary dbtoken` from it in a fresh venv with cargo on PATH
#                  builds the library (a wheel tagged for this platform, not py3-none-any) and
#                  gets a token; with cargo off PATH it fails, naming cargo and rustup
#   sdk venvs      wheel + databricks-sdk 0.67.0, and the newest PyPI serves: the adapter suite;
#                  in the newest one also databricks-sql-connector (its first request carries the
#                  dbtoken bearer) and mypy --strict on the installed package (its py.typed)
#   CPython 3.9-3.13 every version this machine has: the wheel in a fresh venv, a token, and
#                  one in a forked child
# Ends with "dist python: N passed, 0 failed". pip's cache keeps reruns fast.
set -euo pipefail
cd "$(dirname "$0")/../.."
SDK_OLDEST=0.67.0
pip_q=(--quiet --disable-pip-version-check --no-compile) # no .pyc for all of databricks-sdk: faster

t0=$(date +%s)
say() { echo "dist python: [$(($(date +%s) - t0))s] $*"; }

bash scripts/dist.sh python >/dev/null
wheels=(target/dist/python/*.whl)
[ -f "${wheels[0]}" ] || { echo "dist python: no wheel in target/dist/python" >&2; exit 1; }
arch=$(uname -m)
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' bindings/python/src/dbtoken/__init__.py)
wheel=
for w in "${wheels[@]}"; do case "$w" in *manylinux*_"$arch".whl) wheel=$(realpath "$w") ;; esac; done
[ -n "$wheel" ] || { echo "dist python: no wheel for $arch among ${wheels[*]}" >&2; exit 1; }
say "$(basename "$wheel") ($(stat -c %s "$wheel") bytes)"

sdist=$(realpath "target/dist/python/dbtoken-$version.tar.gz")
sdist_cache=$PWD/target/sdist-build # CARGO_TARGET_DIR of the sdist build: its dependencies kept

newest=$(python3 -m pip index versions databricks-sdk 2>/dev/null | sed -n 's/^databricks-sdk (\(.*\))$/\1/p')
[ -n "$newest" ] || { echo "dist python: pip index versions databricks-sdk gave no version" >&2; exit 1; }

# Venvs are thousands of small files: on tmpfs, creating and removing them is I/O-free (166 ->
# 92 s here). The run needs about 0.5 GB, so /dev/shm is used only with 2 GB free.
shm_free_kb=$(df --output=avail -k /dev/shm 2>/dev/null | tail -n 1 || echo 0)
if [ "${shm_free_kb:-0}" -gt 2097152 ] 2>/dev/null; then work=$(mktemp -d -p /dev/shm); else work=$(mktemp -d); fi
trap 'rm -rf "$work"' EXIT
venv() { # DIR PACKAGES...: a fresh venv with the wheel and PACKAGES
    local dir=$1
    shift
    python3 -m venv "$dir"
    "$dir/bin/pip" install "${pip_q[@]}" "$wheel" "$@"
}
# The venvs are made before the mock's CA is exported: pip, too, obeys REQUESTS_CA_BUNDLE.
say "base venv: wheel, pytest, auditwheel"
venv "$work/base" pytest auditwheel
for v in "$SDK_OLDEST" "$newest"; do
    say "venv with databricks-sdk==$v"
    venv "$work/sdk-$v" pytest "databricks-sdk==$v"
done
"$work/sdk-$newest/bin/pip" install "${pip_q[@]}" mypy databricks-sql-connector

# The sdist: what it carries, then pip building from it where no wheel is taken.
tar -tzf "$sdist" >"$work/sdist.txt"
for f in pyproject.toml hatch_build.py src/dbtoken/_ffi.py rust/Cargo.toml rust/Cargo.lock rust/build.rs \
    rust/cbindgen.toml rust/include/dbtoken.h rust/src/lib.rs rust/src/ffi/mod.rs; do
    grep -qx "dbtoken-$version/$f" "$work/sdist.txt" || { echo "dist python: the sdist lacks $f" >&2; exit 1; }
done
if grep -E "^dbtoken-$version/rust/(mock|fuzz|tests|benches|bindings|examples|docs|target|injector)/" "$work/sdist.txt"; then
    echo "dist python: the sdist carries parts of the repository the library does not build from (above)" >&2
    exit 1
fi
tar -xzf "$sdist" -C "$work" "dbtoken-$version/rust/Cargo.toml"
if grep -nE '^\[workspace|dbtoken-mock' "$work/dbtoken-$version/rust/Cargo.toml"; then
    echo "dist python: the sdist's Cargo.toml still names the workspace or the mock (above)" >&2
    exit 1
fi
say "sdist: $(grep -c "/rust/" "$work/sdist.txt") files of the crate, no workspace; pip without cargo"
# cargo off PATH (and no $CARGO): pip fails, and says what is missing.
python3 -m venv "$work/nocargo"
nocargo_path="$work/nocargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
if env PATH="$nocargo_path" sh -c 'command -v cargo'; then
    echo "dist python: cargo is in a system directory: the no-cargo install cannot be tested" >&2
    exit 1
fi
if env -u CARGO PATH="$nocargo_path" "$work/nocargo/bin/pip" install --disable-pip-version-check --no-binary dbtoken \
    "$sdist" >"$work/nocargo.txt" 2>&1; then
    echo "dist python: the sdist installed without cargo" >&2
    exit 1
fi
grep -q "cargo was not found on PATH" "$work/nocargo.txt" && grep -q "install Rust with rustup" "$work/nocargo.txt" ||
    { echo "dist python: pip without cargo failed without naming cargo and rustup:" >&2; cat "$work/nocargo.txt" >&2; exit 1; }
say "without cargo: $(grep -o "dbtoken: no wheel fits.*rustup[^.]*" "$work/nocargo.txt" | head -1)"
# cargo on PATH: pip builds the library from the sdist (given by path: PyPI's "dbtoken" is
# another project; no cache, so pip builds it now).
say "pip install --no-binary dbtoken from the sdist, cargo on PATH (a release build)"
python3 -m venv "$work/sdist"
CARGO_TARGET_DIR=$sdist_cache "$work/sdist/bin/pip" install "${pip_q[@]}" --no-cache-dir --no-binary dbtoken "$sdist"
sdist_tag=$(sed -n 's/^Tag: //p' "$work"/sdist/lib/python3*/site-packages/dbtoken-"$version".dist-info/WHEEL)
case "$sdist_tag" in
    py3-none-linux_"$arch") ;;
    *) echo "dist python: the wheel built from the sdist is tagged '$sdist_tag', not py3-none-linux_$arch" >&2; exit 1 ;;
esac

# shellcheck source=tests/mock-env.sh
source tests/mock-env.sh
build_and_start_mock "$work"
export REQUESTS_CA_BUNDLE=$DBTOKEN_MOCK_CA # requests (databricks-sdk) ignores SSL_CERT_FILE
unset DBTOKEN_LIBRARY
cp -r bindings/python/tests "$work/tests"
cp bench/python_token.py "$work/"
REPO=$PWD
cd "$work" # nothing below may see the source tree (but target/dist)

passed=0
# Every wheel, each arch: musllinux ones with musl's own library directory as auditwheel's
# search path (this machine's libc is glibc; Debian's musl and musl:arm64 packages).
for w in "$REPO"/target/dist/python/*.whl; do
    tag=$(basename "$w" .whl)
    tag=${tag##*-}
    ldpaths=()
    case "$tag" in musllinux_*) ldpaths=(--ldpaths "/lib/${tag#musllinux_*_*_}-linux-musl") ;; esac
    "$work/base/bin/auditwheel" show "${ldpaths[@]}" "$w" 2>&1 | tr -s ' \n' '  ' >"$work/auditwheel.txt"
    grep -q "consistent with the following platform tag: \"$tag\"" "$work/auditwheel.txt" ||
        { echo "dist python: auditwheel disagrees with $tag:" >&2; cat "$work/auditwheel.txt" >&2; exit 1; }
    say "auditwheel show: $(basename "$w") consistent with $tag"
done
out=$("$work/base/bin/python" -c 'import dbtoken; t = dbtoken.Client().token(); print(t.token_type, t.expires_on.tzname())')
[ "$out" = "Bearer UTC" ] || { echo "dist python: one-line script printed '$out'" >&2; exit 1; }
"$work/base/bin/python" -m pytest -q -p no:cacheprovider tests/test_unit.py tests/test_mock.py
passed=$((passed + 1))
say "the cached token() against the 1 us target (bench/python_token.py, exits 1 above it)"
"$work/base/bin/python" "$work/python_token.py" 200000
passed=$((passed + 1))
out=$("$work/sdist/bin/python" -c 'import dbtoken, dbtoken._ffi as f; t = dbtoken.Client().token(); print(t.token_type, f.lib._name)')
case "$out" in
    "Bearer $work/sdist/lib/python3"*"/site-packages/dbtoken/libdbtoken.so") ;;
    *) echo "dist python: the sdist-built package printed '$out'" >&2; exit 1 ;;
esac
say "the sdist-built wheel ($sdist_tag): a token from its own libdbtoken.so"
passed=$((passed + 1))

for v in "$SDK_OLDEST" "$newest"; do
    say "databricks-sdk==$v"
    "$work/sdk-$v/bin/python" -m pytest -q -p no:cacheprovider tests/test_sdk.py
    passed=$((passed + 1))
done
say "databricks-sql-connector (newest)"
"$work/sdk-$newest/bin/python" -m pytest -q -p no:cacheprovider tests/test_sql.py
passed=$((passed + 1))
# mypy reads the installed package only because the wheel carries py.typed.
say "mypy --strict on the installed package"
(cd "$work/tests" && "$work/sdk-$newest/bin/python" -m mypy --strict --no-incremental -p dbtoken)
passed=$((passed + 1))
# CPython 3.9 to 3.13: every one of them this machine has (pyenv's, where present: a fresh
# machine may have only its python3), the wheel in a fresh venv gets a token, and so does a
# forked child with the parent's client.
tested=()
for minor in 9 10 11 12 13; do
    py=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3."$minor".*/bin/python3 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$py" ] || { command -v "python3.$minor" >/dev/null && py=$(command -v "python3.$minor"); } || true
    [ -n "$py" ] || continue
    "$py" -m venv "$work/py3$minor"
    "$work/py3$minor/bin/pip" install "${pip_q[@]}" --no-index --no-deps "$wheel"
    out=$("$work/py3$minor/bin/python" - <<'PY'
import os, sys
import dbtoken
c = dbtoken.Client()
t = c.token()
pid = os.fork()
if pid == 0:
    os._exit(0 if c.token().token_type == "Bearer" and c.stats().refreshes == 1 else 1)
_, status = os.waitpid(pid, 0)
print(sys.version.split()[0], t.token_type, "child" if status == 0 else "child-failed")
PY
    )
    case "$out" in
        "3.$minor."*" Bearer child") tested+=("${out%% *}") ;;
        *) echo "dist python: CPython 3.$minor ($py): '$out'" >&2; exit 1 ;;
    esac
done
[ ${#tested[@]} -gt 0 ] || { echo "dist python: no CPython 3.9-3.13 found" >&2; exit 1; }
say "wheel installed and a token got (and in a forked child) on CPython ${tested[*]}"
passed=$((passed + 1))
say "done"
echo "dist python: $passed passed, 0 failed"
