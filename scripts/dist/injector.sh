#!/usr/bin/env bash
# The Kubernetes injector (injector/, Go): the static binary per architecture and its image.
#   target/dist/dbtoken-injector-VERSION-ARCH-linux   CGO_ENABLED=0, -trimpath, no VCS stamp,
#                                                     no build id: the same Go and sources give
#                                                     the same bytes; `--version` prints VERSION
#   target/dist/dbtoken-injector-VERSION-oci.tar      its own OCI archive beside dbtoken's (one
#                                                     image per archive, so `skopeo copy --all
#                                                     oci-archive:FILE` needs no ref): FROM
#                                                     scratch, /dbtoken-injector only (it makes
#                                                     no outbound TLS call: no CA bundle), user
#                                                     65532:65532, linux/amd64 and linux/arm64
# The Go toolchain is the machine's (GOTOOLCHAIN=local: never a downloaded one); modules come
# from go.sum through the module proxy. The chart's default image is dbtoken-injector:VERSION.
set -euo pipefail
# shellcheck source=scripts/dist/common.sh
source "$(dirname "$0")/common.sh"
command -v go >/dev/null 2>&1 || export PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || { dist_log "go missing (apt-get install golang-go)"; exit 1; }
for arch in $(dist_arches); do
    out="$DIST/dbtoken-injector-$VERSION-$arch-linux"
    (cd "$DIST_ROOT/injector" && CGO_ENABLED=0 GOOS=linux GOARCH=$(go_arch "$arch") GOTOOLCHAIN=local \
        GOFLAGS=-mod=readonly go build -trimpath -buildvcs=false \
        -ldflags "-s -w -buildid= -X main.version=$VERSION" -o "$out" ./cmd/dbtoken-injector)
    dist_log "injector: $(basename "$out"): $(stat -c %s "$out") bytes, $(go version | cut -d' ' -f3)"
    echo "$out"
done
dist_oci_image dbtoken-injector "$DIST/dbtoken-injector-$VERSION-@ARCH@-linux" --cmd '["--help"]'
