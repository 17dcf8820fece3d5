#!/usr/bin/env bash
# Install the C SDK of this machine's architecture: scripts/install.sh PREFIX (default /usr/local)
#   PREFIX/include/dbtoken.h, PREFIX/lib/libdbtoken.a, PREFIX/lib/libdbtoken.so.0 (SONAME) and
#   its libdbtoken.so link, PREFIX/lib/pkgconfig/dbtoken.pc and dbtoken-static.pc
# The same layout and build as the libdbtoken-VERSION-ARCH-linux-gnu.tar.gz of scripts/dist/c.sh.
# Then: cc app.c $(pkg-config --cflags --libs dbtoken)                 (shared; run ldconfig)
#       cc app.c $(pkg-config --cflags --libs dbtoken-static)          (static libdbtoken)
#       cc -static app.c $(pkg-config --static --cflags --libs dbtoken)  (fully static)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${1:-/usr/local}
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
# shellcheck source=scripts/dist/common.sh
source scripts/dist/common.sh
stage_c_sdk "$(uname -m)" gnu "$prefix" "$prefix"
echo "installed dbtoken $VERSION into $prefix"
