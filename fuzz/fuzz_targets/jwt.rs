//! The federated JWT: claims decoding, then the expiry/not-before check against a clock that
//! the input chooses too (so extreme `now` values are explored as well).
//!
//! Input: 8 bytes `now` (little-endian i64), 1 mode byte, then either the token text (odd
//! mode) or `header JSON \0 payload JSON` that the target base64url-encodes (even mode), so the
//! fuzzer reaches the claims without having to discover base64 first.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((now, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let now = i64::from_le_bytes(*now);
    let Some((mode, rest)) = rest.split_first() else {
        return;
    };
    let raw = mode % 2 == 1;
    let token = if raw {
        match std::str::from_utf8(rest) {
            Ok(t) => t.to_string(),
            Err(_) => return,
        }
    } else {
        let mut parts = rest.splitn(2, |b| *b == 0);
        let header = parts.next().unwrap_or_default();
        let payload = parts.next().unwrap_or_default();
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        )
    };
    if let Err(why) = dbtoken::fuzzing::jwt(&token, now) {
        // Errors describe the token; they never repeat it. (Checked on built tokens only: a raw
        // token may itself be a piece of an error message's fixed text.)
        assert!(
            raw || !why.contains(token.as_str()),
            "error echoes the token"
        );
    }
});
