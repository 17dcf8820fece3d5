#!/usr/bin/env bash
# Reproducible: the static x86_64 CLI built from this checkout and from a copy of it in another
# directory (another path length, its own CARGO_TARGET_DIR, so every crate is compiled again)
# is byte-identical. scripts/dist/common.sh remaps the checkout, the target dir and CARGO_HOME
# out of the binary and fixes SOURCE_DATE_EPOCH. One arch only: this costs a full build.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=$(uname -m)
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)
export SOURCE_DATE_EPOCH DIST_ARCHES=$arch
unset CARGO_TARGET_DIR
here=$(bash scripts/dist/cli.sh)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
copy="$tmp/another/checkout/of/dbtoken"
mkdir -p "$copy"
# The tracked files as they are now (edits included) plus new files not ignored.
git ls-files -z --cached --others --exclude-standard |
    tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -C "$copy" -xf -
there=$(cd "$copy" && CARGO_TARGET_DIR="$tmp/target" bash scripts/dist/cli.sh)
if cmp "$here" "$there"; then
    echo "ok: $(basename "$here") from $(pwd) and from $copy: identical, sha256 $(sha256sum "$here" | cut -c1-64)"
else
    echo "FAIL: $here and $there differ (sha256 $(sha256sum "$here" "$there" | cut -c1-64 | tr '\n' ' '))" >&2
    exit 1
fi
echo "reproducible: 1 passed, 0 failed"
