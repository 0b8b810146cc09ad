//! A cargo invocation kept as data, so that it can be printed exactly as it is run.

use std::fmt;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{project_root, target_dir};

/// `cargo` with arguments and extra environment variables, run from the workspace root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cargo {
    /// Environment variables set for this command only.
    env: Vec<(String, String)>,
    /// The arguments after `cargo`.
    args: Vec<String>,
}

impl Cargo {
    /// `cargo` with these arguments.
    pub(crate) fn new(args: &[&str]) -> Self {
        Self {
            env: Vec::new(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    /// Sets an environment variable for this command.
    pub(crate) fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Appends arguments.
    pub(crate) fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// The command, ready to run from the workspace root.
    pub(crate) fn command(&self) -> Command {
        // `$CARGO` is the cargo that runs xtask (same toolchain); fall back to the one on PATH.
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command.current_dir(project_root()).args(&self.args);
        if std::env::var_os("CARGO_TARGET_DIR").is_some() {
            // Made absolute, as the child runs from the workspace root rather than from here.
            command.env("CARGO_TARGET_DIR", target_dir());
        }
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    /// Runs the command from the workspace root with inherited stdio, so its progress shows on
    /// the terminal; fails if it cannot be started or exits unsuccessfully.
    pub(crate) fn run(&self) -> Result<()> {
        let status = self
            .command()
            .status()
            .with_context(|| format!("could not start `{self}`"))?;
        if !status.success() {
            bail!("`{self}` failed ({status})");
        }
        Ok(())
    }
}

impl fmt::Display for Cargo {
    /// As a shell command, ready to copy: `KEY=value cargo arg…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (key, value) in &self.env {
            write!(f, "{key}={} ", quote(value))?;
        }
        f.write_str("cargo")?;
        for arg in &self.args {
            write!(f, " {}", quote(arg))?;
        }
        Ok(())
    }
}

/// `arg` as a POSIX shell word: as is if plain, otherwise in single quotes.
pub(crate) fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_env_then_command() {
        let cmd = Cargo::new(&["doc", "--workspace"])
            .env("RUSTDOCFLAGS", "-Dwarnings")
            .args(&["--no-deps"]);
        assert_eq!(
            cmd.to_string(),
            "RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps"
        );
    }

    #[test]
    fn quotes_shell_words() {
        assert_eq!(quote("--sample-size"), "--sample-size");
        assert_eq!(quote("*"), "'*'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }
}
