#!/usr/bin/env bash
# Builds (once) the pinned Kubernetes tools the injector tests need and links them into
# target/tools/: kube-apiserver and kubectl (from the k8s.io/kubernetes module), and helm.
# Built binaries are cached in ~/.cache/dbtoken-tools/<tool>-<version>/ (override with
# DBTOKEN_TOOLS_CACHE) so a fresh clone on a warm machine costs nothing; Go's own build cache
# makes a rebuild after a cache wipe cheaper too. etcd comes from Debian (etcd-server; .ci/run
# installs it). kubectl is built too: Debian's kubernetes-client is 1.20, older than native
# sidecars and `kubectl create token`.
# Usage: tests/k8s/tools.sh            prints nothing on success; binaries in target/tools/
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
KUBE_VERSION=v1.34.2      # k8s.io/kubernetes; its staging modules are v0.34.2
STAGING_VERSION=v0.34.2
HELM_VERSION=v3.19.5
CACHE=${DBTOKEN_TOOLS_CACHE:-$HOME/.cache/dbtoken-tools}
mkdir -p "$ROOT/target/tools"
export GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local

build_apiserver() {
  local out=$CACHE/kube-apiserver-$KUBE_VERSION
  if [ ! -x "$out/kube-apiserver" ] || [ ! -x "$out/kubectl" ]; then
    local b; b=$(mktemp -d)
    echo "tools.sh: building kube-apiserver $KUBE_VERSION (cached in $out)" >&2
    go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" >/dev/null
    local gomod; gomod=$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$KUBE_VERSION.mod
    {
      echo "module dbtoken.dev/kube-apiserver-builder"
      echo "go 1.24.0"
      echo "require k8s.io/kubernetes $KUBE_VERSION"
      # k8s.io/kubernetes replaces its staging modules by ./staging paths: pin them to the
      # published versions instead (the list comes from its own go.mod's replace block).
      awk '/^replace \(/{f=1;next} f&&/^\)/{f=0} f{print $1}' "$gomod" | sort -u |
        while read -r m; do echo "replace $m => $m $STAGING_VERSION"; done
    } >"$b/go.mod"
    echo 'package tools' >"$b/tools.go"
    local ld="-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1"
    ld="$ld -X k8s.io/component-base/version.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2)"
    ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"
    (cd "$b" && go mod tidy -e >/dev/null 2>&1 || true
     cd "$b" && go get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION" >/dev/null 2>&1 || true
     cd "$b" && go build -trimpath -ldflags "$ld" -o "$b/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
     cd "$b" && go build -trimpath -ldflags "$ld" -o "$b/kubectl" k8s.io/kubernetes/cmd/kubectl)
    mkdir -p "$out" && mv "$b/kube-apiserver" "$b/kubectl" "$out/"
    rm -rf "$b"
  fi
  ln -sf "$out/kube-apiserver" "$ROOT/target/tools/kube-apiserver"
  ln -sf "$out/kubectl" "$ROOT/target/tools/kubectl"
}

build_helm() {
  local out=$CACHE/helm-$HELM_VERSION
  if [ ! -x "$out/helm" ]; then
    echo "tools.sh: building helm $HELM_VERSION (cached in $out)" >&2
    mkdir -p "$out"
    GOBIN=$out go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  fi
  ln -sf "$out/helm" "$ROOT/target/tools/helm"
}

case "${1:-all}" in
  kube-apiserver) build_apiserver ;;
  helm) build_helm ;;
  all) build_apiserver; build_helm ;;
  *) echo "tools.sh: unknown tool '$1' (kube-apiserver, helm, all)" >&2; exit 2 ;;
esac
