//! What the chart shows, read from the report's JSON: the title, the speed-up series and the
//! bars; anything missing is left out.

use crate::wordcount::{self, WORKERS};
use serde_json::Value;

use super::*;

/// The title, the speed-up series and the bars from the report's JSON; anything missing is
/// left out.
pub(super) fn data(report: &Value) -> Data {
    let cpus = report["cpus"].as_u64().map(|n| n as usize);
    let machine = match (cpus, report["cpu_model"].as_str()) {
        (Some(n), Some(model)) => format!("{n} CPUs ({model})"),
        (Some(n), None) => format!("{n} CPUs"),
        (None, _) => "this machine".to_owned(),
    };
    let title = format!(
        "process-pool: `{}` on {}, {}{}",
        report["xtask"].as_str().unwrap_or("cargo xtask bench"),
        report["date"].as_str().unwrap_or("an unknown date"),
        machine,
        if report["quick"] == true {
            "; quick mode, indicative"
        } else {
            ""
        }
    );

    let mut series = Vec::new();
    for (scale, description) in wordcount::SCALES {
        for (backend, name) in wordcount::BACKENDS {
            let cells: Vec<(f64, f64)> = report["wordcount"][scale][backend]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| Some((c["workers"].as_f64()?, c["median_ms"].as_f64()?)))
                .collect();
            let Some(&(1.0, one)) = cells.first() else {
                continue;
            };
            series.push(Series {
                label: format!("{name}, {}", short(description)),
                points: cells.iter().map(|&(w, ms)| (w, one / ms)).collect(),
            });
        }
    }
    let reference = Series {
        label: format!(
            "mizchi/process_pool (MoonBit), {}: its published figures, measured on another machine",
            short(wordcount::SCALES[0].1)
        ),
        points: WORKERS
            .iter()
            .zip(wordcount::REFERENCE_MS)
            .map(|(&w, ms)| (w as f64, wordcount::REFERENCE_MS[0] / ms))
            .collect(),
    };

    let mut skipped = Vec::new();
    let mut native: Vec<Bar> = Vec::new();
    let mut native_heading = None;
    for timing in report["external_tools"].as_array().into_iter().flatten() {
        let workload = timing["workload"].as_str().unwrap_or_default();
        if !workload.contains("`true`") {
            continue;
        }
        let tool = timing["tool"].as_str().unwrap_or_default();
        let ours = tool.starts_with("ppool");
        let label = tool_label(tool);
        let (Some(ms), Some(jobs)) = (timing["median_ms"].as_f64(), timing["jobs"].as_f64()) else {
            skipped.push(label);
            continue;
        };
        native_heading.get_or_insert_with(|| {
            format!(
                "OS processes: {} jobs of `true`",
                crate::report::count(jobs as u64)
            )
        });
        native.push(Bar {
            label,
            us: ms * 1e3 / jobs,
            ours,
        });
    }
    let mut wasi: Vec<Bar> = Vec::new();
    if let Some(benchmarks) = report["benchmarks"].as_array() {
        let ours = benchmarks
            .iter()
            .find(|b| b["id"] == "wasi_instantiate/pool_hello_p1/2")
            .and_then(|b| b["median_ns_per_job"].as_f64());
        if let Some(ns) = ours {
            wasi.push(Bar {
                label: "process-pool (WasiSpawner)".to_owned(),
                us: ns / 1e3,
                ours: true,
            });
        }
    }
    for peer in report["wasi_peers"].as_array().into_iter().flatten() {
        let label = match peer["peer"].as_str().unwrap_or_default() {
            "wasmtime CLI" => "wasmtime CLI under xargs -P 2".to_owned(),
            "Python wasmtime" => "PyPI wasmtime, one Python process".to_owned(),
            other => other.to_owned(),
        };
        match peer["us_per_job"].as_f64() {
            Some(us) => wasi.push(Bar {
                label,
                us,
                ours: false,
            }),
            None => skipped.push(label),
        }
    }
    let (slurm_heading, slurm) = slurm_bars(report, &mut skipped);
    let mut groups = Vec::new();
    for (heading, mut bars) in [
        (native_heading, native),
        (
            Some("WASI: the `hello` guest, a fresh instance per job".to_owned()),
            wasi,
        ),
        (slurm_heading, slurm),
    ] {
        // Ours first (every ratio is against it), then the others, cheapest first.
        bars.sort_by(|a, b| b.ours.cmp(&a.ours).then(a.us.total_cmp(&b.us)));
        if let (Some(heading), false) = (heading, bars.is_empty()) {
            groups.push(Group { heading, bars });
        }
    }
    Data {
        title,
        cpus,
        series,
        reference,
        groups,
        skipped,
    }
}

/// The bars of the ways to run `true` on Slurm, under their heading; the ways not measured go
/// to `skipped`.
pub(super) fn slurm_bars(report: &Value, skipped: &mut Vec<String>) -> (Option<String>, Vec<Bar>) {
    let mut heading = None;
    let mut bars = Vec::new();
    for timing in report["slurm"]["timings"].as_array().into_iter().flatten() {
        if !timing["workload"]
            .as_str()
            .is_some_and(|w| w.contains("`true`"))
        {
            continue;
        }
        let way = timing["way"].as_str().unwrap_or_default();
        let in_flight = timing["in_flight"].as_u64().unwrap_or(0);
        let label = match way {
            "agents" => "process-pool agent mode".to_owned(),
            "srun" => "one srun per job".to_owned(),
            "sbatch_array" => "sbatch --array".to_owned(),
            "hyperqueue" => "HyperQueue in an allocation".to_owned(),
            other => match other.strip_prefix("local/") {
                Some(n) => format!("local pool, {n} workers (no Slurm)"),
                None => other.to_owned(),
            },
        };
        let Some(ms) = timing["ms_per_job"].as_f64() else {
            skipped.push(format!("{label} on Slurm"));
            continue;
        };
        if way == "agents" {
            heading = Some(format!(
                "On Slurm, nodes sharing these CPUs: `true`, {in_flight} in flight"
            ));
        }
        bars.push(Bar {
            label,
            us: ms * 1e3,
            ours: way == "agents" || way.starts_with("local/"),
        });
    }
    (heading, bars)
}

/// "16 documents × 5,000 words" as "16 docs × 5,000 words".
pub(super) fn short(description: &str) -> String {
    description.replace("documents", "docs")
}

/// A tool's name as the report gives it, for a bar.
pub(super) fn tool_label(tool: &str) -> String {
    if tool.starts_with("ppool") {
        "ppool (our pool)".to_owned()
    } else {
        tool.replace('`', "")
    }
}
