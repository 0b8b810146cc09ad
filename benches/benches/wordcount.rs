//! The main job: word-count each document of a corpus, one job per document, at 1, 2, 4 and 8
//! workers, with the native `wordcount` and with the same program built for `wasm32-wasip1`
//! (reading its document from a read-only preopen). The reference scale (16 × 5,000 words)
//! always; the large one (64 × 200,000 words) unless `--quick`.

use std::path::Path;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use process_pool::{DirAccess, Job, JobResult, NativeSpawner, ProcessPool, WasiSpawner};
use process_pool_benches::corpus::{self, Scale};
use process_pool_benches::{guest, jobs_per_iteration, quick, target_dir};

const WORKERS: [usize; 4] = [1, 2, 4, 8];

fn wordcount(c: &mut Criterion) {
    let target = target_dir().expect("benches run from the target directory");
    let native = guest("wordcount", "native");
    let wasm = guest("wordcount", "wasm32-wasip1");
    let scales: &[Scale] = if quick() {
        &[Scale::REFERENCE]
    } else {
        &[Scale::REFERENCE, Scale::LARGE]
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("wordcount");
    group.sample_size(10);
    for &scale in scales {
        let docs = corpus::ensure(&target.join("corpus"), scale).expect("the corpus");
        let dir = docs[0].parent().expect("a corpus directory").to_path_buf();
        jobs_per_iteration(&mut group, "wordcount", scale.docs);
        for workers in WORKERS {
            if let Some(program) = &native {
                let pool = runtime
                    .block_on(async { NativeSpawner::pool(workers) })
                    .expect("a pool");
                let jobs = || docs.iter().map(|d| Job::new(program).arg(d)).collect();
                let id = BenchmarkId::new(format!("native_{}", scale.name), workers);
                group.bench_function(id, |b| {
                    b.to_async(&runtime).iter(|| run(&pool, jobs()));
                });
            }
            if let Some(module) = &wasm {
                let pool = wasi_pool(&runtime, &dir, workers);
                let jobs = || {
                    docs.iter()
                        .map(|d| Job::new(module).arg(guest_path(d)))
                        .collect()
                };
                let id = BenchmarkId::new(format!("wasi_{}", scale.name), workers);
                group.bench_function(id, |b| {
                    b.to_async(&runtime).iter(|| run(&pool, jobs()));
                });
            }
        }
    }
    group.finish();
}

/// A WASI pool of `workers` whose guests see the corpus directory `dir` as `/corpus`.
fn wasi_pool(runtime: &tokio::runtime::Runtime, dir: &Path, workers: usize) -> ProcessPool {
    let spawner = WasiSpawner::builder()
        .max_instances(workers as u32)
        .preopen(dir, "/corpus", DirAccess::ReadOnly)
        .build()
        .expect("a spawner");
    let _entered = runtime.enter();
    ProcessPool::new(spawner, workers).expect("a pool")
}

/// A document's path as the guest sees it.
fn guest_path(doc: &Path) -> String {
    let name = doc.file_name().expect("a file name").to_string_lossy();
    format!("/corpus/{name}")
}

/// Runs the batch from a task of the runtime and checks every count came back.
async fn run(pool: &ProcessPool, jobs: Vec<Job>) {
    let pool = pool.clone();
    let results: Vec<JobResult> = tokio::spawn(async move { pool.run_all(jobs).await })
        .await
        .expect("no panic")
        .expect("accepted");
    for result in &results {
        assert!(
            result.success() && result.stdout.starts_with(b"== "),
            "{}: {}",
            result.outcome,
            result.stderr_lossy()
        );
    }
}

criterion_group!(benches, wordcount);
criterion_main!(benches);
