# Sourced by tests/all.sh, tests/bindings.sh and bench scripts: start the dbtoken-mock binary
# and export the environment a pod would have, pointed at it.
#   start_mock WORKDIR     (mock binary: $DBTOKEN_MOCK_BIN, default target/release/dbtoken-mock)
# Exports DATABRICKS_HOST, SSL_CERT_FILE, DATABRICKS_OIDC_TOKEN_FILEPATH, DATABRICKS_CONFIG_FILE
# (an empty file, so no ~/.databrickscfg is read; HOME is left alone for cargo, go and mvn),
# DBTOKEN_MOCK_URL, DBTOKEN_MOCK_CA, DBTOKEN_MOCK_JWT, DBTOKEN_MOCK_M2M_CLIENT_ID,
# DBTOKEN_MOCK_SP_CLIENT_ID, DBTOKEN_MOCK_ACCOUNT_ID. stop_mock ends it (also on EXIT).
# mock_accepts TOKEN: the mock's API takes TOKEN as a bearer (the proof that a token some
# artifact printed is a real one). mock_jvm_trust DIR: a JVM trust store with the mock's CA.
start_mock() {
    local work=$1 bin=${DBTOKEN_MOCK_BIN:-target/release/dbtoken-mock}
    [ -x "$bin" ] || { echo "start_mock: $bin is not built" >&2; return 1; }
    : >"$work/databrickscfg"
    rm -f "$work/mock.in"
    mkfifo "$work/mock.in"
    "$bin" --ca-out "$work/ca.pem" --jwt-out "$work/jwt" --exit-on-stdin-eof \
        <"$work/mock.in" >"$work/mock.json" 2>"$work/mock.err" &
    DBTOKEN_MOCK_PID=$!
    exec 7>"$work/mock.in" # the mock lives while this descriptor is open
    trap stop_mock EXIT
    local _
    for _ in $(seq 200); do [ -s "$work/mock.json" ] && break; sleep 0.05; done
    field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" "$work/mock.json"; }
    DBTOKEN_MOCK_URL=$(field url)
    [ -n "$DBTOKEN_MOCK_URL" ] || { echo "start_mock: mock did not start: $(cat "$work/mock.err")" >&2; return 1; }
    export DBTOKEN_MOCK_URL DBTOKEN_MOCK_CA="$work/ca.pem" DBTOKEN_MOCK_JWT="$work/jwt"
    export DBTOKEN_MOCK_M2M_CLIENT_ID=$(field m2m_client_id) DBTOKEN_MOCK_SP_CLIENT_ID=$(field sp_client_id)
    export DBTOKEN_MOCK_ACCOUNT_ID=$(field account_id)
    export DATABRICKS_HOST=$DBTOKEN_MOCK_URL SSL_CERT_FILE=$work/ca.pem
    export DATABRICKS_OIDC_TOKEN_FILEPATH=$work/jwt DATABRICKS_CONFIG_FILE=$work/databrickscfg
    unset DATABRICKS_TOKEN DATABRICKS_CLIENT_SECRET DATABRICKS_AUTH_TYPE DATABRICKS_CLIENT_ID \
        DATABRICKS_CONFIG_PROFILE AZURE_FEDERATED_TOKEN_FILE AZURE_CLIENT_ID AZURE_TENANT_ID
}

# Build the library and the mock (release), start the mock in WORKDIR, and clean both up on exit.
build_and_start_mock() {
    local work=$1
    cargo build --release --quiet --lib -p dbtoken
    cargo build --release --quiet -p dbtoken-mock
    start_mock "$work"
    trap 'stop_mock; rm -rf "'"$work"'"' EXIT
}

mock_accepts() {
    local code
    [ -n "$1" ] || return 1
    code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DBTOKEN_MOCK_CA" \
        -H "Authorization: Bearer $1" "$DBTOKEN_MOCK_URL/api/2.0/preview/scim/v2/Me")
    [ "$code" = 200 ]
}

# mock_jvm_trust DIR: DIR/truststore.p12 holding the mock's CA (a JVM's HTTP clients trust
# only their trust store); prints the JVM options that select it.
mock_jvm_trust() {
    keytool -importcert -noprompt -alias dbtoken-mock-ca -file "$DBTOKEN_MOCK_CA" -storetype PKCS12 \
        -keystore "$1/truststore.p12" -storepass changeit >/dev/null 2>&1 || {
        echo "mock_jvm_trust: keytool could not import $DBTOKEN_MOCK_CA into $1/truststore.p12" >&2
        return 1
    }
    echo "-Djavax.net.ssl.trustStore=$1/truststore.p12 -Djavax.net.ssl.trustStorePassword=changeit"
}

stop_mock() {
    if [ -n "${DBTOKEN_MOCK_PID:-}" ]; then
        exec 7>&- 2>/dev/null || true
        wait "$DBTOKEN_MOCK_PID" 2>/dev/null || true
        DBTOKEN_MOCK_PID=
    fi
}
