#!/usr/bin/env bash
# The C SDK per architecture:
#   target/dist/libdbtoken-VERSION-ARCH-linux-gnu.tar.gz    glibc: static and shared library
#   target/dist/libdbtoken-VERSION-ARCH-linux-musl.tar.gz   musl: the archive for fully static
#                                                           C (musl-gcc -static) and Go programs
# Each unpacks to one directory: include/dbtoken.h, lib/libdbtoken.a (no debug info),
# lib/libdbtoken.so.0 + libdbtoken.so (glibc), lib/pkgconfig/dbtoken{,-static}.pc, README.
set -euo pipefail
# shellcheck source=scripts/dist/common.sh
source "$(dirname "$0")/common.sh"

readme() {
    local name=$1 libc=$2
    cat <<TXT
dbtoken $VERSION C SDK ($name)

  include/dbtoken.h          the C API (ownership, thread safety and statuses are documented there)
  lib/libdbtoken.a           static library (no debug info)
TXT
    if [ "$libc" = gnu ]; then
        cat <<TXT
  lib/libdbtoken.so.$SO_MAJOR        shared library, SONAME libdbtoken.so.$SO_MAJOR (0 for every 0.x release)
  lib/libdbtoken.so          link for -ldbtoken
TXT
    fi
    cat <<TXT
  lib/pkgconfig/             dbtoken.pc, dbtoken-static.pc (relocatable: paths relative to the file)

With D the directory this README is in:
TXT
    if [ "$libc" = gnu ]; then
        cat <<'TXT'

Shared, found at run time through the rpath (or install lib/ where ld.so looks, e.g.
/usr/local/lib, and run ldconfig):
  cc app.c -I D/include -L D/lib -ldbtoken -Wl,-rpath,D/lib
  export PKG_CONFIG_PATH=D/lib/pkgconfig
  cc app.c $(pkg-config --cflags --libs dbtoken) -Wl,-rpath,D/lib

Static libdbtoken, shared libc:
  cc app.c -I D/include D/lib/libdbtoken.a -lpthread -ldl -lm -lrt -lutil -lc
  cc app.c $(pkg-config --cflags --libs dbtoken-static)

Fully static (ld warns: glibc's getaddrinfo still loads the NSS modules of the machine it
runs on, which must match this glibc; the musl tarball has no such catch):
  cc -static app.c $(pkg-config --static --cflags --libs dbtoken)
TXT
    else
        cat <<'TXT'

Fully static C (Debian: apt-get install musl-tools; cross arches need a musl cross compiler):
  musl-gcc -static app.c -I D/include D/lib/libdbtoken.a      (libunwind inside)
  musl-gcc -static app.c $(pkg-config --static --cflags --libs dbtoken)

TXT
    fi
}

for arch in $(dist_arches); do
    for libc in gnu musl; do
        name="libdbtoken-$VERSION-$arch-linux-$libc"
        stage="$DIST_WORK/c/$name"
        rm -rf "$stage"
        stage_c_sdk "$arch" "$libc" "$stage"
        readme "$name" "$libc" >"$stage/README"
        dist_tar "$stage" "$DIST/$name.tar.gz"
        echo "$DIST/$name.tar.gz"
    done
done
