//! Link settings for the `event-publisher` binary on Linux, for start-up
//! time: a hook process lives a few milliseconds, and much of that is spent
//! before and around `main`. Only the binary: proc-macros and the library
//! are unaffected.
//!
//! - Static, non-PIE (x86_64 glibc, set in `.cargo/config.toml`:
//!   `+crt-static` with `relocation-model=static`): no dynamic loader at
//!   all. Nothing to add here; `-no-pie` must then stay off, since with
//!   `+crt-static` alone rustc links a static-PIE, and `-no-pie` on top of
//!   that makes a hybrid that crashes at start.
//! - Non-PIE, dynamic (other glibc targets, or the flags overridden): a
//!   position-independent executable spends a measurable part of its start
//!   in the dynamic loader, relocating the binary's own pointers (vtables,
//!   string tables). Linking the (still position-independent) code at a
//!   fixed address resolves those at link time.
//! - Code order (`hook.order`, written by `benches/hook-order.sh`): the
//!   functions a hook call runs are placed next to each other, so that the
//!   process faults in a few pages of code instead of a 64 KB window around
//!   each function scattered over the whole text. Needs lld, rustc's
//!   default linker for x86_64-unknown-linux-gnu since Rust 1.90; names the
//!   linker does not know (after a toolchain update) are skipped.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=hook.order");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" {
        return;
    }
    let crt_static = var("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|f| f == "crt-static");
    if !crt_static {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    if uses_rust_lld(&var) {
        let order = Path::new(&var("CARGO_MANIFEST_DIR")).join("hook.order");
        if order.is_file() {
            println!(
                "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
                order.display()
            );
            println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
        }
    }
}

/// Whether the binary is linked by rustc's own lld: its default on
/// x86_64-unknown-linux-gnu since 1.90, unless a linker is configured.
fn uses_rust_lld(var: &dyn Fn(&str) -> String) -> bool {
    if var("TARGET") != "x86_64-unknown-linux-gnu" || !var("RUSTC_LINKER").is_empty() {
        return false;
    }
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    if flags.contains("linker") || flags.contains("fuse-ld") {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("-vV").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let release = text
        .lines()
        .find_map(|l| l.strip_prefix("release: "))
        .unwrap_or_default();
    let mut parts = release
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (1, 90)
}
