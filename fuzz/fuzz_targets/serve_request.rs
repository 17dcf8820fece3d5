//! `dbtoken serve`'s request heads: parsing, routing and the protocol's checks never panic,
//! and what they return is consistent (a complete head lies within the input and the 8 KiB
//! cap; a partial one is under the cap; the same head alone parses the same way).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../src/cli/serve/request.rs"]
mod request;

use request::{Head, MAX_HEAD, Policy};

fuzz_target!(|data: &[u8]| {
    let (flags, buf) = match data.split_first() {
        Some((f, rest)) => (*f, rest),
        None => (0, data),
    };
    let policy = Policy {
        token_path: "/token",
        host: "https://adb-1.azuredatabricks.net",
        any_host_header: flags & 1 == 1,
    };
    // The server never hands parse more than MAX_HEAD bytes.
    let buf = &buf[..buf.len().min(MAX_HEAD)];
    match request::parse(buf, &policy) {
        Head::Partial => assert!(buf.len() < MAX_HEAD),
        Head::Complete { len, action, .. } => {
            assert!(len > 0 && len <= buf.len() && len <= MAX_HEAD);
            match request::parse(&buf[..len], &policy) {
                Head::Complete {
                    len: again,
                    action: a2,
                    ..
                } => assert_eq!((again, a2), (len, action)),
                other => panic!("the head alone parsed as {other:?}"),
            }
        }
        Head::Invalid(r) => assert!([400, 431].contains(&r.status), "{r:?}"),
    }
    if let Ok(s) = std::str::from_utf8(buf) {
        let _ = request::loopback_host(s);
        let _ = request::same_host(s, policy.host);
    }
});
