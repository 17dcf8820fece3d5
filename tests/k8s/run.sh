#!/usr/bin/env bash
# dbtoken-injector against a real kube-apiserver and etcd on loopback (no mock of Kubernetes):
#  1. every manifest in examples/k8s/ passes server-side validation (--dry-run=server, strict);
#  2. the chart passes helm lint, its rendered objects server-side validation, and installs with
#     `helm install` (webhook.url: the injector runs here, outside the never-running cluster,
#     with the certificate and config the chart generated, read back from the API server);
#  3. real pods created through the API: the stored spec is mutated as each mode says, a pod
#     without the label is stored exactly as before the webhook existed, a bad annotation is
#     refused naming it, and with an Azure-Workload-Identity-like webhook in either order the
#     stored pods are the same;
#  4. the stored sidecar's exact args and env run (target/release/dbtoken) against the mock
#     with a token from the API server's TokenRequest (what the projection mounts), and the
#     unmodified databricks-sdk (Python) with the stored app container's env calls
#     current_user.me() through it.
#   bash tests/k8s/run.sh          (tools from tests/k8s/tools.sh, cached; ends "k8s: N passed, 0 failed")
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v go >/dev/null 2>&1 || export PATH=$PATH:/usr/local/go/bin
t0=$(date +%s)
say() { echo "k8s: [$(($(date +%s) - t0))s] $*"; }
passed=0
ok() { passed=$((passed + 1)); say "ok: $*"; }
die() { echo "k8s: FAIL: $*" >&2; exit 1; }
check() { python3 tests/k8s/check.py "$@"; }

say "tools (kube-apiserver, kubectl, helm: cached by version)"
tests/k8s/tools.sh
HELM=target/tools/helm
work=$(mktemp -d)
pids=()
cleanup() {
    local p
    # Under set -e a wait that reports 143 (ended by SIGTERM) would end the cleanup there,
    # leaving the sidecar, the mock and the API server running.
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
    # The API server and etcd first: they hold the write end of the mock's stdin (started after
    # it), and the mock ends only at that pipe's EOF.
    stop_apiserver
    stop_mock
    rm -rf "$work"
}
say "building dbtoken-injector, peer-webhook, dbtoken, dbtoken-mock"
(cd injector && CGO_ENABLED=0 go build -trimpath -o "$work/dbtoken-injector" ./cmd/dbtoken-injector &&
    go build -o "$work/peer-webhook" ./test/peerwebhook)
cargo build --release --quiet -p dbtoken-mock --bin dbtoken-mock
cargo build --release --quiet --bin dbtoken

# shellcheck source=tests/k8s/apiserver.sh
source tests/k8s/apiserver.sh
# shellcheck source=tests/mock-env.sh
source tests/mock-env.sh
start_mock "$work"
start_apiserver "$work"
trap cleanup EXIT
say "kube-apiserver $(target/tools/kube-apiserver --version | cut -d' ' -f2) and etcd $(etcd --version | sed -n 's/etcd Version: //p') on 127.0.0.1:$K8S_API"
account=$(curl -fsS --cacert "$DBTOKEN_MOCK_CA" "$DBTOKEN_MOCK_URL/.well-known/databricks-config" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["account_id"])')

# --- 1. the examples ---------------------------------------------------------------------------
kubectl create namespace data >/dev/null
kubectl apply --validate=strict -f examples/k8s/serviceaccount.yaml >/dev/null
n=0
for f in examples/k8s/*.yaml; do
    kubectl apply --dry-run=server --validate=strict -f "$f" >"$work/dry.out" 2>&1 ||
        die "$f fails server-side validation: $(cat "$work/dry.out")"
    n=$((n + 1))
done
ok "examples/k8s: $n manifests pass server-side validation (strict)"

# Pods as they are stored with no webhook: the baseline for "untouched".
pod() { # NAME LABELS(yaml map) ANNOTATIONS(yaml map)
    cat <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: data, labels: $2, annotations: $3}
spec:
  serviceAccountName: etl
  restartPolicy: Never
  securityContext: {runAsNonRoot: true, runAsUser: 65532}
  initContainers:
    - {name: migrate, image: "myorg/migrate:1", args: [migrate]}
  containers:
    - name: app
      image: "myorg/etl:1"
      env: [{name: LOG_LEVEL, value: debug}]
    - {name: java, image: "myorg/etl-java:1"}
    - {name: tool, image: "myorg/tool:1"}
YAML
}
pod plain "{app: etl}" "{}" >"$work/plain.yaml"
kubectl create --dry-run=server -o json -f "$work/plain.yaml" >"$work/plain.before.json"
pod serve "{dbtoken.dev/inject: \"true\"}" "{dbtoken.dev/client-id: \"$DBTOKEN_MOCK_SP_CLIENT_ID\", dbtoken.dev/env-containers: java, dbtoken.dev/skip-containers: tool}" >"$work/serve.yaml"
kubectl create --dry-run=server -o json -f "$work/serve.yaml" >"$work/serve.before.json"

# --- 2. the chart ------------------------------------------------------------------------------
inj_port=$(free_port) listen_port=$(free_port) health_port=$(free_port)
values=(--set "webhook.url=https://127.0.0.1:$inj_port/mutate" --set "defaults.host=$DBTOKEN_MOCK_URL"
    --set "defaults.audience=$account" --set "sidecar.listenPort=$listen_port" --set "sidecar.healthPort=$health_port")
$HELM lint --strict charts/dbtoken-injector "${values[@]}" >"$work/lint.out" || die "helm lint: $(cat "$work/lint.out")"
kubectl create namespace dbtoken-system >/dev/null
$HELM template dbtoken-injector charts/dbtoken-injector -n dbtoken-system --kube-version 1.34.2 "${values[@]}" >"$work/rendered.yaml"
kubectl apply --dry-run=server --validate=strict -f "$work/rendered.yaml" >"$work/dry.out" 2>&1 ||
    die "the rendered chart fails server-side validation: $(cat "$work/dry.out")"
$HELM install dbtoken-injector charts/dbtoken-injector -n dbtoken-system "${values[@]}" >"$work/install.out" ||
    die "helm install: $(cat "$work/install.out")"
kubectl get deployment,service,pdb,serviceaccount,configmap,secret -n dbtoken-system -o name >"$work/objects"
grep -q mutatingwebhookconfiguration <(kubectl get mutatingwebhookconfiguration -o name) || die "no MutatingWebhookConfiguration"
ok "chart: helm lint, server-side validation of $(grep -c '^kind:' "$work/rendered.yaml") rendered objects, helm install ($(wc -l <"$work/objects") objects in dbtoken-system)"

# The injector runs here with what the chart made: its certificate, CA bundle and config.
mkdir -p "$work/tls"
for k in tls.crt tls.key ca.crt; do
    kubectl get secret dbtoken-injector-tls -n dbtoken-system -o "jsonpath={.data.${k//./\\.}}" | base64 -d >"$work/tls/$k"
done
kubectl get configmap dbtoken-injector -n dbtoken-system -o 'jsonpath={.data.config\.yaml}' >"$work/config.yaml"
"$work/dbtoken-injector" --listen "127.0.0.1:$inj_port" --tls-cert "$work/tls/tls.crt" --tls-key "$work/tls/tls.key" \
    --config "$work/config.yaml" 2>"$work/injector.log" &
pids+=($!)
for _ in $(seq 100); do
    curl -fsS --cacert "$work/tls/ca.crt" "https://127.0.0.1:$inj_port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS --cacert "$work/tls/ca.crt" "https://127.0.0.1:$inj_port/readyz" >/dev/null || die "injector not ready: $(cat "$work/injector.log")"

# --- 3. pods through the API ------------------------------------------------------------------
kubectl create -f "$work/serve.yaml" >/dev/null
kubectl get pod serve -n data -o json >"$work/serve.json"
check injected serve "$work/serve.json"
ok "serve: the stored pod has the native sidecar, probes, projected token and variables (java: file-oidc, tool: skipped)"
kubectl create -f "$work/plain.yaml" >/dev/null
kubectl get pod plain -n data -o json >"$work/plain.json"
check untouched "$work/plain.before.json" "$work/plain.json"
ok "a pod without the label is stored exactly as without the webhook"
for mode in write env; do
    pod "$mode" "{dbtoken.dev/inject: \"true\"}" "{dbtoken.dev/mode: $mode}" | kubectl create -f - >/dev/null
    kubectl get pod "$mode" -n data -o json >"$work/$mode.json"
    check injected "$mode" "$work/$mode.json"
done
ok "write and env modes: stored and validated"
if pod bad "{dbtoken.dev/inject: \"true\"}" "{dbtoken.dev/mode: sidecar}" | kubectl create -f - >"$work/bad.out" 2>&1; then
    die "a pod with dbtoken.dev/mode=sidecar was admitted"
fi
grep -q 'denied the request: dbtoken-injector: dbtoken.dev/mode: "sidecar" is not one of serve, write, env' "$work/bad.out" ||
    die "refusal: $(cat "$work/bad.out")"
ok "bad annotation refused: $(sed 's/^Error from server[^:]*: //' "$work/bad.out")"

# Azure Workload Identity's webhook (a stand-in that does what it does) before and after ours.
k8s_cert peer
"$work/peer-webhook" --mode azure --listen "127.0.0.1:$(free_port)" --tls-cert "$K8S_WORK/pki/peer.crt" \
    --tls-key "$K8S_WORK/pki/peer.key" 2>"$work/peer.log" &
pids+=($!)
for _ in $(seq 100); do grep -qs listening "$work/peer.log" && break; sleep 0.1; done
peer_url=$(sed -n 's/.*listening on \(https:[^ ]*\).*/\1/p' "$work/peer.log")/mutate
azure_webhook() { # CONFIGURATION-NAME (the API server calls webhooks in the order of these names)
    cat <<YAML
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: $1}
webhooks:
  - name: mutation.azure-workload-identity.io
    admissionReviewVersions: [v1]
    sideEffects: None
    failurePolicy: Fail
    reinvocationPolicy: IfNeeded
    clientConfig: {url: "$peer_url", caBundle: $(base64 -w0 "$K8S_CA")}
    objectSelector: {matchLabels: {azure.workload.identity/use: "true"}}
    rules: [{operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [pods]}]
YAML
}
for order in a-azure-wi z-azure-wi; do # before dbtoken-injector, then after it
    azure_webhook "$order" | kubectl apply -f - >/dev/null
    pod "azure-$order" "{dbtoken.dev/inject: \"true\", azure.workload.identity/use: \"true\"}" "{}" | kubectl create -f - >/dev/null
    kubectl get pod "azure-$order" -n data -o json >"$work/$order.json"
    check injected serve "$work/$order.json" --azure
    kubectl delete mutatingwebhookconfiguration "$order" >/dev/null
done
check same "$work/a-azure-wi.json" "$work/z-azure-wi.json"
# The orders were real: the first call for a-… saw no dbtoken sidecar yet, the first for z-… did.
first_call() { grep -m1 "pod $1 " "$work/peer.log"; }
first_call azure-a-azure-wi | grep -q 'init containers \[migrate\]$' || die "a-azure-wi did not run first: $(first_call azure-a-azure-wi)"
first_call azure-z-azure-wi | grep -q 'init containers \[dbtoken migrate\]$' || die "z-azure-wi did not run second: $(first_call azure-z-azure-wi)"
ok "with Azure Workload Identity's webhook first or second: the same stored pod (reinvocationPolicy IfNeeded)"

# --- 4. the injected sidecar and an unmodified SDK ---------------------------------------------
curl -fsS --cacert "$DBTOKEN_MOCK_CA" -X POST "$DBTOKEN_MOCK_URL/_mock/config" \
    -d "{\"issuer\": \"$K8S_ISSUER\", \"subject\": \"system:serviceaccount:data:etl\", \"audience\": \"$account\"}" >/dev/null
audience=$(python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); print([v for v in p["spec"]["volumes"] if v["name"]=="dbtoken-federated-token"][0]["projected"]["sources"][0]["serviceAccountToken"]["audience"])' "$work/serve.json")
mkdir -p "$work/vol/dbtoken-federated-token"
# What kubelet mounts: a token from the TokenRequest API for the pod's service account and audience.
kubectl create token etl -n data --audience "$audience" --duration 3600s >"$work/vol/dbtoken-federated-token/token"
# python3 itself in the background (not the check function's subshell): its pid is then the
# sidecar's once check.py execs it, and the cleanup's kill reaches it.
python3 tests/k8s/check.py exec "$work/serve.json" dbtoken --mounts "$work/vol" --pass SSL_CERT_FILE,DATABRICKS_CONFIG_FILE -- \
    target/release/dbtoken >"$work/sidecar.out" 2>"$work/sidecar.err" &
pids+=($!)
ready=
for _ in $(seq 60); do # the injected startupProbe: /readyz every 1 s, 60 times
    if curl -fsS "http://127.0.0.1:$health_port/readyz" >"$work/readyz" 2>/dev/null; then ready=1; break; fi
    sleep 1
done
[ -n "$ready" ] || die "the sidecar never became ready: $(cat "$work/sidecar.err")"
ok "the stored sidecar command ($(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["spec"]["initContainers"][0]["args"]))' "$work/serve.json")) is ready: $(cat "$work/readyz")"

PY_SDK=0.67.0 # tests/sdk/run.sh's oldest databricks-sdk; its venv is shared
venv=tests/sdk/.venv-$PY_SDK
if ! "$venv/bin/python" -c "import sys, databricks.sdk.version as v; sys.exit(v.__version__ != '$PY_SDK')" 2>/dev/null; then
    say "creating $venv"
    rm -rf "$venv" && python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "databricks-sdk==$PY_SDK"
fi
export REQUESTS_CA_BUNDLE=$DBTOKEN_MOCK_CA
check exec "$work/serve.json" app --no-args --pass PATH,HOME,REQUESTS_CA_BUNDLE,SSL_CERT_FILE,DATABRICKS_CONFIG_FILE -- \
    "$venv/bin/python" tests/sdk/py_metadata_service.py "$PY_SDK" >"$work/sdk.out" 2>&1 || die "SDK: $(cat "$work/sdk.out")"
exchanges=$(curl -fsS --cacert "$DBTOKEN_MOCK_CA" "$DBTOKEN_MOCK_URL/_mock/stats" | python3 -c 'import json,sys; r=json.load(sys.stdin)["requests"]; print(sum(v for k,v in r.items() if "token" in k))')
[ "$exchanges" -ge 1 ] || die "the mock saw no token exchange"
ok "databricks-sdk $PY_SDK with the stored app env: current_user.me() = dbtoken-mock-sp ($(cat "$work/sdk.out"))"

if [ -n "${K8S_SHOW:-}" ]; then
    echo "--- before (dry run without the webhook)"; check show "$work/serve.before.json"
    echo "--- after (stored)"; check show "$work/serve.json"
fi
echo "k8s: $passed passed, 0 failed"
