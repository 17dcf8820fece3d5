#!/usr/bin/env bash
# The Go module as a user outside this repository gets it: scripts/dist.sh go packages it, then
# a program in a temporary directory, with NO cargo or rustc on PATH and the module fetched
# from a file:// GOPROXY (a fresh module cache), is built three ways and each binary gets a
# token from the loopback mock that the mock's API accepts:
#   1. go build                  (glibc archive)
#   2. go mod vendor, then go build -mod=vendor with the proxy and module cache gone
#   3. CC=musl-gcc go build -tags dbtoken_musl -ldflags '-linkmode external -extldflags -static'
#      -> ldd: not a dynamic executable; run in an empty root (chroot, as tests/static.sh)
#   4. a databricks-sdk-go program (SDK_GO_VERSION, newer than the adapter's minimum) with
#      sdkauth from target/dist/go (a replace; SDK modules from the usual proxy and cache),
#      whose CurrentUser.Me succeeds at the mock
# Also prints the archive sizes and the size of each binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
command -v musl-gcc >/dev/null || { echo "dist go: musl-gcc is required (apt-get install musl-tools)" >&2; exit 1; }

bash scripts/dist.sh go
cargo build --quiet --release -p dbtoken-mock
repo=$PWD
version=v$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
module=github.com/dbtoken/dbtoken/bindings/go
SDK_GO_VERSION=v0.130.0

work=$(mktemp -d)
# shellcheck source=tests/mock-env.sh
source tests/mock-env.sh
start_mock "$work"
cleanup() {
    stop_mock
    chmod -R u+w "$work" 2>/dev/null || true # the module cache is read-only
    rm -rf "$work"
}
trap cleanup EXIT

# A PATH without Rust: every entry that holds cargo or rustc is dropped.
user_path=
IFS=: read -ra dirs <<<"$PATH"
for d in "${dirs[@]}"; do
    [ -n "$d" ] && [ ! -e "$d/cargo" ] && [ ! -e "$d/rustc" ] && user_path="$user_path${user_path:+:}$d"
done
if PATH=$user_path command -v cargo >/dev/null || PATH=$user_path command -v rustc >/dev/null; then
    echo "dist go: could not build a PATH without cargo and rustc" >&2
    exit 1
fi

app="$work/app"
mkdir -p "$app" "$work/gocache"
cat >"$app/main.go" <<'GO'
// A user's program: prints the access token (for the test to check at the mock), nothing else.
package main

import (
	"fmt"
	"os"

	dbtoken "github.com/dbtoken/dbtoken/bindings/go"
)

func main() {
	c, err := dbtoken.FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()
	tok, err := c.Token()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(tok.AccessToken)
}
GO
printf 'module example.com/app\n\ngo 1.21\n' >"$app/go.mod"

# The user's Go environment: the packaged module from the file proxy (no checksum database
# knows it), a module cache of its own so nothing earlier is reused.
as_user() {
    (cd "$app" && env PATH="$user_path" GOTOOLCHAIN=local GOFLAGS=-buildvcs=false \
        GOPROXY="file://$repo/target/dist/goproxy" GONOSUMDB=github.com/dbtoken/dbtoken \
        GOMODCACHE="$work/modcache" "$@")
}

# Runs a binary with the mock's environment and checks its token on the mock's API.
check_token() { # NAME COMMAND...
    local name=$1 token code
    shift
    token=$("$@") || { echo "dist go: $name: no token" >&2; exit 1; }
    code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DBTOKEN_MOCK_CA" \
        -H "Authorization: Bearer $token" "$DBTOKEN_MOCK_URL/api/2.0/preview/scim/v2/Me")
    [ "$code" = 200 ] || { echo "dist go: $name: the mock refused its token: HTTP $code" >&2; exit 1; }
    echo "dist go: $name: token accepted by the mock"
}

size() { stat -c %s "$1"; }

echo "== go get $module@$version from a file:// GOPROXY, no Rust on PATH"
as_user go get "$module@$version"
as_user go build -o "$work/app-glibc" .
echo "dist go: app-glibc: $(size "$work/app-glibc") bytes; $(ldd "$work/app-glibc" | awk '{print $1}' | tr '\n' ' ')"
check_token "go build" "$work/app-glibc"

echo "== go mod vendor, then go build -mod=vendor with no proxy and no module cache"
as_user go mod vendor
archive="$app/vendor/$module/lib/linux_amd64/libdbtoken.a"
[ -f "$archive" ] || { echo "dist go: go mod vendor dropped $archive" >&2; exit 1; }
(cd "$app" && env PATH="$user_path" GOTOOLCHAIN=local GOFLAGS=-mod=vendor GOPROXY=off \
    GOMODCACHE="$work/no-modcache" go build -o "$work/app-vendor" .)
check_token "go build -mod=vendor" "$work/app-vendor"

echo "== static: CC=musl-gcc go build -tags dbtoken_musl -ldflags '-linkmode external -extldflags -static'"
# The README's line; -v (only here) makes the linker print the host link command to check.
as_user env CC=musl-gcc go build -tags dbtoken_musl -ldflags '-v -linkmode external -extldflags -static' \
    -o "$work/app-static" . >"$work/build-static.log" 2>&1 ||
    { cat "$work/build-static.log" >&2; exit 1; }
host_link=$(grep 'host link:' "$work/build-static.log") ||
    { echo "dist go: no host link command in the static build's log" >&2; exit 1; }
case "$host_link" in
    *gcc_s*) echo "dist go: the static link names libgcc_s" >&2; exit 1 ;;
    *libunwind.a*) echo "dist go: host link: musl-gcc -static with the module's libunwind.a, no libgcc_s" ;;
    *) echo "dist go: the static link does not use the module's libunwind.a" >&2; exit 1 ;;
esac
ldd_out=$(ldd "$work/app-static" 2>&1 || true)
case "$ldd_out" in
    *"not a dynamic executable"*) echo "dist go: ldd: not a dynamic executable" ;;
    *) echo "dist go: the static binary is dynamic: $ldd_out" >&2; exit 1 ;;
esac
root="$work/root"
mkdir -p "$root"
cp "$work/app-static" "$root/app"
cp "$DBTOKEN_MOCK_CA" "$root/ca.pem"
cp "$DBTOKEN_MOCK_JWT" "$root/token"
chroot=$(command -v chroot)
if [ "$(id -u)" = 0 ]; then enter=("$chroot" "$root"); else enter=("$(command -v unshare)" -r "$chroot" "$root"); fi
echo "dist go: empty root: $(find "$root" -mindepth 1 | sed "s|$root||" | tr '\n' ' ')"
check_token "static binary in an empty root" env -i DATABRICKS_HOST="$DBTOKEN_MOCK_URL" SSL_CERT_FILE=/ca.pem \
    DATABRICKS_OIDC_TOKEN_FILEPATH=/token HOME=/ "${enter[@]}" /app

echo "== databricks-sdk-go $SDK_GO_VERSION with sdkauth (replace to target/dist/go)"
sdkapp="$work/sdkapp"
mkdir -p "$sdkapp"
cat >"$sdkapp/main.go" <<'GO'
// A user's SDK program: the workspace client authenticates through dbtoken.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/databricks/databricks-sdk-go"
	dbtoken "github.com/dbtoken/dbtoken/bindings/go"
	"github.com/dbtoken/dbtoken/bindings/go/sdkauth"
)

func main() {
	c, err := dbtoken.FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()
	w, err := databricks.NewWorkspaceClient(&databricks.Config{
		Host: os.Getenv("DATABRICKS_HOST"), Credentials: sdkauth.Credentials(c)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	me, err := w.CurrentUser.Me(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(me.UserName, w.Config.AuthType)
}
GO
cat >"$sdkapp/go.mod" <<MOD
module example.com/sdkapp

go 1.21

replace $module => $repo/target/dist/go

replace $module/sdkauth => $repo/target/dist/go/sdkauth
MOD
(cd "$sdkapp" && env PATH="$user_path" GOTOOLCHAIN=local GOFLAGS=-buildvcs=false \
    go get "$module/sdkauth@v0.0.0" "github.com/databricks/databricks-sdk-go@$SDK_GO_VERSION" >/dev/null 2>&1 &&
    env PATH="$user_path" GOTOOLCHAIN=local GOFLAGS=-buildvcs=false go build -o "$work/sdkapp-bin" .) ||
    { echo "dist go: the SDK program did not build" >&2; exit 1; }
got=$(cd "$sdkapp" && env PATH="$user_path" go list -m -f '{{.Version}}' github.com/databricks/databricks-sdk-go)
[ "$got" = "$SDK_GO_VERSION" ] || { echo "dist go: built with databricks-sdk-go $got, want $SDK_GO_VERSION" >&2; exit 1; }
out=$("$work/sdkapp-bin")
[ "$out" = "dbtoken-mock-sp dbtoken" ] || { echo "dist go: the SDK program printed '$out'" >&2; exit 1; }
echo "dist go: databricks-sdk-go $SDK_GO_VERSION: CurrentUser.Me as dbtoken-mock-sp, auth type dbtoken"

echo "== sizes"
for f in target/dist/go/lib/*/*.a; do echo "  $f: $(size "$f") bytes"; done
as_user go build -ldflags '-s -w' -o "$work/app-glibc-s" .
as_user env CC=musl-gcc go build -tags dbtoken_musl -ldflags '-s -w -linkmode external -extldflags -static' \
    -o "$work/app-static-s" .
echo "  minimal program, glibc: $(size "$work/app-glibc") bytes ($(size "$work/app-glibc-s") with -s -w)"
echo "  minimal program, static musl: $(size "$work/app-static") bytes ($(size "$work/app-static-s") with -s -w)"
echo "dist go: 4 passed, 0 failed"
