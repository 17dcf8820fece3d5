#!/usr/bin/env bash
# Reproducible: the static x86_64 CLI built from this checkout and from a copy of it in another
# directory (another path length, its own CARGO_TARGET_DIR so every crate is compiled again,
# another CARGO_HOME) is byte-identical and names none of the build paths; so are the x86_64
# dbtoken-injector and its OCI image (another GOCACHE: every Go package compiled again).
# scripts/dist/common.sh remaps the checkout, the target dir and CARGO_HOME out of the binary
# and fixes SOURCE_DATE_EPOCH. One arch only: this costs a full build.
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
# Another CARGO_HOME too (its registry a link to this one's: no download), as on another machine.
home=${CARGO_HOME:-$HOME/.cargo}
mkdir -p "$tmp/cargo-home"
ln -s "$home/registry" "$tmp/cargo-home/registry"
[ ! -f "$home/config.toml" ] || cp "$home/config.toml" "$tmp/cargo-home/"
there=$(cd "$copy" && CARGO_HOME="$tmp/cargo-home" CARGO_TARGET_DIR="$tmp/target" bash scripts/dist/cli.sh)
for bin in "$here" "$there"; do
    for path in "$(pwd)" "$home" "$tmp"; do
        if strings -n 6 "$bin" | grep -qF "$path/"; then
            echo "FAIL: $bin names the build path $path" >&2
            exit 1
        fi
    done
done
if cmp "$here" "$there"; then
    echo "ok: $(basename "$here") from $(pwd) and from $copy: identical, sha256 $(sha256sum "$here" | cut -c1-64)"
else
    echo "FAIL: $here and $there differ (sha256 $(sha256sum "$here" "$there" | cut -c1-64 | tr '\n' ' '))" >&2
    exit 1
fi

# The injector (Go, scripts/dist/injector.sh): its binary and its OCI image from both checkouts,
# the copy with its own Go build cache, so every package is compiled again. Both into other
# target dirs: target/dist keeps its multi-arch artifacts.
mapfile -t here < <(CARGO_TARGET_DIR="$tmp/here-target" bash scripts/dist/injector.sh)
mapfile -t there < <(cd "$copy" && CARGO_HOME="$tmp/cargo-home" CARGO_TARGET_DIR="$tmp/target" \
    GOCACHE="$tmp/gocache" bash scripts/dist/injector.sh)
[ ${#here[@]} = 2 ] && [ ${#there[@]} = 2 ] || { echo "FAIL: injector.sh printed '${here[*]}' and '${there[*]}'" >&2; exit 1; }
for i in 0 1; do
    for bin in "${here[$i]}" "${there[$i]}"; do
        for path in "$(pwd)" "$copy" "$(go env GOROOT)" "$(go env GOMODCACHE)"; do
            if strings -n 6 "$bin" | grep -qF "$path/"; then
                echo "FAIL: $bin names the build path $path" >&2
                exit 1
            fi
        done
    done
    cmp "${here[$i]}" "${there[$i]}" || { echo "FAIL: ${here[$i]} and ${there[$i]} differ" >&2; exit 1; }
    echo "ok: $(basename "${here[$i]}") from both checkouts: identical, sha256 $(sha256sum "${here[$i]}" | cut -c1-64)"
done
echo "reproducible: 3 passed, 0 failed"
