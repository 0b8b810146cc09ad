//! Per-job cost of WASI jobs: a trivial module, and the `hello` guest as a WASIp1 module and as
//! a WASIp2 component, through the pool at 1 and 2 workers, each beside a hand-written wasmtime
//! loop over the same engine configuration (the floor), and native `true` through the pool.
//! Targets: the pool within 1.3× of the floor; 2 workers ≥ 1.5× the throughput of 1; a WASI
//! `hello` job ≥ 80× cheaper than a native `true` job.

use std::path::{Path, PathBuf};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use process_pool::{Job, NativeSpawner, ProcessPool, WasiSpawner};
use process_pool_benches::wasi_floor::WasiFloor;
use process_pool_benches::{guest, jobs, jobs_per_iteration, quick};

/// A module that returns at once: what is left is the cost of an instance.
const TRIVIAL: &str = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;

fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn wasi_instantiate(c: &mut Criterion) {
    let jobs_per_iter: usize = if quick() { 1_000 } else { 4_000 };
    let dir = tempfile::tempdir().expect("a temp dir");
    let trivial = dir.path().join("trivial.wat");
    std::fs::write(&trivial, TRIVIAL).expect("write the trivial module");
    let mut cases: Vec<(&str, PathBuf, &'static str)> = vec![("trivial", trivial, "")];
    if let Some(path) = guest("hello", "wasm32-wasip1") {
        cases.push(("hello_p1", path, "hello\n"));
    }
    if let Some(path) = guest("hello", "wasm32-wasip2") {
        cases.push(("hello_p2", path, "hello\n"));
    }

    let mut group = c.benchmark_group("wasi_instantiate");
    jobs_per_iteration(&mut group, "wasi_instantiate", jobs_per_iter);
    for workers in [1, 2] {
        let runtime = runtime(workers);
        for (name, path, expected) in &cases {
            let bytes = std::fs::read(path).expect("read the guest");
            let floor = WasiFloor::new(&bytes, workers as u32).expect("the floor compiles");
            group.bench_function(BenchmarkId::new(format!("floor_{name}"), workers), |b| {
                b.to_async(&runtime).iter(|| async {
                    let ok = floor.run(jobs_per_iter, workers, expected).await;
                    assert_eq!(ok, jobs_per_iter);
                });
            });
            let pool = wasi_pool(&runtime, workers);
            group.bench_function(BenchmarkId::new(format!("pool_{name}"), workers), |b| {
                b.to_async(&runtime)
                    .iter(|| run_pool(&pool, path, jobs_per_iter, expected));
            });
        }
    }
    group.finish();

    // Native `true` through the pool, for the WASI/native ratio: fewer jobs, same group name.
    let native_jobs: usize = if quick() { 200 } else { 1_000 };
    let runtime = runtime(2);
    let pool = runtime
        .block_on(async { NativeSpawner::pool(2) })
        .expect("a pool");
    let mut group = c.benchmark_group("wasi_instantiate");
    jobs_per_iteration(&mut group, "wasi_instantiate", native_jobs);
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("native_true", 2), |b| {
        b.to_async(&runtime).iter(|| {
            let pool = pool.clone();
            let run = tokio::spawn(async move { pool.run_all(jobs(native_jobs, "true")).await });
            async move {
                let results = run.await.expect("no panic").expect("accepted");
                assert!(results.iter().all(|r| r.success()));
            }
        });
    });
    group.finish();
}

/// A pool of `workers` with the default settings.
fn wasi_pool(runtime: &tokio::runtime::Runtime, workers: usize) -> ProcessPool {
    runtime
        .block_on(async { WasiSpawner::pool(workers) })
        .expect("a pool")
}

/// Runs `n` jobs of `path` from a task of the runtime (as a service would) and checks each.
async fn run_pool(pool: &ProcessPool, path: &Path, n: usize, expected: &'static str) {
    let pool = pool.clone();
    let jobs: Vec<Job> = (0..n).map(|_| Job::new(path)).collect();
    let results = tokio::spawn(async move { pool.run_all(jobs).await })
        .await
        .expect("no panic")
        .expect("accepted");
    assert!(
        results
            .iter()
            .all(|r| r.success() && r.stdout == expected.as_bytes())
    );
}

criterion_group!(benches, wasi_instantiate);
criterion_main!(benches);
