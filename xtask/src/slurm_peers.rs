//! Agent mode on Slurm beside the other ways to run the same jobs on the same cluster: the local
//! native pool, one `srun` per job, the tasks of an `sbatch --array`, and HyperQueue with its
//! workers in a Slurm allocation. Measured only where a Slurm answers (`cargo xtask slurm up`);
//! otherwise the section says why, and the run goes on.
//!
//! The `slurm_overhead` example of `process-pool-slurm` times the local pool, the agents,
//! `srun` and `sbatch --array` (see its doc); HyperQueue is timed by `peers/hq_slurm.py`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::compare::Workload;
use crate::tools;

/// What the report says when there is no Slurm to measure on.
pub(crate) const NO_SLURM: &str = "no Slurm: run `cargo xtask slurm up`";
/// The HyperQueue driver, run as `python hq_slurm.py WORKERS CORES LINES PROGRAM...`.
const HQ_SLURM: &str = include_str!("peers/hq_slurm.py");

/// One way of running one workload on the cluster, and its time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Timing {
    /// The workload's name (as in the external tools' table).
    pub(crate) workload: String,
    /// The way, as the driver names it: `local/N`, `agents`, `srun`, `sbatch_array`,
    /// `hyperqueue`.
    pub(crate) way: String,
    /// Jobs timed (a way as slow as `srun` runs fewer).
    pub(crate) jobs: usize,
    /// Jobs in flight at once.
    pub(crate) in_flight: usize,
    /// Wall time in ms, or why there is none.
    pub(crate) ms: Result<f64, String>,
}

impl Timing {
    /// Milliseconds per job, if timed.
    pub(crate) fn ms_per_job(&self) -> Option<f64> {
        self.ms.as_ref().ok().map(|ms| ms / self.jobs as f64)
    }
}

/// The cluster's measurements, or why there are none.
pub(crate) type Measured = Result<Vec<Timing>, String>;

/// The usable nodes and the CPUs of the first, if a Slurm answers.
fn cluster() -> Result<(usize, usize), String> {
    let out = Command::new("sinfo")
        .args(["-h", "-N", "-o", "%N %t %c"])
        .stdin(Stdio::null())
        .output()
        .map_err(|_| NO_SLURM.to_owned())?;
    if !out.status.success() {
        return Err(NO_SLURM.to_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let usable: Vec<usize> = text
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace().skip(1);
            let state = words.next()?;
            let cpus = words.next()?.trim_end_matches('+').parse().ok()?;
            crate::slurm::node_usable(state).then_some(cpus)
        })
        .collect();
    match usable.first() {
        Some(&cpus) => Ok((usable.len(), cpus)),
        None => Err(format!("{NO_SLURM} (no usable node)")),
    }
}

/// Measures every way on every workload. `driver` is the `slurm_overhead` example of the
/// bench's build; `quick` times fewer `srun`s and array tasks, once each.
pub(crate) fn measure(
    target: &Path,
    driver: Option<&Path>,
    workloads: &[Workload],
    quick: bool,
) -> Measured {
    let driver = driver.ok_or("the build gave no slurm_overhead example")?;
    let (nodes, cpus) = cluster()?;
    let mut timings = Vec::new();
    for workload in workloads {
        let mut command = Command::new(driver);
        command
            .args(["--nodes", &nodes.to_string()])
            .args(["--runs", if quick { "1" } else { "3" }])
            .args(["--step-jobs", if quick { "100" } else { "200" }])
            .args(["--array-jobs", if quick { "200" } else { "500" }])
            .arg(&workload.input)
            .arg("--")
            .args(&workload.program);
        eprintln!("==> {} (on Slurm): {command:?}", workload.name);
        timings.extend(run_driver(&mut command, &workload.name));
        timings.push(hyperqueue(target, workload, nodes, cpus));
    }
    Ok(timings)
}

/// Runs the driver; its result lines, or one line saying why it failed.
fn run_driver(command: &mut Command, workload: &str) -> Vec<Timing> {
    let failed = |why: String| {
        vec![Timing {
            workload: workload.to_owned(),
            way: "agents".to_owned(),
            jobs: 0,
            in_flight: 0,
            ms: Err(why),
        }]
    };
    let out = match command
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
    {
        Ok(out) => out,
        Err(e) => return failed(format!("cannot run the slurm_overhead example: {e}")),
    };
    let timings = parse(&String::from_utf8_lossy(&out.stdout), workload);
    if !out.status.success() && timings.is_empty() {
        return failed(format!(
            "the slurm_overhead example failed ({})",
            out.status
        ));
    }
    timings
}

/// The driver's lines: `result WAY JOBS IN_FLIGHT MS` or `skipped WAY REASON`.
fn parse(stdout: &str, workload: &str) -> Vec<Timing> {
    stdout
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let timing = |way: &str, jobs, in_flight, ms| Timing {
                workload: workload.to_owned(),
                way: way.to_owned(),
                jobs,
                in_flight,
                ms,
            };
            match fields[..] {
                ["result", way, jobs, in_flight, ms] => Some(timing(
                    way,
                    jobs.parse().ok()?,
                    in_flight.parse().ok()?,
                    Ok(ms.parse().ok()?),
                )),
                ["skipped", way, why] => Some(timing(way, 0, 0, Err(why.to_owned()))),
                _ => None,
            }
        })
        .collect()
}

/// HyperQueue on `workload`: its server and `nodes` workers of `cpus` cores each (the agents'
/// jobs in flight), started as a step of an allocation of the nodes (see `hq_slurm.py`).
fn hyperqueue(target: &Path, workload: &Workload, nodes: usize, cpus: usize) -> Timing {
    let package = format!("hyperqueue=={}", crate::bench::HYPERQUEUE);
    let ms = tools::python_with(target, &package, "hyperqueue").and_then(|python| {
        let script = target.join("peers/hq_slurm.py");
        std::fs::write(&script, HQ_SLURM).map_err(|e| format!("{}: {e}", script.display()))?;
        let mut command = Command::new("salloc");
        command
            .args(["--exclusive", "--job-name=pp-bench-hq"])
            .arg(format!("--nodes={nodes}"))
            .args(["srun", "--nodes=1", "--ntasks=1"])
            .arg(&python)
            .arg(&script)
            .args([nodes.to_string(), cpus.to_string()])
            .arg(&workload.input)
            .args(&workload.program)
            .current_dir(target.join("peers"));
        eprintln!("==> {} (HyperQueue on Slurm): {command:?}", workload.name);
        let out = command
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("cannot run salloc: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let last = text.lines().last().unwrap_or_default().trim();
        match (out.status.success(), last.parse::<f64>()) {
            (true, Ok(ms)) => Ok(ms),
            _ => Err(format!(
                "hq_slurm.py failed: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or_default()
            )),
        }
    });
    Timing {
        workload: workload.name.clone(),
        way: "hyperqueue".to_owned(),
        jobs: workload.jobs,
        in_flight: nodes * cpus,
        ms,
    }
}

/// How a way is named in the report.
fn describe(way: &str) -> String {
    match way {
        "agents" => "process-pool agent mode (`SlurmSpawner`), one agent per node".to_owned(),
        "srun" => "one `srun` per job (`SlurmStepSpawner`)".to_owned(),
        "sbatch_array" => "the tasks of one `sbatch --array`".to_owned(),
        "hyperqueue" => "HyperQueue (PyPI), its workers in a Slurm allocation".to_owned(),
        other => match other.strip_prefix("local/") {
            Some(n) => format!("local native pool, {n} workers (no Slurm)"),
            None => other.to_owned(),
        },
    }
}

/// The time per job of `way` on the first workload (the targets' one), if measured.
pub(crate) fn per_job(measured: &Measured, way: &str) -> Option<f64> {
    let timings = measured.as_ref().ok()?;
    let first = &timings.first()?.workload;
    timings
        .iter()
        .find(|t| &t.workload == first && t.way == way)?
        .ms_per_job()
}

/// The Markdown section: per workload, each way's time per job and its ratio to agent mode.
pub(crate) fn markdown(measured: &Measured) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n## On Slurm\n");
    let timings = match measured {
        Ok(timings) => timings,
        Err(why) => {
            let _ = writeln!(out, "Not run: {why}.");
            return out;
        }
    };
    let _ = writeln!(
        out,
        "The same jobs through each way on the cluster of `cargo xtask slurm up`, whose nodes \
         all share this machine's CPUs: oversubscribed, so these figures are overheads, not \
         speed-ups. Pools and agents warm, timed from the first job to the last result (the \
         median of the runs); `srun` and the array run fewer jobs, timed once; HyperQueue's \
         server and workers (PyPI `hyperqueue` runs them in one process: it has no `hq` \
         program to start on each node) run as a step of an allocation of the nodes, warm, \
         as many tasks in flight as the agents, timed from the submit to the last task's \
         end. The ratio is the way's time per job over agent mode's (above 1: slower than \
         agent mode).\n"
    );
    let _ = writeln!(
        out,
        "| Work | Way | Jobs | In flight | Total | Per job | Against agent mode |"
    );
    let _ = writeln!(out, "|---|---|--:|--:|--:|--:|--:|");
    for t in timings {
        let agents = timings
            .iter()
            .find(|a| a.workload == t.workload && a.way == "agents")
            .and_then(Timing::ms_per_job);
        let (total, per_job, ratio) = match (&t.ms, t.ms_per_job()) {
            (Ok(ms), Some(per_job)) => (
                format!("{ms:.0} ms"),
                format!("{per_job:.3} ms"),
                agents.map_or_else(|| "—".to_owned(), |a| format!("{:.2}×", per_job / a)),
            ),
            (Err(why), _) => (why.clone(), String::new(), String::new()),
            _ => (String::new(), String::new(), String::new()),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {total} | {per_job} | {ratio} |",
            t.workload,
            describe(&t.way),
            crate::report::count(t.jobs as u64),
            t.in_flight
        );
    }
    out
}

/// The same as JSON.
pub(crate) fn json(measured: &Measured) -> Value {
    match measured {
        Err(why) => json!({ "skipped": why }),
        Ok(timings) => json!({
            "timings": timings
                .iter()
                .map(|t| json!({
                    "workload": t.workload,
                    "way": t.way,
                    "jobs": t.jobs,
                    "in_flight": t.in_flight,
                    "ms": t.ms.as_ref().ok(),
                    "ms_per_job": t.ms_per_job(),
                    "skipped": t.ms.as_ref().err(),
                }))
                .collect::<Vec<_>>(),
        }),
    }
}

/// A measurement as the driver and HyperQueue give it, for the tests.
#[cfg(test)]
pub(crate) fn fake() -> Measured {
    let lines = "result\tlocal/2\t2000\t2\t900\nresult\tlocal/6\t2000\t6\t1200\n\
                 result\tagents\t2000\t6\t1400\nresult\tsrun\t200\t6\t9000\n\
                 skipped\tsbatch_array\tsbatch: no\n";
    let mut timings = parse(lines, "2,000 × `true`");
    timings.push(Timing {
        workload: "2,000 × `true`".to_owned(),
        way: "hyperqueue".to_owned(),
        jobs: 2000,
        in_flight: 6,
        ms: Ok(7000.0),
    });
    Ok(timings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_drivers_lines() {
        let timings = fake().unwrap();
        assert_eq!(timings.len(), 6);
        assert_eq!(timings[2].way, "agents");
        assert_eq!(timings[2].ms_per_job(), Some(0.7));
        assert_eq!(timings[4].ms, Err("sbatch: no".to_owned()));
        assert!(parse("noise\nresult\tx\tnot-a-number\t1\t2\n", "w").is_empty());
    }

    #[test]
    fn ratios_against_agent_mode() {
        let measured = fake();
        assert_eq!(per_job(&measured, "srun"), Some(45.0));
        assert_eq!(per_job(&measured, "nothing"), None);
        let md = markdown(&measured);
        assert!(
            md.contains("| one `srun` per job (`SlurmStepSpawner`) | 200 | 6 | 9000 ms | 45.000 ms | 64.29× |"),
            "{md}"
        );
        assert!(md.contains("| sbatch: no |"), "{md}");
        let json = json(&measured);
        assert_eq!(json["timings"][2]["ms_per_job"], 0.7);
    }

    #[test]
    fn without_slurm_it_says_why() {
        let measured: Measured = Err(NO_SLURM.to_owned());
        assert!(markdown(&measured).contains("Not run: no Slurm: run `cargo xtask slurm up`."));
        assert_eq!(json(&measured)["skipped"], NO_SLURM);
        assert_eq!(per_job(&measured, "agents"), None);
    }
}
