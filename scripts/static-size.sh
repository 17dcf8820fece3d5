#!/usr/bin/env bash
# Build the static dbtoken for scratch images and check its size budget (2.0 MB = 2,000,000 bytes).
#   scripts/static-size.sh        prints the path and size; exits 1 over budget
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-musl
rustup target list --installed | grep -qx "$target" || rustup target add "$target" >/dev/null
command -v musl-gcc >/dev/null || { echo "static-size: musl-gcc missing (apt-get install musl-tools)" >&2; exit 1; }
cargo build --quiet --profile dist --target "$target" --bin dbtoken
bin="target/$target/dist/dbtoken"
bytes=$(stat -c %s "$bin")
budget=2000000
kind=$(file -b "$bin" | grep -o 'static-pie linked' || true)
[ -n "$kind" ] || { echo "static-size: $bin is not static-pie: $(file -b "$bin")" >&2; exit 1; }
printf '%s: %d bytes (%.2f MB, %.2f MiB), %s; budget %d bytes\n' "$bin" "$bytes" \
    "$(echo "$bytes / 1000000" | bc -l)" "$(echo "$bytes / 1048576" | bc -l)" "$kind" "$budget"
[ "$bytes" -le "$budget" ] || { echo "static-size: over budget by $((bytes - budget)) bytes" >&2; exit 1; }
