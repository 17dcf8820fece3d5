package sqlauth_test

// The real databricks-sql-go with the dbtoken authenticator. Run by tests/bindings.sh (go test
// -tags dbtoken_dev), which starts the mock and exports DATABRICKS_HOST, SSL_CERT_FILE and
// DATABRICKS_OIDC_TOKEN_FILEPATH. The mock speaks no Thrift, so a local server stands for the
// warehouse: it records the Authorization header of the connector's first request.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	dbtoken "github.com/dbtoken/dbtoken/bindings/go"
	"github.com/dbtoken/dbtoken/bindings/go/sqlauth"
)

func TestConnectorRequestCarriesTheDbtokenBearer(t *testing.T) {
	for _, v := range []string{"DATABRICKS_HOST", "SSL_CERT_FILE", "DATABRICKS_OIDC_TOKEN_FILEPATH"} {
		if os.Getenv(v) == "" {
			t.Fatalf("%s is not set: run tests/bindings.sh go", v)
		}
	}
	c, err := dbtoken.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want, err := c.Token()
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var seen []string
	warehouse := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		http.Error(w, "not a warehouse", http.StatusForbidden)
	}))
	defer warehouse.Close()
	roots := x509.NewCertPool()
	roots.AddCert(warehouse.Certificate())
	toWarehouse := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "example.com"},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, warehouse.Listener.Addr().String())
		},
	}
	_, port, _ := net.SplitHostPort(warehouse.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	connector, err := dbsql.NewConnector(
		dbsql.WithServerHostname("example.com"),
		dbsql.WithPort(p),
		dbsql.WithHTTPPath("/sql/1.0/warehouses/dbtoken-test"),
		dbsql.WithAuthenticator(sqlauth.Authenticator(c)),
		dbsql.WithTransport(toWarehouse),
		dbsql.WithRetries(0, time.Millisecond, time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err == nil {
		t.Fatal("the stand-in warehouse answered 403, yet Ping succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("no request reached the warehouse")
	}
	for _, s := range seen {
		path, auth, _ := strings.Cut(s, " ")
		if path != "/sql/1.0/warehouses/dbtoken-test" || auth != "Bearer "+want.AccessToken {
			t.Fatalf("request to %s did not carry the dbtoken bearer token", path)
		}
	}
}

func TestNilClientIsAClearError(t *testing.T) {
	req, _ := http.NewRequest("GET", "https://example.invalid", nil)
	err := sqlauth.Authenticator(nil).Authenticate(req)
	if err == nil || !strings.Contains(err.Error(), "*dbtoken.Client is nil") {
		t.Fatalf("got %v", err)
	}
}
