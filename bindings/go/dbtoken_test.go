package dbtoken

// Run by tests/bindings.sh (go test -tags dbtoken_dev), which starts the loopback mock and
// exports DATABRICKS_HOST, SSL_CERT_FILE, DATABRICKS_OIDC_TOKEN_FILEPATH and
// DBTOKEN_MOCK_M2M_CLIENT_ID.

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func requireMock(t testing.TB) {
	t.Helper()
	for _, v := range []string{"DATABRICKS_HOST", "SSL_CERT_FILE", "DATABRICKS_OIDC_TOKEN_FILEPATH", "DBTOKEN_MOCK_M2M_CLIENT_ID"} {
		if os.Getenv(v) == "" {
			t.Fatalf("%s is not set: run tests/bindings.sh go", v)
		}
	}
}

func TestVersion(t *testing.T) {
	if !strings.Contains(Version(), ".") {
		t.Fatalf("version %q", Version())
	}
	if StatusRejected.String() != "DBTOKEN_STATUS_REJECTED" || StatusConfig != 3 {
		t.Fatal("status numbering or names changed")
	}
}

func TestFromEnvToken(t *testing.T) {
	requireMock(t)
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tok, err := c.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.Type != "Bearer" {
		t.Fatalf("bad token: %v", tok)
	}
	if left := time.Until(tok.Expiry); left < 50*time.Minute || left > 61*time.Minute {
		t.Fatalf("expiry in %v", left)
	}
	if s := fmt.Sprintf("%v %+v %#v %s", tok, tok, tok, tok); strings.Contains(s, tok.AccessToken) {
		t.Fatal("formatting a Token shows the access token")
	}
	again, err := c.Token()
	if err != nil || again.AccessToken != tok.AccessToken {
		t.Fatalf("second call: %v", err)
	}
	if s := c.Stats(); s.Refreshes != 1 {
		t.Fatalf("refreshes = %d, want 1 (second call must be cached)", s.Refreshes)
	}
}

func TestNewWithOptions(t *testing.T) {
	requireMock(t)
	c, err := New(Options{"auth_type": "file-oidc", "ca_bundle": os.Getenv("SSL_CERT_FILE"), "scopes": "all-apis"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Token(); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownKeyIsAConfigError(t *testing.T) {
	_, err := New(Options{"hots": "https://x"})
	var e *Error
	if !errors.As(err, &e) || e.Status != StatusConfig || !strings.Contains(e.Message, "'hots'") {
		t.Fatalf("got %v", err)
	}
	if !errors.Is(err, &Error{Status: StatusConfig}) {
		t.Fatal("errors.Is by status does not match")
	}
}

func TestServerRejectionCarriesServerError(t *testing.T) {
	requireMock(t)
	secret := "wrong-secret-for-the-go-test"
	c, err := New(Options{"auth_type": "oauth-m2m", "client_id": os.Getenv("DBTOKEN_MOCK_M2M_CLIENT_ID"), "client_secret": secret})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Token()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v", err)
	}
	if e.Status != StatusRejected || e.HTTPStatus != 401 || e.ServerError != "invalid_client" ||
		!strings.Contains(e.ServerDescription, "Client authentication failed") {
		t.Fatalf("got %+v", e)
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatal("the secret leaked into the error")
	}
}

func TestFederatedTokenError(t *testing.T) {
	requireMock(t)
	c, err := New(Options{"oidc_token_filepath": "/nonexistent/dbtoken/go-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Token()
	if !errors.Is(err, &Error{Status: StatusFederatedToken}) || !strings.Contains(err.Error(), "/nonexistent/dbtoken/go-test") {
		t.Fatalf("got %v", err)
	}
}

func Test64GoroutinesShareOneClient(t *testing.T) {
	requireMock(t)
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	start := make(chan struct{})
	tokens := make([]string, 64)
	errs := make([]error, 64)
	for i := range tokens {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			tok, err := c.Token()
			tokens[i], errs[i] = tok.AccessToken, err
		}(i)
	}
	close(start)
	wg.Wait()
	for i := range tokens {
		if errs[i] != nil || tokens[i] != tokens[0] {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
	}
	if s := c.Stats(); s.Refreshes != 1 {
		t.Fatalf("refreshes = %d, want 1 exchange for 64 goroutines", s.Refreshes)
	}
}

func TestCloseIsIdempotentAndSafe(t *testing.T) {
	requireMock(t)
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = c.Token() // may succeed or report a closed client, never crash
		}()
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Token(); !errors.Is(err, &Error{Status: StatusInvalidArgument}) {
		t.Fatalf("Token after Close: %v", err)
	}
}

// warmClient returns an environment client whose cache already holds a token, with the
// benchmark timer reset and allocations reported.
func warmClient(b *testing.B) *Client {
	b.Helper()
	requireMock(b)
	c, err := FromEnv()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Token(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	return c
}

var sinkToken Token

// BenchmarkTokenCached: a cached Token(), served from Go memory.
func BenchmarkTokenCached(b *testing.B) {
	c := warmClient(b)
	defer c.Close()
	b.RunParallel(func(pb *testing.PB) {
		var t Token
		for pb.Next() {
			tok, err := c.Token()
			if err != nil {
				b.Error(err)
				return
			}
			t = tok
		}
		sinkToken = t
	})
}

var peerPointer atomic.Pointer[Token]

// BenchmarkPeerAtomicPointerLoad: the peer, loading and copying a Token behind an
// atomic.Pointer, the least a Go-memory cache can cost.
func BenchmarkPeerAtomicPointerLoad(b *testing.B) {
	peerPointer.Store(&Token{AccessToken: "x", Type: "Bearer", Expiry: time.Now()})
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var t Token
		for pb.Next() {
			if p := peerPointer.Load(); p != nil {
				t = *p
			}
		}
		sinkToken = t
	})
}

// peerCall is the peer as a function call shaped like Token (not inlined, (Token, error)).
//
//go:noinline
func peerCall() (Token, error) {
	if p := peerPointer.Load(); p != nil {
		return *p, nil
	}
	return Token{}, errors.New("empty")
}

// BenchmarkPeerAtomicPointerLoadCall: the peer behind a call with Token's signature, the
// cost of returning a Token and an error from a function that is not inlined.
func BenchmarkPeerAtomicPointerLoadCall(b *testing.B) {
	peerPointer.Store(&Token{AccessToken: "x", Type: "Bearer", Expiry: time.Now()})
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var t Token
		for pb.Next() {
			tok, err := peerCall()
			if err != nil {
				b.Error(err)
				return
			}
			t = tok
		}
		sinkToken = t
	})
}

// BenchmarkTokenThroughC: the call into the library (its cache hit), what Token cost before
// the Go-memory fast path and still costs after the refresh time.
func BenchmarkTokenThroughC(b *testing.B) {
	c := warmClient(b)
	defer c.Close()
	b.RunParallel(func(pb *testing.PB) {
		var t Token
		for pb.Next() {
			tok, err := c.tokenFromC()
			if err != nil {
				b.Error(err)
				return
			}
			t = tok
		}
		sinkToken = t
	})
}
