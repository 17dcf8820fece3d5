#!/usr/bin/env bash
# scripts/dist.sh python: into target/dist/python/,
#   dbtoken-VERSION-py3-none-manylinux_2_N_ARCH.whl    glibc, N the newest glibc symbol version
#                                                      the library needs (read from its
#                                                      version-needs section): 17 (common.sh)
#   dbtoken-VERSION-py3-none-musllinux_1_2_ARCH.whl    musl (Alpine): the library as a musl cdylib
#   dbtoken-VERSION.tar.gz                             the sdist: the package and the Rust crate
#                                                      (cargo package), for pip to build from
#                                                      where no wheel fits (needs cargo there)
# Each wheel carries the stripped libdbtoken.so for its ARCH and libc beside the pure-Python
# (ctypes) package in bindings/python, built by pip with the package's PEP 517 backend
# (hatchling, fetched by pip from PyPI); the sdist by pypa/build with the same backend.
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
    for libc in gnu musl; do
        so=$(build_cdylib "$arch" "$libc")
        if [ "$libc" = gnu ]; then
            minor=$(glibc_minor "$so")
            [ -n "$minor" ] || { echo "dist python: no GLIBC version needs found in $so" >&2; exit 1; }
            platform="manylinux_2_${minor}_${arch}"
        else
            platform="musllinux_${MUSL_FLOOR/./_}_${arch}"
        fi
        dist_log "python: wheel for $platform"
        DBTOKEN_WHEEL_LIB=$so DBTOKEN_WHEEL_PLATFORM=$platform \
            python3 -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$out" "$pkg" >&2
    done
done

# The sdist: the Rust crate as `cargo package` makes it (Cargo.toml's include list: the sources
# the library builds from; the manifest out of the workspace, without the mock dev-dependency;
# Cargo.lock pruned to match), unpacked into rust/ beside the Python package.
crate="$DIST_WORK/python-sdist"
rm -rf "$crate"
mkdir -p "$crate"
(cd "$DIST_ROOT" && cargo package --quiet --no-verify --allow-dirty --locked --offline -p dbtoken \
    --target-dir "$DIST_WORK/cargo-package") >&2
tar -C "$crate" -xzf "$DIST_WORK/cargo-package/package/dbtoken-$VERSION.crate"
dist_tools
dist_log "python: sdist"
DBTOKEN_SDIST_CRATE="$crate/dbtoken-$VERSION" \
    "$DIST_TOOLS/bin/python" -m build --sdist --outdir "$out" "$pkg" >"$DIST_WORK/python-sdist.log" 2>&1 ||
    { cat "$DIST_WORK/python-sdist.log" >&2; exit 1; }
[ -f "$out/dbtoken-$VERSION.tar.gz" ] || { echo "dist python: no $out/dbtoken-$VERSION.tar.gz" >&2; exit 1; }
ls -l "$out"/*.whl "$out"/*.tar.gz
