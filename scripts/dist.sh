#!/usr/bin/env bash
# Build release artifacts into target/dist/ (never committed).
#   scripts/dist.sh            every part, in this order: c cli go java python image
#   scripts/dist.sh PART...    some parts (each is scripts/dist/PART.sh)
# DIST_ARCHES (default: every architecture dist/common.sh can build here) limits the targets.
set -euo pipefail
cd "$(dirname "$0")/.."
all=(c cli go java python image)
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=("${all[@]}")
for part in "${parts[@]}"; do
    if [ ! -f "scripts/dist/$part.sh" ]; then
        echo "dist: unknown part '$part' (parts: ${all[*]})" >&2
        exit 2
    fi
done
for part in "${parts[@]}"; do
    echo "== dist $part"
    bash "scripts/dist/$part.sh"
done
