//! The boundary itself: a panic forced inside every export (through the test-only hook in
//! [`super::guarded`], compiled only into these unit tests) comes out as the export's
//! documented value, never as an unwind into C.

use std::cell::Cell;
use std::ffi::{CStr, c_char, c_int};
use std::ptr;

use super::*;

thread_local! {
    static FORCE_PANIC: Cell<bool> = const { Cell::new(false) };
}

/// Called by `guarded` before every export's body: panics once after [`force_panic`].
pub(super) fn panic_if_forced() {
    if FORCE_PANIC.with(|f| f.replace(false)) {
        panic!("panic forced by a dbtoken ffi test");
    }
}

/// Make the next export called on this thread panic inside its boundary.
fn force_panic() {
    FORCE_PANIC.with(|f| f.set(true));
}

fn text(p: *const c_char) -> String {
    assert!(!p.is_null());
    // SAFETY: non-NULL, and every string this library returns is NUL-terminated.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string()
}

/// An error object holding a caught panic, freed here.
fn assert_panic_error(e: *mut dbtoken_error) {
    assert!(!e.is_null(), "a panic must leave an error object");
    assert_eq!(dbtoken_error_status(e), dbtoken_status::Panic);
    assert!(text(dbtoken_error_message(e)).contains("panicked"));
    assert_eq!(dbtoken_error_http_status(e), 0);
    dbtoken_error_free(e);
}

fn pat_client() -> *mut dbtoken_client {
    let config = Config::isolated()
        .with("host", "https://adb-1.2.azuredatabricks.net")
        .unwrap()
        .with("token", "dapi-test-token")
        .unwrap();
    Box::into_raw(Box::new(dbtoken_client {
        inner: Client::new(config).unwrap(),
    }))
}

fn an_error() -> *mut dbtoken_error {
    let mut err = ptr::null_mut();
    let mut cfg = ptr::null_mut();
    assert_eq!(dbtoken_config_new(&mut cfg), dbtoken_status::Ok);
    let st = dbtoken_config_set(cfg, c"no_such_key".as_ptr(), c"x".as_ptr(), &mut err);
    assert_eq!(st, dbtoken_status::Config);
    dbtoken_config_free(cfg);
    err
}

/// The names of the exports in src/ffi/mod.rs.
fn exports() -> Vec<&'static str> {
    include_str!("mod.rs")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub extern \"C\" fn "))
        .map(|l| l.split('(').next().unwrap())
        .collect()
}

#[test]
fn a_panic_in_every_export_gives_its_documented_value() {
    let mut covered = Vec::new();
    let mut forced = |name: &'static str| {
        covered.push(name);
        force_panic();
    };
    let was_consumed = || !FORCE_PANIC.with(Cell::get);

    forced("dbtoken_version");
    assert_eq!(text(dbtoken_version()), "unknown");
    assert!(was_consumed());

    forced("dbtoken_status_name");
    assert_eq!(text(dbtoken_status_name(5)), "unknown");
    assert!(was_consumed());

    let mut cfg = ptr::null_mut();
    forced("dbtoken_config_new");
    assert_eq!(dbtoken_config_new(&mut cfg), dbtoken_status::Panic);
    assert!(cfg.is_null(), "out-params are written only on success");
    assert!(was_consumed());

    assert_eq!(dbtoken_config_new(&mut cfg), dbtoken_status::Ok);
    let mut err = ptr::null_mut();
    forced("dbtoken_config_set");
    let st = dbtoken_config_set(cfg, c"host".as_ptr(), c"https://h".as_ptr(), &mut err);
    assert_eq!(st, dbtoken_status::Panic);
    assert_panic_error(err);
    assert!(was_consumed());

    forced("dbtoken_config_free");
    dbtoken_config_free(cfg); // leaked by the panic, as documented: free it for real below
    assert!(was_consumed());
    dbtoken_config_free(cfg);

    let mut client = ptr::null_mut();
    let mut err = ptr::null_mut();
    forced("dbtoken_client_new");
    assert_eq!(
        dbtoken_client_new(ptr::null(), &mut client, &mut err),
        dbtoken_status::Panic
    );
    assert!(client.is_null());
    assert_panic_error(err);
    assert!(was_consumed());

    let client = pat_client();
    let mut buf = [0 as c_char; 64];
    let mut len = 12345usize;
    let mut err = ptr::null_mut();
    forced("dbtoken_client_token");
    let st = dbtoken_client_token(
        client,
        buf.as_mut_ptr(),
        buf.len(),
        &mut len,
        ptr::null_mut(),
        &mut err,
    );
    assert_eq!(st, dbtoken_status::Panic);
    assert_eq!(len, 12345, "out-params are written only on success");
    assert_panic_error(err);
    assert!(was_consumed());
    // A NULL err is fine too: the status alone reports the panic.
    forced("dbtoken_client_token");
    let st = dbtoken_client_token(
        client,
        buf.as_mut_ptr(),
        buf.len(),
        &mut len,
        ptr::null_mut(),
        ptr::null_mut(),
    );
    assert_eq!(st, dbtoken_status::Panic);
    // The client still works after a caught panic.
    let st = dbtoken_client_token(
        client,
        buf.as_mut_ptr(),
        buf.len(),
        &mut len,
        ptr::null_mut(),
        ptr::null_mut(),
    );
    assert_eq!(st, dbtoken_status::Ok);
    assert_eq!(len, "dapi-test-token".len());

    let mut stats = dbtoken_stats::default();
    forced("dbtoken_client_stats");
    assert_eq!(
        dbtoken_client_stats(client, &mut stats),
        dbtoken_status::Panic
    );
    assert!(was_consumed());

    forced("dbtoken_client_free");
    dbtoken_client_free(client);
    assert!(was_consumed());
    dbtoken_client_free(client);

    let e = an_error();
    forced("dbtoken_error_status");
    assert_eq!(dbtoken_error_status(e), dbtoken_status::Panic);
    forced("dbtoken_error_message");
    assert!(dbtoken_error_message(e).is_null());
    forced("dbtoken_error_server_error");
    assert!(dbtoken_error_server_error(e).is_null());
    forced("dbtoken_error_server_description");
    assert!(dbtoken_error_server_description(e).is_null());
    forced("dbtoken_error_http_status");
    assert_eq!(dbtoken_error_http_status(e), 0);
    forced("dbtoken_error_free");
    dbtoken_error_free(e);
    assert!(was_consumed());
    // Unharmed by all of that.
    assert_eq!(dbtoken_error_status(e), dbtoken_status::Config);
    dbtoken_error_free(e);

    let mut all = exports();
    all.sort_unstable();
    covered.sort_unstable();
    covered.dedup();
    assert_eq!(
        covered, all,
        "every export must be tested under a forced panic"
    );
}

#[test]
fn status_name_answers_unknown_out_of_range() {
    for n in [9, 99, 1000, -1, c_int::MIN, c_int::MAX] {
        assert_eq!(text(dbtoken_status_name(n)), "unknown", "{n}");
    }
    let names = [
        "DBTOKEN_STATUS_OK",
        "DBTOKEN_STATUS_INVALID_ARGUMENT",
        "DBTOKEN_STATUS_BUFFER_TOO_SMALL",
        "DBTOKEN_STATUS_CONFIG",
        "DBTOKEN_STATUS_FEDERATED_TOKEN",
        "DBTOKEN_STATUS_REJECTED",
        "DBTOKEN_STATUS_TRANSIENT",
        "DBTOKEN_STATUS_IO",
        "DBTOKEN_STATUS_PANIC",
    ];
    for (n, name) in names.iter().enumerate() {
        let n = c_int::try_from(n).unwrap();
        assert_eq!(text(dbtoken_status_name(n)), *name);
        assert_eq!(dbtoken_status::from_int(n).map(|s| s as c_int), Some(n));
    }
}

#[test]
fn null_arguments_are_named_by_the_boundary() {
    let mut err = ptr::null_mut();
    let st = dbtoken_config_set(ptr::null_mut(), c"host".as_ptr(), ptr::null(), &mut err);
    assert_eq!(st, dbtoken_status::InvalidArgument);
    assert_eq!(
        text(dbtoken_error_message(err)),
        "argument 'cfg' must not be NULL"
    );
    dbtoken_error_free(err);

    let client = pat_client();
    let mut err = ptr::null_mut();
    let st = dbtoken_client_token(
        client,
        ptr::null_mut(),
        0,
        ptr::null_mut(),
        ptr::null_mut(),
        &mut err,
    );
    assert_eq!(st, dbtoken_status::InvalidArgument);
    assert_eq!(
        text(dbtoken_error_message(err)),
        "argument 'token_len' must not be NULL"
    );
    dbtoken_error_free(err);
    dbtoken_client_free(client);
}
