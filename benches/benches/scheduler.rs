//! Scheduler overhead: 100,000 jobs through a no-op spawner, per job, at 1 and 2 workers,
//! beside hand-rolled worker tasks on a shared deque (the floor of a scheduler on tokio).
//! Target: under 500 ns per job (loomy, a Go pool, reports 1,261 ns/op).

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use process_pool::ProcessPool;
use process_pool_benches::{NoopSpawner, jobs, jobs_per_iteration, raw_workers};

const JOBS: usize = 100_000;

fn scheduler(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("scheduler");
    jobs_per_iteration(&mut group, "scheduler", JOBS);
    group.sample_size(10);
    for workers in [1, 2] {
        let pool = runtime
            .block_on(async { ProcessPool::new(NoopSpawner, workers) })
            .expect("a pool");
        group.bench_with_input(BenchmarkId::new("pool", workers), &workers, |b, _| {
            b.to_async(&runtime).iter_batched(
                || jobs(JOBS, "noop"),
                |batch| {
                    // Submitted from a task of the runtime, as a service would, rather than
                    // from criterion's own thread (a third busy thread on two cores).
                    let pool = pool.clone();
                    let run = tokio::spawn(async move { pool.run_all(batch).await });
                    async move {
                        let results = run.await.expect("no panic").expect("accepted");
                        assert_eq!(results.len(), JOBS);
                        results
                    }
                },
                BatchSize::PerIteration,
            );
        });
        group.bench_with_input(
            BenchmarkId::new("raw_workers", workers),
            &workers,
            |b, &w| {
                b.to_async(&runtime).iter_batched(
                    || jobs(JOBS, "noop"),
                    |batch| {
                        let run = tokio::spawn(raw_workers(batch, w));
                        async move {
                            let exits = run.await.expect("no panic");
                            assert!(exits.iter().all(|e| matches!(e, Some(Ok(_)))));
                            exits
                        }
                    },
                    BatchSize::PerIteration,
                );
            },
        );
    }
    group.finish();
}

criterion_group!(benches, scheduler);
criterion_main!(benches);
