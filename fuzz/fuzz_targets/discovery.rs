//! Endpoint discovery documents: first byte picks the document (OAuth authorization-server
//! metadata or `/.well-known/databricks-config`, with or without a configured account id).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((which, body)) = data.split_first() else {
        return;
    };
    let Ok(body) = std::str::from_utf8(body) else {
        return;
    };
    match which % 3 {
        0 => {
            if let Some(url) = dbtoken::fuzzing::oauth_metadata(body) {
                // Only https (or http to loopback) endpoints are ever used.
                let lower = url.to_ascii_lowercase();
                assert!(lower.starts_with("https://") || lower.starts_with("http://"));
            }
        }
        n => {
            let configured = (n == 2).then_some("acct-1234");
            let (account, doc) = dbtoken::fuzzing::databricks_config(body, configured);
            if configured.is_some() {
                assert_eq!(account.as_deref(), configured);
            }
            if let Some(doc) = doc {
                assert!(doc.ends_with("/.well-known/oauth-authorization-server"));
                assert!(!doc.contains("{account_id}"));
            }
        }
    }
});
