//! The pool beside the tools users would otherwise reach for, on the same work in the same run,
//! each timed as a whole process: `xargs -P`, GNU `parallel`, `rust-parallel`, and the
//! `pool_run` example (our pool). A tool that is not installed is skipped with a line saying so.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::cmd::quote;

/// The workers every tool is given.
const WORKERS: usize = 2;

/// One piece of work: what to run once per input line, and the lines.
#[derive(Debug, Clone)]
pub(crate) struct Workload {
    pub(crate) name: String,
    /// The program and its fixed arguments; each input line is appended as the last argument.
    pub(crate) program: Vec<String>,
    /// A file of input lines.
    pub(crate) input: PathBuf,
    pub(crate) jobs: usize,
}

/// A tool and how it runs a workload as a shell command reading the lines on stdin.
#[derive(Debug, Clone, Copy)]
struct Tool {
    name: &'static str,
    /// What must be on the PATH (or at this path) for the tool to run.
    needs: &'static str,
    /// The command before the workload's program.
    prefix: &'static str,
}

/// The tools compared, ours first: every ratio is against it.
const TOOLS: [Tool; 4] = [
    Tool {
        name: "process-pool (`pool_run` example)",
        needs: "POOL_RUN",
        prefix: "POOL_RUN -j 2",
    },
    Tool {
        name: "xargs -P 2",
        needs: "xargs",
        prefix: "xargs -P 2 -n 1",
    },
    Tool {
        name: "GNU parallel -j 2",
        needs: "parallel",
        prefix: "parallel --will-cite -j 2",
    },
    Tool {
        name: "rust-parallel -j 2",
        needs: "rust-parallel",
        prefix: "rust-parallel -j 2",
    },
];

/// How one tool did on one workload.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Timing {
    pub(crate) workload: String,
    pub(crate) tool: &'static str,
    pub(crate) jobs: usize,
    /// Min and median wall time in ms, or why there are none.
    pub(crate) ms: Result<(f64, f64), String>,
}

/// Times every tool on every workload, `runs` times each, ours (at `pool_run`) first.
pub(crate) fn compare(workloads: &[Workload], pool_run: &Path, runs: usize) -> Vec<Timing> {
    let mut timings = Vec::new();
    for workload in workloads {
        for tool in TOOLS {
            let needs = tool.needs.replace("POOL_RUN", &pool_run.to_string_lossy());
            let ms = if !installed(&needs) {
                Err(format!("`{}` is not installed: skipped", tool.needs))
            } else {
                let command = shell_command(tool, workload, pool_run);
                eprintln!("==> {} ({}): {command}", workload.name, tool.name);
                time(&command, &workload.input, runs).map_err(|e| format!("{e:#}"))
            };
            timings.push(Timing {
                workload: workload.name.clone(),
                tool: tool.name,
                jobs: workload.jobs,
                ms,
            });
        }
    }
    timings
}

/// The shell command that runs `workload` through `tool`.
fn shell_command(tool: Tool, workload: &Workload, pool_run: &Path) -> String {
    let prefix = tool
        .prefix
        .replace("POOL_RUN", &quote(&pool_run.to_string_lossy()));
    let program: Vec<String> = workload.program.iter().map(|a| quote(a)).collect();
    format!("{prefix} {}", program.join(" "))
}

/// Whether `program` is an existing path or found on the PATH.
pub(crate) fn installed(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Runs `sh -c command < input` `runs` times (after one untimed run), each to the end, and
/// returns the min and median wall time in ms; fails if a run fails.
pub(crate) fn time(command: &str, input: &Path, runs: usize) -> Result<(f64, f64)> {
    let mut times = Vec::with_capacity(runs);
    for run in 0..=runs {
        let stdin = std::fs::File::open(input).with_context(|| format!("{}", input.display()))?;
        let started = Instant::now();
        let status = Command::new("sh")
            .args(["-c", command])
            .stdin(stdin)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .with_context(|| format!("cannot start `{command}`"))?;
        let took = started.elapsed();
        if !status.success() {
            bail!("`{command}` failed ({status})");
        }
        if run > 0 {
            times.push(took);
        }
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    Ok((ms(times[0]), ms(times[times.len() / 2])))
}

/// The Markdown section: per workload, each tool's time and its ratio to our pool.
pub(crate) fn markdown(timings: &[Timing]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n## External tools\n");
    let _ = writeln!(
        out,
        "The same work through each tool at {WORKERS} workers, each run as a whole process \
         (input lines on stdin), one untimed run then the median and min of the timed ones; \
         the ratio is the tool's median over our pool's (above 1: slower than ours).\n"
    );
    if timings.is_empty() {
        let _ = writeln!(out, "Not run.");
        return out;
    }
    let _ = writeln!(
        out,
        "| Work | Tool | Median | Min | Per job | Against our pool |"
    );
    let _ = writeln!(out, "|---|---|--:|--:|--:|--:|");
    for timing in timings {
        let ours = timings
            .iter()
            .find(|t| t.workload == timing.workload)
            .and_then(|t| t.ms.as_ref().ok())
            .map(|(_, median)| *median);
        match &timing.ms {
            Ok((min, median)) => {
                let per_job = median * 1e3 / timing.jobs as f64;
                let ratio = ours.map_or_else(|| "—".to_owned(), |o| format!("{:.2}×", median / o));
                let _ = writeln!(
                    out,
                    "| {} | {} | {median:.1} ms | {min:.1} ms | {per_job:.1} µs | {ratio} |",
                    timing.workload, timing.tool
                );
            }
            Err(why) => {
                let _ = writeln!(
                    out,
                    "| {} | {} | {why} | | | |",
                    timing.workload, timing.tool
                );
            }
        }
    }
    out
}

/// The same as JSON.
pub(crate) fn json(timings: &[Timing]) -> Value {
    Value::Array(
        timings
            .iter()
            .map(|t| {
                json!({
                    "workload": t.workload,
                    "tool": t.tool,
                    "jobs": t.jobs,
                    "min_ms": t.ms.as_ref().ok().map(|m| m.0),
                    "median_ms": t.ms.as_ref().ok().map(|m| m.1),
                    "skipped": t.ms.as_ref().err(),
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(dir: &Path, lines: usize, program: &[&str]) -> Workload {
        let input = dir.join("input");
        let text: String = (0..lines).map(|i| format!("{i}\n")).collect();
        std::fs::write(&input, text).unwrap();
        Workload {
            name: "test".into(),
            program: program.iter().map(|a| (*a).to_owned()).collect(),
            input,
            jobs: lines,
        }
    }

    #[test]
    fn builds_each_tools_command() {
        let dir = std::env::temp_dir();
        let w = workload(&dir, 1, &["true"]);
        let pool = Path::new("/t/pool_run");
        let commands: Vec<String> = TOOLS.iter().map(|t| shell_command(*t, &w, pool)).collect();
        assert_eq!(
            commands,
            [
                "/t/pool_run -j 2 true",
                "xargs -P 2 -n 1 true",
                "parallel --will-cite -j 2 true",
                "rust-parallel -j 2 true",
            ]
        );
    }

    #[test]
    fn times_what_runs_and_skips_what_is_missing() {
        let dir = tempfile_dir("compare");
        let w = workload(&dir, 4, &["true"]);
        // `xargs` is there on any POSIX system; a pool_run that does not exist is skipped.
        let timings = compare(&[w], &dir.join("no-pool-run"), 2);
        assert_eq!(timings.len(), 4);
        assert!(
            timings[0]
                .ms
                .as_ref()
                .unwrap_err()
                .contains("not installed")
        );
        let (min, median) = timings[1].ms.clone().unwrap();
        assert!(min > 0.0 && min <= median);
        let md = markdown(&timings);
        assert!(md.contains("| test | xargs -P 2 |"), "{md}");
        let json = json(&timings);
        assert_eq!(json[1]["tool"], "xargs -P 2");
        assert!(json[0]["skipped"].as_str().unwrap().contains("skipped"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failing_command_is_an_error_not_a_time() {
        let dir = tempfile_dir("compare-fail");
        let input = dir.join("in");
        std::fs::write(&input, "x\n").unwrap();
        assert!(time("exit 3", &input, 1).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
