//! Shared by the WASI tests: the Rust guests of `guests/`, built on first use.

#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The target directory this test runs from: `<target>/debug/deps/<test>` → `<target>`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    exe.ancestors()
        .nth(3)
        .expect("tests run from <target>/<profile>/deps")
        .to_path_buf()
}

/// Builds the guests once per test binary with `cargo xtask guests` (a no-op when they are up
/// to date) and returns where they are.
fn guests_dir() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target = target_dir();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(root)
            .args(["run", "--quiet", "--package", "xtask", "--", "guests"])
            .env("CARGO_TARGET_DIR", &target)
            .status()
            .expect("cargo can be started");
        assert!(
            status.success(),
            "`cargo xtask guests` failed ({status}): the WASI tests need the guests; \
             see its message above"
        );
        target.join("guests")
    })
}

/// The `wasm32-wasip1` build of the guest `name`.
pub(crate) fn guest(name: &str) -> PathBuf {
    guests_dir()
        .join("wasm32-wasip1/release")
        .join(format!("{name}.wasm"))
}

/// The `wasm32-wasip2` build (a command component) of the guest `name`.
pub(crate) fn component(name: &str) -> PathBuf {
    guests_dir()
        .join("wasm32-wasip2/release")
        .join(format!("{name}.wasm"))
}

/// The native build of `wordcount`.
pub(crate) fn native_wordcount() -> PathBuf {
    guests_dir().join("release/wordcount")
}
