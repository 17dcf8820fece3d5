#!/usr/bin/env bash
# Build the static dbtoken for scratch images and check its size budget (2.0 MB = 2,000,000
# bytes) for each architecture.
#   scripts/static-size.sh [ARCH...]   (default: every arch of scripts/dist/common.sh's
#                                        dist_arches) prints path and size; exits 1 over budget
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/dist/common.sh
source scripts/dist/common.sh
budget=2000000
arches=("$@")
[ ${#arches[@]} -gt 0 ] || read -ra arches <<<"$(dist_arches)"
command -v musl-gcc >/dev/null || { echo "static-size: musl-gcc missing (apt-get install musl-tools)" >&2; exit 1; }
for arch in "${arches[@]}"; do
    bin=$(build_cli "$arch")
    bytes=$(stat -c %s "$bin")
    kind=$(file -b "$bin" | grep -oE 'static-pie linked|statically linked' || true)
    [ -n "$kind" ] || { echo "static-size: $bin is not static: $(file -b "$bin")" >&2; exit 1; }
    printf '%s: %d bytes (%.2f MB, %.2f MiB), %s; budget %d bytes\n' "${bin#"$DIST_ROOT/"}" "$bytes" \
        "$(echo "$bytes / 1000000" | bc -l)" "$(echo "$bytes / 1048576" | bc -l)" "$kind" "$budget"
    [ "$bytes" -le "$budget" ] || { echo "static-size: $arch over budget by $((bytes - budget)) bytes" >&2; exit 1; }
done
