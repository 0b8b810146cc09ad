//! The one build of `cargo xtask bench`: every binary it runs, in a single cargo invocation
//! under the bench profile, so that the dependencies (wasmtime above all) are compiled once,
//! with one set of features.
//!
//! The benchmarks are then run from the paths cargo reports, not through `cargo bench`: a
//! second cargo invocation with another package selection would unify features differently and
//! compile much of the tree again.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::cmd::Cargo;

/// What is built: a package and cargo's selection of its targets. One line per binary; all are
/// built by one `cargo build --profile bench`.
pub(crate) const TARGETS: &[(&str, &[&str])] = &[
    // The criterion benchmarks (and the `echo_worker` binary they drive).
    ("process-pool-benches", &["--bench", "*"]),
    // Our pool as a command (`ppool`, the command-line tool), in the external tools' table.
    ("process-pool-cli", &["--bin", "ppool"]),
    // The ways to run jobs on Slurm, timed (and the agent it starts on the nodes).
    (
        "process-pool-slurm",
        &["--example", "slurm_overhead", "--bin", "process-pool-agent"],
    ),
];

/// The executables of the build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Built {
    /// The benchmark executables by target name (`scheduler`, `wordcount`, …).
    pub(crate) benches: BTreeMap<String, PathBuf>,
    /// The other executables (binaries, examples) by target name.
    pub(crate) binaries: BTreeMap<String, PathBuf>,
}

/// The cargo command for [`TARGETS`].
pub(crate) fn command() -> Cargo {
    let mut cargo = Cargo::new(&[
        "build",
        "--profile",
        "bench",
        "--message-format",
        "json-render-diagnostics",
    ]);
    for (package, selection) in TARGETS {
        cargo = cargo.args(&["-p", package]).args(selection);
    }
    cargo
}

/// Builds [`TARGETS`], with cargo's progress on the terminal, and returns the executables.
pub(crate) fn build() -> Result<Built> {
    let cargo = command();
    eprintln!("==> {cargo}");
    let mut child = cargo
        .command()
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start `{cargo}`"))?;
    let stdout = child.stdout.take().context("cargo's stdout")?;
    let mut built = Built::default();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading cargo's messages")?;
        built.add(&line);
    }
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        bail!("`{cargo}` failed ({status})");
    }
    if built.benches.is_empty() {
        bail!("`{cargo}` reported no benchmark executable");
    }
    Ok(built)
}

impl Built {
    /// Takes in one of cargo's JSON messages: a compiled executable is recorded, anything
    /// else ignored.
    fn add(&mut self, message: &str) {
        let Ok(json) = serde_json::from_str::<Value>(message) else {
            return;
        };
        if json["reason"] != "compiler-artifact" {
            return;
        }
        let (Some(path), Some(name)) =
            (json["executable"].as_str(), json["target"]["name"].as_str())
        else {
            return;
        };
        let kinds = json["target"]["kind"].as_array();
        let bench = kinds.is_some_and(|k| k.iter().any(|k| k == "bench"));
        let map = if bench {
            &mut self.benches
        } else {
            &mut self.binaries
        };
        map.insert(name.to_owned(), PathBuf::from(path));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_invocation_for_every_target() {
        assert_eq!(
            command().to_string(),
            "cargo build --profile bench --message-format json-render-diagnostics \
             -p process-pool-benches --bench '*' -p process-pool-cli --bin ppool \
             -p process-pool-slurm --example slurm_overhead --bin process-pool-agent"
        );
    }

    #[test]
    fn reads_executables_from_cargos_messages() {
        let mut built = Built::default();
        for message in [
            r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"x"},"executable":null}"#,
            r#"{"reason":"compiler-artifact","target":{"kind":["bench"],"name":"scheduler"},"executable":"/t/release/deps/scheduler-1"}"#,
            r#"{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"ppool"},"executable":"/t/release/ppool"}"#,
            r#"{"reason":"build-finished","success":true}"#,
            "not json",
        ] {
            built.add(message);
        }
        assert_eq!(
            built.benches,
            BTreeMap::from([("scheduler".to_owned(), "/t/release/deps/scheduler-1".into())])
        );
        assert_eq!(
            built.binaries,
            BTreeMap::from([("ppool".to_owned(), "/t/release/ppool".into())])
        );
    }
}
