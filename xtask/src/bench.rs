//! `cargo xtask bench [--quick]`: run the criterion benches and report on the project's targets.

use std::fs;
use std::num::NonZero;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};

use crate::cmd::Cargo;
use crate::report::{self, Report};
use crate::{chart, compare, criterion, date, target_dir};

/// Criterion flags for `--quick`: a short warm-up and measurement, the fewest samples allowed,
/// and no plots (criterion draws several per benchmark).
const QUICK_FLAGS: &[&str] = &[
    "--warm-up-time",
    "0.5",
    "--measurement-time",
    "1",
    "--sample-size",
    "10",
    "--noplot",
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
        external: external_tools(quick),
        peers: wasi_peers(quick),
        python_pool: crate::pool_peers::measure(&target_dir(), if quick { 2_000 } else { 10_000 }),
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
    let ours_wasi = report.per_job_us("wasi_instantiate/pool_hello_p1/2");
    let bars = chart::bars(&report.external, &report.peers, ours_wasi);
    let svg_path = target.join("bench-report.svg");
    fs::write(
        &svg_path,
        chart::svg(&report.measurements, &bars, report.cpus),
    )
    .with_context(|| format!("writing {}", svg_path.display()))?;
    eprintln!(
        "\nwrote {}, {} and {}",
        md_path.display(),
        json_path.display(),
        svg_path.display()
    );
    Ok(())
}

/// The external tools beside our pool (see [`compare`]): 2,000 × `true` (500
/// with `--quick`), and the word count of the large corpus (the reference one with `--quick`). A workload whose
/// inputs are missing is left out with a warning; it never fails the run.
fn external_tools(quick: bool) -> Vec<compare::Timing> {
    let build = Cargo::new(&[
        "build",
        "--release",
        "-p",
        "process-pool",
        "--example",
        "pool_run",
    ]);
    eprintln!("\n==> {build}");
    if let Err(error) = build.run() {
        eprintln!("warning: {error:#}; the external tools are not compared");
        return Vec::new();
    }
    let target = target_dir();
    let dir = target.join("compare");
    if let Err(error) = fs::create_dir_all(&dir) {
        eprintln!("warning: cannot create {}: {error}", dir.display());
        return Vec::new();
    }
    let mut workloads = Vec::new();
    let jobs: usize = if quick { 500 } else { 2_000 };
    let seq = dir.join(format!("seq-{jobs}"));
    let lines: String = (1..=jobs).map(|i| format!("{i}\n")).collect();
    if fs::write(&seq, lines).is_ok() {
        workloads.push(compare::Workload {
            name: format!("{jobs} × `true`"),
            program: vec!["true".into()],
            input: seq,
            jobs,
            targeted: true,
        });
    }
    let scale = if quick { "reference" } else { "large" };
    let wordcount = target.join("guests/release/wordcount");
    match corpus_docs(&target.join("corpus"), scale) {
        Some(docs) if wordcount.is_file() => {
            let list = dir.join(format!("docs-{scale}"));
            let text: String = docs.iter().map(|d| format!("{}\n", d.display())).collect();
            if fs::write(&list, text).is_ok() {
                workloads.push(compare::Workload {
                    name: format!("word count, {scale} corpus ({} documents)", docs.len()),
                    program: vec![wordcount.to_string_lossy().into_owned()],
                    input: list,
                    jobs: docs.len(),
                    targeted: false,
                });
            }
        }
        _ => eprintln!("warning: no {scale} corpus or native wordcount: word count not compared"),
    }
    let pool_run = target.join("release/examples/pool_run");
    let tools = compare::tools(&pool_run, &target);
    compare::compare(&workloads, &tools, if quick { 2 } else { 10 })
}

/// The WASI peers on the `hello` guest (see [`wasi_peers`](crate::wasi_peers)).
fn wasi_peers(quick: bool) -> Vec<crate::wasi_peers::Peer> {
    let target = target_dir();
    let hello = target.join("guests/wasm32-wasip1/release/hello.wasm");
    if !hello.is_file() {
        eprintln!("warning: the hello guest is not built: the WASI peers are not measured");
        return Vec::new();
    }
    crate::wasi_peers::measure(&target, &hello, if quick { 500 } else { 2_000 })
}

/// The documents of the corpus at `scale`, as the benchmark wrote them, if complete.
fn corpus_docs(root: &std::path::Path, scale: &str) -> Option<Vec<std::path::PathBuf>> {
    let dir = fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{scale}-v")))
                && p.join("COMPLETE").is_file()
        })?;
    let mut docs: Vec<_> = fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    docs.sort();
    Some(docs)
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
             --warm-up-time 0.5 --measurement-time 1 --sample-size 10 --noplot"
        );
    }
}
