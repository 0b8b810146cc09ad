//! Shared by the WASI tests: the Rust guests of `guests/`, built on first use.

#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};

/// The guests, built once per test binary.
fn guests_dir() -> &'static Path {
    process_pool_core::backend::conformance::guests()
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
