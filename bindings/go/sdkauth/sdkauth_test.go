package sdkauth_test

// The real databricks-sdk-go against the loopback mock. Run by tests/bindings.sh (go test
// -tags dbtoken_dev), which starts the mock and exports DATABRICKS_HOST, SSL_CERT_FILE and
// DATABRICKS_OIDC_TOKEN_FILEPATH.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/databricks/databricks-sdk-go"
	dbtoken "github.com/dbtoken/dbtoken/bindings/go"
	"github.com/dbtoken/dbtoken/bindings/go/sdkauth"
)

func mockHost(t *testing.T) string {
	t.Helper()
	for _, v := range []string{"DATABRICKS_HOST", "SSL_CERT_FILE", "DATABRICKS_OIDC_TOKEN_FILEPATH"} {
		if os.Getenv(v) == "" {
			t.Fatalf("%s is not set: run tests/bindings.sh go", v)
		}
	}
	return os.Getenv("DATABRICKS_HOST")
}

// mockGet reads a JSON document from the mock, as the host named in hostHeader.
func mockGet(t *testing.T, hostHeader, path string, into any) {
	t.Helper()
	req, _ := http.NewRequest("GET", mockHost(t)+path, nil)
	if hostHeader != "" {
		req.Host = hostHeader
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatal(err)
	}
}

func exchanges(t *testing.T, path string) int {
	var st struct{ Requests map[string]int }
	mockGet(t, "", "/_mock/stats", &st)
	return st.Requests[path]
}

func TestWorkspaceClientCurrentUserMe(t *testing.T) {
	host := mockHost(t)
	c, err := dbtoken.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := exchanges(t, "/oidc/v1/token")
	w, err := databricks.NewWorkspaceClient(&databricks.Config{Host: host, Credentials: sdkauth.Credentials(c)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ {
		me, err := w.CurrentUser.Me(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if me.UserName != "dbtoken-mock-sp" {
			t.Fatalf("userName %q, want dbtoken-mock-sp", me.UserName)
		}
	}
	if w.Config.AuthType != sdkauth.Name {
		t.Fatalf("the SDK authenticated with %q, want %q", w.Config.AuthType, sdkauth.Name)
	}
	if n := exchanges(t, "/oidc/v1/token") - before; n != 1 {
		t.Fatalf("%d token exchanges for 3 calls, want 1", n)
	}
}

// The account client: its token comes from an account-level exchange at the mock's accounts
// host; its API calls go to a local server standing for the account API, which checks that
// they carry that token.
func TestAccountClientCarriesTheToken(t *testing.T) {
	host := mockHost(t)
	u, _ := url.Parse(host)
	accounts := "https://accounts.localhost:" + u.Port()
	var wellKnown struct {
		AccountID string `json:"account_id"`
	}
	mockGet(t, "accounts.localhost:"+u.Port(), "/.well-known/databricks-config", &wellKnown)
	if wellKnown.AccountID == "" {
		t.Fatal("the mock's accounts host named no account id")
	}
	c, err := dbtoken.New(dbtoken.Options{"host": accounts, "account_id": wellKnown.AccountID})
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
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/workspaces") {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`[{"workspace_id": 42, "workspace_name": "mock"}]`))
			return
		}
		http.NotFound(w, r)
	}))
	defer api.Close()
	roots := x509.NewCertPool()
	roots.AddCert(api.Certificate())
	toAPI := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "example.com"},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, api.Listener.Addr().String())
		},
	}
	a, err := databricks.NewAccountClient(&databricks.Config{
		Host: accounts, AccountID: wellKnown.AccountID,
		Credentials: sdkauth.Credentials(c), HTTPTransport: toAPI,
	})
	if err != nil {
		t.Fatal(err)
	}
	ws, err := a.Workspaces.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 || ws[0].WorkspaceId != 42 {
		t.Fatalf("workspaces %+v", ws)
	}
	mu.Lock()
	defer mu.Unlock()
	var listed bool
	for _, s := range seen {
		path, auth, _ := strings.Cut(s, " ")
		if strings.HasSuffix(path, "/workspaces") {
			listed = true
			if auth != "Bearer "+want.AccessToken {
				t.Fatalf("the account API request to %s did not carry the dbtoken token", path)
			}
		}
	}
	if !listed {
		t.Fatalf("no workspaces request reached the account API (saw %d requests)", len(seen))
	}
}

func TestNilClientIsAClearError(t *testing.T) {
	w, err := databricks.NewWorkspaceClient(&databricks.Config{Host: mockHost(t), Credentials: sdkauth.Credentials(nil)})
	if err == nil {
		_, err = w.CurrentUser.Me(context.Background()) // the SDK configures credentials lazily
	}
	if err == nil || !strings.Contains(err.Error(), "*dbtoken.Client is nil") {
		t.Fatalf("got %v", err)
	}
}
