//! `cargo xtask bench [--quick]`: run the criterion benches and report on the project's targets.

use std::fs;
use std::num::NonZero;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};

use crate::cmd::Cargo;
use crate::report::{self, Report};
use crate::{criterion, date, target_dir};

/// Criterion flags for `--quick`: a short warm-up and measurement, the fewest samples allowed.
const QUICK_FLAGS: &[&str] = &[
    "--warm-up-time",
    "0.5",
    "--measurement-time",
    "1",
    "--sample-size",
    "10",
];

/// Allowance for coarse file timestamps when telling this run's results from older ones.
const MTIME_SLACK: Duration = Duration::from_secs(2);

/// Whether `--quick` was given; anything else is an error.
fn parse_args(args: &[String]) -> Result<bool> {
    let mut quick = false;
    for arg in args {
        match arg.as_str() {
            "--quick" => quick = true,
            other => bail!("unknown argument `{other}` to `cargo xtask bench` (expected --quick)"),
        }
    }
    Ok(quick)
}

/// The `cargo bench` command. `--bench '*'` selects every bench target (unlike `--benches`,
/// which also takes the library) so that the flags after `--` reach criterion only, not the
/// library's libtest harness, which would reject them.
fn bench_command(quick: bool) -> Cargo {
    let cargo = Cargo::new(&["bench", "-p", "process-pool-benches", "--bench", "*"]);
    if quick {
        cargo
            .env("PROCESS_POOL_BENCH_QUICK", "1")
            .args(&["--"])
            .args(QUICK_FLAGS)
    } else {
        cargo
    }
}

/// Runs the benches with progress on the terminal, then prints the report and writes it to
/// `target/bench-report.md` and `target/bench-report.json`. Fails only if the benches fail (or
/// the report cannot be written); missing results show as "not run".
pub(crate) fn bench(args: &[String]) -> Result<()> {
    let quick = parse_args(args)?;
    // The WASI benchmarks run the Rust guests; without them those rows say "not run".
    if let Err(error) = crate::guests::build() {
        eprintln!("warning: {error:#}\nwarning: the benchmarks of the WASI guests are skipped");
    }
    let command = bench_command(quick);
    let started = SystemTime::now();
    eprintln!("==> {command}");
    command
        .run()
        .context("the benchmarks failed; no report written")?;

    let target = target_dir();
    let results_dir = target.join("criterion");
    let fresh_since = started.checked_sub(MTIME_SLACK).unwrap_or(started);
    let report = Report {
        timestamp: date::iso_utc(started),
        command: command.to_string(),
        xtask: if quick {
            "cargo xtask bench --quick"
        } else {
            "cargo xtask bench"
        }
        .to_owned(),
        quick,
        cpus: std::thread::available_parallelism().ok().map(NonZero::get),
        cpu_model: report::cpu_model(),
        measurements: criterion::collect(&results_dir, Some(fresh_since)),
        results_dir,
    };

    let markdown = report.to_markdown();
    print!("{markdown}");
    fs::create_dir_all(&target).with_context(|| format!("creating {}", target.display()))?;
    let md_path = target.join("bench-report.md");
    fs::write(&md_path, &markdown).with_context(|| format!("writing {}", md_path.display()))?;
    let json_path = target.join("bench-report.json");
    let json = serde_json::to_string_pretty(&report.to_json())? + "\n";
    fs::write(&json_path, json).with_context(|| format!("writing {}", json_path.display()))?;
    eprintln!("\nwrote {} and {}", md_path.display(), json_path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn parses_arguments() {
        assert!(!parse_args(&args(&[])).unwrap());
        assert!(parse_args(&args(&["--quick"])).unwrap());
        assert!(parse_args(&args(&["--slow"])).is_err());
    }

    #[test]
    fn builds_the_commands() {
        assert_eq!(
            bench_command(false).to_string(),
            "cargo bench -p process-pool-benches --bench '*'"
        );
        assert_eq!(
            bench_command(true).to_string(),
            "PROCESS_POOL_BENCH_QUICK=1 cargo bench -p process-pool-benches --bench '*' -- \
             --warm-up-time 0.5 --measurement-time 1 --sample-size 10"
        );
    }
}
