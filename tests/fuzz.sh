#!/usr/bin/env bash
# Bounded runs of the cargo-fuzz targets in fuzz/, each starting from its committed corpus
# (fuzz/corpus/TARGET, only read) with its dictionary (fuzz/dict/). Any crash fails the script
# and leaves the input in target/fuzz-artifacts/ (replay: fuzz/target/<triple>/release/TARGET FILE).
#   bash tests/fuzz.sh                          every target, 20 s each (what CI runs)
#   bash tests/fuzz.sh jwt discovery            some targets
#   FUZZ_SECONDS=0 FUZZ_RUNS=10000000 bash tests/fuzz.sh jwt   a campaign of 10 M executions
#   FUZZ_KEEP=DIR bash tests/fuzz.sh ...        keep new inputs in DIR/TARGET (then
#                                               bash fuzz/minimize.sh TARGET DIR/TARGET)
# Needs the nightly toolchain (the machine has it); cargo-fuzz is optional (`cargo fuzz run`).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-20}
runs=${FUZZ_RUNS:--1}
mapfile -t all < <(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^dbtoken-fuzz$')
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz: the nightly toolchain is required (libFuzzer's coverage instrumentation)" >&2
    exit 1
fi
# The flags `cargo fuzz build` (cargo-fuzz 0.13) passes, so this build and `cargo fuzz run`
# share fuzz/target/ - without installing cargo-fuzz here (CI saves its ~2 min build). No
# sanitizer by default: the parsers are safe Rust (the crate's unsafe code is the C ABI and
# signal masks) and run 2-4x more executions without ASan; overflow checks and debug
# assertions stay on. FUZZ_SANITIZER=address for a memory-error hunt.
sanitizer=${FUZZ_SANITIZER:-none}
flags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4"
flags+=" -Cllvm-args=-sanitizer-coverage-inline-8bit-counters"
flags+=" -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares"
flags+=" --cfg fuzzing -Cllvm-args=-simplifycfg-branch-fold-threshold=0"
[ "$sanitizer" = none ] || flags+=" -Zsanitizer=$sanitizer"
flags+=" -Cllvm-args=-sanitizer-coverage-stack-depth -Cdebug-assertions -Ccodegen-units=1"
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
echo "== fuzz: building the targets (nightly, sanitizer: $sanitizer, debug assertions)"
(cd fuzz && RUSTFLAGS="$flags" cargo +nightly build --quiet --release --bins --target "$triple" \
    --config 'profile.release.debug="line-tables-only"')
bin=fuzz/target/$triple/release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
artifacts=target/fuzz-artifacts
mkdir -p "$artifacts"

passed=0
for t in "${targets[@]}"; do
    [ -x "$bin/$t" ] || { echo "fuzz: no target '$t' (have: ${all[*]})" >&2; exit 2; }
    out=${FUZZ_KEEP:-$work}/$t
    mkdir -p "$out"
    cat fuzz/dict/"$t".dict >"$work/$t.dict"
    case "$t" in databrickscfg | serve_request) ;; *) cat fuzz/dict/json.dict >>"$work/$t.dict" ;; esac
    # serve reads request heads up to 8 KiB; the other inputs stay small.
    max_len=4096
    [ "$t" != serve_request ] || max_len=9000
    start=$(date +%s)
    set +e
    "$bin/$t" "$out" "fuzz/corpus/$t" -dict="$work/$t.dict" -max_total_time="$seconds" \
        -runs="$runs" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/$t-" >"$work/$t.log" 2>&1
    code=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
    if [ "$code" -ne 0 ]; then
        grep -v '^#' "$work/$t.log" | tail -40 >&2
        echo "fuzz: $t FAILED (exit $code) after ${execs:-?} executions; input in $artifacts/" >&2
        exit 1
    fi
    echo "fuzz: $t ${execs} executions in $(( $(date +%s) - start )) s, no crash"
    passed=$((passed + 1))
done
echo "fuzz: $passed passed, 0 failed"
