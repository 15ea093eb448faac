//! Links the `event-publisher` binary as a non-PIE executable on Linux.
//!
//! A hook process lives a few milliseconds, and a position-independent
//! executable spends a measurable part of that in the dynamic loader,
//! relocating the binary's own pointers (vtables, string tables) before
//! `main`. Linking the (still position-independent) code at a fixed address
//! resolves those at link time. Only the binary: proc-macros and the library
//! are unaffected.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
