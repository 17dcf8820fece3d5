package dbtoken

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// mockControl posts a JSON body to the mock's control API (path under /_mock/).
func mockControl(t *testing.T, path string, body any) {
	t.Helper()
	data, _ := json.Marshal(body)
	resp, err := http.Post(os.Getenv("DATABRICKS_HOST")+"/_mock/"+path, "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("mock %s: HTTP %d", path, resp.StatusCode)
	}
}

// mockExchanges is how many token exchanges the mock has answered.
func mockExchanges(t *testing.T) int {
	t.Helper()
	resp, err := http.Get(os.Getenv("DATABRICKS_HOST") + "/_mock/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct{ Requests map[string]int }
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Requests["/oidc/v1/token"]
}

func TestCachedTokenComesFromGoMemory(t *testing.T) {
	requireMock(t)
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	first, err := c.Token()
	if err != nil {
		t.Fatal(err)
	}
	before := cCalls.Load()
	for i := 0; i < 1000; i++ {
		tok, err := c.Token()
		if err != nil || tok != first {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if n := cCalls.Load() - before; n != 0 {
		t.Fatalf("%d calls into C for 1000 cached tokens, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = c.Token() }); n != 0 {
		t.Fatalf("a cached Token allocates %v times, want 0", n)
	}
	c.Close()
	if _, err := c.Token(); err == nil {
		t.Fatal("Token after Close served the kept token")
	}
}

// At the refresh time, 64 goroutines calling Token cause exactly one exchange, and all of
// them get a valid token (the old one, or the new one).
func TestGoroutinesAtRefreshTimeCauseOneExchange(t *testing.T) {
	requireMock(t)
	// A 6 s token: short-lived, so the library refreshes it at half its life, 3 s after issue.
	mockControl(t, "config", map[string]any{"token_ttl_secs": 6})
	defer mockControl(t, "reset", map[string]any{})
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	first, err := c.Token()
	if err != nil {
		t.Fatal(err)
	}
	exchanges := mockExchanges(t)
	callsBefore := cCalls.Load()

	var wg sync.WaitGroup
	var served, renewed, failed atomic.Int64
	stop := time.Now().Add(5 * time.Second)
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				tok, err := c.Token()
				switch {
				case err != nil:
					failed.Add(1)
				case tok.AccessToken != first.AccessToken:
					renewed.Add(1)
				}
				served.Add(1)
				time.Sleep(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d calls failed", failed.Load(), served.Load())
	}
	if renewed.Load() == 0 {
		t.Fatal("no goroutine got the new token after the refresh time")
	}
	if n := mockExchanges(t) - exchanges; n != 1 {
		t.Fatalf("%d exchanges at the refresh time, want exactly 1", n)
	}
	if s := c.Stats(); s.Refreshes != 2 {
		t.Fatalf("library refreshes = %d, want 2", s.Refreshes)
	}
	// Most calls were served from Go memory, not through C.
	if calls := cCalls.Load() - callsBefore; calls*2 > uint64(served.Load()) {
		t.Fatalf("%d of %d calls went into C", calls, served.Load())
	}
	t.Logf("%d calls, %d through C, %d got the new token", served.Load(), cCalls.Load()-callsBefore, renewed.Load())
}

func TestPersonalAccessTokenIsKeptForever(t *testing.T) {
	requireMock(t)
	c, err := New(Options{"auth_type": "pat", "token": "dapi-go-test-not-a-real-token"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Token(); err != nil {
		t.Fatal(err)
	}
	before := cCalls.Load()
	tok, err := c.Token()
	if err != nil || !tok.Expiry.IsZero() || tok.AccessToken != "dapi-go-test-not-a-real-token" {
		t.Fatalf("%v %v", tok, err)
	}
	if cCalls.Load() != before {
		t.Fatal("a personal access token went through C again")
	}
}
