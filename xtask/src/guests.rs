//! `cargo xtask guests`: build the Rust guest programs in `guests/` for `wasm32-wasip1` and
//! `wasm32-wasip2`, and `wordcount` and `hostile-worker` natively, into `target/guests/`.
//!
//! The outputs are `target/guests/<triple>/release/<name>.wasm` and
//! `target/guests/release/{wordcount,hostile-worker}`. The tests and benchmarks that run guests
//! call this task first (cargo makes it a no-op when nothing changed).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};

use crate::cmd::Cargo;
use crate::target_dir;

/// The wasm targets the guests are built for.
pub(crate) const TARGETS: [&str; 2] = ["wasm32-wasip1", "wasm32-wasip2"];

/// Builds every guest for both wasm targets, and the native `wordcount` and `hostile-worker`.
pub(crate) fn guests(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("`cargo xtask guests` takes no arguments, got `{arg}`");
    }
    build()
}

/// Builds the guests (see the module's documentation). A missing wasm target is installed
/// with `rustup target add` when rustup is there; otherwise this fails saying what to install.
pub(crate) fn build() -> Result<()> {
    let targets = add_targets(&TARGETS);
    if !targets.is_empty() {
        bail!(
            "the Rust standard library for {} is not installed; run `rustup target add {}`",
            targets.join(" and "),
            targets.join(" ")
        );
    }
    let dir = guest_target_dir();
    for command in commands(&dir) {
        eprintln!("==> {command}");
        command.run()?;
    }
    Ok(())
}

/// Adds the standard library of each of `targets` that is missing with `rustup target add`
/// (printing the command); returns those still missing (no rustup, or it failed).
pub(crate) fn add_targets<'a>(targets: &[&'a str]) -> Vec<&'a str> {
    let missing = || -> Vec<&'a str> {
        targets
            .iter()
            .copied()
            .filter(|t| !target_installed(t))
            .collect()
    };
    let absent = missing();
    if absent.is_empty() {
        return absent;
    }
    eprintln!("==> rustup target add {}", absent.join(" "));
    let _ = Command::new("rustup")
        .args(["target", "add"])
        .args(&absent)
        .status();
    missing()
}

/// Where the guests are built: a target directory of their own, so that building them never
/// waits on (or invalidates) the host workspace's.
fn guest_target_dir() -> PathBuf {
    dir(&target_dir())
}

/// Where the guests are built, in the target directory `target`.
pub(crate) fn dir(target: &Path) -> PathBuf {
    target.join("guests")
}

/// The two cargo invocations: every guest for both wasm targets, then `wordcount` (for the
/// benchmark) and `hostile-worker` (for the native backend's tests) natively.
fn commands(dir: &Path) -> [Cargo; 2] {
    let dir = dir.to_string_lossy();
    let common = ["build", "--release", "--manifest-path", "guests/Cargo.toml"];
    let wasm = Cargo::new(&common)
        .args(&["--target", TARGETS[0], "--target", TARGETS[1]])
        .args(&["--target-dir", &dir]);
    let native = Cargo::new(&common).args(&[
        "--bin",
        "wordcount",
        "--bin",
        "hostile-worker",
        "--target-dir",
        &dir,
    ]);
    [wasm, native]
}

/// Whether the toolchain has the standard library for `target` (without needing rustup).
pub(crate) fn target_installed(target: &str) -> bool {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
    sysroot.is_some_and(|root| {
        Path::new(&root)
            .join("lib/rustlib")
            .join(target)
            .join("lib")
            .is_dir()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_both_targets_then_the_native_programs() {
        let [wasm, native] = commands(Path::new("/t/guests"));
        assert_eq!(
            wasm.to_string(),
            "cargo build --release --manifest-path guests/Cargo.toml --target wasm32-wasip1 \
             --target wasm32-wasip2 --target-dir /t/guests"
        );
        assert_eq!(
            native.to_string(),
            "cargo build --release --manifest-path guests/Cargo.toml --bin wordcount \
             --bin hostile-worker --target-dir /t/guests"
        );
    }

    #[test]
    fn the_host_target_is_installed_and_a_made_up_one_is_not() {
        let version = Command::new("rustc").arg("-vV").output().unwrap();
        let version = String::from_utf8(version.stdout).unwrap();
        let host = version
            .lines()
            .find_map(|l| l.strip_prefix("host: "))
            .expect("rustc -vV names its host");
        assert!(target_installed(host));
        assert!(!target_installed("no-such-target"));
    }
}
