//! The project's targets: each row of the report's targets table, what it measures, what it is
//! compared with and the limit it is held to, and its verdict from this run's results.

use super::*;

/// Target for the scheduler's overhead, in nanoseconds per job (exclusive).
pub(super) const SCHEDULER_TARGET_NS: f64 = 500.0;

/// loomy's published scheduler overhead, the seed figure: nanoseconds per operation.
pub(super) const LOOMY_NS_PER_OP: f64 = 1261.0;

/// Target for the pool's spawn cost relative to a plain `std::process` loop (inclusive).
pub(super) const SPAWN_RATIO_TARGET: f64 = 1.10;

/// Target for a WASI job through the pool relative to the hand-written wasmtime loop.
pub(super) const WASI_FLOOR_TARGET: f64 = 1.3;

/// Target for the throughput of 2 WASI workers relative to 1.
pub(super) const WASI_SCALING_TARGET: f64 = 1.5;

/// Target for how many WASI `hello` jobs run in the time of one native `true` job.
pub(super) const WASI_NATIVE_TARGET: f64 = 80.0;

/// Target for the word count at the large scale: 2 workers against 1.
pub(super) const WORDCOUNT_SCALING_TARGET: f64 = 1.8;

/// Target for the WASI word count against the native one at the large scale.
pub(super) const WORDCOUNT_WASI_TARGET: f64 = 2.0;

/// Target for a warm worker's echo round trip at 1 worker, in µs (inclusive).
pub(super) const WORKER_ROUNDTRIP_TARGET_US: f64 = 20.0;

/// Target for warm workers' throughput at 2 workers against a process spawned per call.
pub(super) const WORKER_SPAWN_TARGET: f64 = 20.0;

/// Target for what agent mode on Slurm adds per job over the local pool, in ms (inclusive).
pub(super) const SLURM_AGENT_ADDED_MS: f64 = 0.3;

/// Target for HyperQueue on Slurm against agent mode, per job.
pub(super) const SLURM_HYPERQUEUE_TARGET: f64 = 6.0;

/// Target for one `srun` per job against agent mode, per job.
pub(super) const SLURM_SRUN_TARGET: f64 = 100.0;

/// The WASI pool against the hand-written wasmtime loop: (metric, benchmark, floor).
pub(super) const WASI_FLOOR_ROWS: [(&str, &str, &str); 6] = [
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
pub(super) enum Limit {
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

/// What a Slurm row's target is on.
#[derive(Debug, Clone, Copy)]
pub(super) enum SlurmCheck {
    /// The ratio of the two.
    Ratio(Limit),
    /// The difference, in ms per job, at most this.
    AddedMs(f64),
}

impl Report {
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
                Some(("≤ 1.10× std_loop", Limit::AtMost(SPAWN_RATIO_TARGET))),
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
        // Last, so that the rows above keep their places in reports compared over time.
        rows.push(self.ratio_row(
            "Native spawn, pool in the subreaper mode (Linux without cgroups)",
            "native_spawn/pool_subreaper/2",
            "native_spawn/std_loop/2",
            US_PER_JOB,
            Some(("≤ 1.10× std_loop", Limit::AtMost(SPAWN_RATIO_TARGET))),
        ));
        rows
    }
}
