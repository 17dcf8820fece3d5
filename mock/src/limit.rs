//! The token endpoints' rate limit and the record of every exchange.
//!
//! One token bucket covers every token endpoint of the mock (the Databricks workspace and
//! account endpoints, Entra ID v2.0 and v1), as one account's limit would: it holds up to
//! `burst` requests and refills at `per_second`; a request that finds it empty is answered
//! 429 with `Retry-After` (whole seconds until the bucket holds a request again, at least 1)
//! and an OAuth error body, before the request is looked at. Off unless configured
//! (`--rate-limit`/`--rate-burst`, [`crate::MockServer::set_rate_limit`] or
//! `POST /_mock/config {"rate_limit": {"per_second": R, "burst": N}}`).
//!
//! Every request to a token endpoint is recorded with its arrival instant and the status it
//! got ([`Exchange`]), refused or not, for the tests and for `bench/fleet.sh`, which counts
//! exchanges per second ([`per_second`]; `GET /_mock/exchanges` gives the same as JSON).

use std::time::{Duration, Instant};

use crate::Shared;
use crate::handlers::oauth_error;
use crate::http::Response;

/// Largest rate (per second) and burst accepted: far above what a loopback mock can serve.
pub const MAX_RATE: u32 = 1_000_000;
/// Smallest rate accepted: one request per 100 s (so `Retry-After` is at most 100).
pub const MIN_RATE: f64 = 0.01;

/// A token bucket's size: `burst` requests at once, refilled at `per_second` (a fraction for
/// less than one a second: 0.5 is one every two seconds).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    per_second: f64,
    burst: u32,
}

impl RateLimit {
    /// The rate in `MIN_RATE..=MAX_RATE`, the burst in `1..=MAX_RATE`, or the reason not.
    pub fn new(per_second: f64, burst: u64) -> Result<RateLimit, String> {
        if !(MIN_RATE..=f64::from(MAX_RATE)).contains(&per_second) {
            return Err(format!(
                "the rate must be {MIN_RATE}..={MAX_RATE} per second, got {per_second}"
            ));
        }
        let burst = u32::try_from(burst)
            .ok()
            .filter(|b| (1..=MAX_RATE).contains(b))
            .ok_or(format!("the burst must be 1..={MAX_RATE}, got {burst}"))?;
        Ok(RateLimit { per_second, burst })
    }

    /// The burst that goes with a rate when none is given: a second's worth, at least 1.
    pub fn default_burst(per_second: f64) -> u64 {
        // Saturating float-to-int cast; a rate out of bounds is refused by `new` anyway.
        (per_second.ceil() as u64).max(1)
    }

    pub fn per_second(&self) -> f64 {
        self.per_second
    }

    pub fn burst(&self) -> u32 {
        self.burst
    }
}

/// The bucket's level at `updated`, in requests (fractional while refilling).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bucket {
    level: f64,
    updated: Instant,
}

impl Bucket {
    pub(crate) fn full(limit: RateLimit, now: Instant) -> Bucket {
        Bucket {
            level: f64::from(limit.burst),
            updated: now,
        }
    }

    /// Take one request's worth at `now`, or say how long until one is there.
    pub(crate) fn take(&mut self, limit: RateLimit, now: Instant) -> Result<(), Duration> {
        let rate = limit.per_second;
        // Instants before `updated` (threads racing to the lock) refill nothing.
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.level = (self.level + elapsed * rate).min(f64::from(limit.burst));
        self.updated = self.updated.max(now);
        if self.level >= 1.0 {
            self.level -= 1.0;
            Ok(())
        } else {
            // level in [0, 1) and rate >= MIN_RATE: finite, at most 100 s.
            Err(Duration::from_secs_f64((1.0 - self.level) / rate))
        }
    }
}

/// One request to a token endpoint: when it arrived and the status it was answered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exchange {
    pub at: Instant,
    pub status: u16,
}

/// Requests and refusals (429) in one second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Second {
    pub requests: usize,
    pub refused: usize,
}

/// Exchanges counted per whole second since `origin` (index 0 is the first second); those
/// before `origin` are left out.
pub fn per_second(exchanges: &[Exchange], origin: Instant) -> Vec<Second> {
    let mut out: Vec<Second> = Vec::new();
    for e in exchanges {
        let Some(d) = e.at.checked_duration_since(origin) else {
            continue;
        };
        let Ok(i) = usize::try_from(d.as_secs()) else {
            continue;
        };
        if out.len() <= i {
            out.resize(i + 1, Second::default());
        }
        out[i].requests += 1;
        if e.status == 429 {
            out[i].refused += 1;
        }
    }
    out
}

/// Answer one token-endpoint request: 429 when the bucket is empty, else `answer()`; either
/// way the exchange is recorded.
pub(crate) fn exchange(shared: &Shared, answer: impl FnOnce() -> Response) -> Response {
    let at = Instant::now();
    let refused = shared.lock().admit(at);
    let resp = match refused {
        Some((limit, wait)) => too_many(limit, wait),
        None => answer(),
    };
    shared.lock().record_exchange(Exchange {
        at,
        status: resp.status,
    });
    resp
}

fn too_many(limit: RateLimit, wait: Duration) -> Response {
    // Whole seconds, rounded up, at least 1 (wait <= 100 s for any accepted rate).
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    oauth_error(
        429,
        "temporarily_unavailable",
        &format!(
            "Too many token requests: this endpoint allows {} per second in bursts of up to {}; retry after {secs} s",
            limit.per_second, limit.burst
        ),
    )
    .with_header("Retry-After", secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_bucket_refills_at_the_rate() {
        let limit = RateLimit::new(2.0, 3).unwrap();
        let t0 = Instant::now();
        let mut b = Bucket::full(limit, t0);
        for _ in 0..3 {
            assert_eq!(b.take(limit, t0), Ok(()));
        }
        assert_eq!(b.take(limit, t0), Err(Duration::from_millis(500)));
        // Half a second refills one request; a refused request takes nothing.
        let t = t0 + Duration::from_millis(250);
        assert_eq!(b.take(limit, t), Err(Duration::from_millis(250)));
        let t = t0 + Duration::from_millis(500);
        assert_eq!(b.take(limit, t), Ok(()));
        assert!(b.take(limit, t).is_err());
        // Never more than the burst, however long it rested.
        let t = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(b.take(limit, t), Ok(()));
        }
        assert!(b.take(limit, t).is_err());
        // An instant older than the last one refills nothing and does not panic.
        assert!(b.take(limit, t0).is_err());
    }

    #[test]
    fn limits_are_bounded() {
        for bad in [0.0, 0.009, -1.0, f64::NAN, f64::INFINITY, 1e7] {
            assert!(RateLimit::new(bad, 1).is_err(), "{bad}");
        }
        assert!(RateLimit::new(1.0, 0).is_err());
        assert!(RateLimit::new(1.0, u64::from(MAX_RATE) + 1).is_err());
        assert_eq!(RateLimit::default_burst(0.2), 1);
        assert_eq!(RateLimit::default_burst(20.0), 20);
        assert_eq!(RateLimit::default_burst(f64::NAN), 1);
        // The slowest rate: an empty bucket says 100 s.
        let slow = RateLimit::new(MIN_RATE, 1).unwrap();
        let t0 = Instant::now();
        let mut b = Bucket::full(slow, t0);
        assert_eq!(b.take(slow, t0), Ok(()));
        let wait = b.take(slow, t0).unwrap_err();
        assert_eq!(wait.as_secs_f64().round(), 100.0);
        assert_eq!(
            too_many(slow, wait).headers,
            vec![("Retry-After", "100".to_string())]
        );
        let l = RateLimit::new(f64::from(MAX_RATE), u64::from(MAX_RATE)).unwrap();
        let t0 = Instant::now();
        let mut b = Bucket::full(l, t0);
        assert_eq!(
            b.take(l, t0 + Duration::from_secs(10 * 365 * 86_400)),
            Ok(())
        );
    }

    #[test]
    fn too_many_says_when_and_why() {
        let limit = RateLimit::new(10.0, 20).unwrap();
        let r = too_many(limit, Duration::from_millis(1));
        assert_eq!(r.status, 429);
        assert_eq!(r.headers, vec![("Retry-After", "1".to_string())]);
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
        let why = body["error_description"].as_str().unwrap();
        assert!(why.contains("10 per second") && why.contains("20"), "{why}");
        let r = too_many(limit, Duration::from_millis(1500));
        assert_eq!(r.headers, vec![("Retry-After", "2".to_string())]);
    }

    #[test]
    fn counts_per_second_from_the_origin() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let at = |ms: u64, status: u16| Exchange {
            at: t0 + Duration::from_millis(ms),
            status,
        };
        let ex = [
            at(0, 200),
            at(999, 429),
            at(1000, 200),
            at(3500, 429),
            Exchange {
                at: t0 - Duration::from_secs(1),
                status: 200,
            },
        ];
        let s = per_second(&ex, t0);
        let second = |requests, refused| Second { requests, refused };
        assert_eq!(
            s,
            vec![second(2, 1), second(1, 0), second(0, 0), second(1, 1)]
        );
        assert!(per_second(&[], t0).is_empty());
    }
}
