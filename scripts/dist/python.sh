#!/usr/bin/env bash
# scripts/dist.sh python: one wheel per architecture in target/dist/python/, each carrying the
# stripped libdbtoken.so for it beside the pure-Python (ctypes) package in bindings/python.
# Built by pip with the package's PEP 517 backend (hatchling, fetched by pip from PyPI). The tag
# is py3-none-manylinux_2_<N>_<arch>, N being the newest glibc symbol version the library needs
# (read from its version-needs section), so pip installs it only where that glibc exists.
set -euo pipefail
# shellcheck source=scripts/dist/common.sh
source "$(dirname "$0")/common.sh"
pkg="$DIST_ROOT/bindings/python"
out="$DIST/python"

py_version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$pkg/src/dbtoken/__init__.py")
if [ "$py_version" != "$VERSION" ]; then
    echo "dist python: bindings/python/src/dbtoken/__init__.py says $py_version, Cargo.toml $VERSION" >&2
    exit 1
fi

# The newest GLIBC_2.N the library needs -> manylinux_2_N.
glibc_minor() {
    readelf --version-info --wide "$1" | grep -o 'Name: GLIBC_2\.[0-9]*' | sed 's/.*GLIBC_2\.//' | sort -n | tail -1
}

rm -rf "$out"
mkdir -p "$out"
for arch in $(dist_arches); do
    so=$(build_cdylib "$arch")
    minor=$(glibc_minor "$so")
    [ -n "$minor" ] || { echo "dist python: no GLIBC version needs found in $so" >&2; exit 1; }
    platform="manylinux_2_${minor}_${arch}"
    dist_log "python: wheel for $platform"
    DBTOKEN_WHEEL_LIB=$so DBTOKEN_WHEEL_PLATFORM=$platform \
        python3 -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$out" "$pkg" >&2
done
ls -l "$out"/*.whl
