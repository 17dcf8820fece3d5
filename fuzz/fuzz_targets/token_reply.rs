//! A token endpoint's reply: first 2 bytes the HTTP status, the rest the body. The parser must
//! give a token or an error, never panic, and never let the subject token reach the message.
#![no_main]

use libfuzzer_sys::fuzz_target;

const SECRET: &str = "eyJfuzz.subject.token";

fuzz_target!(|data: &[u8]| {
    let Some((status, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    // Mostly 200 (the interesting parser), else any status from 100 to 999.
    let status = match u16::from_le_bytes(*status) % 1000 {
        s if s < 100 || s >= 600 => 200,
        s => s,
    };
    let Ok(body) = std::str::from_utf8(body) else {
        return;
    };
    match dbtoken::fuzzing::token_reply(status, body, Some(SECRET)) {
        Ok((token, kind, _ttl)) => assert!(!token.is_empty() && !kind.is_empty()),
        Err(e) => {
            let shown = format!(
                "{e} {e:?} {:?} {:?}",
                e.server_error(),
                e.server_description()
            );
            assert!(
                !shown.contains(SECRET),
                "the subject token leaked into an error"
            );
        }
    }
});
