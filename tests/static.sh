#!/usr/bin/env bash
# The static binary in an empty root, as in a FROM scratch image: a directory holding only the
# binary, a CA file and the projected token, entered with chroot (as root, or through a user
# namespace), gets a token from the loopback mock, and the token works on the mock's API.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/static-size.sh
bin=target/x86_64-unknown-linux-musl/dist/dbtoken
cargo build --quiet --release -p dbtoken-mock
work=$(mktemp -d)
# shellcheck source=tests/mock-env.sh
source tests/mock-env.sh
start_mock "$work"
trap 'stop_mock; rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root"
cp "$bin" "$root/dbtoken"
cp "$DBTOKEN_MOCK_CA" "$root/ca.pem"
cp "$DBTOKEN_MOCK_JWT" "$root/token"
chroot=$(command -v chroot)
if [ "$(id -u)" = 0 ]; then enter=("$chroot" "$root"); else enter=("$(command -v unshare)" -r "$chroot" "$root"); fi
echo "empty root: $(find "$root" -mindepth 1 | sed "s|$root||" | tr '\n' ' ')"
token=$(env -i DATABRICKS_HOST="$DBTOKEN_MOCK_URL" SSL_CERT_FILE=/ca.pem \
    DATABRICKS_OIDC_TOKEN_FILEPATH=/token HOME=/ "${enter[@]}" /dbtoken token)
[ -n "$token" ] || { echo "no token from the static binary"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DBTOKEN_MOCK_CA" \
    -H "Authorization: Bearer $token" "$DBTOKEN_MOCK_URL/api/2.0/preview/scim/v2/Me")
[ "$code" = 200 ] || { echo "the static binary's token was refused by the mock: HTTP $code"; exit 1; }
# And the subcommands that need no network in the empty root.
env -i "${enter[@]}" /dbtoken --version >/dev/null
echo "static: 2 passed, 0 failed"
