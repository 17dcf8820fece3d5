#!/usr/bin/env bash
# Cached-token cost through the C ABI, Rust, Go and Java, each against a peer in the same run.
# Usage: bench/bindings.sh   (writes bench/results/bindings.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
out=bench/results/bindings.txt
work=$(mktemp -d)
# shellcheck source=tests/mock-env.sh
source tests/mock-env.sh
build_and_start_mock "$work"
{
    echo "dbtoken cached-token benchmark $(date -u +%FT%TZ), $(nproc) cores"
    echo "--- Rust (cargo bench --bench cached): C ABI and Rust API, allocations counted"
    cargo bench --quiet --bench cached 2>/dev/null
    echo "--- C (bench/ffi_bench.c, -O2, static libdbtoken.a)"
    cc -std=c11 -O2 -pthread -Iinclude -o "$work/ffi_bench" bench/ffi_bench.c target/release/libdbtoken.a \
        -lpthread -ldl -lm -lrt -lutil -lgcc_s -lc
    "$work/ffi_bench"
    echo "--- Go (go test -bench, -benchmem, -cpu 1,2; peer: atomic.Pointer.Load of a Token)"
    (cd bindings/go && go test -tags dbtoken_dev -run '^$' -bench . -benchmem -cpu 1,2 \
        -benchtime "${GO_BENCHTIME:-1s}" | grep -E '^Benchmark')
    echo "--- Java (JMH: bindings/java/bench; the natives load from the jar)"
    (cd bindings/java && mvn -B -ntp -q -Dstyle.color=never -Pbench -pl bench -am verify -DskipTests \
        -Djmh.args="${JMH_ARGS:--f 1 -wi 3 -w 1s -i 5 -r 1s}" | grep -E '^(Benchmark|TokenBench|ClockBench)')
} | tee "$out"
