// Package dbtoken gets Databricks OAuth tokens from a federated identity token (a Kubernetes
// projected service-account JWT, AKS workload identity, a CI OIDC token) through the dbtoken
// C library, linked statically from the archive for the platform shipped inside this module
// (lib/GOOS_GOARCH/, or lib/GOOS_GOARCH_musl/ with -tags dbtoken_musl for static binaries).
//
//	client, err := dbtoken.FromEnv()
//	if err != nil { ... }
//	defer client.Close()
//	tok, err := client.Token()
//	req.Header.Set("Authorization", tok.Type+" "+tok.AccessToken)
//
// A Client is safe for concurrent use; concurrent callers on an empty cache cause one token
// request, and cached tokens are returned without a network call until they near expiry.
// A cached token is served from Go memory (no cgo call) until the library's refresh-ahead
// time; only then does Token ask the library again, which keeps its refresh rules.
package dbtoken

// dbtoken.h is a copy of include/dbtoken.h (tests/header.rs fails when they differ); the
// archive is linked by link.go (shipped archives) or link_dev.go (-tags dbtoken_dev).

/*
#include <stdlib.h>
#include "dbtoken.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Version is the version of the linked dbtoken library.
func Version() string { return C.GoString(C.dbtoken_version()) }

// Status is the dbtoken_status of a failed call. Values are stable.
type Status int

// The statuses of the C ABI; 3 to 6 equal the exit codes of the dbtoken command.
const (
	StatusOK              Status = C.DBTOKEN_STATUS_OK
	StatusInvalidArgument Status = C.DBTOKEN_STATUS_INVALID_ARGUMENT
	StatusBufferTooSmall  Status = C.DBTOKEN_STATUS_BUFFER_TOO_SMALL
	StatusConfig          Status = C.DBTOKEN_STATUS_CONFIG
	StatusFederatedToken  Status = C.DBTOKEN_STATUS_FEDERATED_TOKEN
	StatusRejected        Status = C.DBTOKEN_STATUS_REJECTED
	StatusTransient       Status = C.DBTOKEN_STATUS_TRANSIENT
	StatusIO              Status = C.DBTOKEN_STATUS_IO
	StatusPanic           Status = C.DBTOKEN_STATUS_PANIC
)

func (s Status) String() string {
	return C.GoString(C.dbtoken_status_name(C.int(s)))
}

// Error is returned by every failing call. Use errors.As to inspect it.
type Error struct {
	Status Status
	// Message says what went wrong and what to do; it never contains a token.
	Message string
	// HTTPStatus is the server's answer, 0 when the failure was not an HTTP answer.
	HTTPStatus int
	// ServerError and ServerDescription are the server's OAuth error and
	// error_description, verbatim, when it refused.
	ServerError       string
	ServerDescription string
}

func (e *Error) Error() string { return "dbtoken: " + e.Message }

// Is lets errors.Is(err, &dbtoken.Error{Status: dbtoken.StatusRejected}) match by status.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status && t.Message == ""
}

// errorFrom converts and frees a C error object.
func errorFrom(status C.dbtoken_status, cerr *C.dbtoken_error) error {
	defer C.dbtoken_error_free(cerr)
	e := &Error{Status: Status(status), Message: Status(status).String()}
	if cerr != nil {
		e.Message = C.GoString(C.dbtoken_error_message(cerr))
		e.HTTPStatus = int(C.dbtoken_error_http_status(cerr))
		if s := C.dbtoken_error_server_error(cerr); s != nil {
			e.ServerError = C.GoString(s)
		}
		if s := C.dbtoken_error_server_description(cerr); s != nil {
			e.ServerDescription = C.GoString(s)
		}
	}
	return e
}

// Token is a Databricks access token. Send it as "Authorization: <Type> <AccessToken>".
type Token struct {
	AccessToken string
	Type        string
	// Expiry is when the server said it expires; zero for a personal access token.
	Expiry time.Time
}

// String never shows the token.
func (t Token) String() string {
	return fmt.Sprintf("%s token (%d bytes, expires %s)", t.Type, len(t.AccessToken), t.Expiry.Format(time.RFC3339))
}

// GoString keeps the token out of %#v as well.
func (t Token) GoString() string { return t.String() }

// Options are .databrickscfg keys ("host", "client_id", "oidc_token_filepath",
// "azure_client_id", "auth_type", "ca_bundle", ...) set explicitly; they override the
// environment, which overrides the config file.
type Options map[string]string

// Client is a token provider with its own cache. Safe for concurrent use.
type Client struct {
	fresh *freshToken  // the token Token serves from Go memory until its refresh time
	mu    sync.RWMutex // calls into C hold it shared; Close exclusively, so no call outlives the handle
	ptr   *C.dbtoken_client
}

// FromEnv configures a client from the environment and ~/.databrickscfg, exactly as the
// dbtoken command does.
func FromEnv() (*Client, error) { return newClient(nil) }

// New configures a client from opts on top of the environment and config file.
func New(opts Options) (*Client, error) {
	var cfg *C.dbtoken_config
	if st := C.dbtoken_config_new(&cfg); st != C.DBTOKEN_STATUS_OK {
		return nil, errorFrom(st, nil)
	}
	defer C.dbtoken_config_free(cfg)
	// Keys in a stable order, so that an error names the same key on every run.
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ck, cv := C.CString(k), C.CString(opts[k])
		var cerr *C.dbtoken_error
		st := C.dbtoken_config_set(cfg, ck, cv, &cerr)
		C.free(unsafe.Pointer(ck))
		C.free(unsafe.Pointer(cv))
		if st != C.DBTOKEN_STATUS_OK {
			return nil, errorFrom(st, cerr)
		}
	}
	return newClient(cfg)
}

func newClient(cfg *C.dbtoken_config) (*Client, error) {
	var ptr *C.dbtoken_client
	var cerr *C.dbtoken_error
	if st := C.dbtoken_client_new(cfg, &ptr, &cerr); st != C.DBTOKEN_STATUS_OK {
		return nil, errorFrom(st, cerr)
	}
	c := &Client{ptr: ptr, fresh: new(freshToken)}
	runtime.SetFinalizer(c, (*Client).Close)
	return c, nil
}

// scratch is the memory one Token call hands to C, pooled so that a cached token costs only
// the allocation of its Go string.
type scratch struct {
	buf  [2048]C.char
	n    C.size_t
	info C.dbtoken_token_info
	err  *C.dbtoken_error
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// cCalls counts dbtoken_client_token calls, so tests can tell Go-memory hits from C calls.
var cCalls atomic.Uint64

// Token returns a valid token: from the cache while fresh, otherwise obtained now. Until the
// library's refresh-ahead time the token comes from Go memory: an atomic load, no cgo call,
// no allocation.
func (c *Client) Token() (Token, error) {
	if t := c.fresh.load(); t != nil {
		return *t, nil
	}
	return c.tokenFromC()
}

// tokenFromC asks the library (its cache, or a token request) and keeps the answer in Go
// memory until the library's refresh-ahead time.
func (c *Client) tokenFromC() (Token, error) {
	cCalls.Add(1)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ptr == nil {
		return Token{}, &Error{Status: StatusInvalidArgument, Message: "Token called on a closed Client"}
	}
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	s.err = nil
	st := C.dbtoken_client_token(c.ptr, &s.buf[0], C.size_t(len(s.buf)), &s.n, &s.info, &s.err)
	var tok Token
	switch st {
	case C.DBTOKEN_STATUS_OK:
		tok.AccessToken = C.GoStringN(&s.buf[0], C.int(s.n))
	case C.DBTOKEN_STATUS_BUFFER_TOO_SMALL:
		big := (*C.char)(C.malloc(s.n + 1))
		defer C.free(unsafe.Pointer(big))
		st = C.dbtoken_client_token(c.ptr, big, s.n+1, &s.n, &s.info, &s.err)
		if st != C.DBTOKEN_STATUS_OK {
			return Token{}, errorFrom(st, s.err)
		}
		tok.AccessToken = C.GoStringN(big, C.int(s.n))
	default:
		return Token{}, errorFrom(st, s.err)
	}
	runtime.KeepAlive(c)
	tok.Type = tokenType(&s.info)
	if s.info.expires_on > 0 {
		tok.Expiry = time.Unix(int64(s.info.expires_on), 0)
	}
	c.fresh.offer(tok, int64(s.info.refresh_at))
	return tok, nil
}

// tokenType avoids allocating for the usual "Bearer".
func tokenType(info *C.dbtoken_token_info) string {
	t := info.token_type
	if t[0] == 'B' && t[1] == 'e' && t[2] == 'a' && t[3] == 'r' && t[4] == 'e' && t[5] == 'r' && t[6] == 0 {
		return "Bearer"
	}
	return C.GoString(&info.token_type[0])
}

// Stats are the client's refresh counters.
type Stats struct{ Refreshes, Failures uint64 }

// Stats returns how many token requests the client started and how many failed.
func (c *Client) Stats() Stats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var s C.dbtoken_stats
	if c.ptr == nil || C.dbtoken_client_stats(c.ptr, &s) != C.DBTOKEN_STATUS_OK {
		return Stats{}
	}
	runtime.KeepAlive(c)
	return Stats{Refreshes: uint64(s.refreshes), Failures: uint64(s.failures)}
}

// Close frees the client. It is idempotent and waits for Token calls in flight; a finalizer
// calls it for clients that are never closed.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fresh.close()
	if c.ptr != nil {
		C.dbtoken_client_free(c.ptr)
		c.ptr = nil
		runtime.SetFinalizer(c, nil)
	}
	return nil
}
