//! A `WasiWorker` never hangs its `WorkerPool`: a guest stuck in its start function (spinning,
//! asleep in `poll_oneoff`, reading a stdin that never brings anything) fails its start within
//! the pool's startup timeout and gives its instance back; a shutdown returns; a call asleep in
//! a host call is stopped with its worker.
//!
//! Each test prints the time from the stop (startup timeout, shutdown, kill) to the answer.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use process_pool_core::{Call, CallError, Job, ProcessPool, RetryPolicy, WorkerPool};
use process_pool_wasi::{DirAccess, WasiSpawner};
use tempfile::TempDir;
use tokio::sync::mpsc;

const WASI: &str = "wasi_snapshot_preview1";
const STARTUP: Duration = Duration::from_millis(300);
/// Generous: only catches a worker that is not stopped at all.
const MARGIN: Duration = Duration::from_secs(5);
const HANG: Duration = Duration::from_secs(60);

/// How a worker's start function is stuck.
#[derive(Debug, Clone, Copy)]
enum Stuck {
    Spin,
    /// `poll_oneoff` on a clock an hour away, again and again.
    Sleep,
    /// `fd_read` of stdin, on which the pool sends nothing before the worker's hello.
    Read,
}

/// A worker module that creates `started` in its first preopened directory, then is stuck
/// `how` in its start function, never reaching `_start` and its hello.
fn stuck(how: Stuck) -> String {
    let body = match how {
        Stuck::Spin => "(loop $l (br $l))",
        Stuck::Sleep => {
            "(loop $l (drop (call $poll (i32.const 64) (i32.const 128) (i32.const 1) \
             (i32.const 192))) (br $l))"
        }
        Stuck::Read => {
            "(loop $l (drop (call $read (i32.const 0) (i32.const 32) (i32.const 1) \
             (i32.const 48))) (br $l))"
        }
    };
    format!(
        r#"(module
  (import "{WASI}" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "{WASI}" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "{WASI}" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "started")
  ;; One iovec at 32: 64 bytes at 256.
  (data (i32.const 32) "\00\01\00\00\40\00\00\00")
  ;; One subscription at 64: a monotonic clock (id 1 at +16), an hour away (at +24).
  (data (i32.const 80) "\01")
  (data (i32.const 88) "\00\f0\0a\61\46\03\00\00")
  (func $stuck
    (drop (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 7) (i32.const 1)
      (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 16)))
    {body})
  (start $stuck)
  (func (export "_start")))"#
    )
}

/// A stuck worker module in a directory of its own, granted to it, which it marks when it
/// gets stuck; its spawner holds one instance, so a worker that keeps its instance would
/// leave none for the next guest.
struct Case {
    how: Stuck,
    dir: TempDir,
    module: PathBuf,
    spawner: WasiSpawner,
}

impl Case {
    async fn new(how: Stuck) -> Case {
        let dir = tempfile::tempdir().unwrap();
        let module = dir.path().join("stuck.wat");
        std::fs::write(&module, stuck(how)).unwrap();
        let spawner = WasiSpawner::builder()
            .max_instances(1)
            .preopen(dir.path(), "/work", DirAccess::ReadWrite)
            .build()
            .unwrap();
        spawner.compile(&module).await.unwrap();
        Case {
            how,
            dir,
            module,
            spawner,
        }
    }

    fn pool(&self, startup: Duration) -> WorkerPool {
        WorkerPool::builder()
            .max_workers(1)
            .startup_timeout(startup)
            .startup_retry(RetryPolicy::none())
            .build(self.spawner.worker(&self.module))
            .unwrap()
    }

    /// Waits until the guest is in its start function.
    async fn stuck(&self) {
        let marker = self.dir.path().join("started");
        within(async {
            while !marker.exists() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
    }

    /// The spawner's one instance is free: a job runs in it.
    async fn instance_is_free(&self) {
        let ok = self.dir.path().join("ok.wat");
        std::fs::write(&ok, r#"(module (func (export "_start")))"#).unwrap();
        let pool = ProcessPool::new(self.spawner.clone(), 1).unwrap();
        let result = within(pool.run_all([Job::new(&ok)])).await.unwrap();
        assert!(result[0].success(), "{:?}: {}", self.how, result[0].outcome);
    }
}

async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(HANG, future).await.expect("no hang")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stuck_in_its_start_function_fails_to_start_within_the_startup_timeout() {
    for how in [Stuck::Spin, Stuck::Sleep, Stuck::Read] {
        let case = Case::new(how).await;
        let pool = case.pool(STARTUP);
        let began = Instant::now();
        let error = within(pool.ready()).await.unwrap_err();
        let elapsed = began.elapsed();
        let CallError::WorkerStart { reason, .. } = &error else {
            panic!("{how:?}: {error}");
        };
        assert!(reason.contains("no hello"), "{how:?}: {reason}");
        let late = elapsed.saturating_sub(STARTUP);
        eprintln!("{how:?} in a worker's start function: startup timeout to answer {late:.1?}");
        assert!(elapsed < STARTUP + MARGIN, "{how:?}: after {elapsed:?}");

        let error = within(pool.call("echo", "")).await.unwrap_err();
        assert!(
            matches!(error, CallError::WorkerStart { .. }),
            "{how:?}: {error}"
        );
        let began = Instant::now();
        within(pool.shutdown(Duration::from_secs(1))).await;
        eprintln!("{how:?}: then shutdown in {:.1?}", began.elapsed());
        case.instance_is_free().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_returns_while_a_worker_is_stuck_in_its_start_function() {
    // The pool has a handle on a worker as soon as its backend hands it over, before its
    // hello: a shutdown kills a worker stuck starting within the grace, not the startup
    // timeout.
    let startup = Duration::from_secs(20);
    let grace = Duration::from_millis(100);
    for how in [Stuck::Spin, Stuck::Sleep, Stuck::Read] {
        let case = Case::new(how).await;
        let pool = case.pool(startup);
        let call = pool.submit(Call::new("echo", "x"));
        case.stuck().await;
        let began = Instant::now();
        within(pool.shutdown(grace)).await;
        let elapsed = began.elapsed();
        eprintln!("{how:?} in a worker's start function: shutdown returned in {elapsed:.1?}");
        assert!(elapsed < grace + MARGIN, "{how:?}: after {elapsed:?}");
        let error = within(call).await.unwrap_err();
        assert!(
            matches!(error, CallError::Cancelled { .. }),
            "{how:?}: {error}"
        );
        case.instance_is_free().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuel_running_out_in_a_workers_start_function_fails_its_start_as_a_trap() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("spin.wat");
    std::fs::write(
        &module,
        r#"(module (func $spin (loop $l (br $l))) (start $spin) (func (export "_start")))"#,
    )
    .unwrap();
    let spawner = WasiSpawner::builder().fuel(1_000_000).build().unwrap();
    let pool = WorkerPool::builder()
        .max_workers(1)
        .startup_retry(RetryPolicy::none())
        .build(spawner.worker(&module))
        .unwrap();
    let error = within(pool.ready()).await.unwrap_err();
    let CallError::WorkerStart { reason, .. } = &error else {
        panic!("{error}");
    };
    assert!(reason.contains("trapped"), "{reason}");
    assert!(reason.contains("all fuel consumed"), "{reason}");
    within(pool.shutdown(Duration::from_secs(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_cannot_be_instantiated_fails_its_start_saying_why() {
    // One instance for two workers: the second cannot be instantiated.
    let module = common::guest("echo-worker");
    let spawner = WasiSpawner::builder().max_instances(1).build().unwrap();
    let pool = WorkerPool::builder()
        .min_workers(2)
        .max_workers(2)
        .startup_retry(RetryPolicy::none())
        .build(spawner.worker(&module))
        .unwrap();
    let error = within(pool.ready()).await.unwrap_err();
    let CallError::WorkerStart { reason, .. } = &error else {
        panic!("{error}");
    };
    // As a program its loader cannot load: exit code 127, the reason on stderr.
    assert!(reason.contains("exit code 127"), "{reason}");
    assert!(reason.contains("cannot instantiate"), "{reason}");
    assert!(reason.contains(&*module.to_string_lossy()), "{reason}");
    assert_eq!(within(pool.call("echo", "on")).await.unwrap(), "on");
    within(pool.shutdown(Duration::from_secs(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_asleep_in_a_host_call_is_stopped_with_its_worker() {
    let cancel_grace = Duration::from_millis(100);
    for (build, module) in [
        ("p1", common::guest("echo-worker")),
        ("p2", common::component("echo-worker")),
    ] {
        let (crashes, mut crashed) = mpsc::unbounded_channel();
        let pool = WorkerPool::builder()
            .max_workers(1)
            .retry(RetryPolicy::none())
            .kill_grace(cancel_grace)
            .on_worker_crash(move |event| {
                let _ = crashes.send((Instant::now(), event.reason.clone()));
            })
            .build(WasiSpawner::builder().build().unwrap().worker(&module))
            .unwrap();
        within(pool.ready()).await.unwrap();
        // An hour's sleep that never reads its cancel: its worker is killed in the host call.
        let call = Call::new("sleep", "3600000").timeout(Duration::from_millis(100));
        let error = within(pool.submit(call)).await.unwrap_err();
        let timed_out = Instant::now();
        assert!(
            matches!(error, CallError::TimedOut { .. }),
            "{build}: {error}"
        );
        let (at, reason) = within(crashed.recv()).await.unwrap();
        assert!(reason.contains("ignored a cancel"), "{build}: {reason}");
        let late = at
            .saturating_duration_since(timed_out)
            .saturating_sub(cancel_grace);
        eprintln!(
            "{build}: a call asleep in the host: cancel grace over to worker gone {late:.1?}"
        );
        assert!(late < MARGIN, "{build}: after {late:?}");
        assert_eq!(within(pool.call("echo", "on")).await.unwrap(), "on");
        within(pool.shutdown(Duration::from_secs(5))).await;
    }
}
