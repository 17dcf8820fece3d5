#!/usr/bin/env bash
# Install the C library: scripts/install.sh PREFIX  (default /usr/local)
#   PREFIX/lib/libdbtoken.{a,so}, PREFIX/include/dbtoken.h, PREFIX/lib/pkgconfig/dbtoken.pc
# Then: cc app.c $(pkg-config --cflags --libs dbtoken)            (shared)
#       cc app.c $(pkg-config --cflags dbtoken) PREFIX/lib/libdbtoken.a \
#          $(pkg-config --static --libs-only-l dbtoken | sed 's/-ldbtoken//')   (static)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${1:-/usr/local}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
cargo build --release --lib --quiet
install -d "$prefix/lib/pkgconfig" "$prefix/include"
install -m 0644 target/release/libdbtoken.a "$prefix/lib/"
install -m 0755 target/release/libdbtoken.so "$prefix/lib/"
install -m 0644 include/dbtoken.h "$prefix/include/"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" dbtoken.pc.in >"$prefix/lib/pkgconfig/dbtoken.pc"
echo "installed dbtoken $version into $prefix"
