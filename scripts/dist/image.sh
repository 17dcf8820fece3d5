#!/usr/bin/env bash
# dbtoken's container image, multi-arch, as an OCI image layout archive (dist_oci_image in
# common.sh: FROM scratch, user 65532:65532, built by buildah without a daemon):
#   target/dist/dbtoken-VERSION-oci.tar   index.json -> image index (linux/amd64, linux/arm64)
# Each image holds /dbtoken (the static CLI of scripts/dist/cli.sh) and the Debian CA bundle at
# /etc/ssl/certs/ca-certificates.crt (SSL_CERT_FILE: added to the built-in Mozilla roots);
# entrypoint /dbtoken, command --help.
# Push it: skopeo copy --all oci-archive:target/dist/dbtoken-VERSION-oci.tar docker://REGISTRY/dbtoken:VERSION
set -euo pipefail
# shellcheck source=scripts/dist/common.sh
source "$(dirname "$0")/common.sh"
ca=/etc/ssl/certs/ca-certificates.crt
[ -s "$ca" ] || { dist_log "$ca missing (apt-get install ca-certificates)"; exit 1; }
for arch in $(dist_arches); do
    [ -x "$DIST/dbtoken-$VERSION-$arch-linux-musl" ] || { bash "$DIST_ROOT/scripts/dist/cli.sh" >/dev/null; break; }
done
dist_oci_image dbtoken "$DIST/dbtoken-$VERSION-@ARCH@-linux-musl" --copy "$ca" \
    --cmd '["--help"]' --env "SSL_CERT_FILE=$ca"
