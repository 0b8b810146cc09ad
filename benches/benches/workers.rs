//! Warm workers: an echo round trip through a native worker, one call at a time (latency) and
//! 2,000 at once (throughput) at 1 and 2 workers, and with 8 calls in flight per worker;
//! beside a process spawned per call (the native backend running `cat`), procspawn's pool
//! (the Rust peer), and a hand-written round-trip loop on one worker's pipes (the floor). The
//! round trip runs twice: with the worker sleeping while it waits, and spinning for 50 µs
//! first (`Worker::spin`).
//! Python's `ProcessPoolExecutor` is measured by `cargo xtask bench`.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use criterion::{BenchmarkId, Criterion, criterion_group};
use process_pool::{Call, Job, NativeSpawner, NativeWorker, WorkerPool};
use process_pool_benches::jobs_per_iteration;

const WORKER: &str = env!("CARGO_BIN_EXE_echo_worker");
const CALLS: usize = 2_000;
const SPAWNED: usize = 200;
const PAYLOAD: &[u8] = b"hello, worker";

/// How long the spinning variants' worker polls for its next call before sleeping
/// (`Worker::spin`).
const SPIN_US: &str = "50";

fn pool(
    runtime: &tokio::runtime::Runtime,
    workers: usize,
    per_worker: usize,
    spin_us: &str,
) -> WorkerPool {
    runtime.block_on(async {
        let worker = NativeWorker::new(WORKER)
            .env("WORKER_CONCURRENCY", per_worker.to_string())
            .env("WORKER_SPIN_US", spin_us);
        let pool = WorkerPool::builder()
            .min_workers(workers)
            .max_workers(workers)
            .max_calls_per_worker(per_worker)
            .build(worker)
            .expect("a pool");
        pool.ready().await.expect("workers start");
        pool
    })
}

fn workers(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("workers");
    group.sample_size(10);

    // Latency: one call at a time.
    jobs_per_iteration(&mut group, "workers", CALLS);
    for (name, spin_us) in [("", "0"), ("_spin", SPIN_US)] {
        let one = pool(&runtime, 1, 1, spin_us);
        group.bench_function(BenchmarkId::new(format!("roundtrip_pool{name}"), 1), |b| {
            b.to_async(&runtime).iter(|| roundtrip(one.clone()));
        });
        group.bench_function(BenchmarkId::new(format!("roundtrip_floor{name}"), 1), |b| {
            let mut floor = Floor::start(spin_us);
            b.iter(|| {
                for _ in 0..CALLS {
                    floor.echo(PAYLOAD);
                }
            });
        });
    }
    let procspawn_pool = procspawn::Pool::new(1).expect("a procspawn pool");
    group.bench_function(BenchmarkId::new("roundtrip_procspawn", 1), |b| {
        b.iter(|| {
            for _ in 0..CALLS {
                let handle = procspawn_pool.spawn(PAYLOAD.to_vec(), |payload| payload);
                assert_eq!(handle.join().expect("echo").len(), PAYLOAD.len());
            }
        });
    });
    drop(procspawn_pool);

    // Throughput: all calls at once.
    for workers in [1, 2] {
        let pool = pool(&runtime, workers, 1, "0");
        group.bench_function(BenchmarkId::new("throughput_pool", workers), |b| {
            b.to_async(&runtime).iter(|| call_all(pool.clone()));
        });
    }
    let multiplexed = pool(&runtime, 2, 8, "0");
    group.bench_function(BenchmarkId::new("multiplexed_8_pool", 2), |b| {
        b.to_async(&runtime).iter(|| call_all(multiplexed.clone()));
    });
    let procspawn_pool = procspawn::Pool::new(2).expect("a procspawn pool");
    group.bench_function(BenchmarkId::new("throughput_procspawn", 2), |b| {
        b.iter(|| {
            let handles: Vec<_> = (0..CALLS)
                .map(|_| procspawn_pool.spawn(PAYLOAD.to_vec(), |payload| payload))
                .collect();
            for handle in handles {
                assert_eq!(handle.join().expect("echo").len(), PAYLOAD.len());
            }
        });
    });
    drop(procspawn_pool);

    // A process per call: the native backend running `cat` on the payload.
    jobs_per_iteration(&mut group, "workers", SPAWNED);
    let spawner = runtime
        .block_on(async { NativeSpawner::pool(2) })
        .expect("a pool");
    group.bench_function(BenchmarkId::new("spawn_per_call", 2), |b| {
        b.to_async(&runtime).iter(|| {
            let pool = spawner.clone();
            async move {
                let jobs = (0..SPAWNED).map(|_| Job::new("cat").stdin(PAYLOAD));
                let results = tokio::spawn(async move { pool.run_all(jobs).await })
                    .await
                    .expect("no panic")
                    .expect("accepted");
                assert!(results.iter().all(|r| r.stdout.len() == PAYLOAD.len()));
            }
        });
    });
    group.finish();
}

/// Makes [`CALLS`] echo calls one after another from a task of the runtime.
async fn roundtrip(pool: WorkerPool) {
    tokio::spawn(async move {
        for _ in 0..CALLS {
            let reply = pool.call("echo", PAYLOAD).await.expect("echo");
            assert_eq!(reply.len(), PAYLOAD.len());
        }
    })
    .await
    .expect("no panic");
}

/// Submits [`CALLS`] echo calls at once from a task of the runtime and checks every reply.
async fn call_all(pool: WorkerPool) {
    tokio::spawn(async move {
        let calls = (0..CALLS).map(|_| Call::new("echo", PAYLOAD));
        for reply in pool.call_many(calls).await {
            assert_eq!(reply.expect("echo").len(), PAYLOAD.len());
        }
    })
    .await
    .expect("no panic");
}

/// The floor: one worker, driven by blocking writes and reads of whole frames on its pipes,
/// one call at a time, with no pool, no runtime and no bookkeeping.
struct Floor {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::process::ChildStdout,
    id: u64,
}

impl Floor {
    fn start(spin_us: &str) -> Floor {
        let mut child = Command::new(WORKER)
            .env("WORKER_SPIN_US", spin_us)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the echo worker starts");
        let stdin = child.stdin.take().expect("piped");
        let mut stdout = child.stdout.take().expect("piped");
        let _hello = read_frame(&mut stdout);
        Floor {
            child,
            stdin,
            stdout,
            id: 0,
        }
    }

    fn echo(&mut self, payload: &[u8]) {
        self.id += 1;
        let name = b"echo";
        let len = 12 + name.len() + payload.len();
        let mut frame = Vec::with_capacity(4 + len);
        frame.extend_from_slice(&u32::try_from(len).expect("small").to_be_bytes());
        frame.extend_from_slice(&[2, 0]);
        frame.extend_from_slice(&u16::try_from(name.len()).expect("small").to_be_bytes());
        frame.extend_from_slice(&self.id.to_be_bytes());
        frame.extend_from_slice(name);
        frame.extend_from_slice(payload);
        self.stdin.write_all(&frame).expect("written");
        let reply = read_frame(&mut self.stdout);
        assert_eq!(&reply[12..], payload);
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_frame(from: &mut impl Read) -> Vec<u8> {
    let mut len = [0; 4];
    from.read_exact(&mut len).expect("a frame");
    let mut frame = vec![0; u32::from_be_bytes(len) as usize];
    from.read_exact(&mut frame).expect("a whole frame");
    frame
}

criterion_group!(benches, workers);

fn main() {
    // procspawn runs its workers as this binary: they branch off here.
    procspawn::init();
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
