#!/usr/bin/env bash
# The static CLI per architecture: target/dist/dbtoken-VERSION-ARCH-linux-musl (no libc needed,
# each within the 2.0 MB budget that scripts/static-size.sh enforces).
set -euo pipefail
# shellcheck source=scripts/dist/common.sh
source "$(dirname "$0")/common.sh"
read -ra arches <<<"$(dist_arches)"
bash "$DIST_ROOT/scripts/static-size.sh" "${arches[@]}" >&2
for arch in "${arches[@]}"; do
    out="$DIST/dbtoken-$VERSION-$arch-linux-musl"
    install -m 0755 "$(build_cli "$arch")" "$out"
    echo "$out"
done
