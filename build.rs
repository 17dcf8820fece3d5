//! Generates the C header from `src/ffi/` into `OUT_DIR` (cargo's rule: build scripts write
//! only there). `tests/header.rs` fails when the committed `include/dbtoken.h` differs;
//! `scripts/update-header.sh` copies it over. Also the static CLI's link flag (below).

use std::env;
use std::path::PathBuf;

fn main() {
    // The static CLI for scratch images (cargo build --profile dist --target
    // x86_64-unknown-linux-musl): its relative relocations packed (DT_RELR, handled by musl's
    // static-pie start code since 1.2.4) shrink from 68 KB to a few KB of its 2.0 MB budget.
    // For the binaries only: a musl cdylib (the musllinux wheel, the Alpine JNI library) must
    // load with any musl 1.2, and musl's dynamic loader reads DT_RELR only from 1.2.4 on.
    // (aarch64-unknown-linux-musl comes out as a non-PIE static executable: nothing to pack.)
    if env::var("TARGET").as_deref() == Ok("x86_64-unknown-linux-musl") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
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
