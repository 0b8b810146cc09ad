//! The report as JSON, for tools.

use serde_json::{Value, json};

use super::*;

impl Report {
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
