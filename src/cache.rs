//! The token cache: fresh tokens are served from memory; a stale token is still served while
//! exactly one caller refreshes it; within 40 s of expiry callers block on one refresh; a failed
//! refresh keeps serving the still-valid token and backs off. No background threads: refreshes
//! run on the calling thread that finds the token stale.
//!
//! Timeline of a token with lifetime `ttl` obtained at `t0` (the SDKs' rules):
//! `t0 .. expiry - min(ttl/2, 20 min)` fresh; then stale until `expiry - 40 s`; then expired.
//!
//! Jitter: so that the pods of a rollout, which all got their first token in the same second,
//! do not refresh in the same second of every cycle, each new token's refresh point is drawn
//! uniformly from the last fifth of its fresh phase, `[stale - stale/5, stale]` with `stale`
//! the rule above (an hour's token: between 32 and 40 minutes after it was obtained, the SDKs'
//! point being the latest), re-drawn for every token from a per-process random source. It is
//! never later than the rule's point and never inside the expiry margin. `Token::refresh_at`
//! reports the drawn point, so the bindings' and sidecars' own refresh timers follow it.
//! (`bench/fleet.sh` compares this with the rule's point in one run: the `bench` feature lets
//! a cache draw 0, the rule's point, for every token; not an API.)
//!
//! Short lifetimes (under 80 s, where the 40 s margin would eat half or more of the token):
//! the margin shrinks to half the lifetime, so such a token is fresh for the first half of
//! its life and expired after it (no stale phase). A 30 s token is used for 15 s, then
//! refreshed once; a server claiming 1 s (the floor applied to `expires_in`) costs at most two
//! exchanges a second, never one per call. All instants are computed with checked
//! arithmetic; lifetimes arrive already clamped to 1 s ..= 24 h. Short lifetimes get no
//! jitter: their half-life rule already spaces their refreshes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant, SystemTime};

use crate::error::{Error, ErrorKind, Result};
use crate::token::Token;

/// A token is treated as expired this long before the server's expiry
/// (Azure Databricks rejects tokens with 30 s or less left).
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(40);
/// Refresh ahead at most this long before expiry.
pub const MAX_REFRESH_AHEAD: Duration = Duration::from_secs(20 * 60);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A server's `Retry-After` is honoured up to this long before the next refresh attempt.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10 * 60);

struct Entry {
    token: Token,
    /// `None` for tokens with no known expiry (PAT): fresh forever.
    stale_at: Option<Instant>,
    expired_at: Option<Instant>,
}

#[derive(Default)]
struct State {
    entry: Option<Entry>,
    refreshing: bool,
    /// Completed refreshes; waiters use it to see that the refresh they waited on finished.
    generation: u64,
    last_error: Option<Error>,
    failures: u32,
    retry_at: Option<Instant>,
}

/// Counters and the state of the cached token, for diagnostics, health checks and metrics.
/// Holds no token material.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Refreshes started (each is one token request, retries included).
    pub refreshes: u64,
    /// Refreshes that failed.
    pub failures: u64,
    /// Failed refreshes by the kind of their error (they add up to `failures`).
    pub failures_by_kind: FailureCounts,
    /// Refreshes that failed since the last success (0 after a success).
    pub consecutive_failures: u32,
    /// The kind of the last failure, while `consecutive_failures > 0`.
    pub last_failure: Option<ErrorKind>,
    /// When the last refresh succeeded (wall clock).
    pub last_success: Option<SystemTime>,
    /// Whether a token is cached (it may have expired; see `token_usable_until`).
    pub has_token: bool,
    /// The server's expiry of the cached token; `None` without a token or for a PAT.
    pub token_expires_at: Option<SystemTime>,
    /// Until when the cache hands the cached token out ([`crate::Token::usable_until`]).
    pub token_usable_until: Option<SystemTime>,
    /// The refresh point drawn for the cached token ([`crate::Token::refresh_at`]).
    pub token_refresh_at: Option<SystemTime>,
}

/// Failed refreshes counted by [`ErrorKind`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FailureCounts {
    counts: [u64; 5],
}

impl FailureCounts {
    /// Every kind a refresh can fail with, in a stable order.
    pub const KINDS: [ErrorKind; 5] = [
        ErrorKind::Config,
        ErrorKind::FederatedToken,
        ErrorKind::Rejected,
        ErrorKind::Transient,
        ErrorKind::Io,
    ];

    fn index(kind: ErrorKind) -> usize {
        Self::KINDS.iter().position(|k| *k == kind).unwrap_or(4)
    }

    /// Failures of `kind`.
    pub fn get(&self, kind: ErrorKind) -> u64 {
        self.counts[Self::index(kind)]
    }

    /// `(kind, failures)` for every kind, zeros included.
    pub fn iter(&self) -> impl Iterator<Item = (ErrorKind, u64)> + '_ {
        Self::KINDS.iter().map(|k| (*k, self.get(*k)))
    }

    fn add(&mut self, kind: ErrorKind) {
        let c = &mut self.counts[Self::index(kind)];
        *c = c.saturating_add(1);
    }
}

/// The fresh token, readable without touching the refresh state: cache hits take only a
/// shared read lock and do not clone (no allocation, no reference count traffic).
struct Fresh {
    token: Token,
    until: Option<Instant>,
}

/// Copies of the fresh token in separate cache lines: each thread reads its own stripe, so
/// concurrent cache hits on different cores do not fight over one lock word. A refresh (rare)
/// writes every stripe.
const STRIPES: usize = 16;

#[repr(align(128))]
struct Stripe(RwLock<Option<Fresh>>);

fn my_stripe() -> usize {
    use std::sync::atomic::AtomicUsize;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    STRIPE.with(|s| *s)
}

pub(crate) struct Cache {
    fresh: [Stripe; STRIPES],
    state: Mutex<State>,
    done: Condvar,
    stats: Mutex<CacheStats>,
    /// Whether refresh points are drawn (always, but in `bench/fleet.sh`'s "before" arm).
    jitter: AtomicBool,
}

enum Look {
    Serve(Token),
    Lead,
    Wait,
    Fail(Error),
}

impl Cache {
    pub fn new() -> Cache {
        Cache {
            fresh: std::array::from_fn(|_| Stripe(RwLock::new(None))),
            state: Mutex::new(State::default()),
            done: Condvar::new(),
            stats: Mutex::new(CacheStats::default()),
            jitter: AtomicBool::new(true),
        }
    }

    /// Off: every token is refreshed at the rule's point, as before the jitter (the fleet
    /// benchmark's "before" arm). Takes effect from the next token.
    #[cfg(any(test, feature = "bench"))]
    pub fn set_jitter(&self, on: bool) {
        self.jitter.store(on, Ordering::Relaxed);
    }

    pub fn stats(&self) -> CacheStats {
        let mut s = *self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let st = self.lock();
        s.consecutive_failures = st.failures;
        s.last_failure = st
            .last_error
            .as_ref()
            .filter(|_| st.failures > 0)
            .map(Error::kind);
        if let Some(e) = &st.entry {
            s.has_token = true;
            s.token_expires_at = e.token.expires_at();
            s.token_usable_until = e.token.usable_until();
            s.token_refresh_at = e.token.refresh_at();
        }
        s
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `use_token` on the cached token, or on one obtained with `fetch` (which returns the
    /// token and its lifetime). A fresh token is lent under a read lock, never cloned.
    pub fn get_with<F, R>(
        &self,
        now: &dyn Fn() -> Instant,
        fetch: F,
        use_token: impl FnOnce(&Token) -> R,
    ) -> Result<R>
    where
        F: FnOnce() -> Result<(Token, Option<Duration>)>,
    {
        {
            let fresh = self.fresh[my_stripe()]
                .0
                .read()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(f) = &*fresh {
                if f.until.is_none_or(|u| now() < u) {
                    return Ok(use_token(&f.token));
                }
            }
        }
        self.get(now, fetch).map(|t| use_token(&t))
    }

    /// The cached token, or one obtained with `fetch`, which returns the token and its lifetime.
    pub fn get<F>(&self, now: &dyn Fn() -> Instant, fetch: F) -> Result<Token>
    where
        F: FnOnce() -> Result<(Token, Option<Duration>)>,
    {
        let mut st = self.lock();
        loop {
            let t = now();
            let look = match &st.entry {
                Some(e) if e.stale_at.is_none_or(|s| t < s) => Look::Serve(e.token.clone()),
                Some(e) if e.expired_at.is_none_or(|x| t < x) => {
                    if st.refreshing || st.retry_at.is_some_and(|r| t < r) {
                        Look::Serve(e.token.clone())
                    } else {
                        Look::Lead
                    }
                }
                _ if st.refreshing => Look::Wait,
                _ => match (&st.last_error, st.retry_at) {
                    (Some(err), Some(r)) if t < r => Look::Fail(err.clone().context(&format!(
                        "backing off after {} failed attempt(s), next attempt in {}s",
                        st.failures,
                        r.saturating_duration_since(t).as_secs().max(1)
                    ))),
                    _ => Look::Lead,
                },
            };
            match look {
                Look::Serve(tok) => return Ok(tok),
                Look::Fail(e) => return Err(e),
                Look::Wait => {
                    let generation = st.generation;
                    while st.refreshing && st.generation == generation {
                        st = self.done.wait(st).unwrap_or_else(|p| p.into_inner());
                    }
                    let usable = st
                        .entry
                        .as_ref()
                        .is_some_and(|e| e.expired_at.is_none_or(|x| now() < x));
                    if !usable {
                        if let Some(e) = &st.last_error {
                            return Err(e.clone());
                        }
                    }
                }
                Look::Lead => {
                    st.refreshing = true;
                    drop(st);
                    return self.lead(now, fetch);
                }
            }
        }
    }

    fn lead<F>(&self, now: &dyn Fn() -> Instant, fetch: F) -> Result<Token>
    where
        F: FnOnce() -> Result<(Token, Option<Duration>)>,
    {
        self.stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .refreshes += 1;
        let started = now();
        // If `fetch` panics, the guard still clears `refreshing` and wakes the waiters.
        let mut guard = LeadGuard {
            cache: self,
            finished: false,
        };
        let result = fetch();
        guard.finished = true;
        drop(guard);
        let mut st = self.lock();
        st.refreshing = false;
        st.generation += 1;
        let out = match result {
            Ok((token, ttl)) => {
                self.stats
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .last_success = Some(SystemTime::now());
                let draw = if self.jitter.load(Ordering::Relaxed) {
                    crate::time::jitter()
                } else {
                    0
                };
                let e = entry(token, started, ttl, draw);
                let token = e.token.clone();
                for stripe in &self.fresh {
                    *stripe.0.write().unwrap_or_else(|p| p.into_inner()) = Some(Fresh {
                        token: token.clone(),
                        until: e.stale_at,
                    });
                }
                st.entry = Some(e);
                st.last_error = None;
                st.failures = 0;
                st.retry_at = None;
                Ok(token)
            }
            Err(e) => {
                {
                    let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
                    stats.failures += 1;
                    stats.failures_by_kind.add(e.kind());
                }
                st.failures = st.failures.saturating_add(1);
                let t = now();
                let wait = retry_wait(st.failures, e.retry_after(), crate::time::jitter());
                let mut retry_at = later(t, wait);
                st.last_error = Some(e.clone());
                let out = match &st.entry {
                    // Stale-if-error: the old token is still valid, keep serving it, and try
                    // again no later than its expiry (a long Retry-After must not turn a token
                    // that could have been renewed in time into an error).
                    Some(old) if old.expired_at.is_none_or(|x| t < x) => {
                        if let Some(x) = old.expired_at {
                            retry_at = retry_at.min(x);
                        }
                        Ok(old.token.clone())
                    }
                    _ => Err(e),
                };
                st.retry_at = Some(retry_at);
                out
            }
        };
        drop(st);
        self.done.notify_all();
        out
    }
}

struct LeadGuard<'a> {
    cache: &'a Cache,
    finished: bool,
}

impl Drop for LeadGuard<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut st = self.cache.lock();
        st.refreshing = false;
        st.generation += 1;
        st.last_error = Some(Error::new(ErrorKind::Io, "the token refresh panicked"));
        drop(st);
        self.cache.done.notify_all();
    }
}

/// When a token of lifetime `ttl` turns stale and expired, as offsets from when it was
/// obtained (see the module docs). `stale <= expired <= ttl`; never overflows.
pub(crate) fn timeline(ttl: Duration) -> (Duration, Duration) {
    let margin = EXPIRY_MARGIN.min(ttl / 2);
    let expired = ttl.saturating_sub(margin);
    let stale = ttl
        .saturating_sub((ttl / 2).min(MAX_REFRESH_AHEAD))
        .min(expired);
    (stale, expired)
}

/// `t + d`, or the farthest instant we can name when that overflows (a lifetime that long
/// means "not in this process's lifetime"; `Instant` has no MAX).
fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .or_else(|| t.checked_add(crate::exchange::MAX_TTL))
        .unwrap_or(t)
}

/// How long to wait after the `failures`-th failed refresh in a row: the backoff, or the
/// server's `Retry-After` (bounded by [`MAX_RETRY_AFTER`]) when that is longer, plus up to a
/// quarter more drawn from `draw`, so that a fleet refused in the same second does not come
/// back in the same second.
pub(crate) fn retry_wait(failures: u32, retry_after: Option<Duration>, draw: u64) -> Duration {
    let backoff = crate::time::backoff(failures, FIRST_BACKOFF, MAX_BACKOFF);
    let base = retry_after.map_or(backoff, |r| r.min(MAX_RETRY_AFTER).max(backoff));
    crate::time::plus_up_to_a_quarter(base, draw)
}

/// The refresh point of a token of lifetime `ttl`: the rule's `stale` moved earlier by
/// `draw` modulo the window (the last fifth of the fresh phase; none for short lifetimes).
/// `stale - stale/5 <= result <= stale <= expired`; never overflows.
pub(crate) fn jittered_stale(ttl: Duration, draw: u64) -> Duration {
    let (stale, _) = timeline(ttl);
    if ttl < EXPIRY_MARGIN * 2 {
        return stale;
    }
    // At most 24 h / 5 in milliseconds: fits a u64 with room to spare; `% (w + 1)` <= w.
    let window = u64::try_from((stale / 5).as_millis()).unwrap_or(u64::MAX - 1);
    stale.saturating_sub(Duration::from_millis(draw % (window + 1)))
}

/// The cache entry of a token obtained at `obtained`, its refresh point jittered by `draw`
/// (see [`jittered_stale`]); the token's `refresh_at` is set to that same point.
fn entry(token: Token, obtained: Instant, ttl: Option<Duration>, draw: u64) -> Entry {
    match ttl {
        None => Entry {
            token,
            stale_at: None,
            expired_at: None,
        },
        Some(ttl) => {
            let (_, expired) = timeline(ttl);
            let stale = jittered_stale(ttl, draw);
            // The fetch stamped `expires_at = obtained + ttl` on the wall clock.
            let refresh_at = token
                .expires_at()
                .and_then(|e| e.checked_sub(ttl))
                .and_then(|t0| t0.checked_add(stale));
            Entry {
                token: token.with_refresh_at(refresh_at),
                stale_at: Some(later(obtained, stale)),
                expired_at: Some(later(obtained, expired)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::Secret;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, mpsc};

    /// A clock the test moves by hand.
    #[derive(Clone)]
    struct Clock(Instant, Arc<AtomicU64>);
    impl Clock {
        fn new() -> Clock {
            Clock(Instant::now(), Arc::new(AtomicU64::new(0)))
        }
        fn now(&self) -> Instant {
            self.0 + Duration::from_secs(self.1.load(Ordering::SeqCst))
        }
        fn set(&self, secs: u64) {
            self.1.store(secs, Ordering::SeqCst);
        }
    }

    fn tok(s: &str) -> Token {
        Token::new(Secret::new(s), "Bearer".into(), None)
    }

    const HOUR: Option<Duration> = Some(Duration::from_secs(3600));

    #[test]
    fn fresh_is_served_without_fetch() {
        let c = Cache::new();
        let clock = Clock::new();
        let now = || clock.now();
        assert_eq!(
            c.get(&now, || Ok((tok("a"), HOUR))).unwrap().access_token(),
            "a"
        );
        clock.set(1799);
        let t = c
            .get(&now, || panic!("must not fetch while fresh"))
            .unwrap();
        assert_eq!(t.access_token(), "a");
        assert_eq!(c.stats().refreshes, 1);
    }

    #[test]
    fn refresh_ahead_at_half_life_capped_at_20_minutes() {
        let e = entry(tok("a"), Instant::now(), Some(Duration::from_secs(600)), 0);
        assert_eq!(
            e.expired_at.unwrap() - e.stale_at.unwrap(),
            Duration::from_secs(260)
        );
        let base = Instant::now();
        let e = entry(tok("a"), base, HOUR, 0);
        assert_eq!(e.stale_at.unwrap() - base, Duration::from_secs(2400));
        assert_eq!(e.expired_at.unwrap() - base, Duration::from_secs(3560));
        let e = entry(tok("a"), base, Some(Duration::from_secs(30)), 0);
        assert_eq!(
            (e.stale_at, e.expired_at),
            (
                Some(base + Duration::from_secs(15)),
                Some(base + Duration::from_secs(15))
            ),
            "short-lived: fresh for half its life"
        );
    }

    #[test]
    fn refresh_point_is_drawn_in_the_last_fifth_of_the_fresh_phase() {
        let s = Duration::from_secs;
        for ttl in [s(80), s(120), s(600), s(3600), s(86_400)] {
            let (stale, expired) = timeline(ttl);
            let lo = stale - stale / 5;
            // The bounds themselves: draw 0 is the rule's point, draw = window its earliest.
            assert_eq!(jittered_stale(ttl, 0), stale);
            let w = u64::try_from((stale / 5).as_millis()).unwrap();
            assert_eq!(jittered_stale(ttl, w), lo);
            assert_eq!(
                jittered_stale(ttl, u64::MAX),
                stale - Duration::from_millis(u64::MAX % (w + 1))
            );
            // Drawn from the process's source: all inside, and spread over the window.
            let draws: Vec<Duration> = (0..2000)
                .map(|_| jittered_stale(ttl, crate::time::jitter()))
                .collect();
            assert!(
                draws.iter().all(|d| (lo..=stale).contains(d)),
                "ttl {ttl:?}"
            );
            assert!(stale <= expired, "never inside the expiry margin");
            let quarter = (stale - lo) / 4;
            for q in 0..4 {
                let (a, b) = (lo + quarter * q, lo + quarter * (q + 1));
                let n = draws.iter().filter(|d| (a..b).contains(d)).count();
                assert!(
                    n > 300,
                    "ttl {ttl:?}: only {n} of 2000 draws in quarter {q}"
                );
            }
        }
        // An hour's token: refreshed between 32 and 40 minutes after it was obtained.
        assert_eq!(jittered_stale(s(3600), 480_000), s(1920));
        // Short lifetimes keep the half-life rule exactly.
        for ttl in [s(1), s(30), s(79)] {
            assert_eq!(jittered_stale(ttl, crate::time::jitter()), ttl / 2);
        }
        assert!(jittered_stale(Duration::MAX, u64::MAX) <= timeline(Duration::MAX).0);
    }

    #[test]
    fn the_drawn_point_is_never_later_than_the_rule_nor_inside_the_expiry_margin() {
        let ms = Duration::from_millis;
        // Every lifetime from 1 s to 200 s (around the 80 s edge), then long ones, each with
        // the window's extremes and draws from the process's source.
        let ttls = (1..=200).map(Duration::from_secs).chain([
            ms(79_999),
            ms(80_001),
            Duration::from_secs(86_400),
        ]);
        for ttl in ttls {
            let (stale, expired) = timeline(ttl);
            let draws = [0, 1, u64::MAX, u64::MAX / 2].into_iter();
            for draw in draws.chain((0..200).map(|_| crate::time::jitter())) {
                let p = jittered_stale(ttl, draw);
                assert!(
                    p <= stale,
                    "ttl {ttl:?}: {p:?} later than the rule's {stale:?}"
                );
                assert!(p <= expired, "ttl {ttl:?}: {p:?} inside the expiry margin");
                if ttl >= EXPIRY_MARGIN * 2 {
                    assert!(ttl - p >= EXPIRY_MARGIN, "ttl {ttl:?}: {p:?}");
                    assert!(
                        p >= stale - stale / 5,
                        "ttl {ttl:?}: {p:?} before the window"
                    );
                } else {
                    assert_eq!(p, ttl / 2, "short-lived: the half-life rule");
                }
            }
        }
    }

    #[test]
    fn every_new_token_draws_its_own_refresh_point_and_jitter_off_is_the_rule() {
        for jitter in [true, false] {
            let c = Cache::new();
            c.set_jitter(jitter);
            let clock = Clock::new();
            let now = || clock.now();
            let mut offsets = Vec::new();
            let mut t = 0;
            for i in 0..50 {
                clock.set(t);
                let fetched = c.get(&now, || Ok((tok(&format!("t{i}")), HOUR))).unwrap();
                assert_eq!(fetched.access_token(), format!("t{i}"));
                let stale_at = c.lock().entry.as_ref().unwrap().stale_at.unwrap();
                let offset = stale_at - clock.now();
                offsets.push(offset);
                // The next caller after that point leads the next refresh (whole seconds).
                t += offset.as_secs() + 1;
            }
            assert_eq!(c.stats().refreshes, 50);
            let s = Duration::from_secs;
            if jitter {
                assert!(offsets.iter().all(|o| (s(1920)..=s(2400)).contains(o)));
                let mut distinct = offsets.clone();
                distinct.sort();
                distinct.dedup();
                assert!(distinct.len() >= 45, "re-drawn per token: {offsets:?}");
            } else {
                assert!(offsets.iter().all(|o| *o == s(2400)), "{offsets:?}");
            }
        }
    }

    #[test]
    fn a_refused_refresh_waits_the_bounded_retry_after_plus_jitter_serving_the_valid_token() {
        let c = Cache::new();
        let clock = Clock::new();
        let now = || clock.now();
        let day = Some(Duration::from_secs(86_400));
        c.get(&now, || Ok((tok("a"), day))).unwrap();
        let refused = || {
            Err(
                Error::http(ErrorKind::Transient, "HTTP 429: slow down", 429, None, None)
                    .with_retry_after(Some(Duration::from_secs(3600))),
            )
        };
        // Past the latest refresh point (20 min before expiry): refused, the token still served.
        let stale = 86_400 - 1200;
        clock.set(stale);
        assert_eq!(c.get(&now, refused).unwrap().access_token(), "a");
        // An hour's Retry-After is honoured up to 10 minutes ...
        clock.set(stale + 599);
        let t = c.get(&now, || panic!("within the bounded Retry-After"));
        assert_eq!(t.unwrap().access_token(), "a");
        // ... plus at most a quarter of jitter: tried again by 12.5 minutes.
        clock.set(stale + 751);
        let t = c.get(&now, || Ok((tok("b"), day))).unwrap();
        assert_eq!(t.access_token(), "b");
        assert_eq!((c.stats().refreshes, c.stats().failures), (3, 1));
    }

    #[test]
    fn retry_waits_at_least_retry_after_bounded_plus_jitter() {
        let s = Duration::from_secs;
        // No Retry-After: the backoff (1 s doubling to 60 s) plus up to a quarter.
        assert_eq!(retry_wait(1, None, 0), s(1));
        assert_eq!(retry_wait(1, None, 250), Duration::from_millis(1250));
        assert_eq!(retry_wait(9, None, 0), s(60));
        // Retry-After longer than the backoff wins; shorter does not shorten it; bounded.
        assert_eq!(retry_wait(1, Some(s(30)), 0), s(30));
        assert_eq!(retry_wait(5, Some(s(1)), 0), s(16));
        assert_eq!(retry_wait(1, Some(s(86_400)), 0), MAX_RETRY_AFTER);
        for _ in 0..1000 {
            let w = retry_wait(1, Some(s(30)), crate::time::jitter());
            assert!(
                (s(30)..=Duration::from_millis(37_500)).contains(&w),
                "{w:?}"
            );
            let w = retry_wait(u32::MAX, Some(Duration::MAX), crate::time::jitter());
            assert!(w <= MAX_RETRY_AFTER + MAX_RETRY_AFTER / 4, "{w:?}");
        }
        // The jitter spreads a fleet refused in the same second over the quarter.
        let waits: Vec<Duration> = (0..1000)
            .map(|_| retry_wait(1, Some(s(30)), crate::time::jitter()))
            .collect();
        let (lo, hi) = (waits.iter().min().unwrap(), waits.iter().max().unwrap());
        assert!(
            *lo < s(31) && *hi > Duration::from_millis(36_500),
            "{lo:?}..{hi:?}"
        );
    }

    #[test]
    fn a_refused_refresh_keeps_the_valid_token_until_retry_after_then_fails_fast_once_expired() {
        let clock = Arc::new(AtomicU64::new(0));
        let base = Instant::now();
        let now = {
            let clock = clock.clone();
            move || base + Duration::from_secs(clock.load(Ordering::SeqCst))
        };
        let c = Cache::new();
        c.get(&now, || Ok((tok("a"), Some(Duration::from_secs(600)))))
            .unwrap();
        let refused = || {
            Err(
                Error::http(ErrorKind::Transient, "HTTP 429: slow down", 429, None, None)
                    .with_retry_after(Some(Duration::from_secs(120))),
            )
        };
        // Stale at 300 s at the latest: the refresh is refused, the valid token is served.
        clock.store(301, Ordering::SeqCst);
        assert_eq!(c.get(&now, refused).unwrap().access_token(), "a");
        assert_eq!(c.stats().refreshes, 2);
        // Within Retry-After: no new attempt, still the valid token.
        clock.store(420, Ordering::SeqCst);
        let t = c.get(&now, || panic!("must wait out Retry-After")).unwrap();
        assert_eq!(t.access_token(), "a");
        // Past Retry-After (+ at most a quarter): tried again; refused again near expiry.
        clock.store(452, Ordering::SeqCst);
        assert_eq!(c.get(&now, refused).unwrap().access_token(), "a");
        assert_eq!(c.stats().refreshes, 3);
        // The next attempt is capped at the token's expiry (560 s), not 452 + 120 s + jitter.
        clock.store(561, Ordering::SeqCst);
        let e = c.get(&now, refused).unwrap_err();
        assert_eq!(e.http_status(), Some(429));
        assert!(e.to_string().contains("slow down"), "{e}");
        assert_eq!(c.stats().refreshes, 4);
        // Exhausted: fails fast with the server's words, no exchange per call.
        let e = c.get(&now, || panic!("must back off")).unwrap_err();
        assert!(
            e.to_string().contains("slow down") && e.to_string().contains("backing off"),
            "{e}"
        );
    }

    #[test]
    fn token_refresh_at_is_the_entry_refresh_point() {
        let t0 = SystemTime::now();
        let token = Token::new(
            Secret::new("a"),
            "Bearer".into(),
            Some(t0 + Duration::from_secs(3600)),
        );
        let base = Instant::now();
        let e = entry(token, base, HOUR, 123_456);
        let stale = e.stale_at.unwrap() - base;
        assert_eq!(
            stale,
            Duration::from_secs(2400) - Duration::from_millis(123_456)
        );
        assert_eq!(e.token.refresh_at(), Some(t0 + stale));
    }

    #[test]
    fn short_lifetimes_are_fresh_for_half_and_never_overflow() {
        let s = Duration::from_secs;
        for (ttl, stale, expired) in [
            (1, Duration::from_millis(500), Duration::from_millis(500)),
            (30, s(15), s(15)),
            (40, s(20), s(20)),
            (60, s(30), s(30)),
            (80, s(40), s(40)),
            (100, s(50), s(60)),
            (3600, s(2400), s(3560)),
        ] {
            assert_eq!(timeline(s(ttl)), (stale, expired), "ttl {ttl}");
        }
        assert_eq!(timeline(Duration::ZERO), (Duration::ZERO, Duration::ZERO));
        let (stale, expired) = timeline(Duration::MAX);
        assert!(stale <= expired);
        // An instant plus any lifetime saturates instead of panicking.
        let base = Instant::now();
        let e = entry(tok("a"), base, Some(Duration::MAX), 0);
        assert!(e.stale_at.unwrap() > base);
        assert!(e.expired_at.unwrap() >= e.stale_at.unwrap());
    }

    #[test]
    fn a_short_lived_token_is_served_for_half_its_life_then_refreshed_once() {
        let c = Cache::new();
        let clock = Clock::new();
        let now = || clock.now();
        let ttl = Some(Duration::from_secs(30));
        c.get(&now, || Ok((tok("a"), ttl))).unwrap();
        for t in 0..15 {
            clock.set(t);
            let got = c.get(&now, || panic!("refreshed at {t}s of a 30 s token"));
            assert_eq!(got.unwrap().access_token(), "a");
        }
        clock.set(15);
        assert_eq!(
            c.get(&now, || Ok((tok("b"), ttl))).unwrap().access_token(),
            "b"
        );
        assert_eq!(c.stats().refreshes, 2);
    }

    #[test]
    fn stale_token_served_while_one_caller_refreshes() {
        let c = Arc::new(Cache::new());
        let clock = Clock::new();
        let now = {
            let clock = clock.clone();
            move || clock.now()
        };
        c.get(&now, || Ok((tok("old"), HOUR))).unwrap();
        clock.set(2500); // stale, not expired
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let leader = {
            let c = c.clone();
            let now = now.clone();
            std::thread::spawn(move || {
                c.get(&now, move || {
                    started_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    Ok((tok("new"), HOUR))
                })
                .unwrap()
                .access_token()
                .to_string()
            })
        };
        started_rx.recv().unwrap();
        // The refresh is in flight and blocked: other callers get the stale token at once.
        for _ in 0..10 {
            let t = c.get(&now, || panic!("second refresh")).unwrap();
            assert_eq!(t.access_token(), "old");
        }
        release_tx.send(()).unwrap();
        assert_eq!(leader.join().unwrap(), "new");
        assert_eq!(
            c.get(&now, || panic!("fresh now")).unwrap().access_token(),
            "new"
        );
        assert_eq!(c.stats().refreshes, 2);
    }

    #[test]
    fn failed_refresh_serves_valid_token_and_backs_off() {
        let c = Cache::new();
        let clock = Clock::new();
        let now = || clock.now();
        c.get(&now, || Ok((tok("old"), HOUR))).unwrap();
        clock.set(2500);
        let t = c.get(&now, || Err(Error::transient("down"))).unwrap();
        assert_eq!(t.access_token(), "old");
        // Within the backoff no new attempt is made.
        let t = c.get(&now, || panic!("backing off")).unwrap();
        assert_eq!(t.access_token(), "old");
        clock.set(2502);
        let t = c.get(&now, || Ok((tok("new"), HOUR))).unwrap();
        assert_eq!(t.access_token(), "new");
        let s = c.stats();
        assert_eq!((s.refreshes, s.failures), (3, 1));
        assert_eq!(s.failures_by_kind.get(ErrorKind::Transient), 1);
        assert_eq!(s.failures_by_kind.iter().map(|(_, n)| n).sum::<u64>(), 1);
        assert_eq!((s.consecutive_failures, s.last_failure), (0, None));
        assert!(s.has_token && s.last_success.is_some());
    }

    #[test]
    fn expired_blocks_and_error_surfaces_when_nothing_valid() {
        let c = Cache::new();
        let clock = Clock::new();
        let now = || clock.now();
        c.get(&now, || Ok((tok("old"), HOUR))).unwrap();
        clock.set(3561); // within the 40 s margin: expired
        let e = c.get(&now, || Err(Error::transient("down"))).unwrap_err();
        assert_eq!(e.message(), "down");
        let s = c.stats();
        assert_eq!(
            (s.consecutive_failures, s.last_failure),
            (1, Some(ErrorKind::Transient))
        );
        let e = c.get(&now, || panic!("backing off")).unwrap_err();
        assert!(e.message().contains("next attempt in"), "{e}");
        assert!(e.message().ends_with("down"), "{e}");
        clock.set(3563);
        assert_eq!(
            c.get(&now, || Ok((tok("new"), HOUR)))
                .unwrap()
                .access_token(),
            "new"
        );
    }

    #[test]
    fn cold_cache_many_threads_one_fetch_and_shared_error() {
        for outcome_ok in [true, false] {
            let c = Arc::new(Cache::new());
            let calls = Arc::new(AtomicU64::new(0));
            let threads: Vec<_> = (0..32)
                .map(|_| {
                    let (c, calls) = (c.clone(), calls.clone());
                    std::thread::spawn(move || {
                        c.get(&Instant::now, || {
                            calls.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(100));
                            if outcome_ok {
                                Ok((tok("t"), HOUR))
                            } else {
                                Err(Error::transient("down"))
                            }
                        })
                        .is_ok()
                    })
                })
                .collect();
            let oks = threads
                .into_iter()
                .map(|t| t.join().unwrap())
                .filter(|ok| *ok)
                .count();
            assert_eq!(calls.load(Ordering::SeqCst), 1);
            assert_eq!(oks, if outcome_ok { 32 } else { 0 });
        }
    }

    #[test]
    fn panicking_fetch_releases_waiters() {
        let c = Cache::new();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = c.get(&Instant::now, || panic!("boom"));
        }));
        assert!(r.is_err());
        // Not deadlocked, and the next caller leads a new refresh.
        let t = c.get(&Instant::now, || Ok((tok("t"), HOUR))).unwrap();
        assert_eq!(t.access_token(), "t");
        assert_eq!(c.stats().refreshes, 2);
    }
}
