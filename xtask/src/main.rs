//! Project tasks, run as `cargo xtask <task>` (see <https://github.com/matklad/cargo-xtask>).
//!
//! - `cargo xtask bench [--quick]`: run the criterion benches and write a report.
//! - `cargo xtask chart [REPORT [SVG]]`: draw the bench chart again from a saved report.
//! - `cargo xtask fuzz [TARGET] [--time S] [--minimize]`: run the fuzz targets of `fuzz/`.
//! - `cargo xtask guests`: build the WASI guest programs into `target/guests/`.
//! - `cargo xtask msrv`: check that the declared `rust-version` is the true minimum.
//! - `cargo xtask slurm up|down|status [--nodes N]`: a real Slurm cluster on this machine.
//! - `cargo xtask test`: run the full check and test sequence.
//! - `cargo xtask tools`: install the peers from crates.io into `target/tools/`.
//! - `cargo xtask wine-setup [PREFIX]`: make a Wine prefix run Rust's Windows test binaries.

mod bench;
mod build;
mod chart;
mod checks;
mod cmd;
mod compare;
mod criterion;
mod date;
mod fuzz;
mod guests;
mod msrv;
mod pool_peers;
mod report;
mod slurm;
mod slurm_peers;
mod tools;
mod wasi_peers;
mod wine;
mod wordcount;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

/// What `cargo xtask` prints when asked for help or given no or an unknown task.
const USAGE: &str = "\
Usage: cargo xtask <task>

Tasks:
  bench [--quick]   run the criterion benches (process-pool-benches) and write
                    target/bench-report.md and target/bench-report.json;
                    --quick: short warm-up and measurement, 10 samples, fewer jobs,
                    the word count at the reference scale only (under 3 minutes)
  chart [REPORT [SVG]]
                    draw the chart again from a saved report (default:
                    target/bench-report.json into target/bench-report.svg)
  fuzz [TARGET...] [--time S] [--minimize]
                    build the fuzz targets of fuzz/ with libFuzzer (stable rustc)
                    and run each (default: all) for S seconds (default 60),
                    failing on a crash, whose input is saved in
                    fuzz/regressions/TARGET/; --minimize merges what fuzzing
                    found into the committed seeds, fuzz/corpus/TARGET/
  guests            build the WASI guests in guests/ for wasm32-wasip1 and
                    wasm32-wasip2 (and wordcount natively) into target/guests/
  msrv              check that Cargo.toml's rust-version is at least every
                    dependency's and that the workspace builds with that toolchain
                    (with `rustup run VERSION cargo check` when it is not the one
                    running)
  slurm up [--nodes N] [--force] | down | status
                    a real multi-node Slurm on this machine (root; installs
                    Debian's munge and slurm packages if missing): nodes n1..nN
                    (default 3) on one host, for the process-pool-slurm tests;
                    up is idempotent and reconfigures for another N; down stops
                    only what up started; status fails unless it is up
  test [--windows | --macos]
                    build the guests, then cargo fmt --check, msrv, clippy
                    -D warnings, clippy for macOS, test, the Windows tests under
                    Wine, doc -Dwarnings, bench --no-run and fuzz --time 12,
                    stopping at the first failure; a platform whose tools are
                    missing is skipped with a line saying what to install (an
                    error when CI=true); --windows or --macos: only those steps
  tools             install the peers that come from crates.io (rust-parallel,
                    the wasmtime CLI) into target/tools/ for the bench to compare
                    with (about 10 minutes on 2 cores)
  wine-setup [PREFIX]
                    build the ProcessPrng stand-in DLL that Rust programs need
                    under Wine 8 (xtask/src/wine/) and install it into the Wine
                    prefix PREFIX (default: $WINEPREFIX, else ~/.wine), making
                    the prefix if it does not exist
  help              print this message
";

/// Runs the task, printing any error as one clear line (with its causes) rather than a
/// backtrace, and exiting non-zero.
fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Dispatches to the task named by the first argument.
fn run(args: Vec<String>) -> Result<()> {
    let (task, rest) = match args.split_first() {
        Some((task, rest)) => (task.as_str(), rest),
        None => {
            print!("{USAGE}");
            return Ok(());
        }
    };
    match task {
        "bench" => bench::bench(rest),
        "chart" => chart_task(rest),
        "fuzz" => fuzz::fuzz(rest),
        "guests" => guests::guests(rest),
        "msrv" => msrv::msrv(rest),
        "slurm" => slurm::slurm(rest),
        "test" => checks::test(rest),
        "tools" => tools::install(rest, &target_dir()),
        "wine-setup" => wine::setup(rest),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => {
            eprint!("{USAGE}");
            bail!("unknown task `{other}`")
        }
    }
}

/// `cargo xtask chart [REPORT [SVG]]`: the chart of a saved report, drawn again.
fn chart_task(args: &[String]) -> Result<()> {
    let target = target_dir();
    let (report, svg) = match args {
        [] => (
            target.join("bench-report.json"),
            target.join("bench-report.svg"),
        ),
        [report] => (PathBuf::from(report), target.join("bench-report.svg")),
        [report, svg] => (PathBuf::from(report), PathBuf::from(svg)),
        _ => bail!("`cargo xtask chart` takes at most a report and an SVG to write"),
    };
    let text = std::fs::read_to_string(&report).with_context(|| {
        format!(
            "reading {} (written by `cargo xtask bench`)",
            report.display()
        )
    })?;
    let json = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a report's JSON", report.display()))?;
    std::fs::write(&svg, chart::svg(&json))
        .with_context(|| format!("writing {}", svg.display()))?;
    eprintln!("wrote {}", svg.display());
    Ok(())
}

/// The workspace root: the parent of this crate's directory.
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` if set (relative to the current directory, as
/// cargo reads it), otherwise `target/` in the workspace root.
pub(crate) fn target_dir() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| project_root());
    target_dir_from(std::env::var_os("CARGO_TARGET_DIR"), &cwd)
}

/// [`target_dir`] given the value of `$CARGO_TARGET_DIR` and the current directory.
fn target_dir_from(env: Option<OsString>, cwd: &Path) -> PathBuf {
    match env {
        Some(dir) if !dir.is_empty() => cwd.join(dir),
        _ => project_root().join("target"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_for_no_or_help_task_error_for_unknown() {
        assert!(run(Vec::new()).is_ok());
        assert!(run(vec!["help".to_owned()]).is_ok());
        let error = run(vec!["frob".to_owned()]).unwrap_err();
        assert_eq!(error.to_string(), "unknown task `frob`");
    }

    #[test]
    fn root_is_the_workspace() {
        assert!(project_root().join("Cargo.toml").is_file());
        assert!(project_root().join("xtask").is_dir());
    }

    #[test]
    fn target_dir_follows_cargo_target_dir() {
        let cwd = Path::new("/somewhere");
        let default = project_root().join("target");
        assert_eq!(target_dir_from(None, cwd), default);
        assert_eq!(target_dir_from(Some("".into()), cwd), default);
        assert_eq!(target_dir_from(Some("/t".into()), cwd), Path::new("/t"));
        assert_eq!(
            target_dir_from(Some("t".into()), cwd),
            Path::new("/somewhere/t")
        );
    }
}
