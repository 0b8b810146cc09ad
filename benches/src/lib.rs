//! What the benchmarks share: a no-op spawner and the hand-written baselines they are measured
//! against (a raw tokio task loop, a raw `std::process` spawn loop, a raw wasmtime loop).

use std::collections::VecDeque;
use std::io;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub mod corpus;
pub mod wasi_floor;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Throughput};
use process_pool::backend::{CancellationToken, Exit, ExitStatus, RunContext, Spawner};
use process_pool::{Job, async_trait};

/// How a bench announces its jobs per iteration on stdout, followed by the group and the
/// number: `cargo xtask bench` reads it (with criterion's `--output-format bencher` lines) to
/// give figures per job.
pub const JOBS_PER_ITERATION: &str = "process-pool-bench: jobs-per-iteration";

/// Sets how many jobs each iteration of the benchmarks added next to `group` runs: criterion's
/// throughput, and a line on stdout for `cargo xtask bench` ([`JOBS_PER_ITERATION`]). `name`
/// is the group's name, as given to `benchmark_group`.
pub fn jobs_per_iteration(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, jobs: usize) {
    group.throughput(Throughput::Elements(jobs as u64));
    println!("{JOBS_PER_ITERATION} {name} {jobs}");
}

/// Succeeds at once without doing anything: what is left is the scheduler's own cost.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopSpawner;

#[async_trait]
impl Spawner for NoopSpawner {
    async fn spawn(&self, _job: &Job, _ctx: &RunContext) -> io::Result<Exit> {
        Ok(Exit::new(ExitStatus::Code(0)))
    }
}

/// `n` identical jobs.
pub fn jobs(n: usize, program: &str) -> Vec<Job> {
    (0..n).map(|_| Job::new(program)).collect()
}

/// The floor for a scheduler of parallel workers on tokio, written by hand: `workers` tasks
/// pull jobs from one mutex-guarded deque and store each exit by index. No handles, priorities,
/// retries, timeouts, hooks or statistics; one context per worker.
pub async fn raw_workers(jobs: Vec<Job>, workers: usize) -> Vec<Option<io::Result<Exit>>> {
    let total = jobs.len();
    let queue = Arc::new(Mutex::new(
        jobs.into_iter().enumerate().collect::<VecDeque<_>>(),
    ));
    let exits = Arc::new(Mutex::new((0..total).map(|_| None).collect::<Vec<_>>()));
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let queue = Arc::clone(&queue);
            let exits = Arc::clone(&exits);
            tokio::spawn(async move {
                let ctx = RunContext::new(CancellationToken::new(), 0, Duration::ZERO);
                loop {
                    let next = queue.lock().expect("not poisoned").pop_front();
                    let Some((index, job)) = next else { break };
                    let exit = NoopSpawner.spawn(&job, &ctx).await;
                    exits.lock().expect("not poisoned")[index] = Some(exit);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("no panic");
    }
    std::mem::take(&mut *exits.lock().expect("not poisoned"))
}

/// The floor for spawning: `threads` OS threads each running `Command::status()` in a loop
/// until `total` processes have run. Inherited stdio, no process group, no capture.
pub fn std_status_loop(program: &str, total: usize, threads: usize) -> usize {
    run_on_threads(total, threads, || {
        Command::new(program).status().is_ok_and(|s| s.success())
    })
}

/// As [`std_status_loop`], with what the pool does too: a process group per job and stdout and
/// stderr piped and read (`output()`).
pub fn std_piped_loop(program: &str, total: usize, threads: usize) -> usize {
    use std::os::unix::process::CommandExt;
    run_on_threads(total, threads, || {
        Command::new(program)
            .process_group(0)
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn run_on_threads(total: usize, threads: usize, run: impl Fn() -> bool + Sync) -> usize {
    let next = AtomicUsize::new(0);
    let ok = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    if run() {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    ok.into_inner()
}

/// Whether `cargo xtask bench --quick` asked for a short run.
pub fn quick() -> bool {
    std::env::var_os("PROCESS_POOL_BENCH_QUICK").is_some_and(|v| v == "1")
}

/// The target directory this benchmark or test runs from: `<target>/<profile>/deps/<exe>`.
pub fn target_dir() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.ancestors().nth(3)?.to_path_buf())
}

/// The Rust guest `name` built by `cargo xtask guests` for `target` (`wasm32-wasip1`,
/// `wasm32-wasip2`, or `native` for the host build of `wordcount`); `None` (and a line saying
/// what to run) if it is not built.
pub fn guest(name: &str, target: &str) -> Option<std::path::PathBuf> {
    let guests = target_dir()?.join("guests");
    let path = if target == "native" {
        guests.join("release").join(name)
    } else {
        guests
            .join(target)
            .join("release")
            .join(format!("{name}.wasm"))
    };
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "skipping the {name} guest for {target}: {} is not built (run `cargo xtask guests`)",
            path.display()
        );
        None
    }
}
