#!/usr/bin/env bash
# Admission latency of dbtoken-injector beside a no-op webhook in the same run: N
# AdmissionReviews (default 1,000) of a labelled three-container pod, posted over HTTPS with
# keep-alive, interleaved request by request (injector/test/admitbench). The no-op peer
# (injector/test/peerwebhook --mode noop) decodes the review and the pod the same way and
# answers "allowed" without a patch, so the difference is the mutation itself. Then the
# injector's resident memory, and `go test -bench` of the mutation alone beside decoding alone.
# Usage: bench/injector.sh [N]     (writes bench/results/injector.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null 2>&1 || export PATH=$PATH:/usr/local/go/bin
n=${1:-1000}
mkdir -p bench/results
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
# shellcheck source=tests/k8s/apiserver.sh
source tests/k8s/apiserver.sh
k8s_pki "$work"
k8s_cert webhook
(cd injector && CGO_ENABLED=0 go build -trimpath -o "$work/dbtoken-injector" ./cmd/dbtoken-injector &&
    go build -o "$work/peer-webhook" ./test/peerwebhook && go build -o "$work/admitbench" ./test/admitbench)
printf 'defaults: {image: "dbtoken:0.1.0"}\n' >"$work/config.yaml"
inj=$(free_port) noop=$(free_port)
"$work/dbtoken-injector" --quiet --listen "127.0.0.1:$inj" --tls-cert "$work/pki/webhook.crt" \
    --tls-key "$work/pki/webhook.key" --config "$work/config.yaml" 2>"$work/injector.log" &
inj_pid=$!
pids+=("$inj_pid")
"$work/peer-webhook" --mode noop --listen "127.0.0.1:$noop" --tls-cert "$work/pki/webhook.crt" \
    --tls-key "$work/pki/webhook.key" 2>"$work/noop.log" &
noop_pid=$!
pids+=("$noop_pid")
for _ in $(seq 100); do
    curl -fsS --cacert "$K8S_CA" "https://127.0.0.1:$inj/readyz" >/dev/null 2>&1 && grep -qs listening "$work/noop.log" && break
    sleep 0.1
done
rss() { awk '/^VmRSS|^VmHWM/ {printf "%s %d KiB  ", $1, $2}' "/proc/$1/status"; }
{
    echo "dbtoken-injector admission benchmark $(date -u +%FT%TZ), $(nproc) cores, $(go version | cut -d' ' -f3)"
    echo "idle RSS: injector $(rss "$inj_pid")| no-op $(rss "$noop_pid")"
    "$work/admitbench" --ca "$K8S_CA" --n "$n" "injector=https://127.0.0.1:$inj/mutate" "no-op=https://127.0.0.1:$noop/mutate"
    echo "after $n reviews RSS: injector $(rss "$inj_pid")| no-op $(rss "$noop_pid")"
    echo "static binary: $(stat -c %s "$work/dbtoken-injector") bytes"
    echo "--- go test -bench (inject: decode + Mutate + patch encode, beside decode alone)"
    (cd injector && go test -run '^$' -bench . -benchmem ./inject/ | grep -E '^Benchmark')
} | tee bench/results/injector.txt
