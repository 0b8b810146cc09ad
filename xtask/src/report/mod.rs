//! The benchmark report: the project's targets checked against criterion's results, as Markdown
//! and as JSON.

use crate::criterion::Measurement;

mod format;
mod json;
mod markdown;
mod targets;
#[cfg(test)]
mod tests;

pub(crate) use self::format::{count, duration, number};

/// Everything the report says: when, how, where, and the results.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    /// When the benchmarks started, ISO 8601 UTC.
    pub(crate) timestamp: String,
    /// The cargo command that built the benchmarks.
    pub(crate) command: String,
    /// The flags each benchmark executable was run with.
    pub(crate) bench_flags: String,
    /// The xtask invocation that ran it.
    pub(crate) xtask: String,
    /// Whether the benches ran in quick mode.
    pub(crate) quick: bool,
    /// Available parallelism, if known.
    pub(crate) cpus: Option<usize>,
    /// The CPU model, if known.
    pub(crate) cpu_model: Option<String>,
    /// Whether the WASI guests were built, or why not.
    pub(crate) guests: Result<(), String>,
    /// Every benchmark's result, as the benches printed them.
    pub(crate) measurements: Vec<Measurement>,
    /// The external tools on the same work.
    pub(crate) external: Vec<crate::compare::Timing>,
    /// The WASI peers on the same jobs.
    pub(crate) peers: Vec<crate::wasi_peers::Peer>,
    /// Python's `ProcessPoolExecutor`, µs per task.
    pub(crate) python_pool: Result<f64, String>,
    /// The ways to run jobs on Slurm, or why they were not measured.
    pub(crate) slurm: crate::slurm_peers::Measured,
}

/// The verdict of one target row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Measured and within the target.
    Pass,
    /// Measured and outside the target.
    Miss,
    /// A result needed for the verdict was not measured on purpose (the WASI guests not
    /// built, a tool not installed).
    NotRun,
    /// A result only the full run measures (`--quick` leaves it out).
    FullRunOnly,
    /// A result the benches should have given is missing: the run fails.
    Missing,
    /// A baseline, measured for comparison only.
    Baseline,
    /// A comparison with no target, for information only.
    Info,
}

impl Status {
    /// As shown in the Markdown table.
    fn cell(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Miss => "MISS",
            Self::NotRun => "not run",
            Self::FullRunOnly => "full run only",
            Self::Missing => "MISSING",
            Self::Baseline | Self::Info => "—",
        }
    }

    /// As written to JSON.
    fn key(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Miss => "miss",
            Self::NotRun => "not_run",
            Self::FullRunOnly => "full_run_only",
            Self::Missing => "missing",
            Self::Baseline => "baseline",
            Self::Info => "info",
        }
    }
}

/// What a target row is compared with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reference {
    /// What it is.
    pub(crate) name: &'static str,
    /// Its benchmark id, if it is one of this run's benchmarks.
    pub(crate) benchmark: Option<&'static str>,
    /// Its value, or why there is none.
    pub(crate) value: Result<f64, &'static str>,
    /// The unit of `value`.
    pub(crate) unit: &'static str,
}

/// One row of the targets table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TargetRow {
    /// What is measured.
    pub(crate) metric: &'static str,
    /// Criterion's id of the benchmark.
    pub(crate) benchmark: &'static str,
    /// The median per job in `unit`, or why there is none.
    pub(crate) value: Result<f64, &'static str>,
    /// The unit of `value`.
    pub(crate) unit: &'static str,
    /// What the value is compared with.
    pub(crate) reference: Option<Reference>,
    /// `value / reference`, when both are known.
    pub(crate) ratio: Option<f64>,
    /// The target, as stated in the project.
    pub(crate) target: &'static str,
    /// The verdict.
    pub(crate) status: Status,
    /// Whether `benchmark` (and a reference's) is a criterion benchmark of this run, which
    /// the run fails without; otherwise it is measured outside criterion (on Slurm).
    pub(crate) criterion: bool,
}

/// A unit for a row's values: its name and how many nanoseconds make one.
#[derive(Debug, Clone, Copy)]
struct Unit(&'static str, f64);

/// Nanoseconds per job.
const NS_PER_JOB: Unit = Unit("ns/job", 1.0);

/// Microseconds per job.
const US_PER_JOB: Unit = Unit("µs/job", 1000.0);

/// Milliseconds per job.
const MS_PER_JOB: Unit = Unit("ms/job", 1e6);

/// Why a benchmark has no value: only the full run measures it.
const FULL_RUN_ONLY: &str = "full run only";

/// Why a benchmark has no value: it runs a WASI guest, and they were not built.
const NO_GUESTS: &str = "not run: no WASI guests";

/// Why a benchmark has no value: the benches gave none (the run fails).
const MISSING: &str = "MISSING";

/// Why a Slurm row has no value: no Slurm answered.
const NO_SLURM: &str = "not run: no Slurm (`cargo xtask slurm up`)";

/// Why a Slurm row has no value: that way was not measured (the Slurm section says why).
const SLURM_NOT_RUN: &str = "not run (see On Slurm)";

/// Whether the benchmark `id` is measured by the full run only (the large corpus).
fn full_run_only(id: &str) -> bool {
    id.starts_with("wordcount/") && id.contains("_large/")
}

/// Whether the benchmark `id` runs one of the Rust guests (`cargo xtask guests`).
fn needs_guests(id: &str) -> bool {
    id.starts_with("wordcount/") || id.contains("_hello_")
}

/// The status of a row whose value or reference is absent for `why`.
fn absent(why: &str) -> Status {
    match why {
        FULL_RUN_ONLY => Status::FullRunOnly,
        MISSING => Status::Missing,
        _ => Status::NotRun,
    }
}

/// The CPU model from `/proc/cpuinfo`, if readable.
pub(crate) fn cpu_model() -> Option<String> {
    cpu_model_in(&std::fs::read_to_string("/proc/cpuinfo").ok()?)
}

/// The CPU model named in the text of `/proc/cpuinfo` (x86 `model name`, or ARM's `Model`).
fn cpu_model_in(cpuinfo: &str) -> Option<String> {
    ["model name", "Model", "Hardware"].iter().find_map(|key| {
        cpuinfo.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            let value = value.trim();
            (name.trim() == *key && !value.is_empty()).then(|| value.to_owned())
        })
    })
}

impl Report {
    /// The median per job, in `unit`, of the benchmark `group/function/parameter` from this run,
    /// or why there is none.
    fn per_job(&self, benchmark: &str, Unit(_, ns_per_unit): Unit) -> Result<f64, &'static str> {
        let Some(m) = self.measurements.iter().find(|m| m.id == benchmark) else {
            return Err(self.why_absent(benchmark));
        };
        m.median_ns_per_job()
            .map(|ns| ns / ns_per_unit)
            .ok_or("no jobs per iteration")
    }

    /// Why the benchmark `id` has no result in this run: on purpose, or missing.
    fn why_absent(&self, id: &str) -> &'static str {
        if self.quick && full_run_only(id) {
            FULL_RUN_ONLY
        } else if self.guests.is_err() && needs_guests(id) {
            NO_GUESTS
        } else {
            MISSING
        }
    }

    /// Every benchmark the report reads that this run should have measured and did not, in
    /// the order the report reads them: a result lost on the way, never skipped on purpose.
    pub(crate) fn missing(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for row in self.target_rows().into_iter().filter(|r| r.criterion) {
            ids.push(row.benchmark.to_owned());
            ids.extend(row.reference.and_then(|r| r.benchmark).map(str::to_owned));
        }
        ids.extend(crate::wordcount::ids());
        let mut missing: Vec<String> = Vec::new();
        for id in ids {
            let found = self.measurements.iter().any(|m| m.id == id);
            if !found && self.why_absent(&id) == MISSING && !missing.contains(&id) {
                missing.push(id);
            }
        }
        missing
    }

    /// The median per job in µs of `benchmark` from this run, if measured.
    pub(crate) fn per_job_us(&self, benchmark: &str) -> Option<f64> {
        self.per_job(benchmark, US_PER_JOB).ok()
    }
}
