//! The benchmark report: the project's targets checked against criterion's results, as Markdown
//! and as JSON.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::criterion::Measurement;

/// Target for the scheduler's overhead, in nanoseconds per job (exclusive).
const SCHEDULER_TARGET_NS: f64 = 500.0;
/// loomy's published scheduler overhead, the seed figure: nanoseconds per operation.
const LOOMY_NS_PER_OP: f64 = 1261.0;
/// Target for the pool's spawn cost relative to a plain `std::process` loop (inclusive).
const SPAWN_RATIO_TARGET: f64 = 1.15;
/// Target for a WASI job through the pool relative to the hand-written wasmtime loop.
const WASI_FLOOR_TARGET: f64 = 1.3;
/// Target for the throughput of 2 WASI workers relative to 1.
const WASI_SCALING_TARGET: f64 = 1.5;
/// Target for how many WASI `hello` jobs run in the time of one native `true` job.
const WASI_NATIVE_TARGET: f64 = 80.0;
/// Target for the word count at the large scale: 2 workers against 1.
const WORDCOUNT_SCALING_TARGET: f64 = 1.8;
/// Target for the WASI word count against the native one at the large scale.
const WORDCOUNT_WASI_TARGET: f64 = 2.0;
/// Target for a warm worker's echo round trip at 1 worker, in µs (inclusive).
const WORKER_ROUNDTRIP_TARGET_US: f64 = 20.0;
/// Target for warm workers' throughput at 2 workers against a process spawned per call.
const WORKER_SPAWN_TARGET: f64 = 20.0;
/// Target for what agent mode on Slurm adds per job over the local pool, in ms (inclusive).
const SLURM_AGENT_ADDED_MS: f64 = 0.3;
/// Target for HyperQueue on Slurm against agent mode, per job.
const SLURM_HYPERQUEUE_TARGET: f64 = 6.0;
/// Target for one `srun` per job against agent mode, per job.
const SLURM_SRUN_TARGET: f64 = 100.0;

/// The WASI pool against the hand-written wasmtime loop: (metric, benchmark, floor).
const WASI_FLOOR_ROWS: [(&str, &str, &str); 6] = [
    (
        "WASI trivial module, pool vs floor, 1 worker",
        "wasi_instantiate/pool_trivial/1",
        "wasi_instantiate/floor_trivial/1",
    ),
    (
        "WASI trivial module, pool vs floor, 2 workers",
        "wasi_instantiate/pool_trivial/2",
        "wasi_instantiate/floor_trivial/2",
    ),
    (
        "WASI hello (WASIp1 module), pool vs floor, 1 worker",
        "wasi_instantiate/pool_hello_p1/1",
        "wasi_instantiate/floor_hello_p1/1",
    ),
    (
        "WASI hello (WASIp1 module), pool vs floor, 2 workers",
        "wasi_instantiate/pool_hello_p1/2",
        "wasi_instantiate/floor_hello_p1/2",
    ),
    (
        "WASI hello (WASIp2 component), pool vs floor, 1 worker",
        "wasi_instantiate/pool_hello_p2/1",
        "wasi_instantiate/floor_hello_p2/1",
    ),
    (
        "WASI hello (WASIp2 component), pool vs floor, 2 workers",
        "wasi_instantiate/pool_hello_p2/2",
        "wasi_instantiate/floor_hello_p2/2",
    ),
];

/// A target on a ratio, inclusive.
#[derive(Debug, Clone, Copy)]
enum Limit {
    AtMost(f64),
    AtLeast(f64),
    Below(f64),
}

impl Limit {
    fn met(self, ratio: f64) -> bool {
        match self {
            Limit::AtMost(limit) => ratio <= limit,
            Limit::AtLeast(limit) => ratio >= limit,
            Limit::Below(limit) => ratio < limit,
        }
    }
}

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

/// What a Slurm row's target is on.
#[derive(Debug, Clone, Copy)]
enum SlurmCheck {
    /// The ratio of the two.
    Ratio(Limit),
    /// The difference, in ms per job, at most this.
    AddedMs(f64),
}

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

    /// A row comparing two benchmarks of this run: `benchmark`'s median per job against
    /// `reference`'s, with their ratio. With a `target`, its text and the inclusive limit on the
    /// ratio, the row passes or misses; without, it is for information only.
    fn ratio_row(
        &self,
        metric: &'static str,
        benchmark: &'static str,
        reference: &'static str,
        unit: Unit,
        target: Option<(&'static str, Limit)>,
    ) -> TargetRow {
        let value = self.per_job(benchmark, unit);
        let reference_value = self.per_job(reference, unit);
        let ratio = value.ok().zip(reference_value.ok()).map(|(v, r)| v / r);
        TargetRow {
            metric,
            benchmark,
            value,
            unit: unit.0,
            reference: Some(Reference {
                // Within its group: `std_loop/2` for `native_spawn/std_loop/2`.
                name: reference.split_once('/').map_or(reference, |(_, id)| id),
                benchmark: Some(reference),
                value: reference_value,
                unit: unit.0,
            }),
            ratio,
            target: target.map_or("—", |(text, _)| text),
            status: match (ratio, target, value, reference_value) {
                (None, _, Err(why), _) | (None, _, Ok(_), Err(why)) => absent(why),
                (None, _, Ok(_), Ok(_)) => Status::NotRun,
                (Some(_), None, ..) => Status::Info,
                (Some(r), Some((_, limit)), ..) if limit.met(r) => Status::Pass,
                (Some(_), Some(_), ..) => Status::Miss,
            },
            criterion: true,
        }
    }

    /// A row of agent mode on Slurm: `way`'s time per job against `reference`'s (ways of
    /// [`crate::slurm_peers`]), with a target on their ratio, or, for `added`, on the
    /// difference in ms.
    fn slurm_row(
        &self,
        metric: &'static str,
        (way, benchmark): (&str, &'static str),
        (reference, name): (&str, &'static str),
        target: &'static str,
        check: SlurmCheck,
    ) -> TargetRow {
        let per_job = |way| {
            crate::slurm_peers::per_job(&self.slurm, way).ok_or(if self.slurm.is_err() {
                NO_SLURM
            } else {
                SLURM_NOT_RUN
            })
        };
        let value = per_job(way);
        let reference_value = per_job(reference);
        let ratio = value.ok().zip(reference_value.ok()).map(|(v, r)| v / r);
        let met = value
            .ok()
            .zip(reference_value.ok())
            .map(|(v, r)| match check {
                SlurmCheck::Ratio(limit) => limit.met(v / r),
                SlurmCheck::AddedMs(most) => v - r <= most,
            });
        TargetRow {
            metric,
            benchmark,
            value,
            unit: MS_PER_JOB.0,
            reference: Some(Reference {
                name,
                benchmark: None,
                value: reference_value,
                unit: MS_PER_JOB.0,
            }),
            ratio,
            target,
            status: match met {
                Some(true) => Status::Pass,
                Some(false) => Status::Miss,
                None => Status::NotRun,
            },
            criterion: false,
        }
    }

    /// The targets of agent mode on Slurm (issue 17).
    fn slurm_rows(&self) -> Vec<TargetRow> {
        let agents = ("agents", "slurm/agents");
        let local = self
            .slurm
            .as_ref()
            .ok()
            .and_then(|t| t.iter().find(|t| t.way == "agents"))
            .map_or_else(
                || "local/6".to_owned(),
                |t| format!("local/{}", t.in_flight),
            );
        vec![
            self.slurm_row(
                "Slurm agent mode (3 agents) vs the local native pool, the same jobs in flight: added per job",
                agents,
                (&local, "local pool, as many in flight"),
                "≤ +0.3 ms/job",
                SlurmCheck::AddedMs(SLURM_AGENT_ADDED_MS),
            ),
            self.slurm_row(
                "HyperQueue on Slurm vs agent mode, per job (ours faster above 1)",
                ("hyperqueue", "slurm/hyperqueue"),
                ("agents", "agent mode"),
                "≥ 6×",
                SlurmCheck::Ratio(Limit::AtLeast(SLURM_HYPERQUEUE_TARGET)),
            ),
            self.slurm_row(
                "One `srun` per job vs agent mode, per job (ours faster above 1)",
                ("srun", "slurm/srun"),
                ("agents", "agent mode"),
                "≥ 100×",
                SlurmCheck::Ratio(Limit::AtLeast(SLURM_SRUN_TARGET)),
            ),
        ]
    }

    /// The median per job in µs of `benchmark` from this run, if measured.
    pub(crate) fn per_job_us(&self, benchmark: &str) -> Option<f64> {
        self.per_job(benchmark, US_PER_JOB).ok()
    }

    /// The rows checked against the project's targets.
    pub(crate) fn target_rows(&self) -> Vec<TargetRow> {
        let scheduler = |metric, benchmark| {
            let value = self.per_job(benchmark, NS_PER_JOB);
            TargetRow {
                metric,
                benchmark,
                value,
                unit: NS_PER_JOB.0,
                reference: Some(Reference {
                    name: "loomy (seed)",
                    benchmark: None,
                    value: Ok(LOOMY_NS_PER_OP),
                    unit: "ns/op",
                }),
                ratio: value.ok().map(|ns| ns / LOOMY_NS_PER_OP),
                target: "< 500 ns/job",
                status: match value {
                    Ok(ns) if ns < SCHEDULER_TARGET_NS => Status::Pass,
                    Ok(_) => Status::Miss,
                    Err(why) => absent(why),
                },
                criterion: true,
            }
        };
        let std_loop = self.per_job("native_spawn/std_loop/2", US_PER_JOB);
        let mut rows = vec![
            scheduler("Scheduler overhead, 1 worker", "scheduler/pool/1"),
            scheduler("Scheduler overhead, 2 workers", "scheduler/pool/2"),
            self.ratio_row(
                "Scheduler, 1 worker vs hand-rolled floor",
                "scheduler/pool/1",
                "scheduler/raw_workers/1",
                NS_PER_JOB,
                None,
            ),
            self.ratio_row(
                "Scheduler, 2 workers vs hand-rolled floor",
                "scheduler/pool/2",
                "scheduler/raw_workers/2",
                NS_PER_JOB,
                None,
            ),
            TargetRow {
                metric: "Native spawn, `std::process` loop",
                benchmark: "native_spawn/std_loop/2",
                value: std_loop,
                unit: US_PER_JOB.0,
                reference: None,
                ratio: None,
                target: "baseline",
                status: match std_loop {
                    Ok(_) => Status::Baseline,
                    Err(why) => absent(why),
                },
                criterion: true,
            },
            self.ratio_row(
                "Native spawn, std loop with the pool's work (group + pipes)",
                "native_spawn/std_piped/2",
                "native_spawn/std_loop/2",
                US_PER_JOB,
                None,
            ),
            self.ratio_row(
                "Native spawn, pool",
                "native_spawn/pool/2",
                "native_spawn/std_loop/2",
                US_PER_JOB,
                Some(("≤ 1.15× std_loop", Limit::AtMost(SPAWN_RATIO_TARGET))),
            ),
            self.ratio_row(
                "Native spawn, pool vs std loop with the same work",
                "native_spawn/pool/2",
                "native_spawn/std_piped/2",
                US_PER_JOB,
                None,
            ),
        ];
        let floor = ("≤ 1.3× floor", Limit::AtMost(WASI_FLOOR_TARGET));
        for (metric, benchmark, reference) in WASI_FLOOR_ROWS {
            rows.push(self.ratio_row(metric, benchmark, reference, US_PER_JOB, Some(floor)));
        }
        rows.push(self.ratio_row(
            "WASI hello, throughput of 2 workers vs 1",
            "wasi_instantiate/pool_hello_p1/1",
            "wasi_instantiate/pool_hello_p1/2",
            US_PER_JOB,
            Some(("≥ 1.5×", Limit::AtLeast(WASI_SCALING_TARGET))),
        ));
        rows.push(self.ratio_row(
            "Native `true` vs WASI hello through the pool, 2 workers (jobs per `true`)",
            "wasi_instantiate/native_true/2",
            "wasi_instantiate/pool_hello_p1/2",
            US_PER_JOB,
            Some(("≥ 80×", Limit::AtLeast(WASI_NATIVE_TARGET))),
        ));
        let scaling = ("≥ 1.8×", Limit::AtLeast(WORDCOUNT_SCALING_TARGET));
        rows.push(self.ratio_row(
            "Word count, large scale, native: 2 workers vs 1 (speed-up)",
            "wordcount/native_large/1",
            "wordcount/native_large/2",
            MS_PER_JOB,
            Some(scaling),
        ));
        rows.push(self.ratio_row(
            "Word count, large scale, WASI: 2 workers vs 1 (speed-up)",
            "wordcount/wasi_large/1",
            "wordcount/wasi_large/2",
            MS_PER_JOB,
            Some(scaling),
        ));
        rows.push(self.ratio_row(
            "Word count, large scale, 2 workers: WASI vs native",
            "wordcount/wasi_large/2",
            "wordcount/native_large/2",
            MS_PER_JOB,
            Some(("≤ 2×", Limit::AtMost(WORDCOUNT_WASI_TARGET))),
        ));
        for (metric, ours, floor) in [
            (
                "Warm worker echo round trip, 1 worker, vs a hand-written loop on its pipes",
                "workers/roundtrip_pool/1",
                "workers/roundtrip_floor/1",
            ),
            (
                "Warm worker echo round trip, 1 worker spinning 50 µs (`Worker::spin`), vs the loop on its pipes",
                "workers/roundtrip_pool_spin/1",
                "workers/roundtrip_floor_spin/1",
            ),
        ] {
            let mut roundtrip = self.ratio_row(metric, ours, floor, US_PER_JOB, None);
            roundtrip.target = "≤ 20 µs";
            roundtrip.status = match roundtrip.value {
                Ok(us) if us <= WORKER_ROUNDTRIP_TARGET_US => Status::Pass,
                Ok(_) => Status::Miss,
                Err(why) => absent(why),
            };
            rows.push(roundtrip);
        }
        rows.push(self.ratio_row(
            "procspawn's round trip vs ours, 1 worker (ours faster above 1)",
            "workers/roundtrip_procspawn/1",
            "workers/roundtrip_pool/1",
            US_PER_JOB,
            Some(("> 1×", Limit::AtLeast(1.0 + f64::EPSILON))),
        ));
        rows.push(self.ratio_row(
            "A process spawned per call vs warm workers, 2 workers (throughput)",
            "workers/spawn_per_call/2",
            "workers/throughput_pool/2",
            US_PER_JOB,
            Some(("≥ 20×", Limit::AtLeast(WORKER_SPAWN_TARGET))),
        ));
        rows.push(self.ratio_row(
            "procspawn's pool vs ours, 2 workers (throughput; ours faster above 1)",
            "workers/throughput_procspawn/2",
            "workers/throughput_pool/2",
            US_PER_JOB,
            Some(("> 1×", Limit::AtLeast(1.0 + f64::EPSILON))),
        ));
        rows.push(self.ratio_row(
            "Warm workers, 2 workers vs 1 (throughput)",
            "workers/throughput_pool/1",
            "workers/throughput_pool/2",
            US_PER_JOB,
            None,
        ));
        rows.push(self.ratio_row(
            "Warm workers, 8 calls in flight per worker vs 1, 2 workers (throughput)",
            "workers/throughput_pool/2",
            "workers/multiplexed_8_pool/2",
            US_PER_JOB,
            None,
        ));
        rows.push(self.ratio_row(
            "Word count, reference scale, 2 workers: WASI vs native",
            "wordcount/wasi_reference/2",
            "wordcount/native_reference/2",
            MS_PER_JOB,
            Some(("< 1× (faster)", Limit::Below(1.0))),
        ));
        rows.extend(self.slurm_rows());
        rows
    }

    /// The report as Markdown: a header, the targets table and a table of all results.
    pub(crate) fn to_markdown(&self) -> String {
        let mut out = String::new();
        let cpus = self
            .cpus
            .map_or_else(|| "unknown".to_owned(), |n| n.to_string());
        let model = self.cpu_model.as_deref().unwrap_or("unknown model");
        let mode = if self.quick { "quick" } else { "full" };
        // Writing to a String cannot fail.
        let _ = writeln!(out, "# process-pool benchmark report\n");
        let _ = writeln!(out, "- Date: {}", self.timestamp);
        let _ = writeln!(
            out,
            "- Command: `{}`, built by `{}`, each benchmark run with `{}`",
            self.xtask, self.command, self.bench_flags
        );
        let _ = writeln!(out, "- Mode: {mode}");
        let _ = writeln!(out, "- Machine: {cpus} CPUs, {model}");
        if let Err(why) = &self.guests {
            let _ = writeln!(
                out,
                "- WASI guests: not built ({why}); their benchmarks not run"
            );
        }
        if self.quick {
            let _ = writeln!(
                out,
                "\nQuick mode: short warm-up and measurement, 10 samples; indicative numbers only."
            );
        }

        let _ = writeln!(out, "\n## Targets\n");
        let _ = writeln!(
            out,
            "Medians per job: criterion's time per iteration divided by the jobs per iteration.\n"
        );
        let _ = writeln!(
            out,
            "| Metric | Benchmark | Measured | Reference | Ratio | Target | Result |"
        );
        let _ = writeln!(out, "|---|---|--:|---|--:|---|---|");
        for row in self.target_rows() {
            let measured = match row.value {
                Ok(v) => format!("{} {}", number(v), row.unit),
                Err(why) => why.to_owned(),
            };
            let reference = row.reference.as_ref().map_or_else(
                || "—".to_owned(),
                |r| match r.value {
                    Ok(v) => format!("{} {} {}", r.name, number(v), r.unit),
                    Err(why) => format!("{}: {why}", r.name),
                },
            );
            let ratio = row
                .ratio
                .map_or_else(|| "—".to_owned(), |r| format!("{r:.2}×"));
            let _ = writeln!(
                out,
                "| {} | `{}` | {measured} | {reference} | {ratio} | {} | {} |",
                row.metric,
                row.benchmark,
                row.target,
                row.status.cell()
            );
        }

        out.push_str(&crate::wordcount::markdown(
            &self.measurements,
            self.cpus,
            self.quick,
        ));
        out.push_str(&crate::compare::markdown(&self.external));
        let ours = self.per_job_us("wasi_instantiate/pool_hello_p1/2");
        out.push_str(&crate::wasi_peers::markdown(&self.peers, ours));
        let ours = self.per_job_us("workers/throughput_pool/2");
        out.push_str(&crate::pool_peers::markdown(&self.python_pool, ours));
        out.push_str(&crate::slurm_peers::markdown(&self.slurm));

        let _ = writeln!(out, "\n## All results\n");
        if self.measurements.is_empty() {
            let _ = writeln!(out, "No criterion results found.");
            return out;
        }
        let _ = writeln!(
            out,
            "| Benchmark | Jobs/iter | Median/iter | Std dev/iter | Median/job |"
        );
        let _ = writeln!(out, "|---|--:|--:|--:|--:|");
        for m in &self.measurements {
            let jobs = m.elements.map_or_else(|| "—".to_owned(), count);
            let per_job = m
                .median_ns_per_job()
                .map_or_else(|| "—".to_owned(), duration);
            let _ = writeln!(
                out,
                "| `{}` | {jobs} | {} | {} | {per_job} |",
                m.id,
                duration(m.median_ns),
                duration(m.std_dev_ns),
            );
        }
        out
    }

    /// The report as JSON, for tools.
    pub(crate) fn to_json(&self) -> Value {
        let targets: Vec<Value> = self
            .target_rows()
            .iter()
            .map(|row| {
                json!({
                    "metric": row.metric,
                    "benchmark": row.benchmark,
                    "statistic": "median",
                    "value": row.value.ok(),
                    "unit": row.unit,
                    "missing": row.value.err(),
                    "reference": row.reference.as_ref().map(|r| json!({
                        "name": r.name,
                        "value": r.value.ok(),
                        "unit": r.unit,
                    })),
                    "ratio": row.ratio,
                    "target": row.target,
                    "status": row.status.key(),
                })
            })
            .collect();
        let benchmarks: Vec<Value> = self
            .measurements
            .iter()
            .map(|m| {
                json!({
                    "id": m.id,
                    "group": m.group,
                    "function": m.function,
                    "parameter": m.parameter,
                    "jobs_per_iteration": m.elements,
                    "median_ns": m.median_ns,
                    "std_dev_ns": m.std_dev_ns,
                    "median_ns_per_job": m.median_ns_per_job(),
                })
            })
            .collect();
        json!({
            "date": self.timestamp.get(..10),
            "timestamp": self.timestamp,
            "command": self.command,
            "bench_flags": self.bench_flags,
            "xtask": self.xtask,
            "quick": self.quick,
            "cpus": self.cpus,
            "cpu_model": self.cpu_model,
            "guests": self.guests.as_ref().err().map_or("built", String::as_str),
            "targets": targets,
            "wordcount": crate::wordcount::json(&self.measurements),
            "external_tools": crate::compare::json(&self.external),
            "wasi_peers": crate::wasi_peers::json(&self.peers),
            "worker_pool_peers": crate::pool_peers::json(&self.python_pool),
            "slurm": crate::slurm_peers::json(&self.slurm),
            "benchmarks": benchmarks,
        })
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

/// A number for people: thousands grouped, one decimal below 1,000 and none from there.
pub(crate) fn number(x: f64) -> String {
    let text = if x.abs() < 1000.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.0}")
    };
    let (sign, rest) = text.split_at(usize::from(text.starts_with('-')));
    let (int, frac) = rest.split_at(rest.find('.').unwrap_or(rest.len()));
    format!("{sign}{}{frac}", thousands(int))
}

/// A count for people: thousands grouped.
pub(crate) fn count(n: u64) -> String {
    thousands(&n.to_string())
}

/// Digits with a comma between each group of three.
fn thousands(digits: &str) -> String {
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// Nanoseconds in the largest unit (ns, µs, ms, s) that keeps them at least 1.
pub(crate) fn duration(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    format!("{value:.2} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::criterion::fake;

    fn report(measurements: Vec<Measurement>) -> Report {
        Report {
            timestamp: "2026-01-02T03:04:05Z".to_owned(),
            command: "cargo build --profile bench".to_owned(),
            bench_flags: "--bench".to_owned(),
            xtask: "cargo xtask bench".to_owned(),
            quick: false,
            cpus: Some(2),
            cpu_model: Some("AMD EPYC".to_owned()),
            guests: Ok(()),
            measurements,
            external: Vec::new(),
            peers: Vec::new(),
            python_pool: Err("not run".to_owned()),
            slurm: Err(crate::slurm_peers::NO_SLURM.to_owned()),
        }
    }

    /// [`fake::full`] with one result changed or added.
    fn full_with(id: &str, median: f64, jobs: u64) -> Vec<Measurement> {
        let mut results = fake::full();
        results.retain(|m| m.id != id);
        results.extend(fake::measurements(&[(id, median, jobs)]));
        results
    }

    #[test]
    fn checks_the_targets() {
        let rows = report(fake::full()).target_rows();
        let close = |ratio: Option<f64>, expected: f64| (ratio.unwrap() - expected).abs() < 1e-12;
        assert_eq!(rows.len(), 30);
        // 14.5 ms / 100,000 jobs = 145 ns: PASS; 62 ms / 100,000 = 620 ns: MISS.
        assert_eq!(rows[0].value, Ok(145.0));
        assert_eq!(rows[0].status, Status::Pass);
        assert!(close(rows[0].ratio, 145.0 / 1261.0));
        assert_eq!(rows[1].value, Ok(620.0));
        assert_eq!(rows[1].status, Status::Miss);
        // Against the hand-rolled floor, 50 and 80 ns/job: information only.
        assert_eq!(rows[2].benchmark, "scheduler/pool/1");
        assert_eq!(rows[2].value, Ok(145.0));
        assert_eq!(rows[2].reference.as_ref().unwrap().value, Ok(50.0));
        assert!(close(rows[2].ratio, 2.9));
        assert_eq!(rows[2].status, Status::Info);
        assert_eq!(rows[3].value, Ok(620.0));
        assert!(close(rows[3].ratio, 7.75));
        assert_eq!(rows[3].status, Status::Info);
        // 800 ms / 2,000 = 400 µs; 840 ms / 2,000 = 420 µs; 880 ms / 2,000 = 440 µs.
        assert_eq!(rows[4].value, Ok(400.0));
        assert_eq!(rows[4].status, Status::Baseline);
        assert_eq!(rows[5].value, Ok(420.0));
        assert!(close(rows[5].ratio, 1.05));
        assert_eq!(rows[5].status, Status::Info);
        // 440 / 400 = 1.10×: PASS.
        assert_eq!(rows[6].value, Ok(440.0));
        assert!(close(rows[6].ratio, 1.1));
        assert_eq!(rows[6].status, Status::Pass);
        assert_eq!(rows[7].value, Ok(440.0));
        assert!(close(rows[7].ratio, 440.0 / 420.0));
        assert_eq!(rows[7].status, Status::Info);
        // WASI against the floor (≤ 1.3×): 5/4, then 3.5/2.5 = 1.4× (MISS), then 8/7, 5/4,
        // 12/11, 7/6.
        let wasi: Vec<(f64, Status)> = rows[8..14]
            .iter()
            .map(|r| (r.ratio.unwrap(), r.status))
            .collect();
        for (i, ((ratio, status), expected)) in wasi
            .iter()
            .zip([1.25, 1.4, 8.0 / 7.0, 1.25, 12.0 / 11.0, 7.0 / 6.0])
            .enumerate()
        {
            assert!((ratio - expected).abs() < 1e-9, "row {}: {ratio}", i + 8);
            let pass = if i == 1 { Status::Miss } else { Status::Pass };
            assert_eq!(*status, pass, "row {}", i + 8);
        }
        // 2 workers vs 1: 8 / 5 = 1.6× (≥ 1.5×: PASS); native 390 µs / hello 5 µs = 78×
        // (≥ 80×: MISS).
        assert!(close(rows[14].ratio, 1.6));
        assert_eq!(rows[14].status, Status::Pass);
        assert!(close(rows[15].ratio, 78.0));
        assert_eq!(rows[15].status, Status::Miss);
    }

    #[test]
    fn checks_the_slurm_targets() {
        let mut report = report(fake::full());
        report.slurm = crate::slurm_peers::fake();
        let rows = report.target_rows();
        let row = |metric: &str| rows.iter().find(|r| r.metric.starts_with(metric)).unwrap();
        // 0.7 ms/job through agents, 0.6 ms/job locally at 6 in flight: +0.1 ms, PASS.
        let added = row("Slurm agent mode");
        assert_eq!(added.reference.as_ref().unwrap().value, Ok(0.6));
        assert_eq!((added.value, added.status), (Ok(0.7), Status::Pass));
        // HyperQueue 3.5 ms/job: 5× (≥ 6×: MISS); srun 45 ms/job: 64× (≥ 100×: MISS).
        let hq = row("HyperQueue on Slurm");
        assert!((hq.ratio.unwrap() - 5.0).abs() < 1e-9);
        assert_eq!(hq.status, Status::Miss);
        assert_eq!(row("One `srun` per job").status, Status::Miss);
        // Measured outside criterion: never missing from its results.
        assert!(report.missing().iter().all(|id| !id.starts_with("slurm/")));
        // Without Slurm, the rows say so and do not fail the run.
        report.slurm = Err(crate::slurm_peers::NO_SLURM.to_owned());
        let rows = report.target_rows();
        let srun = rows.iter().find(|r| r.benchmark == "slurm/srun").unwrap();
        assert_eq!(srun.status, Status::NotRun);
        assert_eq!(srun.value, Err(NO_SLURM));
        assert!(report.missing().iter().all(|id| !id.starts_with("slurm/")));
        assert!(
            report
                .to_markdown()
                .contains("not run: no Slurm (`cargo xtask slurm up`)")
        );
    }

    #[test]
    fn spawn_ratio_above_target_misses() {
        let rows = report(full_with("native_spawn/pool/2", 1000e6, 2_000)).target_rows();
        assert!((rows[6].ratio.unwrap() - 1.25).abs() < 1e-12);
        assert_eq!(rows[6].status, Status::Miss);
        // Without a target, a comparison never misses.
        assert_eq!(rows[7].status, Status::Info);
    }

    #[test]
    fn missing_results_are_marked_and_listed() {
        let report = report(fake::measurements(&[("native_spawn/pool/2", 880e6, 2_000)]));
        let rows = report.target_rows();
        assert_eq!(rows[0].value, Err("MISSING"));
        assert_eq!(rows[0].status, Status::Missing);
        assert_eq!(rows[2].status, Status::Missing);
        assert_eq!(rows[4].status, Status::Missing);
        assert_eq!(rows[5].status, Status::Missing);
        for row in &rows[6..8] {
            assert_eq!(row.value, Ok(440.0));
            assert_eq!(row.ratio, None);
            assert_eq!(row.status, Status::Missing);
        }
        let missing = report.missing();
        assert_eq!(missing[..2], ["scheduler/pool/1", "scheduler/pool/2"]);
        assert!(missing.contains(&"native_spawn/std_loop/2".to_owned()));
        assert!(missing.contains(&"wordcount/wasi_large/8".to_owned()));
        assert!(!missing.contains(&"native_spawn/pool/2".to_owned()));
        let unique: std::collections::HashSet<&String> = missing.iter().collect();
        assert_eq!(unique.len(), missing.len());

        let md = report.to_markdown();
        for row in [
            "| Scheduler overhead, 1 worker | `scheduler/pool/1` | MISSING | \
             loomy (seed) 1,261 ns/op | — | < 500 ns/job | MISSING |",
            "| Native spawn, pool | `native_spawn/pool/2` | 440.0 µs/job | \
             std_loop/2: MISSING | — | ≤ 1.15× std_loop | MISSING |",
        ] {
            assert!(md.contains(row), "missing row {row}\nin\n{md}");
        }
    }

    #[test]
    fn what_is_left_out_on_purpose_is_not_missing() {
        // Quick mode without the guests: no large corpus, no `hello`, no word count.
        let mut results: Vec<Measurement> = fake::full()
            .into_iter()
            .filter(|m| !m.id.contains("_hello_"))
            .collect();
        results.extend(workers());
        let mut report = report(results);
        report.quick = true;
        report.guests = Err("no wasm32-wasip1".to_owned());
        assert_eq!(report.missing(), Vec::<String>::new());
        let rows = report.target_rows();
        let row = |metric: &str| rows.iter().find(|r| r.metric.starts_with(metric)).unwrap();
        let hello = row("WASI hello (WASIp1 module), pool vs floor, 1 worker");
        assert_eq!(
            (hello.value, hello.status),
            (Err("not run: no WASI guests"), Status::NotRun)
        );
        let large = row("Word count, large scale, native");
        assert_eq!(
            (large.value, large.status),
            (Err("full run only"), Status::FullRunOnly)
        );
        let md = report.to_markdown();
        assert!(
            md.contains("- WASI guests: not built (no wasm32-wasip1)"),
            "{md}"
        );
        assert!(md.contains("| full run only |"), "{md}");
        // With the guests, the word count at the reference scale is expected, not the large.
        report.guests = Ok(());
        assert!(
            report
                .missing()
                .contains(&"wordcount/native_reference/1".to_owned())
        );
        assert!(!report.missing().iter().any(|id| id.contains("_large/")));
    }

    #[test]
    fn comparisons_need_both_results() {
        let report = report(fake::measurements(&[
            ("scheduler/pool/1", 14.5e6, 100_000),
            ("native_spawn/std_piped/2", 840e6, 2_000),
        ]));
        let rows = report.target_rows();
        assert_eq!(rows[0].status, Status::Pass);
        for i in [2, 5, 7] {
            assert_eq!(rows[i].ratio, None, "row {i}");
            assert_eq!(rows[i].status, Status::Missing, "row {i}");
        }
        let md = report.to_markdown();
        for row in [
            "| Scheduler, 1 worker vs hand-rolled floor | `scheduler/pool/1` | 145.0 ns/job | \
             raw_workers/1: MISSING | — | — | MISSING |",
            "| Native spawn, std loop with the pool's work (group + pipes) | \
             `native_spawn/std_piped/2` | 420.0 µs/job | std_loop/2: MISSING | — | — | MISSING |",
            "| Native spawn, pool vs std loop with the same work | `native_spawn/pool/2` | \
             MISSING | std_piped/2 420.0 µs/job | — | — | MISSING |",
        ] {
            assert!(md.contains(row), "missing row {row}\nin\n{md}");
        }
    }

    /// The warm workers' results.
    fn workers() -> Vec<Measurement> {
        let mut results: Vec<(String, f64, u64)> = Vec::new();
        for (function, workers, ms) in [
            ("roundtrip_pool", "1", 30.0),
            ("roundtrip_floor", "1", 24.0),
            ("roundtrip_pool_spin", "1", 50.0),
            ("roundtrip_floor_spin", "1", 40.0),
            ("roundtrip_procspawn", "1", 120.0),
            ("throughput_pool", "1", 30.0),
            ("throughput_pool", "2", 20.0),
            ("multiplexed_8_pool", "2", 5.0),
            ("throughput_procspawn", "2", 15.0),
        ] {
            results.push((format!("workers/{function}/{workers}"), ms * 1e6, 2_000));
        }
        results.push(("workers/spawn_per_call/2".to_owned(), 200e6, 200));
        let results: Vec<(&str, f64, u64)> = results
            .iter()
            .map(|(id, ns, jobs)| (id.as_str(), *ns, *jobs))
            .collect();
        fake::measurements(&results)
    }

    #[test]
    fn formats_markdown() {
        let md = report(fake::full()).to_markdown();
        assert!(md.starts_with("# process-pool benchmark report\n"));
        assert!(md.contains("- Date: 2026-01-02T03:04:05Z\n"));
        assert!(md.contains(
            "- Command: `cargo xtask bench`, built by `cargo build --profile bench`, each \
             benchmark run with `--bench`\n"
        ));
        assert!(md.contains("- Machine: 2 CPUs, AMD EPYC\n"));
        let targets: Vec<&str> = md
            .lines()
            .skip_while(|l| !l.starts_with("| Metric |"))
            .take_while(|l| !l.is_empty())
            .take(11)
            .collect();
        assert_eq!(
            targets,
            [
                "| Metric | Benchmark | Measured | Reference | Ratio | Target | Result |",
                "|---|---|--:|---|--:|---|---|",
                "| Scheduler overhead, 1 worker | `scheduler/pool/1` | 145.0 ns/job | \
                 loomy (seed) 1,261 ns/op | 0.11× | < 500 ns/job | PASS |",
                "| Scheduler overhead, 2 workers | `scheduler/pool/2` | 620.0 ns/job | \
                 loomy (seed) 1,261 ns/op | 0.49× | < 500 ns/job | MISS |",
                "| Scheduler, 1 worker vs hand-rolled floor | `scheduler/pool/1` | 145.0 ns/job | \
                 raw_workers/1 50.0 ns/job | 2.90× | — | — |",
                "| Scheduler, 2 workers vs hand-rolled floor | `scheduler/pool/2` | 620.0 ns/job | \
                 raw_workers/2 80.0 ns/job | 7.75× | — | — |",
                "| Native spawn, `std::process` loop | `native_spawn/std_loop/2` | 400.0 µs/job | \
                 — | — | baseline | — |",
                "| Native spawn, std loop with the pool's work (group + pipes) | \
                 `native_spawn/std_piped/2` | 420.0 µs/job | std_loop/2 400.0 µs/job | 1.05× | \
                 — | — |",
                "| Native spawn, pool | `native_spawn/pool/2` | 440.0 µs/job | \
                 std_loop/2 400.0 µs/job | 1.10× | ≤ 1.15× std_loop | PASS |",
                "| Native spawn, pool vs std loop with the same work | `native_spawn/pool/2` | \
                 440.0 µs/job | std_piped/2 420.0 µs/job | 1.05× | — | — |",
                "| WASI trivial module, pool vs floor, 1 worker | `wasi_instantiate/pool_trivial/1` | \
                 5.0 µs/job | floor_trivial/1 4.0 µs/job | 1.25× | ≤ 1.3× floor | PASS |",
            ]
        );
        assert!(md.contains(
            "| Native `true` vs WASI hello through the pool, 2 workers (jobs per `true`) | \
             `wasi_instantiate/native_true/2` | 390.0 µs/job | pool_hello_p1/2 5.0 µs/job | \
             78.00× | ≥ 80× | MISS |"
        ));
        for row in [
            "| `scheduler/pool/1` | 100,000 | 14.50 ms | 1.00 µs | 145.00 ns |",
            "| `native_spawn/pool/2` | 2,000 | 880.00 ms | 1.00 µs | 440.00 µs |",
        ] {
            assert!(md.contains(row), "missing row {row}\nin\n{md}");
        }
    }

    #[test]
    fn no_results_at_all() {
        let md = report(Vec::new()).to_markdown();
        let missing = md.lines().filter(|l| l.ends_with("| MISSING |"));
        assert_eq!(missing.count(), 27);
        assert!(md.contains("No criterion results found."));
    }

    #[test]
    fn checks_the_warm_worker_targets() {
        let rows = report(workers()).target_rows();
        let row = |metric: &str| rows.iter().find(|r| r.metric.starts_with(metric)).unwrap();
        // 30 ms / 2,000 calls = 15 µs: within 20 µs.
        let roundtrip = row("Warm worker echo round trip");
        assert_eq!(
            (roundtrip.value, roundtrip.status),
            (Ok(15.0), Status::Pass)
        );
        // 50 ms / 2,000 calls = 25 µs: over 20 µs, against a 20 µs floor.
        let spinning = row("Warm worker echo round trip, 1 worker spinning");
        assert_eq!(
            (spinning.value, spinning.ratio, spinning.status),
            (Ok(25.0), Some(1.25), Status::Miss)
        );
        assert_eq!(row("procspawn's round trip").status, Status::Pass);
        // 1,000 µs per spawned call against 10 µs per warm call: 100×.
        let spawn = row("A process spawned per call");
        assert_eq!((spawn.ratio, spawn.status), (Some(100.0), Status::Pass));
        // procspawn at 7.5 µs against our 10 µs: missed.
        assert_eq!(row("procspawn's pool").status, Status::Miss);
        assert_eq!(row("Warm workers, 8 calls").ratio, Some(4.0));
    }

    #[test]
    fn formats_json() {
        let json = report(fake::full()).to_json();
        assert_eq!(json["date"], "2026-01-02");
        assert_eq!(json["cpus"], 2);
        assert_eq!(json["cpu_model"], "AMD EPYC");
        let targets = &json["targets"];
        assert_eq!(targets.as_array().unwrap().len(), 30);
        assert_eq!(targets[0]["benchmark"], "scheduler/pool/1");
        assert_eq!(targets[0]["value"], 145.0);
        assert_eq!(targets[0]["status"], "pass");
        assert_eq!(targets[1]["status"], "miss");
        assert_eq!(targets[2]["reference"]["name"], "raw_workers/1");
        assert_eq!(targets[2]["reference"]["value"], 50.0);
        assert_eq!(targets[2]["target"], "—");
        assert_eq!(targets[2]["status"], "info");
        assert_eq!(targets[4]["status"], "baseline");
        assert_eq!(targets[6]["reference"]["value"], 400.0);
        assert_eq!(targets[6]["status"], "pass");
        assert_eq!(targets[7]["reference"]["name"], "std_piped/2");
        assert_eq!(targets[7]["status"], "info");
        assert_eq!(json["benchmarks"].as_array().unwrap().len(), 20);
        assert_eq!(json["benchmarks"][3]["id"], "scheduler/pool/1");
        assert_eq!(json["benchmarks"][3]["jobs_per_iteration"], 100_000);
        assert_eq!(json["benchmarks"][3]["median_ns_per_job"], 145.0);
        // Missing values are null, with the reason alongside.
        let json = report(Vec::new()).to_json();
        assert_eq!(json["targets"][0]["value"], Value::Null);
        assert_eq!(json["targets"][0]["missing"], "MISSING");
        assert_eq!(json["targets"][0]["status"], "missing");
    }

    #[test]
    fn reads_cpu_model() {
        let x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel\t\t: 1\n\
                   model name\t: AMD EPYC 7B13\n";
        assert_eq!(cpu_model_in(x86).as_deref(), Some("AMD EPYC 7B13"));
        let arm = "processor\t: 0\nBogoMIPS\t: 108.00\n\nModel\t\t: Raspberry Pi 4\n";
        assert_eq!(cpu_model_in(arm).as_deref(), Some("Raspberry Pi 4"));
        assert_eq!(cpu_model_in("processor: 0\n"), None);
    }

    #[test]
    fn formats_numbers_and_durations() {
        assert_eq!(number(145.04), "145.0");
        assert_eq!(number(1261.0), "1,261");
        assert_eq!(number(100_000.0), "100,000");
        assert_eq!(count(16), "16");
        assert_eq!(count(100_000), "100,000");
        assert_eq!(number(1_234_567.8), "1,234,568");
        assert_eq!(number(-1234.0), "-1,234");
        assert_eq!(duration(145.0), "145.00 ns");
        assert_eq!(duration(440_000.0), "440.00 µs");
        assert_eq!(duration(14_500_000.0), "14.50 ms");
        assert_eq!(duration(2.5e9), "2.50 s");
    }
}
