package dbtoken

import (
	"sync"
	"sync/atomic"
	"time"
)

// freshToken is the token a Client serves from Go memory: an immutable Token behind an atomic
// pointer, set after a call into the library and cleared by a timer at the library's
// refresh-ahead time (dbtoken_token_info.refresh_at). After that, Token calls the library
// again, which serves its own cache or starts the one refresh; so the refresh rules (one
// exchange for any number of callers, stale-while-refreshing, backoff) stay the library's.
//
// Reading the clock on every call would cost more than the whole fast path (time.Now is
// ~100 ns on a VM without a fast vDSO clock), so expiry is a timer instead: Go timers and the
// library's cache both run on the monotonic clock. refresh_at is whole seconds, rounded down,
// so Go lets go of a token up to a second before the library calls it stale; calls in that
// second go to C (refresh_at is then already past and nothing is kept).
//
// The timer's function holds this struct, never the Client, so an abandoned Client can still
// be finalized.
type freshToken struct {
	cur atomic.Pointer[Token]

	mu     sync.Mutex // serializes offer and close
	timer  *time.Timer
	closed bool
}

func (f *freshToken) load() *Token { return f.cur.Load() }

// offer keeps tok in Go memory until refreshAt (Unix seconds; 0 = never, a personal access
// token). A token whose refresh time has passed is not kept.
func (f *freshToken) offer(tok Token, refreshAt int64) {
	var wait time.Duration
	switch {
	case refreshAt > 0:
		wait = time.Until(time.Unix(refreshAt, 0))
		if wait <= 0 {
			return
		}
	case !tok.Expiry.IsZero():
		return // an expiring token without a refresh time: let the library decide each time
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	if cur := f.cur.Load(); cur != nil && cur.AccessToken == tok.AccessToken {
		return // another goroutine kept this token already
	}
	kept := new(Token) // allocated only when kept: tok itself stays on the caller's stack
	*kept = tok
	f.cur.Store(kept)
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	if wait > 0 {
		f.timer = time.AfterFunc(wait, func() { f.cur.CompareAndSwap(kept, nil) })
	}
}

// close forgets the token and stops its timer; nothing is kept afterwards.
func (f *freshToken) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	f.cur.Store(nil)
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
}
