//! `cargo xtask bench [--quick]`: run the criterion benches and report on the project's targets.

use std::fmt::Write as _;
use std::fs;
use std::num::NonZero;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use crate::report::{self, Report};
use crate::{build, chart, compare, criterion, date, target_dir, tools};

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

/// Builds everything once, runs the benches with their results on the terminal, then the other
/// tools, and prints the report and writes it to `target/bench-report.md`, `.json` and `.svg`.
/// Fails if a build or a bench fails, or if a result the report needs is missing (after
/// writing the report, with those rows marked MISSING); what is left out on purpose (the
/// large corpus in `--quick`, the WASI guests where they cannot be built, a tool that is not
/// installed) says so in the report.
pub(crate) fn bench(args: &[String]) -> Result<()> {
    let quick = parse_args(args)?;
    let target = target_dir();
    eprint!("{}", plan(quick, &target));
    // The WASI benchmarks run the Rust guests; without them those rows say "not run".
    let guests = crate::guests::build().map_err(|error| format!("{error:#}"));
    if let Err(error) = &guests {
        eprintln!("warning: {error}\nwarning: the benchmarks of the WASI guests are skipped");
    }
    let built = build::build()?;
    let started = SystemTime::now();
    let results_dir = target.join("criterion");
    let (results, noise) = criterion::run(&built, quick, &results_dir)?;
    if noise.short_time > 0 {
        eprintln!(
            "\nnote: criterion warned {} times that 10 samples did not fit in its measurement \
             time ({}): those benchmarks took their 10 samples anyway, just for longer{}.",
            noise.short_time,
            if quick { "1 s with --quick" } else { "5 s" },
            if quick {
                "; expected with --quick, whose time is short"
            } else {
                ""
            }
        );
    }

    let ppool = built.binaries.get("ppool").cloned();
    let report = Report {
        timestamp: date::iso_utc(started),
        command: build::command().to_string(),
        bench_flags: criterion::flags(quick).join(" "),
        xtask: if quick {
            "cargo xtask bench --quick"
        } else {
            "cargo xtask bench"
        }
        .to_owned(),
        quick,
        cpus: std::thread::available_parallelism().ok().map(NonZero::get),
        cpu_model: report::cpu_model(),
        guests,
        measurements: results.measurements,
        external: external_tools(quick, ppool.as_deref()),
        peers: wasi_peers(quick),
        python_pool: crate::pool_peers::measure(&target, if quick { 2_000 } else { 10_000 }),
        slurm: slurm(
            quick,
            built.binaries.get("slurm_overhead").map(PathBuf::as_path),
        ),
    };

    let markdown = report.to_markdown();
    print!("{markdown}");
    fs::create_dir_all(&target).with_context(|| format!("creating {}", target.display()))?;
    let md_path = target.join("bench-report.md");
    fs::write(&md_path, &markdown).with_context(|| format!("writing {}", md_path.display()))?;
    let json_path = target.join("bench-report.json");
    let json = report.to_json();
    let text = serde_json::to_string_pretty(&json)? + "\n";
    fs::write(&json_path, text).with_context(|| format!("writing {}", json_path.display()))?;
    let svg_path = target.join("bench-report.svg");
    fs::write(&svg_path, chart::svg(&json))
        .with_context(|| format!("writing {}", svg_path.display()))?;
    eprintln!(
        "\nwrote {}, {} and {}",
        md_path.display(),
        json_path.display(),
        svg_path.display()
    );
    all_there(&report.missing())
}

/// An error naming every result the report needed and did not get, if any.
fn all_there(missing: &[String]) -> Result<()> {
    if missing.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = missing.iter().map(|id| format!("`{id}`")).collect();
    bail!(
        "no result for {}: the bench executable named by the first part of each id ran and \
         printed no `test <id> ... bench: <n> ns/iter` line for it (criterion's \
         `--output-format bencher`, read from its output above); those rows of the report say \
         MISSING",
        ids.join(", ")
    )
}

/// What the run will do, one line a step, with what it builds and installs and about how long
/// each step takes on this project's 2-CPU machine.
fn plan(quick: bool, target: &Path) -> String {
    let mut out = String::new();
    let mode = if quick { " --quick" } else { "" };
    let _ = writeln!(out, "cargo xtask bench{mode}, in order:");
    let _ = writeln!(
        out,
        "  1. build the WASI guests (guests/, wasm32-wasip1 and wasip2, with rustup adding \
         those targets if missing) into {}: under a minute",
        target.join("guests").display()
    );
    let binaries: Vec<&str> = build::TARGETS
        .iter()
        .map(|(package, selection)| match selection {
            [_, "*"] => *package,
            [_, name, ..] => name,
            _ => package,
        })
        .collect();
    let _ = writeln!(
        out,
        "  2. one cargo build under the bench profile ({}): about {FIRST_BUILD} on a fresh \
         clone (wasmtime is most of it), seconds once built",
        binaries.join(", ")
    );
    let _ = writeln!(
        out,
        "  3. the criterion benchmarks: about {}",
        if quick { QUICK_BENCHES } else { FULL_BENCHES }
    );
    // (program, as named here)
    let tools = [
        ("xargs", "xargs"),
        ("parallel", "GNU parallel"),
        ("rust-parallel", "rust-parallel"),
        ("wasmtime", "the wasmtime CLI"),
    ];
    let (found, missing): (Vec<_>, Vec<_>) = tools
        .into_iter()
        .partition(|(program, _)| tools::find(program, target).is_some());
    let names = |tools: Vec<(&str, &'static str)>| -> Vec<&'static str> {
        tools.into_iter().map(|(_, name)| name).collect()
    };
    let timer = if tools::find("hyperfine", target).is_some() {
        "timed by hyperfine"
    } else {
        "timed by the xtask (no hyperfine)"
    };
    let _ = writeln!(
        out,
        "  4. the same work through other tools, {timer}: {}{}",
        names(found).join(", "),
        if missing.is_empty() {
            String::new()
        } else {
            format!(
                "; not installed, skipped: {} (`cargo xtask tools` installs rust-parallel and \
                 the wasmtime CLI)",
                names(missing).join(", ")
            )
        }
    );
    let venv = target.join("peers/venv");
    let python = if tools::find("python3", target).is_none() {
        "no python3: the Python peers are skipped".to_owned()
    } else if tools::python_has(target, &["hyperqueue", "wasmtime"]) {
        format!(
            "PyPI hyperqueue and wasmtime, installed in {}",
            venv.display()
        )
    } else {
        format!(
            "pip installs PyPI hyperqueue=={HYPERQUEUE} and wasmtime into {} (first run only, \
             about 1 minute)",
            venv.display()
        )
    };
    let _ = writeln!(
        out,
        "  5. the Python peers (ProcessPoolExecutor, HyperQueue, wasmtime): {python}"
    );
    let slurm = if crate::slurm::node_states().is_empty() {
        "no Slurm answers here, skipped (`cargo xtask slurm up` starts one)"
    } else {
        "on the Slurm that answers here, about 1 minute (3 with the large corpus)"
    };
    let _ = writeln!(
        out,
        "  6. agent mode on Slurm against the local pool, `srun` per job, `sbatch --array` and \
         HyperQueue: {slurm}"
    );
    let _ = writeln!(
        out,
        "  7. the report: {}",
        ["md", "json", "svg"]
            .map(|ext| target
                .join(format!("bench-report.{ext}"))
                .display()
                .to_string())
            .join(", ")
    );
    out
}

/// About how long the one build takes on a fresh clone (see `plan`), measured on this
/// project's machine.
const FIRST_BUILD: &str = "20 minutes";
/// About how long the benchmarks take with `--quick`, and without.
const QUICK_BENCHES: &str = "2 minutes";
const FULL_BENCHES: &str = "15 minutes";
/// The HyperQueue release the driver (`peers/hq_run.py`) is written against.
pub(crate) const HYPERQUEUE: &str = "0.27.0";

/// The external tools beside our pool (see [`compare`]): 2,000 × `true` (500 with
/// `--quick`), and the word count of the large corpus (the reference one with `--quick`).
fn external_tools(quick: bool, ppool: Option<&Path>) -> Vec<compare::Timing> {
    let Some(ppool) = ppool else {
        eprintln!("warning: the build gave no ppool; the external tools are not compared");
        return Vec::new();
    };
    let target = target_dir();
    let workloads = workloads(&target, quick, if quick { 500 } else { 2_000 });
    let tools = compare::tools(ppool, &target);
    let mut timings = compare::compare(&workloads, &tools, if quick { 2 } else { 10 });
    timings.extend(compare::start_up(ppool, if quick { 10 } else { 50 }));
    timings
}

/// The ways to run jobs on Slurm (see [`slurm_peers`](crate::slurm_peers)): 2,000 × `true`
/// and the word count of the large corpus (the reference one with `--quick`), when a Slurm
/// answers.
fn slurm(quick: bool, driver: Option<&Path>) -> crate::slurm_peers::Measured {
    let target = target_dir();
    let workloads = workloads(&target, quick, 2_000);
    let measured = crate::slurm_peers::measure(&target, driver, &workloads, quick);
    if let Err(why) = &measured {
        eprintln!("warning: agent mode on Slurm not measured: {why}");
    }
    measured
}

/// The work the tools are compared on: `jobs` × `true`, and the word count of the corpus (the
/// large one, the reference one with `--quick`). A workload whose inputs are missing is left
/// out with a warning; it never fails the run.
fn workloads(target: &Path, quick: bool, jobs: usize) -> Vec<compare::Workload> {
    let dir = target.join("compare");
    if let Err(error) = fs::create_dir_all(&dir) {
        eprintln!("warning: cannot create {}: {error}", dir.display());
        return Vec::new();
    }
    let mut workloads = Vec::new();
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
    workloads
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
    fn a_missing_result_fails_the_run_naming_it() {
        assert!(all_there(&[]).is_ok());
        let error = all_there(&["wordcount/wasi_reference/2".to_owned()]).unwrap_err();
        let text = error.to_string();
        assert!(
            text.starts_with("no result for `wordcount/wasi_reference/2`: the bench executable"),
            "{text}"
        );
        assert!(text.contains("MISSING"), "{text}");
    }

    #[test]
    fn says_what_it_will_do_step_by_step() {
        let target = Path::new("/nonexistent-target");
        let plan = plan(true, target);
        let lines: Vec<&str> = plan.lines().collect();
        assert_eq!(lines[0], "cargo xtask bench --quick, in order:");
        assert_eq!(lines.len(), 8, "{plan}");
        assert!(
            lines[2].contains("(process-pool-benches, ppool, slurm_overhead)"),
            "{plan}"
        );
        assert!(lines[6].contains("agent mode on Slurm"), "{plan}");
        assert!(lines[3].contains(QUICK_BENCHES), "{plan}");
        assert!(lines[4].contains("xargs"), "{plan}");
        assert!(
            lines[7].ends_with("/nonexistent-target/bench-report.svg"),
            "{plan}"
        );
        assert!(super::plan(false, target).contains(FULL_BENCHES));
    }
}
