//! The committed `include/dbtoken.h` must be exactly what cbindgen generates from the source.
//! `DBTOKEN_UPDATE_HEADER=1 cargo test --test header` (scripts/update-header.sh) rewrites it,
//! and the Go module's own copy (`bindings/go/dbtoken.h`, so the module needs no path outside it).

const GENERATED: &str = include_str!(concat!(env!("OUT_DIR"), "/dbtoken.h"));
const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/include/dbtoken.h");
const GO_COPY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bindings/go/dbtoken.h");

#[test]
fn committed_header_matches_generated() {
    if std::env::var_os("DBTOKEN_UPDATE_HEADER").is_some() {
        std::fs::write(COMMITTED, GENERATED).unwrap();
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == GENERATED,
        "include/dbtoken.h differs from the header cbindgen generates from src/ffi/; \
         run scripts/update-header.sh and commit the result"
    );
}

#[test]
fn go_module_header_is_a_copy_of_the_committed_one() {
    if std::env::var_os("DBTOKEN_UPDATE_HEADER").is_some() {
        std::fs::write(GO_COPY, GENERATED).unwrap();
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    let go_copy = std::fs::read_to_string(GO_COPY).unwrap_or_default();
    assert!(
        go_copy == committed,
        "bindings/go/dbtoken.h differs from include/dbtoken.h; run scripts/update-header.sh \
         and commit the result"
    );
}

#[test]
fn header_declares_every_export() {
    let src = include_str!("../src/ffi/mod.rs");
    let exports: Vec<&str> = src
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub extern \"C\" fn "))
        .map(|l| l.split('(').next().unwrap())
        .collect();
    assert!(exports.len() >= 15, "{exports:?}");
    for name in exports {
        assert!(name.starts_with("dbtoken_"), "{name}");
        assert!(
            GENERATED.contains(&format!("{name}(")),
            "{name} missing from the header"
        );
    }
}

#[test]
fn every_export_runs_inside_the_boundary() {
    // Each export's body starts with the one macro that does the NULL checks and catch_unwind
    // (src/ffi/tests.rs proves, by a forced panic, that each one then returns its safe value).
    let lines: Vec<&str> = include_str!("../src/ffi/mod.rs").lines().collect();
    let mut n = 0;
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim().strip_prefix("pub extern \"C\" fn ") else {
            continue;
        };
        let name = rest.split('(').next().unwrap();
        let open = (i..lines.len()).find(|&j| lines[j].ends_with('{')).unwrap();
        let first = lines.get(open + 1).copied().unwrap_or_default();
        assert!(
            first.trim_start().starts_with("ffi_boundary!("),
            "{name} must begin with ffi_boundary!, found: {first}"
        );
        n += 1;
    }
    assert!(n >= 15, "found {n} exports");
}

#[test]
fn status_name_takes_a_plain_int() {
    assert!(GENERATED.contains("const char *dbtoken_status_name(int status);"));
}
