//! `cargo xtask test`: the project's full check and test sequence.

use anyhow::{Context, Result, bail};

use crate::cmd::Cargo;

/// The steps, in order: cheapest and most likely to fail first.
fn steps() -> Vec<Cargo> {
    vec![
        Cargo::new(&["fmt", "--all", "--", "--check"]),
        Cargo::new(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
        Cargo::new(&["test", "--workspace"]),
        Cargo::new(&["doc", "--workspace", "--no-deps"]).env("RUSTDOCFLAGS", "-Dwarnings"),
        Cargo::new(&["bench", "--workspace", "--no-run"]),
    ]
}

/// Builds the WASI guests, makes sure a Slurm answers for the Slurm tests (starting ours as
/// root: [`crate::slurm::ensure_up`]), then runs every step, printing each before it runs, and
/// stops at the first failure. The last step fuzzes every target for a bounded time
/// ([`crate::fuzz::TEST_SECONDS`] each).
pub(crate) fn test(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("`cargo xtask test` takes no arguments, got `{arg}`");
    }
    eprintln!("==> cargo xtask guests");
    crate::guests::build()?;
    crate::slurm::ensure_up()?;
    let steps = steps();
    let total = steps.len() + 1;
    for (i, step) in steps.iter().enumerate() {
        eprintln!("\n==> [{}/{total}] {step}", i + 1);
        step.run()
            .with_context(|| format!("step {}/{total} failed; stopping here", i + 1))?;
    }
    let seconds = crate::fuzz::TEST_SECONDS;
    eprintln!("\n==> [{total}/{total}] cargo xtask fuzz --time {seconds}");
    let targets: Vec<String> = crate::fuzz::TARGETS
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
    crate::fuzz::run(&targets, seconds, false)
        .with_context(|| format!("step {total}/{total} failed"))?;
    eprintln!("\n==> all {total} steps passed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_the_documented_sequence() {
        let steps: Vec<String> = steps().iter().map(ToString::to_string).collect();
        assert_eq!(
            steps,
            [
                "cargo fmt --all -- --check",
                "cargo clippy --workspace --all-targets -- -D warnings",
                "cargo test --workspace",
                "RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps",
                "cargo bench --workspace --no-run",
            ]
        );
    }

    #[test]
    fn rejects_arguments() {
        assert!(test(&["--fast".to_owned()]).is_err());
    }
}
