#!/usr/bin/env bash
# Build the JNI library: the shim (dbtoken/src/main/c/dbtoken_jni.c) linked with libdbtoken.a
# into one self-contained libdbtoken_jni.so, stripped, exporting only the JNI entry points.
#   build-native.sh --out DIR [--arch ARCH] [--libc gnu|musl] [--staticlib PATH/libdbtoken.a]
# writes DIR/META-INF/native/linux-ARCH/libdbtoken_jni.so (glibc) or
# DIR/META-INF/native/linux-ARCH-musl/libdbtoken_jni.so (musl: Alpine), the layout inside the jar.
# Defaults: this machine's architecture, glibc, and the repository's target/release/libdbtoken.a
# (built here with cargo when missing or out of date); scripts/dist/java.sh passes the
# per-architecture, per-libc archives of scripts/dist/common.sh instead (musl needs one).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="" arch=$(uname -m) libc=gnu staticlib=""
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2 ;;
        --arch) arch=$2; shift 2 ;;
        --libc) libc=$2; shift 2 ;;
        --staticlib) staticlib=$2; shift 2 ;;
        *) echo "build-native.sh: unknown argument '$1' (--out DIR, --arch ARCH, --libc gnu|musl, --staticlib PATH)" >&2; exit 2 ;;
    esac
done
[ -n "$out" ] || { echo "build-native.sh: --out DIR is required" >&2; exit 2; }
case "$libc" in
    gnu) ;;
    musl) [ -n "$staticlib" ] || { echo "build-native.sh: --libc musl needs --staticlib (a musl libdbtoken.a: scripts/dist/common.sh build_staticlib ARCH musl)" >&2; exit 2; } ;;
    *) echo "build-native.sh: --libc '$libc': gnu or musl" >&2; exit 2 ;;
esac
given=$staticlib
if [ -z "$staticlib" ]; then
    (cd "$root" && cargo build --quiet --release --lib -p dbtoken)
    staticlib="$root/target/release/libdbtoken.a"
fi
[ -f "$staticlib" ] || { echo "build-native.sh: $staticlib does not exist" >&2; exit 1; }
# shellcheck source=scripts/dist/common.sh
source "$root/scripts/dist/common.sh" # strip_tool, zig_cc, musl_libc_name
strip=$(strip_tool "$arch")
# A release archive (--staticlib, from scripts/dist/common.sh, linked by zig at the glibc
# floor): zig cc against glibc $GLIBC_FLOOR's symbol versions too. A local build: this cc.
# musl: zig cc against musl's libc (one library: pthread, dl, m, rt and util are in it; the
# unwinder is inside the archive), so the shim NEEDs only musl's libc, as Alpine's own do.
dir="$out/META-INF/native/linux-$arch"
libs=(-lpthread -ldl -lm -lrt -lutil -lgcc_s -lc)
if [ "$libc" = musl ]; then
    cc=(zig_cc -target "$arch-linux-musl")
    dir+=-musl
    libs=(-lc)
elif [ -n "$given" ]; then
    cc=(zig_cc -target "$arch-linux-gnu.$GLIBC_FLOOR")
else
    cc=("${CC:-cc}")
fi
java_home=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}
[ -f "$java_home/include/jni.h" ] || { echo "build-native.sh: no jni.h under JAVA_HOME=$java_home (a JDK is needed)" >&2; exit 1; }
mkdir -p "$dir"
lib="$dir/libdbtoken_jni.so"
# The version script keeps every symbol but the JNI entry points local (libdbtoken.a's
# dbtoken_* and Rust's own included), so two copies of dbtoken in one process cannot clash.
# (zig's linker has no --exclude-libs; the version script alone makes them local.)
"${cc[@]}" -std=c11 -Wall -Wextra -Werror -pedantic -O2 -fPIC -shared \
    -I"$java_home/include" -I"$java_home/include/linux" -I"$root/include" \
    -o "$lib" "$here/dbtoken/src/main/c/dbtoken_jni.c" "$staticlib" \
    -Wl,--version-script="$here/dbtoken/src/main/c/jni.map" -Wl,-z,defs \
    -Wl,--gc-sections "${libs[@]}"
"$strip" --strip-all "$lib"
[ "$libc" = gnu ] || musl_libc_name "$lib" "$arch" # Alpine's name for musl's libc (common.sh)
others=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v -E '^(Java_dev_dbtoken_|JNI_OnLoad$|JNI_OnUnload$)' || true)
[ -z "$others" ] || { echo "build-native.sh: unexpected exports in $lib: $others" >&2; exit 1; }
echo "build-native.sh: $lib ($(stat -c %s "$lib") bytes)" >&2
