//! The pool beside the tools users would otherwise reach for, on the same work in the same run,
//! each timed as a whole process: `xargs -P`, GNU `parallel`, `rust-parallel`, HyperQueue, and
//! `ppool` (our pool, as the command-line tool). A tool that is not installed is skipped with a
//! line saying so. And `ppool`'s own start-up.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::cmd::quote;
use crate::tools;

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
    /// Whether the tools' targets (see [`target`]) apply to this workload.
    pub(crate) targeted: bool,
}

/// What the issue asks of our pool against each tool on the targeted workload: the least ratio
/// (tool's time over ours) and how it reads. Above 1 means ours is faster.
fn target(tool: &str) -> Option<(&'static str, Goal)> {
    if tool.starts_with("HyperQueue") || tool.starts_with("GNU parallel") {
        Some(("≥ 4×", Goal::Ratio(4.0)))
    } else if tool.starts_with("ppool") {
        None
    } else {
        Some(("≥ 1× (as fast or faster)", Goal::Ratio(1.0)))
    }
}

/// What a timing is held to: a least ratio of the tool's time over our pool's, or a most time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Goal {
    Ratio(f64),
    AtMostMs(f64),
}

/// `ppool`'s own start-up, each timed as a whole process `runs` times: `--version`, and one
/// `true` job. Its target: at most 5 ms each (a wasmtime engine is built only for `--wasi`).
pub(crate) fn start_up(ppool: &Path, runs: usize) -> Vec<Timing> {
    let ppool = quote(&ppool.to_string_lossy());
    let empty = crate::target_dir().join("peers/empty-input");
    if let Err(error) = std::fs::write(&empty, "") {
        eprintln!("warning: {}: {error}", empty.display());
    }
    [
        ("ppool --version", format!("{ppool} --version")),
        ("ppool, one `true` job", format!("{ppool} true ::: 1")),
    ]
    .into_iter()
    .map(|(tool, command)| {
        eprintln!("==> start-up: {command}");
        Timing {
            workload: "start-up".to_owned(),
            tool,
            jobs: 1,
            target: Some(("≤ 5 ms", Goal::AtMostMs(5.0))),
            ms: time(&command, &empty, runs).map_err(|e| format!("{e:#}")),
        }
    })
    .collect()
}

/// A tool resolved on this machine: the command before the workload's program, or why it is
/// skipped.
#[derive(Debug, Clone)]
pub(crate) struct Tool {
    name: &'static str,
    prefix: Result<String, String>,
}

/// The tools compared, ours first (every ratio is against it), each found on this machine:
/// `ppool` at its path, the others on the PATH or in `target/tools/bin`, and HyperQueue
/// through PyPI `hyperqueue` (a local cluster: one server, one worker with [`WORKERS`] cores),
/// installed into `target/peers/venv` on first use.
pub(crate) fn tools(ppool: &Path, target: &Path) -> Vec<Tool> {
    let program = |name: &str, args: &str| program(name, args, target);
    vec![
        Tool {
            name: "ppool -j 2 (our pool)",
            prefix: program(&ppool.to_string_lossy(), &format!("-j {WORKERS}")),
        },
        Tool {
            name: "xargs -P 2",
            prefix: program("xargs", &format!("-P {WORKERS} -n 1")),
        },
        Tool {
            name: "GNU parallel -j 2",
            prefix: program("parallel", &format!("--will-cite -j {WORKERS}")),
        },
        Tool {
            name: "rust-parallel -j 2",
            prefix: program("rust-parallel", &format!("-j {WORKERS}")),
        },
        Tool {
            name: "HyperQueue, local cluster (2 cores)",
            prefix: hyperqueue(target),
        },
    ]
}

/// `program args` with the program found (see [`tools::find`]), or why it is skipped.
fn program(name: &str, args: &str, target: &Path) -> Result<String, String> {
    match tools::find(name, target) {
        Some(path) => Ok(format!("{} {args}", quote(&path.to_string_lossy()))),
        None => Err(format!("`{name}` is not installed: skipped")),
    }
}

/// `python hq_run.py 2`, HyperQueue as an `xargs` (see `peers/hq_run.py`).
fn hyperqueue(target: &Path) -> Result<String, String> {
    // Pinned: `hq_run.py` uses this version's `LocalCluster` API.
    let package = format!("hyperqueue=={}", crate::bench::HYPERQUEUE);
    let python = tools::python_with(target, &package, "hyperqueue")?;
    let script = target.join("peers/hq_run.py");
    std::fs::write(&script, HQ_RUN).map_err(|e| format!("{}: {e}", script.display()))?;
    Ok(format!(
        "{} {} {WORKERS}",
        quote(&python.to_string_lossy()),
        quote(&script.to_string_lossy())
    ))
}

/// The HyperQueue driver, run as `python hq_run.py CORES PROGRAM... < lines`.
const HQ_RUN: &str = include_str!("peers/hq_run.py");

/// How one tool did on one workload.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Timing {
    pub(crate) workload: String,
    pub(crate) tool: &'static str,
    pub(crate) jobs: usize,
    /// The target this tool's ratio is held to, if any.
    pub(crate) target: Option<(&'static str, Goal)>,
    /// Min and median wall time in ms, or why there are none.
    pub(crate) ms: Result<(f64, f64), String>,
}

/// Times every tool (see [`tools()`]) on every workload, `runs` times each.
pub(crate) fn compare(workloads: &[Workload], tools: &[Tool], runs: usize) -> Vec<Timing> {
    let mut timings = Vec::new();
    for workload in workloads {
        for tool in tools {
            let ms = tool.prefix.clone().and_then(|prefix| {
                let command = shell_command(&prefix, workload);
                eprintln!("==> {} ({}): {command}", workload.name, tool.name);
                time(&command, &workload.input, runs).map_err(|e| format!("{e:#}"))
            });
            timings.push(Timing {
                workload: workload.name.clone(),
                tool: tool.name,
                jobs: workload.jobs,
                target: if workload.targeted {
                    target(tool.name)
                } else {
                    None
                },
                ms,
            });
        }
    }
    timings
}

/// The shell command that runs `workload` after a tool's `prefix`.
fn shell_command(prefix: &str, workload: &Workload) -> String {
    let program: Vec<String> = workload.program.iter().map(|a| quote(a)).collect();
    format!("{prefix} {}", program.join(" "))
}

/// hyperfine's path, if it is installed (on the PATH or in `target/tools/bin`), looked up once.
fn hyperfine() -> Option<&'static Path> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(|| tools::find("hyperfine", &crate::target_dir()))
        .as_deref()
}

/// What times the commands: hyperfine when it is installed, else [`time_by_hand`].
pub(crate) fn timer() -> &'static str {
    if hyperfine().is_some() {
        "hyperfine"
    } else {
        "the xtask's own loop"
    }
}

/// Runs `command < input` through the shell `runs` times after one untimed run, each to the
/// end, and returns the min and median wall time in ms; fails if a run fails. Timed by
/// hyperfine when installed (which subtracts the shell's own start-up), else by hand.
pub(crate) fn time(command: &str, input: &Path, runs: usize) -> Result<(f64, f64)> {
    match hyperfine() {
        Some(hyperfine) => time_by_hyperfine(hyperfine, command, input, runs),
        None => time_by_hand(command, input, runs),
    }
}

/// [`time`] through `hyperfine --export-json`.
fn time_by_hyperfine(
    hyperfine: &Path,
    command: &str,
    input: &Path,
    runs: usize,
) -> Result<(f64, f64)> {
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let json_path = std::env::temp_dir().join(format!(
        "xtask-hyperfine-{}-{call}.json",
        std::process::id()
    ));
    let full = format!("{command} < {}", quote(&input.to_string_lossy()));
    let output = Command::new(hyperfine)
        .args(["--style", "none", "--warmup", "1", "--runs"])
        .arg(runs.max(2).to_string())
        .arg("--export-json")
        .arg(&json_path)
        .arg(&full)
        .stdin(Stdio::null())
        .output()
        .context("cannot start hyperfine")?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&json_path);
        bail!(
            "`{full}` failed under hyperfine: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let text = std::fs::read_to_string(&json_path)
        .with_context(|| format!("reading {}", json_path.display()))?;
    let _ = std::fs::remove_file(&json_path);
    let json: Value = serde_json::from_str(&text).context("hyperfine's JSON")?;
    let result = &json["results"][0];
    let seconds = |key: &str| {
        result[key]
            .as_f64()
            .with_context(|| format!("no `{key}` in hyperfine's JSON"))
    };
    Ok((seconds("min")? * 1e3, seconds("median")? * 1e3))
}

/// [`time`] by the xtask itself: `sh -c command` with `input` on stdin.
fn time_by_hand(command: &str, input: &Path, runs: usize) -> Result<(f64, f64)> {
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
         (input lines on stdin), timed by {}: one untimed run, then the median and min of \
         the timed ones; the ratio is the tool's median over our pool's (above 1: slower than \
         ours). HyperQueue's time includes starting and stopping its local cluster.\n",
        timer()
    );
    if timings.is_empty() {
        let _ = writeln!(out, "Not run.");
        return out;
    }
    let _ = writeln!(
        out,
        "| Work | Tool | Median | Min | Per job | Against our pool | Target | Result |"
    );
    let _ = writeln!(out, "|---|---|--:|--:|--:|--:|---|---|");
    for timing in timings {
        let ratio = ratio(timings, timing).filter(|_| timing.workload != "start-up");
        let median = timing.ms.as_ref().ok().map(|m| m.1);
        let (target, result) = match timing.target {
            None => ("—", "—"),
            Some((text, goal)) => {
                let met = match goal {
                    Goal::Ratio(least) => ratio.map(|r| r >= least),
                    Goal::AtMostMs(most) => median.map(|ms| ms <= most),
                };
                let result = match met {
                    None => "not run",
                    Some(true) => "PASS",
                    Some(false) => "MISS",
                };
                (text, result)
            }
        };
        let ratio = ratio.map_or_else(|| "—".to_owned(), |r| format!("{r:.2}×"));
        let (median, min, per_job) = match &timing.ms {
            Ok((min, median)) => (
                format!("{median:.1} ms"),
                format!("{min:.1} ms"),
                format!("{:.1} µs", median * 1e3 / timing.jobs as f64),
            ),
            Err(why) => (why.clone(), String::new(), String::new()),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {median} | {min} | {per_job} | {ratio} | {target} | {result} |",
            timing.workload, timing.tool
        );
    }
    out
}

/// `timing`'s median over our pool's on the same workload (ours is the first of each), if both
/// were timed.
fn ratio(timings: &[Timing], timing: &Timing) -> Option<f64> {
    let ours = timings.iter().find(|t| t.workload == timing.workload)?;
    let (_, ours) = ours.ms.as_ref().ok()?;
    let (_, theirs) = timing.ms.as_ref().ok()?;
    Some(theirs / ours)
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
            targeted: true,
        }
    }

    #[test]
    fn builds_each_tools_command() {
        let dir = tempfile_dir("commands");
        let w = workload(&dir, 1, &["true", "a b"]);
        assert_eq!(
            shell_command("/t/ppool -j 2", &w),
            "/t/ppool -j 2 true 'a b'"
        );
        let target = Path::new("/nonexistent-target");
        let missing = program("/t/ppool", "-j 2", target).unwrap_err();
        assert_eq!(missing, "`/t/ppool` is not installed: skipped");
        let xargs = program("xargs", "-P 2 -n 1", target).unwrap();
        assert!(xargs.ends_with("/xargs -P 2 -n 1"), "{xargs}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn times_what_runs_and_skips_what_is_missing() {
        let dir = tempfile_dir("compare");
        let w = workload(&dir, 4, &["true"]);
        // `xargs` is there on any POSIX system; a ppool that does not exist is skipped.
        let tools = [
            Tool {
                name: "ours",
                prefix: Err("`ppool` is not installed: skipped".to_owned()),
            },
            Tool {
                name: "xargs -P 2",
                prefix: Ok("xargs -P 2 -n 1".to_owned()),
            },
        ];
        let timings = compare(&[w], &tools, 2);
        assert_eq!(timings.len(), 2);
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
        assert!(
            md.contains("| ≥ 1× (as fast or faster) | not run |"),
            "{md}"
        );
        let json = json(&timings);
        assert_eq!(json[1]["tool"], "xargs -P 2");
        assert!(json[0]["skipped"].as_str().unwrap().contains("skipped"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn marks_each_target_met_or_missed() {
        let timing = |tool: &'static str, median: f64| Timing {
            workload: "w".into(),
            tool,
            jobs: 10,
            target: target(tool),
            ms: Ok((median, median)),
        };
        let timings = [
            timing("ppool -j 2 (our pool)", 100.0),
            timing("xargs -P 2", 120.0),
            timing("GNU parallel -j 2", 90.0),
            timing("HyperQueue, local cluster (2 cores)", 300.0),
        ];
        let md = markdown(&timings);
        assert!(
            md.contains("| 100.0 ms | 100.0 ms | 10000.0 µs | 1.00× | — | — |"),
            "{md}"
        );
        assert!(
            md.contains("| 1.20× | ≥ 1× (as fast or faster) | PASS |"),
            "{md}"
        );
        assert!(md.contains("| 0.90× | ≥ 4× | MISS |"), "{md}");
        assert!(md.contains("| 3.00× | ≥ 4× | MISS |"), "{md}");
        // Start-up is held to a time, not a ratio.
        let start = |tool: &'static str, median: f64| Timing {
            workload: "start-up".into(),
            tool,
            jobs: 1,
            target: Some(("≤ 5 ms", Goal::AtMostMs(5.0))),
            ms: Ok((median, median)),
        };
        let md = markdown(&[
            start("ppool --version", 1.8),
            start("ppool, one `true` job", 6.0),
        ]);
        assert!(
            md.contains("| ppool --version | 1.8 ms | 1.8 ms | 1800.0 µs | — | ≤ 5 ms | PASS |"),
            "{md}"
        );
        assert!(
            md.contains("| 6.0 ms | 6.0 ms | 6000.0 µs | — | ≤ 5 ms | MISS |"),
            "{md}"
        );
    }

    #[test]
    fn a_failing_command_is_an_error_not_a_time() {
        let dir = tempfile_dir("compare-fail");
        let input = dir.join("in");
        std::fs::write(&input, "x\n").unwrap();
        assert!(time("exit 3", &input, 2).is_err());
        assert!(time_by_hand("exit 3", &input, 1).is_err());
        let (min, median) = time_by_hand("cat", &input, 3).unwrap();
        assert!(min > 0.0 && min <= median);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
