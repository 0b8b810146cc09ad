//! Spawn cost: 2,000 × `true` at 2 workers through the pool, beside plain `std::process` loops
//! on 2 threads (`status()`, and `output()` with a process group: what the pool also does).
//! The pool runs as it does by default (on Linux as root, a cgroup per job) and in the
//! subreaper mode (`without_cgroups`, what runs where no cgroup can be made).
//! Target: the pool within 1.10× of the `status()` loop in both. `--quick` runs 500 jobs.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use process_pool::{NativeSpawner, ProcessPool};
use process_pool_benches::{jobs, jobs_per_iteration, quick, std_piped_loop, std_status_loop};

const WORKERS: usize = 2;
const PROGRAM: &str = "true";

fn native_spawn(c: &mut Criterion) {
    let jobs_per_run: usize = if quick() { 500 } else { 2_000 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .expect("a runtime");
    let pool: ProcessPool = runtime
        .block_on(async { NativeSpawner::pool(WORKERS) })
        .expect("a pool");
    let subreaper: ProcessPool = runtime
        .block_on(async {
            ProcessPool::builder()
                .max_workers(WORKERS)
                .build(NativeSpawner::new().without_cgroups())
        })
        .expect("a pool");
    let mut group = c.benchmark_group("native_spawn");
    jobs_per_iteration(&mut group, "native_spawn", jobs_per_run);
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("std_loop", WORKERS), |b| {
        b.iter(|| {
            assert_eq!(
                std_status_loop(PROGRAM, jobs_per_run, WORKERS),
                jobs_per_run
            )
        });
    });
    group.bench_function(BenchmarkId::new("std_piped", WORKERS), |b| {
        b.iter(|| assert_eq!(std_piped_loop(PROGRAM, jobs_per_run, WORKERS), jobs_per_run));
    });
    for (name, pool) in [("pool", &pool), ("pool_subreaper", &subreaper)] {
        group.bench_function(BenchmarkId::new(name, WORKERS), |b| {
            b.to_async(&runtime).iter(|| {
                // Submitted from a task of the runtime, as a service would, rather than from
                // criterion's own thread (a third thread on two cores).
                let pool = pool.clone();
                let run =
                    tokio::spawn(async move { pool.run_all(jobs(jobs_per_run, PROGRAM)).await });
                async move {
                    let results = run.await.expect("no panic").expect("accepted");
                    assert!(results.iter().all(|r| r.success()));
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, native_spawn);
criterion_main!(benches);
