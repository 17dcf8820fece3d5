//! The `.databrickscfg` INI reader: any text gives sections or a line-numbered refusal.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match dbtoken::fuzzing::databrickscfg(text) {
        Ok(sections) => {
            for (name, keys) in sections {
                assert!(!name.contains('\n'));
                for (k, v) in keys {
                    assert!(!k.contains('\n') && !v.contains('\n'));
                }
            }
        }
        Err((line, why)) => {
            assert!(
                line >= 1 && line <= text.lines().count(),
                "line {line} out of range"
            );
            assert!(!why.is_empty());
        }
    }
});
