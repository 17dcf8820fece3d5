# Shared by scripts/dist/*.sh (sourced, never run). One place for the version, the output
# directory, the architectures and how the Rust library is built and stripped for each.
#   dist_arches                 the architectures to build (DIST_ARCHES or all known here)
#   rust_triple ARCH LIBC       x86_64 gnu -> x86_64-unknown-linux-gnu
#   build_staticlib ARCH LIBC   prints the path of a debug-info-free libdbtoken.a for it
#   build_cdylib ARCH           prints the path of a stripped libdbtoken.so (glibc)
# Paths printed are under target/dist-work/ (build outputs, never committed).
set -euo pipefail
DIST_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DIST="$DIST_ROOT/target/dist"
DIST_WORK="$DIST_ROOT/target/dist-work"
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$DIST_ROOT/Cargo.toml" | head -1)
mkdir -p "$DIST" "$DIST_WORK"

dist_log() { echo "dist: $*" >&2; }

dist_arches() {
    echo "${DIST_ARCHES:-x86_64}"
}

rust_triple() {
    echo "$1-unknown-linux-$2"
}

# The strip tool that understands ARCH's objects.
strip_tool() {
    case "$1" in
        "$(uname -m)") echo strip ;;
        *) echo "$1-linux-gnu-strip" ;;
    esac
}

ensure_rust_target() {
    rustup target list --installed | grep -qx "$1" || rustup target add "$1" >/dev/null
}

# The library with the release profile (panic = unwind: the C ABI turns panics into a status).
build_staticlib() {
    local arch=$1 libc=$2 triple out
    triple=$(rust_triple "$arch" "$libc")
    ensure_rust_target "$triple"
    (cd "$DIST_ROOT" && cargo rustc --quiet --release --lib --target "$triple" --crate-type staticlib) >&2
    out="$DIST_WORK/$triple"
    mkdir -p "$out"
    cp "$DIST_ROOT/target/$triple/release/libdbtoken.a" "$out/libdbtoken.a"
    "$(strip_tool "$arch")" --strip-debug "$out/libdbtoken.a"
    echo "$out/libdbtoken.a"
}

build_cdylib() {
    local arch=$1 triple out
    triple=$(rust_triple "$arch" gnu)
    ensure_rust_target "$triple"
    (cd "$DIST_ROOT" && cargo rustc --quiet --release --lib --target "$triple" --crate-type cdylib) >&2
    out="$DIST_WORK/$triple"
    mkdir -p "$out"
    cp "$DIST_ROOT/target/$triple/release/libdbtoken.so" "$out/libdbtoken.so"
    "$(strip_tool "$arch")" --strip-all "$out/libdbtoken.so"
    echo "$out/libdbtoken.so"
}
