//! `cargo xtask msrv`: the workspace's `rust-version` is the true minimum.
//!
//! Two checks, both cheap:
//! - the declared version is at least the newest `rust-version` of every dependency in
//!   `Cargo.lock` (so `cargo install` never resolves to older crates or warns), from
//!   `cargo metadata`;
//! - the workspace builds with exactly that toolchain: when the toolchain running this is that
//!   version, every other step of `cargo xtask test` is the proof; otherwise the facade is
//!   checked with it (`rustup run VERSION cargo check --locked -p process-pool`).

use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::cmd::Cargo;

/// A Rust version as `major.minor.patch`; `1.95` is `1.95.0`.
type Version = (u64, u64, u64);

/// Parses `1.95`, `1.95.0` or rustc's `rustc 1.95.0 (59807616e 2026-04-14)`.
fn parse(text: &str) -> Option<Version> {
    let text = text.trim();
    let text = text.strip_prefix("rustc ").unwrap_or(text);
    let version = text.split([' ', '-']).next()?;
    let mut parts = version.split('.').map(|p| p.parse::<u64>().ok());
    let major = parts.next()??;
    let minor = parts.next()??;
    let patch = parts.next().unwrap_or(Some(0))?;
    parts.next().is_none().then_some((major, minor, patch))
}

/// `1.95.0`.
fn show((major, minor, patch): Version) -> String {
    format!("{major}.{minor}.{patch}")
}

/// A dependency and the Rust it needs.
#[derive(Debug, PartialEq, Eq)]
struct Needs {
    /// The crate's name.
    name: String,
    /// The crate's version.
    version: String,
    /// Its `rust-version`.
    rust: Version,
}

/// From `cargo metadata`'s JSON: the workspace's declared `rust-version`, and the dependency
/// that needs the newest Rust, if any declares one.
fn versions(metadata: &Value) -> Result<(Version, Option<Needs>)> {
    let ids = |key: &str| -> Vec<&str> {
        metadata[key]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    let members = ids("workspace_members");
    let resolved: Vec<&str> = metadata["resolve"]["nodes"]
        .as_array()
        .context("`cargo metadata` gave no resolve graph")?
        .iter()
        .filter_map(|node| node["id"].as_str())
        .collect();
    let mut declared = None;
    let mut newest: Option<Needs> = None;
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let id = package["id"].as_str().unwrap_or_default();
        let name = package["name"].as_str().unwrap_or_default();
        let rust_version = package["rust_version"].as_str().and_then(parse);
        if members.contains(&id) {
            let version = rust_version
                .with_context(|| format!("workspace member `{name}` declares no rust-version"))?;
            match declared {
                Some(other) if other != version => bail!(
                    "workspace members declare different rust-versions: {} and {} (`{name}`)",
                    show(other),
                    show(version)
                ),
                _ => declared = Some(version),
            }
        } else if let Some(rust) = rust_version.filter(|_| resolved.contains(&id))
            && newest.as_ref().is_none_or(|needs| rust > needs.rust)
        {
            let version = package["version"].as_str().unwrap_or_default().to_owned();
            let name = name.to_owned();
            newest = Some(Needs {
                name,
                version,
                rust,
            });
        }
    }
    Ok((declared.context("no workspace members")?, newest))
}

/// `cargo xtask msrv`: see the module's documentation.
pub(crate) fn msrv(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("`cargo xtask msrv` takes no arguments, got `{arg}`");
    }
    check()
}

/// Both checks of the module's documentation.
pub(crate) fn check() -> Result<()> {
    let declared = declared_covers_dependencies()?;
    builds_with(declared)
}

/// The declared `rust-version`, checked against every dependency's (the first check).
fn declared_covers_dependencies() -> Result<Version> {
    let output = Cargo::new(&["metadata", "--format-version", "1", "--locked"])
        .command()
        .output()
        .context("could not start `cargo metadata`")?;
    if !output.status.success() {
        bail!(
            "`cargo metadata` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let metadata: Value =
        serde_json::from_slice(&output.stdout).context("`cargo metadata` gave no JSON")?;
    let (declared, newest) = versions(&metadata)?;
    if let Some(Needs {
        name,
        version,
        rust: needs,
    }) = &newest
    {
        if *needs > declared {
            bail!(
                "rust-version = \"{}\" in Cargo.toml, but {name} {version} needs Rust {}: \
                 raise it",
                show(declared),
                show(*needs)
            );
        }
        eprintln!(
            "rust-version {} >= {} of {name} {version}, the newest any dependency needs",
            show(declared),
            show(*needs)
        );
    }
    Ok(declared)
}

/// The second check: the workspace builds with the toolchain of version `declared`.
fn builds_with(declared: Version) -> Result<()> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let active = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| parse(&String::from_utf8_lossy(&out.stdout)));
    if active == Some(declared) {
        eprintln!(
            "rustc {} is the declared minimum: the other steps build with it",
            show(declared)
        );
        return Ok(());
    }
    let toolchain = format!("{}.{}", declared.0, declared.1);
    let installed = Command::new("rustup")
        .args(["run", &toolchain, "rustc", "--version"])
        .output()
        .ok()
        .and_then(|out| parse(&String::from_utf8_lossy(&out.stdout)));
    if installed.is_none() {
        bail!(
            "the toolchain of the declared rust-version is not installed; run \
             `rustup toolchain install {toolchain} --profile minimal`"
        );
    }
    let mut command = Command::new("rustup");
    command.current_dir(crate::project_root()).args([
        "run",
        &toolchain,
        "cargo",
        "check",
        "--locked",
        "-p",
        "process-pool",
    ]);
    // The toolchain's own cargo and rustc, not those of the toolchain running this.
    for inherited in ["RUSTC", "RUSTDOC", "CARGO"] {
        command.env_remove(inherited);
    }
    eprintln!("==> rustup run {toolchain} cargo check --locked -p process-pool");
    let status = command.status().context("could not start rustup")?;
    if !status.success() {
        bail!(
            "the workspace does not build with Rust {toolchain}, its declared rust-version \
             ({status})"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_declared_and_rustc_versions() {
        assert_eq!(parse("1.95"), Some((1, 95, 0)));
        assert_eq!(parse("1.95.1"), Some((1, 95, 1)));
        assert_eq!(
            parse("rustc 1.95.0 (59807616e 2026-04-14)"),
            Some((1, 95, 0))
        );
        assert_eq!(
            parse("rustc 1.97.0-nightly (abc 2026-05-01)"),
            Some((1, 97, 0))
        );
        assert_eq!(parse("1"), None);
        assert_eq!(parse("1.x"), None);
        assert_eq!(parse("1.2.3.4"), None);
    }

    #[test]
    fn finds_the_declared_version_and_the_dependency_that_needs_the_newest() {
        let metadata = serde_json::json!({
            "workspace_members": ["a", "b"],
            "packages": [
                {"id": "a", "name": "a", "version": "0.1.0", "rust_version": "1.95"},
                {"id": "b", "name": "b", "version": "0.1.0", "rust_version": "1.95"},
                {"id": "w", "name": "wasmtime", "version": "48.0.8", "rust_version": "1.95.0"},
                {"id": "t", "name": "tokio", "version": "1.54.0", "rust_version": "1.70"},
                {"id": "n", "name": "no-rust-version", "version": "1.0.0", "rust_version": null},
                {"id": "u", "name": "unresolved", "version": "9.0.0", "rust_version": "1.99"},
            ],
            "resolve": {"nodes": [{"id": "a"}, {"id": "b"}, {"id": "w"}, {"id": "t"}, {"id": "n"}]},
        });
        let (declared, newest) = versions(&metadata).unwrap();
        assert_eq!(declared, (1, 95, 0));
        let wasmtime = Needs {
            name: "wasmtime".to_owned(),
            version: "48.0.8".to_owned(),
            rust: (1, 95, 0),
        };
        assert_eq!(newest, Some(wasmtime));
    }

    #[test]
    fn members_that_disagree_are_an_error() {
        let metadata = serde_json::json!({
            "workspace_members": ["a", "b"],
            "packages": [
                {"id": "a", "name": "a", "version": "0.1.0", "rust_version": "1.95"},
                {"id": "b", "name": "b", "version": "0.1.0", "rust_version": "1.90"},
            ],
            "resolve": {"nodes": []},
        });
        let error = versions(&metadata).unwrap_err();
        assert!(
            error.to_string().contains("different rust-versions"),
            "{error}"
        );
    }

    #[test]
    fn the_workspace_declares_what_its_dependencies_need() {
        declared_covers_dependencies().unwrap();
    }
}
