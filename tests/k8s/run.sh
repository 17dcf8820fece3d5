#!/usr/bin/env bash
# dbtoken-injector against a real kube-apiserver and etcd on loopback (no mock of Kubernetes):
#  1. every manifest in examples/k8s/ and every ```yaml,k8s snippet of the docs passes
#     server-side validation (--dry-run=server, strict);
#  2. the chart passes helm lint, its rendered objects server-side validation, and installs with
#     `helm install` (webhook.url: the injector runs here, outside the never-running cluster,
#     with the certificate and config the chart generated, read back from the API server);
#  3. real pods created through the API: the stored spec is mutated as each mode says, a pod
#     without the label (or labelled, in kube-system or the injector's namespace) is stored
#     exactly as before the webhook existed, a bad annotation is refused naming it (a secret's
#     value echoed nowhere), the user's own variables stay, a Job's pod (made from a stored Job
#     as its controller would) gets the native sidecar, with an Azure-Workload-Identity-like
#     webhook in either order the stored pods are the same and the reinvoked injector changes
#     nothing, and a certificate rotated under the running injector serves the next admission;
#  4. the stored sidecar's exact args and env run (target/release/dbtoken) against the mock
#     with a token from the API server's TokenRequest (what the projection mounts), and the
#     unmodified databricks-sdk (Python) with the stored app container's env calls
#     current_user.me() through it. The serve pod before and after (abridged) and the SDK's
#     line are kept in target/k8s/ (K8S_SHOW=1 prints the pods too).
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
# The docs' Kubernetes snippets (```yaml,k8s fences), validated the same way.
python3 tests/docs/check.py k8s-yaml docs/src "$work/docs-yaml" >/dev/null
n=0
for f in "$work"/docs-yaml/*.yaml; do
    kubectl apply --dry-run=server --validate=strict -f "$f" >"$work/dry.out" 2>&1 ||
        die "docs snippet $(head -1 "$f" | cut -c3-) fails server-side validation: $(cat "$work/dry.out")"
    n=$((n + 1))
done
[ "$n" -ge 2 ] || die "only $n yaml,k8s snippets in docs/src"
ok "docs: $n Kubernetes snippets pass server-side validation (strict)"

# Pods as they are stored with no webhook: the baseline for "untouched".
pod() { # NAME LABELS(yaml map) ANNOTATIONS(yaml map) [NAMESPACE (data)]
    cat <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: ${4:-data}, labels: $2, annotations: $3}
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
# Labelled pods in the namespaces the webhook never sees (kube-system, the injector's own), as
# stored before the webhook exists.
for ns in kube-system dbtoken-system; do
    kubectl create serviceaccount etl -n "$ns" >/dev/null
    pod "excluded" "{dbtoken.dev/inject: \"true\"}" "{}" "$ns" >"$work/excluded-$ns.yaml"
    kubectl create --dry-run=server -o json -f "$work/excluded-$ns.yaml" >"$work/excluded-$ns.before.json"
done
$HELM template dbtoken-injector charts/dbtoken-injector -n dbtoken-system --kube-version 1.34.2 "${values[@]}" >"$work/rendered.yaml"
kubectl apply --dry-run=server --validate=strict -f "$work/rendered.yaml" >"$work/dry.out" 2>&1 ||
    die "the rendered chart fails server-side validation: $(cat "$work/dry.out")"
$HELM install dbtoken-injector charts/dbtoken-injector -n dbtoken-system "${values[@]}" >"$work/install.out" ||
    die "helm install: $(cat "$work/install.out")"
kubectl get deployment,service,pdb,serviceaccount,configmap,secret -n dbtoken-system -o name >"$work/objects"
grep -q mutatingwebhookconfiguration <(kubectl get mutatingwebhookconfiguration -o name) || die "no MutatingWebhookConfiguration"
ok "chart: helm lint, server-side validation of $(grep -c '^kind:' "$work/rendered.yaml") rendered objects, helm install ($(wc -l <"$work/objects") objects in dbtoken-system)"

# The injector runs here with what the chart made: its certificate, CA bundle and config, the
# Secret's files laid out as kubelet mounts a Secret volume (tls.crt -> ..data/tls.crt, ..data
# -> ..v1), so a rotation below swaps ..data as kubelet does.
mkdir -p "$work/tls/..v1"
for k in tls.crt tls.key ca.crt; do
    kubectl get secret dbtoken-injector-tls -n dbtoken-system -o "jsonpath={.data.${k//./\\.}}" | base64 -d >"$work/tls/..v1/$k"
    ln -s "..data/$k" "$work/tls/$k"
done
ln -s ..v1 "$work/tls/..data"
kubectl get configmap dbtoken-injector -n dbtoken-system -o 'jsonpath={.data.config\.yaml}' >"$work/config.yaml"
"$work/dbtoken-injector" --listen "127.0.0.1:$inj_port" --tls-cert "$work/tls/tls.crt" --tls-key "$work/tls/tls.key" \
    --config "$work/config.yaml" 2>"$work/injector.log" &
inj_pid=$!
pids+=($inj_pid)
cat "$work/tls/..v1/ca.crt" "$K8S_CA" >"$work/both-ca.pem" # the chart's CA, and the rotation's
# metric NAME: the injector's /metrics sample NAME (with its labels), e.g. metric 'x{result="mutated"}'.
metric() {
    curl -fsS --cacert "$work/both-ca.pem" "https://127.0.0.1:$inj_port/metrics" |
        awk -v n="$1" '$1 == n {print $2}'
}
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
# A secret in an annotation: refused by the annotation's name, its value echoed nowhere.
if pod leaky "{dbtoken.dev/inject: \"true\"}" "{dbtoken.dev/client-secret: s3cr3t-never-echoed}" | kubectl create -f - >"$work/leaky.out" 2>&1; then
    die "a pod with dbtoken.dev/client-secret was admitted"
fi
grep -q 'denied the request: dbtoken-injector: dbtoken.dev/client-secret: secrets do not belong in annotations' "$work/leaky.out" ||
    die "refusal: $(cat "$work/leaky.out")"
! grep -q s3cr3t "$work/leaky.out" "$work/injector.log" || die "the secret's value was echoed: $(grep -h s3cr3t "$work/leaky.out" "$work/injector.log")"
ok "a secret-looking annotation refused by name, its value in neither the answer nor the injector's log"

# The user's own variables win: set in the container, they stay as written and are not added twice.
cat <<YAML | kubectl create -f - >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: mine, namespace: data, labels: {dbtoken.dev/inject: "true"}}
spec:
  serviceAccountName: etl
  containers:
    - name: app
      image: "myorg/etl:1"
      env:
        - {name: DATABRICKS_HOST, value: "https://adb-2.azuredatabricks.net"}
        - {name: DATABRICKS_METADATA_SERVICE_URL, valueFrom: {configMapKeyRef: {name: mine, key: url}}}
YAML
kubectl get pod mine -n data -o json >"$work/mine.json"
check env "$work/mine.json" app DATABRICKS_AUTH_TYPE=metadata-service DATABRICKS_HOST=https://adb-2.azuredatabricks.net \
    DATABRICKS_METADATA_SERVICE_URL=valueFrom
ok "the user's DATABRICKS_HOST and DATABRICKS_METADATA_SERVICE_URL (valueFrom) stay; only DATABRICKS_AUTH_TYPE is added"

# Namespaces the webhook's namespaceSelector excludes: a labelled pod is stored as without it.
for ns in kube-system dbtoken-system; do
    kubectl create -f "$work/excluded-$ns.yaml" >/dev/null
    kubectl get pod excluded -n "$ns" -o json >"$work/excluded-$ns.json"
    check untouched "$work/excluded-$ns.before.json" "$work/excluded-$ns.json"
done
ok "labelled pods in kube-system and dbtoken-system (the injector's own namespace) are stored as without the webhook"

# A Job's pod. No controller runs here, so the pod is made as the Job controller makes it from
# the stored Job (generateName, the Job's labels, a controller ownerReference) and created
# through the API. Its completion needs a kubelet (none here): what lets it complete is that the
# sidecar is a native sidecar (an init container with restartPolicy Always), which is checked.
cat <<YAML | kubectl create -f - >/dev/null
apiVersion: batch/v1
kind: Job
metadata: {name: nightly, namespace: data}
spec:
  backoffLimit: 0
  template:
    metadata: {labels: {dbtoken.dev/inject: "true"}}
    spec:
      serviceAccountName: etl
      restartPolicy: Never
      containers: [{name: etl, image: "myorg/etl:1", args: [run-once]}]
YAML
kubectl get job nightly -n data -o json >"$work/job.json"
check jobpod "$work/job.json" | kubectl create -o json -f - >"$work/job-pod.json"
check injected serve "$work/job-pod.json"
check jobpod-stored "$work/job-pod.json"
ok "a Job's pod ($(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata"]["name"])' "$work/job-pod.json"), made from the stored Job) gets the native sidecar; restartPolicy Never, the Job's labels and owner kept"

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
    mutated_before=$(metric 'dbtoken_injector_admissions_total{result="mutated"}')
    unchanged_before=$(metric 'dbtoken_injector_admissions_total{result="unchanged"}')
    pod "azure-$order" "{dbtoken.dev/inject: \"true\", azure.workload.identity/use: \"true\"}" "{}" | kubectl create -f - >/dev/null
    kubectl get pod "azure-$order" -n data -o json >"$work/$order.json"
    check injected serve "$work/$order.json" --azure
    kubectl delete mutatingwebhookconfiguration "$order" >/dev/null
    mutations=$(($(metric 'dbtoken_injector_admissions_total{result="mutated"}') - mutated_before))
    [ "$mutations" = 1 ] || die "$order: the injector mutated the pod $mutations times"
    reinvoked=$(($(metric 'dbtoken_injector_admissions_total{result="unchanged"}') - unchanged_before))
done
# After the other webhook's change the API server called dbtoken-injector again (IfNeeded) and
# the already-injected pod came back unchanged: idempotent across a real reinvocation.
[ "$reinvoked" = 1 ] || die "z-azure-wi: $reinvoked unchanged answers, want 1 (the reinvocation)"
check same "$work/a-azure-wi.json" "$work/z-azure-wi.json"
# The orders were real: the first call for a-… saw no dbtoken sidecar yet, the first for z-… did.
first_call() { grep -m1 "pod $1 " "$work/peer.log"; }
first_call azure-a-azure-wi | grep -q 'init containers \[migrate\]$' || die "a-azure-wi did not run first: $(first_call azure-a-azure-wi)"
first_call azure-z-azure-wi | grep -q 'init containers \[dbtoken migrate\]$' || die "z-azure-wi did not run second: $(first_call azure-z-azure-wi)"
ok "with Azure Workload Identity's webhook first or second: the same stored pod, mutated once; reinvoked after the other webhook, the injector answered unchanged"

# Certificate rotation without a restart, as cert-manager does it: the caBundle first holds the
# old and the new CA, the Secret volume's ..data swaps to the new pair, then the old CA leaves
# the caBundle. The API server opens a new connection for the changed caBundle, which only the
# new certificate passes: the pod below is admitted only if the running injector serves it.
k8s_cert injector-v2 # signed by the test CA
mkdir "$work/tls/..v2"
cp "$K8S_WORK/pki/injector-v2.crt" "$work/tls/..v2/tls.crt"
cp "$K8S_WORK/pki/injector-v2.key" "$work/tls/..v2/tls.key"
cp "$K8S_CA" "$work/tls/..v2/ca.crt"
ca_bundle() {
    kubectl patch mutatingwebhookconfiguration dbtoken-injector --type=json \
        -p "[{\"op\": \"replace\", \"path\": \"/webhooks/0/clientConfig/caBundle\", \"value\": \"$(cat "$@" | base64 -w0)\"}]" >/dev/null
}
ca_bundle "$work/tls/..v1/ca.crt" "$K8S_CA"
ln -s ..v2 "$work/tls/..data_tmp" && mv -T "$work/tls/..data_tmp" "$work/tls/..data"
ca_bundle "$K8S_CA"
sleep 1.2 # the injector looks at its files at most once a second
curl -fsS --cacert "$K8S_CA" "https://127.0.0.1:$inj_port/readyz" >/dev/null ||
    die "after the rotation the injector does not serve the new certificate: $(cat "$work/injector.log")"
pod rotated "{dbtoken.dev/inject: \"true\"}" "{}" | kubectl create -f - >/dev/null || die "no admission after the rotation"
kubectl get pod rotated -n data -o json >"$work/rotated.json"
check injected serve "$work/rotated.json"
kill -0 "$inj_pid" || die "the injector is gone"
[ "$(metric dbtoken_injector_certificate_reloads_total)" = 1 ] || die "reloads: $(metric dbtoken_injector_certificate_reloads_total)"
ok "certificate rotated under the running injector (same process, 1 reload): the API server admits through the new one alone"

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
ok "databricks-sdk $PY_SDK with the stored app env, through the stored sidecar: $(sed -n 's/^python sdk: ok ([^)]*): //p' "$work/sdk.out")"

# The serve pod as created and as stored, abridged, for the docs and the record.
mkdir -p target/k8s
check show "$work/serve.before.json" >target/k8s/serve-pod.before.txt
check show "$work/serve.json" >target/k8s/serve-pod.after.txt
cp "$work/sdk.out" target/k8s/sdk.txt
if [ -n "${K8S_SHOW:-}" ]; then
    echo "--- before (dry run without the webhook)"; cat target/k8s/serve-pod.before.txt
    echo "--- after (stored)"; cat target/k8s/serve-pod.after.txt
fi
echo "k8s: $passed passed, 0 failed"
