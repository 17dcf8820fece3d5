#!/usr/bin/env bash
# The Go module, ready to publish: target/dist/go/ is bindings/go (go.mod names the module
# path) with the archives built from this commit in its platform directories, and
# target/dist/goproxy/ is the same module (and the sdkauth, sqlauth adapter modules) as a
# GOPROXY file tree, so `GOPROXY=file://.../goproxy go get` works as it would from a proxy.
#   lib/linux_<goarch>/libdbtoken.a        glibc, debug info stripped
#   lib/linux_<goarch>_musl/libdbtoken.a   musl, for static binaries (-tags dbtoken_musl),
#   lib/linux_<goarch>_musl/libunwind.a    with the Rust musl target's own LLVM libunwind
#                                          (Debian's libgcc_eh.a needs glibc's _dl_find_object)
# Tests and development files stay out (*_test.go, link_dev.go which links ../../target).
set -euo pipefail
# shellcheck source=scripts/dist/common.sh
source "$(dirname "$0")/common.sh"

out="$DIST/go"
proxy="$DIST/goproxy"
rm -rf "$out" "$proxy"
mkdir -p "$out"
(cd "$DIST_ROOT/bindings/go" && git ls-files -z . | grep -zv -e '_test\.go$' -e '^link_dev\.go$' -e '/\.gitignore$' -e '^\.gitignore$' |
    xargs -0 cp --parents -t "$out")

for arch in $(dist_arches); do
    ga=$(go_arch "$arch")
    gnu="$out/lib/linux_$ga"
    musl="$out/lib/linux_${ga}_musl"
    mkdir -p "$gnu" "$musl"
    cp "$(build_staticlib "$arch" gnu)" "$gnu/libdbtoken.a"
    cp "$(build_staticlib "$arch" musl)" "$musl/libdbtoken.a"
    unwind="$(rustc --print sysroot)/lib/rustlib/$(rust_triple "$arch" musl)/lib/self-contained/libunwind.a"
    [ -f "$unwind" ] || { dist_log "go: $unwind is missing (rustup target add $(rust_triple "$arch" musl))"; exit 1; }
    cp "$unwind" "$musl/libunwind.a"
    "$(strip_tool "$arch")" --strip-debug "$musl/libunwind.a"
    dist_log "go: linux/$ga: $(stat -c %s "$gnu/libdbtoken.a") bytes glibc, $(stat -c %s "$musl/libdbtoken.a") + $(stat -c %s "$musl/libunwind.a") bytes musl"
done

# The adapter modules require the module of this version; their development replace (../)
# would be ignored by users anyway and is dropped.
for gomod in "$out"/*/go.mod; do
    [ -f "$gomod" ] || continue
    sed -i -e "s|^\(\s*github.com/dbtoken/dbtoken/bindings/go\) v[^ ]*\$|\1 v$VERSION|" \
        -e '/^\/\/ Inside the repository/,/^replace /d' "$gomod"
done

# The module, then the adapter modules nested in it (sdkauth, sqlauth), each its own zip.
for mod in "$out" "$out"/*/; do
    if [ -f "$mod/go.mod" ]; then
        python3 "$DIST_ROOT/scripts/dist/go_proxy.py" "$proxy" "$mod" "v$VERSION" >&2
    fi
done
dist_log "go: module in $out, GOPROXY tree in $proxy (v$VERSION)"
