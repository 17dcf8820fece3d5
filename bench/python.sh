#!/usr/bin/env bash
# Cached-token cost in Python (bench/python_token.py) beside a dict lookup, against the mock.
# Usage: bench/python.sh [CALLS]   (writes bench/results/python.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
work=$(mktemp -d)
# shellcheck source=tests/mock-env.sh
source tests/mock-env.sh
build_and_start_mock "$work"
{
    echo "dbtoken Python cached-token benchmark $(date -u +%FT%TZ), $(nproc) cores"
    DBTOKEN_LIBRARY=$PWD/target/release/libdbtoken.so PYTHONPATH=$PWD/bindings/python/src \
        python3 bench/python_token.py "${1:-1000000}"
} | tee bench/results/python.txt
