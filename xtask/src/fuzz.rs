//! `cargo xtask fuzz [TARGET] [--time S] [--minimize]`: the fuzz targets of `fuzz/`, built
//! with libFuzzer on the stable toolchain and run for a while each.
//!
//! cargo-fuzz needs a nightly rustc for its sanitizers; what libFuzzer needs to steer is
//! only the coverage instrumentation, which stable rustc has (`-C passes=sancov-module` and
//! LLVM's sanitizer-coverage options, as cargo-fuzz passes them). So this builds the targets
//! itself, with those flags, into `target/fuzz/`, and runs each binary (libFuzzer's own
//! `main`) on a working corpus, the committed seeds (`fuzz/corpus/TARGET/`) and the inputs
//! that once crashed (`fuzz/regressions/TARGET/`, replayed first, every run).
//!
//! A crash (a failed check, a panic, a timeout, memory over the limit) fails the task; the
//! input is saved to `fuzz/regressions/TARGET/` (commit it with the fix: it is replayed by
//! every run after) and shown in hex, so that a CI log alone is enough to reproduce it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::cmd::Cargo;
use crate::{project_root, target_dir};

/// The fuzz targets, as `fuzz/Cargo.toml` names them.
pub(crate) const TARGETS: [&str; 9] = [
    "frames",
    "worker",
    "hello",
    "pool",
    "slurm_spec",
    "slurm_lines",
    "template",
    "input",
    "joblog",
];

/// Seconds per target when none is given by hand.
const DEFAULT_SECONDS: u64 = 60;

/// Seconds per target in `cargo xtask test`: nine targets in about 2 minutes, and the build in
/// about 2 more from scratch (CI), within the 5 minutes the step may take.
pub(crate) const TEST_SECONDS: u64 = 12;

/// libFuzzer's coverage instrumentation, as cargo-fuzz asks rustc for it (without the
/// sanitizers, which need nightly); `--cfg fuzzing` as cargo-fuzz sets it.
const RUSTFLAGS: &str = "-Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares \
    -Cllvm-args=-sanitizer-coverage-stack-depth \
    --cfg fuzzing \
    -Cdebug-assertions \
    -Cforce-frame-pointers";

/// What the task was asked.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    targets: Vec<String>,
    seconds: u64,
    minimize: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        targets: Vec::new(),
        seconds: DEFAULT_SECONDS,
        minimize: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--time" => {
                let value = args.next().context("`--time` needs a number of seconds")?;
                options.seconds = value
                    .parse()
                    .ok()
                    .filter(|&s| s > 0)
                    .with_context(|| format!("`--time {value}`: not a number of seconds"))?;
            }
            "--minimize" => options.minimize = true,
            target if TARGETS.contains(&target) => options.targets.push(target.to_owned()),
            other => bail!(
                "unknown fuzz target or option `{other}` (targets: {})",
                TARGETS.join(", ")
            ),
        }
    }
    if options.targets.is_empty() {
        options.targets = TARGETS.iter().map(|t| (*t).to_owned()).collect();
    }
    Ok(options)
}

/// `cargo xtask fuzz`.
pub(crate) fn fuzz(args: &[String]) -> Result<()> {
    let options = parse(args)?;
    run(&options.targets, options.seconds, options.minimize)
}

/// Builds the targets, then runs each of `targets` for `seconds` (or minimizes its corpus),
/// printing a line of figures per target; fails at the first crash.
pub(crate) fn run(targets: &[String], seconds: u64, minimize: bool) -> Result<()> {
    let started = Instant::now();
    let bins = build()?;
    let built = started.elapsed();
    let mut lines = Vec::new();
    for target in targets {
        let binary = bins.join(target);
        if minimize {
            minimize_corpus(target, &binary)?;
        } else {
            lines.push(fuzz_one(target, &binary, seconds)?);
        }
    }
    if !lines.is_empty() {
        eprintln!(
            "\n==> fuzzing: built in {:.0?}, all in {:.0?}",
            built,
            started.elapsed()
        );
        eprintln!(
            "{:<12} {:>6} {:>12} {:>10} {:>8} {:>7}",
            "target", "secs", "executions", "execs/s", "corpus", "rss MB"
        );
        for line in lines {
            eprintln!("{line}");
        }
    }
    Ok(())
}

/// Builds every target with libFuzzer's instrumentation; returns where the binaries are.
fn build() -> Result<PathBuf> {
    let host = host_triple()?;
    let dir = target_dir().join("fuzz");
    let command = Cargo::new(&[
        "build",
        "--release",
        "--manifest-path",
        "fuzz/Cargo.toml",
        "--bins",
    ])
    .args(&["--target", &host, "--target-dir", &dir.to_string_lossy()])
    .env("RUSTFLAGS", RUSTFLAGS);
    eprintln!("==> {command}");
    command.run()?;
    Ok(dir.join(host).join("release"))
}

/// The triple rustc builds for by default. Passing it as `--target` keeps the
/// instrumentation out of build scripts and proc macros.
fn host_triple() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc)
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .context("rustc -vV names no host")
}

/// The committed seeds of `target`.
fn seeds(target: &str) -> PathBuf {
    project_root().join("fuzz/corpus").join(target)
}

/// The inputs that once crashed `target`, replayed by every run.
fn regressions(target: &str) -> PathBuf {
    project_root().join("fuzz/regressions").join(target)
}

/// Fuzzes `target` for `seconds`; returns its line of figures.
fn fuzz_one(target: &str, binary: &Path, seconds: u64) -> Result<String> {
    let work = target_dir().join("fuzz/corpus").join(target);
    let artifacts = target_dir().join("fuzz/artifacts").join(target);
    for dir in [&work, &artifacts] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut command = Command::new(binary);
    command
        .arg(format!("-max_total_time={seconds}"))
        .arg("-print_final_stats=1")
        // An input that takes over 10 s, or 2 GiB, is a finding (a hang, a leak).
        .arg("-timeout=10")
        .arg("-rss_limit_mb=2048")
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg(&work);
    for dir in [seeds(target), regressions(target)] {
        if dir.is_dir() {
            command.arg(dir);
        }
    }
    eprintln!("\n==> fuzz {target} for {seconds} s");
    let output = command
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    let log = String::from_utf8_lossy(&output.stderr);
    // libFuzzer's progress lines are many: the last ones say enough.
    for line in log
        .lines()
        .rev()
        .take(25)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        eprintln!("{line}");
    }
    if !output.status.success() {
        let saved = save_crash(target, &artifacts)?;
        bail!(
            "fuzz target `{target}` crashed ({}); the input is saved as {} (replayed by every \
             run from now on: commit it with the fix); reproduce with `{} {}`",
            output.status,
            saved.display(),
            binary.display(),
            saved.display()
        );
    }
    let stat = |name: &str| {
        log.lines()
            .find_map(|l| l.strip_prefix(&format!("stat::{name}:")))
            .map_or_else(|| "?".to_owned(), |v| v.trim().to_owned())
    };
    let corpus = std::fs::read_dir(&work).map_or(0, Iterator::count);
    Ok(format!(
        "{target:<12} {seconds:>6} {:>12} {:>10} {corpus:>8} {:>7}",
        stat("number_of_executed_units"),
        stat("average_exec_per_sec"),
        stat("peak_rss_mb"),
    ))
}

/// Copies the newest crash, timeout or out-of-memory input libFuzzer wrote for `target` into
/// `fuzz/regressions/TARGET/`, and prints it in hex.
fn save_crash(target: &str, artifacts: &Path) -> Result<PathBuf> {
    let newest = std::fs::read_dir(artifacts)
        .with_context(|| format!("reading {}", artifacts.display()))?
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            ["crash-", "timeout-", "oom-", "leak-", "slow-unit-"]
                .iter()
                .any(|p| name.starts_with(p))
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .context("the fuzzer failed without writing the input that made it fail")?;
    let bytes = std::fs::read(newest.path())?;
    let dir = regressions(target);
    std::fs::create_dir_all(&dir)?;
    let saved = dir.join(newest.file_name());
    std::fs::write(&saved, &bytes).with_context(|| format!("writing {}", saved.display()))?;
    eprintln!(
        "the input ({} bytes), in hex:\n{}",
        bytes.len(),
        hex(&bytes)
    );
    Ok(saved)
}

/// `bytes` as hex, 32 bytes a line.
fn hex(bytes: &[u8]) -> String {
    let mut out = String::new();
    for line in bytes.chunks(32) {
        for byte in line {
            let _ = write!(out, "{byte:02x}");
        }
        out.push('\n');
    }
    out
}

/// Merges what fuzzing found (the working corpus) into the committed seeds, keeping only the
/// inputs that reach code no other kept input reaches (libFuzzer's `-merge=1`, on edges alone:
/// hit counts would keep many more): the seeds stay few and small.
fn minimize_corpus(target: &str, binary: &Path) -> Result<()> {
    let seeds = seeds(target);
    let work = target_dir().join("fuzz/corpus").join(target);
    let merged = target_dir().join("fuzz/merged").join(target);
    let _ = std::fs::remove_dir_all(&merged);
    std::fs::create_dir_all(&merged)?;
    std::fs::create_dir_all(&seeds)?;
    eprintln!("\n==> minimize the corpus of {target}");
    let status = Command::new(binary)
        .arg("-merge=1")
        .arg("-use_counters=0")
        .arg(&merged)
        .arg(&seeds)
        .arg(&work)
        .status()
        .with_context(|| format!("running {}", binary.display()))?;
    if !status.success() {
        bail!("merging the corpus of `{target}` failed ({status})");
    }
    std::fs::remove_dir_all(&seeds)?;
    std::fs::rename(&merged, &seeds).or_else(|_| copy_dir(&merged, &seeds))?;
    let count = std::fs::read_dir(&seeds)?.count();
    eprintln!("{target}: {count} seeds in {}", seeds.display());
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        std::fs::copy(entry.path(), to.join(entry.file_name()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn every_target_for_a_minute_unless_told() {
        let options = parse(&[]).unwrap();
        assert_eq!(options.targets.len(), TARGETS.len());
        assert_eq!((options.seconds, options.minimize), (60, false));
        let options = parse(&args(&["pool", "--time", "300"])).unwrap();
        assert_eq!(options.targets, ["pool"]);
        assert_eq!(options.seconds, 300);
    }

    #[test]
    fn unknown_targets_and_bad_times_are_refused() {
        let error = parse(&args(&["nope"])).unwrap_err().to_string();
        assert!(
            error.contains("`nope`") && error.contains("frames"),
            "{error}"
        );
        assert!(parse(&args(&["--time"])).is_err());
        assert!(parse(&args(&["--time", "0"])).is_err());
        assert!(parse(&args(&["--time", "soon"])).is_err());
    }

    #[test]
    fn every_target_is_in_the_fuzz_manifest() {
        let manifest = std::fs::read_to_string(project_root().join("fuzz/Cargo.toml")).unwrap();
        for target in TARGETS {
            assert!(
                manifest.contains(&format!("name = \"{target}\"")),
                "{target}"
            );
            assert!(
                project_root()
                    .join(format!("fuzz/fuzz_targets/{target}.rs"))
                    .is_file()
            );
        }
    }

    #[test]
    fn hex_is_32_bytes_a_line() {
        assert_eq!(hex(&[0, 255, 16]), "00ff10\n");
        assert_eq!(hex(&[1; 33]).lines().count(), 2);
    }
}
