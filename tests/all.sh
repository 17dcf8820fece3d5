#!/usr/bin/env bash
# Every test of the project: the README's test command (`bash tests/all.sh`).
# Rust unit and integration tests (HTTPS against the loopback mock), a process-level smoke
# test of the CLI against the dbtoken-mock binary, then the C (ASan+UBSan, valgrind), Go
# (-race, the SDK adapters with the real databricks-sdk-go and databricks-sql-go) and Java
# (JUnit, the databricks-sdk-java adapter) suites against that binary, a Maven project and a
# Go program outside the repository using the dist packages (no Rust on PATH; Go also static
# in an empty root), the static binary in an empty root, the real Databricks SDKs against
# `dbtoken serve`, the sidecars' /metrics read by the Prometheus Python client, a bounded run
# of each fuzz target, the release artifacts of scripts/dist.sh (x86_64 and aarch64 under
# qemu; the musl ones on musl's own loader), a reproducibility check and a small run of the
# fleet simulation (the refresh rule before and after the jitter, against a rate-limited mock).
# Any failure stops it with a non-zero exit.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Rust tests (workspace)"
cargo test --workspace --all-targets
cargo test --workspace --doc

echo "== CLI against the mock as a separate process"
cargo build --quiet --release --bin dbtoken
cargo build --quiet --release -p dbtoken-mock
(
    work=$(mktemp -d)
    # shellcheck source=tests/mock-env.sh
    source tests/mock-env.sh
    start_mock "$work"
    trap 'stop_mock; rm -rf "$work"' EXIT
    out=$(./target/release/dbtoken token --json)
    case "$out" in
        *'"token_type":"Bearer"'*) ;;
        *) echo "unexpected dbtoken output shape"; exit 1 ;;
    esac
    set +e
    env -i HOME="$work" PATH="$PATH" DATABRICKS_HOST="$DBTOKEN_MOCK_URL" ./target/release/dbtoken token 2>/dev/null
    code=$?
    set -e
    [ "$code" -eq 3 ] || { echo "expected exit 3 without auth configuration, got $code"; exit 1; }
    echo "smoke: 2 passed, 0 failed"
)

echo "== C, Go and Java bindings"
bash tests/bindings.sh c go java

echo "== a JVM user outside the repository: jars from target/dist/java by Maven coordinates"
bash tests/dist/java.sh

echo "== Python wheel from target/dist in fresh venvs (package, databricks-sdk 0.67.0 and newest)"
bash tests/dist/python.sh

echo "== the static binary in an empty root"
bash tests/static.sh

echo "== the Go module from target/dist, outside the repository, without Rust; static in an empty root"
bash tests/dist/go.sh

echo "== real Databricks SDKs (Python, Go) against dbtoken serve"
bash tests/sdk/run.sh

echo "== the sidecars' /metrics parsed by prometheus-client"
bash tests/health.sh

echo "== fuzz targets, 20 s each from the committed corpora (tests/fuzz.sh)"
bash tests/fuzz.sh

echo "== release artifacts (scripts/dist.sh: x86_64 and aarch64) as a user runs them"
bash tests/release.sh

echo "== reproducible static binary from two checkouts"
bash tests/reproducible.sh

echo "== the docs site: mdbook build, snippets run against the mock, YAML, links, a Chromium screenshot"
bash tests/docs.sh

# Every glibc artifact of scripts/dist.sh (C tarball .so and .a, JNI shims, wheel library;
# x86_64 and aarch64) needs at most GLIBC_2.17 (target/dist as tests/release.sh left it).
echo "== glibc 2.17 floor of the release artifacts (objdump -T)"
SKIP_DIST=1 bash tests/dist/glibc-floor.sh

# The musl (Alpine) shared libraries: the musllinux wheels' and the jar's linux-ARCH-musl JNI
# libraries, checked (NEEDED musl's libc alone, no GLIBC_, no DT_RELR) and loaded on musl's own
# dynamic loader (aarch64 under qemu), each getting a token from the mock.
echo "== musl artifacts on musl's dynamic loader (x86_64 and aarch64 under qemu)"
SKIP_DIST=1 bash tests/dist/musl.sh

echo "== Kubernetes injector: go vet and go test (injector/), then a real kube-apiserver (tests/k8s/run.sh)"
(cd injector && go vet ./... && go test ./...)
bash tests/k8s/run.sh

echo "== the fleet simulation, small: 200 clients per refresh rule, 90 s tokens, 2 refresh cycles (bench/fleet.sh --check)"
cargo test --quiet --features bench --example fleet
CLIENTS=200 TTL=90 CYCLES=2 bash bench/fleet.sh --check

echo "all: 17 passed, 0 failed"
