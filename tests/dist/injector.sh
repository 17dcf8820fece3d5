#!/usr/bin/env bash
# dbtoken-injector's release artifacts (scripts/dist.sh injector) as a user runs them, from
# copies in a temporary directory. Per architecture (x86_64 natively, aarch64 under
# qemu-aarch64-static):
#   - the binary is static, prints the one version and its usage, serves /healthz and /readyz
#     over TLS with a certificate made here, and answers an AdmissionReview of a labelled pod
#     on /mutate with the JSON Patch that adds the dbtoken sidecar;
#   - the OCI image (its own archive, dbtoken-injector-VERSION-oci.tar): the index lists the
#     platform with entrypoint /dbtoken-injector and user 65532:65532, its layers hold only
#     that binary, and unpacked into an empty root it serves /healthz as UID 65532 and cannot
#     read a root-only key;
# and SHA256SUMS lists and verifies the artifacts, the chart's default image is this one.
# SKIP_DIST=1 reads target/dist as it is (tests/release.sh has just built it). Needs root
# (chroot, as tests/release.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "injector dist: needs root (chroot to run the image as UID 65532)" >&2; exit 1; }
[ -n "${SKIP_DIST:-}" ] || bash scripts/dist.sh injector >/dev/null
# shellcheck source=scripts/dist/common.sh
source scripts/dist/common.sh
# shellcheck source=tests/dist/oci.sh
source tests/dist/oci.sh
# shellcheck source=tests/k8s/apiserver.sh
source tests/k8s/apiserver.sh
read -ra arches <<<"$(dist_arches)"
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
passed=0
pass() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
k8s_pki "$work" # the test CA, and k8s_cert for a serving certificate of 127.0.0.1
k8s_cert injector
printf 'defaults: {host: "https://adb-1.azuredatabricks.net", audience: "acct-1", image: "dbtoken:%s"}\n' "$VERSION" >"$work/config.yaml"
# A labelled pod's creation, as the API server sends it.
cat >"$work/review.json" <<'JSON'
{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
 "request": {"uid": "5e1ea5e0-0000-4000-8000-000000000001", "operation": "CREATE", "namespace": "data",
  "kind": {"group": "", "version": "v1", "kind": "Pod"}, "resource": {"group": "", "version": "v1", "resource": "pods"},
  "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "etl", "labels": {"dbtoken.dev/inject": "true"}},
   "spec": {"containers": [{"name": "app", "image": "myorg/etl:1"}]}}}}
JSON

# serve NAME DIR COMMAND...: starts an injector (DIR/injector.crt, .key, config.yaml) on a
# free port, sets port once /healthz answers over TLS (the injector's log in $work/NAME.log).
serve() {
    local name=$1 dir=$2 i
    shift 2
    port=$(free_port)
    "$@" --listen "127.0.0.1:$port" --tls-cert "$dir/injector.crt" --tls-key "$dir/injector.key" \
        --config "$dir/config.yaml" >"$work/$name.log" 2>&1 &
    pids+=($!)
    for i in $(seq 100); do
        [ "$(curl -fsS --cacert "$K8S_CA" "https://127.0.0.1:$port/healthz" 2>/dev/null)" = ok ] && return
        kill -0 "${pids[-1]}" 2>/dev/null || break
        sleep 0.2
    done
    fail "$name: /healthz never answered over TLS: $(cat "$work/$name.log")"
}

# mutated PORT: /readyz is ok and the review of a labelled pod comes back allowed with a patch
# adding the dbtoken native sidecar; prints the number of patch operations.
mutated() {
    [ "$(curl -fsS --cacert "$K8S_CA" "https://127.0.0.1:$1/readyz")" = ok ] || return 1
    curl -fsS --cacert "$K8S_CA" -H 'Content-Type: application/json' --data-binary "@$work/review.json" \
        "https://127.0.0.1:$1/mutate" | python3 -c '
import base64, json, sys
r = json.load(sys.stdin)["response"]
assert r["allowed"] and r["uid"] == "5e1ea5e0-0000-4000-8000-000000000001", r
ops = json.loads(base64.b64decode(r["patch"]))
[side] = [o["value"] for o in ops if o["path"] == "/spec/initContainers"][0]
assert side["name"] == "dbtoken" and side["restartPolicy"] == "Always", side
print(len(ops))'
}

cp "$work/config.yaml" "$work/pki/config.yaml"
for arch in "${arches[@]}"; do
    run=()
    if [ "$arch" != "$(uname -m)" ]; then
        command -v "qemu-$arch-static" >/dev/null || fail "qemu-$arch-static missing (apt-get install qemu-user-static)"
        run=("qemu-$arch-static")
    fi
    bin="$work/dbtoken-injector-$VERSION-$arch-linux"
    cp "$DIST/dbtoken-injector-$VERSION-$arch-linux" "$bin"
    file -b "$bin" | grep -q 'statically linked' || fail "$bin is not static: $(file -b "$bin")"
    version=$(env -i "${run[@]}" "$bin" --version)
    [ "$version" = "dbtoken-injector $VERSION" ] || fail "$arch --version: '$version'"
    env -i "${run[@]}" "$bin" --help 2>"$work/help" || fail "$arch --help: exit $?"
    grep -q '^usage: dbtoken-injector --listen ADDR --tls-cert FILE --tls-key FILE' "$work/help" || fail "$arch --help: $(cat "$work/help")"
    serve "bin-$arch" "$work/pki" "${run[@]}" "$bin"
    ops=$(mutated "$port") || fail "$arch: /readyz or /mutate: $(cat "$work/bin-$arch.log")"
    pass "$arch binary ($(stat -c %s "$bin") bytes, static, ${run[0]:-native}): '$version', usage, /healthz over TLS, /mutate patches a labelled pod ($ops operations)"
done

# The image: its own archive, one image per platform.
oci_unpack dbtoken-injector "$work/image" || fail "image: see above"
for arch in "${arches[@]}"; do
    root="$work/root-$arch"
    oci_rootfs "$work/image" "$arch" "$root" || fail "image $arch: see above"
    [ "$OCI_FILES" = "./dbtoken-injector " ] || fail "image $arch holds: $OCI_FILES"
    cmp -s "$root/dbtoken-injector" "$DIST/dbtoken-injector-$VERSION-$arch-linux" || fail "image $arch: /dbtoken-injector is not the dist binary"
    # What the chart mounts: the TLS Secret and the config (readable by the pod's user).
    mkdir -p "$root/tls"
    install -m 0644 "$work/pki/injector.crt" "$work/pki/injector.key" "$work/config.yaml" "$root/tls/"
    # shellcheck disable=SC2086 # OCI_ENV is the image's "K=V ..." list
    serve "image-$arch" /tls env -i $OCI_ENV "${OCI_EXEC[@]}"
    ops=$(mutated "$port") || fail "image $arch: /readyz or /mutate: $(cat "$work/image-$arch.log")"
    # Proof of the UID: a key only root may read does not load.
    install -m 0600 "$work/pki/injector.key" "$root/tls/root-only.key"
    # shellcheck disable=SC2086
    why=$(oci_denied 3 env -i $OCI_ENV "${OCI_EXEC[@]}" --tls-cert /tls/injector.crt --tls-key /tls/root-only.key) ||
        fail "image $arch: a root-only key was readable: $why"
    pass "image linux/$(go_arch "$arch"): entrypoint /dbtoken-injector, user $OCI_USER, only the dist binary; it serves /healthz and /mutate ($ops operations) and cannot read a root-only key"
done

# Checksums, and the chart's default images are these.
for f in "dbtoken-injector-$VERSION-oci.tar" $(for a in "${arches[@]}"; do echo "dbtoken-injector-$VERSION-$a-linux"; done); do
    grep -q "  $f\$" "$DIST/SHA256SUMS" || fail "SHA256SUMS misses $f"
done
(cd "$DIST" && sha256sum --quiet -c SHA256SUMS) || fail "SHA256SUMS does not verify"
bash tests/k8s/tools.sh helm
images=$(target/tools/helm template dbtoken-injector charts/dbtoken-injector -n dbtoken-system --kube-version 1.34.2 | python3 -c '
import sys, yaml
for d in yaml.safe_load_all(sys.stdin):
    if d and d["kind"] == "Deployment":
        print("injector", *[c["image"] for c in d["spec"]["template"]["spec"]["containers"]])
    if d and d["kind"] == "ConfigMap":
        print("sidecar", yaml.safe_load(d["data"]["config.yaml"])["defaults"]["image"])' | sort | tr '\n' ' ')
want="injector dbtoken-injector:$VERSION sidecar dbtoken:$VERSION "
[ "$images" = "$want" ] || fail "the chart's default images: '$images', want '$want' (Chart.yaml appVersion, values.yaml)"
pass "SHA256SUMS lists and verifies the injector's $((${#arches[@]} + 1)) artifacts; the chart's default images are dbtoken-injector:$VERSION and dbtoken:$VERSION (sidecar)"
echo "injector dist: $passed passed, 0 failed"
