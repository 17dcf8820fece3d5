#!/usr/bin/env bash
# The C, Go and Java suites against one dbtoken-mock process (the same mock as the Rust tests).
#   bash tests/bindings.sh            all of them
#   bash tests/bindings.sh c go       some
# A missing toolchain is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(c go java)

need() { command -v "$1" >/dev/null || { echo "bindings: '$1' is required (install it; .ci/run does)" >&2; exit 1; }; }
need cc
work=$(mktemp -d)
# shellcheck source=tests/mock-env.sh
source tests/mock-env.sh
build_and_start_mock "$work"
passed=0

run_c() {
    need valgrind
    need pkg-config
    echo "== C: libdbtoken.so exports only dbtoken_* symbols"
    others=$(nm -D --defined-only target/release/libdbtoken.so | awk '{print $3}' | grep -v '^dbtoken_' || true)
    [ -z "$others" ] || { echo "unexpected exports: $others" >&2; exit 1; }
    nm -D --defined-only target/release/libdbtoken.so | awk '{print $3}' | grep -c '^dbtoken_'
    echo "== C: build with -std=c11 -Wall -Wextra -Werror -pedantic"
    make -C examples/c -B --quiet all
    echo "== C: ASan + UBSan"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 examples/c/test_dbtoken_asan
    echo "== C: valgrind --leak-check=full"
    valgrind -q --leak-check=full --error-exitcode=1 --suppressions=examples/c/valgrind.supp \
        examples/c/test_dbtoken
    echo "== C: example program"
    examples/c/token_info
    echo "== C: pkg-config, shared library from an installed prefix"
    bash scripts/install.sh "$work/prefix" >/dev/null
    export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
    # shellcheck disable=SC2046
    cc -std=c11 -Wall -Wextra -Werror -pedantic -o "$work/token_info_shared" examples/c/token_info.c \
        $(pkg-config --cflags --libs dbtoken) -Wl,-rpath,"$work/prefix/lib"
    "$work/token_info_shared"
    passed=$((passed + 1))
}

run_go() {
    need go
    echo "== Go: vet, test -race (bindings/go, linking target/release with -tags dbtoken_dev)"
    (cd bindings/go && test -z "$(gofmt -l .)" && go vet -tags dbtoken_dev ./... &&
        go test -tags dbtoken_dev -race -count=1 -v ./... 2>&1 | grep -E '^(--- |ok|FAIL|PASS)')
    echo "== Go: cached Token() beside its peer, atomic.Pointer.Load (short run; bench/bindings.sh for numbers)"
    (cd bindings/go && go test -tags dbtoken_dev -run '^$' -bench 'TokenCached|PeerAtomic' -benchmem \
        -cpu 1,2 -benchtime 200ms | tee "$work/go-bench.txt" | grep -E '^Benchmark')
    # The fast path must stay allocation-free (time is reported, not asserted: 2 shared cores).
    awk '/^BenchmarkTokenCached/ && $(NF-1) != 0 { bad = 1 } END { exit bad }' "$work/go-bench.txt" ||
        { echo "bindings: a cached Go Token() allocates" >&2; exit 1; }
    echo "== Go: sdkauth with the real databricks-sdk-go (workspace CurrentUser.Me, account client)"
    (cd bindings/go/sdkauth && test -z "$(gofmt -l .)" && go vet -tags dbtoken_dev ./... &&
        go test -tags dbtoken_dev -count=1 -v ./... 2>&1 | grep -E '^(--- |ok|FAIL|PASS)')
    echo "== Go: sqlauth with the real databricks-sql-go (the connector's request carries the bearer)"
    (cd bindings/go/sqlauth && test -z "$(gofmt -l .)" && go vet -tags dbtoken_dev ./... &&
        go test -tags dbtoken_dev -count=1 -v ./... 2>&1 | grep -E '^(--- |ok|FAIL|PASS)')
    passed=$((passed + 1))
}

run_java() {
    need javac
    need mvn
    need keytool
    # The SDK's HTTP client trusts the JVM's default trust store: one holding the mock's CA.
    local trust
    trust=$(mock_jvm_trust "$work")
    local native=bindings/java/dbtoken/target/native/META-INF/native/linux-$(uname -m)
    echo "== Java: mvn verify (unit tests; then against the mock on the jars: natives from the jar, the real databricks-sdk-java)"
    (cd bindings/java && mvn -B -ntp -Dstyle.color=never verify -DitArgLine="$trust" |
        grep -E 'Tests run:|BUILD|ERROR|FAIL')
    echo "== Java: against the mock, loaded from DBTOKEN_JNI_LIBRARY (over java.library.path), then"
    echo "   -Ddbtoken.library.path (over a wrong DBTOKEN_JNI_LIBRARY), then java.library.path"
    local lib="$PWD/$native/libdbtoken_jni.so"
    for how in "DBTOKEN_JNI_LIBRARY=$lib|-Djava.library.path=$PWD/$native" \
        "DBTOKEN_JNI_LIBRARY=/nonexistent/libdbtoken_jni.so|-Ddbtoken.library.path=$lib" \
        "DBTOKEN_JNI_LIBRARY=|-Djava.library.path=$PWD/$native"; do
        (cd bindings/java/dbtoken && env "${how%%|*}" mvn -B -ntp -Dstyle.color=never \
            failsafe:integration-test failsafe:verify -Dit.test=DbTokenIT -DitArgLine="${how#*|}" |
            grep -E 'Tests run:|BUILD|ERROR|FAIL')
    done
    echo "== Java: JMH, a short run (bench/bindings.sh runs the long one)"
    (cd bindings/java && mvn -B -ntp -q -Dstyle.color=never -Pbench -pl bench -am verify -DskipTests \
        -Djmh.args="-f 1 -wi 1 -w 300ms -i 1 -r 500ms TokenBench" | grep -E '^(Benchmark|TokenBench)')
    passed=$((passed + 1))
}

for s in "${suites[@]}"; do
    case "$s" in
        c) run_c ;;
        go) run_go ;;
        java) run_java ;;
        *) echo "unknown suite '$s' (c, go, java)" >&2; exit 2 ;;
    esac
done
echo "bindings: $passed passed, 0 failed"
