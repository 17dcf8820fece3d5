#!/usr/bin/env bash
# The container image as an OCI image layout archive, multi-arch, built without a daemon by
# buildah (Debian package; its own storage under target/dist-work, vfs driver, no mounts):
#   target/dist/dbtoken-VERSION-oci.tar   index.json -> image index (linux/amd64, linux/arm64)
# Each image is FROM scratch: /dbtoken (the static CLI of scripts/dist/cli.sh) and the Debian
# CA bundle at /etc/ssl/certs/ca-certificates.crt (SSL_CERT_FILE: added to the built-in Mozilla
# roots), user 65532:65532, entrypoint /dbtoken. Timestamps are SOURCE_DATE_EPOCH.
# Push it: skopeo copy --all oci-archive:target/dist/dbtoken-VERSION-oci.tar docker://REGISTRY/dbtoken:VERSION
set -euo pipefail
# shellcheck source=scripts/dist/common.sh
source "$(dirname "$0")/common.sh"
command -v buildah >/dev/null || { dist_log "buildah missing (apt-get install buildah)"; exit 1; }
ca=/etc/ssl/certs/ca-certificates.crt
[ -s "$ca" ] || { dist_log "$ca missing (apt-get install ca-certificates)"; exit 1; }
work="$DIST_WORK/image"
rm -rf "$work" && mkdir -p "$work"
bh() { buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs "$@"; }
trap 'bh rm --all >/dev/null 2>&1 || true; rm -rf "$work/storage" "$work/run" 2>/dev/null || true' EXIT
list="localhost/dbtoken:$VERSION"
bh manifest create "$list" >/dev/null
for arch in $(dist_arches); do
    case "$arch" in
        x86_64) oarch=amd64 ;;
        aarch64) oarch=arm64 ;;
        *) dist_log "no OCI architecture name for $arch"; exit 1 ;;
    esac
    bin="$DIST/dbtoken-$VERSION-$arch-linux-musl"
    [ -x "$bin" ] || bash "$DIST_ROOT/scripts/dist/cli.sh" >/dev/null
    ctr=$(bh from --quiet scratch)
    bh copy --quiet --chown 0:0 --chmod 0755 "$ctr" "$bin" /dbtoken
    bh copy --quiet --chown 0:0 --chmod 0644 "$ctr" "$ca" "$ca"
    bh config --os linux --arch "$oarch" --user 65532:65532 --workingdir / \
        --created-by "scripts/dist/image.sh" --entrypoint '["/dbtoken"]' --cmd '["--help"]' --env "SSL_CERT_FILE=$ca" \
        --label "org.opencontainers.image.version=$VERSION" \
        --label "org.opencontainers.image.title=dbtoken" \
        --label "org.opencontainers.image.licenses=Apache-2.0" "$ctr"
    bh commit --quiet --format oci --timestamp "$SOURCE_DATE_EPOCH" --rm "$ctr" "localhost/dbtoken:$VERSION-$oarch" >/dev/null
    bh manifest add --os linux --arch "$oarch" "$list" "containers-storage:localhost/dbtoken:$VERSION-$oarch" >/dev/null
done
bh manifest push --quiet --all --format oci "$list" "oci:$work/layout:$VERSION"
out="$DIST/dbtoken-$VERSION-oci.tar"
tar -C "$work/layout" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
    --format=gnu -cf "$out" .
echo "$out"
