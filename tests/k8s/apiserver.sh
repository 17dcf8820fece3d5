# Sourced by tests/k8s/run.sh and bench/injector.sh: a real kube-apiserver and etcd on
# loopback, as controller-runtime's envtest runs them (no kubelet, scheduler or controllers:
# objects are admitted, validated and stored, pods never run).
#   start_apiserver WORKDIR   exports KUBECONFIG, K8S_CA (the CA that also signs webhook
#                             certificates: k8s_cert NAME), K8S_ISSUER, K8S_API; stop on EXIT
#   k8s_pki WORKDIR           only the test CA (start_apiserver makes it too), for k8s_cert
#   free_port                 prints a free loopback TCP port
#   kubectl ...               target/tools/kubectl against that API server
# Needs tests/k8s/tools.sh's binaries (target/tools/) and Debian's etcd.
K8S_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
K8S_ISSUER=https://oidc.dbtoken.test/k8s-envtest

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

kubectl() { "$K8S_ROOT/target/tools/kubectl" "$@"; }

# k8s_cert NAME: NAME.crt/NAME.key for 127.0.0.1 and localhost, signed by the test CA.
k8s_cert() {
    local d=$K8S_WORK/pki n=$1
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$n" \
        -keyout "$d/$n.key" -out "$d/$n.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$d/$n.ext"
    openssl x509 -req -in "$d/$n.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
        -days 2 -extfile "$d/$n.ext" -out "$d/$n.crt" 2>/dev/null
}

k8s_pki() {
    K8S_WORK=$1
    mkdir -p "$K8S_WORK/pki"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=dbtoken-envtest-ca" \
        -days 2 -keyout "$K8S_WORK/pki/ca.key" -out "$K8S_WORK/pki/ca.crt" 2>/dev/null
    export K8S_CA=$K8S_WORK/pki/ca.crt K8S_WORK
}

start_apiserver() {
    k8s_pki "$1"
    local d=$K8S_WORK/pki
    for b in kube-apiserver kubectl; do
        [ -x "$K8S_ROOT/target/tools/$b" ] || { echo "start_apiserver: target/tools/$b missing: run tests/k8s/tools.sh" >&2; return 1; }
    done
    command -v etcd >/dev/null || { echo "start_apiserver: etcd missing (apt-get install etcd-server)" >&2; return 1; }
    k8s_cert apiserver
    # The service-account signing key (RS256, what Databricks federation accepts).
    openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
    openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
    local token; token=$(openssl rand -hex 24)
    echo "$token,envtest-admin,envtest-admin,system:masters" >"$d/tokens.csv"
    local etcd_port peer_port
    etcd_port=$(free_port) peer_port=$(free_port) K8S_API=$(free_port)
    etcd --name envtest --data-dir "$K8S_WORK/etcd" \
        --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
        --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
        --initial-cluster "envtest=http://127.0.0.1:$peer_port" >"$K8S_WORK/etcd.log" 2>&1 &
    K8S_ETCD_PID=$!
    "$K8S_ROOT/target/tools/kube-apiserver" \
        --etcd-servers "http://127.0.0.1:$etcd_port" \
        --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$K8S_API" \
        --tls-cert-file "$d/apiserver.crt" --tls-private-key-file "$d/apiserver.key" \
        --token-auth-file "$d/tokens.csv" --authorization-mode RBAC \
        --service-account-issuer "$K8S_ISSUER" --service-account-key-file "$d/sa.pub" \
        --service-account-signing-key-file "$d/sa.key" \
        --service-cluster-ip-range 10.0.0.0/24 --endpoint-reconciler-type none \
        --enable-priority-and-fairness=false --profiling=false \
        >"$K8S_WORK/apiserver.log" 2>&1 &
    K8S_APISERVER_PID=$!
    trap stop_apiserver EXIT
    export KUBECONFIG=$K8S_WORK/kubeconfig K8S_ISSUER K8S_API
    cat >"$KUBECONFIG" <<KC
apiVersion: v1
kind: Config
clusters: [{name: envtest, cluster: {server: "https://127.0.0.1:$K8S_API", certificate-authority: "$d/ca.crt"}}]
users: [{name: admin, user: {token: "$token"}}]
contexts: [{name: envtest, context: {cluster: envtest, user: admin}}]
current-context: envtest
KC
    local i
    for i in $(seq 240); do
        if kubectl get --raw /readyz >/dev/null 2>&1; then return 0; fi
        kill -0 "$K8S_APISERVER_PID" 2>/dev/null || break
        sleep 0.5
    done
    echo "start_apiserver: not ready; its log ends:" >&2
    tail -20 "$K8S_WORK/apiserver.log" >&2
    return 1
}

stop_apiserver() {
    local p
    for p in ${K8S_APISERVER_PID:-} ${K8S_ETCD_PID:-}; do
        kill "$p" 2>/dev/null && { wait "$p" 2>/dev/null || true; } # 143 (SIGTERM) is no failure
    done
    K8S_APISERVER_PID= K8S_ETCD_PID=
}
