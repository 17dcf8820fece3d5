#!/usr/bin/env bash
# The release artifacts as a user outside the repository gets them: `scripts/dist.sh` fills
# target/dist/, and everything below runs from copies in a temporary directory against the
# loopback mock. Per architecture (x86_64 natively, aarch64 under qemu-aarch64-static):
#   - the static CLI gets a token the mock accepts, prints the one version, fits 2.0 MB;
#   - the glibc C SDK: SONAME, no debug info, token_info.c linked shared (rpath, through
#     pkg-config), with the static archive, and fully static (-static), each gets a token;
#   - the musl C SDK: token_info.c linked fully static with musl-gcc (x86_64; zig cc for
#     aarch64, which Debian has no musl cross compiler for) gets a token;
#   - the OCI image: its layers unpacked into an empty root run `dbtoken token` as UID 65532;
# and SHA256SUMS verifies, the SBOM names the version, every artifact name carries it; then
# tests/dist/injector.sh: dbtoken-injector's binaries serve TLS, its image runs as UID 65532.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "release: needs root (chroot to run the image as UID 65532; CI runs as root)" >&2; exit 1; }
bash scripts/dist.sh
# shellcheck source=scripts/dist/common.sh
source scripts/dist/common.sh
read -ra arches <<<"$(dist_arches)"
cargo build --quiet --release -p dbtoken-mock
work=$(mktemp -d)
# shellcheck source=tests/mock-env.sh
source tests/mock-env.sh
start_mock "$work"
trap 'stop_mock; rm -rf "$work"' EXIT
passed=0
pass() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
# How to run an ARCH program here: natively, or under qemu (with the aarch64 glibc sysroot
# for dynamically linked programs).
runner() {
    if [ "$1" = "$(uname -m)" ]; then return; fi
    command -v "qemu-$1-static" >/dev/null || fail "qemu-$1-static missing (apt-get install qemu-user-static)"
    echo "qemu-$1-static" -L "/usr/$1-linux-gnu"
}
# The C program prints "dbtoken VERSION: Bearer token of N bytes, expires ..."; never the token.
check_token_info() {
    local what=$1 out
    shift
    out=$("$@") || fail "$what: exit $?"
    case "$out" in
        "dbtoken $VERSION: Bearer token of "*" bytes, expires 20"*) pass "$what: $out" ;;
        *) fail "$what: unexpected output: $out" ;;
    esac
}

user="$work/user"
mkdir -p "$user"
cp examples/c/token_info.c "$user/"

for arch in "${arches[@]}"; do
    read -ra run <<<"$(runner "$arch")"

    # The static CLI.
    bin="$user/dbtoken-$VERSION-$arch-linux-musl"
    cp "$DIST/dbtoken-$VERSION-$arch-linux-musl" "$bin"
    bytes=$(stat -c %s "$bin")
    [ "$bytes" -le 2000000 ] || fail "$bin: $bytes bytes, over 2,000,000"
    file -b "$bin" | grep -q 'statically linked\|static-pie linked' || fail "$bin is not static: $(file -b "$bin")"
    version=$(env -i "${run[@]}" "$bin" --version)
    [ "$version" = "dbtoken $VERSION" ] || fail "$arch --version: '$version'"
    token=$(env -i HOME="$work" DATABRICKS_HOST="$DBTOKEN_MOCK_URL" SSL_CERT_FILE="$DBTOKEN_MOCK_CA" \
        DATABRICKS_OIDC_TOKEN_FILEPATH="$DBTOKEN_MOCK_JWT" "${run[@]}" "$bin" token)
    mock_accepts "$token" || fail "$arch static CLI: no token the mock accepts"
    pass "$arch static CLI ($bytes bytes, ${run[0]:-native}): '$version', a token of ${#token} bytes the mock accepts"

    # The glibc C SDK.
    tar -C "$user" -xzf "$DIST/libdbtoken-$VERSION-$arch-linux-gnu.tar.gz"
    sdk="$user/libdbtoken-$VERSION-$arch-linux-gnu"
    cc="$(cross_prefix "$arch")gcc"
    soname=$(readelf -d "$sdk/lib/libdbtoken.so.$SO_MAJOR" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    [ "$soname" = "libdbtoken.so.$SO_MAJOR" ] || fail "$arch SONAME '$soname'"
    [ "$(readlink "$sdk/lib/libdbtoken.so")" = "libdbtoken.so.$SO_MAJOR" ] || fail "$arch libdbtoken.so link"
    if readelf -S "$sdk/lib/libdbtoken.a" | grep -q '\.debug_'; then fail "$arch libdbtoken.a has debug info"; fi
    pass "$arch SDK: SONAME $soname, libdbtoken.a $(stat -c %s "$sdk/lib/libdbtoken.a") bytes without debug info"
    export PKG_CONFIG_PATH="$sdk/lib/pkgconfig"
    [ "$(pkg-config --modversion dbtoken)" = "$VERSION" ] || fail "dbtoken.pc version"
    # Shared, rpath, through pkg-config.
    # shellcheck disable=SC2046
    "$cc" -o "$user/shared-$arch" "$user/token_info.c" $(pkg-config --cflags --libs dbtoken) -Wl,-rpath,"$sdk/lib"
    readelf -d "$user/shared-$arch" | grep -q "NEEDED.*\[libdbtoken.so.$SO_MAJOR\]" || fail "$arch shared: no NEEDED libdbtoken.so.$SO_MAJOR"
    check_token_info "$arch C shared (rpath)" "${run[@]}" "$user/shared-$arch"
    # Static libdbtoken, shared libc (dbtoken-static.pc names the archive).
    # shellcheck disable=SC2046
    "$cc" -o "$user/staticlib-$arch" "$user/token_info.c" $(pkg-config --static --cflags --libs dbtoken-static)
    if readelf -d "$user/staticlib-$arch" | grep -q 'NEEDED.*libdbtoken'; then fail "$arch static archive: still needs libdbtoken.so"; fi
    check_token_info "$arch C static libdbtoken" "${run[@]}" "$user/staticlib-$arch"
    # Fully static: no -lgcc_s on the static line.
    # shellcheck disable=SC2046
    "$cc" -static -o "$user/static-$arch" "$user/token_info.c" $(pkg-config --static --cflags --libs dbtoken) 2>"$user/ld.err" ||
        fail "$arch cc -static: $(cat "$user/ld.err")"
    file -b "$user/static-$arch" | grep -q 'statically linked' || fail "$arch -static: $(file -b "$user/static-$arch")"
    check_token_info "$arch C fully static (glibc)" "${run[@]}" "$user/static-$arch"

    # The musl C SDK.
    tar -C "$user" -xzf "$DIST/libdbtoken-$VERSION-$arch-linux-musl.tar.gz"
    msdk="$user/libdbtoken-$VERSION-$arch-linux-musl"
    if readelf -S "$msdk/lib/libdbtoken.a" | grep -q '\.debug_'; then fail "$arch musl libdbtoken.a has debug info"; fi
    export PKG_CONFIG_PATH="$msdk/lib/pkgconfig"
    if [ "$arch" = "$(uname -m)" ]; then
        # shellcheck disable=SC2046
        musl-gcc -static -o "$user/musl-$arch" "$user/token_info.c" $(pkg-config --static --cflags --libs dbtoken)
        check_token_info "$arch C fully static (musl)" "$user/musl-$arch"
    else
        # Debian has no musl cross compiler: zig cc (scripts/dist/common.sh) links it.
        # shellcheck disable=SC2046
        zig_cc -target "$arch-linux-musl" -static -o "$user/musl-$arch" "$user/token_info.c" \
            $(pkg-config --static --cflags --libs dbtoken)
        check_token_info "$arch C fully static (musl, zig cc)" "${run[@]}" "$user/musl-$arch"
    fi
    unset PKG_CONFIG_PATH
done

# The OCI image: index -> one manifest per platform -> layers, unpacked into an empty root.
# shellcheck source=tests/dist/oci.sh
source tests/dist/oci.sh
oci_unpack dbtoken "$user/image" || fail "image: see above"
for arch in "${arches[@]}"; do
    root="$work/root-$arch"
    oci_rootfs "$user/image" "$arch" "$root" || fail "image $arch: see above"
    [ "$OCI_FILES" = "./dbtoken ./etc/ssl/certs/ca-certificates.crt " ] || fail "image $arch holds: $OCI_FILES"
    cmp -s "$root/dbtoken" "$DIST/dbtoken-$VERSION-$arch-linux-musl" || fail "image $arch: /dbtoken is not the dist binary"
    # What a pod mounts: the projected token (readable by the pod's user) and a CA for the mock
    # (added to the image's SSL_CERT_FILE bundle and the built-in roots).
    install -m 0644 "$DBTOKEN_MOCK_JWT" "$root/token"
    install -m 0644 "$DBTOKEN_MOCK_CA" "$root/mock-ca.pem"
    install -m 0600 "$DBTOKEN_MOCK_JWT" "$root/root-only-token"
    # in_image TOKEN_FILE ARGS...: the image's environment, the mock's host, the pod's user.
    in_image() {
        local tok=$1
        shift
        # shellcheck disable=SC2086 # OCI_ENV is the image's "K=V ..." list
        env -i $OCI_ENV HOME=/ DATABRICKS_HOST="$DBTOKEN_MOCK_URL" DATABRICKS_CA_BUNDLE=/mock-ca.pem \
            DATABRICKS_OIDC_TOKEN_FILEPATH="$tok" "${OCI_EXEC[@]}" "$@"
    }
    token=$(in_image /token token) || fail "image $arch: dbtoken token failed"
    mock_accepts "$token" || fail "image $arch: no token the mock accepts"
    # Proof of the UID: a root-only token file cannot be read.
    why=$(oci_denied 4 in_image /root-only-token token) || fail "image $arch: a root-only file was readable: $why"
    pass "image linux/$(go_arch "$arch"): layers hold only /dbtoken and the CA bundle; as UID ${OCI_USER%%:*} it gets a token the mock accepts and cannot read a root-only file"
done

# Checksums, SBOM, versions.
(cd "$DIST" && sha256sum --quiet -c SHA256SUMS) || fail "SHA256SUMS does not verify"
for arch in "${arches[@]}"; do
    for f in "dbtoken-$VERSION-$arch-linux-musl" "libdbtoken-$VERSION-$arch-linux-gnu.tar.gz" "libdbtoken-$VERSION-$arch-linux-musl.tar.gz"; do
        grep -q "  $f\$" "$DIST/SHA256SUMS" || fail "SHA256SUMS misses $f"
    done
done
grep -q "  dbtoken-$VERSION-oci.tar\$" "$DIST/SHA256SUMS" || fail "SHA256SUMS misses the image"
pass "SHA256SUMS verifies $(wc -l <"$DIST/SHA256SUMS") artifacts"
python3 - "$DIST/dbtoken-$VERSION.cdx.json" "$VERSION" <<'PY' || fail "SBOM"
import json, sys
bom = json.load(open(sys.argv[1]))
assert bom["bomFormat"] == "CycloneDX", bom.get("bomFormat")
top = bom["metadata"]["component"]
assert (top["name"], top["version"]) == ("dbtoken", sys.argv[2]), top
names = {c["name"] for c in bom["components"]}
for dep in ("rustls", "ureq", "ring", "webpki-root-certs"):
    assert dep in names, dep
assert "dbtoken-mock" not in names and "serde_json" not in names, "dev-dependencies listed"
print(f"ok: SBOM: CycloneDX {bom['specVersion']}, dbtoken {top['version']}, {len(names)} components")
PY
passed=$((passed + 1))
# The Kubernetes injector's binaries and image (its own test, on the artifacts built above).
SKIP_DIST=1 bash tests/dist/injector.sh || fail "the injector's artifacts"
passed=$((passed + 1))
echo "release: $passed passed, 0 failed"
