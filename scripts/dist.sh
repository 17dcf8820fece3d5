#!/usr/bin/env bash
# Build release artifacts into target/dist/ (never committed).
#   scripts/dist.sh            every part present, in this order: c cli go java python image injector sbom
#   scripts/dist.sh PART...    some parts (each is scripts/dist/PART.sh)
# DIST_ARCHES (default: every architecture dist/common.sh can build here: x86_64, and aarch64
# when Debian's gcc-aarch64-linux-gnu is installed) limits the targets. Ends by writing
# target/dist/SHA256SUMS over every artifact (every file whose name carries the version).
set -euo pipefail
cd "$(dirname "$0")/.."
all=(c cli go java python image injector sbom)
parts=("$@")
if [ ${#parts[@]} -eq 0 ]; then
    for part in "${all[@]}"; do [ -f "scripts/dist/$part.sh" ] && parts+=("$part"); done
fi
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
# shellcheck source=scripts/dist/common.sh
source scripts/dist/common.sh
(cd "$DIST" && find . -maxdepth 1 -type f -name "*$VERSION*" -printf '%f\n' | LC_ALL=C sort |
    xargs -r sha256sum >SHA256SUMS)
echo "$DIST/SHA256SUMS: $(wc -l <"$DIST/SHA256SUMS") artifacts"
