#!/usr/bin/env bash
# The musl (Alpine) shared libraries of `scripts/dist.sh` (java, python), per arch, checked and
# then loaded where Alpine users load them: by a program running on musl's own dynamic loader.
#   dbtoken/libdbtoken.so in python/dbtoken-VERSION-py3-none-musllinux_1_2_ARCH.whl
#   META-INF/native/linux-ARCH-musl/libdbtoken_jni.so in java/dbtoken-VERSION.jar
# Each must be an ELF shared object for ARCH that NEEDs musl's libc (libc.musl-ARCH.so.1, its
# name on Alpine) and nothing else (no libgcc_s: Alpine's base image lacks it), has no GLIBC_
# symbol version, and no DT_RELR (musl's loader reads it only from 1.2.4; musllinux_1_2
# promises 1.2). Then tests/dist/musl_load.c,
# linked against this machine's musl (Debian's musl packages: /lib/ld-musl-ARCH.so.1 as its
# interpreter; x86_64 by musl-gcc, aarch64 by zig cc with Debian's musl:arm64, run under
# qemu-aarch64-static), dlopen()s each and gets a token from the loopback mock, which the mock
# then accepts: the wheel's library through the C ABI, the JNI library through JNI_OnLoad and
# its Java_ entry points with a stand-in JavaVM (there is no JVM for musl on this machine).
# Ends with "musl: N passed, 0 failed". SKIP_DIST=1 reads target/dist as it is.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -n "${SKIP_DIST:-}" ] || bash scripts/dist.sh java python >/dev/null
# shellcheck source=scripts/dist/common.sh
source scripts/dist/common.sh
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v musl-gcc >/dev/null || fail "musl-gcc is missing (apt-get install musl-tools; .ci/run does)"
work=$(mktemp -d)
# shellcheck source=tests/mock-env.sh
source tests/mock-env.sh
build_and_start_mock "$work"
passed=0
pass() { passed=$((passed + 1)); echo "ok: $*"; }
declare -A machine=([x86_64]="Advanced Micro Devices X86-64" [aarch64]=AArch64)
java_home=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}

# check WHAT FILE ARCH: the shared object's make-up.
check() {
    local what=$1 f=$2 arch=$3 m needed
    m=$(readelf -h "$f" | sed -n 's/ *Machine: *//p')
    [ "$m" = "${machine[$arch]}" ] || fail "$what: machine '$m', not $arch"
    needed=$(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
    [ "$needed" = "libc.musl-$arch.so.1 " ] || fail "$what NEEDs '$needed', not musl's libc.musl-$arch.so.1 alone"
    if objdump -T "$f" | grep -q 'GLIBC_'; then fail "$what has GLIBC_ symbol versions: $(objdump -T "$f" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tr '\n' ' ')"; fi
    if readelf -d "$f" | grep -q '(RELR)'; then fail "$what has DT_RELR, which musl before 1.2.4 does not apply"; fi
    pass "$what ($(stat -c %s "$f") bytes): $arch, NEEDED libc.musl-$arch.so.1 only, no GLIBC_ version, no DT_RELR"
}

# The loader program for ARCH, linked against this machine's musl.
build_loader() {
    local arch=$1 out=$work/musl_load-$1 flags
    flags=(-std=c11 -Wall -Wextra -Werror -pedantic -O2 -Iinclude -I"$java_home/include" -I"$java_home/include/linux")
    if [ "$arch" = "$(uname -m)" ]; then
        musl-gcc "${flags[@]}" -o "$out" tests/dist/musl_load.c
    else
        [ -e "/lib/$arch-linux-musl/libc.so" ] ||
            fail "no musl for $arch at /lib/$arch-linux-musl/libc.so (dpkg --add-architecture arm64; apt-get install musl:arm64; .ci/run does)"
        # zig links a dynamic musl program only against a shared library: Debian's musl itself.
        zig_cc -target "$arch-linux-musl" "${flags[@]}" -o "$out" tests/dist/musl_load.c "/lib/$arch-linux-musl/libc.so"
    fi
    readelf -l "$out" | grep -q "interpreter: /lib/ld-musl-$arch.so.1" || fail "$out does not run on /lib/ld-musl-$arch.so.1"
    echo "$out"
}

# load ARCH MODE FILE WHAT: the loader gets a token through FILE, and the mock accepts it.
load() {
    local arch=$1 mode=$2 f=$3 what=$4 run=() token
    [ "$arch" = "$(uname -m)" ] || run=("qemu-$arch-static")
    token=$("${run[@]}" "$work/musl_load-$arch" "$mode" "$f" 2>"$work/load.err") ||
        fail "$what under musl's loader: $(cat "$work/load.err")"
    mock_accepts "$token" || fail "$what: the mock does not accept the token"
    pass "$what on /lib/ld-musl-$arch.so.1${run[*]:+ (${run[*]})}: $(cat "$work/load.err"); the mock accepts it"
}

python3 -m zipfile -e "$DIST/java/dbtoken-$VERSION.jar" "$work/jar"
for arch in $(dist_arches); do
    [ "$arch" = "$(uname -m)" ] || command -v "qemu-$arch-static" >/dev/null || fail "qemu-$arch-static missing (apt-get install qemu-user-static)"
    build_loader "$arch" >/dev/null
    wheel="$DIST/python/dbtoken-$VERSION-py3-none-musllinux_${MUSL_FLOOR/./_}_$arch.whl"
    [ -f "$wheel" ] || fail "no $wheel"
    python3 -m zipfile -e "$wheel" "$work/wheel-$arch"
    so="$work/wheel-$arch/dbtoken/libdbtoken.so"
    check "$(basename "$wheel"): dbtoken/libdbtoken.so" "$so" "$arch"
    load "$arch" lib "$so" "$arch musllinux wheel's libdbtoken.so"
    jni="$work/jar/META-INF/native/linux-$arch-musl/libdbtoken_jni.so"
    [ -f "$jni" ] || fail "dbtoken-$VERSION.jar has no META-INF/native/linux-$arch-musl/libdbtoken_jni.so"
    check "dbtoken-$VERSION.jar: linux-$arch-musl/libdbtoken_jni.so" "$jni" "$arch"
    load "$arch" jni "$jni" "$arch jar's linux-$arch-musl JNI library"
done
echo "musl: $passed passed, 0 failed"
