#!/usr/bin/env bash
# The SBOM of the Rust dependencies that ship (the dbtoken package: library and CLI; no build-
# or dev-dependencies), CycloneDX 1.5 JSON by cargo-cyclonedx, for the x86_64 musl target:
#   target/dist/dbtoken-VERSION.cdx.json
# .ci/run installs the tool (cargo install --locked cargo-cyclonedx).
set -euo pipefail
# shellcheck source=scripts/dist/common.sh
source "$(dirname "$0")/common.sh"
cargo cyclonedx --version >/dev/null 2>&1 || { dist_log "cargo-cyclonedx missing (cargo install --locked cargo-cyclonedx)"; exit 1; }
out="$DIST/dbtoken-$VERSION.cdx.json"
name="dbtoken-$VERSION-$$"
# The tool writes next to each manifest; move the file out of the source tree at once.
(cd "$DIST_ROOT" && cargo cyclonedx --quiet --format json --spec-version 1.5 --no-build-deps \
    --target "$(rust_triple "$(uname -m)" musl)" --override-filename "$name" >&2)
mv "$DIST_ROOT/$name.json" "$out"
rm -f "$DIST_ROOT/mock/$name.json"
echo "$out"
