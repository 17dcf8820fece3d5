#!/usr/bin/env bash
# Regenerate include/dbtoken.h and its copy in the Go module, bindings/go/dbtoken.h, from src/ffi/ (cbindgen runs in build.rs into OUT_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
DBTOKEN_UPDATE_HEADER=1 cargo test --quiet --test header
echo "include/dbtoken.h and bindings/go/dbtoken.h updated"
