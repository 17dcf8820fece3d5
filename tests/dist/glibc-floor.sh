#!/usr/bin/env bash
# The glibc floor of every glibc artifact of `scripts/dist.sh` (c, java, python), per arch:
# the highest GLIBC_ symbol version each needs (objdump -T) must be at most $GLIBC_FLOOR (2.17,
# scripts/dist/common.sh), so it loads on RHEL/CentOS 7, Amazon Linux 2, Debian 11, ...:
#   libdbtoken.so.0 in libdbtoken-VERSION-ARCH-linux-gnu.tar.gz
#   libdbtoken.a in that tarball: linked by zig cc against glibc $GLIBC_FLOOR into a probe .so
#                 (a symbol that glibc lacks fails the link), whose versions are then read
#   libdbtoken_jni.so for linux-ARCH in dbtoken-VERSION.jar
#   dbtoken/libdbtoken.so in the wheel for ARCH
# Prints one line per artifact (size, highest version) and fails on any above the floor.
# SKIP_DIST=1 reads target/dist as it is (tests/release.sh has just built it).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -n "${SKIP_DIST:-}" ] || bash scripts/dist.sh c java python >/dev/null
# shellcheck source=scripts/dist/common.sh
source scripts/dist/common.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
fail() { echo "FAIL: $*" >&2; exit 1; }
# highest FILE: the newest GLIBC_x.y among its dynamic symbols.
highest() { objdump -T "$1" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1; }
check() { # WHAT FILE
    local v
    v=$(highest "$2")
    [ -n "$v" ] || fail "$1: no GLIBC_ symbol versions read from $2"
    [ "$(printf '%s\n%s\n' "$v" "$GLIBC_FLOOR" | sort -V | tail -1)" = "$GLIBC_FLOOR" ] ||
        fail "$1 needs GLIBC_$v, above the floor GLIBC_$GLIBC_FLOOR"
    echo "ok: $1 ($(stat -c %s "$2") bytes): highest GLIBC_$v"
    passed=$((passed + 1))
}
unzip_one() { # ZIP MEMBER DIR (python's zipfile: no unzip needed)
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])' "$@"
}
for arch in $(dist_arches); do
    tar -C "$work" -xzf "$DIST/libdbtoken-$VERSION-$arch-linux-gnu.tar.gz"
    sdk="$work/libdbtoken-$VERSION-$arch-linux-gnu"
    check "$arch libdbtoken.so.$SO_MAJOR" "$sdk/lib/libdbtoken.so.$SO_MAJOR"
    zig_cc -target "$arch-linux-gnu.$GLIBC_FLOOR" -shared -o "$work/probe-$arch.so" \
        -Wl,--whole-archive "$sdk/lib/libdbtoken.a" -Wl,--no-whole-archive -Wl,-z,defs \
        -lpthread -ldl -lm -lrt -lutil -lgcc_s -lc 2>"$work/probe.err" ||
        fail "$arch libdbtoken.a does not link against glibc $GLIBC_FLOOR: $(cat "$work/probe.err")"
    check "$arch libdbtoken.a (whole archive linked at glibc $GLIBC_FLOOR)" "$work/probe-$arch.so"
    unzip_one "$DIST/java/dbtoken-$VERSION.jar" "META-INF/native/linux-$arch/libdbtoken_jni.so" "$work"
    check "$arch libdbtoken_jni.so (jar)" "$work/META-INF/native/linux-$arch/libdbtoken_jni.so"
    wheel=$(ls "$DIST"/python/dbtoken-"$VERSION"-*manylinux*_"$arch".whl)
    mkdir -p "$work/wheel-$arch"
    unzip_one "$wheel" dbtoken/libdbtoken.so "$work/wheel-$arch"
    check "$arch $(basename "$wheel"): dbtoken/libdbtoken.so" "$work/wheel-$arch/dbtoken/libdbtoken.so"
    case "$wheel" in *"manylinux_2_${GLIBC_FLOOR#2.}_$arch.whl") ;; *) fail "$wheel is not tagged manylinux_2_${GLIBC_FLOOR#2.}" ;; esac
done
echo "glibc-floor: $passed passed, 0 failed"
