//! Generates the C header from `src/ffi/` into `OUT_DIR` (cargo's rule: build scripts write
//! only there). `tests/header.rs` fails when the committed `include/dbtoken.h` differs;
//! `scripts/update-header.sh` copies it over.

use std::env;
use std::path::PathBuf;

fn main() {
    // cbindgen reads the whole crate (a public type met anywhere can reach the header), so a
    // change anywhere in src/ regenerates it; watching only src/ffi left a stale header.
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("dbtoken.h");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is valid");
    cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate the header")
        .write_to_file(out);
}
