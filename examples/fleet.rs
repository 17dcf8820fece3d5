//! The fleet simulation of issue 19: `bench/fleet.sh` (N = 2,000) and a small, bounded run in
//! `tests/all.sh`. Build: `cargo run --release --features bench --example fleet -- --help`.
//!
//! Two fleets run at once, one per refresh rule, each against its own rate-limited loopback
//! mock (HTTPS, `dbtoken_mock::RateLimit`): "before" refreshes every token at the SDKs' point
//! (`Client::without_refresh_jitter`, the `bench` feature's knob), "after" draws its point in
//! the window (`src/cache.rs`). A fleet is N separate `Client`s, as N pods would hold, started
//! within one second; each has its own caller thread that asks for a token every `--poll-ms`
//! (a cache hit but for refreshes) and checks what it got: an error, a token whose expiry is
//! in the past or within the 40 s margin, or one the mock no longer accepts all count as
//! failures. Callers sleep between calls (small stacks; no spinning).
//!
//! Figures per refresh cycle (cycle k = every client's k-th refresh; the start is cycle 0):
//! peak exchanges per second at the mock (429s included), the spread (p5-p95) of the instants
//! callers started their refresh, and the 429s the mock sent in that cycle's span. With
//! `--check` it exits non-zero unless every client did every cycle with no failure under
//! either rule and the "after" peak of every refresh cycle is at most half the "before" one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use dbtoken::{Client, Config, EXPIRY_MARGIN};
use dbtoken_mock::{Exchange, MockServer, RateLimit};

const USAGE: &str = "usage: fleet [--clients N] [--ttl SECS] [--cycles K] [--rate PER_SECOND] \
[--burst N] [--poll-ms MS] [--check]

Defaults: 2000 clients per rule, 120 s tokens, 3 refresh cycles, a caller asking every
1000 ms, a rate limit of N/10 per second in bursts of N/4 on each mock: the fleet's tokens
can all be renewed within ten seconds, not within one.";

/// Callers only sleep and call `token()`; TLS handshakes fit well within this.
const CALLER_STACK: usize = 256 * 1024;

#[derive(Clone, Copy, Debug)]
struct Options {
    clients: usize,
    ttl: u64,
    cycles: usize,
    rate: u64,
    burst: u64,
    poll: Duration,
    check: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        clients: 2000,
        ttl: 120,
        cycles: 3,
        rate: 0,
        burst: 0,
        poll: Duration::from_millis(1000),
        check: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |lo: u64, hi: u64| -> Result<u64, String> {
            let v = it.next().ok_or(format!("{a} needs a value"))?;
            v.parse::<u64>()
                .ok()
                .filter(|n| (lo..=hi).contains(n))
                .ok_or(format!("{a} must be {lo}..={hi}, got '{v}'"))
        };
        match a.as_str() {
            "--clients" => o.clients = num(1, 20_000)? as usize,
            // Jitter needs 80 s or more; three cycles of a day's token are no simulation.
            "--ttl" => o.ttl = num(80, 3600)?,
            "--cycles" => o.cycles = num(1, 10)? as usize,
            "--rate" => o.rate = num(1, u64::from(dbtoken_mock::MAX_RATE))?,
            "--burst" => o.burst = num(1, u64::from(dbtoken_mock::MAX_RATE))?,
            "--poll-ms" => o.poll = Duration::from_millis(num(10, 10_000)?),
            "--check" => o.check = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    let n = o.clients as u64;
    if o.rate == 0 {
        o.rate = (n / 10).max(1);
    }
    if o.burst == 0 {
        o.burst = (n / 4).max(1);
    }
    Ok(o)
}

/// What one client's caller saw.
#[derive(Debug, Default)]
struct ClientLog {
    /// For each token obtained (the first, then one per refresh): when the call that got it
    /// started and ended, from the run's start.
    tokens: Vec<(Duration, Duration)>,
    calls: u64,
    /// Refreshes that failed in the cache (after the HTTP layer's own retries).
    failed_refreshes: u64,
    errors: u64,
    expired: u64,
    rejected: u64,
    first_error: Option<String>,
}

/// Whether a token handed out at `now` or later was expired: its expiry in the past or within
/// the margin the cache promises to keep. `now` is read just before the call, so a token that
/// crossed the line during the call (the cache decides at one instant inside it) is not
/// counted, and one that is counted was certainly handed out too late.
fn is_expired(expires_at: Option<SystemTime>, now: SystemTime) -> bool {
    let limit = now.checked_add(EXPIRY_MARGIN);
    expires_at.is_none_or(|e| limit.is_none_or(|l| e <= l))
}

fn caller(
    client: Client,
    mock: &MockServer,
    t0: Instant,
    offset: Duration,
    poll: Duration,
    cycles: usize,
    deadline: Instant,
) -> ClientLog {
    let mut log = ClientLog::default();
    let mut last: Option<String> = None;
    let mut next = t0 + offset;
    while log.tokens.len() <= cycles {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if next > now {
            std::thread::sleep(next - now);
        }
        next += poll;
        let started = Instant::now();
        let wall = SystemTime::now();
        let got = client.token();
        let ended = Instant::now();
        log.calls += 1;
        match got {
            Err(e) => {
                log.errors += 1;
                log.first_error.get_or_insert_with(|| e.to_string());
            }
            Ok(token) => {
                if is_expired(token.expires_at(), wall) {
                    log.expired += 1;
                }
                if !mock.is_issued(token.access_token()) {
                    log.rejected += 1;
                }
                if last.as_deref() != Some(token.access_token()) {
                    log.tokens.push((started - t0, ended - t0));
                    last = Some(token.access_token().to_string());
                }
            }
        }
    }
    log.failed_refreshes = client.stats().failures;
    log
}

/// One fleet: its rule, its mock, its clients (until they run), then what they saw.
struct Fleet {
    name: &'static str,
    mock: Arc<MockServer>,
    clients: Vec<Client>,
    logs: Vec<ClientLog>,
    _jwt_dir: TempDir,
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fleet(name: &'static str, jitter: bool, o: &Options) -> Result<Fleet, String> {
    let mock = Arc::new(MockServer::start());
    mock.set_default_token_ttl(o.ttl);
    mock.set_default_rate_limit(Some(RateLimit::new(o.rate as f64, o.burst)?));
    let dir = std::env::temp_dir().join(format!("dbtoken-fleet-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let dir = TempDir(dir);
    let jwt = write(&dir.0, "token", &dbtoken_mock::workload_jwt(24 * 3600))?;
    let ca = mock.ca_path();
    let config = Config::isolated()
        .env("SSL_CERT_FILE", &ca.to_string_lossy())
        .env("DATABRICKS_HOST", &mock.url())
        .env("DATABRICKS_OIDC_TOKEN_FILEPATH", &jwt.to_string_lossy());
    let clients = (0..o.clients)
        .map(|_| {
            let c = Client::new(config.clone()).map_err(|e| e.to_string())?;
            Ok(if jitter {
                c
            } else {
                c.without_refresh_jitter()
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Fleet {
        name,
        mock,
        clients,
        logs: Vec::new(),
        _jwt_dir: dir,
    })
}

fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf, String> {
    let p = dir.join(name);
    std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(p)
}

/// `p`-th percentile (nearest rank) of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p / 100.0).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The figures of one cycle of one fleet.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Cycle {
    clients: usize,
    /// Most exchanges the mock saw in one second (aligned on the run's start) of the span.
    peak: usize,
    refused: usize,
    p5: f64,
    p95: f64,
}

/// Cycle `k` of a fleet: the k-th token of every client that got one; its span runs from the
/// first such call's start to the last one's end.
fn cycle(logs: &[ClientLog], exchanges: &[Exchange], t0: Instant, k: usize) -> Option<Cycle> {
    let calls: Vec<(Duration, Duration)> = logs
        .iter()
        .filter_map(|l| l.tokens.get(k))
        .copied()
        .collect();
    let from = calls.iter().map(|c| c.0).min()?;
    let to = calls.iter().map(|c| c.1).max()?;
    let in_span: Vec<Exchange> = exchanges
        .iter()
        .filter(|e| (t0 + from..=t0 + to).contains(&e.at))
        .copied()
        .collect();
    let seconds = dbtoken_mock::per_second(&in_span, t0);
    let mut starts: Vec<f64> = calls.iter().map(|c| c.0.as_secs_f64()).collect();
    starts.sort_by(f64::total_cmp);
    Some(Cycle {
        clients: calls.len(),
        peak: seconds.iter().map(|s| s.requests).max().unwrap_or(0),
        refused: in_span.iter().filter(|e| e.status == 429).count(),
        p5: percentile(&starts, 5.0),
        p95: percentile(&starts, 95.0),
    })
}

/// `VmHWM` and `Threads` style fields of /proc/self/status (kB or a count).
fn proc_status(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':').map(str::to_string))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse(&args) {
        Ok(o) => o,
        Err(msg) => {
            let code = if msg.is_empty() { 0 } else { 2 };
            eprintln!(
                "{}{USAGE}",
                if msg.is_empty() {
                    String::new()
                } else {
                    format!("fleet: {msg}\n")
                }
            );
            return ExitCode::from(code);
        }
    };
    match run(&o) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("fleet: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(o: &Options) -> Result<bool, String> {
    let rss_before = proc_status("VmRSS");
    let mut fleets = vec![fleet("before", false, o)?, fleet("after", true, o)?];
    let rss_clients = proc_status("VmRSS").saturating_sub(rss_before);
    // The SDKs' point (src/cache.rs timeline), the latest the window reaches.
    let stale = o.ttl - (o.ttl / 2).min(dbtoken::MAX_REFRESH_AHEAD.as_secs());
    println!(
        "fleet: {} clients per rule, both rules at once, each fleet against its own loopback mock \
         limited to {}/s in bursts of {}; {} s tokens (rule's refresh point {} s, window from {:.1} s), \
         a caller per client every {} ms, {} refresh cycles",
        o.clients,
        o.rate,
        o.burst,
        o.ttl,
        stale,
        stale as f64 * 0.8,
        o.poll.as_millis(),
        o.cycles
    );

    // Every caller starts within the first second after t0; threads spawn before it.
    let t0 = Instant::now() + Duration::from_secs(2);
    let deadline = t0 + Duration::from_secs(o.ttl * (o.cycles as u64 + 1) + 120);
    let mut handles = Vec::new();
    for (f, fleet) in fleets.iter_mut().enumerate() {
        let n = fleet.clients.len();
        for (i, client) in fleet.clients.drain(..).enumerate() {
            let mock = Arc::clone(&fleet.mock);
            let offset = Duration::from_secs(1) * i as u32 / n as u32;
            let (poll, cycles) = (o.poll, o.cycles);
            let h = std::thread::Builder::new()
                .stack_size(CALLER_STACK)
                .spawn(move || caller(client, &mock, t0, offset, poll, cycles, deadline))
                .map_err(|e| format!("spawning caller {i}: {e}"))?;
            handles.push((f, h));
        }
    }
    if Instant::now() > t0 {
        eprintln!("fleet: warning: spawning the callers took past the start");
    }
    // Peak threads and RSS while it runs.
    let watch = {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let h = std::thread::spawn(move || {
            let mut threads = 0;
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                threads = threads.max(proc_status("Threads"));
                std::thread::sleep(Duration::from_millis(500));
            }
            threads
        });
        (stop, h)
    };
    for (f, h) in handles {
        let log = h.join().map_err(|_| "a caller panicked".to_string())?;
        fleets[f].logs.push(log);
    }
    let wall = t0.elapsed();
    watch.0.store(true, std::sync::atomic::Ordering::Relaxed);
    let threads = watch.1.join().unwrap_or(0);

    // Figures.
    let mut table: Vec<Vec<Option<Cycle>>> = Vec::new();
    let mut ok = true;
    for fleet in &fleets {
        let ex = fleet.mock.exchanges();
        table.push(
            (0..=o.cycles)
                .map(|k| cycle(&fleet.logs, &ex, t0, k))
                .collect(),
        );
    }
    let header: String = (0..=o.cycles)
        .map(|k| {
            if k == 0 {
                format!("{:>20}", "start")
            } else {
                format!("{:>20}", format!("cycle {k}"))
            }
        })
        .collect();
    println!("\n{:<36}{header}", "");
    type Figure = fn(&Cycle) -> String;
    let rows: [(&str, Figure); 4] = [
        ("clients with the token", |c| c.clients.to_string()),
        ("peak exchanges/s (429s too)", |c| c.peak.to_string()),
        ("refresh at p5-p95 (s)", |c| {
            format!("{:.1}-{:.1} ({:.1})", c.p5, c.p95, c.p95 - c.p5)
        }),
        ("429s received", |c| c.refused.to_string()),
    ];
    for (label, figure) in rows {
        for (fleet, cycles) in fleets.iter().zip(&table) {
            let cells: String = cycles
                .iter()
                .map(|c| format!("{:>20}", c.as_ref().map_or("-".to_string(), figure)))
                .collect();
            println!("{:<36}{cells}", format!("{label} {}", fleet.name));
        }
    }
    println!();
    for fleet in &fleets {
        let sum = |f: fn(&ClientLog) -> u64| fleet.logs.iter().map(f).sum::<u64>();
        let ex = fleet.mock.exchanges();
        let refused = ex.iter().filter(|e| e.status == 429).count();
        let done = fleet
            .logs
            .iter()
            .filter(|l| l.tokens.len() > o.cycles)
            .count();
        println!(
            "{:<6}: {} caller requests: {} errors, {} expired tokens, {} tokens the mock refused; \
             {} of {} clients did every cycle; the mock saw {} exchanges, {} answered 429; \
             {} refreshes failed after the HTTP layer's retries",
            fleet.name,
            sum(|l| l.calls),
            sum(|l| l.errors),
            sum(|l| l.expired),
            sum(|l| l.rejected),
            done,
            fleet.logs.len(),
            ex.len(),
            refused,
            sum(|l| l.failed_refreshes),
        );
        if let Some(e) = fleet.logs.iter().find_map(|l| l.first_error.as_ref()) {
            println!("        first error: {e}");
        }
        let failures = sum(|l| l.errors) + sum(|l| l.expired) + sum(|l| l.rejected);
        if o.check && (failures > 0 || done < fleet.logs.len()) {
            println!(
                "CHECK FAILED: {}: {failures} failed caller requests, {done} of {} clients complete",
                fleet.name,
                fleet.logs.len()
            );
            ok = false;
        }
    }
    // Refresh cycles side by side: (cycle, before, after).
    let pairs: Vec<(usize, Option<Cycle>, Option<Cycle>)> = table[0]
        .iter()
        .zip(&table[1])
        .enumerate()
        .skip(1)
        .map(|(k, (b, a))| (k, *b, *a))
        .collect();
    let ratios: Vec<String> = pairs
        .iter()
        .map(|(_, b, a)| match (b, a) {
            (Some(b), Some(a)) if a.peak > 0 => format!("{:.1}", b.peak as f64 / a.peak as f64),
            _ => "-".to_string(),
        })
        .collect();
    println!(
        "peak exchanges/s, before/after, per refresh cycle: {}",
        ratios.join(", ")
    );
    if o.check {
        for (k, b, a) in &pairs {
            let (b, a) = (b.map_or(0, |c| c.peak), a.map_or(usize::MAX, |c| c.peak));
            if a.saturating_mul(2) > b {
                println!(
                    "CHECK FAILED: cycle {k}: after's peak {a}/s is not at most half of before's {b}/s"
                );
                ok = false;
            }
        }
    }
    let (hwm, all) = (proc_status("VmHWM"), o.clients as u64 * 2);
    println!(
        "process: {:.0} s from the start; peak RSS {} MiB with {} threads at most, for {all} \
         clients with a connection each, their callers and both mocks ({} KiB a client; \
         a client before its first token: {} KiB)",
        wall.as_secs_f64(),
        hwm / 1024,
        threads,
        hwm / all,
        rss_clients / all,
    );
    if o.check {
        println!("fleet check: {}", if ok { "passed" } else { "FAILED" });
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_means_past_or_within_the_margin() {
        let now = SystemTime::now();
        let s = Duration::from_secs;
        assert!(is_expired(None, now));
        assert!(is_expired(Some(now - s(1)), now));
        assert!(is_expired(Some(now), now));
        assert!(is_expired(Some(now + EXPIRY_MARGIN), now));
        assert!(!is_expired(
            Some(now + EXPIRY_MARGIN + Duration::from_millis(1)),
            now
        ));
        assert!(!is_expired(Some(now + s(3600)), now));
    }

    #[test]
    fn cycles_take_the_kth_token_of_each_client_and_the_exchanges_in_its_span() {
        let t0 = Instant::now();
        let s = |x: f64| Duration::from_secs_f64(x);
        let log = |tokens: &[(f64, f64)]| ClientLog {
            tokens: tokens.iter().map(|&(a, b)| (s(a), s(b))).collect(),
            ..ClientLog::default()
        };
        let logs = [
            log(&[(0.0, 0.1), (60.0, 60.2)]),
            log(&[(0.5, 0.6), (60.5, 61.5)]),
            log(&[(0.9, 1.0)]),
        ];
        let at = |x: f64, status| Exchange {
            at: t0 + s(x),
            status,
        };
        let ex = [
            at(0.05, 200),
            at(0.55, 200),
            at(0.95, 200),
            at(60.1, 200),
            at(60.6, 429),
            at(61.4, 200),
            at(90.0, 200),
        ];
        let c0 = cycle(&logs, &ex, t0, 0).unwrap();
        assert_eq!((c0.clients, c0.peak, c0.refused), (3, 3, 0));
        assert_eq!((c0.p5, c0.p95), (0.0, 0.9));
        let c1 = cycle(&logs, &ex, t0, 1).unwrap();
        assert_eq!((c1.clients, c1.peak, c1.refused), (2, 2, 1));
        assert_eq!((c1.p5, c1.p95), (60.0, 60.5));
        assert_eq!(cycle(&logs, &ex, t0, 2), None);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (0..=100).map(f64::from).collect();
        assert_eq!((percentile(&v, 5.0), percentile(&v, 95.0)), (5.0, 95.0));
        assert_eq!(percentile(&[7.0], 95.0), 7.0);
        assert!(percentile(&[], 5.0).is_nan());
    }

    #[test]
    fn options_are_bounded_and_the_limit_follows_the_fleet() {
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let o = parse(&args("--clients 200 --ttl 90 --cycles 2 --check")).unwrap();
        assert_eq!(
            (o.clients, o.ttl, o.cycles, o.rate, o.burst, o.check),
            (200, 90, 2, 20, 50, true)
        );
        assert!(parse(&args("--ttl 60")).is_err(), "no jitter under 80 s");
        assert!(parse(&args("--clients 0")).is_err());
        assert!(parse(&args("--clients")).is_err());
        assert!(parse(&args("--rate 99999999999")).is_err());
        assert!(parse(&args("--bogus")).is_err());
    }
}
