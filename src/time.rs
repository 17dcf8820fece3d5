//! Wall-clock helpers: Unix seconds and RFC 3339 text for messages (no date crate needed).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub(crate) fn unix_now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// A per-process pseudo-random number (xorshift over a counter mixed with the clock): the one
/// jitter source of the HTTP backoff and the cache's refresh point. Not for secrets.
pub(crate) fn jitter() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9E37_79B9_7F4A_7C15);
    let mut x = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) ^ seed;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// Exponential backoff: `first` doubled for each attempt after the first (up to 64×), at most
/// `cap`. The one backoff rule of HTTP retries, the cache's failed refreshes and `write --watch`.
pub(crate) fn backoff(attempt: u32, first: Duration, cap: Duration) -> Duration {
    first
        .saturating_mul(1 << attempt.saturating_sub(1).min(6))
        .min(cap)
}

/// `base` plus up to a quarter more, chosen by `draw` (from [`jitter`]): what a server's
/// `Retry-After` is stretched by, in HTTP retries and before the cache's next refresh attempt,
/// so that a fleet refused in the same second does not come back in the same second.
pub(crate) fn plus_up_to_a_quarter(base: Duration, draw: u64) -> Duration {
    // A quarter of any Duration in milliseconds fits a u64 but for absurd ones; `% (q + 1)` <= q.
    let quarter = u64::try_from((base / 4).as_millis()).unwrap_or(u64::MAX - 1);
    base.saturating_add(Duration::from_millis(draw % (quarter + 1)))
}

/// `2026-11-28T14:30:00Z` for a Unix time (proleptic Gregorian, UTC).
pub(crate) fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// "3h 2m 5s" style, for "expired 5m 3s ago".
pub(crate) fn human_duration(secs: i64) -> String {
    let s = secs.unsigned_abs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_876_200), "2026-11-28T14:30:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(human_duration(3725), "1h 2m");
        assert_eq!(human_duration(-61), "1m 1s");
        let s = Duration::from_secs;
        assert_eq!(backoff(1, s(1), s(60)), s(1));
        assert_eq!(backoff(3, s(1), s(60)), s(4));
        assert_eq!(backoff(7, s(1), s(60)), s(60));
        assert_eq!(backoff(0, s(1), s(60)), s(1));
        let ms = Duration::from_millis;
        assert_eq!(plus_up_to_a_quarter(s(1), 0), s(1));
        assert_eq!(plus_up_to_a_quarter(s(1), 250), ms(1250));
        assert_eq!(plus_up_to_a_quarter(s(1), 251), s(1));
        assert_eq!(
            plus_up_to_a_quarter(Duration::ZERO, u64::MAX),
            Duration::ZERO
        );
        assert_eq!(plus_up_to_a_quarter(Duration::MAX, u64::MAX), Duration::MAX);
    }
}
