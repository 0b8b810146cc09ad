//! The report's tests: the targets checked, the Markdown and JSON written.

use serde_json::Value;

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
    assert_eq!(rows.len(), 31);
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
         std_loop/2: MISSING | — | ≤ 1.10× std_loop | MISSING |",
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
             std_loop/2 400.0 µs/job | 1.10× | ≤ 1.10× std_loop | PASS |",
            "| Native spawn, pool vs std loop with the same work | `native_spawn/pool/2` | \
             440.0 µs/job | std_piped/2 420.0 µs/job | 1.05× | — | — |",
            "| WASI trivial module, pool vs floor, 1 worker | `wasi_instantiate/pool_trivial/1` | \
             5.0 µs/job | floor_trivial/1 4.0 µs/job | 1.25× | ≤ 1.3× floor | PASS |",
        ]
    );
    assert!(md.contains(
        "| Native spawn, pool in the subreaper mode (Linux without cgroups) | \
         `native_spawn/pool_subreaper/2` | 435.0 µs/job | std_loop/2 400.0 µs/job | 1.09× | \
         ≤ 1.10× std_loop | PASS |"
    ));
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
    assert_eq!(missing.count(), 28);
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
    assert_eq!(targets.as_array().unwrap().len(), 31);
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
    assert_eq!(json["benchmarks"].as_array().unwrap().len(), 21);
    assert_eq!(json["benchmarks"][4]["id"], "scheduler/pool/1");
    assert_eq!(json["benchmarks"][4]["jobs_per_iteration"], 100_000);
    assert_eq!(json["benchmarks"][4]["median_ns_per_job"], 145.0);
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
