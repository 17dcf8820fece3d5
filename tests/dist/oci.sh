# Sourced (after scripts/dist/common.sh) by tests/release.sh and tests/dist/injector.sh: a dist
# image run the way a container runtime would, without one (needs root for chroot).
#   oci_unpack NAME DIR       DIR/layout: target/dist/NAME-VERSION-oci.tar unpacked; DIR/plan:
#                             its platforms, checked by tests/dist/oci.py (user, entrypoint, ...)
#   oci_rootfs DIR ARCH ROOT  the layers of ARCH's image (linux/$(go_arch ARCH)) unpacked into
#                             ROOT; sets OCI_ENV (the config's "K=V ..."), OCI_USER (uid:gid),
#                             OCI_FILES (the regular files, "./a ./b ") and OCI_EXEC (the command
#                             line running /NAME in ROOT as OCI_USER: chroot --userspec, under
#                             a copy of qemu-ARCH-static in ROOT for another architecture)
#   oci_denied EXIT COMMAND...  proof of the image's UID: COMMAND, handed a file only root may
#                             read, exits EXIT saying "permission denied"; else prints what it
#                             did and fails
oci_unpack() {
    local name=$1 dir=$2
    mkdir -p "$dir/layout"
    tar -C "$dir/layout" -xf "$DIST/$name-$VERSION-oci.tar" || return 1
    echo "$name" >"$dir/name"
    python3 "$(dirname "${BASH_SOURCE[0]}")/oci.py" plan "$dir/layout" "$VERSION" "$name" >"$dir/plan"
}

oci_rootfs() {
    local dir=$1 arch=$2 root=$3 oarch line layer layers name
    oarch=$(go_arch "$arch")
    name=$(cat "$dir/name")
    line=$(grep "^$oarch|" "$dir/plan") || { echo "oci: $name has no linux/$oarch image" >&2; return 1; }
    IFS='|' read -r _ OCI_USER OCI_ENV layers <<<"$line"
    mkdir -p "$root"
    for layer in $layers; do tar -C "$root" -xzf "$dir/layout/blobs/$layer" || return 1; done
    OCI_FILES=$(cd "$root" && find . -type f | sort | tr '\n' ' ')
    OCI_EXEC=("$(command -v chroot)" --userspec="$OCI_USER" "$root")
    if [ "$arch" != "$(uname -m)" ]; then
        command -v "qemu-$arch-static" >/dev/null || { echo "oci: qemu-$arch-static missing (apt-get install qemu-user-static)" >&2; return 1; }
        install -m 0755 "$(command -v "qemu-$arch-static")" "$root/.qemu"
        OCI_EXEC+=(/.qemu)
    fi
    OCI_EXEC+=("/$name")
}

oci_denied() {
    local want=$1 err code=0
    shift
    err=$("$@" 2>&1 >/dev/null) || code=$?
    if [ "$code" = "$want" ] && grep -qi 'permission denied' <<<"$err"; then return 0; fi
    echo "exit $code (want $want, permission denied): $err"
    return 1
}
