//! `cargo bench`: the cost of a cached token, through the Rust API and through the C ABI,
//! single-threaded and on every core, with heap allocations counted per call. The peer,
//! measured in the same run, is the least a cache can do: lock a `Mutex<String>` and copy
//! the token out into a caller buffer.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::{CString, c_char};
use std::hint::black_box;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

// The C ABI as C sees it (include/dbtoken.h): `ffi` is not a Rust module of the library.
#[repr(C)]
struct TokenInfo {
    expires_on: i64,
    token_type: [c_char; 32],
    refresh_at: i64,
}
enum Opaque {}
const STATUS_OK: i32 = 0;
unsafe extern "C" {
    fn dbtoken_config_new(out: *mut *mut Opaque) -> i32;
    fn dbtoken_config_set(
        cfg: *mut Opaque,
        key: *const c_char,
        value: *const c_char,
        err: *mut *mut Opaque,
    ) -> i32;
    fn dbtoken_config_free(cfg: *mut Opaque);
    fn dbtoken_client_new(cfg: *const Opaque, out: *mut *mut Opaque, err: *mut *mut Opaque) -> i32;
    fn dbtoken_client_token(
        client: *const Opaque,
        buf: *mut c_char,
        len: usize,
        out_len: *mut usize,
        info: *mut TokenInfo,
        err: *mut *mut Opaque,
    ) -> i32;
    fn dbtoken_client_free(client: *mut Opaque);
}

/// A C client configured through `dbtoken_config_set` (each string NUL-terminated here).
fn c_client(settings: &[(&str, &str)]) -> *mut Opaque {
    let mut cfg = std::ptr::null_mut();
    let mut client = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; the strings are NUL-terminated CStrings
    // that outlive it; cfg is freed once, after dbtoken_client_new copied what it needs.
    unsafe {
        assert_eq!(dbtoken_config_new(&mut cfg), STATUS_OK);
        for (k, v) in settings {
            let (k, v) = (CString::new(*k).unwrap(), CString::new(*v).unwrap());
            let st = dbtoken_config_set(cfg, k.as_ptr(), v.as_ptr(), std::ptr::null_mut());
            assert_eq!(st, STATUS_OK);
        }
        let st = dbtoken_client_new(cfg, &mut client, std::ptr::null_mut());
        dbtoken_config_free(cfg);
        assert_eq!(st, STATUS_OK);
    }
    client
}

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to the system allocator with the caller's own arguments, so
// `Counting` keeps all of `System`'s guarantees; it only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` came from `System` through this allocator, with this layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `p` came from `System` through this allocator, with layout `l`.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const ITERS: u64 = 2_000_000;

/// ns per call of `f` on `threads` threads (each doing ITERS calls), and allocations per call.
fn measure(threads: usize, f: &(dyn Fn() + Sync)) -> (f64, f64) {
    for _ in 0..ITERS / 10 {
        f();
    }
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..ITERS {
                    f();
                }
            });
        }
    });
    let ns = start.elapsed().as_nanos() as f64 / ITERS as f64;
    // Thread spawns allocate; count allocations in a single-threaded pass instead.
    let before = ALLOCS.load(Ordering::SeqCst);
    for _ in 0..ITERS / 10 {
        f();
    }
    let per_call = (ALLOCS.load(Ordering::SeqCst) - before) as f64 / (ITERS / 10) as f64;
    (ns, per_call)
}

fn main() {
    let m = dbtoken_mock::MockServer::start();
    let jwt = std::env::temp_dir().join(format!("dbtoken-bench-{}.jwt", std::process::id()));
    std::fs::write(&jwt, dbtoken_mock::workload_jwt(3600)).unwrap();
    let config = dbtoken::Config::isolated()
        .env("SSL_CERT_FILE", m.ca_path().to_str().unwrap())
        .env("DATABRICKS_HOST", &m.url())
        .env("DATABRICKS_OIDC_TOKEN_FILEPATH", jwt.to_str().unwrap());
    let client = dbtoken::Client::new(config).unwrap();
    let first = client.token().unwrap();

    // The same configuration behind the C ABI (as C, Go and JNI callers use it).
    let c_client = c_client(&[
        ("host", &m.url()),
        ("ca_bundle", m.ca_path().to_str().unwrap()),
        ("oidc_token_filepath", jwt.to_str().unwrap()),
    ]);
    // A raw pointer is not Sync; the C ABI documents the client as shareable, so pass its address.
    let c_addr = c_client as usize;
    let c_call = move || {
        let mut buf = [0 as c_char; 256];
        let mut len = 0usize;
        let mut info = std::mem::MaybeUninit::<TokenInfo>::uninit();
        // SAFETY: the client lives until dbtoken_client_free below; buf, len and info are
        // valid for writes of the sizes given.
        let st = unsafe {
            dbtoken_client_token(
                c_addr as *const Opaque,
                buf.as_mut_ptr(),
                buf.len(),
                &mut len,
                info.as_mut_ptr(),
                std::ptr::null_mut(),
            )
        };
        assert_eq!(st, STATUS_OK);
        black_box(&buf);
    };
    let rust_call = || {
        black_box(client.token().unwrap());
    };
    let peer = Mutex::new(first.access_token().to_string());
    let peer_call = || {
        let mut buf = [0u8; 256];
        let t = peer.lock().unwrap();
        buf[..t.len()].copy_from_slice(t.as_bytes());
        black_box(&buf);
    };

    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    println!("cached token, {ITERS} calls per thread, {cores} cores");
    println!(
        "{:<34} {:>10} {:>14} {:>16}",
        "call", "threads", "ns/call", "allocs/call"
    );
    let mut rows = Vec::new();
    for (name, f) in [
        (
            "dbtoken_client_token (C ABI)",
            &c_call as &(dyn Fn() + Sync),
        ),
        ("Client::token (Rust)", &rust_call),
        ("peer: Mutex<String> + copy", &peer_call),
    ] {
        for threads in [1, cores] {
            let (ns, allocs) = measure(threads, f);
            println!("{name:<34} {threads:>10} {ns:>14.1} {allocs:>16.3}");
            rows.push((name, threads, ns));
        }
    }
    let get = |n: &str, t: usize| {
        rows.iter()
            .find(|r| r.0.starts_with(n) && r.1 == t)
            .unwrap()
            .2
    };
    println!(
        "C ABI / peer: {:.2}x single-threaded, {:.2}x on {cores} threads",
        get("dbtoken_client_token", 1) / get("peer", 1),
        get("dbtoken_client_token", cores) / get("peer", cores)
    );
    assert_eq!(
        client.stats().refreshes,
        1,
        "every measured call must be a cache hit"
    );
    assert_eq!(
        m.count("/oidc/v1/token"),
        2,
        "one exchange per client: every measured call must be a cache hit"
    );
    // SAFETY: no thread uses the client any more.
    unsafe { dbtoken_client_free(c_client) };
    let _ = std::fs::remove_file(jwt);
}
